//! `gw trace FILE 'METHOD /path'`: one request through a route, offline. The file is compiled
//! as `gw run` compiles it, the request routed, and the route's programs run against it in
//! the VM (`gw_vm::run_traced`), printing each op executed with its .gw line, the registers
//! it changed, each policy's decision and each edit, then the request gw would send upstream
//! or the response it would give. Nothing is sent: upstreams, authentication, throttles and
//! the cache are stubbed, and the output says where; `validate body`, `validate params` and
//! `cors` run for real.

mod host;
mod outcome;

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use gw_program::{ConfigImage, Lookup, Op, Program, Value};
use gw_vm::{Exit, Frame};

use crate::cli::{Args, Command, Opt};
use host::{Phase, Request, State, Trace, TraceHost};

/// `gw trace`'s options.
pub(crate) const COMMAND: Command = Command {
    name: "trace",
    operands: "FILE 'METHOD /path?query'",
    about: "run one request through its route offline: each op, each policy's decision, the outcome",
    details: "Compiles FILE against the policies this build serves, routes the request and runs \
              the route's programs on it, printing each op executed with its .gw line and the \
              registers it changed, each policy's decision and each edit, then the request gw \
              would send upstream or the response it would give. Nothing is sent: the upstream \
              answers 200 with an empty body, `auth jwt` takes its claims from --claims (no \
              signature checked), `auth api_key` and `auth authorizer` accept with a stub \
              identity, throttles pass and the cache misses; `validate body`, `validate params` \
              and `cors` run as they do in `gw run`. The clock is the machine's unless \
              GW_TRACE_NOW_MS (Unix milliseconds) pins it.",
    opts: &[
        Opt::value("header", "'NAME: VALUE'", "a request header (repeatable)").short('H'),
        Opt::value(
            "body",
            "@FILE|TEXT",
            "the request body (content-type application/json unless -H sets one)",
        ),
        Opt::value(
            "claims",
            "@FILE|JSON",
            "the claims `auth jwt` takes as a verified token's",
        ),
        Opt::value(
            "host",
            "HOST",
            "the Host field (routes with a host match on it)",
        )
        .default("localhost"),
    ],
    main: trace,
};

/// The request id the trace uses when the request has no `X-Request-Id`.
const REQUEST_ID: &str = "00000000-0000-4000-8000-000000000000";

/// Policies the trace stubs that this build may not serve yet: compiled so the route can
/// be traced, with a note that `gw run` refuses them.
const STUBBED: &[&str] = &["cache", "throttle.plan"];

/// Policies that run for real: they need no network, no key and no state.
const REAL: &[&str] = &["validate.body", "validate.params", "cors"];

/// `gw trace FILE 'METHOD /path' [-H ..] [--body ..] [--claims ..] [--host ..]`
fn trace(args: Args) -> i32 {
    let (file, line) = match args.operands.as_slice() {
        [file, line] => (file, line),
        [] => return crate::cli::usage_error(&COMMAND, "missing FILE"),
        [_] => return crate::cli::usage_error(&COMMAND, "missing 'METHOD /path'"),
        [_, _, x, ..] => {
            return crate::cli::usage_error(&COMMAND, &format!("unexpected argument `{x}`"));
        }
    };
    let req = match request(&args, line) {
        Ok(r) => r,
        Err(e) => return crate::cli::usage_error(&COMMAND, &e),
    };
    let claims = match args.value("claims").map(read_arg).transpose() {
        Ok(None) => None,
        Ok(Some(text)) => match serde_json::from_slice::<serde_json::Value>(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("error: --claims is not JSON: {e}");
                return 1;
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let registry = gw_plugins_std::registry();
    let mut available: Vec<String> = registry.names().map(str::to_owned).collect();
    available.extend(STUBBED.iter().map(|s| (*s).to_owned()));
    let Some((_, compiled)) = crate::tools::load(Path::new(file), Some(available)) else {
        return 1;
    };
    let Some(image) = compiled.image else {
        return 1;
    };
    let mut out = String::new();
    for name in image.plugin_names() {
        if registry.get(name).is_none() {
            let _ = writeln!(
                out,
                "note: this build does not serve `{name}`: `gw run` refuses the file (E0801); \
                 the trace stubs it"
            );
        }
    }
    let code = match run(&image, &registry, req, claims, &mut out) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    };
    let _ = std::io::stdout().write_all(out.as_bytes());
    code
}

/// The request the command line describes.
fn request(args: &Args, line: &str) -> Result<Request, String> {
    let mut words = line.split_whitespace();
    let (Some(method), Some(target), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!("`{line}` is not 'METHOD /path'"));
    };
    if !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(format!("`{method}` is not a method"));
    }
    let (raw_path, query) = target.split_once('?').unwrap_or((target, ""));
    if !raw_path.starts_with('/') {
        return Err(format!("`{target}` does not start with /"));
    }
    let mut path = String::new();
    gw_proto::normalize_path(raw_path.as_bytes(), &mut path)
        .map_err(|e| format!("the path is refused: {e:?}"))?;
    let mut headers: Vec<(String, String)> = Vec::new();
    let host = args.value("host").unwrap_or("localhost");
    headers.push(("host".into(), host.into()));
    for (opt, value) in &args.opts {
        if *opt != "header" {
            continue;
        }
        let Some((n, v)) = value.as_deref().and_then(|h| h.split_once(':')) else {
            return Err(format!(
                "-H `{}` is not 'NAME: VALUE'",
                value.as_deref().unwrap_or("")
            ));
        };
        let n = n.trim();
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!("-H `{n}` is not a header name"));
        }
        if n.eq_ignore_ascii_case("host") {
            headers.retain(|(h, _)| h != "host");
        }
        headers.push((n.to_ascii_lowercase(), v.trim().to_owned()));
    }
    let body = args.value("body").map(read_arg).transpose()?;
    if let Some(b) = &body {
        if host::header_in(&headers, "content-type").is_none() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        headers.retain(|(n, _)| n != "content-length");
        headers.push(("content-length".into(), b.len().to_string()));
    }
    let request_id = host::header_in(&headers, "x-request-id")
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or(REQUEST_ID)
        .to_owned();
    Ok(Request {
        method: method.to_ascii_uppercase(),
        path,
        query: query.to_owned(),
        headers,
        body,
        client: Some(std::net::IpAddr::from([127, 0, 0, 1])),
        request_id,
        params: Vec::new(),
    })
}

/// `@FILE`: the file's bytes; anything else: the text itself.
fn read_arg(v: &str) -> Result<Vec<u8>, String> {
    match v.strip_prefix('@') {
        Some(path) => std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}")),
        None => Ok(v.as_bytes().to_vec()),
    }
}

/// Route the request and trace it to its outcome.
fn run(
    image: &ConfigImage,
    registry: &gw_plugin::Registry,
    mut req: Request,
    claims: Option<serde_json::Value>,
    out: &mut String,
) -> Result<(), String> {
    let _ = writeln!(
        out,
        "trace {} {}{}{} (offline: nothing is sent; client 127.0.0.1, request id {})",
        req.method,
        req.path,
        if req.query.is_empty() { "" } else { "?" },
        req.query,
        req.request_id
    );
    for (n, v) in &req.headers {
        let _ = writeln!(out, "  {n}: {v}");
    }
    if let Some(b) = &req.body {
        let _ = writeln!(out, "  body: {}", host::clip(&String::from_utf8_lossy(b)));
    }
    let host_name = req.header("host").unwrap_or("").to_owned();
    let host_name = host::host_without_port(&host_name);
    let mut params = Vec::new();
    let mut looked = image
        .router
        .lookup(host_name, &req.method, &req.path, &mut params);
    let preflight = req.method == "OPTIONS"
        && req.header("origin").is_some()
        && req.header("access-control-request-method").is_some();
    if let (Lookup::MethodNotAllowed { .. }, true) = (&looked, preflight) {
        let asked = req
            .header("access-control-request-method")
            .unwrap_or("")
            .to_owned();
        let mut p2 = Vec::new();
        if let Lookup::Found { route } = image.router.lookup(host_name, &asked, &req.path, &mut p2)
            && image.routes.get(route as usize).is_some_and(|r| r.cors)
        {
            let _ = writeln!(
                out,
                "a CORS preflight: routed by the method it asks about ({asked})"
            );
            looked = Lookup::Found { route };
            params = p2;
        }
    }
    req.params = params;
    let slots = instances(image, registry)?;
    let route = match looked {
        Lookup::Found { route } => image.routes.get(route as usize),
        _ => None,
    };
    let t = Trace {
        image,
        route,
        req: &req,
        slots,
        claims,
        now_ms: now_ms(),
        log: RefCell::new(Vec::new()),
    };
    let mut st = State::default();
    st.edits.headers = req.headers.clone();
    st.edits.query = query_pairs(&req.query);
    let mut cx = outcome::Cx {
        t: &t,
        st: &mut st,
        out,
        frame: Frame::new(),
    };
    match looked {
        Lookup::NotFound => {
            let _ = writeln!(cx.out, "no route: 404");
            cx.error(404, "not found", None, &[]);
            return Ok(());
        }
        Lookup::MethodNotAllowed { allow } => {
            let _ = writeln!(cx.out, "no route for {}: 405, allow {allow}", req.method);
            cx.error(405, "method not allowed", None, &[("allow", allow)]);
            return Ok(());
        }
        Lookup::Found { .. } => {}
    }
    let Some(route) = route else {
        return Err("the router named a route the image does not hold".into());
    };
    cx.route(route, preflight);
    Ok(())
}

/// One instance per plugin slot for the policies that run for real; the rest are stubbed.
fn instances(
    image: &ConfigImage,
    registry: &gw_plugin::Registry,
) -> Result<Vec<host::Slot>, String> {
    image
        .plugins
        .iter()
        .map(|spec| {
            if !REAL.contains(&spec.plugin.as_str()) {
                return Ok(RefCell::new(None));
            }
            let plugin = registry
                .get(&spec.plugin)
                .ok_or_else(|| format!("{}: `{}` is not served", spec.origin, spec.plugin))?;
            let factory = plugin
                .build(spec, None)
                .map_err(|e| format!("{}: {}", e.origin, e.message))?;
            Ok(RefCell::new(Some(factory.instance(0))))
        })
        .collect()
}

fn query_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Unix ms now; `GW_TRACE_NOW_MS` pins it (golden tests, tokens with a fixed `exp`).
fn now_ms() -> i64 {
    if let Some(ms) = std::env::var("GW_TRACE_NOW_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return ms;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Run `prog`, printing each op executed, the registers it changed and what the host logged
/// while it ran.
fn run_program(
    t: &Trace<'_>,
    st: &mut State,
    frame: &mut Frame,
    prog: &Program,
    phase: Phase<'_>,
    out: &mut String,
) -> Exit {
    let label = match phase {
        Phase::Request => "request",
        Phase::Response(_) => "response",
        Phase::Error(_) => "error",
    };
    let params: &[String] = match (t.route, phase) {
        (Some(r), Phase::Request | Phase::Response(_)) => &r.params,
        _ => &[],
    };
    let _ = writeln!(
        out,
        "{label} program of {}: {} ops",
        prog.name,
        prog.ops.len()
    );
    let mut before: Vec<Value> = Vec::new();
    let mut host = TraceHost::new(t, prog, st, phase);
    let log = &t.log;
    let exit = gw_vm::run_traced(prog, 0, frame, &mut host, &mut |pc, frame| {
        let line = gw_program::disasm::disasm_op(prog, pc as usize, label, Some(t.image), params);
        let _ = writeln!(out, "{}", line.trim_end());
        before.resize(frame.regs.len(), Value::Absent);
        let dst = prog.ops.get(pc as usize).and_then(written);
        for (i, (now, was)) in frame.regs.iter().zip(before.iter_mut()).enumerate() {
            if now != was || dst == Some(i) {
                let mut text = String::new();
                now.write_literal(&mut text);
                let _ = writeln!(out, "        r{i} = {}", host::clip(&text));
                *was = now.clone();
            }
        }
        if let Ok(mut lines) = log.try_borrow_mut() {
            for l in lines.drain(..) {
                let _ = writeln!(out, "        {l}");
            }
        }
    });
    let _ = writeln!(out, "  -> {}", outcome::exit_text(&exit, prog, t.image));
    exit
}

/// The register an op writes, shown even when its value did not change (an absent read).
fn written(op: &Op) -> Option<usize> {
    match *op {
        Op::LdField { dst, .. }
        | Op::LdConst { dst, .. }
        | Op::Mov { dst, .. }
        | Op::Cmp { dst, .. }
        | Op::CmpConst { dst, .. }
        | Op::Arith { dst, .. }
        | Op::Str { dst, .. }
        | Op::InList { dst, .. }
        | Op::InListConst { dst, .. }
        | Op::InSet { dst, .. }
        | Op::InCidr { dst, .. }
        | Op::Matches { dst, .. }
        | Op::Concat { dst, .. }
        | Op::Coalesce { dst, .. }
        | Op::CoalesceConst { dst, .. }
        | Op::Has { dst, .. }
        | Op::Not { dst, .. }
        | Op::Neg { dst, .. }
        | Op::CallFn { dst, .. }
        | Op::TplBuild { dst, .. }
        | Op::Index { dst, .. }
        | Op::Member { dst, .. }
        | Op::HdrEqConst { dst, .. } => Some(usize::from(dst)),
        _ => None,
    }
}
