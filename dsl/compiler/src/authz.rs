//! `authorizer` and `cors` declarations.

use gw_program::Value;
use gw_syntax::Diagnostic;
use gw_syntax::Span;
use gw_syntax::ast::{Expr, Ident, Setting};

use crate::args::{self, Cursor};
use crate::consts::{self, Vars};
use crate::ctx::Ctx;
use crate::decls::{FieldTy, const_str, field_decls};
use crate::lits;

#[derive(Debug)]
pub(crate) struct AuthzDecl<'a> {
    pub args: Vec<(String, Value)>,
    pub identity: Option<&'a Expr>,
    pub context: Vec<FieldTy>,
    /// `on_error allow`: fail-open (lint W0103).
    pub fail_open: Option<Span>,
}

/// `authorizer NAME { url; identity EXPR; ttl; timeout; on_error deny [STATUS] | allow; context { } }`
pub(crate) fn authorizer<'a>(
    cx: &mut Ctx<'_>,
    vars: &Vars,
    name: &Ident,
    body: &'a [Setting],
) -> AuthzDecl<'a> {
    const KW: &[&str] = &["url", "identity", "ttl", "timeout", "on_error", "context"];
    let what = format!("`authorizer {}`", name.name);
    let entries = args::entries(cx, &what, body, KW);
    args::check_unique(cx, &entries, KW);
    let mut out = AuthzDecl {
        args: Vec::new(),
        identity: None,
        context: Vec::new(),
        fail_open: None,
    };
    let mut on_error = ("deny", 503i64);
    for e in &entries {
        let mut c = Cursor::new(e);
        match e.name.name.as_str() {
            "url" => {
                if let Some(u) =
                    const_str(cx, vars, &mut c, "`url \"http://10.0.9.5:8000/authorize\"`")
                {
                    if !(u.starts_with("http://") || u.starts_with("https://")) {
                        cx.emit(
                            Diagnostic::error(
                                "E0304",
                                c.at,
                                "an authorizer URL starts with `http://` or `https://`",
                            )
                            .with_label("not a URL"),
                        );
                    }
                    out.args.push(("url".into(), Value::str(&u)));
                }
            }
            "identity" => match c.expr() {
                Some(x) => out.identity = Some(x),
                None => {
                    args::expected(cx, c.at, "an expression", "`identity header.authorization`")
                }
            },
            "ttl" => {
                if let Some(l) = c.lit() {
                    match l.value {
                        gw_syntax::ast::LitValue::Duration(ms) if ms > 3_600_000 => cx.emit(
                            Diagnostic::error("E0304", l.span, "authorizer `ttl` is over 3600s")
                                .with_label("decisions may be cached for at most an hour")
                                .with_help("write `ttl 3600s` or less"),
                        ),
                        _ => {
                            if let Some(d) = lits::duration(cx, l, 0, 3_600_000) {
                                out.args.push(("ttl".into(), Value::Duration(d)));
                            }
                        }
                    }
                }
            }
            "timeout" => {
                if let Some(d) = c.lit().and_then(|l| lits::duration(cx, l, 1, 60_000)) {
                    out.args.push(("timeout".into(), Value::Duration(d)));
                }
            }
            "on_error" => {
                if c.eat_word("allow") {
                    on_error = ("allow", 0);
                    out.fail_open = Some(e.span);
                } else if c.eat_word("deny") {
                    if let Some(s) = c.lit().and_then(|l| lits::status(cx, l)) {
                        on_error = ("deny", i64::from(s));
                    }
                } else {
                    args::expected(
                        cx,
                        c.at,
                        "`deny [STATUS]` or `allow`",
                        "`on_error deny 503`",
                    );
                }
                c.finish(cx, "`on_error`", &["deny", "allow"]);
            }
            _ => match c.fields() {
                Some(f) => out.context = field_decls(cx, vars, f, "context field", false),
                None => args::expected(cx, c.at, "a context block", "`context { user: string }`"),
            },
        }
        c.finish(cx, &format!("`{}`", e.name.name), &[]);
    }
    if !out.args.iter().any(|(k, _)| k == "url") && !entries.iter().any(|e| e.name.name == "url") {
        cx.emit(
            Diagnostic::error(
                "E0304",
                name.span,
                format!("`authorizer {}` has no `url`", name.name),
            )
            .with_label("nothing to call"),
        );
    }
    out.args.push(("on_error".into(), Value::str(on_error.0)));
    out.args
        .push(("on_error_status".into(), Value::Int(on_error.1)));
    for f in &out.context {
        if let Some(d) = &f.default {
            out.args
                .push((format!("default.auth.ctx.{}", f.name), d.clone()));
        }
    }
    out
}

/// `cors { origins ..; methods ..; headers ..; expose ..; credentials ..; max_age .. }`
pub(crate) fn cors(cx: &mut Ctx<'_>, vars: &Vars, body: &[Setting]) -> Vec<(String, Value)> {
    const KW: &[&str] = &[
        "origins",
        "methods",
        "headers",
        "expose",
        "credentials",
        "max_age",
    ];
    let entries = args::entries(cx, "`cors`", body, KW);
    args::check_unique(cx, &entries, KW);
    let mut out = Vec::new();
    for e in &entries {
        let mut c = Cursor::new(e);
        let kw = e.name.name.as_str();
        match kw {
            "credentials" => {
                let b = match c.lit().map(|l| &l.value) {
                    Some(gw_syntax::ast::LitValue::Bool(b)) => *b,
                    _ => {
                        args::expected(cx, c.at, "`true` or `false`", "`credentials true`");
                        false
                    }
                };
                out.push((kw.to_string(), Value::Bool(b)));
            }
            "max_age" => {
                if let Some(d) = c.lit().and_then(|l| lits::duration(cx, l, 0, 86_400_000)) {
                    out.push((kw.to_string(), Value::Duration(d)));
                }
            }
            _ => {
                let mut list = Vec::new();
                while let Some(a) = c.peek() {
                    if let Some(w) = args::word_of(a) {
                        list.push(Value::str(&w.name));
                        c.next();
                    } else if let Some(x) = c.expr() {
                        match consts::required(cx, vars, x) {
                            Some((Value::Str(s), _)) => list.push(Value::Str(s)),
                            Some(_) => args::expected(
                                cx,
                                x.span,
                                "a string",
                                "`origins \"https://app.example.com\"`",
                            ),
                            None => {}
                        }
                    } else {
                        break;
                    }
                }
                if kw == "origins" {
                    for v in list.iter().filter_map(Value::as_str) {
                        if v != "*" && !v.starts_with("https://") && !v.starts_with("http://") {
                            cx.emit(
                                Diagnostic::error(
                                    "E0304",
                                    e.span,
                                    format!("CORS origin `{v}` is not an origin"),
                                )
                                .with_label("expected `https://host`"),
                            );
                        }
                    }
                }
                out.push((kw.to_string(), Value::List(list.into())));
            }
        }
        c.finish(cx, &format!("`{kw}`"), &[]);
    }
    // a browser refuses `*` on a credentialed request: the config would never work
    let wildcard = out.iter().any(|(k, v)| {
        k == "origins" && matches!(v, Value::List(l) if l.iter().any(|o| o.as_str() == Some("*")))
    });
    let credentials = out
        .iter()
        .any(|(k, v)| k == "credentials" && *v == Value::Bool(true));
    if wildcard
        && credentials
        && let Some(e) = entries.iter().find(|e| e.name.name == "credentials")
    {
        cx.emit(
            Diagnostic::error(
                "E0304",
                e.span,
                "CORS `credentials true` cannot go with `origins \"*\"`",
            )
            .with_label("a browser refuses a wildcard origin on credentialed requests")
            .with_help("list the origins that may send credentials"),
        );
    }
    out
}
