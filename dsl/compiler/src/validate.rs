//! `validate params` (retypes the fields it checks), `validate body SCHEMA` (types `body.*`)
//! and `buffer body SIZE` (makes `body.*` readable as `json?`).

use gw_program::Value;
use gw_syntax::Diagnostic;
use gw_syntax::ast::{Ident, Lit, ParamSpec, Stmt};

use crate::lits;
use crate::lower::{BodyState, Lower, Retyped};
use crate::route::RouteSettings;
use crate::stmt::field_key;
use crate::types::{self, Ty};

impl<'g, 'a> Lower<'g, 'a> {
    pub(crate) fn validate_params(&mut self, s: &Stmt, specs: &[ParamSpec]) {
        let mut entries = Vec::new();
        let mut loads = Vec::new();
        let mut retyped = Vec::new();
        for p in specs {
            let key = field_key(&p.field).filter(|k| {
                let mut it = k.splitn(2, '.');
                matches!(it.next(), Some("query" | "path" | "header" | "cookie"))
                    && it.next().is_some_and(|r| !r.contains('.'))
            });
            let Some(key) = key else {
                self.emit(
                    Diagnostic::error(
                        "E0301",
                        p.field.span,
                        "`validate params` checks request parameters",
                    )
                    .with_label(
                        "expected `query.NAME`, `path.NAME`, `header.NAME` or `cookie.NAME`",
                    ),
                );
                continue;
            };
            let w = match types::written(&p.ty) {
                Ok(w) => w,
                Err(e) => {
                    crate::decls::type_error(&mut self.g.cx, p.ty.span, e);
                    continue;
                }
            };
            let pattern = match &w.pattern {
                Some(text) => match regex::Regex::new(text) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        self.emit(
                            Diagnostic::error(
                                "E0304",
                                p.ty.span,
                                format!("`matches {text:?}` is not a pattern"),
                            )
                            .with_label(e.to_string().lines().last().unwrap_or("").to_owned()),
                        );
                        continue;
                    }
                },
                None => None,
            };
            if !matches!(w.ty.base(), Ty::Str | Ty::Int | Ty::Bool) {
                self.mismatch(
                    p.ty.span,
                    "string, int, bool or uuid",
                    &w.ty,
                    "parameters are scalars",
                );
                continue;
            }
            let default = match &p.default {
                Some(d) => {
                    let v = self.expr(d);
                    match v.konst() {
                        Some(k) if v.ty.compatible(&w.ty) && !v.ty.is_err() => {
                            if let (Some((lo, hi)), Value::Int(i)) = (w.range, k)
                                && (*i < lo || *i > hi)
                            {
                                self.emit(
                                    Diagnostic::error(
                                        "E0304",
                                        d.span,
                                        format!("default {i} is outside {lo}..{hi}"),
                                    )
                                    .with_label("out of range"),
                                );
                            }
                            let text = k.as_str().unwrap_or("");
                            if !w.one_of.is_empty() && !w.one_of.iter().any(|o| o == text) {
                                self.emit(
                                    Diagnostic::error(
                                        "E0304",
                                        d.span,
                                        format!("default {text:?} is not one of the values"),
                                    )
                                    .with_label("not in the `in [...]` list"),
                                );
                            }
                            if let Some(re) = &pattern
                                && !re.is_match(text)
                            {
                                self.emit(
                                    Diagnostic::error(
                                        "E0304",
                                        d.span,
                                        format!("default {text:?} does not match the pattern"),
                                    )
                                    .with_label("fails `matches`"),
                                );
                            }
                            Some(k.clone())
                        }
                        Some(_) => {
                            self.mismatch(
                                d.span,
                                &w.ty.base().to_string(),
                                &v.ty,
                                "the default has the parameter's type",
                            );
                            None
                        }
                        None => {
                            self.emit(
                                Diagnostic::error("E0304", d.span, "a default is a constant")
                                    .with_label("computed per request"),
                            );
                            None
                        }
                    }
                }
                None => None,
            };
            // Load the raw value (this also checks `path.NAME` against the pattern).
            let raw = self.expr(&p.field);
            if raw.ty.is_err() {
                continue;
            }
            let reg = self.reg_of(&raw, p.field.span);
            loads.push(reg);
            let optional = w.ty.is_opt() && default.is_none();
            let ty = if optional {
                w.ty.base().clone().opt()
            } else {
                w.ty.base().clone()
            };
            let local = self.g.locals.id(&key);
            let tname = if w.uuid {
                "uuid".to_string()
            } else {
                w.ty.base().arg_name()
            };
            let (lo, hi) = w.range.map_or((Value::Absent, Value::Absent), |(a, b)| {
                (Value::Int(a), Value::Int(b))
            });
            entries.push(Value::List(
                vec![
                    Value::str(&key),
                    Value::str(&tname),
                    lo,
                    hi,
                    default.unwrap_or(Value::Absent),
                    Value::Int(i64::from(local)),
                    Value::Bool(!w.ty.is_opt()),
                    if w.one_of.is_empty() {
                        Value::Absent
                    } else {
                        Value::List(w.one_of.iter().map(|o| Value::str(o)).collect())
                    },
                    w.pattern.as_deref().map_or(Value::Absent, Value::str),
                ]
                .into(),
            ));
            retyped.push(Retyped { key, ty, local });
        }
        if entries.is_empty() {
            return;
        }
        let argc = u8::try_from(loads.len()).unwrap_or(0);
        let base = self.window(&loads, s.span);
        let key = format!("{}#params", self.sc.route);
        let params = vec![("params".into(), Value::List(entries.into()))];
        self.call_plugin("validate.params", key, params, (base, argc), s.span);
        self.sc
            .retyped
            .retain(|r| !retyped.iter().any(|n| n.key == r.key));
        self.sc.retyped.extend(retyped);
    }

    pub(crate) fn validate_body(&mut self, s: &Stmt, name: &Ident, rs: &mut RouteSettings<'a>) {
        if self.sc.websocket {
            self.emit(
                Diagnostic::error(
                    "E0502",
                    s.span,
                    "a websocket route has no request body to validate",
                )
                .with_label("frames are relayed, not buffered"),
            );
            return;
        }
        let Some(id) = self.g.syms.schemas.resolve(&mut self.g.cx, name) else {
            return;
        };
        let Some(decl) = self.g.syms.schemas.get(id) else {
            return;
        };
        let args = vec![
            ("schema".into(), Value::str(&decl.name)),
            ("file".into(), Value::str(&decl.value.path)),
            ("json".into(), Value::str(&decl.value.text)),
            ("schema_id".into(), Value::Int(i64::from(id))),
        ];
        let key = format!("{}#body", self.sc.route);
        self.call_plugin("validate.body", key, args, (0, 0), s.span);
        self.sc.facts.body = BodyState::Schema(id);
        rs.buffer_body = true;
    }

    pub(crate) fn buffer_body(&mut self, s: &Stmt, l: &Lit, rs: &mut RouteSettings<'a>) {
        let size = lits::size(&mut self.g.cx, l, 1, 1 << 30);
        if self.sc.websocket {
            self.emit(
                Diagnostic::error(
                    "E0502",
                    s.span,
                    "a websocket route has no request body to buffer",
                )
                .with_label("frames are relayed, not buffered"),
            );
            return;
        }
        if self.sc.facts.body == BodyState::None {
            self.sc.facts.body = BodyState::Json;
        }
        rs.buffer_body = true;
        rs.body_limit = size.or(rs.body_limit);
        if let Some(s) = size {
            self.sc.body_bound = s;
        }
    }
}
