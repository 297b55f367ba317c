//! `auth api_key`: one request's key check among 10,000 keys, a known key and an unknown
//! one (hash, lookup, and the locals a hit sets). `cargo bench -p gw-bench --bench auth`.

// Benchmark setup fails loudly: a bad fixture is a broken benchmark, not input to survive.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gw_bench::PluginRequest;
use gw_plugins_std::registry;
use gw_program::{PluginSpec, Value};
use gw_vm::Call;
use sha2::{Digest, Sha256};

const KEYS: usize = 10_000;

fn key(i: usize) -> String {
    format!("gw_live_{i:08}_5f0c2a9e7b1d4c36")
}

fn spec() -> PluginSpec {
    let keys: Vec<Value> = (0..KEYS)
        .map(|i| {
            let hex: String = Sha256::digest(key(i).as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            Value::List(
                vec![
                    Value::str(&hex),
                    Value::str(&format!("partner-{i}")),
                    Value::str("pro"),
                ]
                .into(),
            )
        })
        .collect();
    let out = |id: i64| Value::List(vec![Value::Int(id), Value::str("string")].into());
    PluginSpec {
        plugin: "api_key".into(),
        state_key: "partners".into(),
        args: vec![
            ("header".into(), Value::str("x-api-key")),
            ("keys".into(), Value::List(keys.into())),
            ("out.key.id".into(), out(0)),
            ("out.key.plan".into(), out(1)),
        ],
        origin: "bench.gw:1:1".into(),
    }
}

fn api_key(c: &mut Criterion) {
    let reg = registry();
    let factory = reg
        .get("api_key")
        .unwrap()
        .build(&spec(), None)
        .map_err(|e| e.message)
        .unwrap();
    let mut inst = factory.instance(0);
    let mut g = c.benchmark_group("api_key");
    for (name, presented, want) in [
        ("known", key(4242), Call::Continue),
        (
            "unknown",
            "gw_live_99999999_5f0c2a9e7b1d4c36".to_string(),
            Call::Deny {
                status: 401,
                retry_after: None,
            },
        ),
    ] {
        let mut req = PluginRequest::new(2).header("x-api-key", presented.as_bytes());
        assert_eq!(inst.call(&mut req, &[]), want);
        g.bench_function(name, |b| {
            b.iter(|| black_box(inst.call(black_box(&mut req), &[])))
        });
    }
    g.finish();
}

criterion_group!(benches, api_key);
criterion_main!(benches);
