//! Comparing trees "modulo spans": [`strip_spans`] resets every span of a configuration, so
//! that two parses of equivalent text compare equal (used to test `gw fmt`).

use crate::ast::{
    Addr, Arg, Auth, Config, Expr, ExprKind, FieldDecl, Ident, Item, ItemKind, Lit, PathPattern,
    RespondBody, Segment, Setting, Stmt, StmtKind, StrLit, StrPart, Template, TemplateKey,
    TemplateValue, TypeExpr,
};
use crate::span::Span;

/// Sets every span in `config` to `Span::default()`.
pub fn strip_spans(config: &mut Config) {
    config.items.iter_mut().for_each(item);
}

fn z(s: &mut Span) {
    *s = Span::default();
}

fn id(i: &mut Ident) {
    z(&mut i.span);
}

fn lit(l: &mut Lit) {
    z(&mut l.span);
}

fn addr(a: &mut Addr) {
    z(&mut a.span);
}

fn string(s: &mut StrLit) {
    z(&mut s.span);
    for p in &mut s.parts {
        if let StrPart::Interp(e) = p {
            expr(e);
        }
    }
}

fn item(i: &mut Item) {
    z(&mut i.span);
    match &mut i.kind {
        ItemKind::Listen {
            addr: a,
            tls,
            options,
        } => {
            addr(a);
            for t in [tls, options].into_iter().flatten() {
                settings(t);
            }
        }
        ItemKind::Admin(a) => addr(a),
        ItemKind::Include(s) => string(s),
        ItemKind::Workers(l) => lit(l),
        ItemKind::Limits(s)
        | ItemKind::Timeouts(s)
        | ItemKind::Cors(s)
        | ItemKind::Log(s)
        | ItemKind::Tracing(s) => settings(s),
        ItemKind::Vars(vs) => {
            for v in vs {
                z(&mut v.span);
                id(&mut v.name);
                expr(&mut v.value);
            }
        }
        ItemKind::Upstream { name, body }
        | ItemKind::Jwt { name, body }
        | ItemKind::ApiKeys { name, body }
        | ItemKind::Authorizer { name, body }
        | ItemKind::Plan { name, body } => {
            id(name);
            settings(body);
        }
        ItemKind::Schema { name, file } => {
            id(name);
            string(file);
        }
        ItemKind::Policy { name, body } => {
            id(name);
            stmts(body);
        }
        ItemKind::Defaults(b) => stmts(b),
        ItemKind::Host { pattern, items } => {
            string(pattern);
            items.iter_mut().for_each(item);
        }
        ItemKind::Route(r) => {
            z(&mut r.span);
            z(&mut r.method_span);
            pattern(&mut r.pattern);
            stmts(&mut r.body);
        }
        ItemKind::OnError { statuses, body } => {
            statuses.iter_mut().for_each(lit);
            stmts(body);
        }
    }
}

fn pattern(p: &mut PathPattern) {
    z(&mut p.span);
    for s in &mut p.segments {
        match s {
            Segment::Literal(_, sp) => z(sp),
            Segment::Param(i) | Segment::Greedy(i) => id(i),
        }
    }
}

fn settings(ss: &mut [Setting]) {
    for s in ss {
        z(&mut s.span);
        id(&mut s.name);
        for a in &mut s.args {
            match a {
                Arg::Word(w) => id(w),
                Arg::Expr(e) => expr(e),
                Arg::Addr(x) => addr(x),
                Arg::Path(p) => string(p),
                Arg::Block(b) => settings(b),
                Arg::Fields(f) => f.iter_mut().for_each(field),
                Arg::On(ws) => ws.iter_mut().for_each(id),
            }
        }
    }
}

fn field(f: &mut FieldDecl) {
    z(&mut f.span);
    id(&mut f.name);
    ty(&mut f.ty);
    if let Some(d) = &mut f.default {
        expr(d);
    }
}

fn ty(t: &mut TypeExpr) {
    z(&mut t.span);
    id(&mut t.name);
    t.args.iter_mut().for_each(ty);
    t.one_of.iter_mut().for_each(|s| z(&mut s.span));
    if let Some(s) = &mut t.pattern {
        z(&mut s.span);
    }
}

fn stmts(ss: &mut [Stmt]) {
    ss.iter_mut().for_each(stmt);
}

fn opt(e: &mut Option<Expr>) {
    if let Some(e) = e {
        expr(e);
    }
}

fn stmt(s: &mut Stmt) {
    z(&mut s.span);
    opt(&mut s.guard);
    match &mut s.kind {
        StmtKind::Use(i) | StmtKind::ValidateBody(i) => id(i),
        StmtKind::Auth(a) => match a {
            Auth::Jwt(i) | Auth::ApiKey(i) | Auth::Authorizer(i) => id(i),
            Auth::Any(is) => is.iter_mut().for_each(id),
        },
        StmtKind::Require {
            cond,
            status,
            message,
        } => {
            expr(cond);
            status.iter_mut().for_each(lit);
            message.iter_mut().for_each(string);
        }
        StmtKind::ValidateParams(ps) => {
            for p in ps {
                z(&mut p.span);
                expr(&mut p.field);
                ty(&mut p.ty);
                opt(&mut p.default);
            }
        }
        StmtKind::BufferBody(l) | StmtKind::Budget(l) => lit(l),
        StmtKind::Throttle {
            rate,
            burst,
            by,
            name,
            scope,
        } => {
            lit(rate);
            burst.iter_mut().for_each(lit);
            opt(by);
            name.iter_mut().for_each(id);
            if let Some(s) = scope {
                z(&mut s.span);
                s.store.iter_mut().for_each(|u| z(&mut u.span));
                s.on_store_down.iter_mut().for_each(id);
            }
        }
        StmtKind::ThrottlePlan | StmtKind::CorsOff | StmtKind::DefaultsOff => {}
        StmtKind::Cache(c) => {
            c.ttl.iter_mut().for_each(lit);
            c.key.iter_mut().chain(c.vary.iter_mut()).for_each(expr);
            settings(&mut c.settings);
        }
        StmtKind::Header { name, value, .. } | StmtKind::Query { name, value, .. } => {
            id(name);
            opt(value);
        }
        StmtKind::Rewrite(s) => string(s),
        StmtKind::AllowInPath(ss) => ss.iter_mut().for_each(string),
        StmtKind::BodyJson(t) => template(t),
        StmtKind::Upstream { name, hash_by } => {
            id(name);
            opt(hash_by);
        }
        StmtKind::Canary(c) => {
            id(&mut c.upstream);
            c.weight.iter_mut().for_each(lit);
            opt(&mut c.sticky);
            opt(&mut c.force);
            stmts(&mut c.body);
        }
        StmtKind::Respond {
            status,
            body,
            headers,
        } => {
            lit(status);
            match body {
                Some(RespondBody::Json(t)) => template(t),
                Some(RespondBody::Text(s)) => string(s),
                None => {}
            }
            for (n, v) in headers {
                id(n);
                expr(v);
            }
        }
        StmtKind::Timeout(s) | StmtKind::Websocket(s) => settings(s),
        StmtKind::Retry { count, on } => {
            lit(count);
            on.iter_mut().for_each(id);
        }
        StmtKind::OnResponse(b) => stmts(b),
        StmtKind::SetStatus(e) => expr(e),
    }
}

fn template(t: &mut Template) {
    z(&mut t.span);
    for (k, v) in &mut t.fields {
        match k {
            TemplateKey::Ident(i) => id(i),
            TemplateKey::Str(s) => string(s),
        }
        tpl_value(v);
    }
}

fn tpl_value(v: &mut TemplateValue) {
    match v {
        TemplateValue::Expr(e) => expr(e),
        TemplateValue::Object(t) => template(t),
        TemplateValue::List(items, sp) => {
            z(sp);
            items.iter_mut().for_each(tpl_value);
        }
    }
}

fn expr(e: &mut Expr) {
    z(&mut e.span);
    match &mut e.kind {
        ExprKind::Lit(l) => lit(l),
        ExprKind::Str(s) => string(s),
        ExprKind::Name(i) => id(i),
        ExprKind::Member(b, i) => {
            expr(b);
            id(i);
        }
        ExprKind::Index(a, b) => {
            expr(a);
            expr(b);
        }
        ExprKind::Call { func, args } => {
            id(func);
            args.iter_mut().for_each(expr);
        }
        ExprKind::Unary(_, x) => expr(x),
        ExprKind::Binary(_, a, b) => {
            expr(a);
            expr(b);
        }
        ExprKind::Ternary(a, b, c) => {
            expr(a);
            expr(b);
            expr(c);
        }
        ExprKind::List(xs) => xs.iter_mut().for_each(expr),
    }
}
