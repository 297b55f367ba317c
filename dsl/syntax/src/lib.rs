//! gw-syntax: `.gw` text to a typed AST with spans, and rustc-style diagnostics.
//!
//! pest's parse tree never leaves this crate: [`parse_file`] returns an [`ast::Config`].
//!
//! Syntax diagnostics: E0101 unexpected token (with the expected set and did-you-mean, and
//! what to write instead of a URL as an address, a bare port or a single-quoted string),
//! E0102 unclosed block or string, E0103 bad literal, E0104 invalid UTF-8, E0105 file over
//! 16 MiB, E0106 nesting deeper than 64; E0402 for path segments the AST cannot express
//! (`v{id}`, `{a}{b}`); and for includes E0701 (missing file) and E0703 (cycle, depth > 16).

pub mod ast;
pub mod diag;
pub mod span;

mod expected;
mod format;
mod grammar;
mod habits;
mod load;
mod lower;
mod parse;
mod prescan;
mod render;
mod spanless;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use diag::{Diagnostic, Label, Severity};
pub use format::format_source;
pub use load::{MAX_FILE_SIZE, MAX_INCLUDE_DEPTH};
pub use lower::{MAX_EXPR_DEPTH, MAX_OPERATORS};
pub use parse::MAX_SYNTAX_ERRORS;
pub use prescan::MAX_DEPTH;
pub use render::{render, render_all};
pub use span::{FileId, SourceFile, SourceMap, Span};
pub use spanless::strip_spans;

/// A parsed configuration: every source file, the AST with `include`s expanded, and the
/// syntax diagnostics. A declaration with a syntax error is left out of `config`.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub sources: SourceMap,
    pub config: ast::Config,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads and parses `path`, expanding `include "x.gw"` relative to the including file.
pub fn parse_file(path: &Path) -> Parsed {
    let mut loader = load::Loader::new(true);
    let items = loader.root_file(path);
    Parsed {
        sources: loader.sources,
        config: ast::Config { items },
        diagnostics: loader.diags,
    }
}

/// Parses `text` as the file `name`; its includes resolve against the current directory.
pub fn parse_source(name: &str, text: &str) -> Parsed {
    parse_bytes(name, text.as_bytes())
}

/// Parses raw bytes as the file `name` (E0104 if they are not UTF-8); includes resolve
/// against the current directory.
pub fn parse_bytes(name: &str, bytes: &[u8]) -> Parsed {
    let mut loader = load::Loader::new(true);
    let items = loader.root_bytes(name, bytes);
    Parsed {
        sources: loader.sources,
        config: ast::Config { items },
        diagnostics: loader.diags,
    }
}

/// Parses without reading any file (includes are kept as items, not expanded).
pub(crate) fn parse_detached(name: &str, bytes: &[u8]) -> Parsed {
    let mut loader = load::Loader::new(false);
    let items = loader.root_bytes(name, bytes);
    Parsed {
        sources: loader.sources,
        config: ast::Config { items },
        diagnostics: loader.diags,
    }
}

/// Fuzzing entry point: parse, render and format arbitrary bytes. Never reads files (includes
/// are not expanded) and must never panic.
pub fn fuzz_parse(data: &[u8]) {
    let parsed = parse_detached("fuzz.gw", data);
    let _ = render_all(&parsed.diagnostics, &parsed.sources);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = format_source("fuzz.gw", text);
    }
}
