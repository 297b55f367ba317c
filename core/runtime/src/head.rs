//! Writing message heads through gw-proto's head writers: the request gw sends upstream
//! (hop-by-hop stripped, Host, XFF, X-Forwarded-Proto, Forwarded, X-Request-Id, program
//! edits) and the responses it sends downstream (proxied, mock and error).

use std::io::Write;

use gw_proto::{ClientHead, ForwardHead, Framing, UpstreamHost, write_forward_head};

use crate::edits::{EditList, Edits};
use crate::host::ReqView;

/// The canonical reason phrase of a status.
pub fn reason(status: u16) -> &'static str {
    gw_proto::canonical_reason(status)
}

/// What the upstream head needs besides the request.
#[derive(Debug)]
pub struct UpstreamHead<'a> {
    pub req: ReqView<'a>,
    /// `upstream { host ".." }`, else the client's Host, else `fallback_host`.
    pub host_override: Option<&'a str>,
    pub fallback_host: &'a str,
    pub framing: Framing,
    /// The route relays a WebSocket upgrade.
    pub upgrade: bool,
    pub underscores: gw_proto::UnderscoreNames,
}

/// Write the request head gw sends upstream. Builds the edited query into
/// `edits.query_out` first.
pub fn write_upstream_head(h: &UpstreamHead<'_>, edits: &mut Edits, out: &mut Vec<u8>) {
    let r = &h.req;
    let mut query = std::mem::take(&mut edits.query_out);
    query.clear();
    write_query(r.head.query.of(r.hb), edits, &mut query);
    let path = match edits.path {
        Some(p) => edits.get(p).as_bytes(),
        None => r.path.as_bytes(),
    };
    let host = match h.host_override {
        Some(v) => UpstreamHost::Set(v.as_bytes()),
        None => UpstreamHost::ClientOr(h.fallback_host.as_bytes()),
    };
    let f = ForwardHead {
        request: r.head,
        buf: r.hb,
        path,
        query: &query,
        client_ip: r.client,
        tls: r.tls,
        request_id: r.request_id.as_bytes(),
        edits: &edits.req_headers,
        host,
        framing: h.framing,
        upgrade: h.upgrade,
        underscores: h.underscores,
    };
    write_forward_head(&f, out);
    edits.query_out = query;
}

fn write_query(query: &[u8], edits: &Edits, out: &mut Vec<u8>) {
    let list = EditList {
        edits: &edits.query,
        text: edits,
    };
    let sep = |out: &mut Vec<u8>| {
        if !out.is_empty() {
            out.push(b'&');
        }
    };
    for pair in query.split(|b| *b == b'&') {
        let name = pair.split(|b| *b == b'=').next().unwrap_or(pair);
        if !pair.is_empty() && !list.replaces(name) {
            sep(out);
            out.extend_from_slice(pair);
        }
    }
    for (n, v) in list.additions() {
        sep(out);
        url_encode(n.as_bytes(), out);
        out.push(b'=');
        url_encode(v.as_bytes(), out);
    }
}

fn url_encode(s: &[u8], out: &mut Vec<u8>) {
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// How the downstream connection continues after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnHeader {
    pub keep_alive: bool,
    /// The client's HTTP minor version.
    pub minor: u8,
}

/// A response gw makes itself (mock, error, a plugin's answer).
#[derive(Debug)]
pub struct OwnResponse<'a> {
    pub status: u16,
    /// Set unless the program set one.
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    /// HEAD: the head says the length, no body follows.
    pub head_only: bool,
    pub request_id: &'a str,
    pub conn: ConnHeader,
    /// Extra headers (Allow, Upgrade).
    pub extra: &'a [(&'a str, &'a str)],
    /// The Date field's value.
    pub date: &'a [u8],
}

/// Write a complete response (head and body) made by gw. `edits` holds the program's
/// response header edits; the content type and extra headers are added to it.
pub fn write_own_response(r: &OwnResponse<'_>, edits: &mut Edits, out: &mut Vec<u8>) {
    let no_body = matches!(r.status, 100..=199 | 204 | 304);
    if let Some(ct) = r.content_type
        && !no_body
        && edits.resp_headers.set_value(b"content-type").is_none()
    {
        let _ = edits.resp_headers.set(b"content-type", ct.as_bytes());
    }
    for (n, v) in r.extra {
        let _ = edits.resp_headers.set(n.as_bytes(), v.as_bytes());
    }
    // gw's own answers (errors, mocks) are not for caches unless the config says so: without
    // this a cache could keep a 404 or 405 heuristically (RFC 9111 §4.2.2)
    if edits.resp_headers.set_value(b"cache-control").is_none()
        && !edits.resp_headers.drops(b"cache-control")
    {
        let _ = edits.resp_headers.set(b"cache-control", b"no-store");
    }
    let h = ClientHead {
        status: r.status,
        reason: b"",
        upstream: None,
        framing: if no_body {
            Framing::None
        } else {
            Framing::Length(r.body.len() as u64)
        },
        close: !r.conn.keep_alive,
        client_minor: r.conn.minor,
        request_id: r.request_id.as_bytes(),
        via: b"",
        date: r.date,
        edits: &edits.resp_headers,
    };
    gw_proto::write_response_head(&h, out);
    if !r.head_only && !no_body {
        out.extend_from_slice(r.body);
    }
}

#[cfg(test)]
mod tests;
