//! End-to-end compiler tests over `.gw` sources: one per diagnostic code (code and line:col),
//! the grammar/examples files, and the op sequences of small routes.

mod body;
mod codes_names;
mod codes_order;
mod examples;
mod habits;
mod lowering;

use std::path::PathBuf;
use std::sync::OnceLock;

use gw_program::{ConfigImage, Field, NO_REG, NONE, Op, Program, Value};
use gw_syntax::{Diagnostic, Severity};

use crate::{Compiled, Options, compile};

/// A directory with the files configs in these tests name.
fn fixtures() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join("gw-compiler-tests");
        let h = "ab".repeat(32);
        let files = [
            ("certs/a.pem", "-----BEGIN CERTIFICATE-----\n".to_string()),
            ("certs/a.key", "-----BEGIN PRIVATE KEY-----\n".to_string()),
            ("keys/partners.txt", format!("sha256:{h} id=acme plan=free\nsha256:{h} id=globex plan=pro\n")),
            ("keys/gold.txt", format!("sha256:{h} id=acme plan=gold\n")),
            ("keys/plain.txt", format!("sha256:{h} id=acme\n")),
            ("keys/jwks.json", r#"{"keys":[]}"#.to_string()),
            (
                "schemas/pet.json",
                r#"{"type":"object","required":["name"],"properties":{"name":{"type":"string","maxLength":64},"bio":{"type":"string"},"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"}},"owner":{"type":"object","properties":{"id":{"type":"string"}}}}}"#.to_string(),
            ),
            ("schemas/bad.json", "{ not json".to_string()),
            ("deny.txt", "10.0.0.0/8\n192.168.1.1 # one host\n".to_string()),
        ];
        for (p, text) in files {
            let path = dir.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    })
    .clone()
}

fn opts() -> Options {
    Options {
        available_plugins: None,
        signatures: Vec::new(),
        env: Box::new(|k| (k == "REGION").then(|| "eu-central-1".to_string())),
        base_dir: fixtures(),
    }
}

fn run_with(text: &str, o: &Options) -> (Compiled, gw_syntax::Parsed) {
    let parsed = gw_syntax::parse_source("t.gw", text);
    let syntax: Vec<&Diagnostic> = parsed.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(
        syntax.is_empty(),
        "syntax errors:\n{}",
        gw_syntax::render_all(&parsed.diagnostics, &parsed.sources)
    );
    (compile(&parsed, o), parsed)
}

fn run(text: &str) -> (Compiled, gw_syntax::Parsed) {
    run_with(text, &opts())
}

fn rendered(c: &Compiled, p: &gw_syntax::Parsed) -> String {
    gw_syntax::render_all(&c.diagnostics, &p.sources)
}

/// The one diagnostic with `code`, asserted at `line:col`.
fn diag(text: &str, code: &str, line: u32, col: u32) -> Diagnostic {
    let (c, p) = run(text);
    let all = rendered(&c, &p);
    let found: Vec<&Diagnostic> = c.diagnostics.iter().filter(|d| d.code == code).collect();
    assert!(!found.is_empty(), "no {code} in:\n{all}");
    let hit = found.iter().find(|d| {
        let (_, l, col_) = p.sources.locate(d.span);
        (l, col_) == (line, col)
    });
    let Some(d) = hit else {
        let at: Vec<_> = found.iter().map(|d| p.sources.locate(d.span)).collect();
        panic!("{code} expected at {line}:{col}, found at {at:?}:\n{all}");
    };
    if code.starts_with('E') {
        assert!(c.image.is_none(), "an error must withhold the image");
    }
    (*d).clone()
}

fn image(text: &str) -> ConfigImage {
    let (c, p) = run(text);
    let errs: Vec<_> = c
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert!(errs.is_empty(), "unexpected errors:\n{}", rendered(&c, &p));
    c.image.expect("image")
}

fn request<'i>(img: &'i ConfigImage, name: &str) -> &'i Program {
    &img.routes
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no route {name}"))
        .request
}

fn src(lines: &[&str]) -> String {
    lines.join("\n") + "\n"
}

const HEAD: [&str; 2] = ["listen :8080", "upstream app { server 127.0.0.1:9000 }"];

/// `HEAD` followed by `lines` (so `lines[0]` is line 3).
fn with_head(lines: &[&str]) -> String {
    let mut all: Vec<&str> = HEAD.to_vec();
    all.extend_from_slice(lines);
    src(&all)
}

const JWT: &str = "jwt users { issuer \"https://a.example/\"; jwks \"https://a.example/jwks.json\"; claims { email: string; email_verified: bool; tenant: string } }";

#[test]
fn compiled_uses_are_checked_against_the_serving_plugins_signatures() {
    use gw_plugin::{ArgSpec, ArgType, Signature};
    let text = "listen :8080\nupstream app { server 127.0.0.1:9000 }\n\
route GET /t {\n  throttle 10/s burst 5 by client.ip\n  upstream app\n}\n";
    let fits = Signature {
        name: "throttle",
        mnemonic: "throttle",
        args: &[],
    };
    let mut o = opts();
    // a signature that declares nothing: every compiled argument is a disagreement
    o.signatures = vec![fits.clone()];
    let (c, _) = run_with(text, &o);
    let d: Vec<_> = c.diagnostics.iter().filter(|d| d.code == "E0999").collect();
    assert_eq!(d.len(), 1, "{:?}", c.diagnostics);
    assert!(
        d[0].message.contains("policy `throttle` disagree"),
        "{}",
        d[0].message
    );
    static ARGS: [ArgSpec; 3] = [
        ArgSpec {
            name: "rate",
            ty: ArgType::Rate,
            required: true,
        },
        ArgSpec {
            name: "burst",
            ty: ArgType::Int,
            required: true,
        },
        ArgSpec {
            name: "key",
            ty: ArgType::Str,
            required: true,
        },
    ];
    o.signatures = vec![Signature {
        args: &ARGS,
        ..fits
    }];
    let (c, _) = run_with(text, &o);
    assert!(c.image.is_some(), "{:?}", c.diagnostics);
}
