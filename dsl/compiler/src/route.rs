//! One route: its position-free settings (`timeout`, `retry`, `websocket`, `budget`, `cors
//! off`, `on response`) and the assembly of its request and response programs.

use gw_program::{Field, Op, Program, Retry, WebsocketSettings};
use gw_syntax::ast::{CacheSpec, Setting, Stmt, StmtKind};
use gw_syntax::{Diagnostic, Span};

use crate::args::{self, Cursor, Entry};
use crate::cost;
use crate::ctx::Origin;
use crate::emit::Builder;
use crate::lits;
use crate::lower::{Global, Lower, Phase, Scope};
use crate::order::{self, Expanded};
use crate::routes::RouteInfo;

/// A `cache` statement, kept for the response program's store call.
pub(crate) struct CacheUse<'a> {
    pub slot: u16,
    pub spec: &'a CacheSpec,
    pub span: Span,
}

/// What the statements of a route set besides its programs.
pub(crate) struct RouteSettings<'a> {
    /// `GET /pets/{id}` in the route header, where route-level errors point.
    pub header: Span,
    pub timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    pub retry: Retry,
    pub websocket: Option<WebsocketSettings>,
    pub budget: u64,
    /// Whether `budget N` was written (disasm marks the default as such).
    pub budget_set: bool,
    pub cors: bool,
    pub body_limit: Option<u64>,
    pub buffer_body: bool,
    pub path_allow: gw_program::PathChars,
    pub on_response: Vec<(&'a [Stmt], Option<Origin>)>,
    pub cache: Option<CacheUse<'a>>,
    seen: Vec<(&'static str, Span)>,
}

/// A route compiled, before its programs are shared (`Arc`) and given the image's locals.
pub(crate) struct CompiledRoute {
    pub info_index: usize,
    pub request: Program,
    pub response: Option<Program>,
    pub timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    pub retry: Retry,
    pub websocket: Option<WebsocketSettings>,
    pub cors: bool,
    pub body_limit: Option<u64>,
    pub buffer_body: bool,
    pub buffer_response: bool,
    pub path_allow: gw_program::PathChars,
}

impl<'g, 'a> Lower<'g, 'a> {
    /// A position-free statement.
    pub(crate) fn setting(&mut self, s: &'a Stmt, ex: &Expanded<'a>, rs: &mut RouteSettings<'a>) {
        if let Some(g) = &s.guard {
            self.emit(
                Diagnostic::error(
                    "E0505",
                    g.span,
                    format!(
                        "`{}` is a setting and cannot be guarded",
                        crate::stmt::keyword(&s.kind)
                    ),
                )
                .with_label("settings apply to the whole route"),
            );
        }
        let kw = crate::stmt::keyword(&s.kind);
        if !matches!(s.kind, StmtKind::OnResponse(_)) {
            if let Some((_, first)) = rs.seen.iter().find(|(k, _)| *k == kw) {
                self.emit(
                    Diagnostic::error(
                        "E0202",
                        s.span,
                        format!("`{kw}` is set twice in this route"),
                    )
                    .with_label("set again here")
                    .with_secondary(*first, "first set here"),
                );
                return;
            }
            rs.seen.push((kw, s.span));
        }
        let cx = &mut self.g.cx;
        match &s.kind {
            StmtKind::Timeout(settings) => {
                (rs.connect_timeout_ms, rs.timeout_ms) = timeout(cx, settings);
            }
            StmtKind::Retry { count, on } => {
                rs.retry.count = lits::int(cx, count, 0, 10)
                    .and_then(|n| u8::try_from(n).ok())
                    .unwrap_or(0);
                const ON: &[&str] = &["connect_error", "timeout", "5xx"];
                for w in on {
                    match w.name.as_str() {
                        "connect_error" => rs.retry.on_connect_error = true,
                        "timeout" => rs.retry.on_timeout = true,
                        "5xx" => rs.retry.on_5xx = true,
                        other => {
                            let mut d = Diagnostic::error(
                                "E0201",
                                w.span,
                                format!("unknown retry condition `{other}`"),
                            )
                            .with_label("not a retry condition");
                            d = match gw_syntax::diag::did_you_mean(other, ON.iter().copied()) {
                                Some(x) => d.with_help(format!("did you mean `{x}`?")),
                                None => d.with_help("one of: connect_error, timeout, 5xx"),
                            };
                            cx.emit(d);
                        }
                    }
                }
            }
            StmtKind::Websocket(settings) => {
                if rs.websocket.is_none() {
                    cx.emit(
                        Diagnostic::error(
                            "E0304",
                            s.span,
                            "`websocket { }` settings on a route that does not upgrade",
                        )
                        .with_label("this route is not a websocket route")
                        .with_help("write `route GET /path websocket { … }`"),
                    );
                    return;
                }
                websocket(cx, settings, rs);
            }
            StmtKind::Budget(l) => {
                rs.budget = lits::int(
                    cx,
                    l,
                    1,
                    i64::try_from(cost::MAX_BUDGET).unwrap_or(i64::MAX),
                )
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(rs.budget);
                rs.budget_set = true;
            }
            StmtKind::AllowInPath(list) => rs.path_allow = crate::settings::path_list(cx, list),
            StmtKind::CorsOff => rs.cors = false,
            StmtKind::OnResponse(body) => {
                if rs.websocket.is_some() {
                    cx.emit(
                        Diagnostic::error(
                            "E0502",
                            s.span,
                            "a websocket route has no response to transform",
                        )
                        .with_label("the upgrade hands the connection to the relay"),
                    );
                    return;
                }
                rs.on_response.push((body, ex.origin.clone()));
            }
            _ => {}
        }
    }
}

/// `(connect, request)` of a route's `timeout`.
fn timeout(cx: &mut crate::ctx::Ctx<'_>, settings: &[Setting]) -> (Option<u64>, Option<u64>) {
    let mut request = None;
    let mut connect = None;
    for s in settings {
        let e = Entry {
            name: &s.name,
            args: &s.args,
            span: s.span,
        };
        let mut c = Cursor::new(&e);
        match s.name.name.as_str() {
            "request" => request = c.lit().and_then(|l| lits::duration(cx, l, 1, 86_400_000)),
            "connect" => connect = c.lit().and_then(|l| lits::duration(cx, l, 1, 86_400_000)),
            // The grammar's other phases (`read`, `idle`) are no timeouts of a route.
            _ => {
                crate::settings::unknown_timeout(cx, &s.name, "a route");
                continue;
            }
        }
        c.finish(cx, "`timeout`", crate::settings::TIMEOUT_PHASES);
    }
    (connect, request)
}

fn websocket(cx: &mut crate::ctx::Ctx<'_>, settings: &[Setting], rs: &mut RouteSettings<'_>) {
    const KW: &[&str] = &["idle_timeout", "max_message", "ping_every"];
    let entries = args::entries(cx, "`websocket`", settings, KW);
    args::check_unique(cx, &entries, KW);
    let Some(ws) = rs.websocket.as_mut() else {
        return;
    };
    for e in &entries {
        let mut c = Cursor::new(e);
        let Some(l) = c.lit() else {
            args::expected(
                cx,
                c.at,
                "a value",
                "`idle_timeout 10m`, `max_message 1MiB`",
            );
            continue;
        };
        match e.name.name.as_str() {
            "idle_timeout" => {
                ws.idle_timeout_ms =
                    lits::duration(cx, l, 1_000, 86_400_000).unwrap_or(ws.idle_timeout_ms)
            }
            "max_message" => {
                ws.max_message = lits::size(cx, l, 1, 1 << 30).unwrap_or(ws.max_message)
            }
            _ => ws.ping_every_ms = lits::duration(cx, l, 1_000, 3_600_000).or(ws.ping_every_ms),
        }
        c.finish(cx, &format!("`{}`", e.name.name), &[]);
    }
}

/// Compiles one route's programs.
pub(crate) fn compile<'a>(
    g: &mut Global<'a>,
    info: &RouteInfo<'a>,
    info_index: usize,
) -> CompiledRoute {
    let r = info.route;
    let header = r.method_span.to(r.pattern.span);
    let sources = g.cx.sources;
    let file = g.cx.file_name(r.span);
    let (line, _) = g.cx.line_col(r.span);
    let websocket = r.websocket.then_some(WebsocketSettings {
        idle_timeout_ms: 600_000,
        max_message: 1 << 20,
        ping_every_ms: None,
    });
    let mut rs = RouteSettings {
        header,
        timeout_ms: None,
        connect_timeout_ms: None,
        retry: Retry::default(),
        websocket,
        budget: cost::DEFAULT_BUDGET,
        budget_set: false,
        cors: true,
        body_limit: None,
        buffer_body: false,
        path_allow: gw_program::PathChars::NONE,
        on_response: Vec::new(),
        cache: None,
        seen: Vec::new(),
    };
    let stmts = order::expand(g, &r.body, header);
    let prods = order::producers(g, &stmts);
    let mut sc = Scope::new(Phase::Request, info.name.clone());
    sc.params = info.params.clone();
    if matches!(info.segs.last(), Some(gw_program::PatSeg::Greedy)) {
        sc.greedy = info.params.last().cloned();
    }
    sc.websocket = r.websocket;
    sc.body_bound = g.body_limit;
    let mut b = Builder::new(sources, format!("route {}", info.name), file.clone(), line);
    b.p.field_bounds = field_bounds(g, Some(&info.name));
    let mut l = Lower { g, b, sc };
    l.request(&stmts, &prods, &mut rs);
    let Lower { g, b, sc } = l;
    let mut request = finish(g, b, &info.name, "request", rs.budget, header);
    request.budget = rs.budget_set.then_some(rs.budget);

    let cors_on = rs.cors && g.syms.cors.is_some();
    let mut buffer_response = false;
    let response = if !rs.on_response.is_empty() || rs.cache.is_some() || cors_on {
        let mut sc2 = Scope::new(Phase::Response, info.name.clone());
        sc2.params = sc.params;
        sc2.greedy = sc.greedy;
        sc2.facts = sc.facts;
        sc2.retyped = sc.retyped;
        let mut b = Builder::new(sources, format!("route {}", info.name), file, line);
        b.p.field_bounds = field_bounds(g, Some(&info.name));
        let mut l = Lower { g, b, sc: sc2 };
        l.response_stmts(&rs.on_response);
        if let Some(c) = &rs.cache {
            l.cache_store(c);
        }
        if cors_on {
            let args = l.g.syms.cors.clone().unwrap_or_default();
            let slot = l.g.decl_slot("cors", "cors", header, || args);
            l.b.reset_regs();
            l.b.op(
                Op::Call {
                    slot,
                    arg: 0,
                    argc: 0,
                },
                header,
            );
        }
        l.done(header);
        buffer_response = rs.cache.is_some() || l.sc.reads_resp_json;
        let Lower { g, b, .. } = l;
        let mut response = finish(g, b, &info.name, "response", rs.budget, header);
        response.budget = rs.budget_set.then_some(rs.budget);
        Some(response)
    } else {
        None
    };
    CompiledRoute {
        info_index,
        request,
        response,
        timeout_ms: rs.timeout_ms,
        connect_timeout_ms: rs.connect_timeout_ms,
        retry: rs.retry,
        websocket: rs.websocket,
        cors: rs.cors,
        body_limit: rs.body_limit,
        buffer_body: rs.buffer_body,
        buffer_response,
        path_allow: rs.path_allow,
    }
}

/// Lengths of the fields the config fixes: the route's own name (`route.name`) and the
/// longest upstream name (`upstream.name`), for the cost model and output bounds.
pub(crate) fn field_bounds(g: &Global<'_>, route: Option<&str>) -> Vec<(Field, u32)> {
    let len = |s: &str| u32::try_from(s.len()).unwrap_or(u32::MAX);
    let mut out = Vec::new();
    if let Some(name) = route {
        out.push((Field::RouteName, len(name)));
    }
    if let Some(longest) = g.syms.upstreams.list.iter().map(|u| len(&u.name)).max() {
        out.push((Field::UpstreamName, longest));
    }
    out
}

/// Closes a program: E0602 when too long, E0601 when over budget.
pub(crate) fn finish(
    g: &mut Global<'_>,
    b: Builder<'_>,
    route: &str,
    phase: &str,
    budget: u64,
    at: Span,
) -> Program {
    let f = b.finish();
    let p = f.program;
    let total = p
        .cost
        .saturating_add(f.extra.iter().map(|e| e.1).sum::<u64>());
    if f.overflow {
        g.cx.emit(
            Diagnostic::error("E0602", at, format!("route `{route}` is too long: {} ops, {} registers", p.ops.len(), f.regs))
                .with_label(format!("the {phase} program is over the limits"))
                .with_help(format!("a program has at most {} ops and {} registers; split the route or simplify its expressions", crate::emit::MAX_OPS, crate::emit::MAX_REGS)),
        );
    } else if total > budget {
        cost::over_budget(
            &mut g.cx,
            route,
            phase,
            total,
            budget,
            cost::items(&f.stmt_costs, &f.extra),
        );
    }
    p
}
