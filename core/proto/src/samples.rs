//! Realistic heads for the criterion bench (bench/benches/proto.rs) and the instruction-count
//! example (examples/hotpath.rs), kept in one place so both measure the same input.

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
