//! Request heads: httparse for the structure, plus the stricter checks that leave no room for
//! request smuggling or for two readers disagreeing about a request.
//!
//! Decisions (each refusal is `BadRequest`, 400, and the caller closes the connection):
//! - Content-Length and Transfer-Encoding together are refused, as is Transfer-Encoding in an
//!   HTTP/1.0 request. Repeated Content-Length fields are accepted only when identical; a list
//!   value (`5, 5`) is refused.
//! - Transfer-Encoding must end in a single `chunked`; codings before it (`gzip, chunked`) are
//!   `NotImplemented` (501).
//! - CONNECT (authority-form) is `NotImplemented` (501): gw is not a forward proxy.
//! - Up to [`MAX_HEADERS`] header slots; `HeadLimits::headers` above that is capped.
//! - Empty lines before the request line are skipped (RFC 9112 §2.2) and count towards the head.

use std::mem::MaybeUninit;

use crate::framing::FramingFields;
use crate::head::lines_end_in_crlf;
use crate::lexical::{is_authority, is_token, offset_in};
use crate::{Framing, HeadLimits, ProtoError, Range, Status};

/// Header slots parsed on the stack; a `HeadLimits::headers` above this is capped to it.
pub const MAX_HEADERS: usize = 128;

/// A parsed request head; ranges point into the buffer given to [`parse_request`].
/// Reused across requests on a connection (its vectors keep their capacity).
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    pub method: Range,
    /// Request target as sent.
    pub target: Range,
    /// Path part of the target (before `?`). `*` for asterisk-form; empty for an absolute-form
    /// target without a path (which means `/`, and [`crate::normalize_path`] turns it into `/`).
    pub path: Range,
    /// Query part without the `?` (empty range if none).
    pub query: Range,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// (name, value) ranges, in order.
    pub headers: Vec<(Range, Range)>,
    pub framing: Framing,
    /// After this request the connection stays open (HTTP/1.1 default, `Connection: close`,
    /// HTTP/1.0 `keep-alive`).
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// `Connection: upgrade` + `Upgrade: websocket` on an HTTP/1.1 GET.
    pub upgrade_websocket: bool,
    /// The Host header (or the authority of an absolute-form target).
    pub host: Range,
    /// True only when the parser saw that no Connection field names a field beyond `close`,
    /// `keep-alive` and `upgrade`: the head writers then skip looking for fields Connection
    /// names. False (the default, as for a head built by hand) makes them look.
    pub connection_plain: bool,
    /// Some field name holds `_` (`X_User`), which CGI-style upstreams fold into `-`: such
    /// fields are dropped, kept or refused as the listener says ([`UnderscoreNames`]).
    ///
    /// [`UnderscoreNames`]: crate::UnderscoreNames
    pub underscore_names: bool,
}

impl RequestHead {
    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header<'a>(&self, buf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.of(buf).eq_ignore_ascii_case(name))
            .map(|(_, v)| v.of(buf))
    }

    /// The values of every header named `name`, in order.
    pub fn headers_named<'a, 'h>(
        &'h self,
        buf: &'a [u8],
        name: &'h [u8],
    ) -> impl Iterator<Item = &'a [u8]> + 'h
    where
        'a: 'h,
    {
        self.headers
            .iter()
            .filter(move |(n, _)| n.of(buf).eq_ignore_ascii_case(name))
            .map(move |(_, v)| v.of(buf))
    }
}

/// Parse a request head from `buf`. On `Complete(n)` the body (if any) starts at `buf[n..]`.
pub fn parse_request(
    buf: &[u8],
    limits: &HeadLimits,
    head: &mut RequestHead,
) -> Result<Status, ProtoError> {
    let Some(start) = skip_empty_lines(buf, limits)? else {
        return Ok(Status::Partial);
    };
    if !check_request_line(buf, start, limits)? {
        return too_large_or_partial(buf, limits);
    }
    // httparse sees at most `limits.head` bytes: a head not complete within them is too large
    let window = buf.get(..limits.head.min(buf.len())).unwrap_or(buf);
    // Uninitialised slots: no 4 KiB memset per request (httparse fills what it parses).
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let slots = match slots.get_mut(..limits.headers.min(MAX_HEADERS)) {
        Some(s) => s,
        None => &mut [],
    };
    let mut req = httparse::Request::new(&mut []);
    let end = match req.parse_with_uninit_headers(window, slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return too_large_or_partial(buf, limits),
        Err(httparse::Error::TooManyHeaders) => return Err(ProtoError::HeadersTooLarge),
        Err(e) => return Err(ProtoError::BadRequest(httparse_reason(e))),
    };
    if u32::try_from(end).is_err() {
        return Err(ProtoError::HeadersTooLarge);
    }
    let bytes = window.get(..end).unwrap_or(window);
    let name_starts = req
        .headers
        .iter()
        .map(|h| offset_in(buf, h.name.as_bytes()));
    if !lines_end_in_crlf(bytes, name_starts) {
        return Err(ProtoError::BadRequest("bare LF in head"));
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(ProtoError::BadRequest("malformed request line"));
    };
    fill(
        buf,
        method.as_bytes(),
        target.as_bytes(),
        minor,
        req.headers,
        head,
    )?;
    Ok(Status::Complete(end))
}

/// Skip the CRLFs a client may send before a request line (after a body, say).
fn skip_empty_lines(buf: &[u8], limits: &HeadLimits) -> Result<Option<usize>, ProtoError> {
    let mut i = 0;
    loop {
        if i > limits.head {
            return Err(ProtoError::HeadersTooLarge);
        }
        match (buf.get(i), buf.get(i + 1)) {
            (Some(b'\r'), Some(b'\n')) => i += 2,
            (None, _) | (Some(b'\r'), None) => return Ok(None),
            (Some(b'\r'), Some(_)) => return Err(ProtoError::BadRequest("bare CR in head")),
            (Some(b'\n'), _) => return Err(ProtoError::BadRequest("bare LF in head")),
            (Some(_), _) => return Ok(Some(i)),
        }
    }
}

fn too_large_or_partial(buf: &[u8], limits: &HeadLimits) -> Result<Status, ProtoError> {
    if buf.len() > limits.head {
        Err(ProtoError::HeadersTooLarge)
    } else {
        Ok(Status::Partial)
    }
}

/// Check the request line as far as it has arrived, so that an over-long target (414), an
/// unsupported version (505) or garbage is refused before the whole line is buffered.
/// Returns whether the line is complete.
fn check_request_line(buf: &[u8], start: usize, limits: &HeadLimits) -> Result<bool, ProtoError> {
    let line = buf.get(start..).unwrap_or(&[]);
    let is_delim = |b: &u8| matches!(b, b' ' | b'\r' | b'\n');
    let method_len = line.iter().position(is_delim).unwrap_or(line.len());
    let method = line.get(..method_len).unwrap_or(&[]);
    if !method.is_empty() && !is_token(method) {
        return Err(ProtoError::BadRequest("invalid method"));
    }
    match line.get(method_len) {
        None => return Ok(false),
        Some(b' ') if method_len > 0 => {}
        Some(_) => return Err(ProtoError::BadRequest("malformed request line")),
    }
    let rest = line.get(method_len + 1..).unwrap_or(&[]);
    // One pass in the common case: the delimiters are the only non-graphic bytes a valid
    // target can end at, so the first non-graphic byte is the delimiter; when it is some other
    // byte, the delimiter is searched for so that 414 still wins over 400.
    let first_odd = rest.iter().position(|b| !b.is_ascii_graphic());
    let target_len = match first_odd {
        Some(n) if rest.get(n).is_some_and(is_delim) => n,
        None => rest.len(),
        Some(_) => rest.iter().position(is_delim).unwrap_or(rest.len()),
    };
    if target_len > limits.url {
        return Err(ProtoError::UriTooLong);
    }
    if first_odd.is_some_and(|n| n < target_len) {
        return Err(ProtoError::BadRequest(
            "invalid character in request target",
        ));
    }
    match rest.get(target_len) {
        None => return Ok(false),
        Some(b' ') if target_len > 0 => {}
        // `GET /path` with no version is HTTP/0.9.
        Some(b'\r' | b'\n') if target_len > 0 => return Err(ProtoError::VersionNotSupported),
        Some(_) => return Err(ProtoError::BadRequest("malformed request line")),
    }
    let version = rest.get(target_len + 1..).unwrap_or(&[]);
    match version.iter().position(|b| matches!(b, b'\r' | b'\n')) {
        Some(n) => check_version(version.get(..n).unwrap_or(&[])).map(|()| true),
        None if version.len() > b"HTTP/1.1".len() => check_version(version).map(|()| false),
        None => Ok(false),
    }
}

/// HTTP/1.0 and HTTP/1.1 are served; other well-formed versions (0.9, 2.0 — the HTTP/2
/// preface — 3) are 505, anything else 400.
fn check_version(v: &[u8]) -> Result<(), ProtoError> {
    match v {
        b"HTTP/1.1" | b"HTTP/1.0" => Ok(()),
        [b'H', b'T', b'T', b'P', b'/', major] if major.is_ascii_digit() => {
            Err(ProtoError::VersionNotSupported)
        }
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(ProtoError::VersionNotSupported)
        }
        _ => Err(ProtoError::BadRequest("invalid HTTP version")),
    }
}

fn httparse_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Token => "invalid method",
        httparse::Error::Version => "invalid HTTP version",
        _ => "malformed head",
    }
}

/// A range of `len` bytes at `start`; the head was checked to fit in u32.
fn span(start: usize, len: usize) -> Range {
    let start = u32::try_from(start).unwrap_or(u32::MAX);
    let len = u32::try_from(len).unwrap_or(0);
    Range {
        start,
        end: start.saturating_add(len),
    }
}

fn range_of(buf: &[u8], part: &[u8]) -> Range {
    span(offset_in(buf, part), part.len())
}

fn fill(
    buf: &[u8],
    method: &[u8],
    target: &[u8],
    minor: u8,
    headers: &[httparse::Header<'_>],
    head: &mut RequestHead,
) -> Result<(), ProtoError> {
    if method == b"CONNECT" {
        return Err(ProtoError::NotImplemented("CONNECT"));
    }
    head.method = range_of(buf, method);
    head.target = range_of(buf, target);
    head.minor = minor;
    let target_at = offset_in(buf, target);
    let authority = split_target(method, target, target_at, head)?;

    head.headers.clear();
    // Stale until this head's fields are all seen.
    head.connection_plain = false;
    let mut f = FramingFields::default();
    head.underscore_names = false;
    for h in headers {
        let (name, value) = (h.name.as_bytes(), h.value);
        head.underscore_names |= name.contains(&b'_');
        let at = offset_in(buf, value);
        f.add(name, value, at).map_err(ProtoError::BadRequest)?;
        head.headers
            .push((range_of(buf, name), span(at, value.len())));
    }

    head.framing = request_framing(&f, minor)?;
    head.connection_plain = !f.conn_other;
    if f.hosts > 1 {
        return Err(ProtoError::BadRequest("more than one Host"));
    }
    if minor == 1 && f.hosts == 0 {
        return Err(ProtoError::BadRequest("missing Host"));
    }
    let host_field = f.host.map_or(Range::default(), |(s, e)| span(s, e - s));
    if !is_authority(host_field.of(buf)) {
        return Err(ProtoError::BadRequest("invalid Host"));
    }
    head.host = authority.unwrap_or(host_field);
    head.keep_alive = if minor == 1 {
        !f.close
    } else {
        f.keep_alive && !f.close
    };
    head.expect_continue = minor == 1 && f.expect_continue;
    head.upgrade_websocket =
        minor == 1 && method == b"GET" && f.conn_upgrade && f.upgrade_websocket;
    Ok(())
}

/// RFC 9112 §6.3 for requests, with every ambiguity refused.
fn request_framing(f: &FramingFields, minor: u8) -> Result<Framing, ProtoError> {
    if !f.transfer_encoding {
        return Ok(f.content_length.map_or(Framing::None, Framing::Length));
    }
    if f.content_length.is_some() {
        return Err(ProtoError::BadRequest(
            "both Content-Length and Transfer-Encoding",
        ));
    }
    if minor == 0 {
        return Err(ProtoError::BadRequest(
            "Transfer-Encoding in an HTTP/1.0 request",
        ));
    }
    if !f.chunked_last {
        return Err(ProtoError::BadRequest(
            "chunked is not the final transfer coding",
        ));
    }
    if f.other_coding {
        return Err(ProtoError::NotImplemented("transfer coding"));
    }
    Ok(Framing::Chunked)
}

/// Fill path and query from the target; returns the authority of an absolute-form target.
fn split_target(
    method: &[u8],
    target: &[u8],
    at: usize,
    head: &mut RequestHead,
) -> Result<Option<Range>, ProtoError> {
    if target.contains(&b'#') {
        return Err(ProtoError::BadRequest("fragment in request target"));
    }
    if target == b"*" {
        if method != b"OPTIONS" {
            return Err(ProtoError::BadRequest(
                "asterisk-form target outside OPTIONS",
            ));
        }
        head.path = span(at, 1);
        head.query = span(at + 1, 0);
        return Ok(None);
    }
    let (path_at, authority) = if target.first() == Some(&b'/') {
        (0, None)
    } else {
        let scheme_len = if starts_with_ci(target, b"http://") {
            7
        } else if starts_with_ci(target, b"https://") {
            8
        } else {
            return Err(ProtoError::BadRequest("invalid request target"));
        };
        let rest = target.get(scheme_len..).unwrap_or(&[]);
        let len = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        let authority = rest.get(..len).unwrap_or(&[]);
        if authority.is_empty() || !is_authority(authority) {
            return Err(ProtoError::BadRequest(
                "invalid authority in request target",
            ));
        }
        (scheme_len + len, Some(span(at + scheme_len, len)))
    };
    let after = target.get(path_at..).unwrap_or(&[]);
    match after.iter().position(|&b| b == b'?') {
        Some(q) => {
            head.path = span(at + path_at, q);
            head.query = span(at + path_at + q + 1, after.len() - q - 1);
        }
        None => {
            head.path = span(at + path_at, after.len());
            head.query = span(at + target.len(), 0);
        }
    }
    Ok(authority)
}

fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests;
