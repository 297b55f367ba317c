//! Expressions, strings and literals as text, with the fewest parentheses that keep the tree.

use super::Printer;
use crate::ast::{
    Addr, BinOp, Expr, ExprKind, Lit, LitValue, PathPattern, Segment, StrLit, StrPart, UnOp,
};

/// Binding strength: ternary 1 · `??` 2 · `||` 3 · `&&` 4 · comparisons 5 · `+ -` 6 ·
/// `* / %` 7 · unary 8 · postfix and primaries 9.
fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Ternary(..) => 1,
        ExprKind::Binary(op, ..) => bin_prec(*op),
        ExprKind::Unary(..) => 8,
        _ => 9,
    }
}

fn bin_prec(op: BinOp) -> u8 {
    match op {
        BinOp::Coalesce => 2,
        BinOp::Or => 3,
        BinOp::And => 4,
        BinOp::Add | BinOp::Sub => 6,
        BinOp::Mul | BinOp::Div | BinOp::Rem => 7,
        _ => 5,
    }
}

fn wrap(p: &Printer<'_>, e: &Expr, parens: bool) -> String {
    let text = expr(p, e);
    if parens { format!("({text})") } else { text }
}

/// An expression on one line.
pub(super) fn expr(p: &Printer<'_>, e: &Expr) -> String {
    match &e.kind {
        ExprKind::Lit(l) => lit(p, l),
        ExprKind::Str(s) => string(p, s),
        ExprKind::Name(i) => i.name.clone(),
        ExprKind::Member(base, name) => format!("{}.{}", postfix_base(p, base), name.name),
        ExprKind::Index(base, idx) => format!("{}[{}]", postfix_base(p, base), expr(p, idx)),
        ExprKind::Call { func, args } => {
            let args: Vec<String> = args.iter().map(|a| expr(p, a)).collect();
            format!("{}({})", func.name, args.join(", "))
        }
        ExprKind::List(items) => {
            let items: Vec<String> = items.iter().map(|a| expr(p, a)).collect();
            format!("[{}]", items.join(", "))
        }
        ExprKind::Unary(op, x) => {
            let sym = match op {
                UnOp::Not => "!",
                UnOp::Neg => "-",
            };
            format!("{sym}{}", wrap(p, x, prec(x) < 8))
        }
        ExprKind::Binary(op, l, r) => {
            let pr = bin_prec(*op);
            let right_assoc = *op == BinOp::Coalesce;
            let lt = wrap(p, l, prec(l) < pr || (prec(l) == pr && right_assoc));
            let rt = wrap(p, r, prec(r) < pr || (prec(r) == pr && !right_assoc));
            format!("{lt} {} {rt}", op.as_str())
        }
        ExprKind::Ternary(c, a, b) => {
            format!(
                "{} ? {} : {}",
                wrap(p, c, prec(c) <= 1),
                wrap(p, a, prec(a) <= 1),
                expr(p, b)
            )
        }
    }
}

/// The base of `.x` / `[i]`: operators and numbers need parentheses (`(10).x`, not `10.x`).
fn postfix_base(p: &Printer<'_>, e: &Expr) -> String {
    let numeric = matches!(&e.kind, ExprKind::Lit(l) if !matches!(l.value, LitValue::Bool(_)));
    wrap(p, e, prec(e) < 9 || numeric)
}

/// A literal as written (`10_000`, `5m`, `12.5%`).
pub(super) fn lit(p: &Printer<'_>, l: &Lit) -> String {
    let text = p.snippet(l.span);
    if !text.is_empty() {
        return text.to_string();
    }
    match &l.value {
        LitValue::Int(i) => i.to_string(),
        LitValue::Bool(b) => b.to_string(),
        LitValue::Duration(ms) => format!("{ms}ms"),
        LitValue::Size(b) => format!("{b}B"),
        LitValue::Rate { count, per_ms } => match per_ms {
            1_000 => format!("{count}/s"),
            60_000 => format!("{count}/min"),
            3_600_000 => format!("{count}/h"),
            _ => format!("{count}/day"),
        },
        LitValue::Percent(bp) => format!("{}.{:02}%", bp / 100, bp % 100),
        LitValue::Ip(ip) => ip.to_string(),
        LitValue::Cidr(ip, n) => format!("{ip}/{n}"),
    }
}

pub(super) fn addr(p: &Printer<'_>, a: &Addr) -> String {
    let text = p.snippet(a.span);
    if !text.is_empty() {
        return text.to_string();
    }
    if a.host.contains(':') {
        format!("[{}]:{}", a.host, a.port)
    } else {
        format!("{}:{}", a.host, a.port)
    }
}

/// A string with escapes and interpolations in canonical form; raw strings verbatim.
pub(super) fn string(p: &Printer<'_>, s: &StrLit) -> String {
    let mut out = String::from(if s.raw { "r\"" } else { "\"" });
    for part in &s.parts {
        match part {
            StrPart::Text(t) if s.raw => out.push_str(t),
            StrPart::Text(t) => {
                for c in t.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\t' => out.push_str("\\t"),
                        '\r' => out.push_str("\\r"),
                        '{' => out.push_str("{{"),
                        '}' => out.push_str("}}"),
                        c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
                        c => out.push(c),
                    }
                }
            }
            StrPart::Interp(e) => {
                out.push('{');
                out.push_str(&expr(p, e));
                out.push('}');
            }
        }
    }
    out.push('"');
    out
}

/// `/pets/{id}`, `/checkout/{rest+}`, `/`.
pub(super) fn pattern(pat: &PathPattern) -> String {
    let mut out = String::new();
    for s in &pat.segments {
        out.push('/');
        match s {
            Segment::Literal(t, _) => out.push_str(t),
            Segment::Param(i) => out.push_str(&format!("{{{}}}", i.name)),
            Segment::Greedy(i) => out.push_str(&format!("{{{}+}}", i.name)),
        }
    }
    if pat.trailing_slash || pat.segments.is_empty() {
        out.push('/');
    }
    out
}
