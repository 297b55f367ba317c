//! Realistic heads for the criterion bench (bench/benches/proto.rs) and the instruction-count
//! example (examples/hotpath.rs), and the writers' inputs made from them as gw-runtime's proxy
//! makes them, kept in one place so both measure the same thing.

use std::net::IpAddr;

use crate::{ClientHead, ForwardHead, HeaderEdits, RequestHead, ResponseHead, UpstreamHost};

/// The request id the sample heads are written with.
pub const REQUEST_ID: &[u8] = b"01JDX3Z8W5Q9K2M4N6P8R0T2V4";

/// The upstream head for `req` (parsed from `raw`) from `client`, as the proxy writes it for a
/// plain `upstream u` route: the client's Host (the upstream's address if it sent none), the
/// request's own framing.
pub fn forward_head<'a>(
    req: &'a RequestHead,
    raw: &'a [u8],
    client: IpAddr,
    edits: &'a HeaderEdits,
) -> ForwardHead<'a> {
    ForwardHead {
        request: req,
        buf: raw,
        path: req.path.of(raw),
        query: req.query.of(raw),
        client_ip: client,
        tls: false,
        request_id: REQUEST_ID,
        edits,
        host: UpstreamHost::ClientOr(b"127.0.0.1:18080"),
        upgrade: false,
        underscores: crate::UnderscoreNames::Drop,
        framing: req.framing,
    }
}

/// The head relaying `resp` (parsed from `raw`) to an HTTP/1.1 keep-alive client.
pub fn client_head<'a>(
    resp: &'a ResponseHead,
    raw: &'a [u8],
    edits: &'a HeaderEdits,
) -> ClientHead<'a> {
    ClientHead {
        status: resp.status,
        reason: resp.reason.of(raw),
        upstream: Some((resp, raw)),
        framing: resp.framing,
        close: false,
        client_minor: 1,
        request_id: REQUEST_ID,
        via: b"",
        date: b"Sun, 06 Nov 1994 08:49:37 GMT",
        edits,
    }
}

/// A typical API client's request.
pub const REQUEST: &[u8] = b"GET /api/v1/items/42?fields=name,price HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: curl/8.5.0\r\n\
Accept: application/json\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl\r\n\
X-Forwarded-For: 198.51.100.7\r\n\
Connection: keep-alive\r\n\r\n";

/// nginx's answer to it.
pub const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: nginx/1.22.1\r\n\
Date: Wed, 25 Nov 2026 14:40:00 GMT\r\n\
Content-Type: application/json\r\n\
Content-Length: 11\r\n\
Connection: keep-alive\r\n\
Cache-Control: no-store\r\n\r\n";

/// What wrk sends in bench/run.sh.
pub const WRK_REQUEST: &[u8] = b"GET /bench HTTP/1.1\r\nHost: 127.0.0.1:18080\r\n\r\n";

/// The bench/run.sh nginx upstream's answer.
pub const WRK_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\
Date: Wed, 25 Nov 2026 14:40:00 GMT\r\nContent-Type: application/json\r\n\
Content-Length: 11\r\nConnection: keep-alive\r\n\r\n";
