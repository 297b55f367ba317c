//! gw-proto's per-request work on the proxy hot path: parse the client's head, write the
//! upstream head, parse the upstream's response, write the client's head.
//! `cargo bench -p gw-bench --bench proto`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use gw_proto::samples::{REQUEST, RESPONSE};
use gw_proto::{
    ClientHead, ForwardHead, Framing, HeadLimits, HeaderEdits, RequestHead, ResponseHead,
    UpstreamHost, parse_request, parse_response, write_forward_head, write_response_head,
};

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
