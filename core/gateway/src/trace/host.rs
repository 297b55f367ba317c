//! The request `gw trace` runs a route against, as the VM sees it: field loads, the edits a
//! program makes, and each plugin call, real (`validate body`, `validate params`, `cors`) or
//! stubbed (authentication, throttles, cache). Every effect and call is written to the trace
//! log as it happens.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::IpAddr;

use gw_plugin::{Call, Effect, Host, Instance};
use gw_program::{ConfigImage, Field, Program, RoutePlan, Value};

/// The request as given on the command line.
#[derive(Debug, Default)]
pub(crate) struct Request {
    pub method: String,
    /// Normalised, without its query.
    pub path: String,
    /// The query as written, without `?`.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub client: Option<IpAddr>,
    pub request_id: String,
    /// Byte ranges of the path parameters in `path`.
    pub params: Vec<(u32, u32)>,
}

impl Request {
    /// The first value of header `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

pub(crate) use gw_runtime::host_without_port;

/// The first value of `name` among `headers`.
pub(crate) fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A response as the response program sees it: the stubbed upstream's, or gw's own.
#[derive(Debug, Default, Clone)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The failure an `on error` page describes.
#[derive(Debug, Clone)]
pub(crate) struct ErrInfo {
    pub status: u16,
    pub message: String,
    pub retry_after: Option<u64>,
}

/// What the programs changed, across every program run for the request.
#[derive(Debug, Default)]
pub(crate) struct Edits {
    /// The upstream request's headers: the client's, then each edit applied.
    pub headers: Vec<(String, String)>,
    /// The query's pairs (as written), then each edit applied.
    pub query: Vec<(String, String)>,
    pub query_edited: bool,
    pub path: Option<String>,
    pub body: Option<String>,
    pub resp_status: Option<u16>,
    /// Response header edits, in order: `(name, Some(value), append)` or `(name, None, _)`.
    pub resp_headers: Vec<(String, Option<String>, bool)>,
    pub resp_body: Option<String>,
    /// What the last plugin said about its denial.
    pub deny_headers: Vec<(String, String)>,
    pub deny_body: Option<(String, String)>,
    pub deny_reason: Option<String>,
    /// A request header edit refused (its value is no field value).
    pub refused_header: Option<String>,
}

impl Edits {
    /// Apply the response header edits to `headers`.
    pub fn apply_resp_headers(&self, headers: &mut Vec<(String, String)>) {
        for (name, value, append) in &self.resp_headers {
            match value {
                Some(v) if *append => headers.push((name.clone(), v.clone())),
                Some(v) => {
                    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                    headers.push((name.clone(), v.clone()));
                }
                None => headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name)),
            }
        }
    }

    fn clear_denial(&mut self) {
        self.deny_headers.clear();
        self.deny_body = None;
        self.deny_reason = None;
    }
}

/// A plugin use: the instance that runs for real, or `None` where the trace stubs it.
pub(crate) type Slot = RefCell<Option<Box<dyn Instance>>>;

/// What stays the same for every program run of one trace.
pub(crate) struct Trace<'a> {
    pub image: &'a ConfigImage,
    pub route: Option<&'a RoutePlan>,
    pub req: &'a Request,
    /// By plugin slot.
    pub slots: Vec<Slot>,
    /// `--claims`: what `auth jwt` takes as a verified token's claims.
    pub claims: Option<serde_json::Value>,
    pub now_ms: i64,
    /// Lines written by the host while an op runs, printed after the op.
    pub log: RefCell<Vec<String>>,
}

impl Trace<'_> {
    pub fn note(&self, line: String) {
        if let Ok(mut log) = self.log.try_borrow_mut() {
            log.push(line);
        }
    }
}

/// What the request accumulates across program runs.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub edits: Edits,
    pub locals: Vec<Value>,
    /// The upstream the request went to (`upstream.name` in the response phase).
    pub upstream: Option<String>,
    /// `body.*`: the request body parsed once (`None` inside: not JSON).
    body_json: Option<Option<serde_json::Value>>,
    resp_json: Option<Option<serde_json::Value>>,
}

/// Which phase a program runs in, and what it sees beyond the request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Phase<'a> {
    Request,
    Response(&'a Response),
    Error(&'a ErrInfo),
}

/// The [`Host`] of one program run.
pub(crate) struct TraceHost<'a> {
    pub t: &'a Trace<'a>,
    pub prog: &'a Program,
    pub st: &'a mut State,
    pub phase: Phase<'a>,
    /// The `out.NAME` arguments of the plugin being called: names of the locals it stores.
    outs: Vec<(u16, String)>,
}

impl<'a> TraceHost<'a> {
    pub fn new(t: &'a Trace<'a>, prog: &'a Program, st: &'a mut State, phase: Phase<'a>) -> Self {
        TraceHost {
            t,
            prog,
            st,
            phase,
            outs: Vec::new(),
        }
    }

    fn const_name(&self, k: u16) -> &'a str {
        let p: &'a Program = self.prog;
        p.consts
            .get(usize::from(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    fn response(&self) -> Option<&'a Response> {
        match self.phase {
            Phase::Response(r) => Some(r),
            _ => None,
        }
    }

    fn error(&self) -> Option<&'a ErrInfo> {
        match self.phase {
            Phase::Error(e) => Some(e),
            _ => None,
        }
    }

    /// A stubbed plugin's call: what it would store and answer, said in the log.
    fn stub(&mut self, slot: u16, depth: u8) -> Call {
        let image = self.t.image;
        let Some(spec) = image.plugins.get(usize::from(slot)) else {
            return Call::Deny {
                status: 500,
                retry_after: None,
            };
        };
        match spec.plugin.as_str() {
            "jwt" => self.jwt(spec),
            "api_key" | "authorizer" => {
                self.t.note(format!(
                    "{} {}: accepted with a stub identity (no key file or authorizer consulted)",
                    spec.plugin, spec.state_key
                ));
                for (name, value) in &spec.args {
                    let Some(name) = name.strip_prefix("out.") else {
                        continue;
                    };
                    if let Some((local, ty)) = out_arg(value)
                        && let Some(v) = stub_value(ty)
                    {
                        self.store(local, name, v);
                    }
                }
                Call::Continue
            }
            "auth.any" => {
                let first = match Value::find(&spec.args, "members") {
                    Some(Value::List(l)) => l.first().and_then(|v| match v {
                        Value::Int(i) => u16::try_from(*i).ok(),
                        _ => None,
                    }),
                    _ => None,
                };
                self.t.note("auth any: its first member decides".into());
                match first {
                    Some(member) if depth == 0 => self.stub(member, 1),
                    _ => Call::Deny {
                        status: 500,
                        retry_after: None,
                    },
                }
            }
            "throttle" | "throttle.plan" => {
                self.t.note(format!(
                    "{}: passes (stubbed: no bucket is kept)",
                    spec.plugin
                ));
                Call::Continue
            }
            "cache" => {
                self.t
                    .note("cache: a miss (stubbed: nothing is stored or served)".into());
                Call::Continue
            }
            other => {
                self.t.note(format!("{other}: passes (stubbed)"));
                Call::Continue
            }
        }
    }

    /// `auth jwt`: the `--claims` stand in for a verified token, checked as the plugin checks
    /// a token's claims.
    fn jwt(&mut self, spec: &gw_program::PluginSpec) -> Call {
        let deny = |host: &mut Self, challenge: &str, why: String| {
            host.apply(Effect::DenyHeader("www-authenticate", challenge));
            host.apply(Effect::DenyReason(&why));
            Call::Deny {
                status: 401,
                retry_after: None,
            }
        };
        let Some(claims) = &self.t.claims else {
            return deny(
                self,
                "Bearer",
                "no --claims given: traced as a request without a token".into(),
            );
        };
        match gw_plugins_std::jwt::claims_locals(spec, claims, self.t.now_ms) {
            Ok(locals) => {
                self.t.note(format!(
                    "jwt {}: the --claims are taken as a verified token's (no signature checked)",
                    spec.state_key
                ));
                let names = outs(spec);
                for (local, v) in locals {
                    let name = names
                        .iter()
                        .find(|(l, _)| *l == local)
                        .map_or_else(|| format!("local#{local}"), |(_, n)| n.clone());
                    self.store(local, &name, v);
                }
                Call::Continue
            }
            Err(why) => deny(self, "Bearer error=\"invalid_token\"", why),
        }
    }

    /// Store a local, saying so.
    fn store(&mut self, local: u16, name: &str, v: Value) {
        let mut text = String::new();
        v.write_literal(&mut text);
        self.t.note(format!("sets {name} = {}", clip(&text)));
        put_local(&mut self.st.locals, local, v);
    }

    fn json_at(doc: &Option<serde_json::Value>, ptr: &str) -> Value {
        match doc.as_ref().and_then(|d| d.pointer(ptr)) {
            None | Some(serde_json::Value::Null) => Value::Absent,
            Some(serde_json::Value::String(s)) => Value::str(s),
            Some(serde_json::Value::Bool(b)) => Value::Bool(*b),
            Some(serde_json::Value::Number(n)) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => n
                    .as_f64()
                    .map_or(Value::Absent, |f| Value::Json(gw_program::Json::Number(f))),
            },
            Some(v) => gw_plugins_std::typed::json(v, 0).map_or(Value::Absent, Value::Json),
        }
    }
}

/// The locals a spec's plugin stores, by id and name: its `out.NAME = [local, "type"]`
/// arguments, and `validate params` entries (`[field, type, min, max, default, local]`).
fn outs(spec: &gw_program::PluginSpec) -> Vec<(u16, String)> {
    let mut names: Vec<(u16, String)> = spec
        .args
        .iter()
        .filter_map(|(k, v)| Some((out_arg(v)?.0, k.strip_prefix("out.")?.to_string())))
        .collect();
    if let Some(Value::List(entries)) = Value::find(&spec.args, "params") {
        for e in entries.iter() {
            if let Value::List(e) = e
                && let (Some(Value::Str(field)), Some(Value::Int(local))) = (e.first(), e.get(5))
                && let Ok(local) = u16::try_from(*local)
            {
                names.push((local, field.as_str().to_string()));
            }
        }
    }
    names
}

fn out_arg(v: &Value) -> Option<(u16, &str)> {
    let Value::List(l) = v else { return None };
    match l.as_ref() {
        [Value::Int(id), Value::Str(ty), ..] => Some((u16::try_from(*id).ok()?, ty.as_str())),
        [Value::Int(id)] => Some((u16::try_from(*id).ok()?, "string")),
        _ => None,
    }
}

/// The stub identity's value for a field of type `ty`: `"stub"` for text, empty lists, zero;
/// absent for optional and JSON fields.
fn stub_value(ty: &str) -> Option<Value> {
    if ty.ends_with('?') {
        return None;
    }
    if ty.starts_with("list<") {
        return Some(Value::List(Vec::new().into()));
    }
    match ty {
        "string" => Some(Value::str("stub")),
        "int" => Some(Value::Int(0)),
        "bool" => Some(Value::Bool(false)),
        "timestamp" => Some(Value::Timestamp(0)),
        _ => None,
    }
}

fn put_local(locals: &mut Vec<Value>, key: u16, v: Value) {
    let i = usize::from(key);
    if i >= 4096 {
        return;
    }
    if locals.len() <= i {
        locals.resize(i + 1, Value::Absent);
    }
    if let Some(slot) = locals.get_mut(i) {
        *slot = v;
    }
}

/// At most 200 characters of a value's text.
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or(s)),
        None => s.to_string(),
    }
}

/// The value of `name` in a query string, percent-decoded (`+` a space), as gw reads it.
pub(crate) fn query_value(query: &str, name: &str) -> Option<Value> {
    gw_runtime::query_value(query.as_bytes(), name.as_bytes())
}

fn text(b: &[u8]) -> Value {
    Value::str(&String::from_utf8_lossy(b))
}

fn cookie(req: &Request, name: &str) -> Value {
    req.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .find_map(|(_, v)| gw_runtime::cookie_value(v.as_bytes(), name.as_bytes()))
        .unwrap_or(Value::Absent)
}

/// Whether `v` can be sent as a field value: no control character but tab.
fn field_value(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Replace every `name` field with one `value`, or remove them all.
fn set_pair(list: &mut Vec<(String, String)>, name: &str, value: Option<&str>, fold: bool) {
    let same = |n: &str| {
        if fold {
            n.eq_ignore_ascii_case(name)
        } else {
            n == name
        }
    };
    list.retain(|(n, _)| !same(n));
    if let Some(v) = value {
        list.push((name.to_string(), v.to_string()));
    }
}

impl Host for TraceHost<'_> {
    fn load(&mut self, field: Field) -> Value {
        let r = self.t.req;
        match field {
            Field::ReqMethod => Value::str(&r.method),
            Field::ReqPath => Value::str(&r.path),
            Field::ReqHost => r
                .header("host")
                .map_or(Value::Absent, |h| Value::str(host_without_port(h))),
            Field::ReqScheme => Value::str("http"),
            Field::PathParam(i) => r
                .params
                .get(usize::from(i))
                .and_then(|(a, b)| r.path.get(*a as usize..*b as usize))
                .map_or(Value::Absent, |s| {
                    text(&gw_runtime::percent_decode(s.as_bytes(), false))
                }),
            Field::Query(k) => query_value(&r.query, self.const_name(k)).unwrap_or(Value::Absent),
            Field::Header(k) => r
                .header(self.const_name(k))
                .map_or(Value::Absent, Value::str),
            Field::Cookie(k) => cookie(r, self.const_name(k)),
            Field::ClientIp => r.client.map_or(Value::Absent, Value::Ip),
            Field::Local(k) => self
                .st
                .locals
                .get(usize::from(k))
                .cloned()
                .unwrap_or(Value::Absent),
            Field::TlsSubject => Value::Absent,
            Field::Body(k) => {
                let ptr = self.const_name(k);
                let buffered = self.t.route.is_some_and(|p| p.buffer_body);
                let doc = self.st.body_json.get_or_insert_with(|| {
                    r.body
                        .as_deref()
                        .filter(|_| buffered)
                        .and_then(|b| serde_json::from_slice(b).ok())
                });
                Self::json_at(doc, ptr)
            }
            Field::RespJson(k) => {
                let ptr = self.const_name(k);
                let resp = self.response();
                let buffered = self.t.route.is_some_and(|p| p.buffer_response);
                let doc = self.st.resp_json.get_or_insert_with(|| {
                    resp.filter(|_| buffered)
                        .and_then(|p| serde_json::from_slice(&p.body).ok())
                });
                Self::json_at(doc, ptr)
            }
            Field::RequestId => Value::str(&r.request_id),
            Field::RouteName => self.t.route.map_or(Value::Absent, |p| Value::str(&p.name)),
            Field::RespStatus => self
                .response()
                .map_or(Value::Absent, |p| Value::Int(p.status.into())),
            Field::RespHeader(k) => self
                .response()
                .and_then(|p| header_in(&p.headers, self.const_name(k)))
                .map_or(Value::Absent, Value::str),
            Field::UpstreamName => match (self.response(), &self.st.upstream) {
                (Some(_), Some(u)) => Value::str(u),
                _ => Value::Absent,
            },
            Field::UpstreamLatency => self
                .response()
                .map_or(Value::Absent, |_| Value::Duration(0)),
            Field::Canary => self
                .response()
                .map_or(Value::Absent, |_| Value::Bool(false)),
            Field::ErrorStatus => self
                .error()
                .map_or(Value::Absent, |e| Value::Int(e.status.into())),
            Field::ErrorMessage => self
                .error()
                .map_or(Value::Absent, |e| Value::str(&e.message)),
            Field::ErrorRetryAfter => self
                .error()
                .and_then(|e| e.retry_after)
                .map_or(Value::Absent, |s| {
                    Value::Int(i64::try_from(s).unwrap_or(i64::MAX))
                }),
        }
    }

    fn apply(&mut self, effect: Effect<'_>) {
        let e = &mut self.st.edits;
        let mut line = String::new();
        let _ = match effect {
            // a value that cannot be a field value fails closed, as in the runtime: the
            // field goes and the request is refused once the program ends
            Effect::SetHeader(n, v) | Effect::AppendHeader(n, v) if !field_value(v) => {
                set_pair(&mut e.headers, n, None, true);
                e.refused_header.get_or_insert_with(|| n.to_string());
                write!(
                    line,
                    "request header {n} refused: its value holds a control character"
                )
            }
            Effect::SetHeader(n, v) => {
                set_pair(&mut e.headers, n, Some(v), true);
                write!(line, "request header {n}: {v}")
            }
            Effect::AppendHeader(n, v) => {
                e.headers.push((n.to_string(), v.to_string()));
                write!(line, "request header {n}: {v} (added)")
            }
            Effect::RemoveHeader(n) => {
                set_pair(&mut e.headers, n, None, true);
                write!(line, "request header {n} removed")
            }
            Effect::SetQuery(n, v) => {
                e.query_edited = true;
                set_pair(&mut e.query, n, Some(v), false);
                write!(line, "query {n}={v}")
            }
            Effect::RemoveQuery(n) => {
                e.query_edited = true;
                set_pair(&mut e.query, n, None, false);
                write!(line, "query {n} removed")
            }
            Effect::RewritePath(p) => {
                e.path = Some(p.to_string());
                write!(line, "path rewritten to {p}")
            }
            Effect::SetBody(b) => {
                e.body = Some(b.to_string());
                write!(line, "request body set: {}", clip(b))
            }
            Effect::SetStatus(s) => {
                e.resp_status = Some(s);
                write!(line, "response status {s}")
            }
            Effect::RespSetHeader(n, v) => {
                e.resp_headers
                    .push((n.to_string(), Some(v.to_string()), false));
                write!(line, "response header {n}: {v}")
            }
            Effect::RespAppendHeader(n, v) => {
                e.resp_headers
                    .push((n.to_string(), Some(v.to_string()), true));
                write!(line, "response header {n}: {v} (added)")
            }
            Effect::RespRemoveHeader(n) => {
                e.resp_headers.push((n.to_string(), None, false));
                write!(line, "response header {n} removed")
            }
            Effect::RespSetBody(b) => {
                e.resp_body = Some(b.to_string());
                write!(line, "response body set: {}", clip(b))
            }
            Effect::RespSetBodyBytes(b) => {
                let text = String::from_utf8_lossy(b);
                e.resp_body = Some(text.to_string());
                write!(
                    line,
                    "response body set ({} bytes): {}",
                    b.len(),
                    clip(&text)
                )
            }
            Effect::DenyHeader(n, v) => {
                e.deny_headers.push((n.to_string(), v.to_string()));
                write!(line, "if denied: header {n}: {v}")
            }
            Effect::DenyBody(ctype, b) => {
                e.deny_body = Some((ctype.to_string(), b.to_string()));
                write!(line, "if denied: body ({ctype}) {}", clip(b))
            }
            Effect::DenyReason(why) => {
                e.deny_reason = Some(why.to_string());
                write!(line, "if denied: reason {why}")
            }
        };
        self.t.note(line);
    }

    fn call(&mut self, slot: u16, args: &[Value]) -> Call {
        self.st.edits.clear_denial();
        let t = self.t;
        let spec = t.image.plugins.get(usize::from(slot));
        self.outs = spec.map(outs).unwrap_or_default();
        let real = t
            .slots
            .get(usize::from(slot))
            .is_some_and(|cell| cell.try_borrow().is_ok_and(|i| i.is_some()));
        let answer = match t.slots.get(usize::from(slot)).map(RefCell::try_borrow_mut) {
            Some(Ok(mut inst)) if real => match inst.as_mut() {
                Some(inst) => inst.call(self, args),
                None => Call::Continue,
            },
            Some(Ok(_)) => self.stub(slot, 0),
            // a plugin calling itself through the host cannot borrow its instance again
            _ => Call::Deny {
                status: 500,
                retry_after: None,
            },
        };
        self.outs.clear();
        let name = spec.map_or("?", |s| s.plugin.as_str());
        let key = spec.map_or("", |s| s.state_key.as_str());
        let said = match &answer {
            Call::Continue => "continues".to_string(),
            Call::Deny {
                status,
                retry_after: Some(s),
            } => format!("denies {status} (retry after {s} s)"),
            Call::Deny { status, .. } => format!("denies {status}"),
            Call::Respond(status) => format!("answers {status} itself"),
            Call::Pending => "waits (the trace cannot await it)".to_string(),
        };
        self.t.note(format!("{name} {key}: {said}"));
        answer
    }

    fn now_ms(&self) -> i64 {
        self.t.now_ms
    }

    fn upstream_healthy(&self, upstream: u16) -> bool {
        let name = self
            .t
            .image
            .upstreams
            .get(usize::from(upstream))
            .map_or("?", |u| u.name.as_str());
        self.t.note(format!(
            "upstream {name}: healthy (stubbed: no health checks run)"
        ));
        true
    }

    fn split_counter(&mut self, _id: u16) -> u64 {
        0
    }

    fn hash_seed(&self) -> u64 {
        self.t.image.hash_seed
    }

    fn set_local(&mut self, key: u16, value: Value) {
        let name = self
            .outs
            .iter()
            .find(|(l, _)| *l == key)
            .map_or_else(|| format!("local#{key}"), |(_, n)| n.clone());
        self.store(key, &name, value);
    }

    fn request_body(&self) -> Option<&[u8]> {
        if self.t.route.is_some_and(|p| p.buffer_body) {
            self.t.req.body.as_deref()
        } else {
            None
        }
    }

    fn response_body(&self) -> Option<&[u8]> {
        self.response().map(|r| r.body.as_slice())
    }

    fn request_header(&self, name: &[u8]) -> Option<&[u8]> {
        let name = std::str::from_utf8(name).ok()?;
        self.t.req.header(name).map(str::as_bytes)
    }

    fn request_query(&self, name: &str) -> Value {
        query_value(&self.t.req.query, name).unwrap_or(Value::Absent)
    }

    fn request_cookie(&self, name: &str) -> Value {
        cookie(self.t.req, name)
    }

    fn for_each_request_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        for (n, v) in &self.t.req.headers {
            f(n.as_bytes(), v.as_bytes());
        }
    }

    fn response_header(&self, name: &[u8]) -> Option<&[u8]> {
        let name = std::str::from_utf8(name).ok()?;
        self.response()
            .and_then(|p| header_in(&p.headers, name))
            .map(str::as_bytes)
    }

    fn request_id(&self) -> &str {
        &self.t.req.request_id
    }
}

#[cfg(test)]
mod tests;
