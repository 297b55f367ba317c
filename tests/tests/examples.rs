//! Every `grammar/examples/*.gw` parses and compiles with zero errors (warnings are allowed and
//! printed), and its disassembly equals `tests/golden/disasm/NAME.txt`.
//!
//! `GW_BLESS=1 cargo test -p gw-tests --test examples` (re)writes the disasm goldens.
//! Sources print as `NAME.gw` (relative to grammar/examples), so goldens do not depend on
//! where the work tree lives.

// Test harness code fails loudly by design.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use gw_compiler::Options;
use gw_syntax::{Diagnostic, Parsed};

mod common;
use common::{bless, diff, gw_files, stem, workspace_root};

/// The fixed environment `env("X")` reads; the examples' defaults apply to everything else.
const ENV: &[(&str, &str)] = &[("REGION", "eu-west-1")];

/// The examples grammar/examples/README.md lists; a missing one is a failure, not a skip.
const REQUIRED: &[&str] = &[
    "petstore",
    "checkout",
    "chat",
    "quickstart",
    "legacy",
    "mock",
    "limits",
];

fn examples_dir() -> PathBuf {
    workspace_root().join("grammar/examples")
}

fn golden_dir() -> PathBuf {
    workspace_root().join("tests/golden/disasm")
}

fn example_files() -> Vec<PathBuf> {
    gw_files(&examples_dir())
}

/// Name every source relative to grammar/examples.
fn stable_names(parsed: &mut Parsed, dir: &Path) {
    for file in &mut parsed.sources.files {
        if let Ok(rel) = file.path.strip_prefix(dir) {
            file.name = rel.to_string_lossy().replace('\\', "/");
        }
    }
}

fn options(path: &Path) -> Options {
    Options {
        available_plugins: None,
        signatures: Vec::new(),
        env: Box::new(|k| {
            ENV.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_string())
        }),
        base_dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
    }
}

/// Parse, compile and disassemble one example; Err holds what went wrong.
fn check_example(path: &Path) -> Result<String, String> {
    let dir = examples_dir();
    let mut parsed = gw_syntax::parse_file(path);
    stable_names(&mut parsed, &dir);
    let mut diags: Vec<Diagnostic> = parsed.diagnostics.clone();
    let image = if diags.iter().any(Diagnostic::is_error) {
        None
    } else {
        let compiled = gw_compiler::compile(&parsed, &options(path));
        diags.extend(compiled.diagnostics);
        compiled.image
    };
    let rendered = gw_syntax::render_all(&diags, &parsed.sources);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(rendered);
    }
    if !diags.is_empty() {
        eprintln!("{}: warnings:\n{rendered}", stem(path));
    }
    let image = image.ok_or_else(|| format!("no image and no error diagnostic:\n{rendered}"))?;
    Ok(gw_program::disasm::disasm_image(&image, None))
}

#[test]
fn examples_compile_and_disasm_is_pinned() {
    let mut failures = Vec::new();
    let files = example_files();
    let names: Vec<String> = files.iter().map(|p| stem(p)).collect();
    for required in REQUIRED {
        if !names.iter().any(|n| n == required) {
            failures.push(format!("grammar/examples/{required}.gw is missing"));
        }
    }
    if bless() {
        std::fs::create_dir_all(golden_dir()).expect("create tests/golden/disasm");
    }
    for path in &files {
        let name = stem(path);
        let run = std::panic::catch_unwind(|| check_example(path));
        let disasm = match run {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                failures.push(format!("{name}.gw does not compile:\n{e}"));
                continue;
            }
            Err(_) => {
                failures.push(format!("{name}.gw: the parser or compiler panicked"));
                continue;
            }
        };
        let golden = golden_dir().join(format!("{name}.txt"));
        if bless() {
            std::fs::write(&golden, &disasm).expect("write disasm golden");
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(expected) if expected == disasm => {}
            Ok(expected) => failures.push(format!(
                "{name}: disasm differs from tests/golden/disasm/{name}.txt (- golden, + actual):\n{}",
                diff(&expected, &disasm)
            )),
            Err(_) => failures.push(format!(
                "{name}: no tests/golden/disasm/{name}.txt (run with GW_BLESS=1)"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} example failures:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn no_orphan_disasm_goldens() {
    let names: Vec<String> = example_files().iter().map(|p| stem(p)).collect();
    let Ok(entries) = std::fs::read_dir(golden_dir()) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("dir entry").path();
        let name = stem(&path);
        assert!(
            names.contains(&name),
            "tests/golden/disasm/{name}.txt has no example {name}.gw"
        );
    }
}

/// The ```gw blocks of grammar/README.md (the language reference), in order.
fn readme_snippets() -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(workspace_root().join("grammar/README.md"))
        .expect("grammar/README.md exists");
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match current.as_mut() {
            None if line.trim() == "```gw" => current = Some((i + 2, String::new())),
            None => {}
            Some(_) if line.trim() == "```" => out.extend(current.take()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    out
}

/// Every example in the reference is valid syntax. Names and files may refer to other snippets,
/// so only the parser runs and a missing include (E0701) is not a failure.
#[test]
fn readme_snippets_parse() {
    let snippets = readme_snippets();
    assert!(
        snippets.len() >= 20,
        "only {} gw snippets in grammar/README.md",
        snippets.len()
    );
    let mut failures = Vec::new();
    for (line, text) in &snippets {
        let parsed = gw_syntax::parse_source("snippet.gw", text);
        let errors: Vec<Diagnostic> = parsed
            .diagnostics
            .iter()
            .filter(|d| d.is_error() && d.code != "E0701")
            .cloned()
            .collect();
        if !errors.is_empty() {
            let rendered = gw_syntax::render_all(&errors, &parsed.sources);
            failures.push(format!("snippet at grammar/README.md:{line}:\n{rendered}"));
        }
    }
    assert!(
        failures.is_empty(),
        "README snippets that do not parse:\n{}",
        failures.join("\n")
    );
}

#[test]
fn diff_marks_changed_lines() {
    assert_eq!(diff("a\nb\n", "a\nc\n"), "  a\n- b\n+ c\n");
    let same = diff("same\n", "same\n");
    assert!(!same.lines().any(|l| l.starts_with(['-', '+'])), "{same}");
}
