//! gw-proto's per-request work on the proxy hot path: parse the client's head, write the
//! upstream head, parse the upstream's response, write the client's head.
//! `cargo bench -p gw-bench --bench proto`.

// Benchmark setup fails loudly: a bad fixture is a broken benchmark, not input to survive.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use gw_proto::samples::{REQUEST, RESPONSE, WRK_REQUEST, WRK_RESPONSE, client_head, forward_head};
use gw_proto::{
    HeadLimits, HeaderEdits, RequestHead, ResponseHead, parse_request, parse_response,
    write_forward_head, write_response_head,
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
    let forward = forward_head(
        &req,
        REQUEST,
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 21)),
        &edits,
    );
    c.bench_function("write_forward_head", |b| {
        b.iter(|| {
            out.clear();
            write_forward_head(black_box(&forward), &mut out);
        })
    });
    let resp = parsed_response(RESPONSE);
    let client = client_head(&resp, RESPONSE, &edits);
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
    let forward = forward_head(&req, WRK_REQUEST, IpAddr::V4(Ipv4Addr::LOCALHOST), edits);
    c.bench_function("write_forward_head_wrk", |b| {
        b.iter(|| {
            out.clear();
            write_forward_head(black_box(&forward), out);
        })
    });
    let resp = parsed_response(WRK_RESPONSE);
    let client = client_head(&resp, WRK_RESPONSE, edits);
    c.bench_function("write_response_head_wrk", |b| {
        b.iter(|| {
            out.clear();
            write_response_head(black_box(&client), out);
        })
    });
}

criterion_group!(benches, bench_parse, bench_write);
criterion_main!(benches);
