//! Statements that call plugins: `auth`, `validate`, `buffer body`, `throttle`, `cache`.
//! Each becomes `Op::Call { slot }` with a [`PluginSpec`], whose `state_key` is its identity
//! across reloads (docs/architecture.md#reload).

use gw_program::{Field, Op, Value};
use gw_syntax::ast::{CacheSpec, Expr, Ident, LimitScope, Lit, Stmt};
use gw_syntax::{Diagnostic, Span};

use crate::args::Cursor;
use crate::lits;
use crate::lower::{Lower, Val};
use crate::route::{CacheUse, RouteSettings};
use crate::stmt::field_key;
use crate::types::Ty;

impl<'g, 'a> Lower<'g, 'a> {
    /// A key expression (`by`, `hash by`, `sticky by`): any scalar, absent allowed.
    pub(crate) fn key_expr(&mut self, e: &Expr, what: &str) -> Option<u8> {
        let v = self.expr(e);
        if v.ty.is_err() {
            return None;
        }
        if matches!(v.ty.base(), Ty::List(_)) {
            self.mismatch(
                e.span,
                "string",
                &v.ty,
                &format!("{what} one value, not a list"),
            );
            return None;
        }
        Some(self.reg_of(&v, e.span))
    }

    pub(crate) fn throttle(
        &mut self,
        s: &Stmt,
        rate: &Lit,
        burst: Option<&Lit>,
        by: Option<&Expr>,
        name: Option<&Ident>,
        scope: Option<&LimitScope>,
    ) {
        let scope = scope.map(|s| self.limit_scope(s)).unwrap_or_default();
        let r = lits::rate(&mut self.g.cx, rate);
        let b = burst.and_then(|b| lits::int(&mut self.g.cx, b, 1, 1_000_000_000));
        if let Some(by) = by
            && self.sc.facts.auth.is_some()
            && self.g.cx.snippet(by.span).trim() == "client.ip"
        {
            let auth = self.sc.facts.auth.unwrap_or_default();
            self.emit(
                Diagnostic::warning(
                    "W0102",
                    by.span,
                    "a `client.ip` throttle after `auth` sheds load late",
                )
                .with_label("runs after the credential check")
                .with_secondary(auth, "credentials are checked first, here")
                .with_help(
                    "move this `throttle` above `auth` to shed floods before signature checks",
                ),
            );
        }
        let key = by.and_then(|e| self.key_expr(e, "a throttle is keyed by"));
        let Some((count, per_ms)) = r else { return };
        let burst = b.unwrap_or_else(|| i64::try_from(count).unwrap_or(1));
        self.sc.throttles += 1;
        let state_key = match name {
            Some(n) => n.name.clone(),
            None => format!("{}#{}", self.sc.route, self.sc.throttles),
        };
        let key_text = by.map_or("route".to_string(), |e| {
            self.g.cx.snippet(e.span).to_string()
        });
        let args = vec![
            ("rate".into(), Value::Rate { count, per_ms }),
            ("burst".into(), Value::Int(burst)),
            ("key".into(), Value::str(&key_text)),
        ];
        let mut args = args;
        args.extend(scope.args());
        let window = key.map_or((0, 0), |r| (r, 1));
        self.call_plugin("throttle", state_key, args, window, s.span);
    }

    /// A throttle's `scope node` / `store redis "URL"` / `on_store_down`, checked (E0304).
    fn limit_scope(&mut self, s: &LimitScope) -> crate::keys::Scope {
        let mut out = crate::keys::Scope::default();
        if let Some(url) = &s.store {
            match crate::args::plain(url) {
                Some(u) if u.starts_with("redis://") && u.len() > 8 => out.store = Some(u),
                _ => self.emit(
                    Diagnostic::error("E0304", url.span, "not a redis:// URL")
                        .with_label("Redis address expected")
                        .with_help("write `store redis \"redis://host:6379\"`"),
                ),
            }
        }
        if let Some(d) = &s.on_store_down {
            if s.store.is_none() {
                self.emit(
                    Diagnostic::error("E0304", d.span, "`on_store_down` without a `store`")
                        .with_label("a node-scoped limit has no store to lose")
                        .with_help(
                            "add `store redis \"redis://host:6379\"` before it, or remove it",
                        ),
                );
            } else if d.name == "allow" || d.name == "deny" {
                out.on_down = Some(d.name.clone());
            } else {
                self.emit(
                    Diagnostic::error("E0304", d.span, format!("`on_store_down {}`", d.name))
                        .with_label("expected `allow` or `deny`"),
                );
            }
        }
        out
    }

    pub(crate) fn throttle_plan(&mut self, s: &Stmt) {
        if !self.sc.facts.key {
            let mut d = Diagnostic::error(
                "E0504",
                s.span,
                "`throttle plan` needs `auth api_key` before it",
            )
            .with_label("no API key, so no plan");
            d = match self.sc.producers.key {
                Some(p) => d
                    .with_secondary(p, "the key is checked here, later")
                    .with_help("move `throttle plan` below `auth api_key …`"),
                None => d.with_help(
                    "add `auth api_key NAME` above it; plans are bound to keys in the keys file",
                ),
            };
            self.emit(d);
            return;
        }
        let plans: Vec<(String, Value)> = self
            .g
            .syms
            .plans
            .list
            .iter()
            .map(|p| (format!("plan.{}", p.name), p.value.arg()))
            .collect();
        let mut plans = plans;
        // every key a plan can reach, so the plugin's counters are a fixed table by key id
        let keys: Vec<Value> = self
            .g
            .syms
            .api_keys
            .list
            .iter()
            .flat_map(|k| k.value.keys.iter())
            .map(|k| {
                let plan = k.plan.as_deref().map_or(Value::Absent, Value::str);
                Value::List(vec![Value::str(&k.id), plan].into())
            })
            .collect();
        plans.push(("keys".into(), Value::List(keys.into())));
        plans.push(("usage_file".into(), Value::str(&self.g.usage_file)));
        let base = self.b.regs(2);
        let (kid, kplan) = (self.g.locals.id("key.id"), self.g.locals.id("key.plan"));
        self.b.op(
            Op::LdField {
                dst: base,
                field: Field::Local(kid),
            },
            s.span,
        );
        self.b.op(
            Op::LdField {
                dst: base.saturating_add(1),
                field: Field::Local(kplan),
            },
            s.span,
        );
        self.call_plugin("throttle.plan", "plans".into(), plans, (base, 2), s.span);
    }

    pub(crate) fn cache(&mut self, s: &Stmt, spec: &'a CacheSpec, rs: &mut RouteSettings<'a>) {
        let identity_auth = !self.sc.facts.jwts.is_empty() || !self.sc.facts.authzs.is_empty();
        if identity_auth
            && !spec
                .key
                .iter()
                .chain(spec.vary.iter())
                .any(mentions_identity)
        {
            let auth = self.sc.facts.auth.unwrap_or_default();
            self.emit(
                Diagnostic::error(
                    "E0503",
                    s.span,
                    "this cache would serve one caller's response to another",
                )
                .with_label("the key has no identity")
                .with_secondary(auth, "callers are told apart here")
                .with_help("add the caller to the key: `vary claim.sub` (or a tenant claim)"),
            );
        }
        let ttl = match &spec.ttl {
            Some(l) => lits::duration(&mut self.g.cx, l, 1_000, 86_400_000),
            None => {
                self.emit(
                    Diagnostic::error("E0304", s.span, "`cache` needs a `ttl`")
                        .with_label("how long is an entry fresh?")
                        .with_help("write `cache ttl 60s key [...]`"),
                );
                None
            }
        };
        let mut args = vec![("ttl".into(), Value::Duration(ttl.unwrap_or(0)))];
        for e in crate::args::entries(
            &mut self.g.cx,
            "`cache`",
            &spec.settings,
            &["max_entry", "max_size", "ttl", "key", "vary"],
        ) {
            let mut c = Cursor::new(&e);
            if e.name.name == "max_entry" {
                if let Some(sz) = c
                    .lit()
                    .and_then(|l| lits::size(&mut self.g.cx, l, 1, 64 << 20))
                {
                    args.push(("max_entry".into(), Value::Size(sz)));
                }
                c.finish(&mut self.g.cx, "`max_entry`", &[]);
            } else if e.name.name == "max_size" {
                if let Some(sz) = c
                    .lit()
                    .and_then(|l| lits::size(&mut self.g.cx, l, 1, 1 << 40))
                {
                    args.push(("max_size".into(), Value::Size(sz)));
                }
                c.finish(&mut self.g.cx, "`max_size`", &[]);
            }
        }
        let n = spec.key.len() + spec.vary.len();
        let argc = u8::try_from(n + 1).unwrap_or(u8::MAX);
        let base = self.load_cache_args("lookup", spec, s.span);
        let text: String = spec
            .key
            .iter()
            .chain(spec.vary.iter())
            .map(|e| self.g.cx.snippet(e.span))
            .collect::<Vec<_>>()
            .join(",");
        args.push((
            "keys".into(),
            Value::Int(i64::try_from(spec.key.len()).unwrap_or(0)),
        ));
        args.push((
            "vary".into(),
            Value::Int(i64::try_from(spec.vary.len()).unwrap_or(0)),
        ));
        let state_key = format!(
            "{}#cache#{:016x}",
            self.sc.route,
            crate::image::fnv1a(text.as_bytes())
        );
        let slot = self.call_plugin("cache", state_key, args, (base, argc), s.span);
        self.sc.facts.caches.push(s.span);
        rs.cache = Some(CacheUse {
            slot,
            spec,
            span: s.span,
        });
    }

    /// Loads `[mode, keys…, vary…]` into consecutive registers; returns the first.
    pub(crate) fn load_cache_args(&mut self, mode: &str, spec: &CacheSpec, span: Span) -> u8 {
        let mode = Val::k(Value::str(mode), Ty::Str);
        let mut regs = vec![self.reg_of(&mode, span)];
        for e in spec.key.iter().chain(spec.vary.iter()) {
            let r = match self.key_expr(e, "a cache key part is") {
                Some(r) => r,
                None => self.reg_of(&Val::k(Value::Absent, Ty::Err), e.span),
            };
            regs.push(r);
        }
        self.window(&regs, span)
    }
}

/// Whether an expression reads a caller's identity (claims, scopes, context, the token).
fn mentions_identity(e: &Expr) -> bool {
    use gw_syntax::ast::ExprKind as K;
    if let Some(k) = field_key(e) {
        return k.starts_with("claim.")
            || k.starts_with("auth.")
            || k.starts_with("key.")
            || k == "header.authorization";
    }
    match &e.kind {
        K::Binary(_, a, b) => mentions_identity(a) || mentions_identity(b),
        K::Unary(_, a) => mentions_identity(a),
        K::Ternary(c, a, b) => mentions_identity(c) || mentions_identity(a) || mentions_identity(b),
        K::Call { args, .. } => args.iter().any(mentions_identity),
        K::List(items) => items.iter().any(mentions_identity),
        K::Str(s) => s
            .parts
            .iter()
            .any(|p| matches!(p, gw_syntax::ast::StrPart::Interp(x) if mentions_identity(x))),
        _ => false,
    }
}
