//! `auth jwt|api_key|authorizer NAME` and `auth any(a, b)`: one plugin slot per declaration,
//! plus an `auth.any` slot listing its members (E0201, E0507).

use gw_program::{Op, PluginSpec, Value};
use gw_syntax::ast::{Auth, Ident, Stmt};
use gw_syntax::{Diagnostic, Span};

use crate::lower::Lower;
use crate::types::Ty;

impl<'g, 'a> Lower<'g, 'a> {
    pub(crate) fn spec(
        &self,
        plugin: &str,
        state_key: String,
        args: Vec<(String, Value)>,
        span: Span,
    ) -> PluginSpec {
        PluginSpec {
            plugin: plugin.into(),
            state_key,
            args,
            origin: self.g.cx.origin_text(span),
        }
    }

    /// A plugin use: its spec gets a slot, and a `call` op passes it registers
    /// `arg..arg + argc`. Returns the slot (a cache's store call reuses it).
    pub(crate) fn call_plugin(
        &mut self,
        plugin: &str,
        state_key: String,
        args: Vec<(String, Value)>,
        (arg, argc): (u8, u8),
        span: Span,
    ) -> u16 {
        let spec = self.spec(plugin, state_key, args, span);
        let slot = self.g.slot(spec, span);
        self.b.op(Op::Call { slot, arg, argc }, span);
        slot
    }

    /// The slot of one auth declaration by name (jwt, api_keys or authorizer), with its
    /// identity argument loaded into a register when it has one.
    pub(crate) fn auth_member(
        &mut self,
        kind: Option<&str>,
        name: &Ident,
    ) -> Option<(u16, Option<u8>)> {
        let g = &mut *self.g;
        let jwt = g.syms.jwts.find(&name.name).map(|x| x.0);
        let key = g.syms.api_keys.find(&name.name).map(|x| x.0);
        let authz = g.syms.authorizers.find(&name.name).map(|x| x.0);
        let pick = match kind {
            Some("jwt") => jwt.map(|i| ("jwt", i)),
            Some("api_key") => key.map(|i| ("api_key", i)),
            Some(_) => authz.map(|i| ("authorizer", i)),
            None => jwt
                .map(|i| ("jwt", i))
                .or(key.map(|i| ("api_key", i)))
                .or(authz.map(|i| ("authorizer", i))),
        };
        let Some((plugin, id)) = pick else {
            let d = match kind {
                Some("jwt") => g.syms.jwts.unknown(name),
                Some("api_key") => g.syms.api_keys.unknown(name),
                Some(_) => g.syms.authorizers.unknown(name),
                None => {
                    let all: Vec<&str> = g
                        .syms
                        .jwts
                        .names()
                        .chain(g.syms.api_keys.names())
                        .chain(g.syms.authorizers.names())
                        .collect();
                    let mut d = Diagnostic::error(
                        "E0201",
                        name.span,
                        format!("unknown auth `{}`", name.name),
                    )
                    .with_label("not a `jwt`, `api_keys` or `authorizer` declaration");
                    if let Some(s) = gw_syntax::diag::did_you_mean(&name.name, all.iter().copied())
                    {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    d
                }
            };
            g.cx.emit(d);
            return None;
        };
        let span = name.span;
        let (args, identity) = match plugin {
            "jwt" => {
                let n = g.syms.jwts.get(id)?;
                n.used.set(true);
                self.sc.facts.jwts.push(id);
                (n.value.args.clone(), None)
            }
            "api_key" => {
                let n = g.syms.api_keys.get(id)?;
                n.used.set(true);
                self.sc.facts.key = true;
                (n.value.args.clone(), None)
            }
            _ => {
                let n = g.syms.authorizers.get(id)?;
                n.used.set(true);
                self.sc.facts.authzs.push(id);
                (n.value.args.clone(), n.value.identity)
            }
        };
        let slot = self.g.decl_slot(plugin, &name.name, span, || args);
        let reg = identity.map(|x| {
            let v = self.expr(x);
            if matches!(v.ty.base(), Ty::List(_)) {
                self.mismatch(x.span, "string", &v.ty, "an identity is one value");
            }
            self.reg_of(&v, x.span)
        });
        Some((slot, reg))
    }

    pub(crate) fn auth(&mut self, s: &Stmt, a: &Auth) {
        self.deny_after_cache(s.span);
        if let Some(first) = self.sc.facts.auth {
            self.emit(
                Diagnostic::error("E0507", s.span, "this route authenticates twice")
                    .with_label("second `auth`")
                    .with_secondary(first, "first `auth` here")
                    .with_help("to accept either credential, write one `auth any(a, b)`"),
            );
            return;
        }
        self.sc.facts.auth = Some(s.span);
        let one = |l: &mut Self, kind: &str, n: &Ident| {
            if let Some((slot, reg)) = l.auth_member(Some(kind), n) {
                let (arg, argc) = reg.map_or((0, 0), |r| (r, 1));
                l.b.op(Op::Call { slot, arg, argc }, s.span);
            }
        };
        match a {
            Auth::Jwt(n) => one(self, "jwt", n),
            Auth::ApiKey(n) => one(self, "api_key", n),
            Auth::Authorizer(n) => one(self, "authorizer", n),
            Auth::Any(names) => {
                let mut slots = Vec::new();
                let mut argcs = Vec::new();
                let mut kinds = Vec::new();
                let mut regs = Vec::new();
                for n in names {
                    if let Some((slot, reg)) = self.auth_member(None, n) {
                        slots.push(Value::Int(i64::from(slot)));
                        argcs.push(Value::Int(i64::from(u8::from(reg.is_some()))));
                        let kind = self
                            .g
                            .slots
                            .get(usize::from(slot))
                            .map_or("", |s| s.spec.plugin.as_str());
                        kinds.push(Value::str(kind));
                        regs.extend(reg);
                    }
                }
                self.sc.facts.any = names.len() > 1;
                let argc = u8::try_from(regs.len()).unwrap_or(0);
                let base = self.window(&regs, s.span);
                let key = format!("{}#any", self.sc.route);
                let members = vec![
                    ("members".into(), Value::List(slots.into())),
                    ("argc".into(), Value::List(argcs.into())),
                    ("kinds".into(), Value::List(kinds.into())),
                ];
                self.call_plugin("auth.any", key, members, (base, argc), s.span);
            }
        }
    }
}
