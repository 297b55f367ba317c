//! The per-file driver: pre-scan, then one declaration at a time through pest, recovering at
//! the next line that starts a declaration so that one typo costs one declaration.

use pest::Parser as _;

use crate::ast::Item;
use crate::diag::Diagnostic;
use crate::expected::{DECL_KEYWORDS, error_offset, syntax_error};
use crate::grammar::{GwParser, Rule};
use crate::lower::Lower;
use crate::prescan::{self, Issue};
use crate::span::{FileId, Span};

/// Syntax errors reported per file before giving up on it.
pub const MAX_SYNTAX_ERRORS: usize = 100;

/// The declarations of one file (includes not expanded) and what went wrong.
#[derive(Debug, Default)]
pub(crate) struct FileSyntax {
    pub items: Vec<Item>,
    pub diags: Vec<Diagnostic>,
}

/// Parses one file's text; spans point into `file`.
pub(crate) fn parse_text(text: &str, file: FileId) -> FileSyntax {
    let scan = prescan::scan(text, file);
    let comments = scan.comments;
    let mut out = FileSyntax::default();
    if let Some(d) = scan.too_deep {
        out.diags.push(d);
        return out;
    }
    let mut issues: Vec<Option<Issue>> = scan.issues.into_iter().map(Some).collect();
    let mut pos = if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    let mut errors = 0;
    while let Some(rest) = text.get(pos..) {
        match GwParser::parse(Rule::next_decl, rest) {
            Ok(mut pairs) => {
                let Some(top) = pairs.next() else { break };
                let end = top.as_span().end();
                let mut done = false;
                for c in top.into_inner() {
                    match c.as_rule() {
                        Rule::end => done = true,
                        Rule::decl => {
                            lower_decl(&c, Lower::new(file, pos, text, &comments), &mut out)
                        }
                        _ => {}
                    }
                }
                if done || end == 0 {
                    break;
                }
                pos += end;
            }
            Err(e) => {
                let err_at = pos + error_offset(&e);
                let d = match take_issue(&mut issues, pos, err_at) {
                    Some(issue) => issue.diag,
                    None => syntax_error(&e, text, pos, file),
                };
                out.diags.push(d);
                errors += 1;
                if errors >= MAX_SYNTAX_ERRORS {
                    if let Some(last) = out.diags.last_mut() {
                        last.notes.push(format!(
                            "stopped after {MAX_SYNTAX_ERRORS} syntax errors in this file"
                        ));
                    }
                    break;
                }
                match resume_point(text, pos, err_at) {
                    Some(p) => pos = p,
                    None => break,
                }
            }
        }
    }
    out
}

fn lower_decl(decl: &crate::lower::P<'_>, mut lw: Lower<'_>, out: &mut FileSyntax) {
    let item = lw.decl(decl);
    if lw.diags.is_empty() {
        match item {
            Some(i) => out.items.push(i),
            None => {
                let span = lw.span(decl);
                out.diags.push(
                    Diagnostic::error("E0101", span, "could not read this declaration")
                        .with_label("here"),
                );
            }
        }
    }
    out.diags.extend(lw.diags);
}

/// The first pre-scan issue anchored inside `[start, err_at]`, which explains pest's failure
/// better than pest can (an unclosed `{` makes pest fail at the next declaration).
fn take_issue(issues: &mut [Option<Issue>], start: usize, err_at: usize) -> Option<Issue> {
    let slot = issues.iter_mut().find(|i| {
        i.as_ref()
            .is_some_and(|i| i.anchor >= start && i.anchor <= err_at)
    })?;
    slot.take()
}

fn line_start(text: &str, at: usize) -> usize {
    text.get(..at)
        .and_then(|s| s.rfind('\n'))
        .map_or(0, |p| p + 1)
}

/// Whether the line at `at` starts (column 0) with a declaration keyword.
fn starts_decl(text: &str, at: usize) -> bool {
    let rest = text.get(at..).unwrap_or("");
    DECL_KEYWORDS.iter().any(|kw| {
        rest.strip_prefix(kw).is_some_and(|after| {
            !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
    })
}

/// Where to resume after a failed declaration that started at `start` and failed at `err_at`:
/// the next line that starts with a declaration keyword, at or after the failing line.
fn resume_point(text: &str, start: usize, err_at: usize) -> Option<usize> {
    let err_line = line_start(text, err_at);
    let mut l = err_line;
    loop {
        let ok = l > start && (l > err_line || l == err_at) && starts_decl(text, l);
        if ok {
            return Some(l);
        }
        l += text.get(l..)?.find('\n')? + 1;
    }
}

/// A zero-width span at the start of a file, for file-level diagnostics.
pub(crate) fn file_start(file: FileId) -> Span {
    Span::new(file, 0, 0)
}
