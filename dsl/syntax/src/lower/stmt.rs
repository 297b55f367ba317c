//! Route statements (also the bodies of `policy`, `defaults`, `on error`, `on response`).

use super::{Lower, P, child, children};
use crate::ast::{
    Arg, Auth, CacheSpec, Canary, Expr, ExprKind, HeaderOp, Ident, LimitScope, Lit, ParamSpec,
    RespondBody, Setting, Stmt, StmtKind,
};
use crate::diag::Diagnostic;
use crate::grammar::Rule;
use crate::span::Span;

impl Lower<'_> {
    /// A `{ stmt* }` block.
    pub(crate) fn stmt_block(&mut self, p: &P<'_>) -> Vec<Stmt> {
        children(p, Rule::stmt)
            .filter_map(|s| self.stmt(&s))
            .collect()
    }

    fn stmt(&mut self, p: &P<'_>) -> Option<Stmt> {
        let mut kind = None;
        let mut guard = None;
        for c in p.clone().into_inner() {
            match c.as_rule() {
                Rule::guard => guard = child(&c, Rule::expr).map(|e| self.expr(&e)),
                _ => kind = self.stmt_kind(&c),
            }
        }
        Some(Stmt {
            kind: kind?,
            guard,
            span: self.span(p),
        })
    }

    fn req_expr(&mut self, p: &P<'_>, rule: Rule) -> Option<Expr> {
        child(p, rule).map(|e| self.expr(&e))
    }

    fn req_lit(&mut self, p: &P<'_>) -> Option<Lit> {
        child(p, Rule::num_lit).map(|l| self.num_lit(&l))
    }

    /// Reports a canary/cache setting written twice.
    fn twice(&mut self, what: &str, span: Span, first: Option<Span>) {
        let mut d = Diagnostic::error("E0202", span, format!("`{what}` is set twice"))
            .with_label("set again here");
        if let Some(f) = first {
            d = d.with_secondary(f, "first set here");
        }
        self.error(d);
    }

    fn stmt_kind(&mut self, p: &P<'_>) -> Option<StmtKind> {
        Some(match p.as_rule() {
            Rule::use_stmt => StmtKind::Use(self.child_ident(p, Rule::ident)?),
            Rule::auth_stmt => StmtKind::Auth(match child(p, Rule::auth_any) {
                Some(any) => Auth::Any(
                    children(&any, Rule::ident)
                        .map(|i| self.ident(&i))
                        .collect(),
                ),
                None => {
                    let name = self.child_ident(p, Rule::ident)?;
                    match child(p, Rule::auth_kind)?.as_str() {
                        "jwt" => Auth::Jwt(name),
                        "api_key" => Auth::ApiKey(name),
                        _ => Auth::Authorizer(name),
                    }
                }
            }),
            Rule::require_stmt => {
                let els = child(p, Rule::require_else);
                StmtKind::Require {
                    cond: self.req_expr(p, Rule::expr)?,
                    status: els.as_ref().and_then(|e| self.req_lit(e)),
                    message: els
                        .as_ref()
                        .and_then(|e| child(e, Rule::string))
                        .map(|s| self.string(&s)),
                }
            }
            Rule::validate_params => StmtKind::ValidateParams(
                children(p, Rule::param_spec)
                    .filter_map(|s| self.param_spec(&s))
                    .collect(),
            ),
            Rule::validate_body => StmtKind::ValidateBody(self.child_ident(p, Rule::ident)?),
            Rule::buffer_body => StmtKind::BufferBody(self.req_lit(p)?),
            Rule::throttle_plan => StmtKind::ThrottlePlan,
            Rule::throttle_stmt => StmtKind::Throttle {
                rate: self.req_lit(p)?,
                burst: child(p, Rule::throttle_burst).and_then(|b| self.req_lit(&b)),
                by: child(p, Rule::throttle_by).and_then(|b| self.req_expr(&b, Rule::expr)),
                name: child(p, Rule::throttle_name).and_then(|n| self.child_ident(&n, Rule::ident)),
                scope: child(p, Rule::throttle_scope).map(|s| LimitScope {
                    store: child(&s, Rule::string).map(|u| self.string(&u)),
                    on_store_down: child(&s, Rule::throttle_down)
                        .and_then(|d| self.child_ident(&d, Rule::ident)),
                    span: self.span(&s),
                }),
            },
            Rule::cache_line | Rule::cache_block => StmtKind::Cache(self.cache(p)),
            Rule::set_header | Rule::append_header | Rule::remove_header => {
                let (op, name, value) = self.header_op(p)?;
                StmtKind::Header { op, name, value }
            }
            Rule::set_query | Rule::append_query | Rule::remove_query => {
                let (op, name, value) = self.header_op(p)?;
                StmtKind::Query { op, name, value }
            }
            Rule::set_status => StmtKind::SetStatus(self.req_expr(p, Rule::expr)?),
            Rule::rewrite_stmt => StmtKind::Rewrite(self.string(&child(p, Rule::string)?)),
            Rule::body_json => StmtKind::BodyJson(self.template(&child(p, Rule::template)?)),
            Rule::upstream_stmt => StmtKind::Upstream {
                name: self.child_ident(p, Rule::ident)?,
                hash_by: child(p, Rule::hash_by).and_then(|h| self.req_expr(&h, Rule::expr)),
            },
            Rule::canary_line | Rule::canary_block => StmtKind::Canary(self.canary(p)?),
            Rule::respond_stmt => {
                let body =
                    child(p, Rule::respond_body).and_then(|b| match child(&b, Rule::template) {
                        Some(t) => Some(RespondBody::Json(self.template(&t))),
                        None => child(&b, Rule::string).map(|s| RespondBody::Text(self.string(&s))),
                    });
                StmtKind::Respond {
                    status: self.req_lit(p)?,
                    body,
                    headers: child(p, Rule::respond_headers)
                        .map(|h| self.header_map(&h))
                        .unwrap_or_default(),
                }
            }
            Rule::timeout_stmt => StmtKind::Timeout(self.timeout(p)),
            Rule::retry_stmt => StmtKind::Retry {
                count: self.req_lit(p)?,
                on: children(p, Rule::retry_cond)
                    .map(|c| self.ident(&c))
                    .collect(),
            },
            Rule::websocket_stmt => StmtKind::Websocket(self.settings(&child(p, Rule::settings)?)),
            Rule::budget_stmt => StmtKind::Budget(self.req_lit(p)?),
            Rule::allow_in_path => {
                StmtKind::AllowInPath(children(p, Rule::string).map(|s| self.string(&s)).collect())
            }
            Rule::cors_off => StmtKind::CorsOff,
            Rule::defaults_off => StmtKind::DefaultsOff,
            Rule::on_response => {
                StmtKind::OnResponse(self.stmt_block(&child(p, Rule::stmt_block)?))
            }
            _ => return None,
        })
    }

    fn param_spec(&mut self, p: &P<'_>) -> Option<ParamSpec> {
        let field = child(p, Rule::operand).map(|o| self.operand(&o).0)?;
        Some(ParamSpec {
            field,
            ty: self.type_expr(&child(p, Rule::type_expr)?)?,
            default: self.req_expr(p, Rule::expr),
            span: self.span(p),
        })
    }

    fn header_op(&mut self, p: &P<'_>) -> Option<(HeaderOp, Ident, Option<Expr>)> {
        let op = match p.as_rule() {
            Rule::set_header | Rule::set_query => HeaderOp::Set,
            Rule::append_header | Rule::append_query => HeaderOp::Append,
            _ => HeaderOp::Remove,
        };
        let name = self.header_name(&child(p, Rule::header_name)?)?;
        Some((op, name, self.req_expr(p, Rule::expr)))
    }

    /// `cache ttl D key [..] vary ..` and `cache { ttl ..; key [..]; vary ..; max_entry .. }`.
    fn cache(&mut self, p: &P<'_>) -> CacheSpec {
        let mut spec = CacheSpec {
            ttl: None,
            key: Vec::new(),
            vary: Vec::new(),
            settings: Vec::new(),
        };
        let (mut ttl_at, mut key_at, mut vary_at) = (None, None, None);
        for c in p.clone().into_inner() {
            let span = self.span(&c);
            match c.as_rule() {
                Rule::cache_ttl => {
                    if ttl_at.is_some() {
                        self.twice("ttl", span, ttl_at);
                    }
                    ttl_at = Some(span);
                    spec.ttl = self.req_lit(&c);
                }
                Rule::cache_key | Rule::cache_vary => {
                    let at = if c.as_rule() == Rule::cache_key {
                        &mut key_at
                    } else {
                        &mut vary_at
                    };
                    let first = at.replace(span);
                    if first.is_some() {
                        let what = if c.as_rule() == Rule::cache_key {
                            "key"
                        } else {
                            "vary"
                        };
                        self.twice(what, span, first);
                    }
                    let parts = match self.req_expr(&c, Rule::expr) {
                        Some(Expr {
                            kind: ExprKind::List(items),
                            ..
                        }) => items,
                        Some(e) => vec![e],
                        None => Vec::new(),
                    };
                    if c.as_rule() == Rule::cache_key {
                        spec.key = parts
                    } else {
                        spec.vary = parts
                    }
                }
                Rule::setting => spec.settings.push(self.setting(&c)),
                _ => {}
            }
        }
        spec
    }

    fn canary(&mut self, p: &P<'_>) -> Option<Canary> {
        let upstream = self.child_ident(p, Rule::ident)?;
        let short = p.as_rule() == Rule::canary_line;
        let mut c = Canary {
            upstream,
            weight: None,
            sticky: None,
            force: None,
            body: Vec::new(),
            short,
        };
        let (mut weight_at, mut sticky_at, mut force_at) = (None, None, None);
        if short {
            c.weight = self.req_lit(p);
        }
        for item in p.clone().into_inner() {
            let span = self.span(&item);
            match item.as_rule() {
                Rule::canary_weight => {
                    if weight_at.is_some() {
                        self.twice("weight", span, weight_at);
                    }
                    weight_at = Some(span);
                    c.weight = self.req_lit(&item);
                }
                Rule::canary_sticky => {
                    if sticky_at.is_some() {
                        self.twice("sticky", span, sticky_at);
                    }
                    sticky_at = Some(span);
                    c.sticky = self.req_expr(&item, Rule::expr);
                }
                Rule::canary_force => {
                    if force_at.is_some() {
                        self.twice("force", span, force_at);
                    }
                    force_at = Some(span);
                    c.force = self.req_expr(&item, Rule::expr);
                }
                Rule::stmt => c.body.extend(self.stmt(&item)),
                _ => {}
            }
        }
        Some(c)
    }

    /// `timeout 3s` is one setting named `request` (its name span is the `timeout` keyword);
    /// `timeout connect 1s request 10s` is one setting per phase.
    fn timeout(&mut self, p: &P<'_>) -> Vec<Setting> {
        let pairs: Vec<P<'_>> = children(p, Rule::timeout_pair).collect();
        if pairs.is_empty() {
            let kw = child(p, Rule::kw_timeout)
                .map(|k| self.span(&k))
                .unwrap_or_else(|| self.span(p));
            let lit = self.req_lit(p);
            let args = lit
                .map(|l| {
                    Arg::Expr(Expr {
                        span: l.span,
                        kind: ExprKind::Lit(l),
                    })
                })
                .into_iter()
                .collect();
            return vec![Setting {
                name: Ident {
                    name: "request".into(),
                    span: kw,
                },
                args,
                span: self.span(p),
            }];
        }
        pairs
            .iter()
            .filter_map(|tp| {
                let name = self.child_ident(tp, Rule::timeout_phase)?;
                let lit = self.req_lit(tp)?;
                let args = vec![Arg::Expr(Expr {
                    span: lit.span,
                    kind: ExprKind::Lit(lit),
                })];
                Some(Setting {
                    name,
                    args,
                    span: self.span(tp),
                })
            })
            .collect()
    }
}
