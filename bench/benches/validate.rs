//! `validate body`: one request's body (about 1 KiB) checked against a 10-property schema,
//! parse included, through the plugin as the runtime calls it; a valid body (which also
//! fills two `body.*` locals) and an invalid one (which builds the problem document).
//! `cargo bench -p gw-bench --bench validate`.

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

/// A JSON request with its body buffered.
fn json_request(body: Vec<u8>) -> PluginRequest {
    PluginRequest {
        body: Some(body),
        ..PluginRequest::new(2).header("content-type", b"application/json")
    }
}

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["name", "age", "email", "tags"],
  "properties": {
    "name": {"type": "string", "maxLength": 100},
    "age": {"type": "integer", "minimum": 0, "maximum": 200},
    "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
    "active": {"type": "boolean"},
    "score": {"type": "number"},
    "kind": {"enum": ["cat", "dog", "bird"]},
    "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string"}}},
    "notes": {"type": "string"},
    "id": {"type": "string", "minLength": 8}
  },
  "additionalProperties": false
}"#;

fn body(age: i64) -> Vec<u8> {
    format!(
        r#"{{"name":"Rex the very good dog of the house","age":{age},"email":"rex@example.com","tags":["a","bb","ccc","dddd","eeeee","ffffff","g","h"],"active":true,"score":12.5,"kind":"dog","address":{{"city":"Springfield","zip":"12345"}},"notes":"{}","id":"abcdefgh1234"}}"#,
        "x".repeat(770)
    )
    .into_bytes()
}

fn spec() -> PluginSpec {
    let out = |id: i64, ty: &str| Value::List(vec![Value::Int(id), Value::str(ty)].into());
    PluginSpec {
        plugin: "validate.body".into(),
        state_key: "POST /pets#body".into(),
        args: vec![
            ("schema".into(), Value::str("Pet")),
            ("file".into(), Value::str("/nonexistent/pet.json")),
            ("json".into(), Value::str(SCHEMA)),
            ("out.body./name".into(), out(0, "string")),
            ("out.body./age".into(), out(1, "int")),
        ],
        origin: "bench.gw:1:1".into(),
    }
}

fn validate(c: &mut Criterion) {
    let registry = registry();
    let plugin = registry.get("validate.body").unwrap();
    let factory = plugin.build(&spec(), None).map_err(|e| e.message).unwrap();
    let mut instance = factory.instance(0);
    let valid = body(7);
    assert!((1000..1100).contains(&valid.len()), "{}", valid.len());
    let mut req = json_request(valid);
    assert_eq!(instance.call(&mut req, &[]), Call::Continue);
    assert_eq!(req.locals[1], Value::Int(7));
    let mut bad = json_request(body(-1));
    assert!(matches!(
        instance.call(&mut bad, &[]),
        Call::Deny { status: 400, .. }
    ));
    let mut g = c.benchmark_group("validate_body");
    g.bench_function("1KiB_10_properties_valid", |b| {
        b.iter(|| black_box(instance.call(black_box(&mut req), &[])))
    });
    g.bench_function("1KiB_10_properties_invalid", |b| {
        b.iter(|| black_box(instance.call(black_box(&mut bad), &[])))
    });
    g.finish();
}

criterion_group!(benches, validate);
criterion_main!(benches);
