//! Route statements, JSON templates and header maps.

use super::Printer;
use super::expr::{expr, lit, string};
use super::items::{settings, type_expr};
use super::template::{braced, template};
use crate::ast::{
    Auth, CacheSpec, Canary, Expr, HeaderOp, Ident, Lit, ParamSpec, RespondBody, Setting, Stmt,
    StmtKind,
};
use crate::span::Span;

/// A `{ statements }` block whose `{` is the first one at or after `from`.
pub(super) fn stmt_block(p: &mut Printer<'_>, from: usize, body: &[Stmt]) {
    let open = p.open_after(from);
    p.block(open, body, |s| s.span, stmt);
}

fn stmt(p: &mut Printer<'_>, s: &Stmt) {
    kind(p, s);
    if let Some(g) = &s.guard {
        let text = expr(p, g);
        p.w(&format!(" when {text}"));
    }
}

fn op_word(op: HeaderOp) -> &'static str {
    match op {
        HeaderOp::Set => "set",
        HeaderOp::Append => "append",
        HeaderOp::Remove => "remove",
    }
}

/// A header or query name: as a name when it lexes as one, else quoted.
fn header_name(n: &Ident) -> String {
    let mut chars = n.name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = n
        .name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if first_ok && rest_ok && !n.name.ends_with('-') && !n.name.contains("--") {
        n.name.clone()
    } else {
        format!("{:?}", n.name)
    }
}

fn kind(p: &mut Printer<'_>, s: &Stmt) {
    let start = s.span.start as usize;
    let e = |p: &Printer<'_>, x: &Expr| expr(p, x);
    let text = match &s.kind {
        StmtKind::Use(i) => format!("use {}", i.name),
        StmtKind::Auth(a) => match a {
            Auth::Jwt(i) => format!("auth jwt {}", i.name),
            Auth::ApiKey(i) => format!("auth api_key {}", i.name),
            Auth::Authorizer(i) => format!("auth authorizer {}", i.name),
            Auth::Any(is) => format!(
                "auth any({})",
                is.iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        StmtKind::Require {
            cond,
            status,
            message,
        } => {
            let mut t = format!("require {}", e(p, cond));
            if let Some(st) = status {
                t.push_str(&format!(" else {}", lit(p, st)));
                if let Some(m) = message {
                    t.push_str(&format!(" {}", string(p, m)));
                }
            }
            t
        }
        StmtKind::ValidateParams(ps) => {
            p.w("validate params ");
            let open = p.open_after(start);
            p.block(open, ps, |x| x.span, param_spec);
            return;
        }
        StmtKind::ValidateBody(i) => format!("validate body {}", i.name),
        StmtKind::BufferBody(l) => format!("buffer body {}", lit(p, l)),
        StmtKind::Throttle {
            rate,
            burst,
            by,
            name,
            scope,
        } => {
            let mut t = format!("throttle {}", lit(p, rate));
            if let Some(b) = burst {
                t.push_str(&format!(" burst {}", lit(p, b)));
            }
            if let Some(b) = by {
                t.push_str(&format!(" by {}", e(p, b)));
            }
            if let Some(n) = name {
                t.push_str(&format!(" name {}", n.name));
            }
            if let Some(s) = scope {
                match &s.store {
                    Some(url) => t.push_str(&format!(" store redis {}", string(p, url))),
                    None if s.on_store_down.is_none() => t.push_str(" scope node"),
                    None => {}
                }
                if let Some(d) = &s.on_store_down {
                    t.push_str(&format!(" on_store_down {}", d.name));
                }
            }
            t
        }
        StmtKind::ThrottlePlan => "throttle plan".into(),
        StmtKind::Cache(c) => return cache(p, start, c),
        StmtKind::Header { op, name, value } | StmtKind::Query { op, name, value } => {
            let what = if matches!(s.kind, StmtKind::Header { .. }) {
                "header"
            } else {
                "query"
            };
            let mut t = format!("{} {what} {}", op_word(*op), header_name(name));
            if let Some(v) = value {
                t.push_str(&format!(" = {}", e(p, v)));
            }
            t
        }
        StmtKind::Rewrite(st) => format!("rewrite path {}", string(p, st)),
        StmtKind::BodyJson(t) => {
            p.w("body json ");
            return template(p, t);
        }
        StmtKind::Upstream { name, hash_by } => match hash_by {
            Some(h) => format!("upstream {} hash by {}", name.name, e(p, h)),
            None => format!("upstream {}", name.name),
        },
        StmtKind::Canary(c) => return canary(p, start, c),
        StmtKind::Respond {
            status,
            body,
            headers,
        } => return respond(p, status, body.as_ref(), headers),
        StmtKind::Timeout(ss) => timeout(p, ss),
        StmtKind::Retry { count, on } => {
            let mut t = format!("retry {}", lit(p, count));
            if !on.is_empty() {
                t.push_str(&format!(
                    " on {}",
                    on.iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            t
        }
        StmtKind::Websocket(ss) => {
            p.w("websocket ");
            let open = p.open_after(start);
            return settings(p, open, ss);
        }
        StmtKind::Budget(l) => format!("budget {}", lit(p, l)),
        StmtKind::AllowInPath(ss) => {
            let list: Vec<String> = ss.iter().map(|s| string(p, s)).collect();
            format!("allow_in_path {}", list.join(" "))
        }
        StmtKind::CorsOff => "cors off".into(),
        StmtKind::DefaultsOff => "defaults off".into(),
        StmtKind::OnResponse(body) => {
            p.w("on response ");
            return stmt_block(p, start, body);
        }
        StmtKind::SetStatus(x) => format!("set status {}", e(p, x)),
    };
    p.w(&text);
}

fn param_spec(p: &mut Printer<'_>, s: &ParamSpec) {
    let mut t = format!("{}: {}", expr(p, &s.field), type_expr(p, &s.ty));
    if let Some(d) = &s.default {
        t.push_str(&format!(" = {}", expr(p, d)));
    }
    p.w(&t);
}

/// `timeout 3s` (one setting named `request` whose name is the keyword) or phase pairs.
fn timeout(p: &Printer<'_>, ss: &[Setting]) -> String {
    let arg = |s: &Setting| match s.args.first() {
        Some(crate::ast::Arg::Expr(x)) => expr(p, x),
        _ => String::new(),
    };
    match ss {
        [one] if p.snippet(one.name.span) == "timeout" => format!("timeout {}", arg(one)),
        _ => {
            let pairs: Vec<String> = ss
                .iter()
                .map(|s| format!("{} {}", s.name.name, arg(s)))
                .collect();
            format!("timeout {}", pairs.join(" "))
        }
    }
}

/// One item of a block-form `cache` or `canary`, in source order.
enum Part<'a> {
    Lit(&'static str, &'a Lit),
    Exprs(&'static str, &'a [Expr]),
    Expr(&'static str, &'a Expr),
    Setting(&'a Setting),
    Stmt(&'a Stmt),
}

fn part_span(part: &(Span, Part<'_>)) -> Span {
    part.0
}

fn print_part(p: &mut Printer<'_>, part: &(Span, Part<'_>)) {
    let text = match &part.1 {
        Part::Lit(kw, l) => format!("{kw} {}", lit(p, l)),
        Part::Exprs(kw, xs) => format!("{kw} {}", expr_list(p, xs, *kw == "key")),
        Part::Expr(kw, x) => format!("{kw} {}", expr(p, x)),
        Part::Setting(s) => return super::items::setting(p, s),
        Part::Stmt(s) => return stmt(p, s),
    };
    p.w(&text);
}

/// Key parts print as a list; a single `vary` part prints bare.
fn expr_list(p: &Printer<'_>, xs: &[Expr], always_list: bool) -> String {
    match xs {
        [one] if !always_list => expr(p, one),
        _ => format!(
            "[{}]",
            xs.iter().map(|x| expr(p, x)).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn cache(p: &mut Printer<'_>, start: usize, c: &CacheSpec) {
    let after_kw = p
        .src()
        .get(start + "cache".len()..)
        .unwrap_or("")
        .trim_start();
    let block_form = after_kw.starts_with('{') || c.ttl.is_none() || !c.settings.is_empty();
    if !block_form {
        let mut t = format!(
            "cache ttl {}",
            c.ttl.as_ref().map(|l| lit(p, l)).unwrap_or_default()
        );
        if !c.key.is_empty() {
            t.push_str(&format!(" key {}", expr_list(p, &c.key, true)));
        }
        if !c.vary.is_empty() {
            t.push_str(&format!(" vary {}", expr_list(p, &c.vary, false)));
        }
        return p.w(&t);
    }
    let mut parts: Vec<(Span, Part<'_>)> = Vec::new();
    if let Some(l) = &c.ttl {
        parts.push((l.span, Part::Lit("ttl", l)));
    }
    let first = |xs: &[Expr]| {
        xs.first()
            .map(|x| x.span)
            .unwrap_or(Span::new(crate::span::FileId(0), u32::MAX, u32::MAX))
    };
    if !c.key.is_empty() {
        parts.push((first(&c.key), Part::Exprs("key", &c.key)));
    }
    if !c.vary.is_empty() {
        parts.push((first(&c.vary), Part::Exprs("vary", &c.vary)));
    }
    parts.extend(c.settings.iter().map(|s| (s.span, Part::Setting(s))));
    parts.sort_by_key(|(s, _)| s.start);
    p.w("cache ");
    let open = p.open_after(start);
    p.block(open, &parts, part_span, print_part);
}

fn canary(p: &mut Printer<'_>, start: usize, c: &Canary) {
    if c.short {
        let mut t = format!(
            "canary {} to {}",
            c.weight.as_ref().map(|l| lit(p, l)).unwrap_or_default(),
            c.upstream.name
        );
        if let Some(s) = &c.sticky {
            t.push_str(&format!(" sticky by {}", expr(p, s)));
        }
        return p.w(&t);
    }
    let mut parts: Vec<(Span, Part<'_>)> = Vec::new();
    if let Some(l) = &c.weight {
        parts.push((l.span, Part::Lit("weight", l)));
    }
    if let Some(x) = &c.sticky {
        parts.push((x.span, Part::Expr("sticky by", x)));
    }
    if let Some(x) = &c.force {
        parts.push((x.span, Part::Expr("force when", x)));
    }
    parts.extend(c.body.iter().map(|s| (s.span, Part::Stmt(s))));
    parts.sort_by_key(|(s, _)| s.start);
    p.w(&format!("canary {} ", c.upstream.name));
    let open = p.open_after(c.upstream.span.end as usize);
    let _ = start;
    p.block(open, &parts, part_span, print_part);
}

fn respond(
    p: &mut Printer<'_>,
    status: &Lit,
    body: Option<&RespondBody>,
    headers: &[(Ident, Expr)],
) {
    p.w(&format!("respond {}", lit(p, status)));
    let mut end = status.span.end as usize;
    match body {
        Some(RespondBody::Json(t)) => {
            p.w(" json ");
            template(p, t);
            end = t.span.end as usize;
        }
        Some(RespondBody::Text(s)) => {
            p.w(&format!(" text {}", string(p, s)));
            end = s.span.end as usize;
        }
        None => {}
    }
    if !headers.is_empty() {
        p.w(" headers ");
        let open = p.open_after(end);
        braced(
            p,
            open,
            '{',
            '}',
            headers,
            |h| h.0.span.to(h.1.span),
            |p, (n, v)| {
                let text = format!("{}: {}", header_name(n), expr(p, v));
                p.w(&text);
            },
        );
    }
}
