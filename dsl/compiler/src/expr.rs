//! Step 4 and 5 for expressions: type-check and lower in one walk, folding constants. Binary
//! operators are in `ops.rs`, strings and JSON templates in `template.rs`.

use gw_program::{Op, Value};
use gw_syntax::ast::{Expr, ExprKind, Ident, UnOp};
use gw_syntax::{Diagnostic, Span};

use crate::lits;
use crate::lower::{Lower, Opnd, Val};
use crate::scheme::{self, Seg};
use crate::types::Ty;

impl<'g, 'a> Lower<'g, 'a> {
    /// Type-checks and lowers an expression.
    pub(crate) fn expr(&mut self, e: &Expr) -> Val {
        match &e.kind {
            ExprKind::Lit(l) => {
                let (v, t) = lits::value(&l.value);
                Val::k(v, t)
            }
            ExprKind::Str(s) => self.string(s),
            ExprKind::Name(_) | ExprKind::Member(..) | ExprKind::Index(..) => match self.field(e) {
                Some(v) => v,
                None => self.not_a_field(e),
            },
            ExprKind::Call { func, args } => self.call(e, func, args),
            ExprKind::Unary(op, a) => self.unary(e, *op, a),
            ExprKind::Binary(op, a, b) => self.binary(e, *op, a, b),
            ExprKind::Ternary(c, a, b) => self.ternary(e, c, a, b),
            ExprKind::List(items) => {
                let mut vals = Vec::new();
                let mut elem = Ty::Err;
                for i in items {
                    let v = self.expr(i);
                    if v.ty.is_err() {
                        return Val::err();
                    }
                    match v.konst() {
                        Some(k) => {
                            if elem != Ty::Err && !elem.compatible(&v.ty) {
                                self.mismatch(
                                    i.span,
                                    &elem.to_string(),
                                    &v.ty,
                                    "list elements have one type",
                                );
                                return Val::err();
                            }
                            elem = v.ty.clone();
                            vals.push(k.clone());
                        }
                        None => {
                            self.emit(
                                Diagnostic::error(
                                    "E0301",
                                    i.span,
                                    "list elements must be constants",
                                )
                                .with_label("computed per request"),
                            );
                            return Val::err();
                        }
                    }
                }
                Val::k(Value::List(vals.into()), Ty::List(Box::new(elem)))
            }
        }
    }

    /// Type-checks `e` without keeping its code (dead branches, `when false`).
    pub(crate) fn dead(&mut self, e: &Expr) -> Ty {
        let (ops, locs) = (self.b.p.ops.len(), self.b.p.locs.len());
        let ty = self.expr(e).ty;
        self.b.p.ops.truncate(ops);
        self.b.p.locs.truncate(locs);
        ty
    }

    /// E0301 "expected X, found Y".
    pub(crate) fn mismatch(&mut self, span: Span, expected: &str, found: &Ty, label: &str) {
        self.emit(
            Diagnostic::error(
                "E0301",
                span,
                format!("mismatched types: expected `{expected}`, found `{found}`"),
            )
            .with_label(label.to_string()),
        );
    }

    /// E0302 when `v` may be absent. Returns whether `v` is usable as a value.
    pub(crate) fn value_needed(&mut self, v: &Val, e: &Expr) -> bool {
        if !v.ty.is_opt() || v.ty.is_err() {
            return true;
        }
        let d = crate::consts::may_be_absent(&self.g.cx, &self.g.syms.vars, e, &v.ty, true);
        self.emit(d);
        false
    }

    /// A condition: `bool`, present.
    pub(crate) fn condition(&mut self, e: &Expr) -> Val {
        let v = self.expr(e);
        if v.ty.is_err() {
            return v;
        }
        if *v.ty.base() != Ty::Bool {
            self.mismatch(e.span, "bool", &v.ty, "a condition must be `bool`");
            return Val::err();
        }
        if !self.value_needed(&v, e) {
            return Val::err();
        }
        v
    }

    fn not_a_field(&mut self, e: &Expr) -> Val {
        if let Some((root, segs)) = scheme::flatten(e) {
            if segs.is_empty() && !scheme::ROOTS.contains(&root.name.as_str()) {
                return self.unknown_name(e, root, "name");
            }
            if !scheme::ROOTS.contains(&root.name.as_str()) {
                return self.unknown_name(e, root, "field");
            }
        }
        match &e.kind {
            ExprKind::Member(base, name) => {
                let v = self.expr(base);
                self.member(v, &Seg::Name(name), e.span)
            }
            ExprKind::Index(base, ix) => {
                let v = self.expr(base);
                self.member(v, &Seg::Index(ix), e.span)
            }
            _ => Val::err(),
        }
    }

    fn unknown_name(&mut self, e: &Expr, root: &Ident, what: &str) -> Val {
        let text = self.g.cx.snippet(e.span).to_string();
        let mut d = Diagnostic::error("E0201", e.span, format!("unknown {what} `{text}`"))
            .with_label(format!("`{}` is not a field namespace", root.name));
        if let Some(s) = gw_syntax::diag::did_you_mean(&root.name, scheme::ROOTS.iter().copied()) {
            let fixed = text.replacen(&root.name, s, 1);
            d = d.with_help(format!("did you mean `{fixed}`?"));
        } else {
            d = d.with_help("fields start with req, path, query, header, cookie, client, claim, auth, key, body, var, resp, upstream, error");
        }
        self.emit(d);
        Val::err()
    }

    fn unary(&mut self, e: &Expr, op: UnOp, a: &Expr) -> Val {
        let v = self.expr(a);
        if v.ty.is_err() || !self.value_needed(&v, a) {
            return Val::err();
        }
        let (want, ok) = match op {
            UnOp::Not => ("bool", *v.ty.base() == Ty::Bool),
            UnOp::Neg => ("int", matches!(v.ty.base(), Ty::Int | Ty::Duration)),
        };
        if !ok {
            let sym = if op == UnOp::Not { "!" } else { "-" };
            self.mismatch(a.span, want, &v.ty, &format!("`{sym}` needs `{want}`"));
            return Val::err();
        }
        match (op, v.konst()) {
            (UnOp::Not, Some(Value::Bool(b))) => return Val::k(Value::Bool(!b), Ty::Bool),
            (UnOp::Neg, Some(Value::Int(i))) => {
                return Val::k(Value::Int(i.saturating_neg()), Ty::Int);
            }
            _ => {}
        }
        let src = self.reg_of(&v, a.span);
        let dst = self.b.reg();
        let o = if op == UnOp::Not {
            Op::Not { dst, a: src }
        } else {
            Op::Neg { dst, a: src }
        };
        self.b.op(o, e.span);
        Val {
            ty: v.ty.base().clone(),
            o: Opnd::R(dst),
        }
    }

    /// `dst = v`: a constant is loaded straight into `dst`.
    fn set_reg(&mut self, dst: gw_program::Reg, v: &Val, span: Span) {
        match &v.o {
            Opnd::K(k) => {
                let k = self.b.konst(k.clone());
                self.b.op(Op::LdConst { dst, k }, span);
            }
            Opnd::R(r) => self.b.op(Op::Mov { dst, src: *r }, span),
        }
    }

    fn ternary(&mut self, e: &Expr, c: &Expr, a: &Expr, b: &Expr) -> Val {
        let cv = self.condition(c);
        match cv.konst() {
            Some(Value::Bool(true)) => {
                self.dead(b);
                return self.expr(a);
            }
            Some(Value::Bool(false)) => {
                self.dead(a);
                return self.expr(b);
            }
            _ => {}
        }
        let rc = self.reg_of(&cv, c.span);
        let dst = self.b.reg();
        let to_else = self.b.jump(Op::Jz { r: rc, off: 0 }, e.span);
        let va = self.expr(a);
        self.set_reg(dst, &va, a.span);
        let to_end = self.b.jump(Op::Jmp { off: 0 }, e.span);
        self.b.land(to_else);
        let vb = self.expr(b);
        self.set_reg(dst, &vb, b.span);
        self.b.land(to_end);
        if !va.ty.compatible(&vb.ty) {
            self.mismatch(
                b.span,
                &va.ty.to_string(),
                &vb.ty,
                "both branches have one type",
            );
            return Val::err();
        }
        let ty = if va.ty.is_opt() || vb.ty.is_opt() {
            va.ty.base().clone().opt()
        } else {
            va.ty.clone()
        };
        Val {
            ty,
            o: Opnd::R(dst),
        }
    }
}
