//! Step 2, the scheme: what a field path (`claim.sub`, `header.x-api-key`, `resp.json.id`)
//! is, its type, how it is loaded, and whether the route has established it yet (E0201,
//! E0203, E0403, E0501, E0502).

use gw_program::{Field, Value};
use gw_syntax::ast::{Expr, ExprKind, Ident, LitValue};
use gw_syntax::{Diagnostic, Span};

use crate::lower::{Lower, Need, Opnd, Phase, Val};
use crate::types::Ty;

/// One step of a field path.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Seg<'e> {
    Name(&'e Ident),
    Index(&'e Expr),
}

impl Seg<'_> {
    fn name(&self) -> Option<&str> {
        match self {
            Seg::Name(i) => Some(&i.name),
            Seg::Index(_) => None,
        }
    }

    /// A segment usable in a static name or JSON pointer: `.x`, `["x"]`, `[0]`.
    pub(crate) fn text(&self) -> Option<String> {
        match self {
            Seg::Name(i) => Some(i.name.clone()),
            Seg::Index(Expr {
                kind: ExprKind::Str(s),
                ..
            }) => s.as_plain(),
            Seg::Index(Expr {
                kind: ExprKind::Lit(l),
                ..
            }) => match l.value {
                LitValue::Int(i) if i >= 0 => Some(i.to_string()),
                _ => None,
            },
            Seg::Index(_) => None,
        }
    }
}

/// Namespaces a field path may start with.
pub(crate) const ROOTS: &[&str] = &[
    "req", "path", "query", "header", "cookie", "client", "tls", "request", "route", "claim",
    "auth", "key", "body", "var", "resp", "upstream", "canary", "error",
];

/// Splits `a.b["c"].d` into its root name and segments; None when it is not a path.
pub(crate) fn flatten(e: &Expr) -> Option<(&Ident, Vec<Seg<'_>>)> {
    match &e.kind {
        ExprKind::Name(root) => Some((root, Vec::new())),
        ExprKind::Member(base, name) => {
            let (root, mut segs) = flatten(base)?;
            segs.push(Seg::Name(name));
            Some((root, segs))
        }
        ExprKind::Index(base, idx) => {
            let (root, mut segs) = flatten(base)?;
            segs.push(Seg::Index(idx));
            Some((root, segs))
        }
        _ => None,
    }
}

/// `/a/b~1c`: a JSON pointer from path segments.
pub(crate) fn pointer(segs: &[String]) -> String {
    segs.iter()
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// Other gateways' spellings of a header field (Kong's `headers`, a `req.` prefix): the
/// field gw reads, e.g. `resp.headers.x` -> `resp.header.x`, `req.headers.x` -> `header.x`.
fn header_spelling(text: &str) -> Option<String> {
    const SPELLINGS: &[(&str, &str)] = &[
        ("resp.headers", "resp.header"),
        ("request.headers", "header"),
        ("request.header", "header"),
        ("req.headers", "header"),
        ("req.header", "header"),
    ];
    SPELLINGS.iter().find_map(|(from, to)| {
        let rest = text.strip_prefix(from)?;
        (rest.starts_with('.') || rest.starts_with('[')).then(|| format!("{to}{rest}"))
    })
}

/// How a resolved field is read.
pub(crate) enum Src {
    Field(Field),
    Local(String),
    Const(Value),
}

impl<'g, 'a> Lower<'g, 'a> {
    /// Lowers a field path. Returns None when `e` is not rooted at a field namespace.
    pub(crate) fn field(&mut self, e: &Expr) -> Option<Val> {
        let (root, segs) = flatten(e)?;
        if !ROOTS.contains(&root.name.as_str()) {
            return None;
        }
        let (src, ty, used, key) = match self.resolve(e, root, &segs) {
            Some(r) => r,
            None => return Some(Val::err()),
        };
        let ty = if self.sc.narrowed.contains(&key) {
            ty.base().clone()
        } else {
            ty
        };
        let mut val = match src {
            Src::Const(v) => Val::k(v, ty),
            Src::Field(f) => Val {
                ty,
                o: Opnd::R(self.load(f, e.span)),
            },
            Src::Local(name) => {
                let id = self.g.locals.id(&name);
                Val {
                    ty,
                    o: Opnd::R(self.load(Field::Local(id), e.span)),
                }
            }
        };
        if let (Some((bound, what)), Opnd::R(r)) = (self.sc.pending_bound.take(), &val.o) {
            self.sc.bounds.push((*r, bound, what));
        }
        for seg in segs.get(used..).unwrap_or(&[]) {
            val = self.member(val, seg, e.span);
        }
        Some(val)
    }

    /// Dynamic access into a `json` value (or a list by index).
    pub(crate) fn member(&mut self, val: Val, seg: &Seg<'_>, span: Span) -> Val {
        if val.ty.is_err() {
            return val;
        }
        let ok = matches!(val.ty.base(), Ty::Json)
            || (matches!(val.ty.base(), Ty::List(_)) && matches!(seg, Seg::Index(_)));
        if !ok {
            let what = seg.text().unwrap_or_else(|| "[…]".into());
            self.emit(
                Diagnostic::error(
                    "E0201",
                    span,
                    format!("a `{}` has no member `{what}`", val.ty),
                )
                .with_label("no such member"),
            );
            return Val::err();
        }
        let elem = match val.ty.base() {
            Ty::List(t) => (**t).clone().opt(),
            _ => Ty::Json.opt(),
        };
        let a = self.reg_of(&val, span);
        let dst = self.b.reg();
        match seg {
            Seg::Name(n) => {
                let k = self.name_const(&n.name);
                self.b.op(gw_program::Op::Member { dst, a, k }, span);
            }
            Seg::Index(ix) => {
                let iv = self.expr(ix);
                let b = self.reg_of(&iv, ix.span);
                self.b.op(gw_program::Op::Index { dst, a, b }, span);
            }
        }
        Val {
            ty: elem,
            o: Opnd::R(dst),
        }
    }

    fn unknown(&mut self, e: &Expr, what: &str, choices: &[&str]) {
        let text = self.g.cx.snippet(e.span).to_string();
        let mut d = Diagnostic::error("E0201", e.span, format!("unknown {what} `{text}`"))
            .with_label(format!("not a {what}"));
        let last = text.rsplit('.').next().unwrap_or(&text);
        if let Some(fixed) = header_spelling(&text) {
            d = d.with_help(format!("did you mean `{fixed}`?"));
        } else if text == "resp.header" {
            d = d.with_help("name the header: `resp.header.content-type`");
        } else if let Some(s) = gw_syntax::diag::did_you_mean(last, choices.iter().copied()) {
            let prefix = text
                .rsplit_once('.')
                .map_or(String::new(), |(p, _)| format!("{p}."));
            d = d.with_help(format!("did you mean `{prefix}{s}`?"));
        }
        self.emit(d);
    }

    pub(crate) fn phase_only(&mut self, e: &Expr, phase: Phase, what: &str) -> bool {
        if self.sc.phase == phase {
            return true;
        }
        let text = self.g.cx.snippet(e.span).to_string();
        self.emit(
            Diagnostic::error("E0502", e.span, format!("`{text}` is never available here"))
                .with_label(format!("exists only in {what}")),
        );
        false
    }

    #[allow(clippy::type_complexity)]
    fn resolve(
        &mut self,
        e: &Expr,
        root: &Ident,
        segs: &[Seg<'_>],
    ) -> Option<(Src, Ty, usize, String)> {
        let first = segs.first().and_then(Seg::text);
        let key = |n: &str| format!("{}.{n}", root.name);
        if self.sc.const_only && root.name != "var" {
            self.emit(
                Diagnostic::error("E0304", e.span, "expected a constant")
                    .with_label("fields are read per request"),
            );
            return None;
        }
        if let Some(n) = &first
            && matches!(root.name.as_str(), "query" | "path" | "header" | "cookie")
        {
            let n = if root.name == "query" || root.name == "path" {
                n.clone()
            } else {
                n.to_ascii_lowercase()
            };
            let k = key(&n);
            if let Some(r) = self.sc.retyped.iter().find(|r| r.key == k) {
                let name = self
                    .g
                    .locals
                    .names
                    .get(usize::from(r.local))
                    .cloned()
                    .unwrap_or_default();
                return Some((Src::Local(name), r.ty.clone(), 1, k));
            }
        }
        let one = |s: &[Seg<'_>]| s.len() == 1;
        match (root.name.as_str(), first.as_deref()) {
            ("req", Some(m @ ("method" | "path" | "host" | "scheme"))) if one(segs) => {
                let f = match m {
                    "method" => Field::ReqMethod,
                    "path" => Field::ReqPath,
                    "host" => Field::ReqHost,
                    _ => Field::ReqScheme,
                };
                Some((Src::Field(f), Ty::Str, 1, key(m)))
            }
            ("req", _) => self.bad(e, "field", &["method", "path", "host", "scheme"]),
            ("path", Some(n)) if one(segs) => match self.sc.params.iter().position(|p| p == n) {
                Some(i) => Some((
                    Src::Field(Field::PathParam(u8::try_from(i).unwrap_or(u8::MAX))),
                    Ty::Str,
                    1,
                    key(n),
                )),
                None => {
                    let params: Vec<&str> = self.sc.params.iter().map(String::as_str).collect();
                    let mut d = Diagnostic::error(
                        "E0403",
                        e.span,
                        format!("`path.{n}` is not a parameter of this route"),
                    )
                    .with_label(format!("the pattern has no `{{{n}}}`"));
                    if let Some(s) = gw_syntax::diag::did_you_mean(n, params.iter().copied()) {
                        d = d.with_help(format!("did you mean `path.{s}`?"));
                    } else if params.is_empty() {
                        d = d
                            .with_help(format!("route `{}` has no path parameters", self.sc.route));
                    } else {
                        let list: Vec<String> =
                            params.iter().map(|p| format!("`{{{p}}}`")).collect();
                        d = d.with_help(format!("this route has {}", list.join(", ")));
                    }
                    self.emit(d);
                    None
                }
            },
            ("query" | "header" | "cookie", Some(n)) if one(segs) => {
                let n = if root.name == "query" {
                    n.to_string()
                } else {
                    n.to_ascii_lowercase()
                };
                let k = self.name_const(&n);
                let f = match root.name.as_str() {
                    "query" => Field::Query(k),
                    "header" => Field::Header(k),
                    _ => Field::Cookie(k),
                };
                Some((Src::Field(f), Ty::Str.opt(), 1, key(&n)))
            }
            ("client", Some("ip")) if one(segs) => {
                Some((Src::Field(Field::ClientIp), Ty::Ip, 1, key("ip")))
            }
            ("tls", Some("client"))
                if segs.len() == 2 && segs.get(1).and_then(Seg::name) == Some("subject") =>
            {
                Some((
                    Src::Field(Field::TlsSubject),
                    Ty::Str.opt(),
                    2,
                    "tls.client.subject".into(),
                ))
            }
            ("request", Some("id")) if one(segs) => {
                Some((Src::Field(Field::RequestId), Ty::Str, 1, key("id")))
            }
            ("route", Some("name")) if one(segs) => {
                Some((Src::Field(Field::RouteName), Ty::Str, 1, key("name")))
            }
            ("claim", Some(n)) => self.claim(e, n).map(|(s, t)| (s, t, 1, key(n))),
            ("auth", Some("scopes")) if one(segs) => {
                self.need(e, Need::Claims)?;
                let ty = Ty::List(Box::new(Ty::Str));
                Some((
                    Src::Local("auth.scopes".into()),
                    ty,
                    1,
                    "auth.scopes".into(),
                ))
            }
            ("auth", Some("ctx")) => {
                let n = segs.get(1).and_then(Seg::text);
                match n {
                    Some(n) => self
                        .ctx_field(e, &n)
                        .map(|(s, t)| (s, t, 2, format!("auth.ctx.{n}"))),
                    None => self.bad(e, "field", &["ctx"]),
                }
            }
            ("auth", _) => self.bad(e, "field", &["scopes", "ctx"]),
            ("key", Some(n @ ("id" | "plan"))) if one(segs) => {
                self.need(e, Need::Key)?;
                let ty = if self.sc.facts.any {
                    Ty::Str.opt()
                } else {
                    Ty::Str
                };
                Some((Src::Local(key(n)), ty, 1, key(n)))
            }
            ("key", _) => self.bad(e, "field", &["id", "plan"]),
            ("body", Some(_)) => self.body(e, segs),
            ("var", Some(n)) if one(segs) => {
                let (v, t) = self.g.syms.vars.lookup(&mut self.g.cx, n, e.span)?;
                Some((Src::Const(v), t, 1, key(n)))
            }
            ("resp", Some("status")) if one(segs) => self
                .phase_only(e, Phase::Response, "`on response`")
                .then_some((Src::Field(Field::RespStatus), Ty::Int, 1, key("status"))),
            ("resp", Some("header")) if segs.len() == 2 => {
                if !self.phase_only(e, Phase::Response, "`on response`") {
                    return None;
                }
                let n = segs.get(1).and_then(Seg::text)?.to_ascii_lowercase();
                let k = self.name_const(&n);
                Some((
                    Src::Field(Field::RespHeader(k)),
                    Ty::Str.opt(),
                    2,
                    format!("resp.header.{n}"),
                ))
            }
            ("resp", Some("json")) => {
                if !self.phase_only(e, Phase::Response, "`on response`") {
                    return None;
                }
                self.sc.reads_resp_json = true;
                let texts: Vec<String> = segs.iter().skip(1).map_while(Seg::text).collect();
                let used = 1 + texts.len();
                let ptr = pointer(&texts);
                let k = self.name_const(&ptr);
                let key = format!(
                    "resp.json{}",
                    texts.iter().map(|t| format!(".{t}")).collect::<String>()
                );
                Some((Src::Field(Field::RespJson(k)), Ty::Json.opt(), used, key))
            }
            ("resp", _) => self.bad(e, "field", &["status", "header", "json"]),
            ("upstream", Some(n @ ("name" | "latency"))) if one(segs) => {
                let (f, t) = if n == "name" {
                    (Field::UpstreamName, Ty::Str)
                } else {
                    (Field::UpstreamLatency, Ty::Duration)
                };
                self.phase_only(e, Phase::Response, "`on response`")
                    .then_some((Src::Field(f), t, 1, key(n)))
            }
            ("upstream", _) => self.bad(e, "field", &["name", "latency"]),
            ("canary", None) => self
                .phase_only(e, Phase::Response, "`on response`")
                .then_some((Src::Field(Field::Canary), Ty::Bool, 0, "canary".into())),
            ("error", Some(n @ ("status" | "message" | "retry_after"))) if one(segs) => {
                let (f, t) = match n {
                    "status" => (Field::ErrorStatus, Ty::Int),
                    "message" => (Field::ErrorMessage, Ty::Str),
                    _ => (Field::ErrorRetryAfter, Ty::Int.opt()),
                };
                self.phase_only(e, Phase::Error, "`on error`").then_some((
                    Src::Field(f),
                    t,
                    1,
                    key(n),
                ))
            }
            ("error", _) => self.bad(e, "field", &["status", "message", "retry_after"]),
            _ => {
                let subs: &[&str] = match root.name.as_str() {
                    "client" => &["ip"],
                    "tls" => &["client"],
                    "request" => &["id"],
                    "route" => &["name"],
                    _ => &[],
                };
                self.bad(e, "field", subs)
            }
        }
    }

    fn bad<T>(&mut self, e: &Expr, what: &str, choices: &[&str]) -> Option<T> {
        self.unknown(e, what, choices);
        None
    }
}
