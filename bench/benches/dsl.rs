//! The DSL's three stages, benched apart as wirefilter does: parse (text -> AST), compile
//! (AST -> verified image) and execute (a compiled request program on the VM, and a route
//! lookup through a compiled image). `cargo bench -p gw-bench --bench dsl`.
//!
//! Targets: compiling a 10,000-route file under 1 s; a 10-op request program
//! under 100 ns.

// Benchmark setup fails loudly: a bad fixture is a broken benchmark, not input to survive.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gw_bench::{
    EXEC_CONFIG, EXEC_OPS, FixedHost, compile_source, generate_config, options, sample_paths,
    workspace_root,
};
use gw_program::{ConfigImage, Lookup, Value};
use gw_vm::{Exit, Frame};

const ROUTES: usize = 10_000;

/// The generated 10,000-route file, and its image. Lazy, and forced inside the bench closures,
/// so a filtered run (`-- execute/request`) does not compile 10,000 routes it will not use.
static ROUTES_SRC: LazyLock<String> = LazyLock::new(|| generate_config(ROUTES));
static ROUTES_IMAGE: LazyLock<ConfigImage> = LazyLock::new(|| {
    compile_source("routes.gw", &ROUTES_SRC)
        .unwrap_or_else(|d| panic!("the generated file does not compile:\n{d}"))
});

fn petstore() -> String {
    let path = workspace_root().join("grammar/examples/petstore.gw");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses `text`, failing loudly on a syntax error: a bench of an error path measures nothing.
fn parse_ok(name: &str, text: &str) -> gw_syntax::Parsed {
    let parsed = gw_syntax::parse_source(name, text);
    if parsed
        .diagnostics
        .iter()
        .any(gw_syntax::Diagnostic::is_error)
    {
        panic!(
            "{name}:\n{}",
            gw_syntax::render_all(&parsed.diagnostics, &parsed.sources)
        );
    }
    parsed
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for (name, text) in [("petstore", petstore()), ("routes_10k", ROUTES_SRC.clone())] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        if name == "routes_10k" {
            group.sample_size(10);
        }
        // Checked on the first call only: criterion calls this closure once per sample.
        let mut checked = false;
        group.bench_function(name, |b| {
            if !checked {
                parse_ok(name, &text);
                checked = true;
            }
            b.iter(|| black_box(gw_syntax::parse_source(name, black_box(&text))))
        });
    }
    group.finish();
}

fn compile(c: &mut Criterion) {
    let text: &str = &ROUTES_SRC;
    let opts = options();
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("parse_and_compile_10k", |b| {
        LazyLock::force(&ROUTES_IMAGE);
        b.iter(|| {
            let parsed = gw_syntax::parse_source("routes.gw", black_box(text));
            black_box(gw_compiler::compile(&parsed, &opts))
        })
    });
    let mut parsed = None;
    group.bench_function("compile_10k", |b| {
        LazyLock::force(&ROUTES_IMAGE);
        let parsed = parsed.get_or_insert_with(|| parse_ok("routes.gw", text));
        b.iter(|| black_box(gw_compiler::compile(black_box(&*parsed), &opts)))
    });
    group.finish();
}

fn execute(c: &mut Criterion) {
    let image = compile_source("exec.gw", EXEC_CONFIG).unwrap_or_else(|d| panic!("{d}"));
    let Some(program) = image.routes.first().map(|r| r.request.clone()) else {
        panic!("exec.gw has no route");
    };
    assert_eq!(
        program.ops.len(),
        EXEC_OPS,
        "the execute bench is meant to run 10 ops"
    );
    let params = [Value::str("12345")];
    let pass = [
        ("accept", Value::str("application/json")),
        ("x-a", Value::str("1")),
        ("x-b", Value::str("alice")),
        ("cookie", Value::str("session=abc")),
    ];
    let fail = [("accept", Value::str("application/json"))];
    let mut frame = Frame::new();
    let mut group = c.benchmark_group("execute");
    for (name, headers) in [
        ("request_10_ops_forward", &pass[..]),
        ("request_deny", &fail[..]),
    ] {
        let mut host = FixedHost::new(&program.consts, headers, &params);
        // Fail loudly if the program does not take the path the name says.
        let exit = gw_vm::run(&program, 0, &mut frame, &mut host);
        let ok = match exit {
            Exit::Forward { .. } => name.ends_with("forward") && host.effects == 4,
            Exit::Deny { status: 403, .. } => name.ends_with("deny"),
            _ => false,
        };
        assert!(ok, "{name}: {exit:?} after {} effects", host.effects);
        group.bench_function(name, |b| {
            b.iter(|| {
                host.reset();
                black_box(gw_vm::run(black_box(&program), 0, &mut frame, &mut host))
            })
        });
    }
    group.finish();
}

/// Route lookup among 10,000 compiled routes, through the image as the runtime does it:
/// router, then the route's plan and request program.
fn lookup(c: &mut Criterion) {
    let paths = sample_paths(ROUTES, 64);
    let mut params = Vec::with_capacity(8);
    let mut group = c.benchmark_group("execute");
    group.throughput(Throughput::Elements(paths.len() as u64));
    group.bench_function("image_route_lookup_10k_x64", |b| {
        let image: &ConfigImage = &ROUTES_IMAGE;
        for (method, path) in &paths {
            let got = image
                .router
                .lookup("api.example.com", method, path, &mut params);
            let plan = match got {
                Lookup::Found { route } => image.routes.get(route as usize),
                _ => None,
            };
            assert!(
                plan.is_some_and(|p| p.method == *method || p.method == "ANY"),
                "{method} {path}: {got:?}"
            );
        }
        b.iter(|| {
            for (method, path) in &paths {
                let got = image.router.lookup(
                    black_box("api.example.com"),
                    black_box(method),
                    black_box(path),
                    &mut params,
                );
                if let Lookup::Found { route } = got {
                    black_box(image.routes.get(route as usize).map(|p| &p.request));
                }
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = parse, compile, execute, lookup
}
criterion_main!(benches);
