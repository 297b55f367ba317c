//! `gw trace` on the examples of grammar/examples: one request per route (and a few more for
//! preflights, denials and missing routes), run through the real `gw` binary, its output
//! equal to `tests/golden/trace/NAME.txt`.
//!
//! `GW_BLESS=1 cargo test -p gw-tests --test trace` (re)writes the goldens. gw runs in
//! grammar/examples with the file named relatively, so the output does not depend on where
//! the work tree lives; the clock is pinned (`GW_TRACE_NOW_MS`) and ids gw makes at random
//! (`uuid()`) print as `<uuid>`.

// Test harness code fails loudly by design.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

mod common;
use common::{bless, diff, gw_files, stem, workspace_root};

/// Claims of a verified `petstore.gw` user allowed to write pets.
const WRITER: &str = r#"{"iss":"https://auth.example.com/","aud":"petstore","sub":"u-42","email_verified":true,"tenant":"acme","scope":"pets:write"}"#;
/// The same user without the admin scope.
const READER: &str = r#"{"iss":"https://auth.example.com/","aud":"petstore","sub":"u-7","email_verified":true,"scope":"pets:read"}"#;
const SHOPPER: &str = r#"{"iss":"https://auth.shop.example/","sub":"s-1"}"#;
const NEW_PET: &str = r#"{"name":"Rex","species":"dog","age_months":30}"#;

/// A request: its line (`METHOD /path`) and the options after it.
type Request = (&'static str, &'static [&'static str]);

/// Each example's requests.
const CASES: &[(&str, &[Request])] = &[
    (
        "petstore",
        &[
            ("GET /pets?limit=5", &["-H", "x-api-key: k-1"]),
            ("GET /pets?limit=500", &["-H", "x-api-key: k-1"]),
            (
                "GET /pets/0b7e1f6c-3d0a-4c1e-9a53-5d1c2f8e9a10",
                &["--claims", WRITER],
            ),
            (
                "POST /pets",
                &[
                    "--claims",
                    WRITER,
                    "--body",
                    NEW_PET,
                    "-H",
                    "authorization: Bearer t",
                    "-H",
                    "origin: https://app.example.com",
                ],
            ),
            (
                "POST /pets",
                &["--claims", WRITER, "--body", r#"{"name":7}"#],
            ),
            ("DELETE /pets/p-1", &["--claims", READER]),
            ("DELETE /pets/p-1", &[]),
            (
                "OPTIONS /pets",
                &[
                    "-H",
                    "origin: https://shop.example.com",
                    "-H",
                    "access-control-request-method: POST",
                ],
            ),
            ("GET /health", &[]),
            ("PUT /health", &[]),
        ],
    ),
    (
        "checkout",
        &[
            ("GET /checkout/cart/1?x=1", &["--claims", SHOPPER]),
            (
                "POST /checkout/archive/2",
                &["--claims", SHOPPER, "-H", "x-canary: always"],
            ),
            ("GET /checkout/health", &[]),
        ],
    ),
    (
        "chat",
        &[(
            "GET /chat?room=lobby",
            &[
                "-H",
                "upgrade: websocket",
                "-H",
                "connection: upgrade",
                "-H",
                "origin: https://chat.example.com",
            ],
        )],
    ),
    (
        "quickstart",
        &[
            ("GET /hello", &[]),
            ("GET /api/users/7?q=a%20b", &["-H", "cookie: s=1"]),
            ("POST /api", &["--body", "{}"]),
            ("GET /health", &[]),
        ],
    ),
    (
        "legacy",
        &[
            ("GET /a/b?c=d", &["--host", "shop.example.com"]),
            ("POST /", &[]),
            ("GET /gateway/status", &[]),
        ],
    ),
    (
        "limits",
        &[
            ("GET /api/v1/items", &[]),
            ("DELETE /api", &[]),
            ("GET /reports/r-9", &[]),
            ("POST /uploads", &["--body", r#"{"file":"a.txt"}"#]),
        ],
    ),
    (
        "mock",
        &[
            ("GET /users", &[]),
            ("GET /users/u1", &[]),
            ("POST /users", &["--body", r#"{"name":"Ann"}"#]),
            ("DELETE /users/u1", &[]),
            ("GET /version", &[]),
            ("GET /robots.txt", &[]),
            ("GET /nowhere", &[]),
        ],
    ),
];

/// Unix ms the traces run at.
const NOW_MS: &str = "1800000000000";

fn examples_dir() -> PathBuf {
    workspace_root().join("grammar/examples")
}

fn golden_dir() -> PathBuf {
    workspace_root().join("tests/golden/trace")
}

/// The gw binary next to this test's target dir, built first (as tests/tests/e2e/support/gw.rs
/// does; `GW_BIN` names another one).
fn gw_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("GW_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("current exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "-p", "gw"])
            .current_dir(workspace_root());
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if let Some(target_dir) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target_dir);
        }
        assert!(cmd.status().expect("cargo build -p gw").success());
        profile_dir.join("gw")
    })
}

/// `gw trace NAME.gw LINE OPTIONS...`: exit status and stdout.
fn trace(name: &str, line: &str, opts: &[&str]) -> (i32, String) {
    let out = Command::new(gw_bin())
        .arg("trace")
        .arg(format!("{name}.gw"))
        .arg(line)
        .args(opts)
        .current_dir(examples_dir())
        .env("GW_TRACE_NOW_MS", NOW_MS)
        .env("REGION", "eu-west-1")
        .output()
        .expect("run gw trace");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    (out.status.code().unwrap_or(-1), mask_uuids(&stdout))
}

/// Every UUID-shaped word but the trace's fixed request id and the ids the cases send as
/// `<uuid>`.
fn mask_uuids(s: &str) -> String {
    const FIXED: [&str; 2] = [
        "00000000-0000-4000-8000-000000000000",
        "0b7e1f6c-3d0a-4c1e-9a53-5d1c2f8e9a10",
    ];
    let shape = |w: &[u8]| {
        w.len() == 36
            && w.iter().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => b.is_ascii_hexdigit(),
            })
    };
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let w = &bytes[i..(i + 36).min(bytes.len())];
        let boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if boundary && shape(w) && !FIXED.iter().any(|f| w == f.as_bytes()) {
            out.push_str("<uuid>");
            i += 36;
        } else {
            let c = s[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn golden_text(name: &str, requests: &[Request]) -> String {
    let mut text = String::new();
    for (line, opts) in requests {
        let (code, out) = trace(name, line, opts);
        let shown: Vec<String> = opts
            .iter()
            .map(|o| {
                if o.starts_with('-') {
                    (*o).to_string()
                } else {
                    format!("'{o}'")
                }
            })
            .collect();
        let cmd = format!("$ gw trace {name}.gw '{line}' {}", shown.join(" "));
        text.push_str(cmd.trim_end());
        text.push('\n');
        text.push_str(&out);
        text.push_str(&format!("(exit {code})\n\n"));
    }
    text
}

#[test]
fn every_example_route_traces_as_pinned() {
    let names: Vec<String> = gw_files(&examples_dir()).iter().map(|p| stem(p)).collect();
    let mut failures = Vec::new();
    for name in &names {
        if !CASES.iter().any(|(n, _)| n == name) {
            failures.push(format!("{name}.gw has no trace cases"));
        }
    }
    if bless() {
        std::fs::create_dir_all(golden_dir()).expect("create tests/golden/trace");
    }
    for (name, requests) in CASES {
        let text = golden_text(name, requests);
        let golden = golden_dir().join(format!("{name}.txt"));
        if bless() {
            std::fs::write(&golden, &text).expect("write trace golden");
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(expected) if expected == text => {}
            Ok(expected) => failures.push(format!(
                "{name}: trace differs from tests/golden/trace/{name}.txt (- golden, + actual):\n{}",
                diff(&expected, &text)
            )),
            Err(_) => failures.push(format!(
                "{name}: no tests/golden/trace/{name}.txt (run with GW_BLESS=1)"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Each route of each example is reached by at least one case: a route added to an example
/// needs a trace.
#[test]
fn every_route_has_a_case() {
    for (name, requests) in CASES {
        let (code, disasm) = {
            let out = Command::new(gw_bin())
                .args(["disasm", &format!("{name}.gw")])
                .current_dir(examples_dir())
                .env("REGION", "eu-west-1")
                .output()
                .expect("run gw disasm");
            (
                out.status.code(),
                String::from_utf8(out.stdout).expect("utf-8"),
            )
        };
        assert_eq!(code, Some(0), "{name}: gw disasm failed");
        let traced: Vec<String> = requests
            .iter()
            .filter_map(|(line, opts)| {
                let (_, out) = trace(name, line, opts);
                out.lines()
                    .find_map(|l| l.strip_prefix("route ").map(str::to_owned))
            })
            .collect();
        for l in disasm.lines() {
            let Some(rest) = l.strip_prefix("route ") else {
                continue;
            };
            let Some((route, _)) = rest.split_once("   ") else {
                continue;
            };
            assert!(
                traced.iter().any(|t| t == route),
                "{name}: route {route} has no trace case"
            );
        }
    }
}

#[test]
fn bad_command_lines_are_usage_errors() {
    let run = |args: &[&str]| {
        Command::new(gw_bin())
            .arg("trace")
            .args(args)
            .current_dir(examples_dir())
            .output()
            .expect("run gw trace")
    };
    let out = run(&["mock.gw"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing 'METHOD /path'"));
    let out = run(&["mock.gw", "GET users"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["mock.gw", "GET /users", "-H", "no-colon"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["mock.gw", "GET /users", "--claims", "{not json"]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["missing.gw", "GET /users"]);
    assert_eq!(out.status.code(), Some(1));
}
