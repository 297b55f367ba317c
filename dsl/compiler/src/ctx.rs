//! The compilation context: sources, options and the diagnostics collected so far.

use std::path::{Path, PathBuf};

use gw_syntax::ast::Lit;
use gw_syntax::{Diagnostic, SourceMap, Span};

use crate::Options;

/// Where the statement being compiled came from, when it was not written in the route.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Origin {
    /// `policy signed_in` or `defaults`.
    pub what: String,
    /// The `use` statement (or the route header for defaults).
    pub at: Span,
}

pub(crate) struct Ctx<'a> {
    pub sources: &'a SourceMap,
    pub opts: &'a Options,
    pub diags: Vec<Diagnostic>,
    /// Set while compiling statements expanded from a policy or `defaults`.
    pub origin: Option<Origin>,
    seen: ahash::AHashSet<(&'static str, Span, String)>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(sources: &'a SourceMap, opts: &'a Options) -> Self {
        Ctx {
            sources,
            opts,
            diags: Vec::new(),
            origin: None,
            seen: ahash::AHashSet::new(),
        }
    }

    /// Records a diagnostic, noting the policy expansion it happened in. The same error at the
    /// same place (a policy used by several routes) is reported once.
    pub(crate) fn emit(&mut self, mut d: Diagnostic) {
        if let Some(o) = &self.origin {
            let (_, line, _) = self.sources.locate(o.at);
            d.notes.push(format!("in {}, used at line {line}", o.what));
        }
        if self.seen.insert((d.code, d.span, d.message.clone())) {
            self.diags.push(d);
        }
    }

    /// 1-based line and column.
    pub(crate) fn line_col(&self, span: Span) -> (u32, u32) {
        let (_, l, c) = self.sources.locate(span);
        (l, c)
    }

    pub(crate) fn file_name(&self, span: Span) -> String {
        self.sources
            .get(span.file)
            .map(|f| f.name.clone())
            .unwrap_or_default()
    }

    /// `file:line:col` for plugin spec origins.
    pub(crate) fn origin_text(&self, span: Span) -> String {
        let (f, l, c) = self.sources.locate(span);
        format!("{f}:{l}:{c}")
    }

    pub(crate) fn snippet(&self, span: Span) -> &'a str {
        self.sources.snippet(span)
    }

    /// Resolves a file named in the config relative to the directory of the file that names
    /// it; a source without a directory (parse_source) uses `Options::base_dir`.
    pub(crate) fn resolve_path(&self, span: Span, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        let dir = self.sources.base_dir(span.file);
        let has_dir = self
            .sources
            .get(span.file)
            .and_then(|f| f.path.parent())
            .is_some_and(|d| !d.as_os_str().is_empty());
        if has_dir {
            dir.join(p)
        } else {
            self.opts.base_dir.join(p)
        }
    }

    /// The source text of a literal ends in `m` (the lexer's minutes).
    pub(crate) fn lit_ends_in_m(&self, lit: &Lit) -> bool {
        self.snippet(lit.span).trim_end().ends_with('m')
    }
}

/// `1234567` -> `1 234 567`, the figure style of diagnostics and `gw disasm`.
pub(crate) fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_digits_in_threes() {
        assert_eq!(group_digits(183_000), "183 000");
        assert_eq!(group_digits(100_000), "100 000");
        assert_eq!(group_digits(1_284), "1 284");
        assert_eq!(group_digits(96), "96");
        assert_eq!(group_digits(1_234_567), "1 234 567");
    }
}
