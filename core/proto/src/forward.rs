//! The request head gw writes upstream: the client's head minus hop-by-hop fields, re-framed,
//! with the forwarding fields added and the policies' edits applied.

use std::io::Write;
use std::net::IpAddr;

use crate::edits::HeaderEdits;
use crate::lexical::{eq_lower, list_contains, list_items};
use crate::wire::{Runs, write_decimal, write_header};
use crate::{Framing, Range, RequestHead};

/// True for hop-by-hop headers that a proxy must not forward (RFC 9110 §7.6.1): Connection,
/// Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, and the proxy's own
/// credentials (Proxy-Authorization, Proxy-Authenticate; RFC 2616 §13.5.1).
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    // Dispatch on length and first letter: most names are none of these and cost a comparison
    // or two.
    let first = name.first().map_or(0, |b| b | 0x20);
    match (name.len(), first) {
        (2, b't') => eq_lower(name, b"te"),
        (7, b't') => eq_lower(name, b"trailer"),
        (7, b'u') => eq_lower(name, b"upgrade"),
        (10, b'c') => eq_lower(name, b"connection"),
        (10, b'k') => eq_lower(name, b"keep-alive"),
        (16, b'p') => eq_lower(name, b"proxy-connection"),
        (17, b't') => eq_lower(name, b"transfer-encoding"),
        (18, b'p') => eq_lower(name, b"proxy-authenticate"),
        (19, b'p') => eq_lower(name, b"proxy-authorization"),
        _ => false,
    }
}

/// The part of `headers` from the first Connection field to the last, found once per head so
/// that checking each field against it stays cheap. Empty when the Connection fields name no
/// field beyond `close`, `keep-alive` and `upgrade` (the common case): Keep-Alive and Upgrade
/// are hop-by-hop anyway.
pub(crate) fn connection_span<'h>(
    headers: &'h [(Range, Range)],
    buf: &[u8],
) -> &'h [(Range, Range)] {
    let is_connection = |(n, _): &(Range, Range)| n.of(buf).eq_ignore_ascii_case(b"connection");
    let (Some(first), Some(last)) = (
        headers.iter().position(is_connection),
        headers.iter().rposition(is_connection),
    ) else {
        return &[];
    };
    let span = headers.get(first..=last).unwrap_or(&[]);
    let names_more = span.iter().filter(|h| is_connection(h)).any(|(_, v)| {
        list_items(v.of(buf)).any(|t| {
            !(t.is_empty()
                || t.eq_ignore_ascii_case(b"close")
                || t.eq_ignore_ascii_case(b"keep-alive")
                || t.eq_ignore_ascii_case(b"upgrade"))
        })
    });
    if names_more { span } else { &[] }
}

/// True when `name` is listed in a Connection field of `span` (RFC 9110 §7.6.1: such fields
/// are hop-by-hop too).
pub(crate) fn named_by_connection(span: &[(Range, Range)], buf: &[u8], name: &[u8]) -> bool {
    span.iter().any(|(n, v)| {
        n.of(buf).eq_ignore_ascii_case(b"connection") && list_contains(v.of(buf), name)
    })
}

/// Which Host the upstream request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamHost<'a> {
    /// The client's Host (or the authority of its absolute-form target).
    #[default]
    Client,
    /// The client's Host, or this authority when the client sent none (HTTP/1.0).
    ClientOr(&'a [u8]),
    /// This authority (the upstream's own name, say `api.internal:8080`).
    Set(&'a [u8]),
}

/// What becomes of request fields whose name holds `_`. WSGI, CGI and PHP fold `_` into `-`,
/// so `X_User: admin` would reach such an upstream as the `X-User` gw sets or removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnderscoreNames {
    /// Not forwarded (nginx's `underscores_in_headers off`).
    #[default]
    Drop,
    /// Forwarded as sent.
    Keep,
    /// The request is refused with 400 (the caller checks [`RequestHead::underscore_names`]).
    Reject,
}

/// Everything needed to write the upstream request head. `path` and `query` are the rewritten
/// ones (normalised path, edited query without `?`; an empty query writes no `?`).
#[derive(Debug, Clone, Copy)]
pub struct ForwardHead<'a> {
    pub request: &'a RequestHead,
    /// The buffer `request`'s ranges point into.
    pub buf: &'a [u8],
    pub path: &'a [u8],
    pub query: &'a [u8],
    pub client_ip: IpAddr,
    /// The client connection is TLS (`X-Forwarded-Proto: https`).
    pub tls: bool,
    /// Sent as X-Request-Id when the client sent none (empty: not sent).
    pub request_id: &'a [u8],
    pub edits: &'a HeaderEdits,
    pub host: UpstreamHost<'a>,
    /// The framing of the body gw sends (it differs from the client's when a policy replaced
    /// the body): `Length` writes Content-Length, `Chunked` writes `Transfer-Encoding: chunked`.
    pub framing: Framing,
    /// The route relays a WebSocket handshake: its Upgrade goes upstream. Elsewhere Upgrade is
    /// dropped, so an upstream cannot be led into a protocol switch gw does not relay.
    pub upgrade: bool,
    pub underscores: UnderscoreNames,
}

/// Fields gw writes itself; the client's copies are dropped or merged. Expect is dropped: gw
/// answers `100-continue` itself, so the upstream must not send an interim response too.
fn is_regenerated(name: &[u8]) -> bool {
    match name.len() {
        4 => eq_lower(name, b"host"),
        6 => eq_lower(name, b"expect"),
        9 => eq_lower(name, b"forwarded"),
        14 => eq_lower(name, b"content-length"),
        15 => eq_lower(name, b"x-forwarded-for"),
        17 => eq_lower(name, b"x-forwarded-proto"),
        _ => false,
    }
}

/// Decides which of the client's fields go upstream.
struct Filter<'a> {
    f: &'a ForwardHead<'a>,
    connection: &'a [(Range, Range)],
}

impl<'a> Filter<'a> {
    /// Not hop-by-hop (except Upgrade of a WebSocket handshake), not named by Connection and
    /// not dropped by an edit.
    fn survives(&self, name: &[u8]) -> bool {
        let hop = is_hop_by_hop(name) || named_by_connection(self.connection, self.f.buf, name);
        let upgrade_kept = hop && self.upgrading() && eq_lower(name, b"upgrade");
        let underscore = self.f.request.underscore_names
            && self.f.underscores != UnderscoreNames::Keep
            && name.contains(&b'_');
        (upgrade_kept || !hop) && !underscore && !self.f.edits.drops(name)
    }

    fn upgrading(&self) -> bool {
        self.f.upgrade && self.f.request.upgrade_websocket
    }

    /// The client's surviving values of `name`.
    fn client_values(&self, name: &'static [u8]) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let survives = self.survives(name);
        self.f
            .request
            .headers_named(self.f.buf, name)
            .filter(move |_| survives)
    }
}

/// Which of the fields merged into gw's own the client sent (found while copying the rest).
#[derive(Default)]
struct Sent {
    x_forwarded_for: bool,
    forwarded: bool,
    /// An X-Request-Id that was copied upstream.
    request_id: bool,
}

/// Write the upstream request head (HTTP/1.1, always keep-alive) to `out`.
pub fn write_forward_head<'a>(f: &'a ForwardHead<'a>, out: &mut Vec<u8>) {
    let req = f.request;
    let filter = Filter {
        f,
        connection: if req.connection_plain {
            &[]
        } else {
            connection_span(&req.headers, f.buf)
        },
    };
    out.extend_from_slice(req.method.of(f.buf));
    out.push(b' ');
    out.extend_from_slice(f.path);
    if !f.query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(f.query);
    }
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    let client_host = req.host.of(f.buf);
    let host = match (f.edits.set_value(b"host"), f.host) {
        (Some(v), _) | (None, UpstreamHost::Set(v)) => v,
        (None, UpstreamHost::ClientOr(v)) if client_host.is_empty() => v,
        (None, UpstreamHost::Client | UpstreamHost::ClientOr(_)) => client_host,
    };
    out.extend_from_slice(host);
    out.extend_from_slice(b"\r\n");

    let mut sent = Sent::default();
    let mut runs = Runs::new(f.buf);
    for &(name_range, value) in &req.headers {
        let name = name_range.of(f.buf);
        if is_regenerated(name) {
            sent.x_forwarded_for |= eq_lower(name, b"x-forwarded-for");
            sent.forwarded |= eq_lower(name, b"forwarded");
        } else if filter.survives(name) {
            sent.request_id |= eq_lower(name, b"x-request-id");
            runs.push(name_range, value, out);
        }
    }
    runs.flush(out);

    // Formatted once for both X-Forwarded-For and Forwarded.
    let ip = client_ip(f.client_ip);
    let ip_text = IpText::new(ip);
    if !f.edits.drops(b"x-forwarded-for") {
        out.extend_from_slice(b"X-Forwarded-For: ");
        if sent.x_forwarded_for {
            for v in filter.client_values(b"x-forwarded-for") {
                out.extend_from_slice(v);
                out.extend_from_slice(b", ");
            }
        }
        out.extend_from_slice(ip_text.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !f.edits.drops(b"x-forwarded-proto") {
        out.extend_from_slice(if f.tls {
            b"X-Forwarded-Proto: https\r\n"
        } else {
            b"X-Forwarded-Proto: http\r\n"
        });
    }
    if !f.edits.drops(b"forwarded") {
        out.extend_from_slice(b"Forwarded: ");
        if sent.forwarded {
            for v in filter.client_values(b"forwarded") {
                out.extend_from_slice(v);
                out.extend_from_slice(b", ");
            }
        }
        write_forwarded_element(&ip_text, f.tls, client_host, out);
        out.extend_from_slice(b"\r\n");
    }
    if !sent.request_id && !f.request_id.is_empty() && !f.edits.drops(b"x-request-id") {
        out.extend_from_slice(b"X-Request-Id: ");
        out.extend_from_slice(f.request_id);
        out.extend_from_slice(b"\r\n");
    }
    match f.framing {
        Framing::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            write_decimal(n, out);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => write_header(b"Transfer-Encoding", b"chunked", out),
        Framing::None | Framing::UntilClose => {}
    }
    out.extend_from_slice(if filter.upgrading() {
        b"Connection: upgrade\r\n"
    } else {
        b"Connection: keep-alive\r\n"
    });
    for (name, value) in f.edits.added() {
        if !name.eq_ignore_ascii_case(b"host") {
            write_header(name, value, out);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// A dual-stack listener reports IPv4 clients as `::ffff:a.b.c.d`: forward them as IPv4.
fn client_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// An IP address as text, on the stack: IPv4 digits written directly (no `fmt` on the hot
/// path), IPv6 through `Display` (at most 45 bytes for `ffff:…:255.255.255.255`).
struct IpText {
    bytes: [u8; 48],
    len: usize,
    v6: bool,
}

impl IpText {
    fn new(ip: IpAddr) -> Self {
        let mut t = IpText {
            bytes: [0; 48],
            len: 0,
            v6: false,
        };
        match ip {
            IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        t.push(b'.');
                    }
                    if octet >= 100 {
                        t.push(b'0' + octet / 100);
                    }
                    if octet >= 10 {
                        t.push(b'0' + octet / 10 % 10);
                    }
                    t.push(b'0' + octet % 10);
                }
            }
            IpAddr::V6(v6) => {
                t.v6 = true;
                let mut w = t.bytes.as_mut_slice();
                // 48 bytes hold any IPv6 text; a failure would leave the text cut short.
                let _ = write!(w, "{v6}");
                let left = w.len();
                t.len = t.bytes.len() - left;
            }
        }
        t
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// `for=192.0.2.1;proto=http;host="api.example"`, IPv6 as `for="[2001:db8::1]"` (RFC 7239
/// §6); `host` is the Host the client sent, quoted (it may hold `:`), left out when empty.
fn write_forwarded_element(ip: &IpText, tls: bool, host: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"for=");
    if ip.v6 {
        out.extend_from_slice(b"\"[");
        out.extend_from_slice(ip.as_bytes());
        out.extend_from_slice(b"]\"");
    } else {
        out.extend_from_slice(ip.as_bytes());
    }
    out.extend_from_slice(if tls { b";proto=https" } else { b";proto=http" });
    // The parser admits only authority characters in a Host, none of which needs escaping
    // inside a quoted-string.
    if !host.is_empty() {
        out.extend_from_slice(b";host=\"");
        out.extend_from_slice(host);
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests;
