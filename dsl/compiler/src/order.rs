//! Step 3, order: `use`/`defaults` expansion, the statements that establish facts later in a
//! route (for E0501's second label), and the diagnostics of fields read too early or never
//! declared (E0501, E0201/E0203 for claims, context and schema fields).

use gw_syntax::ast::{Auth, Expr, Stmt, StmtKind};
use gw_syntax::{Diagnostic, Span};

use crate::ctx::Origin;
use crate::files::SchemaTy;
use crate::lower::{Global, Lower, Need, Phase, Producers};
use crate::types::Ty;

/// A statement of a route after `use` and `defaults` expansion.
#[derive(Clone, Debug)]
pub(crate) struct Expanded<'a> {
    pub stmt: &'a Stmt,
    pub origin: Option<Origin>,
}

/// Prepends `defaults` (unless `defaults off`) and expands every `use` in place.
pub(crate) fn expand<'a>(
    g: &mut Global<'a>,
    body: &'a [Stmt],
    route_span: Span,
) -> Vec<Expanded<'a>> {
    let mut out = Vec::new();
    let off = body.iter().any(|s| matches!(s.kind, StmtKind::DefaultsOff));
    if !off && let Some(defaults) = g.syms.defaults {
        let origin = Origin {
            what: "defaults".into(),
            at: route_span,
        };
        push_all(g, defaults, Some(origin), &mut Vec::new(), &mut out);
    }
    push_all(g, body, None, &mut Vec::new(), &mut out);
    out
}

fn push_all<'a>(
    g: &mut Global<'a>,
    body: &'a [Stmt],
    origin: Option<Origin>,
    stack: &mut Vec<String>,
    out: &mut Vec<Expanded<'a>>,
) {
    for s in body {
        let StmtKind::Use(name) = &s.kind else {
            out.push(Expanded {
                stmt: s,
                origin: origin.clone(),
            });
            continue;
        };
        if let Some(guard) = &s.guard {
            g.cx.emit(
                Diagnostic::error("E0505", guard.span, "`use` cannot have a `when` guard")
                    .with_label("a policy is expanded as written")
                    .with_help("put the `when` on the policy's statements"),
            );
        }
        let Some(id) = g.syms.policies.resolve(&mut g.cx, name) else {
            continue;
        };
        if stack.contains(&name.name) {
            g.cx.emit(
                Diagnostic::error(
                    "E0703",
                    s.span,
                    format!("policy `{}` uses itself", name.name),
                )
                .with_label("expanding this would never end"),
            );
            continue;
        }
        let Some(body) = g.syms.policies.get(id).map(|p| p.value) else {
            continue;
        };
        stack.push(name.name.clone());
        let inner = Some(Origin {
            what: format!("policy `{}`", name.name),
            at: s.span,
        });
        push_all(g, body, inner, stack, out);
        stack.pop();
    }
}

/// The first statement establishing each need, with what it establishes.
pub(crate) fn producers(g: &Global<'_>, stmts: &[Expanded<'_>]) -> Vec<(usize, Producers)> {
    let mut acc = Producers::default();
    let mut out = Vec::with_capacity(stmts.len());
    // Scan backwards so each position sees the nearest later producer.
    for (i, e) in stmts.iter().enumerate().rev() {
        let s = e.stmt;
        match &s.kind {
            StmtKind::Auth(a) => {
                let names: Vec<&str> = match a {
                    Auth::Jwt(n) | Auth::ApiKey(n) | Auth::Authorizer(n) => vec![n.name.as_str()],
                    Auth::Any(ns) => ns.iter().map(|n| n.name.as_str()).collect(),
                };
                let jwts: Vec<u16> = names
                    .iter()
                    .filter_map(|n| g.syms.jwts.find(n).map(|x| x.0))
                    .collect();
                let authzs: Vec<u16> = names
                    .iter()
                    .filter_map(|n| g.syms.authorizers.find(n).map(|x| x.0))
                    .collect();
                if !jwts.is_empty() {
                    acc.claims = Some((s.span, jwts));
                }
                if names.iter().any(|n| g.syms.api_keys.find(n).is_some()) {
                    acc.key = Some(s.span);
                }
                if !authzs.is_empty() {
                    acc.ctx = Some((s.span, authzs));
                }
            }
            StmtKind::ValidateBody(n) => {
                acc.body = Some((s.span, g.syms.schemas.find(&n.name).map(|x| x.0)))
            }
            StmtKind::BufferBody(_) => acc.body = Some((s.span, None)),
            _ => {}
        }
        out.push((i, acc.clone()));
    }
    out.reverse();
    out
}

/// E0501: a field read before the statement that produces it.
pub(crate) fn not_yet(l: &mut Lower<'_, '_>, e: &Expr, need: Need) {
    let text = l.g.cx.snippet(e.span).to_string();
    let (label, here, add) = match need {
        Need::Claims => (
            "claims exist only after `auth jwt`",
            "the token is verified here",
            "auth jwt NAME",
        ),
        Need::Key => (
            "`key.*` exists only after `auth api_key`",
            "the key is checked here",
            "auth api_key NAME",
        ),
        Need::Ctx => (
            "`auth.ctx.*` exists only after `auth authorizer`",
            "the authorizer is called here",
            "auth authorizer NAME",
        ),
        Need::Body => (
            "`body.*` exists only after `validate body` or `buffer body`",
            "the body is read here",
            "validate body SCHEMA",
        ),
    };
    let mut d = Diagnostic::error("E0501", e.span, format!("`{text}` is not available here"))
        .with_label(label);
    let producer = match (l.sc.phase, need) {
        (Phase::Request, Need::Claims) => l.sc.producers.claims.as_ref().map(|p| p.0),
        (Phase::Request, Need::Key) => l.sc.producers.key,
        (Phase::Request, Need::Ctx) => l.sc.producers.ctx.as_ref().map(|p| p.0),
        (Phase::Request, Need::Body) => l.sc.producers.body.as_ref().map(|p| p.0),
        _ => None,
    };
    match producer {
        Some(p) => {
            let (el, _) = l.g.cx.line_col(e.span);
            let (pl, _) = l.g.cx.line_col(p);
            // Line distances only mean something when both are written in the route.
            let same_place = p.file == e.span.file && l.g.cx.origin.is_none();
            let when = match pl.checked_sub(el) {
                Some(1) if same_place => ", one line later".to_string(),
                Some(n) if n > 1 && same_place => format!(", {n} lines later"),
                _ => ", later in this route".to_string(),
            };
            let ptext =
                l.g.cx
                    .snippet(p)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
            d = d.with_secondary(p, format!("{here}{when}"));
            let what = match &l.g.cx.origin {
                Some(o) if o.what.starts_with("policy ") => {
                    format!(
                        "use {}",
                        o.what.trim_start_matches("policy ").replace('`', "")
                    )
                }
                _ => l.sc.stmt_kw.to_string(),
            };
            let mut help = format!("move `{what}` below `{ptext}`");
            if l.sc.stmt_kw == "throttle" && matches!(need, Need::Claims | Need::Key | Need::Ctx) {
                help.push_str(", or key it by `client.ip`");
            }
            d = d.with_help(help);
        }
        None => {
            d = d.with_help(format!(
                "this route has no `{}` before this point: add `{add}` above it",
                add.split(' ').take(2).collect::<Vec<_>>().join(" ")
            ));
        }
    }
    l.emit(d);
}

/// A claim no jwt of the route declares: E0201 when it looks like a typo, else E0203.
pub(crate) fn unknown_claim(l: &mut Lower<'_, '_>, e: &Expr, n: &str, jwts: &[u16]) {
    let mut names: Vec<String> = crate::decls::REGISTERED_CLAIMS
        .iter()
        .map(|(c, _)| c.to_string())
        .collect();
    let mut decl = None;
    for j in jwts {
        if let Some(d) = l.g.syms.jwts.get(*j) {
            names.extend(d.value.claims.iter().map(|c| c.name.clone()));
            decl.get_or_insert((d.name.clone(), d.value.claims_span.unwrap_or(d.span)));
        }
    }
    let (jname, jspan) = decl.unwrap_or_default();
    let where_ = format!("`jwt {jname} {{ claims {{ … }} }}`");
    let declared: Vec<&str> = names.iter().map(String::as_str).collect();
    match gw_syntax::diag::did_you_mean(n, declared.iter().copied()) {
        Some(s) => {
            let (f, line, _) = l.g.cx.sources.locate(jspan);
            let d = Diagnostic::error("E0201", e.span, format!("unknown claim `{n}`"))
                .with_label(format!("not a claim of `jwt {jname}`"))
                .with_help(format!("did you mean `claim.{s}`?"))
                .with_note(format!("claims are declared in {where_} ({f}:{line})"));
            l.emit(d);
        }
        None => l.emit(
            Diagnostic::error("E0203", e.span, format!("undeclared claim `{n}`"))
                .with_label(format!("`jwt {jname}` does not declare it"))
                .with_help(format!("declare it in {where_}")),
        ),
    }
}

/// An authorizer context field the route's authorizer does not declare.
pub(crate) fn unknown_ctx(l: &mut Lower<'_, '_>, e: &Expr, n: &str, authzs: &[u16]) {
    let mut names = Vec::new();
    let mut aname = String::new();
    for a in authzs {
        if let Some(d) = l.g.syms.authorizers.get(*a) {
            names.extend(d.value.context.iter().map(|c| c.name.clone()));
            if aname.is_empty() {
                aname = d.name.clone();
            }
        }
    }
    let where_ = format!("`authorizer {aname} {{ context {{ … }} }}`");
    let d = match gw_syntax::diag::did_you_mean(n, names.iter().map(String::as_str)) {
        Some(s) => Diagnostic::error("E0201", e.span, format!("unknown context field `{n}`"))
            .with_label(format!("not in the context of `authorizer {aname}`"))
            .with_help(format!("did you mean `auth.ctx.{s}`?")),
        None => Diagnostic::error(
            "E0203",
            e.span,
            format!("undeclared authorizer context field `{n}`"),
        )
        .with_label(format!("`authorizer {aname}` does not declare it"))
        .with_help(format!("declare it in {where_}")),
    };
    l.emit(d);
}

/// Types `body.a.b` from a schema: the type, how many segments the schema covers, and the
/// string's `maxLength` when it has one.
pub(crate) fn schema_path(
    l: &mut Lower<'_, '_>,
    e: &Expr,
    id: u16,
    texts: &[String],
) -> Option<(Ty, usize, Option<u64>)> {
    let (sname, shape) = match l.g.syms.schemas.get(id) {
        Some(s) => (s.name.clone(), s.value.shape.clone()),
        None => return Some((Ty::Json.opt(), texts.len(), None)),
    };
    let mut cur = &shape;
    let mut optional = false;
    for (i, t) in texts.iter().enumerate() {
        match cur {
            SchemaTy::Object(props) => match props.iter().find(|p| p.0 == *t) {
                Some((_, s, required)) => {
                    optional |= !required;
                    cur = s;
                }
                None => {
                    let mut d =
                        Diagnostic::error("E0201", e.span, format!("unknown body field `{t}`"))
                            .with_label(format!("not a property of schema `{sname}`"));
                    if let Some(s) =
                        gw_syntax::diag::did_you_mean(t, props.iter().map(|p| p.0.as_str()))
                    {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    l.emit(d);
                    return None;
                }
            },
            SchemaTy::Scalar(_) | SchemaTy::Text(_) => {
                let ty = cur.ty();
                return Some((if optional { ty.opt() } else { ty }, i, None));
            }
        }
    }
    let ty = cur.ty();
    let max = match cur {
        SchemaTy::Text(m) => *m,
        _ => None,
    };
    Some((if optional { ty.opt() } else { ty }, texts.len(), max))
}
