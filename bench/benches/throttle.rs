//! `throttle`: one request's check of a node-scoped bucket (hash the key, find its slot,
//! compare-and-swap its arrival time, write the `RateLimit` value), uncontended and with a
//! second thread checking the same key at the same time (two workers contending for one
//! bucket). `cargo bench -p gw-bench --bench throttle`.

// Benchmark setup fails loudly: a bad fixture is a broken benchmark, not input to survive.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gw_plugins_std::registry;
use gw_program::{Field, PluginSpec, Value};
use gw_vm::{Call, Effect, Host};

/// A request whose effects are dropped (the runtime records them; that is not the check).
struct Req;

impl Host for Req {
    fn load(&mut self, _: Field) -> Value {
        Value::Absent
    }
    fn apply(&mut self, e: Effect<'_>) {
        black_box(e);
    }
    fn call(&mut self, _: u16, _: &[Value]) -> Call {
        Call::Continue
    }
    fn now_ms(&self) -> i64 {
        0
    }
    fn upstream_healthy(&self, _: u16) -> bool {
        true
    }
    fn split_counter(&mut self, _: u16) -> u64 {
        0
    }
}

/// `throttle 1000000000/s burst 1000000000 by … name bench`: every check admits, so each one
/// takes the whole path, CAS included.
fn factory() -> Arc<dyn gw_plugin::Factory> {
    let spec = PluginSpec {
        plugin: "throttle".into(),
        state_key: "bench".into(),
        args: vec![
            (
                "rate".into(),
                Value::Rate {
                    count: 1_000_000_000,
                    per_ms: 1000,
                },
            ),
            ("burst".into(), Value::Int(1_000_000_000)),
            ("key".into(), Value::str("client.ip")),
        ],
        origin: "bench.gw:1:1".into(),
    };
    let r = registry();
    Arc::from(r.get("throttle").unwrap().build(&spec, None).unwrap())
}

fn bench(c: &mut Criterion) {
    let f = factory();
    let key = [Value::str("203.0.113.7")];
    let mut g = c.benchmark_group("throttle");
    let mut one = f.instance(0);
    g.bench_function("uncontended", |b| {
        b.iter(|| black_box(one.call(&mut Req, black_box(&key))))
    });
    g.bench_function("two_threads_one_key", |b| {
        b.iter_custom(|iters| {
            let stop = Arc::new(AtomicBool::new(false));
            let other = {
                let (f, stop) = (f.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut i = f.instance(1);
                    let key = [Value::str("203.0.113.7")];
                    while !stop.load(Ordering::Relaxed) {
                        black_box(i.call(&mut Req, &key));
                    }
                })
            };
            // let the other thread start hammering first
            std::thread::sleep(Duration::from_millis(1));
            let start = Instant::now();
            for _ in 0..iters {
                black_box(one.call(&mut Req, black_box(&key)));
            }
            let spent = start.elapsed();
            stop.store(true, Ordering::Relaxed);
            other.join().unwrap();
            spent
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
