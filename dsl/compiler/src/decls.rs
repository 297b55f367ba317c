//! Declaration settings of the policy side: `jwt`, `api_keys`, `authorizer`, `plan`, `cors`.
//! Each becomes a checked declaration whose `args` go into the plugin specs that use it.

use gw_program::Value;
use gw_syntax::ast::{Expr, ExprKind, FieldDecl, Ident, Setting};
use gw_syntax::{Diagnostic, Span};

use crate::args::{self, Cursor};
use crate::consts::{self, Vars};
use crate::ctx::Ctx;
use crate::files::{self};
use crate::lits;
use crate::types::{self, Ty, TypeError};

/// A declared claim or context field.
#[derive(Clone, Debug)]
pub(crate) struct FieldTy {
    pub name: String,
    pub ty: Ty,
    pub default: Option<Value>,
    pub span: Span,
}

#[derive(Debug)]
pub(crate) struct JwtDecl {
    pub args: Vec<(String, Value)>,
    pub claims: Vec<FieldTy>,
    /// The `claims` keyword, for "claims are declared in …" notes.
    pub claims_span: Option<Span>,
}

/// Registered JWT claims and their types (always optional when read).
pub(crate) const REGISTERED_CLAIMS: &[(&str, Ty)] = &[
    ("iss", Ty::Str),
    ("sub", Ty::Str),
    ("aud", Ty::Json),
    ("exp", Ty::Timestamp),
    ("nbf", Ty::Timestamp),
    ("iat", Ty::Timestamp),
    ("scope", Ty::Str),
    ("scp", Ty::Json),
];

const ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

pub(crate) fn const_str(
    cx: &mut Ctx<'_>,
    vars: &Vars,
    c: &mut Cursor<'_>,
    example: &str,
) -> Option<String> {
    let Some(e) = c.expr() else {
        if c.peek().is_none() {
            args::expected(cx, c.at, "a string", example);
        }
        return None;
    };
    match consts::required(cx, vars, e) {
        Some((Value::Str(s), _)) => Some(s.as_str().to_string()),
        Some(_) => {
            args::expected(cx, c.at, "a string", example);
            None
        }
        // already reported
        None => None,
    }
}

/// `jwt NAME { issuer; audience; jwks URL [refresh D] | jwks file "x"; key file "x";
/// secret env("X") | file "x"; token header|query|cookie "NAME"; algorithms; leeway;
/// cache N [ttl D]; claims }`
pub(crate) fn jwt(cx: &mut Ctx<'_>, vars: &Vars, name: &Ident, body: &[Setting]) -> JwtDecl {
    const KW: &[&str] = &[
        "issuer",
        "audience",
        "jwks",
        "key",
        "secret",
        "token",
        "algorithms",
        "leeway",
        "cache",
        "claims",
    ];
    let what = format!("`jwt {}`", name.name);
    let entries = args::entries(cx, &what, body, KW);
    args::check_unique(cx, &entries, KW);
    let mut out = JwtDecl {
        args: Vec::new(),
        claims: Vec::new(),
        claims_span: None,
    };
    for e in &entries {
        let mut c = Cursor::new(e);
        match e.name.name.as_str() {
            "issuer" | "audience" => {
                if let Some(s) =
                    const_str(cx, vars, &mut c, "`issuer \"https://auth.example.com/\"`")
                {
                    out.args.push((e.name.name.clone(), Value::str(&s)));
                }
            }
            "jwks" => {
                if c.eat_word("file") {
                    if let Some(s) = c.str_lit().and_then(args::plain) {
                        let span = c.at;
                        if let Some((p, text)) = files::read(cx, span, &s) {
                            if serde_json::from_str::<serde_json::Value>(&text).is_err() {
                                cx.emit(
                                    Diagnostic::error(
                                        "E0701",
                                        span,
                                        format!("`{}` is not valid JSON", p.display()),
                                    )
                                    .with_label("JWKS file named here"),
                                );
                            }
                            out.args
                                .push(("jwks_file".into(), Value::str(&p.to_string_lossy())));
                            out.args.push(("jwks".into(), Value::str(&text)));
                        }
                    } else {
                        args::expected(cx, c.at, "a file path", "`jwks file \"keys/jwks.json\"`");
                    }
                } else if let Some(url) =
                    const_str(cx, vars, &mut c, "`jwks \"http://…/jwks.json\"`")
                {
                    if !(url.starts_with("https://") || url.starts_with("http://")) {
                        cx.emit(
                            Diagnostic::error(
                                "E0304",
                                c.at,
                                "a JWKS URL starts with `http://` or `https://`",
                            )
                            .with_label("not a URL")
                            .with_help("for a local file write `jwks file \"keys/jwks.json\"`"),
                        );
                    }
                    out.args.push(("jwks_url".into(), Value::str(&url)));
                    let refresh = if c.eat_word("refresh") {
                        c.lit()
                            .and_then(|l| lits::duration(cx, l, 1_000, 86_400_000))
                    } else {
                        None
                    };
                    out.args.push((
                        "refresh".into(),
                        Value::Duration(refresh.unwrap_or(600_000)),
                    ));
                }
                c.finish(cx, "`jwks`", &["file", "refresh"]);
            }
            "algorithms" => {
                let mut list = Vec::new();
                while let Some(w) = c.word() {
                    if ALGORITHMS.contains(&w.name.as_str()) {
                        list.push(Value::str(&w.name));
                    } else {
                        let mut d = Diagnostic::error(
                            "E0201",
                            w.span,
                            format!("unknown algorithm `{}`", w.name),
                        )
                        .with_label("not a JWS algorithm gw verifies");
                        if let Some(s) =
                            gw_syntax::diag::did_you_mean(&w.name, ALGORITHMS.iter().copied())
                        {
                            d = d.with_help(format!("did you mean `{s}`?"));
                        }
                        cx.emit(d);
                    }
                }
                out.args
                    .push(("algorithms".into(), Value::List(list.into())));
            }
            "leeway" => {
                if let Some(d) = c.lit().and_then(|l| lits::duration(cx, l, 0, 3_600_000)) {
                    out.args.push(("leeway".into(), Value::Duration(d)));
                }
            }
            "key" => {
                if c.eat_word("file")
                    && let Some(s) = c.str_lit().and_then(args::plain)
                {
                    let span = c.at;
                    if let Some((p, text)) = files::read(cx, span, &s) {
                        if !text.contains("-----BEGIN ") {
                            cx.emit(
                                Diagnostic::error(
                                    "E0701",
                                    span,
                                    format!("`{}` is not a PEM file", p.display()),
                                )
                                .with_label("public key named here")
                                .with_help("a `-----BEGIN PUBLIC KEY-----` block is expected"),
                            );
                        }
                        out.args
                            .push(("key_file".into(), Value::str(&p.to_string_lossy())));
                        out.args.push(("key_pem".into(), Value::str(&text)));
                    }
                } else {
                    args::expected(cx, c.at, "a PEM file", "`key file \"keys/rs256.pub.pem\"`");
                }
            }
            "secret" => {
                if let Some(s) = jwt_secret(cx, &mut c) {
                    out.args.push(("secret".into(), Value::str(&s)));
                }
            }
            "token" => {
                let example = "`token header \"x-token\"`, `token query \"access_token\"` or `token cookie \"session\"`";
                let from = ["header", "query", "cookie"]
                    .into_iter()
                    .find(|w| c.eat_word(w));
                match (from, c.str_lit().and_then(args::plain)) {
                    (Some(from), Some(n)) if is_token_name(&n) => {
                        let n = if from == "header" {
                            n.to_ascii_lowercase()
                        } else {
                            n
                        };
                        out.args.push((format!("token_{from}"), Value::str(&n)));
                    }
                    (Some(_), Some(n)) => cx.emit(
                        Diagnostic::error(
                            "E0304",
                            c.at,
                            format!("`{n}` cannot name a token's place"),
                        )
                        .with_label("an empty name, or one with spaces or separators")
                        .with_help(format!("for example: {example}")),
                    ),
                    _ => args::expected(cx, c.at, "where the token is", example),
                }
                c.finish(cx, "`token`", &[]);
            }
            "cache" => {
                if let Some(n) = c.lit().and_then(|l| lits::int(cx, l, 0, 1_000_000)) {
                    out.args.push(("cache".into(), Value::Int(n)));
                } else {
                    args::expected(cx, c.at, "a number of tokens", "`cache 10000 ttl 5m`");
                }
                if c.eat_word("ttl")
                    && let Some(d) = c.lit().and_then(|l| lits::duration(cx, l, 0, 86_400_000))
                {
                    out.args.push(("cache_ttl".into(), Value::Duration(d)));
                }
                c.finish(cx, "`cache`", &["ttl"]);
            }
            _ => match c.fields() {
                Some(f) => {
                    out.claims_span = Some(e.name.span);
                    out.claims = field_decls(cx, vars, f, "claim", true);
                }
                None => args::expected(cx, c.at, "a claims block", "`claims { email: string }`"),
            },
        }
        c.finish(cx, &format!("`{}`", e.name.name), &[]);
    }
    let has = |k: &str| out.args.iter().any(|(n, _)| n == k);
    let keyed = ["jwks_url", "jwks", "key_pem", "secret"]
        .iter()
        .any(|k| has(k));
    let set = |k: &str| entries.iter().any(|e| e.name.name == k);
    if !keyed && !set("jwks") && !set("key") && !set("secret") {
        cx.emit(
            Diagnostic::error(
                "E0304",
                name.span,
                format!("`jwt {}` has no keys", name.name),
            )
            .with_label("tokens cannot be verified without keys")
            .with_help(
                "add `jwks \"http://…/.well-known/jwks.json\"`, `jwks file \"keys/jwks.json\"`, \
                     `key file \"keys/rs256.pub.pem\"` or `secret env(\"JWT_SECRET\")`",
            ),
        );
    }
    if has("jwks_url") && (has("jwks") || has("key_pem") || has("secret")) {
        cx.emit(
            Diagnostic::error(
                "E0304",
                name.span,
                format!("`jwt {}` mixes a JWKS URL with other keys", name.name),
            )
            .with_label("a fetched key set replaces itself whole")
            .with_help("declare another `jwt` for the other keys and use `auth any(a, b)`"),
        );
    }
    if !has("algorithms") {
        let mut all = vec![Value::str("RS256"), Value::str("ES256")];
        if has("secret") {
            all.push(Value::str("HS256"));
        }
        out.args
            .push(("algorithms".into(), Value::List(all.into())));
    }
    if !out.claims.is_empty() {
        let list = out
            .claims
            .iter()
            .map(|c| {
                let mut d = vec![Value::str(&c.name), Value::str(&c.ty.arg_name())];
                d.extend(c.default.clone());
                Value::List(d.into())
            })
            .collect::<Vec<_>>();
        out.args.push(("claims".into(), Value::List(list.into())));
    }
    out
}

/// A header, parameter or cookie name: visible ASCII without separators (RFC 9110 token).
fn is_token_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `secret env("NAME")` or `secret file "path"`: the HMAC secret, read where gw runs (never
/// written in the config itself, never shown by `gw disasm`). A file's final line break is
/// not part of the secret.
fn jwt_secret(cx: &mut Ctx<'_>, c: &mut Cursor<'_>) -> Option<String> {
    let example = "`secret env(\"JWT_SECRET\")` or `secret file \"keys/jwt.secret\"`";
    if c.eat_word("file") {
        let Some(s) = c.str_lit().and_then(args::plain) else {
            args::expected(cx, c.at, "a file path", example);
            return None;
        };
        let (_, text) = files::read(cx, c.at, &s)?;
        let secret = text.trim_end_matches(['\n', '\r']).to_string();
        if secret.is_empty() {
            cx.emit(
                Diagnostic::error("E0304", c.at, "the secret file is empty")
                    .with_label("secret file named here"),
            );
            return None;
        }
        return Some(secret);
    }
    let var = match c.expr().map(|e| &e.kind) {
        Some(ExprKind::Call { func, args }) if func.name == "env" => match args.as_slice() {
            [
                Expr {
                    kind: ExprKind::Str(s),
                    ..
                },
            ] => s.as_plain(),
            _ => None,
        },
        _ => None,
    };
    let Some(var) = var else {
        args::expected(cx, c.at, "an environment variable or a file", example);
        return None;
    };
    match (cx.opts.env)(&var) {
        Some(v) if !v.is_empty() => Some(v),
        _ => {
            cx.emit(
                Diagnostic::error(
                    "E0304",
                    c.at,
                    format!("environment variable `{var}` is not set"),
                )
                .with_label("the HMAC secret is read from it")
                .with_help("set it where gw runs, or use `secret file \"…\"`"),
            );
            None
        }
    }
}

/// `claims { }` / `context { }` entries, with E0202 for a name declared twice.
pub(crate) fn field_decls(
    cx: &mut Ctx<'_>,
    vars: &Vars,
    fields: &[FieldDecl],
    what: &str,
    claims: bool,
) -> Vec<FieldTy> {
    let mut out: Vec<FieldTy> = Vec::new();
    for f in fields {
        if let Some(first) = out.iter().find(|x| x.name == f.name.name) {
            cx.emit(
                Diagnostic::error(
                    "E0202",
                    f.name.span,
                    format!("{what} `{}` is declared twice", f.name.name),
                )
                .with_label("declared again here")
                .with_secondary(first.span, "first defined here"),
            );
            continue;
        }
        if claims && REGISTERED_CLAIMS.iter().any(|(n, _)| *n == f.name.name) {
            cx.emit(
                Diagnostic::error(
                    "E0202",
                    f.name.span,
                    format!("claim `{}` is built in", f.name.name),
                )
                .with_label("registered claims need no declaration"),
            );
            continue;
        }
        let ty = match types::written(&f.ty) {
            // the refinements are checks `validate params` makes; a claim or a context field
            // is typed, never checked against them
            Ok(w) if w.uuid || w.range.is_some() || !w.one_of.is_empty() || w.pattern.is_some() => {
                cx.emit(
                    Diagnostic::error("E0304", f.ty.span, format!("a {what} takes a plain type"))
                        .with_label(
                            "`uuid`, `1..100`, `in [...]` and `matches` are for `validate params`",
                        )
                        .with_help("check the value with `require` after `auth`"),
                );
                Ty::Err
            }
            Ok(w) => w.ty,
            Err(e) => {
                type_error(cx, f.ty.span, e);
                Ty::Err
            }
        };
        let default = match &f.default {
            Some(d) => match consts::required(cx, vars, d) {
                Some((v, t)) if t.compatible(&ty) => Some(v),
                Some((_, t)) => {
                    cx.emit(
                        Diagnostic::error(
                            "E0301",
                            d.span,
                            format!("mismatched types: expected `{ty}`, found `{t}`"),
                        )
                        .with_label(format!("a `{t}` default for a `{ty}` field")),
                    );
                    None
                }
                None => None,
            },
            None => None,
        };
        out.push(FieldTy {
            name: f.name.name.clone(),
            ty,
            default,
            span: f.name.span,
        });
    }
    out
}

/// Reports a rejected written type.
pub(crate) fn type_error(cx: &mut Ctx<'_>, span: Span, e: TypeError) {
    let d = match e {
        TypeError::Unknown(n, hint) => {
            let d = Diagnostic::error("E0201", span, format!("unknown type `{n}`"))
                .with_label("not a type");
            match hint {
                Some(h) => d.with_help(format!("did you mean `{h}`?")),
                None => d.with_help(format!("types: {}", types::TYPE_NAMES.join(", "))),
            }
        }
        TypeError::Arity(m) => Diagnostic::error("E0301", span, m).with_label("here"),
        TypeError::Range(m) => Diagnostic::error("E0304", span, m).with_label("here"),
    };
    cx.emit(d);
}
