//! The official JSON-Schema-Test-Suite through a running gw: for drafts 4, 7 and 2020-12, one
//! gw per draft with one route per test group (`validate body` of that group's schema, then
//! `respond 200`), and each case's data sent as a POST body on a keep-alive connection:
//! 200 for a valid case, 400 for an invalid one.
//!
//! The suite is read at test time from `shared/conformance/json-schema-test-suite`, found by
//! walking up from the workspace (never copied here). `gw check` says which groups' schemas
//! gw refuses; each must be one that names a document at `http://localhost:1234/…` (gw never
//! fetches a schema over the network, so such a schema is refused when the config loads).
//! Their cases count as failures in the pass rate and are listed apart. Any other failure
//! must be in [`KNOWN`], with why.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::support::gw::{TempDir, gw_bin};
use crate::support::*;

/// Cases gw answers wrongly end to end, by `draft/file: group / case`, with why.
const KNOWN: &[(&str, &str)] = &[];

/// What the pass rate of each draft must reach, in per cent.
const FLOOR: f64 = 95.0;

fn suite() -> PathBuf {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        let c = dir.join("shared/conformance/json-schema-test-suite");
        if c.is_dir() {
            return c;
        }
        assert!(
            dir.pop(),
            "shared/conformance/json-schema-test-suite not found above {}",
            env!("CARGO_MANIFEST_DIR")
        );
    }
}

/// One case: its route, its data as JSON text, whether it is valid, and its name.
struct Case {
    route: usize,
    body: String,
    valid: bool,
    name: String,
}

/// A draft's served groups as a config, its cases, and the cases of the groups gw refuses.
struct Draft {
    config: String,
    cases: Vec<Case>,
    refused: Vec<String>,
}

/// One test group: its schema file and its cases.
struct Group {
    name: String,
    file: PathBuf,
    remote: bool,
    cases: Vec<Case>,
}

fn config_of(groups: &[Group], keep: impl Fn(usize) -> bool) -> String {
    let mut config = String::from("limits { body 1MiB }\n");
    for (i, g) in groups.iter().enumerate().filter(|(i, _)| keep(*i)) {
        let _ = write!(
            config,
            "schema S{i} = file \"{}\"\nroute POST /g{i} {{\n  validate body S{i}\n  respond 200\n}}\n",
            g.file.display()
        );
    }
    config
}

/// The groups `gw check` refuses in `config`, by the number in their schema's name.
fn refused_by_gw(config: &str, dir: &Path) -> Vec<usize> {
    let file = dir.join("check.gw");
    let port = crate::support::upstream::free_port();
    fs::write(&file, format!("listen 127.0.0.1:{port}\n{config}")).unwrap();
    let out = std::process::Command::new(gw_bin())
        .arg("check")
        .arg(&file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("error"))
        .filter_map(|l| {
            let rest = l.split("schema `S").nth(1)?;
            rest.split('`').next()?.parse().ok()
        })
        .collect()
}

/// The config and cases of `dir` (`draft4`...), schema files written to `schemas`: every
/// group gw loads gets a route; a group gw refuses must be one that needs a remote `$ref`.
fn draft(root: &Path, dir: &str, uri: &str, schemas: &Path) -> Draft {
    let mut files: Vec<PathBuf> = fs::read_dir(root.join("tests").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut groups = Vec::new();
    for f in files {
        let fname = f.file_name().unwrap().to_string_lossy().to_string();
        let parsed: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&f).unwrap()).unwrap();
        for g in parsed.as_array().unwrap() {
            let mut schema = g["schema"].clone();
            if let Some(o) = schema.as_object_mut() {
                o.entry("$schema").or_insert(uri.into());
            }
            let text = schema.to_string();
            let route = groups.len();
            let name = format!("{dir}/{fname}: {}", g["description"].as_str().unwrap());
            let file = schemas.join(format!("{dir}-{route}.json"));
            fs::write(&file, &text).unwrap();
            let cases = g["tests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| Case {
                    route,
                    body: t["data"].to_string(),
                    valid: t["valid"].as_bool().unwrap(),
                    name: format!("{name} / {}", t["description"]),
                })
                .collect();
            groups.push(Group {
                name,
                file,
                remote: text.contains("localhost:1234"),
                cases,
            });
        }
    }
    let refused = refused_by_gw(&config_of(&groups, |_| true), schemas);
    for i in &refused {
        let g = &groups[*i];
        assert!(
            g.remote,
            "gw refuses the schema of {}, which needs no remote $ref",
            g.name
        );
    }
    let config = config_of(&groups, |i| !refused.contains(&i));
    let mut d = Draft {
        config,
        cases: Vec::new(),
        refused: Vec::new(),
    };
    for (i, g) in groups.into_iter().enumerate() {
        if refused.contains(&i) {
            d.refused.extend(g.cases.into_iter().map(|c| c.name));
        } else {
            d.cases.extend(g.cases);
        }
    }
    d
}

/// Every case of `d` through one gw on one keep-alive connection; the names of those
/// answered wrongly.
fn run(d: &Draft) -> Vec<String> {
    let gw = Gw::start(Driver::Uring, &d.config);
    let mut c = gw.connect();
    let mut wrong = Vec::new();
    for case in &d.cases {
        let r = c.request(
            "POST",
            &format!("/g{}", case.route),
            &[("content-type", "application/json")],
            case.body.as_bytes(),
        );
        let want = if case.valid { 200 } else { 400 };
        if r.status != want {
            wrong.push(format!(
                "{} (answered {}, body {})",
                case.name, r.status, case.body
            ));
        }
        if r.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            c = gw.connect();
        }
    }
    wrong
}

#[test]
fn json_schema_test_suite_through_gw() {
    let root = suite();
    let schemas = TempDir::new();
    let drafts = [
        ("draft4", "http://json-schema.org/draft-04/schema#"),
        ("draft7", "http://json-schema.org/draft-07/schema#"),
        (
            "draft2020-12",
            "https://json-schema.org/draft/2020-12/schema",
        ),
    ];
    let built: Vec<(&str, Draft)> = drafts
        .iter()
        .map(|(dir, uri)| (*dir, draft(&root, dir, uri, schemas.path())))
        .collect();
    // one gw per draft, the three at once
    let results: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = built.iter().map(|(_, d)| s.spawn(|| run(d))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut report = String::new();
    let mut unexpected = Vec::new();
    let mut low = Vec::new();
    for ((dir, d), wrong) in built.iter().zip(&results) {
        let total = d.cases.len() + d.refused.len();
        let pass = d.cases.len() - wrong.len();
        let rate = 100.0 * pass as f64 / total as f64;
        let _ = writeln!(
            report,
            "{dir}: {pass}/{total} pass ({rate:.1}%) through gw; {} refused (remote $ref), {} answered wrongly",
            d.refused.len(),
            wrong.len()
        );
        let mut groups: Vec<&str> = d
            .refused
            .iter()
            .filter_map(|c| c.split(" / ").next())
            .collect();
        groups.dedup();
        for g in groups {
            let _ = writeln!(report, "  refused (remote $ref): {g}");
        }
        for w in wrong {
            let _ = writeln!(report, "  wrong: {w}");
            if !KNOWN.iter().any(|(k, _)| w.starts_with(k)) {
                unexpected.push(w.clone());
            }
        }
        if rate < FLOOR {
            low.push(format!("{dir}: {rate:.1}% < {FLOOR}%"));
        }
    }
    println!("{report}");
    assert!(low.is_empty(), "{report}\npass rate too low: {low:?}");
    assert!(
        unexpected.is_empty(),
        "{report}\nfailures outside KNOWN:\n{}",
        unexpected.join("\n")
    );
}
