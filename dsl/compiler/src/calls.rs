//! Function calls: the fixed standard library (`lower`, `len`, `int`, …), `has`, and
//! `upstream_healthy` (E0201 unknown function, E0301 arity and argument types).

use gw_program::{Builtin, Op, Value};
use gw_syntax::Diagnostic;
use gw_syntax::ast::{Expr, ExprKind, Ident};

use crate::lower::{Lower, Opnd, Val};
use crate::types::Ty;

/// Function names for did-you-mean.
const FUNCTIONS: &[&str] = &[
    "lower",
    "upper",
    "trim",
    "len",
    "int",
    "string",
    "url_encode",
    "url_decode",
    "base64_encode",
    "base64_decode",
    "sha256_hex",
    "now",
    "uuid",
    "split_first",
    "split_last",
    "has",
    "upstream_healthy",
    "file",
    "env",
];

impl<'g, 'a> Lower<'g, 'a> {
    pub(crate) fn call(&mut self, e: &Expr, func: &Ident, args: &[Expr]) -> Val {
        let name = func.name.as_str();
        match name {
            "has" => {
                let [x] = args else {
                    return self.arity(e, name, 1, args.len());
                };
                let v = self.expr(x);
                return match &v.o {
                    _ if v.ty.is_err() => Val::err(),
                    Opnd::K(k) => Val::k(Value::Bool(!k.is_absent()), Ty::Bool),
                    Opnd::R(r) => {
                        let dst = self.b.reg();
                        self.b.op(Op::Has { dst, a: *r }, e.span);
                        Val {
                            ty: Ty::Bool,
                            o: Opnd::R(dst),
                        }
                    }
                };
            }
            "env" => {
                self.emit(
                    Diagnostic::error("E0304", e.span, "`env()` is read once, at load")
                        .with_label("not available per request")
                        .with_help("define it in `vars { name = env(\"X\") ?? \"default\" }` and read `var.name`"),
                );
                return Val::err();
            }
            "file" => {
                self.emit(
                    Diagnostic::error("E0301", e.span, "`file(…)` is a set").with_label(
                        "use it on the right of `in`: `client.ip in file(\"deny.txt\")`",
                    ),
                );
                return Val::err();
            }
            "upstream_healthy" => {
                let [x] = args else {
                    return self.arity(e, name, 1, args.len());
                };
                let ExprKind::Name(n) = &x.kind else {
                    self.mismatch(
                        x.span,
                        "upstream name",
                        &Ty::Err,
                        "write `upstream_healthy(NAME)`",
                    );
                    return Val::err();
                };
                let Some(id) = self.g.syms.upstreams.resolve(&mut self.g.cx, n) else {
                    return Val::err();
                };
                let arg = self.b.reg();
                let k = self.b.konst(Value::Int(i64::from(id)));
                self.b.op(Op::LdConst { dst: arg, k }, x.span);
                let dst = self.b.reg();
                self.b.op(
                    Op::CallFn {
                        dst,
                        func: Builtin::UpstreamHealthy,
                        arg,
                        argc: 1,
                    },
                    e.span,
                );
                return Val {
                    ty: Ty::Bool,
                    o: Opnd::R(dst),
                };
            }
            _ => {}
        }
        let Some(f) = Builtin::from_name(name).filter(|b| *b != Builtin::UpstreamHealthy) else {
            let mut d = Diagnostic::error("E0201", func.span, format!("unknown function `{name}`"))
                .with_label("not in the standard library");
            d = match gw_syntax::diag::did_you_mean(name, FUNCTIONS.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("functions: {}", FUNCTIONS.join(", "))),
            };
            self.emit(d);
            return Val::err();
        };
        let argc = f.arity();
        if args.len() != usize::from(argc) {
            return self.arity(e, name, argc.into(), args.len());
        }
        let mut srcs = Vec::new();
        let mut failed = false;
        for a in args {
            let v = self.expr(a);
            failed |= v.ty.is_err() || !self.value_needed(&v, a);
            let want = match f {
                Builtin::Len => matches!(v.ty.base(), Ty::Str | Ty::List(_) | Ty::Json),
                Builtin::ToString => true,
                _ => matches!(v.ty.base(), Ty::Str | Ty::Json),
            };
            if !want && !v.ty.is_err() {
                self.mismatch(
                    a.span,
                    "string",
                    &v.ty,
                    &format!("`{name}` takes a string here"),
                );
                failed = true;
            }
            srcs.push(self.reg_of(&v, a.span));
        }
        if failed {
            return Val::err();
        }
        let ty = match f {
            Builtin::Len => Ty::Int,
            Builtin::ToInt => Ty::Int.opt(),
            Builtin::Base64Decode | Builtin::UrlDecode => Ty::Str.opt(),
            Builtin::Now => Ty::Timestamp,
            _ => Ty::Str,
        };
        let base = self.window(&srcs, e.span);
        let dst = self.b.reg();
        self.b.op(
            Op::CallFn {
                dst,
                func: f,
                arg: base,
                argc,
            },
            e.span,
        );
        self.surcharge(&srcs);
        Val {
            ty,
            o: Opnd::R(dst),
        }
    }

    pub(crate) fn arity(&mut self, e: &Expr, name: &str, want: usize, got: usize) -> Val {
        let s = if want == 1 { "" } else { "s" };
        self.emit(
            Diagnostic::error(
                "E0301",
                e.span,
                format!("`{name}` takes {want} argument{s}, found {got}"),
            )
            .with_label("wrong number of arguments"),
        );
        Val::err()
    }
}
