//! Response and error programs: `on response { }` (with the cache store and CORS calls) and
//! `on error STATUS { }` pages. Both end in `done`.

use gw_program::Op;
use gw_syntax::Diagnostic;
use gw_syntax::ast::{Stmt, StmtKind};

use gw_syntax::Span;

use crate::ctx::Origin;
use crate::emit::Builder;
use crate::lits;
use crate::lower::{Global, Scope};
use crate::lower::{Lower, Phase};
use crate::route;
use crate::route::CacheUse;
use crate::stmt::keyword;
use crate::types::Ty;

impl<'g, 'a> Lower<'g, 'a> {
    /// Lowers response statements (`on response` blocks, or an `on error` body).
    pub(crate) fn response_stmts(&mut self, blocks: &[(&'a [Stmt], Option<Origin>)]) {
        for (body, origin) in blocks {
            for s in *body {
                self.g.cx.origin = origin.clone();
                self.sc.stmt_kw = keyword(&s.kind);
                self.sc.stmt_span = s.span;
                self.sc.bounds.clear();
                self.b.reset_regs();
                let start = self.b.len();
                match &s.kind {
                    StmtKind::Header { op, name, value } => {
                        self.guarded(s, |l| l.header(s.span, *op, name, value.as_ref(), true))
                    }
                    StmtKind::SetStatus(e) => self.guarded(s, |l| {
                        let v = l.expr(e);
                        if v.ty.is_err() || !l.value_needed(&v, e) {
                            return;
                        }
                        if *v.ty.base() != Ty::Int {
                            l.mismatch(e.span, "int", &v.ty, "a status is an integer");
                            return;
                        }
                        if let Some(gw_program::Value::Int(i)) = v.konst()
                            && !(100..=599).contains(i)
                        {
                            l.emit(
                                Diagnostic::error(
                                    "E0304",
                                    e.span,
                                    format!("status {i} is outside 100..599"),
                                )
                                .with_label("not an HTTP status"),
                            );
                            return;
                        }
                        let r = l.reg_of(&v, e.span);
                        l.b.op(Op::RespStatusSet { r }, s.span);
                    }),
                    StmtKind::BodyJson(t) => self.guarded(s, |l| {
                        if let Some(tpl) = l.json_template(t) {
                            l.b.op(Op::RespBodyBuild { tpl }, s.span);
                        }
                    }),
                    other => {
                        let place = if self.sc.phase == Phase::Error {
                            "`on error`"
                        } else {
                            "`on response`"
                        };
                        self.emit(
                            Diagnostic::error("E0502", s.span, format!("`{}` cannot run in {place}", keyword(other)))
                                .with_label(format!("not a {place} statement"))
                                .with_help("response programs hold `set`/`append`/`remove header`, `set status` and `body json`"),
                        );
                    }
                }
                self.b.charge(start, s.span);
            }
        }
        self.g.cx.origin = None;
    }

    /// The cache store call: the key is computed again from the same expressions.
    pub(crate) fn cache_store(&mut self, c: &CacheUse<'a>) {
        self.b.reset_regs();
        let start = self.b.len();
        let n = c.spec.key.len() + c.spec.vary.len();
        let argc = u8::try_from(n + 1).unwrap_or(u8::MAX);
        let base = self.load_cache_args("store", c.spec, c.span);
        self.b.op(
            Op::Call {
                slot: c.slot,
                arg: base,
                argc,
            },
            c.span,
        );
        self.b.charge(start, c.span);
    }

    /// Ends a response or error program.
    pub(crate) fn done(&mut self, span: gw_syntax::Span) {
        self.b.op(Op::Done, span);
    }
}

/// `on error STATUS[, …] { … }` programs.
pub(crate) fn error_pages<'a>(
    g: &mut Global<'a>,
    pages: &[(&'a [gw_syntax::ast::Lit], &'a [gw_syntax::ast::Stmt], Span)],
) -> Vec<(Vec<u16>, gw_program::Program)> {
    let mut out = Vec::new();
    let mut seen: Vec<(u16, Span)> = Vec::new();
    for (statuses, body, span) in pages {
        let mut codes = Vec::new();
        for l in *statuses {
            let Some(s) = lits::status(&mut g.cx, l) else {
                continue;
            };
            if let Some((_, first)) = seen.iter().find(|(c, _)| *c == s) {
                g.cx.emit(
                    Diagnostic::error("E0202", l.span, format!("`on error {s}` is declared twice"))
                        .with_label("declared again here")
                        .with_secondary(*first, "first defined here"),
                );
                continue;
            }
            seen.push((s, l.span));
            codes.push(s);
        }
        let name = format!(
            "on error {}",
            codes
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let file = g.cx.file_name(*span);
        let (line, _) = g.cx.line_col(*span);
        let mut b = Builder::new(g.cx.sources, name.clone(), file, line);
        b.p.field_bounds = crate::route::field_bounds(g, None);
        let mut l = Lower {
            g,
            b,
            sc: Scope::new(Phase::Error, name.clone()),
        };
        l.response_stmts(&[(*body, None::<Origin>)]);
        l.done(*span);
        let Lower { g: g2, b, .. } = l;
        let p = route::finish(g2, b, &name, "error", crate::cost::DEFAULT_BUDGET, *span);
        out.push((codes, p));
    }
    out
}
