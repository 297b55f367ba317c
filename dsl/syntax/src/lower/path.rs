//! Route patterns: `/pets/{id}`, `/checkout/{rest+}`, `/`.

use super::{Lower, P};
use crate::ast::{Ident, PathPattern, Segment};
use crate::diag::Diagnostic;

impl Lower<'_> {
    /// Splits a pattern into segments. The AST has no shape for `v{id}` or `{a}{b}`, so those
    /// are reported here (E0402); every other pattern rule is the compiler's.
    pub(crate) fn route_pattern(&mut self, p: &P<'_>) -> PathPattern {
        let span = self.span(p);
        let text = p.as_str();
        let start = p.as_span().start();
        let mut segments = Vec::new();
        let body = text.get(1..).unwrap_or("");
        let trailing_slash = !body.is_empty() && body.ends_with('/');
        let body = if trailing_slash {
            body.get(..body.len() - 1).unwrap_or("")
        } else {
            body
        };
        if body.is_empty() && !trailing_slash {
            return PathPattern {
                segments,
                trailing_slash,
                span,
            };
        }
        let mut off = start + 1;
        for piece in body.split('/') {
            let seg_span = self.span_at(off, off + piece.len());
            segments.push(self.segment(piece, off, seg_span));
            off += piece.len() + 1;
        }
        PathPattern {
            segments,
            trailing_slash,
            span,
        }
    }

    fn segment(&mut self, piece: &str, off: usize, seg_span: crate::span::Span) -> Segment {
        let param = piece.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        match param {
            Some(inner) if !inner.contains(['{', '}']) => {
                let (name, greedy) = match inner.strip_suffix('+') {
                    Some(n) => (n, true),
                    None => (inner, false),
                };
                let ident = Ident {
                    name: name.to_string(),
                    span: self.span_at(off + 1, off + 1 + name.len()),
                };
                if greedy {
                    Segment::Greedy(ident)
                } else {
                    Segment::Param(ident)
                }
            }
            _ if piece.contains(['{', '}']) => {
                let d = Diagnostic::error(
                    "E0402",
                    seg_span,
                    format!("invalid path segment `{piece}`"),
                )
                .with_label("a segment is literal text or a single `{param}`")
                .with_note(
                    "there are no in-segment prefixes and no two parameters in one segment in v1",
                );
                self.error(d);
                Segment::Literal(piece.to_string(), seg_span)
            }
            _ => Segment::Literal(piece.to_string(), seg_span),
        }
    }
}
