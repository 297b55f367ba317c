//! The typed syntax tree of a `.gw` configuration. Every node carries a [`Span`].
//!
//! Top-level declarations whose bodies are lists of settings (`upstream`, `jwt`, `cors`,
//! `limits`, ...) keep those bodies as [`Setting`]s: the grammar fixes which settings and
//! argument shapes exist, and the compiler reads them by name. Route statements and
//! expressions are fully typed.

use crate::span::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A parsed configuration: the root file with every `include` expanded in place.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Config {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub kind: ItemKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    /// `listen ADDR [tls { cert "..." key "..."; client_ca "..." }]`, or a plain listener's
    /// own options `listen ADDR { allow_in_path "%2F" }` (a TLS one takes them in `tls { }`).
    Listen {
        addr: Addr,
        tls: Option<Vec<Setting>>,
        options: Option<Vec<Setting>>,
    },
    /// `admin ADDR`
    Admin(Addr),
    /// `include "path.gw"`: kept as a record after expansion (its items follow it).
    Include(StrLit),
    /// `workers N`
    Workers(Lit),
    /// `limits { body 10MiB; url 8KiB; headers 10KiB; header_count 100; ... }`
    Limits(Vec<Setting>),
    /// `timeouts { header_read 10s; idle 60s; ... }`
    Timeouts(Vec<Setting>),
    /// `vars { name = EXPR }`
    Vars(Vec<VarDef>),
    /// `upstream NAME { server ...; balance ...; timeout ...; health ... }`
    Upstream {
        name: Ident,
        body: Vec<Setting>,
    },
    /// `jwt NAME { issuer ...; audience ...; jwks ...; algorithms ...; leeway ...; claims {..} }`
    Jwt {
        name: Ident,
        body: Vec<Setting>,
    },
    /// `api_keys NAME { file "..."; header "..." | query "..." }`
    ApiKeys {
        name: Ident,
        body: Vec<Setting>,
    },
    /// `authorizer NAME { url; identity EXPR; ttl; timeout; on_error; context {..} }`
    Authorizer {
        name: Ident,
        body: Vec<Setting>,
    },
    /// `plan NAME { rate R burst N; quota N per month }`
    Plan {
        name: Ident,
        body: Vec<Setting>,
    },
    /// `schema NAME = file "x.json"`
    Schema {
        name: Ident,
        file: StrLit,
    },
    /// `policy NAME { statements }`
    Policy {
        name: Ident,
        body: Vec<Stmt>,
    },
    /// `defaults { statements }`
    Defaults(Vec<Stmt>),
    /// `cors { origins ...; methods ...; headers ...; expose ...; credentials ...; max_age ... }`
    Cors(Vec<Setting>),
    /// `log { format json; fields [...]; to "path" | stdout; sample 10% when status < 400 }`
    Log(Vec<Setting>),
    /// `tracing { sample 10%; otlp "http://collector:4318/v1/traces"; service "gw" }`
    Tracing(Vec<Setting>),
    /// `host "api.example.com" { routes }`
    Host {
        pattern: StrLit,
        items: Vec<Item>,
    },
    Route(Route),
    /// `on error 429, 503 { set header ...; body json {...} }`
    OnError {
        statuses: Vec<Lit>,
        body: Vec<Stmt>,
    },
}

/// A listen/admin/server address: `:443`, `127.0.0.1:9901`, `[::1]:80`, `archive.internal:8443`.
#[derive(Clone, Debug, PartialEq)]
pub struct Addr {
    /// Host part as written (empty for `:443`; an IPv6 host without its brackets).
    pub host: String,
    pub port: u16,
    pub span: Span,
}

/// `name = EXPR` inside `vars { }`.
#[derive(Clone, Debug, PartialEq)]
pub struct VarDef {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// One line of a declaration body: a keyword followed by arguments, e.g.
/// `server 10.0.1.10:8080 weight 3`, `timeout connect 1s request 10s`,
/// `health GET /healthz every 5s fail 3 pass 2`, `claims { email: string }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// A bare keyword: `weight`, `least_request`, `RS256`, `GET`, `deny`, `file`. Any argument
    /// that is a lone name lowers to a `Word`, never to `Expr(Name)`.
    Word(Ident),
    /// An expression (literals included): `3`, `1s`, `"https://..."`, `var.issuer`,
    /// `header.authorization ?? query.token`.
    Expr(Expr),
    Addr(Addr),
    /// A request path: `/healthz`.
    Path(StrLit),
    /// A nested settings block: `tls { ... }`.
    Block(Vec<Setting>),
    /// Typed field declarations: `claims { email: string }`, `context { banned: bool = false }`.
    /// The settings `claims` and `context` always take this shape (and only they do).
    Fields(Vec<FieldDecl>),
    /// `on a, b`: the words of a list (`max_fails 3 on connect_error, 5xx`), never keywords.
    On(Vec<Ident>),
}

/// `name: TYPE [= default]` in `claims { }` / `context { }`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldDecl {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

/// A type as written: `string`, `string?`, `list<string>`, `int 1..100`, `uuid`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub name: Ident,
    pub args: Vec<TypeExpr>,
    pub optional: bool,
    /// Inclusive integer range refinement `1..100`.
    pub range: Option<(i64, i64)>,
    /// `in ["asc", "desc"]`: the values a string may take.
    pub one_of: Vec<StrLit>,
    /// `matches "^[a-z]+$"`: a pattern a string must match.
    pub pattern: Option<StrLit>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Any,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Any => "ANY",
        }
    }
}

/// `route METHOD /pattern [websocket] { statements }`
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub method: Method,
    pub method_span: Span,
    pub pattern: PathPattern,
    pub websocket: bool,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// `/pets/{id}/files/{rest+}` split into segments. The root `/` has no segments.
#[derive(Clone, Debug, PartialEq)]
pub struct PathPattern {
    pub segments: Vec<Segment>,
    pub trailing_slash: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    /// Literal text as written; empty for `//` (E0402 in the compiler).
    Literal(String, Span),
    Param(Ident),
    /// `{name+}`: one or more segments; valid in last position only (E0402 otherwise).
    Greedy(Ident),
}

/// A route statement with its optional `when` guard.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub guard: Option<Expr>,
    pub span: Span,
}

/// Where a limit counts: `scope node` (`store: None`) or `store redis "URL"`, and what it does
/// while the store cannot answer (`on_store_down allow|deny`).
#[derive(Clone, Debug, PartialEq)]
pub struct LimitScope {
    pub store: Option<StrLit>,
    pub on_store_down: Option<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `use POLICY`
    Use(Ident),
    /// `auth jwt NAME` / `auth api_key NAME` / `auth authorizer NAME` / `auth any(a, b)`
    Auth(Auth),
    /// `require EXPR [else STATUS ["msg"]]`
    Require {
        cond: Expr,
        status: Option<Lit>,
        message: Option<StrLit>,
    },
    /// `validate params { FIELD: TYPE [= default] }`
    ValidateParams(Vec<ParamSpec>),
    /// `validate body SCHEMA`
    ValidateBody(Ident),
    /// `buffer body SIZE`
    BufferBody(Lit),
    /// `throttle RATE burst N [by EXPR] [name ID] [scope node | store redis "URL"]
    /// [on_store_down allow|deny]`
    Throttle {
        rate: Lit,
        burst: Option<Lit>,
        by: Option<Expr>,
        name: Option<Ident>,
        scope: Option<LimitScope>,
    },
    /// `throttle plan`
    ThrottlePlan,
    /// `cache ttl D key [..] [vary ..]` and the block form `cache { ttl ..; key [..]; .. }`,
    /// which give the same spec. `key x` and `vary x` are one-part lists.
    Cache(CacheSpec),
    /// `set header H = EXPR`, `append header H = EXPR`, `remove header H`
    Header {
        op: HeaderOp,
        name: Ident,
        value: Option<Expr>,
    },
    /// `set query Q = EXPR`, `remove query Q`
    Query {
        op: HeaderOp,
        name: Ident,
        value: Option<Expr>,
    },
    /// `rewrite path "..."`
    Rewrite(StrLit),
    /// `body json { ... }`
    BodyJson(Template),
    /// `upstream NAME [hash by EXPR]` (the guard is [`Stmt::guard`])
    Upstream { name: Ident, hash_by: Option<Expr> },
    /// `canary NAME { weight 10%; sticky by EXPR; force when EXPR; set header ... }`, and the
    /// one-line sugar `canary 10% to NAME sticky by EXPR`.
    Canary(Canary),
    /// `respond STATUS [json {..} | text ".."] [headers { name: EXPR, .. }]`
    Respond {
        status: Lit,
        body: Option<RespondBody>,
        headers: Vec<(Ident, Expr)>,
    },
    /// `timeout D` or `timeout connect D request D`: one setting per phase, each with one
    /// `Arg::Expr` literal. The bare form is one setting named `request` whose name span is the
    /// `timeout` keyword.
    Timeout(Vec<Setting>),
    /// `retry N on connect_error [, ...]`; a condition is a word or a status (`502`).
    Retry { count: Lit, on: Vec<Ident> },
    /// `websocket { idle_timeout 10m; max_message 1MiB; ping_every 30s }`
    Websocket(Vec<Setting>),
    /// `budget N`: the route's cost budget (default 100 000 units).
    Budget(Lit),
    /// `allow_in_path "%2F" ";"`: path characters this route serves beyond its listener's.
    AllowInPath(Vec<StrLit>),
    /// `cors off`
    CorsOff,
    /// `defaults off`
    DefaultsOff,
    /// `on response { ... }`
    OnResponse(Vec<Stmt>),
    /// `set status EXPR` (in `on response`)
    SetStatus(Expr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderOp {
    Set,
    Append,
    Remove,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Auth {
    Jwt(Ident),
    ApiKey(Ident),
    Authorizer(Ident),
    /// `any(a, b)`: names resolved across jwt, api_keys and authorizer declarations.
    Any(Vec<Ident>),
}

/// `FIELD: TYPE [= default]` in `validate params`; `field` is `query.limit`, `path.id`, ...
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    pub field: Expr,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CacheSpec {
    pub ttl: Option<Lit>,
    pub key: Vec<Expr>,
    pub vary: Vec<Expr>,
    /// Other block-form settings (`max_entry 1MiB`, ...).
    pub settings: Vec<Setting>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Canary {
    pub upstream: Ident,
    pub weight: Option<Lit>,
    pub sticky: Option<Expr>,
    pub force: Option<Expr>,
    /// Header statements applied on the canary side only.
    pub body: Vec<Stmt>,
    /// True for the one-line sugar form.
    pub short: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RespondBody {
    Json(Template),
    Text(StrLit),
}

/// A typed JSON body template: `{ status: "ok", id: request.id, tags: [..], nested: {..} }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    pub fields: Vec<(TemplateKey, TemplateValue)>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TemplateKey {
    Ident(Ident),
    Str(StrLit),
}

#[derive(Clone, Debug, PartialEq)]
pub enum TemplateValue {
    Expr(Expr),
    Object(Template),
    List(Vec<TemplateValue>, Span),
}

/// A string literal. `"..."` strings may interpolate `{expr}`; `r"..."` strings are raw.
#[derive(Clone, Debug, PartialEq)]
pub struct StrLit {
    pub parts: Vec<StrPart>,
    pub raw: bool,
    pub span: Span,
}

impl StrLit {
    /// The text when the string has no interpolation.
    pub fn as_plain(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                StrPart::Text(t) => out.push_str(t),
                StrPart::Interp(_) => return None,
            }
        }
        Some(out)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum StrPart {
    /// Literal text with escapes (and `{{`) already decoded.
    Text(String),
    Interp(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Lit(Lit),
    Str(StrLit),
    /// A bare name: `claim`, `header`, `weight`, `false` is a Lit.
    Name(Ident),
    /// `a.b` where `b` may contain `-` (header names).
    Member(Box<Expr>, Ident),
    /// `a[b]`
    Index(Box<Expr>, Box<Expr>),
    /// `f(args)`; `func` is the callee name.
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `c ? a : b`
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
    List(Vec<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Not,
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Mul,
    Div,
    Rem,
    Add,
    Sub,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Contains,
    StartsWith,
    EndsWith,
    Matches,
    /// `~=` case-insensitive equality
    IEq,
    And,
    Or,
    /// `??`
    Coalesce,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::Contains => "contains",
            BinOp::StartsWith => "starts_with",
            BinOp::EndsWith => "ends_with",
            BinOp::Matches => "matches",
            BinOp::IEq => "~=",
            BinOp::And => "&&",
            BinOp::Or => "||",
            BinOp::Coalesce => "??",
        }
    }
}

/// A literal with its unit already applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Lit {
    pub value: LitValue,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LitValue {
    Int(i64),
    Bool(bool),
    /// Milliseconds (`30s`, `250ms`, `5m`/`5min`, `1h`, `1d`).
    Duration(u64),
    /// Bytes (`1KiB`, `10MiB`, `1KB`).
    Size(u64),
    /// `100/s`: `count` tokens per `per_ms` milliseconds.
    Rate {
        count: u64,
        per_ms: u64,
    },
    /// `10%` in basis points (1% = 100) so `12.5%` is exact.
    Percent(u32),
    Ip(std::net::IpAddr),
    Cidr(std::net::IpAddr, u8),
}
