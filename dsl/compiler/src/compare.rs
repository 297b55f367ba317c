//! Comparisons (`==`, `<`, `~=`, …): typing, folding, `*.const` forms and the fused
//! `hdr.eq.const`.

use gw_program::{CmpOp, Op, Value};
use gw_syntax::Diagnostic;
use gw_syntax::ast::{BinOp, Expr};

use crate::lower::{Lower, Opnd, Val};
use crate::scheme;
use crate::types::Ty;

impl<'g, 'a> Lower<'g, 'a> {
    pub(crate) fn is_plain_header(&self, a: &Expr) -> bool {
        match scheme::flatten(a) {
            Some((root, segs)) if root.name == "header" && segs.len() == 1 => match segs.first() {
                Some(scheme::Seg::Name(n)) => {
                    let key = format!("header.{}", n.name.to_ascii_lowercase());
                    !self.sc.retyped.iter().any(|r| r.key == key)
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// `header.x == "const"` as one fused op.
    pub(crate) fn hdr_eq(&mut self, e: &Expr, a: &Expr, text: &str) -> Val {
        let Some((_, segs)) = scheme::flatten(a) else {
            return Val::err();
        };
        let Some(scheme::Seg::Name(n)) = segs.first() else {
            return Val::err();
        };
        let h = self.name_const(&n.name.to_ascii_lowercase());
        let k = self.b.konst(Value::str(text));
        let dst = self.b.reg();
        self.b.op(Op::HdrEqConst { dst, h, k }, e.span);
        Val {
            ty: Ty::Bool,
            o: Opnd::R(dst),
        }
    }

    pub(crate) fn compare(&mut self, e: &Expr, op: BinOp, va: Val, vb: Val, b: &Expr) -> Val {
        if !va.ty.compatible(&vb.ty) {
            self.emit(
                Diagnostic::error(
                    "E0301",
                    e.span,
                    format!(
                        "mismatched types: cannot compare `{}` with `{}`",
                        va.ty, vb.ty
                    ),
                )
                .with_label(format!("`{}` {} `{}`", va.ty, op.as_str(), vb.ty))
                .with_note(format!(
                    "the right side `{}` is a `{}`",
                    self.g.cx.snippet(b.span),
                    vb.ty
                )),
            );
            return Val::err();
        }
        let ordered = matches!(op, BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge);
        if ordered && !(va.ty.ordered() && vb.ty.ordered()) {
            self.mismatch(
                e.span,
                "int, duration, size, timestamp or string",
                &va.ty,
                &format!("`{}` is not ordered", va.ty),
            );
            return Val::err();
        }
        if op == BinOp::IEq && !matches!(va.ty.base(), Ty::Str | Ty::Json) {
            self.mismatch(e.span, "string", &va.ty, "`~=` compares strings");
            return Val::err();
        }
        let cmp = match op {
            BinOp::Eq => CmpOp::Eq,
            BinOp::Ne => CmpOp::Ne,
            BinOp::Lt => CmpOp::Lt,
            BinOp::Le => CmpOp::Le,
            BinOp::Gt => CmpOp::Gt,
            BinOp::Ge => CmpOp::Ge,
            _ => CmpOp::IEq,
        };
        if let (Some(x), Some(y)) = (va.konst(), vb.konst())
            && let Some(r) = fold_cmp(cmp, x, y)
        {
            return Val::k(Value::Bool(r), Ty::Bool);
        }
        let dst = self.b.reg();
        match (&va.o, &vb.o) {
            (Opnd::R(a), Opnd::K(k)) => {
                let k = self.b.konst(k.clone());
                self.b.op(
                    Op::CmpConst {
                        dst,
                        op: cmp,
                        a: *a,
                        k,
                    },
                    e.span,
                );
                self.surcharge(&[*a]);
            }
            (Opnd::K(k), Opnd::R(r)) => {
                let k = self.b.konst(k.clone());
                self.b.op(
                    Op::CmpConst {
                        dst,
                        op: flip(cmp),
                        a: *r,
                        k,
                    },
                    e.span,
                );
                self.surcharge(&[*r]);
            }
            _ => {
                let ra = self.reg_of(&va, e.span);
                let rb = self.reg_of(&vb, e.span);
                self.b.op(
                    Op::Cmp {
                        dst,
                        op: cmp,
                        a: ra,
                        b: rb,
                    },
                    e.span,
                );
                self.surcharge(&[ra, rb]);
            }
        }
        Val {
            ty: Ty::Bool,
            o: Opnd::R(dst),
        }
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        o => o,
    }
}

fn fold_cmp(op: CmpOp, x: &Value, y: &Value) -> Option<bool> {
    use std::cmp::Ordering;
    if x.is_absent() || y.is_absent() {
        return Some(op == CmpOp::Ne);
    }
    let ord: Option<Ordering> = match (x, y) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Duration(a), Value::Duration(b)) | (Value::Size(a), Value::Size(b)) => {
            Some(a.cmp(b))
        }
        (Value::Str(a), Value::Str(b)) => {
            if op == CmpOp::IEq {
                return Some(a.as_str().eq_ignore_ascii_case(b.as_str()));
            }
            Some(a.as_str().cmp(b.as_str()))
        }
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    let ord = ord?;
    Some(match op {
        CmpOp::Eq | CmpOp::IEq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(crate) fn folds_constant_comparisons() {
        assert_eq!(
            fold_cmp(CmpOp::Lt, &Value::Int(1), &Value::Int(2)),
            Some(true)
        );
        assert_eq!(
            fold_cmp(CmpOp::Eq, &Value::str("a"), &Value::str("b")),
            Some(false)
        );
        assert_eq!(
            fold_cmp(CmpOp::IEq, &Value::str("AbC"), &Value::str("abc")),
            Some(true)
        );
        assert_eq!(
            fold_cmp(CmpOp::Ne, &Value::Absent, &Value::Int(1)),
            Some(true)
        );
        assert_eq!(
            fold_cmp(CmpOp::Eq, &Value::Absent, &Value::Int(1)),
            Some(false)
        );
        assert_eq!(flip(CmpOp::Lt), CmpOp::Gt);
    }
}
