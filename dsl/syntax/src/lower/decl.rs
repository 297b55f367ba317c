//! Top-level declarations and declaration bodies (settings, typed fields).

use super::{Lower, P, child, children};
use crate::ast::{
    Arg, ExprKind, FieldDecl, Item, ItemKind, Method, Route, Setting, TypeExpr, VarDef,
};
use crate::diag::Diagnostic;
use crate::grammar::Rule;

impl Lower<'_> {
    /// Lowers one `decl` pair. None only if the tree is not shaped as the grammar says.
    pub(crate) fn decl(&mut self, decl: &P<'_>) -> Option<Item> {
        let span = self.span(decl);
        let inner = decl.clone().into_inner().next()?;
        let kind = match inner.as_rule() {
            Rule::listen => ItemKind::Listen {
                addr: self.addr(&child(&inner, Rule::addr)?),
                tls: child(&inner, Rule::listen_tls)
                    .and_then(|t| child(&t, Rule::settings))
                    .map(|s| self.settings(&s)),
                options: child(&inner, Rule::settings).map(|s| self.settings(&s)),
            },
            Rule::admin => ItemKind::Admin(self.addr(&child(&inner, Rule::addr)?)),
            Rule::include => ItemKind::Include(self.string(&child(&inner, Rule::string)?)),
            Rule::workers => ItemKind::Workers(self.num_lit(&child(&inner, Rule::num_lit)?)),
            Rule::limits => ItemKind::Limits(self.settings(&child(&inner, Rule::settings)?)),
            Rule::timeouts => ItemKind::Timeouts(self.settings(&child(&inner, Rule::settings)?)),
            Rule::vars => ItemKind::Vars(
                children(&inner, Rule::var_def)
                    .filter_map(|v| self.var_def(&v))
                    .collect(),
            ),
            Rule::upstream | Rule::jwt | Rule::api_keys | Rule::authorizer | Rule::plan => {
                let name = self.child_ident(&inner, Rule::ident)?;
                let body = self.settings(&child(&inner, Rule::settings)?);
                match inner.as_rule() {
                    Rule::upstream => ItemKind::Upstream { name, body },
                    Rule::jwt => ItemKind::Jwt { name, body },
                    Rule::api_keys => ItemKind::ApiKeys { name, body },
                    Rule::authorizer => ItemKind::Authorizer { name, body },
                    _ => ItemKind::Plan { name, body },
                }
            }
            Rule::schema => ItemKind::Schema {
                name: self.child_ident(&inner, Rule::ident)?,
                file: self.string(&child(&inner, Rule::string)?),
            },
            Rule::policy => ItemKind::Policy {
                name: self.child_ident(&inner, Rule::ident)?,
                body: self.stmt_block(&child(&inner, Rule::stmt_block)?),
            },
            Rule::defaults => {
                ItemKind::Defaults(self.stmt_block(&child(&inner, Rule::stmt_block)?))
            }
            Rule::cors => ItemKind::Cors(self.settings(&child(&inner, Rule::settings)?)),
            Rule::log_decl => ItemKind::Log(self.settings(&child(&inner, Rule::settings)?)),
            Rule::tracing_decl => ItemKind::Tracing(self.settings(&child(&inner, Rule::settings)?)),
            Rule::host_block => ItemKind::Host {
                pattern: self.string(&child(&inner, Rule::string)?),
                items: children(&inner, Rule::route)
                    .filter_map(|r| {
                        let span = self.span(&r);
                        self.route(&r).map(|route| Item {
                            kind: ItemKind::Route(route),
                            span,
                        })
                    })
                    .collect(),
            },
            Rule::route => ItemKind::Route(self.route(&inner)?),
            Rule::on_error => ItemKind::OnError {
                statuses: children(&inner, Rule::num_lit)
                    .map(|l| self.num_lit(&l))
                    .collect(),
                body: self.stmt_block(&child(&inner, Rule::stmt_block)?),
            },
            _ => return None,
        };
        Some(Item { kind, span })
    }

    fn route(&mut self, p: &P<'_>) -> Option<Route> {
        let m = child(p, Rule::method)?;
        let method = match m.as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Any,
        };
        Some(Route {
            method,
            method_span: self.span(&m),
            pattern: self.route_pattern(&child(p, Rule::path_pattern)?),
            websocket: child(p, Rule::kw_websocket).is_some(),
            body: self.stmt_block(&child(p, Rule::stmt_block)?),
            span: self.span(p),
        })
    }

    fn var_def(&mut self, p: &P<'_>) -> Option<VarDef> {
        Some(VarDef {
            name: self.child_ident(p, Rule::ident)?,
            value: self.expr(&child(p, Rule::expr)?),
            span: self.span(p),
        })
    }

    /// A `{ setting* }` body.
    pub(crate) fn settings(&mut self, p: &P<'_>) -> Vec<Setting> {
        children(p, Rule::setting)
            .map(|s| self.setting(&s))
            .collect()
    }

    pub(crate) fn setting(&mut self, p: &P<'_>) -> Setting {
        let mut name = None;
        let mut args = Vec::new();
        for c in p.clone().into_inner() {
            match c.as_rule() {
                Rule::ident | Rule::fields_key if name.is_none() => name = Some(self.ident(&c)),
                Rule::fields_block => {
                    let fields = children(&c, Rule::field_decl)
                        .filter_map(|f| self.field_decl(&f))
                        .collect();
                    args.push(Arg::Fields(fields));
                }
                Rule::settings => args.push(Arg::Block(self.settings(&c))),
                Rule::path_pattern => args.push(Arg::Path(self.plain_str(&c))),
                Rule::addr => args.push(Arg::Addr(self.addr(&c))),
                Rule::on_list => args.push(Arg::On(
                    children(&c, Rule::retry_cond)
                        .map(|w| self.ident(&w))
                        .collect(),
                )),
                Rule::when_arg => {
                    for part in c.clone().into_inner() {
                        match part.as_rule() {
                            Rule::kw_when => args.push(Arg::Word(self.ident(&part))),
                            Rule::expr => args.push(Arg::Expr(self.expr(&part))),
                            _ => {}
                        }
                    }
                }
                Rule::expr => {
                    let e = self.expr(&c);
                    args.push(match e.kind {
                        ExprKind::Name(w) => Arg::Word(w),
                        _ => Arg::Expr(e),
                    });
                }
                _ => {}
            }
        }
        let span = self.span(p);
        let name = name.unwrap_or_else(|| crate::ast::Ident {
            name: String::new(),
            span,
        });
        Setting { name, args, span }
    }

    fn field_decl(&mut self, p: &P<'_>) -> Option<FieldDecl> {
        Some(FieldDecl {
            name: self.child_ident(p, Rule::ident)?,
            ty: self.type_expr(&child(p, Rule::type_expr)?)?,
            default: child(p, Rule::expr).map(|e| self.expr(&e)),
            span: self.span(p),
        })
    }

    /// `string`, `string?`, `list<string>`, `int 1..100`.
    pub(crate) fn type_expr(&mut self, p: &P<'_>) -> Option<TypeExpr> {
        let name = self.child_ident(p, Rule::ident)?;
        let args = match child(p, Rule::type_args) {
            Some(a) => children(&a, Rule::type_expr)
                .filter_map(|t| self.type_expr(&t))
                .collect(),
            None => Vec::new(),
        };
        let range = match child(p, Rule::type_range) {
            Some(r) => {
                let mut bounds = children(&r, Rule::signed_int).map(|b| self.signed_int(&b));
                match (bounds.next().flatten(), bounds.next().flatten()) {
                    (Some(lo), Some(hi)) => Some((lo, hi)),
                    _ => None,
                }
            }
            None => None,
        };
        let one_of = match child(p, Rule::type_one_of) {
            Some(o) => children(&o, Rule::string)
                .map(|s| self.string(&s))
                .collect(),
            None => Vec::new(),
        };
        let pattern = child(p, Rule::type_pattern)
            .and_then(|m| child(&m, Rule::raw_string).or_else(|| child(&m, Rule::string)))
            .map(|s| self.string(&s));
        Some(TypeExpr {
            name,
            args,
            optional: child(p, Rule::optional_mark).is_some(),
            range,
            one_of,
            pattern,
            span: self.span(p),
        })
    }

    fn signed_int(&mut self, p: &P<'_>) -> Option<i64> {
        let text: String = p.as_str().chars().filter(|&c| c != '_').collect();
        match text.parse::<i64>() {
            Ok(v) => Some(v),
            Err(_) => {
                let d = Diagnostic::error(
                    "E0103",
                    self.span(p),
                    format!("bad literal `{}`", p.as_str()),
                )
                .with_label("does not fit in a 64-bit integer");
                self.error(d);
                None
            }
        }
    }
}
