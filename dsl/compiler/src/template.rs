//! Interpolated strings (`"/pets/{path.id}"`) and typed JSON templates (`json { … }`), with
//! their output bounds (E0602 over [`MAX_TEMPLATE`]).

use gw_program::{Json, Op, Template, TplPart, Value};
use gw_syntax::ast::{StrLit, StrPart, Template as AstTemplate, TemplateKey, TemplateValue};
use gw_syntax::{Diagnostic, Span};

use crate::consts;
use crate::lower::{Lower, Opnd, Val};
use crate::types::Ty;

/// Largest output one template may produce (E0602 above).
pub(crate) const MAX_TEMPLATE: u32 = 64 * 1024;

/// A template being assembled: text runs and register parts.
struct Parts {
    parts: Vec<TplPart>,
    bound: u32,
}

impl Parts {
    fn new() -> Self {
        Parts {
            parts: Vec::new(),
            bound: 0,
        }
    }

    fn text(&mut self, t: &str) {
        self.bound = self
            .bound
            .saturating_add(u32::try_from(t.len()).unwrap_or(u32::MAX));
        if let Some(TplPart::Text(last)) = self.parts.last_mut() {
            last.push_str(t);
        } else if !t.is_empty() {
            self.parts.push(TplPart::Text(t.to_string()));
        }
    }

    /// `loaded` is the bound of what loaded the register (`request.id` 200 bytes).
    fn reg(&mut self, r: u8, json: bool, ty: &Ty, loaded: u32) {
        // A value is counted at the smaller of its type's bound (strings at the 8 KiB input
        // limit) and its load's bound, plus the quotes of a JSON string; escaping is not
        // counted: the limit is a sanity bound.
        let text = ty.text_bound().min(loaded);
        let b = if json { text.saturating_add(2) } else { text };
        self.bound = self.bound.saturating_add(b);
        self.parts.push(TplPart::Reg { r, json });
    }

    /// A value written into a path: each byte may become a three-byte escape.
    fn path_reg(&mut self, r: u8, segments: bool, ty: &Ty, loaded: u32) {
        let text = ty.text_bound().min(loaded);
        self.bound = self.bound.saturating_add(text.saturating_mul(3));
        self.parts.push(TplPart::Path { r, segments });
    }

    fn is_const(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, TplPart::Text(_)))
    }

    fn const_text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                TplPart::Text(t) => Some(t.as_str()),
                TplPart::Reg { .. } | TplPart::Path { .. } => None,
            })
            .collect()
    }
}

impl<'g, 'a> Lower<'g, 'a> {
    /// A string literal: a constant, or `tpl.build` when it interpolates values.
    pub(crate) fn string(&mut self, s: &StrLit) -> Val {
        self.string_for(s, false)
    }

    /// The string of `rewrite path`: the literal text is the path as written, each value is
    /// percent-encoded for a path segment. The greedy parameter (`{rest+}`) keeps its slashes,
    /// so `"/v2/{path.rest}"` forwards the segments the router matched; constants (`vars`)
    /// are the operator's text and stay as written.
    pub(crate) fn path_string(&mut self, s: &StrLit) -> Val {
        self.string_for(s, true)
    }

    fn string_for(&mut self, s: &StrLit, path: bool) -> Val {
        let mut parts = Parts::new();
        let mut failed = false;
        for p in &s.parts {
            match p {
                StrPart::Text(t) => parts.text(t),
                StrPart::Interp(e) => {
                    let v = self.expr(e);
                    if v.ty.is_err() || !self.value_needed(&v, e) {
                        failed = true;
                        continue;
                    }
                    match &v.o {
                        Opnd::K(k) => parts.text(&consts::display(k)),
                        Opnd::R(r) if path => {
                            let segments = self.is_greedy_param(e);
                            parts.path_reg(*r, segments, &v.ty, self.loaded_bound(*r));
                        }
                        Opnd::R(r) => parts.reg(*r, false, &v.ty, self.loaded_bound(*r)),
                    }
                }
            }
        }
        if failed {
            return Val::err();
        }
        if parts.is_const() {
            return Val::k(Value::str(&parts.const_text()), Ty::Str);
        }
        let display = self.display(s.span);
        let Some(tpl) = self.finish_template(parts, display, s.span) else {
            return Val::err();
        };
        let dst = self.b.reg();
        self.b.op(Op::TplBuild { dst, tpl }, s.span);
        Val {
            ty: Ty::Str,
            o: Opnd::R(dst),
        }
    }

    /// A JSON template; returns its pool index (values are loaded into registers first).
    pub(crate) fn json_template(&mut self, t: &AstTemplate) -> Option<u16> {
        let mut parts = Parts::new();
        self.object(t, &mut parts);
        let display = self.display(t.span);
        self.finish_template(parts, display, t.span)
    }

    /// A constant string as a one-part template (for `respond … text "…"`).
    pub(crate) fn text_template(&mut self, s: &StrLit) -> Option<u16> {
        let v = self.string(s);
        if v.ty.is_err() {
            return None;
        }
        let mut parts = Parts::new();
        match &v.o {
            Opnd::K(k) => parts.text(&consts::display(k)),
            Opnd::R(r) => parts.reg(*r, false, &Ty::Str, self.loaded_bound(*r)),
        }
        let display = self.display(s.span);
        self.finish_template(parts, display, s.span)
    }

    fn object(&mut self, t: &AstTemplate, parts: &mut Parts) {
        parts.text("{");
        for (i, (k, v)) in t.fields.iter().enumerate() {
            if i > 0 {
                parts.text(",");
            }
            let key = match k {
                TemplateKey::Ident(id) => id.name.clone(),
                TemplateKey::Str(s) => s.as_plain().unwrap_or_default(),
            };
            parts.text(&consts::quote(&key));
            parts.text(":");
            self.value(v, parts);
        }
        parts.text("}");
    }

    fn value(&mut self, v: &TemplateValue, parts: &mut Parts) {
        match v {
            TemplateValue::Object(t) => self.object(t, parts),
            TemplateValue::List(items, _) => {
                parts.text("[");
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        parts.text(",");
                    }
                    self.value(it, parts);
                }
                parts.text("]");
            }
            TemplateValue::Expr(e) => {
                let val = self.expr(e);
                match &val.o {
                    Opnd::K(k) => parts.text(&consts::json_text(k)),
                    Opnd::R(r) => parts.reg(*r, true, &val.ty, self.loaded_bound(*r)),
                }
            }
        }
    }

    /// `path.NAME` where NAME is the route's greedy `{NAME+}`.
    fn is_greedy_param(&self, e: &gw_syntax::ast::Expr) -> bool {
        use gw_syntax::ast::ExprKind;
        let ExprKind::Member(root, name) = &e.kind else {
            return false;
        };
        matches!(&root.kind, ExprKind::Name(n) if n.name == "path")
            && self.sc.greedy.as_deref() == Some(name.name.as_str())
    }

    /// The text bound of a register just loaded (gw-program's per-register bounds, which
    /// the cost model uses too).
    pub(crate) fn loaded_bound(&self, r: u8) -> u32 {
        let b = gw_program::cost::bound_after(&self.b.p, r);
        u32::try_from(b).unwrap_or(u32::MAX)
    }

    fn finish_template(&mut self, parts: Parts, display: String, span: Span) -> Option<u16> {
        if parts.bound > MAX_TEMPLATE {
            self.emit(
                Diagnostic::error(
                    "E0602",
                    span,
                    format!(
                        "template output may reach {} bytes, over the {} KiB limit",
                        parts.bound,
                        MAX_TEMPLATE / 1024
                    ),
                )
                .with_label("too large")
                .with_help("interpolate fewer unbounded values (each string counts as 8 KiB)"),
            );
            return None;
        }
        self.b.p.out_bound = self.b.p.out_bound.saturating_add(parts.bound);
        Some(self.b.template(Template {
            parts: parts.parts,
            display,
        }))
    }

    /// Source text of a template for disasm, whitespace collapsed and shortened.
    fn display(&self, span: Span) -> String {
        let raw = self.g.cx.snippet(span);
        let mut out = String::new();
        let mut space = false;
        for ch in raw.chars() {
            if ch.is_whitespace() {
                space = true;
                continue;
            }
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(ch);
        }
        if out.chars().count() > 60 {
            let cut: String = out.chars().take(57).collect();
            return format!("{cut}...");
        }
        out
    }
}

/// Compact JSON text of a JSON value.
pub(crate) fn json_of(j: &Json) -> String {
    match j {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => {
            if n.fract() == 0.0 && n.abs() < 1e15 {
                format!("{}", *n as i64)
            } else {
                n.to_string()
            }
        }
        Json::String(s) => consts::quote(s.as_str()),
        Json::Array(items) => format!(
            "[{}]",
            items.iter().map(json_of).collect::<Vec<_>>().join(",")
        ),
        Json::Object(fields) => {
            let f: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}:{}", consts::quote(k.as_str()), json_of(v)))
                .collect();
            format!("{{{}}}", f.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gw_program::Str;

    #[test]
    fn renders_json_values() {
        let obj = Json::Object(
            vec![(
                Str::new("a"),
                Json::Array(vec![Json::Number(1.0), Json::Null].into()),
            )]
            .into(),
        );
        assert_eq!(json_of(&obj), r#"{"a":[1,null]}"#);
        assert_eq!(json_of(&Json::Number(1.5)), "1.5");
    }

    #[test]
    fn parts_merge_text_and_bound_registers() {
        let mut p = Parts::new();
        p.text("/pets/");
        p.text("x");
        p.reg(0, false, &Ty::Int, u32::MAX);
        p.reg(1, true, &Ty::Str, 36);
        assert_eq!(p.parts.len(), 3);
        assert_eq!(p.bound, 7 + 20 + 38, "a string is bounded by its load");
        assert!(!p.is_const());
    }
}
