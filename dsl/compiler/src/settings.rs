//! Declaration settings of the serving side: `upstream`, `listen`/`admin`, `workers`,
//! `limits`, `timeouts`. Every keyword is checked by name (E0201 with did-you-mean) and every
//! value by range (E0304).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use gw_program::{
    Balance, CertKey, ClientAuth, FailOn, HealthCheck, Limits, Listener, Server, ServerTls,
    Timeouts, TlsConfig, UnknownSni, Upstream,
};
use gw_program::{PathChars, UnderscoreNames, Value};
use gw_syntax::ast::{Addr, Arg, ExprKind, Ident, Lit, LitValue, Setting, StrLit};
use gw_syntax::{Diagnostic, Span};

use crate::args::{self, Cursor, Entry};
use crate::consts::{self, Vars};
use crate::ctx::Ctx;
use crate::files;
use crate::lits;

const DAY_MS: u64 = 86_400_000;

/// `upstream NAME { server ..; balance ..; timeout ..; health ..; max_fails ..; fail_timeout ..; host .. }`
pub(crate) fn upstream(cx: &mut Ctx<'_>, vars: &Vars, name: &Ident, body: &[Setting]) -> Upstream {
    const KW: &[&str] = &[
        "server",
        "balance",
        "timeout",
        "health",
        "max_fails",
        "fail_timeout",
        "host",
    ];
    let what = format!("`upstream {}`", name.name);
    let mut up = Upstream {
        name: name.name.clone(),
        servers: Vec::new(),
        balance: Balance::RoundRobin,
        connect_timeout: None,
        request_timeout: None,
        health: None,
        max_fails: 3,
        fail_on: Default::default(),
        fail_timeout: 10_000,
        host_header: None,
    };
    let entries = args::entries(cx, &what, body, KW);
    args::check_unique(
        cx,
        &entries,
        &["balance", "health", "max_fails", "fail_timeout", "host"],
    );
    for e in &entries {
        let mut c = Cursor::new(e);
        match e.name.name.as_str() {
            "server" => {
                if let Some(s) = server(cx, &mut c) {
                    up.servers.push(s);
                }
                c.finish(cx, "`server`", SERVER_KW);
            }
            "balance" => {
                const B: &[&str] = &["round_robin", "least_request", "hash", "random"];
                match c.word() {
                    Some(w) => match w.name.as_str() {
                        "round_robin" => up.balance = Balance::RoundRobin,
                        "least_request" => up.balance = Balance::LeastRequest,
                        "hash" => up.balance = Balance::Hash,
                        "random" => up.balance = Balance::Random,
                        _ => unknown_word(cx, w, "balance", B),
                    },
                    None => args::expected(cx, c.at, "a balance mode", "`balance least_request`"),
                }
                c.finish(cx, "`balance`", B);
            }
            "timeout" => {
                let (connect, request) = timeouts_pair(cx, &mut c, "an upstream");
                up.connect_timeout = connect.or(up.connect_timeout);
                up.request_timeout = request.or(up.request_timeout);
                c.finish(cx, "`timeout`", TIMEOUT_PHASES);
            }
            "health" => {
                up.health = health(cx, &mut c);
                c.finish(cx, "`health`", &["every", "fail", "pass"]);
            }
            "max_fails" => {
                if let Some(n) = c.lit().and_then(|l| lits::int(cx, l, 1, 1000)) {
                    up.max_fails = n as u32;
                }
                if let Some(list) = c.on_list() {
                    up.fail_on = fail_on(cx, list);
                }
                c.finish(cx, "`max_fails`", &[]);
            }
            "fail_timeout" => {
                if let Some(d) = c.lit().and_then(|l| lits::duration(cx, l, 1, DAY_MS)) {
                    up.fail_timeout = d;
                }
                c.finish(cx, "`fail_timeout`", &[]);
            }
            "host" => {
                match c.expr() {
                    Some(x) => match consts::required(cx, vars, x) {
                        Some((Value::Str(s), _)) => up.host_header = Some(s.as_str().to_string()),
                        Some(_) => {
                            args::expected(cx, x.span, "a host name", "`host \"api.internal\"`")
                        }
                        None => {}
                    },
                    None => args::expected(cx, c.at, "a host name", "`host \"api.internal\"`"),
                }
                c.finish(cx, "`host`", &[]);
            }
            _ => {}
        }
    }
    // A `server` line that failed has its own error.
    if up.servers.is_empty() && !entries.iter().any(|e| e.name.name == "server") {
        cx.emit(
            Diagnostic::error(
                "E0304",
                name.span,
                format!("upstream `{}` has no server", name.name),
            )
            .with_label("needs at least one `server`")
            .with_help("add `server 10.0.0.1:8080`"),
        );
    }
    up
}

/// The words a `server` line takes after its address.
const SERVER_KW: &[&str] = &["weight", "tls", "sni", "ca", "client_cert", "verify"];

/// A file named on a `server` line (E0701 when it does not exist).
fn server_file(cx: &mut Ctx<'_>, c: &mut Cursor<'_>, example: &str) -> Option<PathBuf> {
    match c.str_lit() {
        Some(s) => args::plain(s).and_then(|p| files::existing(cx, s.span, &p)),
        None => {
            args::expected(cx, c.at, "a file path", example);
            None
        }
    }
}

/// `server HOST:PORT [weight N] [tls [sni "name"] [ca "file"] [client_cert "c" key "k"]
/// [verify off]]`; the TLS options need `tls`, and `verify off` refuses a `ca`.
fn server(cx: &mut Ctx<'_>, c: &mut Cursor<'_>) -> Option<Server> {
    let Some(addr) = c.addr() else {
        not_an_address(cx, c);
        return None;
    };
    if addr.port == 0 {
        port_zero(cx, addr);
    }
    let mut s = Server {
        host: strip_brackets(&addr.host).to_string(),
        port: addr.port,
        weight: 1,
        tls: None,
    };
    if s.host.is_empty() {
        cx.emit(
            Diagnostic::error("E0304", addr.span, "a server address needs a host")
                .with_label("host missing")
                .with_help("write `10.0.1.10:8080` or `backend.internal:8080`"),
        );
    }
    let mut tls = ServerTls {
        sni: None,
        ca: None,
        client_cert: None,
        verify: true,
    };
    let mut tls_at = None;
    // the first TLS option of the line, for the error when there is no `tls`
    let mut option_at: Option<(Span, &str)> = None;
    let mut verify_off_at = None;
    loop {
        let at = c.peek().and_then(args::word_of).map(|w| w.span);
        if c.eat_word("weight") {
            if let Some(w) = c.lit().and_then(|l| lits::int(cx, l, 1, 1000)) {
                s.weight = w as u32;
            } else if c.peek().is_none() {
                args::expected(cx, c.at, "a weight", "`weight 3`");
            }
            continue;
        }
        let Some(at) = at else { break };
        let kw = if c.eat_word("tls") {
            tls_at = Some(at);
            continue;
        } else if c.eat_word("sni") {
            match c.str_lit().and_then(args::plain) {
                Some(n) => tls.sni = Some(n),
                None => args::expected(cx, c.at, "a server name", "`sni \"archive.internal\"`"),
            }
            "sni"
        } else if c.eat_word("ca") {
            tls.ca = server_file(cx, c, "`ca \"certs/internal-ca.pem\"`");
            "ca"
        } else if c.eat_word("client_cert") {
            let cert = server_file(cx, c, "`client_cert \"gw.pem\" key \"gw.key\"`");
            let key = if c.eat_word("key") {
                server_file(cx, c, "`client_cert \"gw.pem\" key \"gw.key\"`")
            } else {
                cx.emit(
                    Diagnostic::error("E0304", at, "`client_cert` needs a `key`")
                        .with_label("no `key` follows this certificate")
                        .with_help("write `client_cert \"gw.pem\" key \"gw.key\"`"),
                );
                None
            };
            if let (Some(cert), Some(key)) = (cert, key) {
                tls.client_cert = Some(CertKey {
                    cert,
                    key,
                    ocsp: None,
                });
            }
            "client_cert"
        } else if c.eat_word("verify") {
            let v = c.peek().and_then(args::word_of).map(|w| w.name.as_str());
            match v {
                Some("off") => {
                    c.next();
                    tls.verify = false;
                    verify_off_at = Some(at);
                }
                Some("on") => {
                    c.next();
                }
                _ => args::expected(cx, c.at, "`on` or `off`", "`verify off`"),
            }
            "verify"
        } else {
            break;
        };
        option_at.get_or_insert((at, kw));
    }
    match (tls_at, option_at) {
        (Some(_), _) => {
            if let (Some(off), Some(ca)) = (verify_off_at, &tls.ca) {
                cx.emit(
                    Diagnostic::error("E0304", off, "`verify off` with a `ca`")
                        .with_label("nothing is verified against the `ca`")
                        .with_help(format!(
                            "remove `verify off` to verify against `{}`, or remove the `ca`",
                            ca.display()
                        )),
                );
            }
            if let (Some(off), None) = (verify_off_at, &tls.ca) {
                cx.emit(
                    Diagnostic::warning(
                        "W0108",
                        off,
                        "`verify off`: any certificate is accepted from this server",
                    )
                    .with_label("gw will not check who answers")
                    .with_help("name the CA that signs its certificate: `ca \"certs/ca.pem\"`"),
                );
            }
            s.tls = Some(tls);
        }
        (None, Some((at, kw))) => cx.emit(
            Diagnostic::error("E0304", at, format!("`{kw}` on a server without `tls`"))
                .with_label("only a TLS connection has this")
                .with_help(format!(
                    "write `server {} tls {kw} …` to speak TLS to it",
                    cx.snippet(addr.span)
                )),
        ),
        (None, None) => {}
    }
    Some(s)
}

/// A server written without `host:port` (E0304): `localhost` and `10.0.0.1` need a port,
/// `9000` a host, `"a:80"` no quotes.
fn not_an_address(cx: &mut Ctx<'_>, c: &mut Cursor<'_>) {
    let Some(arg) = c.peek() else {
        args::expected(cx, c.at, "a server address", "`server 10.0.1.10:8080`");
        return;
    };
    let span = args::arg_span(arg);
    let text = cx.snippet(span).to_string();
    let needs_port = |host: &str| {
        Diagnostic::error("E0304", span, "a server address needs a port")
            .with_label("no port")
            .with_help(format!("add a port: write `{host}:80`"))
    };
    let kind = match arg {
        Arg::Expr(e) => Some(&e.kind),
        _ => None,
    };
    let d = match (arg, kind) {
        (Arg::Word(_), _) | (_, Some(ExprKind::Name(_) | ExprKind::Member(..))) => {
            needs_port(&text)
        }
        (_, Some(ExprKind::Lit(Lit { value, .. }))) => match value {
            LitValue::Ip(IpAddr::V4(_)) => needs_port(&text),
            LitValue::Ip(IpAddr::V6(_)) => needs_port(&format!("[{text}]")),
            LitValue::Int(_) => Diagnostic::error("E0304", span, "a server address needs a host")
                .with_label("a port alone")
                .with_help(format!(
                    "write `127.0.0.1:{text}` or `backend.internal:{text}`"
                )),
            _ => {
                args::expected(cx, c.at, "a server address", "`server 10.0.1.10:8080`");
                return;
            }
        },
        (_, Some(ExprKind::Str(s))) => {
            let plain = s.as_plain().unwrap_or_default();
            let d = Diagnostic::error("E0304", span, "a server address is not a string")
                .with_label("quoted");
            if plain
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            {
                d.with_help(format!("write `{plain}` without quotes"))
            } else {
                d.with_help("write `host:port` without quotes: `server 10.0.1.10:8080`")
            }
        }
        _ => {
            args::expected(cx, c.at, "a server address", "`server 10.0.1.10:8080`");
            return;
        }
    };
    cx.emit(d);
    // `weight`, `tls`, … of a server that failed are not checked
    while c.next().is_some() {}
}

/// The phases `timeout` takes in an upstream and in a route.
pub(crate) const TIMEOUT_PHASES: &[&str] = &["connect", "request"];

/// `on connect_error, timeout, 5xx`: what passive health counts as a failure (the
/// default is `connect_error` alone).
fn fail_on(cx: &mut Ctx<'_>, list: &[Ident]) -> FailOn {
    const ON: &[&str] = &["connect_error", "timeout", "5xx"];
    let mut f = FailOn {
        connect_error: false,
        timeout: false,
        status_5xx: false,
    };
    for w in list {
        match w.name.as_str() {
            "connect_error" => f.connect_error = true,
            "timeout" => f.timeout = true,
            "5xx" => f.status_5xx = true,
            other => {
                let mut d = Diagnostic::error(
                    "E0201",
                    w.span,
                    format!("unknown failure `{other}` for `max_fails`"),
                )
                .with_label("not a kind of failure");
                d = match gw_syntax::diag::did_you_mean(other, ON.iter().copied()) {
                    Some(x) => d.with_help(format!("did you mean `{x}`?")),
                    None => d.with_help("one or more of: connect_error, timeout, 5xx"),
                };
                cx.emit(d);
            }
        }
    }
    f
}

/// `connect D request D`, or one bare `D` (the request timeout). `place` is where the
/// `timeout` is written (`an upstream`), for the error on any other word.
pub(crate) fn timeouts_pair(
    cx: &mut Ctx<'_>,
    c: &mut Cursor<'_>,
    place: &str,
) -> (Option<u64>, Option<u64>) {
    let (mut connect, mut request) = (None, None);
    loop {
        if c.eat_word("connect") {
            connect = c.lit().and_then(|l| lits::duration(cx, l, 1, DAY_MS));
        } else if c.eat_word("request") {
            request = c.lit().and_then(|l| lits::duration(cx, l, 1, DAY_MS));
        } else if let Some(l) = c.lit() {
            request = lits::duration(cx, l, 1, DAY_MS);
        } else if let Some(w) = c.word() {
            unknown_timeout(cx, w, place);
            c.lit();
        } else {
            break;
        }
    }
    if connect.is_none() && request.is_none() && c.is_done() {
        args::expected(cx, c.at, "a timeout", "`timeout connect 1s request 10s`");
    }
    (connect, request)
}

fn health(cx: &mut Ctx<'_>, c: &mut Cursor<'_>) -> Option<HealthCheck> {
    const METHODS: &[&str] = &["GET", "HEAD", "POST", "OPTIONS"];
    let mut h = HealthCheck {
        method: "GET".into(),
        path: String::new(),
        interval_ms: 5_000,
        fail: 3,
        pass: 2,
    };
    if let Some(w) = c.peek().and_then(args::word_of)
        && METHODS.contains(&w.name.as_str())
    {
        h.method = w.name.clone();
        c.next();
    }
    match c.str_lit().and_then(args::plain) {
        Some(p) if p.starts_with('/') => h.path = p,
        _ => {
            args::expected(
                cx,
                c.at,
                "a health check path",
                "`health GET /healthz every 5s fail 3 pass 2`",
            );
            return None;
        }
    }
    loop {
        if c.eat_word("every") {
            if let Some(d) = c.lit().and_then(|l| lits::duration(cx, l, 100, DAY_MS)) {
                h.interval_ms = d;
            }
        } else if c.eat_word("fail") {
            if let Some(n) = c.lit().and_then(|l| lits::int(cx, l, 1, 100)) {
                h.fail = n as u32;
            }
        } else if c.eat_word("pass") {
            if let Some(n) = c.lit().and_then(|l| lits::int(cx, l, 1, 100)) {
                h.pass = n as u32;
            }
        } else {
            break;
        }
    }
    Some(h)
}

/// E0201 for a timeout phase gw does not have (`read`, `idle`, Kong's `write`) in `place`.
pub(crate) fn unknown_timeout(cx: &mut Ctx<'_>, w: &Ident, place: &str) {
    let mut d = Diagnostic::error(
        "E0201",
        w.span,
        format!("unknown timeout `{}` in {place}", w.name),
    )
    .with_label(format!("not a timeout of {place}"));
    if let Some(s) = gw_syntax::diag::did_you_mean(&w.name, TIMEOUT_PHASES.iter().copied()) {
        d = d.with_help(format!("did you mean `{s}`?"));
    }
    d = d.with_help(format!(
        "`timeout` in {place} takes `connect` and `request`: `timeout connect 1s request 10s`"
    ));
    d = match w.name.as_str() {
        "read" | "write" | "send" => d.with_note(
            "gw has no per-read timeout: `request` bounds the wait for the upstream's response head",
        ),
        "idle" | "keepalive" => d.with_note(
            "idle times are process-wide: `timeouts { idle 60s; upstream_idle 60s }`",
        ),
        _ => d,
    };
    cx.emit(d);
}

fn unknown_word(cx: &mut Ctx<'_>, w: &Ident, what: &str, choices: &[&str]) {
    let mut d = Diagnostic::error("E0201", w.span, format!("unknown {what} `{}`", w.name))
        .with_label(format!("not a {what}"));
    d = match gw_syntax::diag::did_you_mean(&w.name, choices.iter().copied()) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None => d.with_help(format!("one of: {}", choices.join(", "))),
    };
    cx.emit(d);
}

fn port_zero(cx: &mut Ctx<'_>, addr: &Addr) {
    cx.emit(
        Diagnostic::error("E0304", addr.span, "port 0 is not a valid port").with_label("port 0"),
    );
}

fn strip_brackets(h: &str) -> &str {
    h.strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h)
}

/// A socket address to bind (`:443` is every IPv4 address; `localhost` is 127.0.0.1).
pub(crate) fn bind_addr(cx: &mut Ctx<'_>, addr: &Addr) -> Option<SocketAddr> {
    if addr.port == 0 {
        port_zero(cx, addr);
        return None;
    }
    let host = strip_brackets(&addr.host);
    let ip = match host {
        "" | "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        h => match h.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                cx.emit(
                    Diagnostic::error(
                        "E0304",
                        addr.span,
                        format!("cannot listen on `{h}`: not an IP address"),
                    )
                    .with_label("an IP address is expected")
                    .with_help("write `:443`, `0.0.0.0:443` or `127.0.0.1:8080`"),
                );
                return None;
            }
        },
    };
    Some(SocketAddr::new(ip, addr.port))
}

/// Options every listener takes: in `listen ADDR { .. }`, or in its `tls { .. }` block.
const LISTENER_KW: &[&str] = &["allow_in_path", "header_underscores"];

/// Options only a plain listener takes.
const PLAIN_KW: &[&str] = &["redirect", "h2c"];

/// `listen ADDR [tls { cert ..; key ..; client_ca .. }]` or `listen ADDR { options }`
pub(crate) fn listener(
    cx: &mut Ctx<'_>,
    addr: &Addr,
    tls: Option<&[Setting]>,
    options: Option<&[Setting]>,
) -> Option<Listener> {
    let sock = bind_addr(cx, addr);
    let mut l = Listener {
        addr: sock?,
        tls: None,
        path_allow: PathChars::NONE,
        underscores: UnderscoreNames::Drop,
        redirect_https: false,
        h2c: false,
    };
    let body = tls.or(options).unwrap_or(&[]);
    let what = if tls.is_some() { "`tls`" } else { "`listen`" };
    let kw: Vec<&str> = if tls.is_some() {
        // `h2c` is taken here only to be refused with its reason below
        TLS_KW
            .iter()
            .chain(LISTENER_KW)
            .chain(&["h2c"])
            .copied()
            .collect()
    } else {
        LISTENER_KW.iter().chain(PLAIN_KW).copied().collect()
    };
    let entries = args::entries(cx, what, body, &kw);
    if tls.is_some() {
        let tls_entries: Vec<Entry<'_>> = entries
            .iter()
            .filter(|e| TLS_KW.contains(&e.name.name.as_str()))
            .cloned()
            .collect();
        l.tls = tls_config(cx, addr, &tls_entries);
    }
    args::check_unique(cx, &entries, LISTENER_KW);
    args::check_unique(cx, &entries, PLAIN_KW);
    for e in entries
        .iter()
        .filter(|e| !TLS_KW.contains(&e.name.name.as_str()))
    {
        let mut c = Cursor::new(e);
        if tls.is_some() && e.name.name == "h2c" {
            cx.emit(
                Diagnostic::error("E0201", e.name.span, "`h2c` is not a setting of `tls`")
                    .with_label("HTTP/2 without TLS")
                    .with_help(
                        "a TLS listener offers HTTP/2 through ALPN already; \
                         `h2c` goes on a plain listener: `listen :8080 { h2c }`",
                    ),
            );
            continue;
        }
        match e.name.name.as_str() {
            "allow_in_path" => l.path_allow = path_chars(cx, &mut c),
            "redirect" => l.redirect_https = redirect(cx, &mut c),
            // HTTP/2 with prior knowledge on a plain listener; it takes no value
            "h2c" => l.h2c = true,
            _ => l.underscores = underscores(cx, &mut c),
        }
        c.finish(cx, &format!("`{}`", e.name.name), &[]);
    }
    Some(l)
}

/// `allow_in_path "%2F" ";" ..` in a listener.
fn path_chars(cx: &mut Ctx<'_>, c: &mut Cursor<'_>) -> PathChars {
    let mut list = Vec::new();
    while let Some(s) = c.str_lit() {
        list.push(s.clone());
    }
    if list.is_empty() {
        args::expected(cx, c.at, "a character to allow", "`allow_in_path \"%2F\"`");
    }
    path_list(cx, &list)
}

/// The characters of an `allow_in_path` list (E0304 for anything else).
pub(crate) fn path_list(cx: &mut Ctx<'_>, list: &[StrLit]) -> PathChars {
    let mut set = PathChars::NONE;
    for s in list {
        match args::plain(s).as_deref().and_then(PathChars::from_token) {
            Some(ch) => set = set.union(ch),
            None => {
                let tokens: Vec<&str> = PathChars::TOKENS.iter().map(|(_, t)| *t).collect();
                cx.emit(
                    Diagnostic::error("E0304", s.span, "not a path character gw can allow")
                        .with_label("not one of the characters refused by default")
                        .with_help(format!(
                            "allow any of `\"{}\"`; NUL (`%00`) and raw `\\` are never served",
                            tokens.join("\"`, `\"")
                        )),
                )
            }
        }
    }
    set
}

/// `redirect https`: the one scheme a plain listener sends its requests to.
fn redirect(cx: &mut Ctx<'_>, c: &mut Cursor<'_>) -> bool {
    let at = c.at;
    match c.word().map(|w| w.name.as_str()) {
        Some("https") => true,
        _ => {
            args::expected(cx, at, "`https`", "`listen :80 { redirect https }`");
            false
        }
    }
}

/// `header_underscores drop|keep|reject`
fn underscores(cx: &mut Ctx<'_>, c: &mut Cursor<'_>) -> UnderscoreNames {
    let at = c.at;
    match c.word().map(|w| w.name.as_str()) {
        Some("drop") => UnderscoreNames::Drop,
        Some("keep") => UnderscoreNames::Keep,
        Some("reject") => UnderscoreNames::Reject,
        _ => {
            args::expected(
                cx,
                at,
                "`drop`, `keep` or `reject`",
                "`header_underscores reject`",
            );
            UnderscoreNames::Drop
        }
    }
}

const TLS_KW: &[&str] = &[
    "cert",
    "key",
    "ocsp",
    "client_ca",
    "client_auth",
    "unknown_sni",
];

/// A `tls { }` block: `cert … key … [ocsp …]` (several: SNI picks among them), then
/// `client_ca`, `client_auth` and `unknown_sni` at most once each.
fn tls_config(cx: &mut Ctx<'_>, addr: &Addr, entries: &[Entry<'_>]) -> Option<TlsConfig> {
    args::check_unique(cx, entries, &["client_ca", "client_auth", "unknown_sni"]);
    let mut certs = Vec::new();
    let mut pending: Option<(Span, Option<PathBuf>)> = None;
    let (mut ca, mut auth) = (None, None);
    let mut unknown_sni = UnknownSni::Default;
    let mut complete = true;
    for e in entries {
        let mut c = Cursor::new(e);
        if e.name.name == "unknown_sni" {
            let at = c.at;
            match c.word().map(|w| w.name.as_str()) {
                Some("default") => unknown_sni = UnknownSni::Default,
                Some("reject") => unknown_sni = UnknownSni::Reject,
                _ => args::expected(cx, at, "`default` or `reject`", "`unknown_sni reject`"),
            }
            c.finish(cx, "`unknown_sni`", &[]);
            continue;
        }
        if e.name.name == "client_auth" {
            let at = c.at;
            auth = match c.word().map(|w| w.name.as_str()) {
                Some("required") => Some(ClientAuth::Required),
                Some("optional") => Some(ClientAuth::Optional),
                _ => {
                    args::expected(cx, at, "`required` or `optional`", "`client_auth optional`");
                    None
                }
            };
            c.finish(cx, "`client_auth`", &[]);
            continue;
        }
        let path = match c.str_lit() {
            Some(s) => match args::plain(s) {
                Some(p) => files::existing(cx, s.span, &p),
                None => None,
            },
            None => {
                args::expected(cx, c.at, "a file path", "`cert \"certs/api.pem\"`");
                None
            }
        };
        c.finish(cx, &format!("`{}`", e.name.name), &[]);
        complete &= path.is_some();
        match e.name.name.as_str() {
            "cert" => {
                if let Some((at, _)) = pending.replace((e.name.span, path)) {
                    unpaired(cx, at, "this `cert` has no `key`", "key");
                }
            }
            "key" => match pending.take() {
                Some((_, cert)) => {
                    if let (Some(cert), Some(key)) = (cert, path) {
                        certs.push(CertKey {
                            cert,
                            key,
                            ocsp: None,
                        });
                    }
                }
                None => unpaired(cx, e.name.span, "this `key` follows no `cert`", "cert"),
            },
            "ocsp" => match certs.last_mut() {
                Some(ck) if pending.is_none() && ck.ocsp.is_none() => ck.ocsp = path,
                _ => cx.emit(
                    Diagnostic::error("E0304", e.name.span, "`ocsp` needs its certificate")
                        .with_label("no `cert … key …` of its own before it")
                        .with_help(
                            "write the response after its pair: \
                             `cert \"a.pem\" key \"a.key\" ocsp \"a.ocsp.der\"`",
                        ),
                ),
            },
            _ => ca = path,
        }
    }
    if let Some((at, _)) = pending {
        unpaired(cx, at, "this `cert` has no `key`", "key");
        complete = false;
    }
    if certs.is_empty() && complete {
        cx.emit(
            Diagnostic::error("E0304", addr.span, "`tls` needs a `cert` file")
                .with_label("no `cert` in this `tls` block")
                .with_help("write `tls { cert \"certs/api.pem\" key \"certs/api.key\" }`"),
        );
    }
    if auth.is_some() && ca.is_none() && complete {
        cx.emit(
            Diagnostic::error("E0304", addr.span, "`client_auth` needs a `client_ca`")
                .with_label("no `client_ca` in this `tls` block")
                .with_help("name the CAs that sign client certificates: `client_ca \"ca.pem\"`"),
        );
    }
    if certs.is_empty() || !complete {
        return None;
    }
    Some(TlsConfig {
        certs,
        client_ca: ca,
        client_auth: auth.unwrap_or_default(),
        unknown_sni,
    })
}

/// E0304 for a `cert` without its `key` or a `key` without its `cert`.
fn unpaired(cx: &mut Ctx<'_>, at: Span, label: &str, missing: &str) {
    cx.emit(
        Diagnostic::error("E0304", at, format!("`tls` needs a `{missing}` here"))
            .with_label(label)
            .with_help("write each certificate as `cert \"a.pem\" key \"a.key\"`"),
    );
}

/// `workers N`
pub(crate) fn workers(cx: &mut Ctx<'_>, l: &gw_syntax::ast::Lit) -> Option<u16> {
    lits::int(cx, l, 1, 1024).and_then(|n| u16::try_from(n).ok())
}

/// `limits { body ..; response_body ..; url ..; headers ..; header_count ..; connections ..;
/// usage_file ".." }`; `usage_file` (resolved against the file's directory) goes to `usage`.
pub(crate) fn limits(
    cx: &mut Ctx<'_>,
    body: &[Setting],
    out: &mut Limits,
    usage: &mut Option<std::path::PathBuf>,
) {
    const KW: &[&str] = &[
        "body",
        "response_body",
        "url",
        "headers",
        "header_count",
        "connections",
        "streams",
        "usage_file",
    ];
    let entries = args::entries(cx, "`limits`", body, KW);
    args::check_unique(cx, &entries, KW);
    for e in &entries {
        let mut c = Cursor::new(e);
        if e.name.name == "usage_file" {
            match c
                .str_lit()
                .and_then(|s| args::plain(s).map(|p| (p, s.span)))
            {
                Some((p, span)) => *usage = Some(cx.resolve_path(span, &p)),
                None => args::expected(cx, c.at, "a file path", "`usage_file \"gw.usage\"`"),
            }
            c.finish(cx, "`usage_file`", &[]);
            continue;
        }
        let Some(l) = c.lit() else {
            args::expected(cx, c.at, "a value", "`body 10MiB`, `header_count 100`");
            continue;
        };
        let small = |cx: &mut Ctx<'_>, max: u64| lits::size(cx, l, 1, max).map(|v| v as u32);
        match e.name.name.as_str() {
            "body" => out.body = lits::size(cx, l, 1, 1 << 40).unwrap_or(out.body),
            "response_body" => {
                out.response_body = lits::size(cx, l, 1, 1 << 40).or(out.response_body);
            }
            "url" => out.url = small(cx, 1 << 20).unwrap_or(out.url),
            "headers" => out.headers = small(cx, 1 << 24).unwrap_or(out.headers),
            "header_count" => {
                out.header_count =
                    lits::int(cx, l, 1, 10_000).map_or(out.header_count, |v| v as u32);
            }
            "streams" => {
                out.h2_streams = lits::int(cx, l, 1, 10_000).map_or(out.h2_streams, |v| v as u32);
            }
            _ => {
                let n = lits::int(cx, l, 1, 10_000_000);
                out.connections_per_worker = n.map_or(out.connections_per_worker, |v| v as u32);
            }
        }
        c.finish(cx, &format!("`{}`", e.name.name), &[]);
    }
}

/// `timeouts { header_read ..; idle ..; connect ..; request ..; upstream_idle ..; drain .. }`
pub(crate) fn timeouts(cx: &mut Ctx<'_>, body: &[Setting], out: &mut Timeouts) {
    const KW: &[&str] = &[
        "header_read",
        "idle",
        "connect",
        "request",
        "upstream_idle",
        "drain",
    ];
    let entries = args::entries(cx, "`timeouts`", body, KW);
    args::check_unique(cx, &entries, KW);
    for e in &entries {
        let mut c = Cursor::new(e);
        let Some(d) = c.lit().and_then(|l| lits::duration(cx, l, 1, DAY_MS)) else {
            if c.peek().is_none() {
                args::expected(cx, c.at, "a duration", "`idle 60s`");
            }
            continue;
        };
        let slot = match e.name.name.as_str() {
            "header_read" => &mut out.header_read,
            "idle" => &mut out.idle,
            "connect" => &mut out.connect,
            "request" => &mut out.request,
            "upstream_idle" => &mut out.upstream_idle,
            _ => &mut out.drain,
        };
        *slot = d;
        c.finish(cx, &format!("`{}`", e.name.name), &[]);
    }
}
