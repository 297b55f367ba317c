//! The response head gw writes toward the client: an upstream response relayed (hop-by-hop
//! fields stripped, re-framed) or one gw makes itself (mock, error, cache hit).

use crate::edits::HeaderEdits;
use crate::forward::{connection_span, is_hop_by_hop, named_by_connection};
use crate::lexical::eq_lower;
use crate::wire::{Runs, write_decimal, write_header, write_status_line};
use crate::{Framing, ResponseHead};

/// Everything needed to write a response head to the client.
#[derive(Debug, Clone, Copy)]
pub struct ClientHead<'a> {
    pub status: u16,
    /// Reason phrase; empty takes the standard one.
    pub reason: &'a [u8],
    /// The upstream response being relayed and the buffer its ranges point into; `None` for a
    /// response gw makes itself.
    pub upstream: Option<(&'a ResponseHead, &'a [u8])>,
    /// The framing of the body gw sends: `Length` writes Content-Length, `Chunked`
    /// `Transfer-Encoding: chunked`, `UntilClose` closes the connection after the body.
    /// `None` is for responses without a body by definition (1xx, 204, 304, HEAD): a relayed
    /// Content-Length is then kept as the upstream sent it for HEAD, and dropped for 1xx, 204
    /// and 304.
    pub framing: Framing,
    /// Close the client connection after this response (`Connection: close`).
    pub close: bool,
    /// The client's HTTP minor version: an HTTP/1.0 client kept open gets
    /// `Connection: keep-alive`. (It cannot read chunked: send it `UntilClose`.)
    pub client_minor: u8,
    /// Echoed as X-Request-Id unless the upstream sent one (empty: not sent).
    pub request_id: &'a [u8],
    /// Written as a Via field when not empty (`1.1 gw`).
    pub via: &'a [u8],
    /// An HTTP-date written as the Date field unless the upstream sent one (a recipient with
    /// a clock adds it, RFC 9110 §6.6.1); empty writes none.
    pub date: &'a [u8],
    pub edits: &'a HeaderEdits,
}

/// Write the response head toward the client (always `HTTP/1.1`) to `out`.
pub fn write_response_head(h: &ClientHead<'_>, out: &mut Vec<u8>) {
    write_status_line(h.status, h.reason, out);
    let switching = h.status == 101;
    let mut has_id = false;
    let mut has_date = false;
    if let Some((resp, buf)) = h.upstream {
        let connection = if resp.connection_plain {
            &[][..]
        } else {
            connection_span(&resp.headers, buf)
        };
        // 1xx, 204 and 304 never carry Content-Length from gw (RFC 9110 §8.6): a client that
        // trusted it would read the next response as this one's body.
        let reframing = h.framing != Framing::None || matches!(h.status, 100..=199 | 204 | 304);
        let mut runs = Runs::new(buf);
        for &(name_range, value) in &resp.headers {
            let name = name_range.of(buf);
            let hop = is_hop_by_hop(name) || named_by_connection(connection, buf, name);
            let upgrade_kept = hop && switching && eq_lower(name, b"upgrade");
            let reframed = reframing && eq_lower(name, b"content-length");
            if (hop && !upgrade_kept) || reframed || h.edits.drops(name) {
                continue;
            }
            has_id |= eq_lower(name, b"x-request-id");
            has_date |= name.len() == 4 && eq_lower(name, b"date");
            runs.push(name_range, value, out);
        }
        runs.flush(out);
    }
    if !has_id && !h.request_id.is_empty() && !h.edits.drops(b"x-request-id") {
        out.extend_from_slice(b"X-Request-Id: ");
        out.extend_from_slice(h.request_id);
        out.extend_from_slice(b"\r\n");
    }
    if !has_date && !h.date.is_empty() && !h.edits.drops(b"date") {
        write_header(b"Date", h.date, out);
    }
    if !h.via.is_empty() && !h.edits.drops(b"via") {
        write_header(b"Via", h.via, out);
    }
    match h.framing {
        Framing::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            write_decimal(n, out);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => write_header(b"Transfer-Encoding", b"chunked", out),
        Framing::None | Framing::UntilClose => {}
    }
    if switching {
        write_header(b"Connection", b"upgrade", out);
    } else if h.close || h.framing == Framing::UntilClose {
        write_header(b"Connection", b"close", out);
    } else if h.client_minor == 0 {
        write_header(b"Connection", b"keep-alive", out);
    }
    for (name, value) in h.edits.added() {
        write_header(name, value, out);
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Status, parse_response};

    fn relay(raw: &[u8], f: impl FnOnce(&mut ClientHead<'_>)) -> String {
        let mut resp = ResponseHead::default();
        assert!(matches!(
            parse_response(raw, false, &mut resp),
            Ok(Status::Complete(_))
        ));
        let edits = HeaderEdits::new();
        let mut h = ClientHead {
            status: resp.status,
            reason: resp.reason.of(raw),
            upstream: Some((&resp, raw)),
            framing: resp.framing,
            close: false,
            client_minor: 1,
            request_id: b"req-1",
            via: b"",
            date: b"",
            edits: &edits,
        };
        f(&mut h);
        let mut out = Vec::new();
        write_response_head(&h, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn no_content_length_on_204_and_304_but_kept_for_head() {
        for status in ["204 No Content", "304 Not Modified"] {
            let raw = format!("HTTP/1.1 {status}\r\nContent-Length: 20\r\nETag: \"e\"\r\n\r\n");
            let got = relay(raw.as_bytes(), |h| h.framing = Framing::None);
            assert!(!got.contains("Content-Length"), "{got}");
            assert!(got.contains("ETag"), "{got}");
        }
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n";
        let mut resp = ResponseHead::default();
        assert!(matches!(
            parse_response(raw, true, &mut resp),
            Ok(Status::Complete(_))
        ));
        let edits = HeaderEdits::new();
        let h = ClientHead {
            status: 200,
            reason: b"OK",
            upstream: Some((&resp, raw)),
            framing: Framing::None,
            close: false,
            client_minor: 1,
            request_id: b"",
            via: b"",
            date: b"",
            edits: &edits,
        };
        let mut out = Vec::new();
        write_response_head(&h, &mut out);
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("Content-Length: 20")
        );
    }

    #[test]
    fn relayed_head_is_cleaned_and_reframed() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Hop\r\n\
Keep-Alive: timeout=5\r\nX-Hop: 1\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\nSet-Cookie: a=1\r\n\r\n";
        let got = relay(raw, |_| {});
        assert_eq!(
            got,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nX-Request-Id: req-1\r\n\
Transfer-Encoding: chunked\r\n\r\n"
        );
        let got = relay(raw, |h| {
            h.framing = Framing::UntilClose;
            h.client_minor = 0;
            h.via = b"1.1 gw";
        });
        assert_eq!(
            got,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nX-Request-Id: req-1\r\n\
Via: 1.1 gw\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn not_modified_loses_its_length_and_reframed_bodies_get_theirs() {
        let raw = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"x\"\r\nX-Request-Id: up\r\n\r\n";
        let got = relay(raw, |h| h.close = true);
        assert_eq!(
            got,
            "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nX-Request-Id: up\r\n\
Connection: close\r\n\r\n"
        );
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        let got = relay(raw, |h| h.framing = Framing::Length(3));
        assert_eq!(
            got,
            "HTTP/1.1 200 OK\r\nX-Request-Id: req-1\r\nContent-Length: 3\r\n\r\n"
        );
    }

    #[test]
    fn switching_protocols_keeps_upgrade() {
        let raw =
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: abc\r\n\r\n";
        let got = relay(raw, |h| h.request_id = b"");
        assert_eq!(
            got,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: abc\r\n\
Connection: upgrade\r\n\r\n"
        );
    }

    #[test]
    fn own_response_with_edits() {
        let mut edits = HeaderEdits::new();
        edits.set(b"Content-Type", b"application/json").unwrap();
        edits.append(b"Retry-After", b"3").unwrap();
        let h = ClientHead {
            status: 429,
            reason: b"",
            upstream: None,
            framing: Framing::Length(2),
            close: false,
            client_minor: 1,
            request_id: b"id7",
            via: b"",
            date: b"",
            edits: &edits,
        };
        let mut out = Vec::new();
        write_response_head(&h, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 429 Too Many Requests\r\nX-Request-Id: id7\r\nContent-Length: 2\r\n\
Content-Type: application/json\r\nRetry-After: 3\r\n\r\n"
        );
    }
}
