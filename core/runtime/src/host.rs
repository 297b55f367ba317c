//! The VM's view of a request: field loads, effects, plugin calls. Built afresh (by field
//! borrows, no allocation) for every program run.

use std::cell::Cell;
use std::net::IpAddr;
use std::rc::Rc;

use gw_program::{Field, Program, RoutePlan, Value};
use gw_proto::{Range, RequestHead, ResponseHead};
use gw_vm::{Call, Effect, Host};

use crate::edits::Edits;

/// The request as the programs see it.
#[derive(Debug, Clone, Copy)]
pub struct ReqView<'a> {
    /// The head bytes `head` ranges point into.
    pub hb: &'a [u8],
    pub head: &'a RequestHead,
    /// The normalised path.
    pub path: &'a str,
    pub params: &'a [(u32, u32)],
    pub client: IpAddr,
    pub request_id: &'a str,
    pub route: Option<&'a RoutePlan>,
    /// The request came over TLS (`req.scheme`, `X-Forwarded-Proto`).
    pub tls: bool,
    /// The subject of the client's verified certificate (mutual TLS).
    pub client_subject: Option<&'a str>,
}

impl<'a> ReqView<'a> {
    /// The method.
    pub fn method(&self) -> &'a str {
        std::str::from_utf8(self.head.method.of(self.hb)).unwrap_or("")
    }

    /// The first value of header `name` (ASCII case-insensitive), trimmed.
    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        header_in(self.hb, &self.head.headers, name)
    }

    /// The host without its port, for routing and `req.host`.
    pub fn host(&self) -> &'a str {
        host_without_port(std::str::from_utf8(self.head.host.of(self.hb)).unwrap_or(""))
    }
}

/// The [`ReqView`] of a [`Conn`](crate::state::Conn) `$c` for `$route`. A macro, not a method:
/// the view borrows single fields, so the caller can hold `&mut $c.req.edits` beside it.
macro_rules! req_view {
    ($c:expr, $route:expr) => {
        $crate::host::ReqView {
            hb: &$c.req.hb,
            head: &$c.req.head,
            path: &$c.req.path,
            params: &$c.req.params,
            client: $c.peer.ip(),
            request_id: &$c.req.request_id,
            route: $route,
            tls: $c.stream.is_tls(),
            client_subject: $c.stream.client_subject(),
        }
    };
}
pub(crate) use req_view;

/// The first value of header `name` among `headers`, whose ranges point into `buf`.
pub fn header_in<'a>(buf: &'a [u8], headers: &[(Range, Range)], name: &[u8]) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.of(buf).eq_ignore_ascii_case(name))
        .map(|(_, v)| v.of(buf).trim_ascii())
}

/// `api.example.com:8080` -> `api.example.com`; `[::1]:80` -> `[::1]`.
pub fn host_without_port(h: &str) -> &str {
    if h.starts_with('[') {
        return h.find(']').and_then(|i| h.get(..=i)).unwrap_or(h);
    }
    match h.rfind(':') {
        Some(i)
            if h.get(i + 1..)
                .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit())) =>
        {
            h.get(..i).unwrap_or(h)
        }
        _ => h,
    }
}

/// The upstream response, in the response phase.
#[derive(Debug, Clone, Copy)]
pub struct RespView<'a> {
    pub hb: &'a [u8],
    pub head: &'a ResponseHead,
    pub upstream: &'a str,
    pub latency_ms: u64,
    pub canary: bool,
    pub body: Option<&'a [u8]>,
}

/// The failure an error page describes.
#[derive(Debug, Clone, Copy)]
pub struct ErrView<'a> {
    pub status: u16,
    pub message: &'a str,
    pub retry_after: Option<u64>,
}

/// Per-generation plugin instances, borrowed for the length of a call.
pub type Slots = [crate::slot::Slot];

/// The `Host` the VM runs against.
pub struct ReqHost<'a> {
    /// The running program, for constant-pool names.
    pub prog: &'a Program,
    pub req: ReqView<'a>,
    pub edits: &'a mut Edits,
    pub denial: &'a mut crate::edits::Denial,
    /// The slot of the last plugin call that denied or waited, for the metrics.
    pub policy: &'a mut Option<u16>,
    pub slots: &'a Slots,
    /// The operation a plugin call handed over before it answered `Pending`.
    pub pending: &'a mut Option<gw_plugin::PendingOp>,
    pub resp: Option<RespView<'a>>,
    pub error: Option<ErrView<'a>>,
    pub body: Option<&'a [u8]>,
    /// Per-worker counters of unsticky canary splits, indexed by canary id modulo length.
    pub split: &'a [Cell<u64>],
    pub healthy: &'a dyn Fn(u16) -> bool,
    /// Unix time in milliseconds, read at the first `now_ms` (most programs never ask).
    pub now_ms: Cell<Option<i64>>,
    /// When the request's first byte arrived (read once per request by the connection).
    pub arrived: std::time::Instant,
    /// `ConfigImage::hash_seed`: sticky canary and `hash by` keys.
    pub hash_seed: u64,
    /// Values plugins produced this request (`Field::Local`), by local id.
    pub locals: &'a mut Vec<Value>,
    /// The request's parsed bodies (`body.*`, `resp.json.*`), cached across program runs.
    pub json: &'a mut crate::json::JsonDocs,
    /// The worker's HTTP client for plugins' own calls.
    pub http: Option<&'a Rc<dyn gw_plugin::HttpClient>>,
}

impl ReqHost<'_> {
    /// The value of cookie `name` among the request's Cookie fields.
    fn cookie(&self, name: &[u8]) -> Value {
        let r = &self.req;
        r.head
            .headers
            .iter()
            .filter(|(n, _)| n.of(r.hb).eq_ignore_ascii_case(b"cookie"))
            .find_map(|(_, v)| cookie_value(v.of(r.hb), name))
            .unwrap_or(Value::Absent)
    }

    fn const_name(&self, k: u16) -> &[u8] {
        self.prog
            .consts
            .get(k as usize)
            .and_then(Value::as_str)
            .unwrap_or("")
            .as_bytes()
    }
}

fn text(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::str(s),
        Err(_) => Value::str(&String::from_utf8_lossy(b)),
    }
}

/// The value of `name` in a query string (`a=1&b=2`), percent-decoded.
pub fn query_value(query: &[u8], name: &[u8]) -> Option<Value> {
    query.split(|b| *b == b'&').find_map(|pair| {
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (pair.get(..i)?, pair.get(i + 1..)?),
            None => (pair, &b""[..]),
        };
        (k == name).then(|| text(&percent_decode(v, true)))
    })
}

/// The value of cookie `name` in a Cookie header.
pub fn cookie_value(header: &[u8], name: &[u8]) -> Option<Value> {
    header.split(|b| *b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let i = pair.iter().position(|b| *b == b'=')?;
        (pair.get(..i)? == name).then(|| text(pair.get(i + 1..).unwrap_or(b"").trim_ascii()))
    })
}

/// `+` is a space in a query (form encoding), itself in a path.
pub fn percent_decode(v: &[u8], plus_is_space: bool) -> std::borrow::Cow<'_, [u8]> {
    if !v
        .iter()
        .any(|b| *b == b'%' || (plus_is_space && *b == b'+'))
    {
        return std::borrow::Cow::Borrowed(v);
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while let Some(&b) = v.get(i) {
        match b {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => match (
                v.get(i + 1).and_then(|h| hex(*h)),
                v.get(i + 2).and_then(|l| hex(*l)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

impl Host for ReqHost<'_> {
    fn load(&mut self, field: Field) -> Value {
        let r = &self.req;
        match field {
            Field::ReqMethod => Value::str(r.method()),
            Field::ReqPath => Value::str(r.path),
            Field::ReqHost => Value::str(r.host()),
            Field::ReqScheme => Value::str(if r.tls { "https" } else { "http" }),
            Field::PathParam(i) => r
                .params
                .get(i as usize)
                .and_then(|(a, b)| r.path.get(*a as usize..*b as usize))
                .map_or(Value::Absent, |s| {
                    text(&percent_decode(s.as_bytes(), false))
                }),
            Field::Query(k) => {
                query_value(r.head.query.of(r.hb), self.const_name(k)).unwrap_or(Value::Absent)
            }
            Field::Header(k) => r.header(self.const_name(k)).map_or(Value::Absent, text),
            Field::Cookie(k) => self.cookie(self.const_name(k)),
            Field::ClientIp => Value::Ip(r.client),
            Field::Local(k) => self
                .locals
                .get(k as usize)
                .cloned()
                .unwrap_or(Value::Absent),
            Field::TlsSubject => r.client_subject.map_or(Value::Absent, Value::str),
            Field::Body(k) => crate::json::load(&mut self.json.body, self.prog, k, self.body),
            Field::RespJson(k) => {
                let body = self.resp.and_then(|p| p.body);
                crate::json::load(&mut self.json.resp, self.prog, k, body)
            }
            Field::RequestId => Value::str(r.request_id),
            Field::RouteName => r.route.map_or(Value::Absent, |p| Value::str(&p.name)),
            Field::RespStatus => self
                .resp
                .map_or(Value::Absent, |p| Value::Int(p.head.status.into())),
            Field::RespHeader(k) => self
                .resp
                .and_then(|p| header_in(p.hb, &p.head.headers, self.const_name(k)))
                .map_or(Value::Absent, text),
            Field::UpstreamName => self.resp.map_or(Value::Absent, |p| Value::str(p.upstream)),
            Field::UpstreamLatency => self
                .resp
                .map_or(Value::Absent, |p| Value::Duration(p.latency_ms)),
            Field::Canary => self.resp.map_or(Value::Absent, |p| Value::Bool(p.canary)),
            Field::ErrorStatus => self
                .error
                .map_or(Value::Absent, |e| Value::Int(e.status.into())),
            Field::ErrorMessage => self.error.map_or(Value::Absent, |e| Value::str(e.message)),
            Field::ErrorRetryAfter => self
                .error
                .and_then(|e| e.retry_after)
                .map_or(Value::Absent, |s| Value::Int(s as i64)),
        }
    }

    fn apply(&mut self, effect: Effect<'_>) {
        if !self.denial.apply(effect) {
            self.edits.apply(effect);
        }
    }

    fn call(&mut self, slot: u16, args: &[Value]) -> Call {
        let slots = self.slots;
        // what an earlier call said about its denial does not describe this one's
        self.denial.clear();
        let answer = match slots.get(slot as usize) {
            Some(s) => s.call(self, args),
            None => Call::Deny {
                status: 500,
                retry_after: None,
            },
        };
        if matches!(answer, Call::Deny { .. } | Call::Pending) {
            *self.policy = Some(slot);
        }
        answer
    }

    fn pend(&mut self, op: gw_plugin::PendingOp) -> bool {
        // one operation per call: a second one would never be awaited
        if self.pending.is_some() {
            return false;
        }
        *self.pending = Some(op);
        true
    }

    fn request_query(&self, name: &str) -> Value {
        query_value(self.req.head.query.of(self.req.hb), name.as_bytes()).unwrap_or(Value::Absent)
    }

    fn request_cookie(&self, name: &str) -> Value {
        self.cookie(name.as_bytes())
    }

    fn take_pending(&mut self) -> Option<gw_plugin::PendingOp> {
        self.pending.take()
    }

    fn now_ms(&self) -> i64 {
        match self.now_ms.get() {
            Some(t) => t,
            None => {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                self.now_ms.set(Some(t));
                t
            }
        }
    }

    fn arrived(&self) -> std::time::Instant {
        self.arrived
    }

    fn upstream_healthy(&self, upstream: u16) -> bool {
        (self.healthy)(upstream)
    }

    fn split_counter(&mut self, id: u16) -> u64 {
        let len = self.split.len().max(1);
        match self.split.get(id as usize % len) {
            Some(c) => {
                let n = c.get();
                c.set(n.wrapping_add(1));
                n
            }
            None => 0,
        }
    }

    fn hash_seed(&self) -> u64 {
        self.hash_seed
    }

    fn set_local(&mut self, key: u16, value: Value) {
        // ids are dense and small (compiler-assigned); refuse absurd ones instead of growing
        let i = key as usize;
        if i >= 4096 {
            return;
        }
        if self.locals.len() <= i {
            self.locals.resize(i + 1, Value::Absent);
        }
        if let Some(slot) = self.locals.get_mut(i) {
            *slot = value;
        }
    }

    fn request_body(&self) -> Option<&[u8]> {
        self.body
    }

    fn request_header(&self, name: &[u8]) -> Option<&[u8]> {
        self.req.header(name)
    }

    fn for_each_request_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        for (n, v) in &self.req.head.headers {
            f(n.of(self.req.hb), v.of(self.req.hb));
        }
    }

    fn response_header(&self, name: &[u8]) -> Option<&[u8]> {
        self.resp
            .and_then(|p| header_in(p.hb, &p.head.headers, name))
    }

    fn for_each_response_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        if let Some(p) = self.resp {
            for (n, v) in &p.head.headers {
                f(n.of(p.hb), v.of(p.hb));
            }
        }
    }

    fn request_id(&self) -> &str {
        self.req.request_id
    }

    fn http(&self) -> Option<Rc<dyn gw_plugin::HttpClient>> {
        self.http.cloned()
    }

    fn response_body(&self) -> Option<&[u8]> {
        self.resp.and_then(|r| r.body)
    }
}

#[cfg(test)]
mod tests;
