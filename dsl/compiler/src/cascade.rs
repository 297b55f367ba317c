//! W0204 without cascades: a declaration named only by a statement that failed (a misspelt
//! name elsewhere in it, an unreachable target, a second `auth`) was still referenced, so
//! it must not be reported as unused on top of the real error.

use gw_syntax::Span;
use gw_syntax::ast::Stmt;

use crate::lower::Global;

/// Marks as used every declaration whose name appears in a statement an error points into.
pub(crate) fn mark_failed_references<'s>(g: &Global<'_>, stmts: impl Iterator<Item = &'s Stmt>) {
    let errors: Vec<Span> =
        g.cx.diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.span)
            .collect();
    if errors.is_empty() {
        return;
    }
    for stmt in stmts {
        if !errors.iter().any(|e| inside(*e, stmt.span)) {
            continue;
        }
        for word in words(g.cx.snippet(stmt.span)) {
            mark(g, word);
        }
    }
}

fn inside(inner: Span, outer: Span) -> bool {
    inner.file == outer.file && outer.start <= inner.start && inner.end <= outer.end
}

/// Identifier-like words of a statement's text (names may contain `-`).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| !w.is_empty())
}

fn mark(g: &Global<'_>, word: &str) {
    let s = &g.syms;
    let tables = [
        s.upstreams.find(word).map(|(_, n)| &n.used),
        s.jwts.find(word).map(|(_, n)| &n.used),
        s.api_keys.find(word).map(|(_, n)| &n.used),
        s.authorizers.find(word).map(|(_, n)| &n.used),
        s.plans.find(word).map(|(_, n)| &n.used),
        s.schemas.find(word).map(|(_, n)| &n.used),
        s.policies.find(word).map(|(_, n)| &n.used),
    ];
    for used in tables.into_iter().flatten() {
        used.set(true);
    }
    for v in s.vars.list.iter().filter(|v| v.name == word) {
        v.used.set(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_punctuation_but_keep_dashed_names() {
        let w: Vec<&str> = words("auth jwt admin-users; upstream(app_v2)").collect();
        assert_eq!(w, ["auth", "jwt", "admin-users", "upstream", "app_v2"]);
    }
}
