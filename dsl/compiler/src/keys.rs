//! `api_keys` (with its keys file) and `plan` declarations.

use gw_program::Value;
use gw_syntax::ast::{Ident, Setting};
use gw_syntax::{Diagnostic, Span};

use crate::args::{self, Cursor};
use crate::consts::Vars;
use crate::ctx::Ctx;
use crate::decls::const_str;
use crate::files::{self, KeyLine};
use crate::lits;

#[derive(Debug)]
pub(crate) struct ApiKeysDecl {
    pub args: Vec<(String, Value)>,
    pub keys: Vec<KeyLine>,
    /// The `file "…"` string, for E0504 on unknown plans.
    pub file_span: Option<Span>,
    pub file_name: String,
}

#[derive(Debug)]
pub(crate) struct PlanDecl {
    pub rate: Option<(u64, u64)>,
    pub burst: i64,
    pub quota: Option<(i64, String)>,
    pub scope: Scope,
}

/// Where a limit counts: `scope node` (the default) or `store redis "URL"` with its
/// `on_store_down allow|deny` (default deny).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scope {
    pub store: Option<String>,
    pub on_down: Option<String>,
}

impl Scope {
    /// The spec arguments: `store` and `on_store_down`, none for `scope node`.
    pub(crate) fn args(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        if let Some(url) = &self.store {
            out.push(("store".into(), Value::str(url)));
            let down = self.on_down.as_deref().unwrap_or("deny");
            out.push(("on_store_down".into(), Value::str(down)));
        }
        out
    }
}

/// One scope setting (`scope node`, `store redis "URL"`, `on_store_down allow|deny`) at the
/// cursor, into `out`; E0304 for a bad value.
pub(crate) fn scope_setting(cx: &mut Ctx<'_>, kw: &str, c: &mut Cursor<'_>, out: &mut Scope) {
    match kw {
        "scope" => match c.word() {
            Some(w) if w.name == "node" => {}
            _ => args::expected(
                cx,
                c.at,
                "`node`",
                "`scope node` (or `store redis \"redis://host:6379\"`)",
            ),
        },
        "store" => {
            if !c.eat_word("redis") {
                args::expected(cx, c.at, "`redis`", "`store redis \"redis://host:6379\"`");
                return;
            }
            match c
                .str_lit()
                .and_then(|s| args::plain(s).map(|p| (p, s.span)))
            {
                Some((url, _)) if url.starts_with("redis://") && url.len() > 8 => {
                    out.store = Some(url);
                }
                Some((url, span)) => cx.emit(
                    Diagnostic::error("E0304", span, format!("`{url}` is not a redis:// URL"))
                        .with_label("Redis address expected")
                        .with_help("write `store redis \"redis://host:6379\"`"),
                ),
                None => args::expected(cx, c.at, "a URL", "`store redis \"redis://host:6379\"`"),
            }
        }
        _ => match c.word() {
            Some(w) if w.name == "allow" || w.name == "deny" => out.on_down = Some(w.name.clone()),
            _ => args::expected(cx, c.at, "`allow` or `deny`", "`on_store_down deny`"),
        },
    }
}

/// `api_keys NAME { file "…"; header "…" | query "…" }`
pub(crate) fn api_keys(
    cx: &mut Ctx<'_>,
    vars: &Vars,
    name: &Ident,
    body: &[Setting],
) -> ApiKeysDecl {
    const KW: &[&str] = &["file", "header", "query"];
    let what = format!("`api_keys {}`", name.name);
    let entries = args::entries(cx, &what, body, KW);
    args::check_unique(cx, &entries, KW);
    let mut out = ApiKeysDecl {
        args: Vec::new(),
        keys: Vec::new(),
        file_span: None,
        file_name: String::new(),
    };
    for e in &entries {
        let mut c = Cursor::new(e);
        match e.name.name.as_str() {
            "file" => match c
                .str_lit()
                .and_then(|s| args::plain(s).map(|p| (p, s.span)))
            {
                Some((path, span)) => {
                    out.file_span = Some(span);
                    out.file_name = path.clone();
                    if let Some((p, text)) = files::read(cx, span, &path) {
                        match files::parse_keys(&text) {
                            Ok(keys) => out.keys = keys,
                            Err((line, why)) => cx.emit(
                                Diagnostic::error(
                                    "E0701",
                                    span,
                                    format!("invalid keys file `{path}`, line {line}: {why}"),
                                )
                                .with_label("keys file named here")
                                .with_help("one key per line: `sha256:<hex> id=<id> plan=<plan>`"),
                            ),
                        }
                        out.args
                            .push(("file".into(), Value::str(&p.to_string_lossy())));
                    }
                }
                None => args::expected(cx, c.at, "a file path", "`file \"keys/partners.txt\"`"),
            },
            kw => {
                if let Some(h) = const_str(cx, vars, &mut c, "`header \"x-api-key\"`") {
                    out.args
                        .push((kw.to_string(), Value::str(&h.to_ascii_lowercase())));
                }
            }
        }
        c.finish(cx, &format!("`{}`", e.name.name), &[]);
    }
    if out.file_span.is_none() {
        cx.emit(
            Diagnostic::error(
                "E0304",
                name.span,
                format!("`api_keys {}` has no `file`", name.name),
            )
            .with_label("no keys to check against")
            .with_help("add `file \"keys/partners.txt\"`"),
        );
    }
    if entries.iter().any(|e| e.name.name == "header")
        && entries.iter().any(|e| e.name.name == "query")
    {
        cx.emit(
            Diagnostic::error(
                "E0304",
                name.span,
                "`api_keys` reads the key from a header or a query, not both",
            )
            .with_label("both `header` and `query` given"),
        );
    }
    if !out.args.iter().any(|(k, _)| k == "header" || k == "query") {
        out.args.push(("header".into(), Value::str("x-api-key")));
    }
    let keys: Vec<Value> = out
        .keys
        .iter()
        .map(|k| {
            let plan = k.plan.as_deref().map_or(Value::Absent, Value::str);
            Value::List(vec![Value::str(&k.hash), Value::str(&k.id), plan].into())
        })
        .collect();
    out.args.push(("keys".into(), Value::List(keys.into())));
    out
}

/// `plan NAME { rate R burst N; quota N per day|week|month }`
pub(crate) fn plan(cx: &mut Ctx<'_>, name: &Ident, body: &[Setting]) -> PlanDecl {
    const KW: &[&str] = &["rate", "burst", "quota", "scope", "store", "on_store_down"];
    let what = format!("`plan {}`", name.name);
    let entries = args::entries(cx, &what, body, KW);
    args::check_unique(cx, &entries, KW);
    let mut out = PlanDecl {
        rate: None,
        burst: 0,
        quota: None,
        scope: Scope::default(),
    };
    for e in &entries {
        let mut c = Cursor::new(e);
        match e.name.name.as_str() {
            kw @ ("scope" | "store" | "on_store_down") => {
                scope_setting(cx, kw, &mut c, &mut out.scope);
            }
            "rate" => out.rate = c.lit().and_then(|l| lits::rate(cx, l)),
            "burst" => {
                out.burst = c
                    .lit()
                    .and_then(|l| lits::int(cx, l, 1, 1_000_000_000))
                    .unwrap_or(1)
            }
            _ => {
                let n = c.lit().and_then(|l| lits::int(cx, l, 1, i64::MAX));
                if !c.eat_word("per") {
                    args::expected(cx, c.at, "`per day|week|month`", "`quota 10_000 per month`");
                } else {
                    match c.word() {
                        Some(w) if ["day", "week", "month"].contains(&w.name.as_str()) => {
                            out.quota = n.map(|n| (n, w.name.clone()));
                        }
                        _ => args::expected(
                            cx,
                            c.at,
                            "`day`, `week` or `month`",
                            "`quota 10_000 per month`",
                        ),
                    }
                }
            }
        }
        c.finish(cx, &format!("`{}`", e.name.name), &[]);
    }
    let has = |kw: &str| entries.iter().find(|e| e.name.name == kw);
    if let (Some(s), Some(_)) = (has("scope"), has("store")) {
        cx.emit(
            Diagnostic::error(
                "E0304",
                s.name.span,
                "`scope node` and `store` contradict each other",
            )
            .with_label("counted on this node, or in the store: one of them")
            .with_help("keep `store redis …` for a limit the fleet shares, else `scope node`"),
        );
    }
    if let (Some(d), None) = (has("on_store_down"), has("store")) {
        cx.emit(
            Diagnostic::error("E0304", d.name.span, "`on_store_down` without a `store`")
                .with_label("a node-scoped limit has no store to lose")
                .with_help("add `store redis \"redis://host:6379\"` or remove this line"),
        );
    }
    if out.rate.is_some() && out.burst == 0 {
        out.burst = out.rate.map_or(1, |(n, _)| i64::try_from(n).unwrap_or(1));
    }
    out
}

impl PlanDecl {
    /// The plugin argument value: `[rate, burst, quota | absent, period | absent, store |
    /// absent, on_store_down | absent]`.
    pub(crate) fn arg(&self) -> Value {
        let rate = self
            .rate
            .map_or(Value::Absent, |(count, per_ms)| Value::Rate {
                count,
                per_ms,
            });
        let (q, p) = match &self.quota {
            Some((n, per)) => (Value::Int(*n), Value::str(per)),
            None => (Value::Absent, Value::Absent),
        };
        let store = self
            .scope
            .store
            .as_deref()
            .map_or(Value::Absent, Value::str);
        let down = match &self.scope.store {
            Some(_) => Value::str(self.scope.on_down.as_deref().unwrap_or("deny")),
            None => Value::Absent,
        };
        Value::List(vec![rate, Value::Int(self.burst), q, p, store, down].into())
    }
}
