//! Lowering pest's parse tree to the typed AST ([`crate::ast`]).
//!
//! One [`Lower`] lowers the declarations of one parsed slice of a file. Problems found while
//! lowering (bad literals, nesting) are collected as diagnostics; the driver drops a
//! declaration that produced any, so the [`crate::ast::Config`] only holds well-formed items.

mod decl;
mod expr;
mod lit;
mod path;
mod stmt;
mod string;
mod template;

use pest::iterators::Pair;

use crate::ast::Ident;
use crate::diag::Diagnostic;
use crate::grammar::Rule;
use crate::prescan::{Comment, to_u32};
use crate::span::{FileId, Span};

pub use expr::{MAX_EXPR_DEPTH, MAX_OPERATORS};

pub(crate) type P<'i> = Pair<'i, Rule>;

/// Lowers pairs of one parsed slice; spans are `base` + the pair's offsets in the slice.
pub(crate) struct Lower<'c> {
    pub file: FileId,
    pub base: usize,
    pub diags: Vec<Diagnostic>,
    /// The whole file and its comments, to trim spans.
    text: &'c str,
    comments: &'c [Comment],
    /// One E0106 per expression is enough.
    depth_reported: bool,
}

impl<'c> Lower<'c> {
    pub(crate) fn new(file: FileId, base: usize, text: &'c str, comments: &'c [Comment]) -> Self {
        Lower {
            file,
            base,
            diags: Vec::new(),
            text,
            comments,
            depth_reported: false,
        }
    }

    pub(crate) fn span(&self, p: &P<'_>) -> Span {
        let s = p.as_span();
        self.span_at(s.start(), s.end())
    }

    /// A span from offsets in the parsed slice. pest lets a rule that ends in an optional
    /// part swallow the spaces and comment before it, so the end is trimmed back over them.
    pub(crate) fn span_at(&self, start: usize, end: usize) -> Span {
        let start = self.base + start;
        let mut end = self.base + end;
        let bytes = self.text.as_bytes();
        while end > start {
            if matches!(bytes.get(end - 1), Some(b' ' | b'\t')) {
                end -= 1;
                continue;
            }
            match self.comments.binary_search_by_key(&end, |c| c.end) {
                Ok(i) => match self.comments.get(i) {
                    Some(c) if c.start >= start => end = c.start,
                    _ => break,
                },
                Err(_) => break,
            }
        }
        Span::new(self.file, to_u32(start), to_u32(end))
    }

    pub(crate) fn ident(&self, p: &P<'_>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(p),
        }
    }

    pub(crate) fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// The first child with `rule`, as an ident.
    pub(crate) fn child_ident(&self, p: &P<'_>, rule: Rule) -> Option<Ident> {
        p.clone()
            .into_inner()
            .find(|c| c.as_rule() == rule)
            .map(|c| self.ident(&c))
    }
}

/// The first child pair with `rule`.
pub(crate) fn child<'i>(p: &P<'i>, rule: Rule) -> Option<P<'i>> {
    p.clone().into_inner().find(|c| c.as_rule() == rule)
}

/// Every child pair with `rule`.
pub(crate) fn children<'i>(p: &P<'i>, rule: Rule) -> impl Iterator<Item = P<'i>> {
    p.clone().into_inner().filter(move |c| c.as_rule() == rule)
}
