//! Router lookup among 10,000 generated routes (literal, param, greedy; hits, misses, 405s),
//! and the build of that table. `cargo bench -p gw-bench --bench router`.

// Benchmark setup fails loudly: a bad fixture is a broken benchmark, not input to survive.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gw_program::{Lookup, PatSeg, RouteKey, Router};

const SERVICES: u32 = 625;

fn lit(s: impl Into<String>) -> PatSeg {
    PatSeg::Literal(s.into())
}

/// 16 routes per service, 625 services: 10,000 routes.
fn routes() -> Vec<RouteKey> {
    let mut keys = Vec::new();
    let mut add = |method: &str, segments: Vec<PatSeg>| {
        let route = u32::try_from(keys.len()).unwrap_or(u32::MAX);
        keys.push(RouteKey {
            host: None,
            method: method.into(),
            segments,
            trailing_slash: false,
            route,
        });
    };
    for s in 0..SERVICES {
        let svc = format!("svc{s}");
        for r in 0..3 {
            let res = format!("res{r}");
            add("GET", vec![lit(&svc), lit(&res)]);
            add("POST", vec![lit(&svc), lit(&res)]);
            add("GET", vec![lit(&svc), lit(&res), PatSeg::Param]);
            let items = vec![
                lit(&svc),
                lit(&res),
                PatSeg::Param,
                lit("items"),
                PatSeg::Param,
            ];
            add("GET", items);
        }
        add("GET", vec![lit(&svc), lit("static"), PatSeg::Greedy]);
        add("ANY", vec![lit(&svc), lit("proxy"), PatSeg::Greedy]);
        add("GET", vec![lit(&svc)]);
        add("DELETE", vec![lit(&svc), lit("res0"), PatSeg::Param]);
    }
    keys
}

const CASES: &[(&str, &str, &str)] = &[
    ("hit_literal", "GET", "/svc312/res1"),
    ("hit_param", "GET", "/svc312/res2/12345"),
    ("hit_deep_params", "GET", "/svc100/res0/99/items/7"),
    ("hit_greedy", "GET", "/svc500/static/css/site.css"),
    ("hit_head_as_get", "HEAD", "/svc17/res1/abc"),
    ("miss_root", "GET", "/nope/x"),
    ("miss_backtrack", "GET", "/svc3/res1/5/items"),
    ("method_not_allowed", "PUT", "/svc9/res1"),
];

fn lookup(c: &mut Criterion) {
    let router = Router::build(&routes()).unwrap_or_default();
    let mut params = Vec::with_capacity(8);
    let mut group = c.benchmark_group("router_lookup_10k");
    for &(name, method, path) in CASES {
        // Fail loudly if the generated table does not route the case as its name says.
        let got = router.lookup("api.example.com", method, path, &mut params);
        let ok = match got {
            Lookup::Found { .. } => name.starts_with("hit"),
            Lookup::NotFound => name.starts_with("miss"),
            Lookup::MethodNotAllowed { .. } => name == "method_not_allowed",
        };
        assert!(ok, "{name}: {method} {path} -> {got:?}");
        group.bench_function(name, |b| {
            b.iter(|| {
                let r = router.lookup(
                    black_box("api.example.com"),
                    black_box(method),
                    black_box(path),
                    &mut params,
                );
                black_box(r);
            })
        });
    }
    group.finish();
}

fn build(c: &mut Criterion) {
    let keys = routes();
    c.bench_function("router_build_10k", |b| {
        b.iter(|| black_box(Router::build(black_box(&keys)).is_ok()))
    });
}

criterion_group!(benches, lookup, build);
criterion_main!(benches);
