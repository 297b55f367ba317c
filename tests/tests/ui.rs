//! Golden diagnostics: every `tests/ui/*.gw` is parsed and compiled as the language allows
//! (syntax errors stop before the compiler), and the rendered diagnostics must equal
//! `tests/ui/NAME.stderr` byte for byte.
//!
//! - `GW_BLESS=1 cargo test -p gw-tests --test ui` (re)writes the goldens.
//! - A file name starts with the code it shows (`e0201_unknown_claim.gw`): its output must
//!   contain `error[E0201]` (or `warning[W0204]` for a `w` prefix).
//! - A first line `# ui-plugins: jwt, cors` compiles with `available_plugins` set to that list
//!   (for E0801); every other file compiles with `None` (every policy of the language).
//! - Files too large to commit (E0105) are generated at test time; see [`GENERATED`].
//! - Paths print as `tests/ui/NAME.gw` whatever the working directory, so goldens are stable.

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

/// Every code of grammar/README.md#error-codes and of the syntax and compiler crates' code
/// lists: each must be the prefix of at least one ui file and appear in at least one golden.
const CODES: &[&str] = &[
    "E0101", "E0102", "E0103", "E0104", "E0105", "E0106", // syntax
    "E0201", "E0202", "E0203", "W0204", // names
    "E0301", "E0302", "E0303", "E0304", // types and values
    "E0401", "E0402", "E0403", // routes
    "E0501", "E0502", "E0503", "E0504", "E0505", "E0506", "E0507", // order
    "E0601", "E0602", // cost and size
    "E0701", "E0702", "E0703", // files and addresses
    "E0801", // plugins the build does not serve
    "W0101", "W0102", "W0103", "W0104", "W0105", "W0106", "W0107", // lints
];

/// The fixed environment `env("X")` reads in every ui file.
const ENV: &[(&str, &str)] = &[("REGION", "eu-west-1"), ("PETSTORE_AUDIENCE", "petstore")];

/// Makes the bytes of a generated case.
type Generator = fn() -> Vec<u8>;

/// Cases whose input is generated rather than committed: (name, generator).
const GENERATED: &[(&str, Generator)] = &[("e0105_file_too_large", too_large)];

/// A config just over the 16 MiB limit: a valid route, then comment lines.
fn too_large() -> Vec<u8> {
    let mut text = b"listen :8080\nroute GET /health { respond 200 json { ok: true } }\n".to_vec();
    let line = b"# padding: gw refuses files over 16 MiB before it parses them\n";
    while text.len() <= 16 * 1024 * 1024 {
        text.extend_from_slice(line);
    }
    text
}

fn ui_dir() -> PathBuf {
    workspace_root().join("tests/ui")
}

fn ui_files() -> Vec<PathBuf> {
    gw_files(&ui_dir())
}

/// `e0201_unknown_claim` -> `error[E0201]`; `w0204_x` -> `warning[W0204]`.
fn expected_marker(name: &str) -> Option<String> {
    let code = name.get(..5)?.to_ascii_uppercase();
    let kind = match code.chars().next()? {
        'E' => "error",
        'W' => "warning",
        _ => return None,
    };
    code.get(1..)?
        .chars()
        .all(|c| c.is_ascii_digit())
        .then(|| format!("{kind}[{code}]"))
}

/// `# ui-plugins: a, b` on the first line.
fn plugins_directive(text: &str) -> Option<Vec<String>> {
    let rest = text.lines().next()?.strip_prefix("# ui-plugins:")?;
    Some(
        rest.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

/// Print every source as a path relative to the workspace root, whatever the working dir.
fn stable_names(parsed: &mut Parsed, root: &Path, fallback: &str) {
    for file in &mut parsed.sources.files {
        file.name = match file.path.strip_prefix(root) {
            Ok(rel) => rel.to_string_lossy().replace('\\', "/"),
            Err(_) if file.path.is_absolute() => fallback.to_string(),
            Err(_) => file.name.clone(),
        };
    }
}

fn options(path: &Path, plugins: Option<Vec<String>>) -> Options {
    Options {
        available_plugins: plugins,
        signatures: Vec::new(),
        env: Box::new(|k| {
            ENV.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_string())
        }),
        base_dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
    }
}

/// Parse and compile, render everything.
fn run_case(path: &Path, display: &str, plugins: Option<Vec<String>>) -> String {
    let root = workspace_root();
    let mut parsed = gw_syntax::parse_file(path);
    stable_names(&mut parsed, &root, display);
    let mut diags: Vec<Diagnostic> = parsed.diagnostics.clone();
    if !diags.iter().any(Diagnostic::is_error) {
        let compiled = gw_compiler::compile(&parsed, &options(path, plugins));
        diags.extend(compiled.diagnostics);
    }
    let rendered = gw_syntax::render_all(&diags, &parsed.sources);
    let mut prefix = root.to_string_lossy().into_owned();
    prefix.push('/');
    rendered.replace(&prefix, "")
}

/// Run one case, catching a panic so that one broken case does not hide the others.
fn run_guarded(path: &Path, display: &str, plugins: Option<Vec<String>>) -> Result<String, String> {
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_case(path, display, plugins)
    }));
    res.map_err(|e| {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_default();
        format!("PANIC: {msg}")
    })
}

/// Compare with (or, when blessing, write) `tests/ui/NAME.stderr`; a mismatch is returned.
fn check_golden(name: &str, actual: &str) -> Option<String> {
    let golden = ui_dir().join(format!("{name}.stderr"));
    if bless() {
        std::fs::write(&golden, actual).expect("write golden");
        return None;
    }
    match std::fs::read_to_string(&golden) {
        Ok(expected) if expected == actual => None,
        Ok(expected) => Some(format!(
            "{name}: output differs from tests/ui/{name}.stderr (- golden, + actual):\n{}",
            diff(&expected, actual)
        )),
        Err(_) => Some(format!(
            "{name}: no golden tests/ui/{name}.stderr (run with GW_BLESS=1); output:\n{actual}"
        )),
    }
}

#[test]
fn ui_goldens() {
    let mut failures = Vec::new();
    let mut outputs: Vec<(String, String)> = Vec::new();

    for path in ui_files() {
        let name = stem(&path);
        let text = std::fs::read(&path).expect("read ui file");
        let plugins = plugins_directive(&String::from_utf8_lossy(&text));
        let display = format!("tests/ui/{name}.gw");
        match run_guarded(&path, &display, plugins) {
            Ok(out) => outputs.push((name, out)),
            Err(panic) => failures.push(format!("{name}: {panic}")),
        }
    }

    let tmp = std::env::temp_dir().join(format!("gw-ui-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    for (name, generate) in GENERATED {
        let path = tmp.join(format!("{name}.gw"));
        std::fs::write(&path, generate()).expect("write generated case");
        let display = format!("tests/ui/{name}.gw");
        match run_guarded(&path, &display, None) {
            Ok(out) => outputs.push(((*name).to_string(), out.replace(&display_dir(&tmp), ""))),
            Err(panic) => failures.push(format!("{name}: {panic}")),
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);

    for (name, out) in &outputs {
        if let Some(marker) = expected_marker(name)
            && !out.contains(&marker)
        {
            failures.push(format!("{name}: output lacks `{marker}`:\n{out}"));
        }
        if let Some(f) = check_golden(name, out) {
            failures.push(f);
        }
    }

    for code in CODES {
        let seen = outputs.iter().any(|(_, out)| {
            out.contains(&format!("error[{code}]")) || out.contains(&format!("warning[{code}]"))
        });
        if !seen {
            failures.push(format!("{code}: no ui output shows this code"));
        }
    }

    assert!(
        failures.is_empty(),
        "{} ui failures:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// `dir/` as printed, for stripping a generated case's temp location.
fn display_dir(dir: &Path) -> String {
    format!("{}/", dir.to_string_lossy())
}

#[test]
fn every_code_has_a_ui_file() {
    let mut names: Vec<String> = ui_files().iter().map(|p| stem(p)).collect();
    names.extend(GENERATED.iter().map(|(n, _)| (*n).to_string()));
    let missing: Vec<&&str> = CODES
        .iter()
        .filter(|code| {
            !names
                .iter()
                .any(|n| n.to_ascii_uppercase().starts_with(**code))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a tests/ui file: {missing:?}"
    );
    for n in &names {
        assert!(
            expected_marker(n).is_some(),
            "{n}: ui file names start with a code (e0201_...)"
        );
    }
    assert!(names.len() >= 45, "only {} ui cases", names.len());
}

#[test]
fn no_orphan_goldens() {
    let mut cases: Vec<String> = ui_files().iter().map(|p| stem(p)).collect();
    cases.extend(GENERATED.iter().map(|(n, _)| (*n).to_string()));
    for entry in std::fs::read_dir(ui_dir()).expect("tests/ui exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "stderr") {
            let name = stem(&path);
            assert!(
                cases.contains(&name),
                "tests/ui/{name}.stderr has no {name}.gw"
            );
        }
    }
}

#[test]
fn harness_helpers() {
    assert_eq!(
        expected_marker("e0201_unknown_claim").as_deref(),
        Some("error[E0201]")
    );
    assert_eq!(
        expected_marker("w0204_unused").as_deref(),
        Some("warning[W0204]")
    );
    assert_eq!(expected_marker("readme"), None);
    assert_eq!(
        plugins_directive("# ui-plugins: jwt, cors\nlisten :80"),
        Some(vec!["jwt".to_string(), "cors".to_string()])
    );
    assert_eq!(plugins_directive("# E0801\n"), None);
    let d = diff("a\nb\nc\n", "a\nx\nc\n");
    assert_eq!(d, "  a\n- b\n+ x\n  c\n");
    assert!(too_large().len() > 16 * 1024 * 1024);
}
