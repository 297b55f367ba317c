//! The request program: walking a route's statements top to bottom, guards, and the
//! statements that transform the request. Plugin statements are in `policy.rs`, targets in
//! `target.rs`, position-free settings in `route.rs`.

use gw_program::{Op, Value};
use gw_syntax::Diagnostic;
use gw_syntax::ast::{Expr, ExprKind, HeaderOp, Stmt, StmtKind};

use crate::lower::{Lower, Producers};
use crate::order::Expanded;
use crate::route::RouteSettings;
use crate::scheme;

/// How a guard was lowered.
enum Branch {
    /// Always true: no code.
    Never,
    /// Always false: the statement is dropped.
    Always,
    /// Jumps to patch to the end of the statement.
    Jumps(Vec<crate::emit::Patch>),
}

/// The keyword a statement starts with, for messages.
pub(crate) fn keyword(k: &StmtKind) -> &'static str {
    match k {
        StmtKind::Use(_) => "use",
        StmtKind::Auth(_) => "auth",
        StmtKind::Require { .. } => "require",
        StmtKind::ValidateParams(_) => "validate params",
        StmtKind::ValidateBody(_) => "validate body",
        StmtKind::BufferBody(_) => "buffer body",
        StmtKind::Throttle { .. } | StmtKind::ThrottlePlan => "throttle",
        StmtKind::Cache(_) => "cache",
        StmtKind::Header {
            op: HeaderOp::Set, ..
        } => "set header",
        StmtKind::Header {
            op: HeaderOp::Append,
            ..
        } => "append header",
        StmtKind::Header {
            op: HeaderOp::Remove,
            ..
        } => "remove header",
        StmtKind::Query { .. } => "query",
        StmtKind::Rewrite(_) => "rewrite path",
        StmtKind::BodyJson(_) => "body json",
        StmtKind::Upstream { .. } => "upstream",
        StmtKind::Canary(_) => "canary",
        StmtKind::Respond { .. } => "respond",
        StmtKind::Timeout(_) => "timeout",
        StmtKind::Retry { .. } => "retry",
        StmtKind::Websocket(_) => "websocket",
        StmtKind::Budget(_) => "budget",
        StmtKind::AllowInPath(_) => "allow_in_path",
        StmtKind::CorsOff => "cors off",
        StmtKind::DefaultsOff => "defaults off",
        StmtKind::OnResponse(_) => "on response",
        StmtKind::SetStatus(_) => "set status",
    }
}

fn is_target(k: &StmtKind) -> bool {
    matches!(
        k,
        StmtKind::Upstream { .. } | StmtKind::Canary(_) | StmtKind::Respond { .. }
    )
}

pub(crate) fn is_setting(k: &StmtKind) -> bool {
    matches!(
        k,
        StmtKind::Timeout(_)
            | StmtKind::Retry { .. }
            | StmtKind::Websocket(_)
            | StmtKind::Budget(_)
            | StmtKind::AllowInPath(_)
            | StmtKind::CorsOff
            | StmtKind::DefaultsOff
            | StmtKind::OnResponse(_)
    )
}

/// The canonical key of a field path (`resp.json.id`), as `has()` narrowing compares them.
pub(crate) fn field_key(e: &Expr) -> Option<String> {
    let (root, segs) = scheme::flatten(e)?;
    let lower = matches!(root.name.as_str(), "header" | "cookie" | "resp");
    let mut out = root.name.clone();
    for s in &segs {
        let t = match s {
            scheme::Seg::Name(n) => n.name.clone(),
            scheme::Seg::Index(Expr {
                kind: ExprKind::Str(s),
                ..
            }) => s.as_plain()?,
            scheme::Seg::Index(Expr {
                kind: ExprKind::Lit(l),
                ..
            }) => match l.value {
                gw_syntax::ast::LitValue::Int(i) => i.to_string(),
                _ => return None,
            },
            scheme::Seg::Index(_) => return None,
        };
        out.push('.');
        out.push_str(&if lower && root.name != "resp" {
            t.to_ascii_lowercase()
        } else {
            t
        });
    }
    if root.name == "resp" && out.starts_with("resp.header.") {
        out = out.to_ascii_lowercase();
    }
    Some(out)
}

/// Fields a guard proves present: every `has(x)` joined by `&&` at its top level.
pub(crate) fn narrowed_by(guard: &Expr) -> Vec<String> {
    match &guard.kind {
        ExprKind::Binary(gw_syntax::ast::BinOp::And, a, b) => {
            let mut v = narrowed_by(a);
            v.extend(narrowed_by(b));
            v
        }
        ExprKind::Call { func, args } if func.name == "has" => match args.as_slice() {
            [x] => field_key(x).into_iter().collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

impl<'g, 'a> Lower<'g, 'a> {
    /// Sets the diagnostic origin and op note of an expanded statement.
    pub(crate) fn enter(&mut self, ex: &Expanded<'_>) {
        self.g.cx.origin = ex.origin.clone();
        let note = ex.origin.as_ref().map(|o| {
            let (l, c) = self.g.cx.line_col(o.at);
            let what = o.what.replace('`', "");
            format!("{what}, used at {l}:{c}")
        });
        self.b.set_note(note);
        self.sc.stmt_kw = keyword(&ex.stmt.kind);
        self.sc.stmt_span = ex.stmt.span;
        self.sc.bounds.clear();
        self.b.reset_regs();
    }

    /// Lowers the request part of a route; targets are collected and lowered last.
    pub(crate) fn request(
        &mut self,
        stmts: &[Expanded<'a>],
        prods: &[(usize, Producers)],
        rs: &mut RouteSettings<'a>,
    ) {
        let mut targets: Vec<Expanded<'a>> = Vec::new();
        for (i, ex) in stmts.iter().enumerate() {
            self.enter(ex);
            self.sc.producers = prods.get(i + 1).map(|p| p.1.clone()).unwrap_or_default();
            let s = ex.stmt;
            let start = self.b.len();
            if is_setting(&s.kind) {
                self.setting(s, ex, rs);
            } else if is_target(&s.kind) {
                targets.push(ex.clone());
            } else if let Some(first) = targets.first() {
                self.emit(
                    Diagnostic::error("E0505", s.span, format!("`{}` after the target never runs", keyword(&s.kind)))
                        .with_label("the request has already been sent on")
                        .with_secondary(first.stmt.span, "the target is here")
                        .with_help("move this statement above the target; only settings and `on response` may follow it"),
                );
            } else {
                self.statement(s, rs);
            }
            self.b.charge(start, s.span);
        }
        self.g.cx.origin = None;
        self.b.set_note(None);
        self.targets(&targets, rs);
    }

    /// Runs `body` under the statement's guard (dropped when the guard folds to false).
    pub(crate) fn guarded(&mut self, s: &Stmt, body: impl FnOnce(&mut Self)) {
        let Some(g) = &s.guard else {
            body(self);
            return;
        };
        self.sc.narrowed = narrowed_by(g);
        let (ops, locs) = (self.b.p.ops.len(), self.b.p.locs.len());
        match self.branch_false(g) {
            Branch::Never => body(self),
            Branch::Always => {
                body(self);
                self.b.p.ops.truncate(ops);
                self.b.p.locs.truncate(locs);
            }
            Branch::Jumps(skips) => {
                body(self);
                for j in skips {
                    self.b.land(j);
                }
            }
        }
        self.sc.narrowed.clear();
    }

    /// Lowers a guard as jumps taken when it is false: each `&&` operand gets its own `jz`.
    fn branch_false(&mut self, g: &Expr) -> Branch {
        if let ExprKind::Binary(gw_syntax::ast::BinOp::And, a, b) = &g.kind {
            return match self.branch_false(a) {
                Branch::Always => {
                    self.dead(b);
                    Branch::Always
                }
                Branch::Never => self.branch_false(b),
                Branch::Jumps(mut first) => match self.branch_false(b) {
                    Branch::Never => Branch::Jumps(first),
                    Branch::Always => {
                        first.push(self.b.jump(Op::Jmp { off: 0 }, b.span));
                        Branch::Jumps(first)
                    }
                    Branch::Jumps(more) => {
                        first.extend(more);
                        Branch::Jumps(first)
                    }
                },
            };
        }
        let v = self.condition(g);
        match v.konst() {
            _ if v.ty.is_err() => Branch::Never,
            Some(Value::Bool(true)) => Branch::Never,
            Some(_) => Branch::Always,
            None => {
                let r = self.reg_of(&v, g.span);
                Branch::Jumps(vec![self.b.jump(Op::Jz { r, off: 0 }, g.span)])
            }
        }
    }

    /// Rejects a `when` on a statement whose effect later statements rely on.
    pub(crate) fn no_guard(&mut self, s: &Stmt) {
        if let Some(g) = &s.guard {
            self.emit(
                Diagnostic::error(
                    "E0505",
                    g.span,
                    format!("`{}` cannot have a `when` guard", keyword(&s.kind)),
                )
                .with_label("statements after it rely on it having run"),
            );
        }
    }

    fn statement(&mut self, s: &'a Stmt, rs: &mut RouteSettings<'a>) {
        match &s.kind {
            StmtKind::Auth(a) => {
                self.no_guard(s);
                self.auth(s, a);
            }
            StmtKind::Require {
                cond,
                status,
                message,
            } => self.guarded(s, |l| l.require(s, cond, status.as_ref(), message.as_ref())),
            StmtKind::ValidateParams(specs) => {
                self.no_guard(s);
                self.validate_params(s, specs);
            }
            StmtKind::ValidateBody(n) => {
                self.no_guard(s);
                self.validate_body(s, n, rs);
            }
            StmtKind::BufferBody(l) => {
                self.no_guard(s);
                self.buffer_body(s, l, rs);
            }
            StmtKind::Throttle {
                rate,
                burst,
                by,
                name,
                scope,
            } => self.guarded(s, |l| {
                l.throttle(
                    s,
                    rate,
                    burst.as_ref(),
                    by.as_ref(),
                    name.as_ref(),
                    scope.as_ref(),
                )
            }),
            StmtKind::ThrottlePlan => self.guarded(s, |l| l.throttle_plan(s)),
            StmtKind::Cache(spec) => {
                self.no_guard(s);
                self.cache(s, spec, rs);
            }
            StmtKind::Header { op, name, value } => {
                self.guarded(s, |l| l.header(s.span, *op, name, value.as_ref(), false))
            }
            StmtKind::Query { op, name, value } => {
                self.guarded(s, |l| l.query(s.span, *op, name, value.as_ref()))
            }
            StmtKind::Rewrite(p) => self.guarded(s, |l| {
                let v = l.path_string(p);
                if let Some(Value::Str(t)) = v.konst()
                    && !t.as_str().starts_with('/')
                {
                    l.emit(
                        Diagnostic::error("E0304", p.span, "a rewritten path starts with `/`")
                            .with_label("not a path"),
                    );
                }
                if !v.ty.is_err() {
                    let r = l.reg_of(&v, p.span);
                    l.b.op(Op::PathRewrite { r }, s.span);
                }
            }),
            StmtKind::BodyJson(t) => self.guarded(s, |l| {
                if l.sc.websocket {
                    l.emit(
                        Diagnostic::error(
                            "E0502",
                            s.span,
                            "a websocket route has no request body to replace",
                        )
                        .with_label("frames are relayed as they come"),
                    );
                    return;
                }
                if let Some(tpl) = l.json_template(t) {
                    l.b.op(Op::BodyBuild { tpl }, s.span);
                }
            }),
            StmtKind::SetStatus(_) => self.emit(
                Diagnostic::error("E0502", s.span, "`set status` changes the response")
                    .with_label("only in `on response`")
                    .with_help("to answer without an upstream, use `respond STATUS`"),
            ),
            StmtKind::Use(_) => {}
            _ => {}
        }
    }
}
