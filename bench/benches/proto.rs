//! gw-proto's per-request work on the proxy hot path: parse the client's head, write the
//! upstream head, parse the upstream's response, write the client's head.
//! `cargo bench -p gw-bench --bench proto`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use gw_proto::{
    ClientHead, ForwardHead, Framing, HeadLimits, HeaderEdits, RequestHead, ResponseHead,
    UpstreamHost, parse_request, parse_response, write_forward_head, write_response_head,
};

/// A typical API client's request.
const REQUEST: &[u8] = b"GET /api/v1/items/42?fields=name,price HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: curl/8.5.0\r\n\
Accept: application/json\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl\r\n\
X-Forwarded-For: 198.51.100.7\r\n\
Connection: keep-alive\r\n\r\n";

/// nginx's answer to it.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
Server: nginx/1.22.1\r\n\
Date: Wed, 25 Nov 2026 14:40:00 GMT\r\n\
Content-Type: application/json\r\n\
Content-Length: 11\r\n\
Connection: keep-alive\r\n\
Cache-Control: no-store\r\n\r\n";

fn parsed_request() -> RequestHead {
    let mut head = RequestHead::default();
    let _ = parse_request(REQUEST, &HeadLimits::default(), &mut head);
    head
}

fn parsed_response() -> ResponseHead {
    let mut head = ResponseHead::default();
    let _ = parse_response(RESPONSE, false, &mut head);
    head
}

fn bench_parse(c: &mut Criterion) {
    let limits = HeadLimits::default();
    let mut req = RequestHead::default();
    c.bench_function("parse_request", |b| {
        b.iter(|| parse_request(black_box(REQUEST), &limits, &mut req))
    });
    let mut resp = ResponseHead::default();
    c.bench_function("parse_response", |b| {
        b.iter(|| parse_response(black_box(RESPONSE), false, &mut resp))
    });
}

fn bench_write(c: &mut Criterion) {
    let req = parsed_request();
    let edits = HeaderEdits::new();
    let mut out = Vec::with_capacity(1024);
    let forward = ForwardHead {
        request: &req,
        buf: REQUEST,
        path: req.path.of(REQUEST),
        query: req.query.of(REQUEST),
        client_ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 21)),
        tls: false,
        request_id: b"01JDX3Z8W5Q9K2M4N6P8R0T2V4",
        edits: &edits,
        host: UpstreamHost::Client,
        framing: Framing::None,
    };
    c.bench_function("write_forward_head", |b| {
        b.iter(|| {
            out.clear();
            write_forward_head(black_box(&forward), &mut out);
        })
    });
    let resp = parsed_response();
    let client = ClientHead {
        status: resp.status,
        reason: resp.reason.of(RESPONSE),
        upstream: Some((&resp, RESPONSE)),
        framing: resp.framing,
        close: false,
        client_minor: 1,
        request_id: b"01JDX3Z8W5Q9K2M4N6P8R0T2V4",
        via: b"",
        edits: &edits,
    };
    c.bench_function("write_response_head", |b| {
        b.iter(|| {
            out.clear();
            write_response_head(black_box(&client), &mut out);
        })
    });
}

criterion_group!(benches, bench_parse, bench_write);
criterion_main!(benches);
