//! `body json { … }` with 10 fields of the request body, after `validate body` typed them:
//! the compiled request program (the plugin call, the loads of the 10 fields it stored, the
//! `body.build` that encodes the new JSON body, the forward) run by `gw_vm::run`.
//! `body_json_10_fields` is the transform alone (the validation answered as done, its stored
//! fields kept); `validate_and_body_json_10_fields` runs the real `validate.body` instance
//! too (parse of the ~400-byte body, the 11-property schema, storing the fields).
//! `cargo bench -p gw-bench --bench transform`.

// Benchmark setup fails loudly: a bad fixture is a broken benchmark, not input to survive.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gw_bench::compile_source;
use gw_program::{Field, Value};
use gw_vm::{Call, Effect, Exit, Frame, Host};

const CONFIG: &str = "listen 127.0.0.1:8080
upstream app { server 127.0.0.1:9000 }
schema Order = file \"bench/fixtures/order.json\"
route POST /orders {
  validate body Order
  body json {
    order:    body.id,
    sku:      body.sku,
    quantity: body.qty,
    price:    body.price_cents,
    currency: body.currency,
    customer: body.customer,
    email:    body.email,
    gift:     body.gift ?? false,
    note:     body.note ?? \"\",
    channel:  body.channel ?? \"web\"
  }
  upstream app
}
";

/// About 400 bytes, every field of the schema set.
const BODY: &str = r#"{"id":"ord-2026-000123","sku":"SKU-98765","qty":3,"price_cents":1999,
"currency":"EUR","customer":"cus-4411","email":"ann@example.com","gift":false,
"note":"leave it at the door, the side one, by the blue bins; thanks a lot","channel":"web",
"cart":"a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"}"#;

/// A JSON request with its body buffered: `validate body` runs as the real plugin instance
/// (`plugin` set) or is taken as done (`None`: the locals it stored are kept from the first
/// run), and `body.*` reads the locals it stored, as in the runtime.
struct Req {
    body: &'static [u8],
    plugin: Option<Box<dyn gw_plugin::Instance>>,
    locals: Vec<Value>,
    built: usize,
}

impl Host for Req {
    fn load(&mut self, field: Field) -> Value {
        match field {
            Field::Local(k) => self
                .locals
                .get(usize::from(k))
                .cloned()
                .unwrap_or(Value::Absent),
            _ => Value::Absent,
        }
    }
    fn apply(&mut self, effect: Effect<'_>) {
        if let Effect::SetBody(b) = effect {
            self.built = b.len();
        }
    }
    fn call(&mut self, _: u16, args: &[Value]) -> Call {
        match self.plugin.take() {
            Some(mut p) => {
                let answer = p.call(self, args);
                self.plugin = Some(p);
                answer
            }
            None => Call::Continue,
        }
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
    fn request_header(&self, name: &[u8]) -> Option<&[u8]> {
        name.eq_ignore_ascii_case(b"content-type")
            .then_some(b"application/json".as_slice())
    }
    fn request_body(&self) -> Option<&[u8]> {
        Some(self.body)
    }
    fn set_local(&mut self, key: u16, value: Value) {
        let i = usize::from(key);
        if self.locals.len() <= i {
            self.locals.resize(i + 1, Value::Absent);
        }
        self.locals[i] = value;
    }
}

fn transform(c: &mut Criterion) {
    let image = compile_source("transform.gw", CONFIG).unwrap_or_else(|d| panic!("{d}"));
    let program = image.routes[0].request.clone();
    let spec = &image.plugins[0];
    let instance = gw_plugins_std::registry()
        .get(&spec.plugin)
        .unwrap()
        .build(spec, None)
        .unwrap_or_else(|e| panic!("{}", e.message))
        .instance(0);
    let mut frame = Frame::new();
    let mut host = Req {
        body: BODY.as_bytes(),
        plugin: Some(instance),
        locals: Vec::new(),
        built: 0,
    };
    // Fail loudly if the program does not build the body the bench is about.
    let exit = gw_vm::run(&program, 0, &mut frame, &mut host);
    assert!(matches!(exit, Exit::Forward { .. }), "{exit:?}");
    let stored = host.locals.iter().filter(|v| !v.is_absent()).count();
    assert_eq!(stored, 10, "the bench is meant to read 10 body fields");
    assert!(host.built > 200, "built {} bytes", host.built);

    let mut group = c.benchmark_group("transform");
    group.bench_function("validate_and_body_json_10_fields", |b| {
        b.iter(|| black_box(gw_vm::run(black_box(&program), 0, &mut frame, &mut host)))
    });
    let plugin = host.plugin.take();
    group.bench_function("body_json_10_fields", |b| {
        b.iter(|| black_box(gw_vm::run(black_box(&program), 0, &mut frame, &mut host)))
    });
    host.plugin = plugin;
    group.finish();
}

criterion_group!(benches, transform);
criterion_main!(benches);
