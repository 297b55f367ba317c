//! gw-proto's per-request work on the proxy hot path: parse the client's head, write the
//! upstream head, parse the upstream's response, write the client's head.
//! `cargo bench -p gw-bench --bench proto`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use gw_proto::samples::{REQUEST, RESPONSE, WRK_REQUEST, WRK_RESPONSE};
use gw_proto::{
    ClientHead, ForwardHead, Framing, HeadLimits, HeaderEdits, RequestHead, ResponseHead,
    UpstreamHost, parse_request, parse_response, write_forward_head, write_response_head,
};

fn parsed_request(raw: &[u8]) -> RequestHead {
    let mut head = RequestHead::default();
    let _ = parse_request(raw, &HeadLimits::default(), &mut head);
    head
}

fn parsed_response(raw: &[u8]) -> ResponseHead {
    let mut head = ResponseHead::default();
    let _ = parse_response(raw, false, &mut head);
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
    c.bench_function("parse_request_wrk", |b| {
        b.iter(|| parse_request(black_box(WRK_REQUEST), &limits, &mut req))
    });
    c.bench_function("parse_response_wrk", |b| {
        b.iter(|| parse_response(black_box(WRK_RESPONSE), false, &mut resp))
    });
}

fn bench_write(c: &mut Criterion) {
    let req = parsed_request(REQUEST);
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
    let resp = parsed_response(RESPONSE);
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
    bench_write_wrk(c, &edits, &mut out);
}

/// The writers on bench/run.sh's heads, set up as gw-runtime's proxy does.
fn bench_write_wrk(c: &mut Criterion, edits: &HeaderEdits, out: &mut Vec<u8>) {
    let req = parsed_request(WRK_REQUEST);
    let forward = ForwardHead {
        request: &req,
        buf: WRK_REQUEST,
        path: req.path.of(WRK_REQUEST),
        query: req.query.of(WRK_REQUEST),
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        tls: false,
        request_id: b"01JDX3Z8W5Q9K2M4N6P8R0T2V4",
        edits,
        host: UpstreamHost::ClientOr(b"127.0.0.1:18080"),
        framing: req.framing,
    };
    c.bench_function("write_forward_head_wrk", |b| {
        b.iter(|| {
            out.clear();
            write_forward_head(black_box(&forward), out);
        })
    });
    let resp = parsed_response(WRK_RESPONSE);
    let client = ClientHead {
        status: resp.status,
        reason: resp.reason.of(WRK_RESPONSE),
        upstream: Some((&resp, WRK_RESPONSE)),
        framing: resp.framing,
        close: false,
        client_minor: 1,
        request_id: b"01JDX3Z8W5Q9K2M4N6P8R0T2V4",
        via: b"",
        edits,
    };
    c.bench_function("write_response_head_wrk", |b| {
        b.iter(|| {
            out.clear();
            write_response_head(black_box(&client), out);
        })
    });
}

criterion_group!(benches, bench_parse, bench_write);
criterion_main!(benches);
