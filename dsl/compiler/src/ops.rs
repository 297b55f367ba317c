//! Binary operators: typing (E0301/E0302/E0303), constant folding and op selection, with the
//! fused forms (`hdr.eq.const`, `*.const` compares, `coalesce` and `in` with constants).

use gw_program::{ArithOp, Op, StrOp, Value};
use gw_syntax::Diagnostic;
use gw_syntax::ast::{BinOp, Expr, ExprKind};

use crate::lower::{Lower, Opnd, Val};
use crate::types::Ty;

impl<'g, 'a> Lower<'g, 'a> {
    pub(crate) fn binary(&mut self, e: &Expr, op: BinOp, a: &Expr, b: &Expr) -> Val {
        match op {
            BinOp::And | BinOp::Or => return self.logic(e, op, a, b),
            BinOp::Coalesce => return self.coalesce(e, a, b),
            BinOp::In => return self.in_(e, a, b),
            BinOp::Matches => return self.matches(e, a, b),
            BinOp::Eq if self.is_plain_header(a) => {
                if let ExprKind::Str(s) = &b.kind
                    && let Some(text) = s.as_plain()
                {
                    return self.hdr_eq(e, a, &text);
                }
            }
            _ => {}
        }
        let va = self.expr(a);
        let vb = self.expr(b);
        if va.ty.is_err() || vb.ty.is_err() {
            return Val::err();
        }
        match op {
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::IEq => {
                self.compare(e, op, va, vb, b)
            }
            BinOp::Contains | BinOp::StartsWith | BinOp::EndsWith => {
                self.str_op(e, op, va, vb, a, b)
            }
            _ => self.arith(e, op, va, vb, a, b),
        }
    }

    fn logic(&mut self, e: &Expr, op: BinOp, a: &Expr, b: &Expr) -> Val {
        let va = self.condition(a);
        let short = if op == BinOp::And {
            Value::Bool(false)
        } else {
            Value::Bool(true)
        };
        match va.konst() {
            Some(k) if *k == short => {
                self.dead(b);
                return Val::k(short, Ty::Bool);
            }
            Some(Value::Bool(_)) => return self.condition(b),
            _ => {}
        }
        let ra = self.reg_of(&va, a.span);
        let j = if op == BinOp::And {
            Op::Jz { r: ra, off: 0 }
        } else {
            Op::Jnz { r: ra, off: 0 }
        };
        let skip = self.b.jump(j, e.span);
        let vb = self.condition(b);
        let rb = self.reg_of(&vb, b.span);
        self.b.op(Op::Mov { dst: ra, src: rb }, b.span);
        self.b.land(skip);
        if va.ty.is_err() || vb.ty.is_err() {
            return Val::err();
        }
        Val {
            ty: Ty::Bool,
            o: Opnd::R(ra),
        }
    }

    fn coalesce(&mut self, e: &Expr, a: &Expr, b: &Expr) -> Val {
        let va = self.expr(a);
        // A present constant (a var whose `env` is set) folds, and still types as `??` does,
        // so a file types the same whatever the environment of the machine compiling it.
        let folded = va.konst().is_some_and(|k| !k.is_absent());
        let vb = if folded {
            let ty = self.dead(b);
            Val {
                ty,
                o: Opnd::K(Value::Absent),
            }
        } else {
            self.expr(b)
        };
        if va.ty.is_err() || vb.ty.is_err() {
            return Val::err();
        }
        if !va.ty.compatible(&vb.ty) {
            self.mismatch(
                b.span,
                &va.ty.base().to_string(),
                &vb.ty,
                &format!("the default must be a `{}`", va.ty.base()),
            );
            return Val::err();
        }
        let base = if *va.ty.base() == Ty::Json && *vb.ty.base() != Ty::Json {
            Ty::Json
        } else {
            va.ty.base().clone()
        };
        let ty = if vb.ty.is_opt() { base.opt() } else { base };
        if folded {
            return Val { ty, o: va.o };
        }
        if va.konst().is_some() {
            return Val { ty, o: vb.o };
        }
        let ra = self.reg_of(&va, a.span);
        let dst = self.b.reg();
        match vb.konst() {
            Some(k) => {
                let k = self.b.konst(k.clone());
                self.b.op(Op::CoalesceConst { dst, a: ra, k }, e.span);
            }
            None => {
                let rb = self.reg_of(&vb, b.span);
                self.b.op(Op::Coalesce { dst, a: ra, b: rb }, e.span);
            }
        }
        Val {
            ty,
            o: Opnd::R(dst),
        }
    }

    fn str_op(&mut self, e: &Expr, op: BinOp, va: Val, vb: Val, a: &Expr, b: &Expr) -> Val {
        let list_contains = op == BinOp::Contains && matches!(va.ty.base(), Ty::List(_));
        let ok = if list_contains {
            matches!(va.ty.base(), Ty::List(t) if t.compatible(&vb.ty))
        } else {
            matches!(va.ty.base(), Ty::Str | Ty::Json) && matches!(vb.ty.base(), Ty::Str | Ty::Json)
        };
        if !ok {
            self.mismatch(
                e.span,
                "string",
                if matches!(va.ty.base(), Ty::Str | Ty::Json) {
                    &vb.ty
                } else {
                    &va.ty
                },
                &format!("`{}` works on strings", op.as_str()),
            );
            return Val::err();
        }
        if let (BinOp::Contains, Some(claim)) = (op, scope_claim(a)) {
            self.emit(
                Diagnostic::warning(
                    "W0101",
                    e.span,
                    format!("`contains` on `claim.{claim}` matches substrings"),
                )
                .with_label("a substring test: any scope containing this text passes")
                .with_help(format!(
                    "test the scope list instead: `{} in auth.scopes`",
                    self.g.cx.snippet(b.span)
                )),
            );
        }
        let sop = match op {
            BinOp::Contains => StrOp::Contains,
            BinOp::StartsWith => StrOp::StartsWith,
            _ => StrOp::EndsWith,
        };
        if let (Some(Value::Str(x)), Some(Value::Str(y))) = (va.konst(), vb.konst()) {
            let (x, y) = (x.as_str(), y.as_str());
            let r = match sop {
                StrOp::Contains => x.contains(y),
                StrOp::StartsWith => x.starts_with(y),
                StrOp::EndsWith => x.ends_with(y),
            };
            return Val::k(Value::Bool(r), Ty::Bool);
        }
        let ra = self.reg_of(&va, a.span);
        let rb = self.reg_of(&vb, b.span);
        let dst = self.b.reg();
        self.b.op(
            Op::Str {
                dst,
                op: sop,
                a: ra,
                b: rb,
            },
            e.span,
        );
        self.surcharge(&[ra, rb]);
        Val {
            ty: Ty::Bool,
            o: Opnd::R(dst),
        }
    }

    fn arith(&mut self, e: &Expr, op: BinOp, va: Val, vb: Val, a: &Expr, b: &Expr) -> Val {
        if !self.value_needed(&va, a) || !self.value_needed(&vb, b) {
            return Val::err();
        }
        let (ta, tb) = (va.ty.base().clone(), vb.ty.base().clone());
        let ty = match (op, &ta, &tb) {
            (BinOp::Add, Ty::Str, Ty::Str) => Ty::Str,
            (_, Ty::Int, Ty::Int) => Ty::Int,
            (BinOp::Add | BinOp::Sub, Ty::Duration, Ty::Duration) => Ty::Duration,
            (BinOp::Add | BinOp::Sub, Ty::Timestamp, Ty::Duration) => Ty::Timestamp,
            (BinOp::Sub, Ty::Timestamp, Ty::Timestamp) => Ty::Duration,
            _ => {
                self.emit(
                    Diagnostic::error(
                        "E0301",
                        e.span,
                        format!("mismatched types: `{ta}` {} `{tb}`", op.as_str()),
                    )
                    .with_label(format!("`{}` is not defined on these types", op.as_str())),
                );
                return Val::err();
            }
        };
        if let (Some(x), Some(y)) = (va.konst(), vb.konst()) {
            match (x, y) {
                (Value::Str(x), Value::Str(y)) => {
                    return Val::k(
                        Value::str(&format!("{}{}", x.as_str(), y.as_str())),
                        Ty::Str,
                    );
                }
                (Value::Int(x), Value::Int(y)) => {
                    let r = match op {
                        BinOp::Add => x.checked_add(*y),
                        BinOp::Sub => x.checked_sub(*y),
                        BinOp::Mul => x.checked_mul(*y),
                        BinOp::Div => x.checked_div(*y),
                        _ => x.checked_rem(*y),
                    };
                    match r {
                        Some(r) => return Val::k(Value::Int(r), Ty::Int),
                        None => {
                            self.emit(
                                Diagnostic::error(
                                    "E0304",
                                    e.span,
                                    "arithmetic overflow or division by zero",
                                )
                                .with_label("in this constant"),
                            );
                            return Val::err();
                        }
                    }
                }
                _ => {}
            }
        }
        let ra = self.reg_of(&va, a.span);
        let rb = self.reg_of(&vb, b.span);
        let dst = self.b.reg();
        if ty == Ty::Str {
            self.b.op(Op::Concat { dst, a: ra, b: rb }, e.span);
        } else {
            let aop = match op {
                BinOp::Add => ArithOp::Add,
                BinOp::Sub => ArithOp::Sub,
                BinOp::Mul => ArithOp::Mul,
                BinOp::Div => ArithOp::Div,
                _ => ArithOp::Rem,
            };
            self.b.op(
                Op::Arith {
                    dst,
                    op: aop,
                    a: ra,
                    b: rb,
                },
                e.span,
            );
        }
        Val {
            ty,
            o: Opnd::R(dst),
        }
    }
}

/// The scope claim (`scope` or `scp`) an expression reads, anywhere inside it
/// (`claim.scope`, `(claim.scope ?? "") + " "`, `lower(claim.scp)`).
fn scope_claim(e: &gw_syntax::ast::Expr) -> Option<&'static str> {
    use gw_syntax::ast::ExprKind;
    match &e.kind {
        ExprKind::Member(base, field) => match (&base.kind, field.name.as_str()) {
            (ExprKind::Name(root), "scope") if root.name == "claim" => Some("scope"),
            (ExprKind::Name(root), "scp") if root.name == "claim" => Some("scp"),
            _ => scope_claim(base),
        },
        ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
            scope_claim(a).or_else(|| scope_claim(b))
        }
        ExprKind::Unary(_, a) => scope_claim(a),
        ExprKind::Ternary(c, a, b) => scope_claim(c)
            .or_else(|| scope_claim(a))
            .or_else(|| scope_claim(b)),
        ExprKind::Call { args, .. } | ExprKind::List(args) => args.iter().find_map(scope_claim),
        ExprKind::Lit(_) | ExprKind::Str(_) | ExprKind::Name(_) => None,
    }
}
