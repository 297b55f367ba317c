//! Request statements without plugins: `require`, `set/append/remove header`, `set/remove
//! query`, and the cache-before-check rule (E0503).

use gw_program::{Op, Value};
use gw_syntax::Diagnostic;
use gw_syntax::Span;
use gw_syntax::ast::{Expr, HeaderOp, Ident, Stmt};

use crate::lower::{Lower, Opnd, Phase, Val};
use crate::types::Ty;

/// Headers gw computes itself; a config may not set them.
const MANAGED_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
];

impl<'g, 'a> Lower<'g, 'a> {
    pub(crate) fn require(
        &mut self,
        s: &Stmt,
        cond: &Expr,
        status: Option<&gw_syntax::ast::Lit>,
        message: Option<&gw_syntax::ast::StrLit>,
    ) {
        self.deny_after_cache(s.span);
        let status = status
            .and_then(|l| crate::lits::status(&mut self.g.cx, l))
            .unwrap_or(403);
        let msg = match message {
            None => gw_program::NONE,
            Some(m) => match m.as_plain() {
                Some(t) => self.b.msg(t),
                None => {
                    self.emit(
                        Diagnostic::error("E0301", m.span, "a deny message is a plain string")
                            .with_label("no `{…}` here"),
                    );
                    gw_program::NONE
                }
            },
        };
        let v = self.condition(cond);
        match v.konst() {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => self.b.op(Op::Deny { status, msg }, s.span),
            _ if v.ty.is_err() => {}
            _ => {
                let r = self.reg_of(&v, cond.span);
                self.b.op(Op::DenyIfNot { r, status, msg }, s.span);
            }
        }
    }

    /// `set/append/remove header` in the request (`resp`: in the response).
    pub(crate) fn header(
        &mut self,
        span: Span,
        op: HeaderOp,
        name: &Ident,
        value: Option<&Expr>,
        resp: bool,
    ) {
        let hname = name.name.to_ascii_lowercase();
        if MANAGED_HEADERS.contains(&hname.as_str()) {
            self.emit(
                Diagnostic::error("E0304", name.span, format!("`{hname}` is managed by gw"))
                    .with_label("cannot be set or removed")
                    .with_help("gw computes framing headers from the message it sends"),
            );
            return;
        }
        let h = self.name_const(&hname);
        let Some(value) = value.filter(|_| op != HeaderOp::Remove) else {
            let o = if resp {
                Op::RespHdrDel { h }
            } else {
                Op::HdrDel { h }
            };
            self.b.op(o, span);
            return;
        };
        let v = self.expr(value);
        if v.ty.is_err() || !self.const_present(&v, value) {
            return;
        }
        if matches!(v.ty.base(), Ty::List(_)) {
            self.mismatch(value.span, "string", &v.ty, "a header value is one string");
            return;
        }
        if let (Opnd::K(k), false, HeaderOp::Set) = (&v.o, resp, op) {
            let k = self.b.konst(Value::str(&crate::consts::display(k)));
            self.b.op(Op::HdrSetConst { h, k }, span);
            return;
        }
        let r = self.reg_of(&v, value.span);
        let bound = v.ty.text_bound().min(self.loaded_bound(r));
        self.b.p.out_bound = self.b.p.out_bound.saturating_add(bound);
        let o = match (resp, op) {
            (false, HeaderOp::Append) => Op::HdrAdd { h, r },
            (false, _) => Op::HdrSet { h, r },
            (true, HeaderOp::Append) => Op::RespHdrAdd { h, r },
            (true, _) => Op::RespHdrSet { h, r },
        };
        self.b.op(o, span);
    }

    pub(crate) fn query(&mut self, span: Span, op: HeaderOp, name: &Ident, value: Option<&Expr>) {
        let q = self.name_const(&name.name);
        let Some(value) = value.filter(|_| op != HeaderOp::Remove) else {
            self.b.op(Op::QueryDel { q }, span);
            return;
        };
        let v = self.expr(value);
        if v.ty.is_err() || !self.const_present(&v, value) {
            return;
        }
        if matches!(v.ty.base(), Ty::List(_)) {
            self.mismatch(value.span, "string", &v.ty, "a query value is one string");
            return;
        }
        let r = self.reg_of(&v, value.span);
        self.b.op(Op::QuerySet { q, r }, span);
    }

    /// A header or query edit takes a request's absent value as "remove the field", but a
    /// constant that may be absent (`var.X` from `env("X")` without `??`) is decided at load,
    /// not per request: E0302 by its type, whether or not the variable is set here.
    fn const_present(&mut self, v: &Val, e: &Expr) -> bool {
        !matches!(v.o, Opnd::K(_)) || self.value_needed(v, e)
    }

    /// E0503: an `auth` or `require` after a `cache` (a hit would skip it).
    pub(crate) fn deny_after_cache(&mut self, span: Span) {
        if self.sc.phase != Phase::Request {
            return;
        }
        for c in self.sc.facts.caches.clone() {
            self.emit(
                Diagnostic::error("E0503", c, "`cache` runs before this route's checks")
                    .with_label("a cache hit responds here")
                    .with_secondary(span, "so this check would be skipped")
                    .with_help("move `cache` below every `auth` and `require`"),
            );
        }
        self.sc.facts.caches.clear();
    }
}
