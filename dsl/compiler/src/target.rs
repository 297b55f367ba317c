//! Targets: the target group (guarded lines, the unguarded fallback, `canary`) as a jump
//! chain (E0505, E0506), and the canary lowering (`canary` below).

use gw_program::{Balance, NO_REG, NONE, Op};
use gw_syntax::ast::{Canary, Expr, RespondBody, Stmt, StmtKind};
use gw_syntax::{Diagnostic, Span};

use crate::lits;
use crate::lower::Lower;
use crate::order::Expanded;
use crate::route::RouteSettings;

impl<'g, 'a> Lower<'g, 'a> {
    /// Checks and lowers the target group; the program ends here.
    pub(crate) fn targets(&mut self, ts: &[Expanded<'a>], rs: &mut RouteSettings<'a>) {
        if ts.is_empty() {
            let d = Diagnostic::error(
                "E0505",
                rs.header,
                format!("route `{}` has no target", self.sc.route),
            )
            .with_label("nothing answers this route")
            .with_help("end it with `upstream NAME` or `respond STATUS`");
            self.emit(d);
            self.b.op(
                Op::Deny {
                    status: 500,
                    msg: NONE,
                },
                rs.header,
            );
            return;
        };
        let mut guarded: Vec<&Expanded<'a>> = Vec::new();
        let mut fallback: Option<&Expanded<'a>> = None;
        let mut canary: Option<(&Expanded<'a>, &'a Canary)> = None;
        for t in ts {
            self.g.cx.origin = t.origin.clone();
            let s = t.stmt;
            match &s.kind {
                StmtKind::Canary(c) => {
                    if let Some(g) = &s.guard {
                        self.emit(
                            Diagnostic::error(
                                "E0505",
                                g.span,
                                "`canary` cannot have a `when` guard",
                            )
                            .with_label("the split applies to the fallback")
                            .with_help(
                                "to force callers onto the canary, write `force when …` inside it",
                            ),
                        );
                    }
                    match (fallback, canary) {
                        (_, Some((prev, _))) => self.unreachable(s, prev.stmt.span, "a route has one canary"),
                        (Some(f), None) if matches!(f.stmt.kind, StmtKind::Upstream { .. }) => canary = Some((t, c)),
                        _ => self.emit(
                            Diagnostic::error("E0505", s.span, "`canary` needs an unguarded `upstream` before it")
                                .with_label("nothing to split")
                                .with_help("write the stable side first: `upstream v1`, then `canary v2 { … }`"),
                        ),
                    }
                }
                _ => match fallback {
                    Some(f) => self.unreachable(s, f.stmt.span, "this target always applies"),
                    None if s.guard.is_some() => guarded.push(t),
                    None => fallback = Some(t),
                },
            }
        }
        let Some(fallback) = fallback else {
            let last = ts.last().map_or(rs.header, |t| t.stmt.span);
            self.emit(
                Diagnostic::error("E0505", last, "no target when every `when` is false")
                    .with_label("the last target is guarded")
                    .with_help(
                        "end the group with an unguarded `upstream NAME` or `respond STATUS`",
                    ),
            );
            self.b.op(
                Op::Deny {
                    status: 500,
                    msg: NONE,
                },
                rs.header,
            );
            return;
        };
        for t in guarded {
            self.enter(t);
            let start = self.b.len();
            let s = t.stmt;
            self.guarded(s, |l| l.action(s));
            self.b.charge(start, s.span);
        }
        self.enter(fallback);
        let start = self.b.len();
        match canary {
            Some((ct, c)) => self.canary(fallback.stmt, ct, c),
            None => self.action(fallback.stmt),
        }
        self.b.charge(start, fallback.stmt.span);
        self.g.cx.origin = None;
    }

    fn unreachable(&mut self, s: &Stmt, cover: Span, why: &str) {
        self.emit(
            Diagnostic::error("E0506", s.span, "unreachable target")
                .with_label("this line is never reached")
                .with_secondary(cover, why.to_string())
                .with_help("put guarded targets (`upstream … when …`) before the unguarded one"),
        );
    }

    /// Emits the op that ends the request for one target line.
    fn action(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Upstream { name, hash_by } => {
                let Some(up) = self.g.syms.upstreams.resolve(&mut self.g.cx, name) else {
                    self.b.op(
                        Op::Deny {
                            status: 502,
                            msg: NONE,
                        },
                        s.span,
                    );
                    return;
                };
                if let Some(e) = hash_by {
                    self.hash_balanced(up, s.span, e);
                }
                self.forward(up, hash_by.as_ref(), s.span);
            }
            StmtKind::Respond {
                status,
                body,
                headers,
            } => {
                let st = lits::status(&mut self.g.cx, status).unwrap_or(200);
                for (name, value) in headers {
                    self.header(
                        s.span,
                        gw_syntax::ast::HeaderOp::Set,
                        name,
                        Some(value),
                        true,
                    );
                }
                let (tpl, json) = match body {
                    None => (NONE, false),
                    Some(RespondBody::Json(t)) => (self.json_template(t).unwrap_or(NONE), true),
                    Some(RespondBody::Text(t)) => (self.text_template(t).unwrap_or(NONE), false),
                };
                self.b.op(
                    Op::Respond {
                        status: st,
                        tpl,
                        json,
                    },
                    s.span,
                );
            }
            _ => {}
        }
    }

    fn forward(&mut self, up: u16, hash_by: Option<&Expr>, span: Span) {
        let hash = hash_by
            .and_then(|e| self.key_expr(e, "an upstream is hashed by"))
            .unwrap_or(NO_REG);
        let op = if self.sc.websocket {
            Op::Upgrade { up, hash }
        } else {
            Op::Forward { up, hash }
        };
        self.b.op(op, span);
    }

    /// E0304 for `hash by` on an upstream that does not balance by hash: its key would be
    /// ignored. `stmt` is the `upstream NAME hash by EXPR` line.
    fn hash_balanced(&mut self, up: u16, stmt: Span, key: &Expr) {
        let Some(u) = self.g.syms.upstreams.get(up) else {
            return;
        };
        let mode = match u.value.balance {
            Balance::Hash => return,
            Balance::RoundRobin => "round_robin",
            Balance::LeastRequest => "least_request",
            Balance::Random => "random",
        };
        let (name, decl) = (u.name.clone(), u.span);
        let before = Span::new(key.span.file, stmt.start, key.span.start);
        let at = self
            .g
            .cx
            .snippet(before)
            .rfind("hash")
            .map_or(key.span, |i| {
                let start = stmt.start.saturating_add(u32::try_from(i).unwrap_or(0));
                Span::new(key.span.file, start, key.span.end)
            });
        self.emit(
            Diagnostic::error(
                "E0304",
                at,
                format!("upstream `{name}` does not balance by hash"),
            )
            .with_label("this key would be ignored")
            .with_secondary(decl, format!("balances `{mode}`"))
            .with_help(format!("add `balance hash` to upstream `{name}`")),
        );
    }

    /// `[force → L_force;] split → L_canary; forward stable; L_force: canary.mark; L_canary:
    /// canary-side headers; forward canary`.
    fn canary(&mut self, fallback: &Stmt, ct: &Expanded<'a>, c: &'a Canary) {
        let StmtKind::Upstream { name, hash_by } = &fallback.kind else {
            return;
        };
        let stable = self.g.syms.upstreams.resolve(&mut self.g.cx, name);
        self.g.cx.origin = ct.origin.clone();
        let cs = ct.stmt.span;
        let side = self.g.syms.upstreams.resolve(&mut self.g.cx, &c.upstream);
        let threshold = match &c.weight {
            Some(w) => lits::percent(&mut self.g.cx, w),
            None => {
                self.emit(
                    Diagnostic::error("E0304", cs, "`canary` needs a weight")
                        .with_label("how many callers go to the canary?")
                        .with_help("add `weight 10%`"),
                );
                None
            }
        };
        let force = c.force.as_ref().map(|f| {
            let v = self.condition(f);
            let r = self.reg_of(&v, f.span);
            self.b.jump(Op::Jnz { r, off: 0 }, f.span)
        });
        let sticky = c
            .sticky
            .as_ref()
            .and_then(|e| self.key_expr(e, "a canary is sticky by"))
            .unwrap_or(NO_REG);
        let id = self.g.canaries;
        self.g.canaries = self.g.canaries.saturating_add(1);
        let t = u16::try_from(threshold.unwrap_or(0)).unwrap_or(0);
        let split = self.b.jump(
            Op::Split {
                canary: id,
                sticky,
                threshold: t,
                off: 0,
            },
            cs,
        );
        self.g.cx.origin = None;
        if let (Some(up), Some(e)) = (stable, hash_by) {
            self.hash_balanced(up, fallback.span, e);
        }
        match stable {
            Some(up) => self.forward(up, hash_by.as_ref(), fallback.span),
            None => self.b.op(
                Op::Deny {
                    status: 502,
                    msg: NONE,
                },
                fallback.span,
            ),
        }
        self.g.cx.origin = ct.origin.clone();
        if let Some(f) = force {
            self.b.land(f);
            self.b.op(Op::CanaryMark, cs);
        }
        self.b.land(split);
        for s in &c.body {
            match &s.kind {
                StmtKind::Header { op, name, value } => self.guarded(s, |l| l.header(s.span, *op, name, value.as_ref(), false)),
                _ => self.emit(
                    Diagnostic::error("E0505", s.span, "a canary block holds `weight`, `sticky by`, `force when` and header statements")
                        .with_label("not allowed in `canary { }`"),
                ),
            }
        }
        if let (Some(up), Some(e)) = (side, hash_by) {
            self.hash_balanced(up, fallback.span, e);
        }
        match side {
            Some(up) => self.forward(up, hash_by.as_ref(), cs),
            None => self.b.op(
                Op::Deny {
                    status: 502,
                    msg: NONE,
                },
                cs,
            ),
        }
        self.g.cx.origin = None;
    }
}
