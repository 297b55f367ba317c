//! Declarations, settings and typed fields.

use super::Printer;
use super::expr::{expr, lit, pattern, string};
use super::stmts::stmt_block;
use crate::ast::{Arg, FieldDecl, Item, ItemKind, Setting, TypeExpr, VarDef};
use crate::span::Span;

/// The file: declarations one per line (or `;`-joined), then trailing comments.
pub(super) fn top_level(p: &mut Printer<'_>, items: &[Item]) {
    p.lines(items, |i| i.span, item);
}

fn kw_then_block(p: &mut Printer<'_>, kw: &str, from: usize, body: &[Setting]) {
    p.w(kw);
    p.w(" ");
    let open = p.open_after(from);
    settings(p, open, body);
}

pub(super) fn settings(p: &mut Printer<'_>, open: usize, body: &[Setting]) {
    p.block(open, body, |s| s.span, setting);
}

fn item(p: &mut Printer<'_>, it: &Item) {
    let start = it.span.start as usize;
    match &it.kind {
        ItemKind::Listen { addr, tls, options } => {
            p.w("listen ");
            p.w(&super::expr::addr(p, addr));
            if let Some(t) = tls {
                p.w(" tls ");
                let open = p.open_after(addr.span.end as usize);
                settings(p, open, t);
            }
            if let Some(o) = options {
                p.w(" ");
                let open = p.open_after(addr.span.end as usize);
                settings(p, open, o);
            }
        }
        ItemKind::Admin(a) => {
            p.w("admin ");
            p.w(&super::expr::addr(p, a));
        }
        ItemKind::Include(s) => {
            p.w("include ");
            p.w(&string(p, s));
        }
        ItemKind::Workers(l) => {
            p.w("workers ");
            p.w(&lit(p, l));
        }
        ItemKind::Limits(s) => kw_then_block(p, "limits", start, s),
        ItemKind::Timeouts(s) => kw_then_block(p, "timeouts", start, s),
        ItemKind::Cors(s) => kw_then_block(p, "cors", start, s),
        ItemKind::Log(s) => kw_then_block(p, "log", start, s),
        ItemKind::Tracing(s) => kw_then_block(p, "tracing", start, s),
        ItemKind::Vars(vars) => {
            p.w("vars ");
            let open = p.open_after(start);
            p.block(open, vars, |v| v.span, var_def);
        }
        ItemKind::Upstream { name, body }
        | ItemKind::Jwt { name, body }
        | ItemKind::ApiKeys { name, body }
        | ItemKind::Authorizer { name, body }
        | ItemKind::Plan { name, body } => {
            let kw = match &it.kind {
                ItemKind::Upstream { .. } => "upstream",
                ItemKind::Jwt { .. } => "jwt",
                ItemKind::ApiKeys { .. } => "api_keys",
                ItemKind::Authorizer { .. } => "authorizer",
                _ => "plan",
            };
            p.w(kw);
            p.w(" ");
            kw_then_block(p, &name.name, name.span.end as usize, body);
        }
        ItemKind::Schema { name, file } => {
            p.w(&format!("schema {} = file ", name.name));
            p.w(&string(p, file));
        }
        ItemKind::Policy { name, body } => {
            p.w(&format!("policy {} ", name.name));
            stmt_block(p, name.span.end as usize, body);
        }
        ItemKind::Defaults(body) => {
            p.w("defaults ");
            stmt_block(p, start, body);
        }
        ItemKind::Host {
            pattern: host,
            items,
        } => {
            p.w("host ");
            p.w(&string(p, host));
            p.w(" ");
            let open = p.open_after(host.span.end as usize);
            p.block(open, items, |i| i.span, item);
        }
        ItemKind::Route(r) => {
            p.w(&format!(
                "route {} {}",
                r.method.as_str(),
                pattern(&r.pattern)
            ));
            if r.websocket {
                p.w(" websocket");
            }
            p.w(" ");
            stmt_block(p, r.pattern.span.end as usize, &r.body);
        }
        ItemKind::OnError { statuses, body } => {
            p.w("on error ");
            let list: Vec<String> = statuses.iter().map(|s| lit(p, s)).collect();
            p.w(&list.join(", "));
            p.w(" ");
            let from = statuses.last().map_or(start, |s| s.span.end as usize);
            stmt_block(p, from, body);
        }
    }
}

fn var_def(p: &mut Printer<'_>, v: &VarDef) {
    let value = expr(p, &v.value);
    p.w(&format!("{} = {value}", v.name.name));
}

fn arg_span(a: &Arg) -> Option<Span> {
    match a {
        Arg::Word(w) => Some(w.span),
        Arg::Expr(e) => Some(e.span),
        Arg::Addr(x) => Some(x.span),
        Arg::Path(s) => Some(s.span),
        Arg::On(ws) => ws.last().map(|w| w.span),
        Arg::Block(_) | Arg::Fields(_) => None,
    }
}

pub(super) fn setting(p: &mut Printer<'_>, s: &Setting) {
    p.w(&s.name.name);
    let mut prev_end = s.name.span.end as usize;
    for a in &s.args {
        p.w(" ");
        match a {
            Arg::Word(w) => p.w(&w.name),
            Arg::On(ws) => {
                let names: Vec<&str> = ws.iter().map(|w| w.name.as_str()).collect();
                p.w(&format!("on {}", names.join(", ")));
            }
            Arg::Expr(e) => {
                let text = expr(p, e);
                p.w(&text);
            }
            Arg::Addr(x) => {
                let text = super::expr::addr(p, x);
                p.w(&text);
            }
            Arg::Path(path) => {
                let text = path.as_plain().unwrap_or_default();
                p.w(&text);
            }
            Arg::Block(b) => {
                let open = p.open_after(prev_end);
                settings(p, open, b);
                prev_end = p.close_of(open) + 1;
            }
            Arg::Fields(f) => {
                let open = p.open_after(prev_end);
                p.block(open, f, |f| f.span, field_decl);
                prev_end = p.close_of(open) + 1;
            }
        }
        if let Some(sp) = arg_span(a) {
            prev_end = sp.end as usize;
        }
    }
}

fn field_decl(p: &mut Printer<'_>, f: &FieldDecl) {
    let t = type_expr(p, &f.ty);
    p.w(&format!("{}: {t}", f.name.name));
    if let Some(d) = &f.default {
        let text = expr(p, d);
        p.w(&format!(" = {text}"));
    }
}

/// `list<string>?`, `int 1..100`, `string in ["a", "b"]`, `string matches "^x"`.
pub(super) fn type_expr(p: &Printer<'_>, t: &TypeExpr) -> String {
    let mut out = t.name.name.clone();
    if !t.args.is_empty() {
        let args: Vec<String> = t.args.iter().map(|a| type_expr(p, a)).collect();
        out.push('<');
        out.push_str(&args.join(", "));
        out.push('>');
    }
    if t.optional {
        out.push('?');
    }
    if let Some((lo, hi)) = t.range {
        out.push_str(&format!(" {lo}..{hi}"));
    }
    if !t.one_of.is_empty() {
        let values: Vec<String> = t.one_of.iter().map(|s| super::expr::string(p, s)).collect();
        out.push_str(&format!(" in [{}]", values.join(", ")));
    }
    if let Some(s) = &t.pattern {
        out.push_str(&format!(" matches {}", super::expr::string(p, s)));
    }
    out
}
