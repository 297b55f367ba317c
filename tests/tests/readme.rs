//! The README's `.gw` snippets are real: each compiles without errors and is already in the
//! canonical form `gw fmt` prints.

// Test harness code fails loudly by design.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::path::Path;

fn snippets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        match (&mut cur, line.trim_end()) {
            (None, "```gw") => cur = Some(String::new()),
            (Some(_), "```") => out.extend(cur.take()),
            (Some(s), l) => {
                s.push_str(l);
                s.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

#[test]
fn readme_snippets_compile_and_are_formatted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let snippets = snippets(&readme);
    assert!(!snippets.is_empty(), "README.md has no ```gw snippet");
    for (i, src) in snippets.iter().enumerate() {
        let name = format!("README.md snippet {i}");
        let parsed = gw_syntax::parse_source(&name, src);
        let compiled = gw_compiler::compile(&parsed, &gw_compiler::Options::default());
        let mut diags = parsed.diagnostics.clone();
        diags.extend(compiled.diagnostics.iter().cloned());
        assert!(
            diags.is_empty(),
            "{name}:\n{}",
            gw_syntax::render_all(&diags, &parsed.sources)
        );
        assert!(compiled.image.is_some());
        let formatted = gw_syntax::format_source(&name, src).unwrap();
        assert_eq!(&formatted, src, "{name} is not in `gw fmt` form");
    }
}
