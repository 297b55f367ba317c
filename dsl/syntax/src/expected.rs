//! E0101: pest's "expected one of these rules" turned into words an operator reads, with
//! did-you-mean for misspelt keywords.

use pest::error::{Error, ErrorVariant, InputLocation};

use crate::diag::{Diagnostic, did_you_mean};
use crate::grammar::Rule;
use crate::habits;
use crate::prescan::to_u32;
use crate::span::{FileId, Span};

/// Keywords that start a top-level declaration.
pub(crate) const DECL_KEYWORDS: &[&str] = &[
    "listen",
    "admin",
    "include",
    "workers",
    "limits",
    "timeouts",
    "vars",
    "upstream",
    "jwt",
    "api_keys",
    "authorizer",
    "plan",
    "schema",
    "policy",
    "defaults",
    "cors",
    "log",
    "tracing",
    "host",
    "route",
    "on",
];

/// Keywords that start a route statement.
const STMT_KEYWORDS: &[&str] = &[
    "use",
    "auth",
    "require",
    "validate",
    "buffer",
    "throttle",
    "cache",
    "set",
    "append",
    "remove",
    "rewrite",
    "body",
    "upstream",
    "canary",
    "respond",
    "timeout",
    "retry",
    "websocket",
    "budget",
    "allow_in_path",
    "cors",
    "defaults",
    "on",
];

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "ANY",
];

/// How an expected address is named (a bare port then gets "did you mean `:8080`?").
const ADDR_SHORT: &str = "an address such as `:443` or `127.0.0.1:8080`";

/// One expected thing: how the message and the label say it, and keywords to suggest.
struct Expect {
    long: String,
    short: String,
    words: Vec<&'static str>,
}

fn expect(long: &str, short: &str, words: &[&'static str]) -> Expect {
    Expect {
        long: long.into(),
        short: short.into(),
        words: words.to_vec(),
    }
}

fn same(text: &str) -> Expect {
    expect(text, text, &[])
}

fn describe(rule: Rule) -> Expect {
    let name = format!("{rule:?}");
    if let Some(kw) = name.strip_prefix("kw_") {
        let words = STMT_KEYWORDS
            .iter()
            .chain(DECL_KEYWORDS)
            .chain(AUX_KEYWORDS)
            .copied()
            .filter(|w| *w == kw)
            .take(1)
            .collect();
        return Expect {
            long: format!("`{kw}`"),
            short: format!("`{kw}`"),
            words,
        };
    }
    match rule {
        Rule::op_prefix => return same("an expression"),
        Rule::op_bin | Rule::op_ternary | Rule::op_ternary_nl => return same("an operator"),
        _ => {}
    }
    match rule {
        Rule::next_decl | Rule::decl => expect(
            "a declaration such as `route`, `upstream`, `listen` or `jwt`",
            "a declaration",
            DECL_KEYWORDS,
        ),
        Rule::stmt => expect(
            "a statement such as `upstream`, `respond`, `require`, `set header`",
            "a statement",
            STMT_KEYWORDS,
        ),
        Rule::end | Rule::EOI => same("end of file"),
        Rule::close => same("`}`"),
        Rule::lbrace => same("`{`"),
        Rule::assign => same("`=`"),
        Rule::colon => same("`:`"),
        Rule::item_end | Rule::decl_end => same("end of line"),
        Rule::expr | Rule::expr_nl | Rule::operand => same("an expression"),
        Rule::ident | Rule::name | Rule::call_name => same("a name"),
        Rule::method => expect(
            "an HTTP method (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`, `OPTIONS`, `ANY`)",
            "a method",
            METHODS,
        ),
        Rule::path_pattern => same("a path such as `/pets/{id}`"),
        Rule::string | Rule::raw_string => same("a string"),
        Rule::num_lit | Rule::numeric => same("a number"),
        Rule::addr => same(ADDR_SHORT),
        Rule::setting => same("a setting"),
        Rule::fields_key => expect("`claims`, `context`", "a setting", &["claims", "context"]),
        Rule::field_decl => same("a field such as `email: string`"),
        Rule::param_spec => same("a parameter such as `query.limit: int`"),
        Rule::type_expr => same("a type such as `string` or `list<string>`"),
        Rule::var_def => same("a variable such as `region = \"eu-west-1\"`"),
        Rule::tpl_field => same("a field such as `name: value`"),
        Rule::tpl_value => same("a value"),
        Rule::template => same("a JSON template `{ … }`"),
        Rule::header_name => same("a header name"),
        Rule::header_entry => same("a header such as `cache-control: \"no-store\"`"),
        Rule::guard => expect("`when`", "`when`", &["when"]),
        Rule::auth_kind => expect(
            "`jwt`, `api_key`, `authorizer`",
            "an auth kind",
            &["jwt", "api_key", "authorizer"],
        ),
        Rule::timeout_phase => expect(
            "a timeout phase (`connect`, `request`)",
            "a timeout phase",
            &["connect", "request"],
        ),
        Rule::retry_cond => same("a retry condition such as `connect_error`"),
        Rule::respond_body => expect(
            "a body (`json {…}`, `text \"…\"`)",
            "a body",
            &["json", "text"],
        ),
        Rule::respond_headers => expect("`headers {…}`", "`headers`", &["headers"]),
        Rule::require_else => expect("`else`", "`else`", &["else"]),
        Rule::throttle_burst => expect("`burst`", "`burst`", &["burst"]),
        Rule::throttle_by => expect("`by`", "`by`", &["by"]),
        Rule::throttle_name => expect("`name`", "`name`", &["name"]),
        Rule::throttle_scope => expect(
            "`scope node` or `store redis \"URL\"`",
            "`scope` or `store`",
            &["scope", "store", "on_store_down"],
        ),
        Rule::throttle_down => expect("`on_store_down`", "`on_store_down`", &["on_store_down"]),
        Rule::hash_by => expect("`hash by`", "`hash by`", &["hash"]),
        Rule::cache_ttl => expect("`ttl`", "`ttl`", &["ttl"]),
        Rule::cache_key => expect("`key`", "`key`", &["key"]),
        Rule::cache_vary => expect("`vary`", "`vary`", &["vary"]),
        Rule::canary_weight => expect("`weight`", "`weight`", &["weight"]),
        Rule::canary_sticky => expect("`sticky by`", "`sticky by`", &["sticky"]),
        Rule::canary_force => expect("`force when`", "`force when`", &["force"]),
        Rule::route => expect("a route", "a route", &["route"]),
        _ => same(&name.replace('_', " ")),
    }
}

/// Second words of statements, for did-you-mean after `auth`, `validate`, `on`, ...
const AUX_KEYWORDS: &[&str] = &[
    "tls",
    "error",
    "websocket",
    "when",
    "any",
    "else",
    "params",
    "body",
    "burst",
    "by",
    "name",
    "ttl",
    "key",
    "vary",
    "header",
    "headers",
    "query",
    "status",
    "path",
    "json",
    "text",
    "hash",
    "to",
    "weight",
    "sticky",
    "force",
    "off",
    "response",
    "file",
    "plan",
];

/// What stands at `at`: its description and span.
fn found(text: &str, at: usize, file: FileId) -> (String, Span, Option<String>) {
    let rest = text.get(at..).unwrap_or("");
    let span = |len: usize| Span::new(file, to_u32(at), to_u32(at + len));
    let Some(c) = rest.chars().next() else {
        return ("end of file".into(), span(0), None);
    };
    if c == '\n' || c == '\r' {
        return ("end of line".into(), span(0), None);
    }
    let word_len = rest
        .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '-'))
        .unwrap_or(rest.len());
    if c.is_ascii_alphanumeric() || c == '_' {
        let word = rest.get(..word_len).unwrap_or("");
        let is_word = c.is_ascii_alphabetic() || c == '_';
        return (
            format!("`{word}`"),
            span(word_len),
            is_word.then(|| word.to_string()),
        );
    }
    if c == '"' {
        return ("a string".into(), span(1), None);
    }
    (format!("`{c}`"), span(c.len_utf8()), None)
}

fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The error offset of a pest error, in its input.
pub(crate) fn error_offset(err: &Error<Rule>) -> usize {
    match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
}

/// E0101 for a pest error in the slice of `text` starting at `base`.
pub(crate) fn syntax_error(err: &Error<Rule>, text: &str, base: usize, file: FileId) -> Diagnostic {
    let at = base + error_offset(err);
    if let Some(d) = habits::explain(text, at, file) {
        return d;
    }
    let (what, span, word) = found(text, at, file);
    let positives = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let mut expects: Vec<Expect> = Vec::new();
    // Terminators read best last; "end of file" only when nothing else fits.
    let is_end = |r: &Rule| {
        matches!(
            r,
            Rule::item_end | Rule::decl_end | Rule::close | Rule::end | Rule::EOI
        )
    };
    let only_end = positives.iter().all(|r| matches!(r, Rule::end | Rule::EOI));
    // A postfix `.x` or `[i]` is possible after any operand; naming it adds only noise.
    let positives: Vec<Rule> = positives
        .into_iter()
        .filter(|r| !matches!(r, Rule::member | Rule::index))
        .collect();
    let (mut rules, ends): (Vec<Rule>, Vec<Rule>) = positives.into_iter().partition(|r| !is_end(r));
    rules.extend(
        ends.into_iter()
            .filter(|r| only_end || !matches!(r, Rule::end | Rule::EOI)),
    );
    for e in rules.into_iter().map(describe) {
        if !expects.iter().any(|x| x.long == e.long) {
            expects.push(e);
        }
    }
    if expects.is_empty() {
        return Diagnostic::error("E0101", span, format!("unexpected {what}"))
            .with_label("unexpected token");
    }
    let long: Vec<String> = expects.iter().map(|e| e.long.clone()).collect();
    let mut short: Vec<String> = Vec::new();
    for e in &expects {
        if !short.contains(&e.short) {
            short.push(e.short.clone());
        }
    }
    let mut d = Diagnostic::error(
        "E0101",
        span,
        format!("expected {}, found {what}", join(&long)),
    )
    .with_label(format!("expected {}", join(&short)));
    if expects.iter().any(|e| e.short == ADDR_SHORT)
        && let Some(help) = habits::bare_port(text, at)
    {
        return d.with_help(help);
    }
    if let Some(word) = word {
        let words: Vec<&str> = expects
            .iter()
            .flat_map(|e| e.words.iter().copied())
            .collect();
        if let Some(m) = METHODS
            .iter()
            .find(|m| m.eq_ignore_ascii_case(&word))
            .filter(|_| words.contains(&"GET"))
        {
            d = d.with_help(format!("HTTP methods are written in upper case: `{m}`"));
        } else if let Some(s) = did_you_mean(&word, words).filter(|s| *s != word) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
    }
    d
}
