//! The jwt plugin on the request path: a repeated token (a hit in the worker's cache) and a
//! full verification per algorithm (the cache off), through the plugin's public seam.
//! `cargo bench -p gw-bench --bench jwt`.

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
use gw_program::{PluginSpec, Value};
use gw_vm::Call;
use serde_json::json;

#[path = "../../tests/jwt-keys/mint.rs"]
mod mint;

use mint::Signer;

/// A `jwt` use with every test key, reading `sub` and the scopes, the cache of `cache` entries.
fn instance(cache: i64) -> Box<dyn gw_plugin::Instance> {
    let keys: Vec<_> = [
        ("hs", Signer::hmac(mint::SECRET.as_bytes())),
        ("rsa", Signer::rsa(mint::RSA)),
        ("p256", Signer::ec256()),
        ("p384", Signer::ec384()),
        ("ed", Signer::ed25519()),
    ]
    .iter()
    .map(|(kid, s)| s.jwk(kid))
    .collect();
    let list = |v: Vec<Value>| Value::List(v.into());
    let spec = PluginSpec {
        plugin: "jwt".into(),
        state_key: "users".into(),
        args: vec![
            (
                "jwks".into(),
                Value::str(&json!({ "keys": keys }).to_string()),
            ),
            (
                "algorithms".into(),
                list(mint::ALL.iter().map(|a| Value::str(a)).collect()),
            ),
            ("issuer".into(), Value::str("https://issuer.test/")),
            ("audience".into(), Value::str("api")),
            ("cache".into(), Value::Int(cache)),
            (
                "out.claim.sub".into(),
                list(vec![Value::Int(0), Value::str("string")]),
            ),
            (
                "out.auth.scopes".into(),
                list(vec![Value::Int(1), Value::str("list<string>")]),
            ),
        ],
        origin: "bench.gw:1:1".into(),
    };
    let registry = gw_plugins_std::registry();
    let plugin = registry.get("jwt").unwrap();
    plugin.build(&spec, None).unwrap().instance(0)
}

fn request(alg: &str) -> PluginRequest {
    let claims = json!({"iss": "https://issuer.test/", "aud": "api", "sub": "ann",
                        "exp": mint::now() + 3600, "scope": "read write"});
    let t = mint::token(&Signer::for_alg(alg), alg, Some(mint::kid_of(alg)), &claims);
    PluginRequest {
        now_ms: mint::now() * 1000,
        ..PluginRequest::new(2).header("authorization", format!("Bearer {t}").as_bytes())
    }
}

fn cached(c: &mut Criterion) {
    let mut i = instance(10_000);
    let mut req = request("RS256");
    assert_eq!(i.call(&mut req, &[]), Call::Continue);
    c.bench_function("jwt/cached_hit", |b| {
        b.iter(|| black_box(i.call(black_box(&mut req), &[])))
    });
    assert!(req.locals.iter().any(|v| !v.is_absent()));
}

fn verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("jwt/verify_miss");
    let mut i = instance(0);
    for alg in mint::ALL {
        let mut req = request(alg);
        assert_eq!(i.call(&mut req, &[]), Call::Continue, "{alg}");
        g.bench_function(alg, |b| {
            b.iter(|| black_box(i.call(black_box(&mut req), &[])))
        });
    }
    g.finish();
}

criterion_group!(benches, cached, verify);
criterion_main!(benches);
