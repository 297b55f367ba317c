//! Typed JSON templates (`json { status: "ok", tags: [..] }`) and `headers { k: v }` maps.

use super::{Lower, P, child, children};
use crate::ast::{Expr, Ident, Template, TemplateKey, TemplateValue};
use crate::diag::Diagnostic;
use crate::grammar::Rule;

impl Lower<'_> {
    pub(crate) fn template(&mut self, p: &P<'_>) -> Template {
        let mut fields = Vec::new();
        for f in children(p, Rule::tpl_field) {
            let key = child(&f, Rule::tpl_key).and_then(|k| k.into_inner().next());
            let value = child(&f, Rule::tpl_value);
            let (Some(key), Some(value)) = (key, value) else {
                continue;
            };
            let key = match key.as_rule() {
                Rule::string => TemplateKey::Str(self.string(&key)),
                _ => TemplateKey::Ident(self.ident(&key)),
            };
            if let Some(v) = self.tpl_value(&value) {
                fields.push((key, v));
            }
        }
        Template {
            fields,
            span: self.span(p),
        }
    }

    fn tpl_value(&mut self, p: &P<'_>) -> Option<TemplateValue> {
        let inner = p.clone().into_inner().next()?;
        Some(match inner.as_rule() {
            Rule::template => TemplateValue::Object(self.template(&inner)),
            Rule::tpl_list => {
                let items = children(&inner, Rule::tpl_value)
                    .filter_map(|v| self.tpl_value(&v))
                    .collect();
                TemplateValue::List(items, self.span(&inner))
            }
            _ => TemplateValue::Expr(self.expr(&inner)),
        })
    }

    /// `headers { cache-control: "no-store", x-mock: "true" }`.
    pub(crate) fn header_map(&mut self, p: &P<'_>) -> Vec<(Ident, Expr)> {
        let mut out = Vec::new();
        for e in children(p, Rule::header_entry) {
            let name = child(&e, Rule::header_name).and_then(|n| self.header_name(&n));
            let value = child(&e, Rule::expr_nl).map(|v| self.expr(&v));
            if let (Some(n), Some(v)) = (name, value) {
                out.push((n, v));
            }
        }
        out
    }

    /// A header or query name: a name (`x-api-key`) or a plain string (`"odd.name"`).
    pub(crate) fn header_name(&mut self, p: &P<'_>) -> Option<Ident> {
        let inner = p.clone().into_inner().next()?;
        if inner.as_rule() != Rule::string {
            return Some(self.ident(&inner));
        }
        let s = self.string(&inner);
        match s.as_plain() {
            Some(name) => Some(Ident { name, span: s.span }),
            None => {
                let d =
                    Diagnostic::error("E0101", s.span, "a header or query name cannot interpolate")
                        .with_label("write a fixed name here");
                self.error(d);
                None
            }
        }
    }
}
