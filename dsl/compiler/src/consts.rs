//! Compile-time constants: `vars { }` (with `env("X")` read at load) and the constant
//! arguments of declaration settings (`issuer var.issuer`).

use std::cell::Cell;

use gw_program::Value;
use gw_syntax::ast::{BinOp, Expr, ExprKind, StrLit, StrPart, VarDef};
use gw_syntax::{Diagnostic, Span};

use crate::ctx::Ctx;
use crate::lits;
use crate::types::Ty;

/// One `vars { }` entry, folded.
#[derive(Debug)]
pub(crate) struct Var {
    pub name: String,
    pub span: Span,
    pub value: Value,
    pub ty: Ty,
    pub used: Cell<bool>,
}

/// Every var of the configuration, in definition order.
#[derive(Debug, Default)]
pub(crate) struct Vars {
    pub list: Vec<Var>,
    index: ahash::AHashMap<String, usize>,
}

impl Vars {
    pub(crate) fn get(&self, name: &str) -> Option<&Var> {
        self.index.get(name).and_then(|i| self.list.get(*i))
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|v| v.name.as_str())
    }

    /// Folds every definition in order; a var may use the vars defined before it.
    pub(crate) fn build(cx: &mut Ctx<'_>, defs: &[&VarDef]) -> Vars {
        let mut vars = Vars::default();
        for d in defs {
            if let Some(first) = vars.get(&d.name.name) {
                cx.emit(
                    Diagnostic::error(
                        "E0202",
                        d.name.span,
                        format!("var `{}` is defined twice", d.name.name),
                    )
                    .with_label("defined again here")
                    .with_secondary(first.span, "first defined here"),
                );
                continue;
            }
            let (value, ty) = match eval(cx, &vars, &d.value) {
                Some(v) => v,
                None => (Value::Absent, Ty::Err),
            };
            vars.index.insert(d.name.name.clone(), vars.list.len());
            vars.list.push(Var {
                name: d.name.name.clone(),
                span: d.name.span,
                value,
                ty,
                used: Cell::new(false),
            });
        }
        vars
    }

    /// The var `e` reads, when it is `var.NAME`.
    pub(crate) fn of_expr(&self, e: &Expr) -> Option<&Var> {
        match &e.kind {
            ExprKind::Member(base, field) => match &base.kind {
                ExprKind::Name(root) if root.name == "var" => self.get(&field.name),
                _ => None,
            },
            _ => None,
        }
    }

    /// Resolves `var.NAME`, reporting an unknown name (E0201).
    pub(crate) fn lookup(&self, cx: &mut Ctx<'_>, name: &str, span: Span) -> Option<(Value, Ty)> {
        match self.get(name) {
            Some(v) => {
                v.used.set(true);
                Some((v.value.clone(), v.ty.clone()))
            }
            None => {
                let mut d = Diagnostic::error("E0201", span, format!("unknown var `{name}`"))
                    .with_label("not defined in `vars { }`");
                if let Some(s) = gw_syntax::diag::did_you_mean(name, self.names()) {
                    d = d.with_help(format!("did you mean `var.{s}`?"));
                }
                cx.emit(d);
                None
            }
        }
    }
}

/// Evaluates a constant expression: literals, strings, lists, `var.X`, `env("X")`, `??`, and
/// string `+`. Anything else is E0304 "expected a constant".
pub(crate) fn eval(cx: &mut Ctx<'_>, vars: &Vars, e: &Expr) -> Option<(Value, Ty)> {
    match &e.kind {
        ExprKind::Lit(l) => Some(lits::value(&l.value)),
        ExprKind::Str(s) => eval_str(cx, vars, s).map(|s| (Value::str(&s), Ty::Str)),
        ExprKind::Member(base, field) => match &base.kind {
            ExprKind::Name(root) if root.name == "var" => vars.lookup(cx, &field.name, e.span),
            _ => not_const(cx, e),
        },
        ExprKind::Call { func, args } if func.name == "env" => {
            let name = match args.as_slice() {
                [
                    Expr {
                        kind: ExprKind::Str(s),
                        ..
                    },
                ] => s.as_plain(),
                _ => None,
            };
            let Some(name) = name else {
                cx.emit(
                    Diagnostic::error("E0301", e.span, "`env` takes one string literal")
                        .with_label("expected `env(\"NAME\")`"),
                );
                return None;
            };
            match (cx.opts.env)(&name) {
                Some(v) => Some((Value::str(&v), Ty::Str.opt())),
                None => Some((Value::Absent, Ty::Str.opt())),
            }
        }
        ExprKind::Binary(BinOp::Coalesce, a, b) => {
            let (va, ta) = eval(cx, vars, a)?;
            let (vb, tb) = eval(cx, vars, b)?;
            let ty = if tb.is_opt() {
                ta.base().clone().opt()
            } else {
                tb.base().clone()
            };
            if va.is_absent() {
                Some((vb, ty))
            } else {
                Some((va, ty))
            }
        }
        ExprKind::Binary(BinOp::Add, a, b) => {
            let (va, _) = required(cx, vars, a)?;
            let (vb, _) = required(cx, vars, b)?;
            match (&va, &vb) {
                (Value::Str(x), Value::Str(y)) => Some((
                    Value::str(&format!("{}{}", x.as_str(), y.as_str())),
                    Ty::Str,
                )),
                (Value::Int(x), Value::Int(y)) => Some((Value::Int(x.saturating_add(*y)), Ty::Int)),
                _ => not_const(cx, e),
            }
        }
        ExprKind::List(items) => {
            let mut out = Vec::new();
            let mut elem = Ty::Err;
            for i in items {
                let (v, t) = eval(cx, vars, i)?;
                elem = t;
                out.push(v);
            }
            Some((Value::List(out.into()), Ty::List(Box::new(elem))))
        }
        _ => not_const(cx, e),
    }
}

/// A constant where a value is required (a setting, `+`, an interpolation). One that may be
/// absent (`env("X")` without `??`, or a var defined from one) is E0302 by its type, whether
/// or not the variable is set where the compiler runs.
pub(crate) fn required(cx: &mut Ctx<'_>, vars: &Vars, e: &Expr) -> Option<(Value, Ty)> {
    let (v, ty) = eval(cx, vars, e)?;
    if ty.is_opt() {
        cx.emit(may_be_absent(cx, vars, e, &ty, false));
        return None;
    }
    Some((v, ty))
}

/// E0302 "`X` may be absent"; `guard` offers `when has(X)` (route statements have guards,
/// settings do not). A var gets a label where it is defined.
pub(crate) fn may_be_absent(
    cx: &Ctx<'_>,
    vars: &Vars,
    e: &Expr,
    ty: &Ty,
    guard: bool,
) -> Diagnostic {
    let text = cx.snippet(e.span);
    let help = if guard {
        format!("give a default with `{text} ?? …`, or guard the statement with `when has({text})`")
    } else {
        format!("give a default with `{text} ?? …`")
    };
    let mut d = Diagnostic::error("E0302", e.span, format!("`{text}` may be absent"))
        .with_label(format!("this is `{ty}`"))
        .with_help(help);
    if let Some(var) = vars.of_expr(e) {
        d = d.with_secondary(
            var.span,
            format!("`{}` is defined here as `{}`", var.name, var.ty),
        );
    }
    d
}

fn not_const(cx: &mut Ctx<'_>, e: &Expr) -> Option<(Value, Ty)> {
    cx.emit(
        Diagnostic::error("E0304", e.span, "expected a constant")
            .with_label("this is computed per request")
            .with_help("settings and vars take literals, `var.NAME` and `env(\"NAME\")`"),
    );
    None
}

/// A string whose interpolations are all constants.
pub(crate) fn eval_str(cx: &mut Ctx<'_>, vars: &Vars, s: &StrLit) -> Option<String> {
    let mut out = String::new();
    for p in &s.parts {
        match p {
            StrPart::Text(t) => out.push_str(t),
            StrPart::Interp(e) => {
                let (v, _) = required(cx, vars, e)?;
                out.push_str(&display(&v));
            }
        }
    }
    Some(out)
}

/// The text form of a constant (as interpolation writes it).
pub(crate) fn display(v: &Value) -> String {
    match v {
        Value::Absent => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Str(s) => s.as_str().to_string(),
        Value::Duration(ms) => format!("{ms}ms"),
        Value::Size(b) => b.to_string(),
        Value::Timestamp(t) => t.to_string(),
        Value::Ip(ip) => ip.to_string(),
        Value::Cidr(ip, p) => format!("{ip}/{p}"),
        Value::Rate { count, per_ms } => format!("{count}/{per_ms}ms"),
        Value::List(items) => {
            let parts: Vec<String> = items.iter().map(json_text).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Json(_) => json_text(v),
    }
}

/// The JSON text of a constant (templates, plugin args).
pub(crate) fn json_text(v: &Value) -> String {
    match v {
        Value::Absent => "null".into(),
        Value::Str(s) => quote(s.as_str()),
        Value::Bool(_) | Value::Int(_) | Value::Size(_) | Value::Timestamp(_) => display(v),
        Value::Duration(ms) => ms.to_string(),
        Value::List(items) => {
            let parts: Vec<String> = items.iter().map(json_text).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Json(j) => crate::template::json_of(j),
        Value::Ip(_) | Value::Cidr(..) | Value::Rate { .. } => quote(&display(v)),
    }
}

/// A JSON string literal (RFC 8259 escaping).
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_json_strings() {
        assert_eq!(quote("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
        assert_eq!(
            json_text(&Value::List(vec![Value::Int(1), Value::str("x")].into())),
            "[1,\"x\"]"
        );
        assert_eq!(display(&Value::Bool(true)), "true");
    }
}
