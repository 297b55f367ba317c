//! Helpers for the construct tests: parse snippets, and print expressions as S-expressions so
//! that precedence is visible in one assertion.

use crate::ast::{Config, Expr, ExprKind, ItemKind, LitValue, Stmt, StrPart, UnOp};
use crate::*;

/// Parses `src`, failing the test on any diagnostic.
pub(crate) fn parse_ok(src: &str) -> Config {
    let p = parse_source("t.gw", src);
    assert!(
        p.diagnostics.is_empty(),
        "{}",
        render_all(&p.diagnostics, &p.sources)
    );
    p.config
}

/// The statements of `route GET /x { BODY }`.
pub(crate) fn stmts(body: &str) -> Vec<Stmt> {
    let config = parse_ok(&format!("route GET /x {{\n{body}\n}}\n"));
    match config.items.into_iter().next().map(|i| i.kind) {
        Some(ItemKind::Route(r)) => r.body,
        other => panic!("not a route: {other:?}"),
    }
}

pub(crate) fn stmt(body: &str) -> Stmt {
    let mut all = stmts(body);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

/// The expression `src`, parsed as the value of a variable.
pub(crate) fn expr_of(src: &str) -> Expr {
    let config = parse_ok(&format!("vars {{ x = {src} }}"));
    match config.items.into_iter().next().map(|i| i.kind) {
        Some(ItemKind::Vars(mut v)) if v.len() == 1 => v.remove(0).value,
        other => panic!("not one var: {other:?}"),
    }
}

/// `(op a b)`, `(! a)`, `(?: c a b)`, `a.b`, `a[i]`, `f(x y)`, `[a b]`, literals by value.
pub(crate) fn sexp(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Lit(l) => match &l.value {
            LitValue::Int(i) => i.to_string(),
            LitValue::Bool(b) => b.to_string(),
            LitValue::Duration(ms) => format!("{ms}ms"),
            LitValue::Size(b) => format!("{b}B"),
            LitValue::Rate { count, per_ms } => format!("{count}/{per_ms}ms"),
            LitValue::Percent(bp) => format!("{bp}bp"),
            LitValue::Ip(ip) => ip.to_string(),
            LitValue::Cidr(ip, n) => format!("{ip}/{n}"),
        },
        ExprKind::Str(s) => {
            let mut out = String::from(if s.raw { "r'" } else { "'" });
            for p in &s.parts {
                match p {
                    StrPart::Text(t) => out.push_str(t),
                    StrPart::Interp(x) => out.push_str(&format!("{{{}}}", sexp(x))),
                }
            }
            out.push('\'');
            out
        }
        ExprKind::Name(i) => i.name.clone(),
        ExprKind::Member(b, n) => format!("{}.{}", sexp(b), n.name),
        ExprKind::Index(b, i) => format!("{}[{}]", sexp(b), sexp(i)),
        ExprKind::Call { func, args } => {
            format!(
                "{}({})",
                func.name,
                args.iter().map(sexp).collect::<Vec<_>>().join(" ")
            )
        }
        ExprKind::Unary(op, x) => format!(
            "({} {})",
            if *op == UnOp::Not { "!" } else { "neg" },
            sexp(x)
        ),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", op.as_str(), sexp(a), sexp(b)),
        ExprKind::Ternary(c, a, b) => format!("(?: {} {} {})", sexp(c), sexp(a), sexp(b)),
        ExprKind::List(xs) => format!("[{}]", xs.iter().map(sexp).collect::<Vec<_>>().join(" ")),
    }
}

/// The codes of the diagnostics of `src`.
pub(crate) fn codes(src: &str) -> Vec<&'static str> {
    parse_source("t.gw", src)
        .diagnostics
        .iter()
        .map(|d| d.code)
        .collect()
}

/// Everything `gw check` would print for `src` as the file `t.gw`.
pub(crate) fn rendered(src: &str) -> String {
    let p = parse_source("t.gw", src);
    render_all(&p.diagnostics, &p.sources)
}
