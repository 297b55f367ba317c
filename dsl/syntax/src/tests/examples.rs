//! Every example in grammar/examples parses with no diagnostics, formats idempotently, and
//! its formatted text parses to the same tree.

use std::path::PathBuf;

use crate::ast::{Config, ItemKind, Method, StmtKind};
use crate::*;

pub(crate) fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../grammar/examples")
}

/// (file name, text) of every `grammar/examples/*.gw`.
pub(crate) fn example_texts() -> Vec<(String, String)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("grammar/examples")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "gw"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, std::fs::read_to_string(&p).expect("example text"))
        })
        .collect()
}

fn spanless(mut c: Config) -> Config {
    strip_spans(&mut c);
    c
}

#[test]
fn the_language_examples_are_present() {
    let names: Vec<String> = example_texts().into_iter().map(|(n, _)| n).collect();
    for required in ["petstore.gw", "checkout.gw", "chat.gw"] {
        assert!(
            names.iter().any(|n| n == required),
            "{required} missing from {names:?}"
        );
    }
}

#[test]
fn every_example_parses_without_diagnostics() {
    for (name, _) in example_texts() {
        let parsed = parse_file(&examples_dir().join(&name));
        let out = render_all(&parsed.diagnostics, &parsed.sources);
        assert!(parsed.diagnostics.is_empty(), "{name}:\n{out}");
        assert!(!parsed.config.items.is_empty(), "{name}: no items");
    }
}

#[test]
fn every_example_formats_idempotently_to_the_same_tree() {
    for (name, text) in example_texts() {
        let once = format_source(&name, &text).unwrap_or_else(|d| panic!("{name}: {d:?}"));
        let twice = format_source(&name, &once)
            .unwrap_or_else(|d| panic!("{name} (formatted): {d:?}\n{once}"));
        assert_eq!(once, twice, "{name}: formatting is not idempotent");
        let before = spanless(parse_source(&name, &text).config);
        let after = spanless(parse_source(&name, &once).config);
        assert_eq!(before, after, "{name}: formatting changed the tree\n{once}");
        let comments = |t: &str| t.lines().filter(|l| l.contains('#')).count();
        assert_eq!(
            comments(&text),
            comments(&once),
            "{name}: comments lost\n{once}"
        );
    }
}

#[test]
fn petstore_has_the_expected_shape() {
    let p = parse_file(&examples_dir().join("petstore.gw"));
    let kinds: Vec<&str> = p
        .config
        .items
        .iter()
        .map(|i| match &i.kind {
            ItemKind::Listen { .. } => "listen",
            ItemKind::Admin(_) => "admin",
            ItemKind::Vars(_) => "vars",
            ItemKind::Upstream { .. } => "upstream",
            ItemKind::Jwt { .. } => "jwt",
            ItemKind::ApiKeys { .. } => "api_keys",
            ItemKind::Plan { .. } => "plan",
            ItemKind::Schema { .. } => "schema",
            ItemKind::Cors(_) => "cors",
            ItemKind::Policy { .. } => "policy",
            ItemKind::Route(_) => "route",
            ItemKind::OnError { .. } => "on error",
            _ => "other",
        })
        .collect();
    let expected = [
        "listen", "admin", "vars", "upstream", "jwt", "api_keys", "plan", "plan", "schema", "cors",
        "policy", "route", "route", "route", "route", "route", "on error",
    ];
    assert_eq!(kinds, expected);
    let routes: Vec<(Method, String, usize)> = p
        .config
        .items
        .iter()
        .filter_map(|i| match &i.kind {
            ItemKind::Route(r) => Some((
                r.method,
                p.sources.snippet(r.pattern.span).to_string(),
                r.body.len(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        routes,
        vec![
            (Method::Get, "/pets".into(), 5),
            (Method::Get, "/pets/{id}".into(), 4),
            (Method::Post, "/pets".into(), 9),
            (Method::Delete, "/pets/{id}".into(), 3),
            (Method::Get, "/health".into(), 1),
        ]
    );
    // The POST route ends with its response program.
    let post = p.config.items.iter().find_map(|i| match &i.kind {
        ItemKind::Route(r) if r.method == Method::Post => Some(r),
        _ => None,
    });
    let last = post.and_then(|r| r.body.last()).map(|s| &s.kind);
    assert!(matches!(last, Some(StmtKind::OnResponse(b)) if b.len() == 1 && b[0].guard.is_some()));
}
