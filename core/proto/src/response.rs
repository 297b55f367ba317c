//! Upstream response heads and their body framing (RFC 9112 §6.3).
//!
//! Upstreams are held to the same line rules as clients (no bare CR/LF, no obs-fold, no
//! control characters). Framing is refused when it is ambiguous or would need a decoder gw does
//! not have: Content-Length with Transfer-Encoding, Transfer-Encoding other than exactly
//! `chunked`, or Transfer-Encoding in an HTTP/1.0 response are all `BadResponse` (502).

use std::mem::MaybeUninit;

use crate::framing::FramingFields;
use crate::head::lines_end_in_crlf;
use crate::lexical::offset_in;
use crate::request::MAX_HEADERS;
use crate::{Framing, ProtoError, Range, Status};

/// Largest upstream response head accepted; a longer one is `BadResponse`.
pub const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// A parsed upstream response head.
#[derive(Debug, Clone, Default)]
pub struct ResponseHead {
    pub status: u16,
    pub minor: u8,
    pub reason: Range,
    pub headers: Vec<(Range, Range)>,
    /// Already accounts for HEAD requests and 1xx/204/304 (no body).
    pub framing: Framing,
    /// The upstream connection can carry another request after this response's body.
    /// False for `UntilClose` framing and for 101 (the connection becomes a tunnel).
    pub keep_alive: bool,
    /// True only when the parser saw that no Connection field names a field beyond `close`,
    /// `keep-alive` and `upgrade`: the head writers then skip looking for fields Connection
    /// names. False (the default, as for a head built by hand) makes them look.
    pub connection_plain: bool,
}

impl ResponseHead {
    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header<'a>(&self, buf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.of(buf).eq_ignore_ascii_case(name))
            .map(|(_, v)| v.of(buf))
    }

    /// 1xx: an interim response (100 Continue, 103 Early Hints) or 101 Switching Protocols.
    pub fn is_informational(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

/// Parse an upstream response head; `head_request` says the request was HEAD.
///
/// Interim 1xx responses are returned as `Complete` with their status and `Framing::None`, so
/// the caller can skip or relay them and parse again from the end of the interim head.
pub fn parse_response(
    buf: &[u8],
    head_request: bool,
    head: &mut ResponseHead,
) -> Result<Status, ProtoError> {
    // Refuse a non-HTTP/1.x upstream at its first bytes rather than after 64 KiB.
    let prefix = b"HTTP/1.";
    let seen = buf.len().min(prefix.len());
    if buf.get(..seen) != prefix.get(..seen) {
        return Err(ProtoError::BadResponse("not an HTTP/1.x response"));
    }
    let window = buf.get(..MAX_RESPONSE_HEAD.min(buf.len())).unwrap_or(buf);
    // Uninitialised slots: no 4 KiB memset per response (httparse fills what it parses).
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let end = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, window, &mut slots)
    {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_RESPONSE_HEAD => {
            return Err(ProtoError::BadResponse("response head too large"));
        }
        Ok(httparse::Status::Partial) => return Ok(Status::Partial),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ProtoError::BadResponse("too many headers"));
        }
        Err(httparse::Error::Version) => {
            return Err(ProtoError::BadResponse("unsupported version"));
        }
        Err(_) => return Err(ProtoError::BadResponse("malformed head")),
    };
    let bytes = window.get(..end).unwrap_or(window);
    let name_starts = resp
        .headers
        .iter()
        .map(|h| offset_in(buf, h.name.as_bytes()));
    if !lines_end_in_crlf(bytes, name_starts) {
        return Err(ProtoError::BadResponse("bare LF in head"));
    }
    let (Some(minor), Some(status), Some(reason)) = (resp.version, resp.code, resp.reason) else {
        return Err(ProtoError::BadResponse("malformed status line"));
    };
    if !(100..=999).contains(&status) {
        return Err(ProtoError::BadResponse("invalid status code"));
    }
    head.status = status;
    head.minor = minor;
    head.reason = range_of(buf, reason.as_bytes());
    head.headers.clear();
    // Stale until this head's fields are all seen.
    head.connection_plain = false;
    let mut f = FramingFields::default();
    for h in resp.headers.iter() {
        let (name, value) = (h.name.as_bytes(), h.value);
        let at = offset_in(buf, value);
        f.add(name, value, at).map_err(ProtoError::BadResponse)?;
        head.headers
            .push((range_of(buf, name), range_of(buf, value)));
    }
    head.framing = response_framing(&f, status, minor, head_request)?;
    head.connection_plain = !f.conn_other;
    head.keep_alive = status != 101
        && head.framing != Framing::UntilClose
        && if minor == 1 {
            !f.close
        } else {
            f.keep_alive && !f.close
        };
    Ok(Status::Complete(end))
}

fn response_framing(
    f: &FramingFields,
    status: u16,
    minor: u8,
    head_request: bool,
) -> Result<Framing, ProtoError> {
    // Framing fields are validated even where they do not apply: a response that lies about
    // its length is not one to trust for the next request on the connection.
    if f.transfer_encoding {
        if f.content_length.is_some() {
            return Err(ProtoError::BadResponse(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        if minor == 0 {
            return Err(ProtoError::BadResponse(
                "Transfer-Encoding in an HTTP/1.0 response",
            ));
        }
        if !f.chunked_last || f.other_coding {
            return Err(ProtoError::BadResponse("unsupported transfer coding"));
        }
    }
    if head_request || status < 200 || status == 204 || status == 304 {
        return Ok(Framing::None);
    }
    if f.transfer_encoding {
        return Ok(Framing::Chunked);
    }
    Ok(f.content_length
        .map_or(Framing::UntilClose, Framing::Length))
}

fn range_of(buf: &[u8], part: &[u8]) -> Range {
    let start = u32::try_from(offset_in(buf, part)).unwrap_or(u32::MAX);
    let len = u32::try_from(part.len()).unwrap_or(0);
    Range {
        start,
        end: start.saturating_add(len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8], head_request: bool) -> Result<(Status, ResponseHead), ProtoError> {
        let mut head = ResponseHead::default();
        parse_response(raw, head_request, &mut head).map(|s| (s, head))
    }

    #[test]
    fn framing_table() {
        use Framing::*;
        let table: &[(&[u8], bool, Framing, bool)] = &[
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                false,
                Length(5),
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                true,
                None,
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
                Chunked,
                true,
            ),
            (b"HTTP/1.1 200 OK\r\n\r\n", false, UntilClose, false),
            (b"HTTP/1.1 204 No Content\r\n\r\n", false, None, true),
            (
                b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
                false,
                None,
                true,
            ),
            (b"HTTP/1.1 100 Continue\r\n\r\n", false, None, true),
            (
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
                false,
                None,
                false,
            ),
            (
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                false,
                Length(0),
                false,
            ),
            (
                b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n",
                false,
                Length(2),
                false,
            ),
            (
                b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n",
                false,
                Length(2),
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
                false,
                Length(3),
                true,
            ),
        ];
        for (raw, head_request, framing, keep_alive) in table {
            let (status, head) = parse(raw, *head_request).unwrap();
            assert_eq!(
                status,
                Status::Complete(raw.len()),
                "{}",
                String::from_utf8_lossy(raw)
            );
            assert_eq!(head.framing, *framing, "{}", String::from_utf8_lossy(raw));
            assert_eq!(
                head.keep_alive,
                *keep_alive,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn refusals() {
        let table: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
            b"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
            b"HTTP/2.0 200 OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 099 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
            b"\r\nHTTP/1.1 200 OK\r\n\r\n",
            b"SSH-2.0-OpenSSH\r\n\r\n",
        ];
        for raw in table {
            let got = parse(raw, false).map(|(s, _)| s);
            assert!(
                matches!(got, Err(ProtoError::BadResponse(_))),
                "{}: {got:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn fields_and_partial() {
        let raw = b"HTTP/1.1 404 Not Found\r\nX-A: 1\r\nContent-Length: 0\r\n\r\nNEXT";
        let (status, head) = parse(raw, false).unwrap();
        assert_eq!(status, Status::Complete(raw.len() - 4));
        assert_eq!(head.status, 404);
        assert_eq!(head.reason.of(raw), b"Not Found");
        assert_eq!(head.header(raw, b"x-a"), Some(&b"1"[..]));
        assert_eq!(head.headers.len(), 2);
        for cut in 0..raw.len() - 4 {
            assert_eq!(
                parse(&raw[..cut], false).unwrap().0,
                Status::Partial,
                "cut {cut}"
            );
        }
        assert!(matches!(
            parse(b"SSH", false),
            Err(ProtoError::BadResponse(_))
        ));
        assert!(matches!(
            parse(b"HTTP/2", false),
            Err(ProtoError::BadResponse(_))
        ));
        let big = [b'a'; MAX_RESPONSE_HEAD + 1];
        let mut long = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        long.extend_from_slice(&big);
        assert_eq!(
            parse(&long, false).unwrap_err(),
            ProtoError::BadResponse("response head too large")
        );
    }

    #[test]
    fn status_lines() {
        let table: &[(&[u8], u16, &[u8])] = &[
            (b"HTTP/1.1 200 OK\r\n\r\n", 200, b"OK"),
            (b"HTTP/1.1 200 \r\n\r\n", 200, b""),
            (
                b"HTTP/1.1 503 Service Unavailable\r\n\r\n",
                503,
                b"Service Unavailable",
            ),
            // httparse drops a reason holding obs-text; the writer then uses the standard phrase.
            (b"HTTP/1.1 299 Caf\xc3\xa9\r\n\r\n", 299, b""),
            (b"HTTP/1.0 999 Custom\r\n\r\n", 999, b"Custom"),
        ];
        for (raw, status, reason) in table {
            let (_, head) = parse(raw, false).unwrap();
            assert_eq!((head.status, head.reason.of(raw)), (*status, *reason));
        }
    }

    #[test]
    fn interim_then_final() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let (Status::Complete(n), head) = parse(raw, false).unwrap() else {
            panic!()
        };
        assert!(head.is_informational());
        let (Status::Complete(m), head) = parse(&raw[n..], false).unwrap() else {
            panic!()
        };
        assert_eq!(head.status, 200);
        assert_eq!(&raw[n + m..], b"ok");
    }
}
