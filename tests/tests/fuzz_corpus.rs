//! Replays every seed of `fuzz/corpus/<target>/` through the library entry point its cargo-fuzz
//! target calls, so the seeds run on stable in every `cargo test` and a regression input
//! dropped into a corpus directory stays fixed. A panic fails with the seed's name; an empty
//! corpus directory, or a fuzz target missing from [`TARGETS`], fails too.

// Test harness code fails loudly by design.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// A cargo-fuzz target and the library function its `fuzz_targets/NAME.rs` calls.
struct Target {
    /// The target's name, which is also its corpus directory.
    name: &'static str,
    /// The call as written in the target's source.
    call: &'static str,
    run: fn(&[u8]),
}

const TARGETS: &[Target] = &[
    Target {
        name: "parse_compile",
        call: "gw_compiler::fuzz_compile",
        run: gw_compiler::fuzz_compile,
    },
    Target {
        name: "http_request",
        call: "gw_proto::fuzz_request",
        run: gw_proto::fuzz_request,
    },
    Target {
        name: "http_response",
        call: "gw_proto::fuzz_response",
        run: gw_proto::fuzz_response,
    },
    Target {
        name: "chunked",
        call: "gw_proto::fuzz_chunked",
        run: gw_proto::fuzz_chunked,
    },
    Target {
        name: "path_rewrite",
        call: "gw_proto::fuzz_path_rewrite",
        run: gw_proto::fuzz_path_rewrite,
    },
    Target {
        name: "upstream_exchange",
        call: "gw_proto::fuzz_upstream_exchange",
        run: gw_proto::fuzz_upstream_exchange,
    },
    Target {
        name: "websocket",
        call: "gw_proto::fuzz_websocket",
        run: gw_proto::fuzz_websocket,
    },
];

fn fuzz_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).join("fuzz")
}

/// The regular files of a directory, sorted (so failures list in a stable order).
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn target(name: &str) -> &'static Target {
    TARGETS
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("fuzz target {name} has no entry in TARGETS"))
}

/// Runs every seed of `fuzz/corpus/NAME/`; returns how many ran.
fn replay(name: &str) -> usize {
    let run = target(name).run;
    let dir = fuzz_dir().join("corpus").join(name);
    let seeds = files_in(&dir);
    assert!(
        !seeds.is_empty(),
        "{}: empty corpus directory",
        dir.display()
    );
    let mut panicked = Vec::new();
    for seed in &seeds {
        let data = std::fs::read(seed).unwrap_or_else(|e| panic!("{}: {e}", seed.display()));
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            panicked.push(seed.display().to_string());
        }
    }
    assert!(
        panicked.is_empty(),
        "{name} panicked on:\n  {}",
        panicked.join("\n  ")
    );
    seeds.len()
}

#[test]
fn parse_compile_corpus_does_not_panic() {
    let ran = replay("parse_compile");
    // Every grammar example is a seed, plus the ui cases.
    let examples = files_in(&fuzz_dir().join("../grammar/examples"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "gw"))
        .count();
    assert!(ran > examples, "{ran} seeds, {examples} examples");
}

#[test]
fn http_request_corpus_does_not_panic() {
    replay("http_request");
}

#[test]
fn http_response_corpus_does_not_panic() {
    replay("http_response");
}

#[test]
fn chunked_corpus_does_not_panic() {
    replay("chunked");
}

/// Each `fuzz/fuzz_targets/NAME.rs` has a corpus replayed here, through the function it calls.
#[test]
fn every_fuzz_target_is_replayed() {
    let targets = files_in(&fuzz_dir().join("fuzz_targets"));
    assert!(!targets.is_empty(), "no fuzz targets found");
    for file in targets {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        let call = target(name).call;
        let text = std::fs::read_to_string(&file).expect("readable fuzz target");
        assert!(
            text.contains(call),
            "{}: does not call {call}",
            file.display()
        );
    }
}

/// Every grammar example is a seed (`example_NAME.gw`): new syntax gets fuzzed from day one.
#[test]
fn parse_compile_corpus_has_every_example() {
    let corpus = fuzz_dir().join("corpus/parse_compile");
    for example in files_in(&fuzz_dir().join("../grammar/examples")) {
        if example.extension().is_none_or(|e| e != "gw") {
            continue;
        }
        let name = example
            .file_name()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        let seed = corpus.join(format!("example_{name}"));
        assert!(
            seed.is_file(),
            "{} has no seed {}",
            example.display(),
            seed.display()
        );
    }
}
