//! `throttle`: one request's check of a node-scoped bucket (hash the key, find its slot,
//! compare-and-swap its arrival time, write the `RateLimit` value), uncontended and with a
//! second thread checking the same key at the same time (two workers contending for one
//! bucket). `cargo bench -p gw-bench --bench throttle`.
//!
//! The check takes the request's arrival time from its host: the connection reads the clock
//! once per request whether or not a route throttles, so that read is not the check's.

// Benchmark setup fails loudly: a bad fixture is a broken benchmark, not input to survive.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gw_plugins_std::registry;
use gw_program::{Field, PluginSpec, Value};
use gw_vm::{Call, Effect, Host};

/// A request whose effects are dropped (the runtime records them; that is not the check).
struct Req {
    arrived: Cell<Instant>,
}

impl Req {
    fn new() -> Req {
        Req {
            arrived: Cell::new(Instant::now()),
        }
    }
}

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
    /// Each request arrives 1 µs after the one before: one bucket interval at 1000000/s.
    fn arrived(&self) -> Instant {
        let t = self.arrived.get() + Duration::from_micros(1);
        self.arrived.set(t);
        t
    }
}

/// `throttle 1000000/s burst BURST by … name bench`. Every check admits: requests come at
/// the rate (see `Req::arrived`), so each takes the whole path, CAS included. The contended
/// case needs a burst that outlasts the two threads' clocks drifting apart.
fn factory(burst: i64) -> Arc<dyn gw_plugin::Factory> {
    let spec = PluginSpec {
        plugin: "throttle".into(),
        state_key: "bench".into(),
        args: vec![
            (
                "rate".into(),
                Value::Rate {
                    count: 1_000_000,
                    per_ms: 1000,
                },
            ),
            ("burst".into(), Value::Int(burst)),
            ("key".into(), Value::str("client.ip")),
        ],
        origin: "bench.gw:1:1".into(),
    };
    let r = registry();
    Arc::from(r.get("throttle").unwrap().build(&spec, None).unwrap())
}

fn bench(c: &mut Criterion) {
    let key = [Value::str("203.0.113.7")];
    let mut g = c.benchmark_group("throttle");
    let mut one = factory(1000).instance(0);
    let mut req = Req::new();
    g.bench_function("uncontended", |b| {
        b.iter(|| black_box(one.call(&mut req, black_box(&key))))
    });
    let f = factory(1_000_000_000);
    let mut one = f.instance(0);
    let mut req = Req::new();
    g.bench_function("two_threads_one_key", |b| {
        b.iter_custom(|iters| {
            let stop = Arc::new(AtomicBool::new(false));
            let other = {
                let (f, stop) = (f.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut i = f.instance(1);
                    let key = [Value::str("203.0.113.7")];
                    let mut req = Req::new();
                    while !stop.load(Ordering::Relaxed) {
                        black_box(i.call(&mut req, &key));
                    }
                })
            };
            // let the other thread start hammering first
            std::thread::sleep(Duration::from_millis(1));
            let start = Instant::now();
            for _ in 0..iters {
                black_box(one.call(&mut req, black_box(&key)));
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
