//! gw-vm: runs a verified [`Program`] against a [`Host`].
//!
//! The interpreter loop does not allocate for ops on ints, bools, constants and short
//! strings: registers live in a reusable [`Frame`] (resized once per program), strings of up
//! to 23 bytes are stored inline, longer ones are shared (`Arc` clones), and text is built in
//! the frame's reused scratch buffers. Only an op whose *result* is a string longer than 23
//! bytes allocates that result (`concat`, `tpl.build`, builtins such as `sha256_hex`).
//!
//! Semantics the compiler relies on:
//! - **Absence.** A load may give `Value::Absent` (JSON `null` counts as absent too).
//!   Comparisons with an absent operand are false, except `ne`, which is true; `has` and
//!   `coalesce` test it; other ops propagate it (an absent value in a header effect sets
//!   nothing).
//! - **Runtime errors.** A failing op (integer overflow, division by zero, ordering values of
//!   different types, invalid base64, a status outside 100..=599) raises a fault. When the
//!   faulting op is part of a `require` expression — only expression ops and jumps lie
//!   between it and the statement's `deny.ifnot` — the request is denied with that
//!   statement's status and message ("an evaluation error denies",
//!   grammar/README.md#route-statements). Anywhere else the program ends with
//!   [`Exit::Trap`], which the host maps to 500.
//! - **Plugin calls.** `Call::Pending` ends the run with [`Exit::Pending`] at the pc of the
//!   call: the host awaits the operation the plugin handed it ([`Host::pend`]), runs its
//!   [`Completion`], and on `Call::Continue` runs the program on from the next op with the
//!   same frame. `Call::Deny` ends it with [`Exit::Deny`].
//! - **Canary.** A sticky `split` hashes the key's text (SipHash-1-3 keyed by
//!   [`Host::hash_seed`]); an absent key, or no key, uses [`Host::split_counter`] so that
//!   exactly `threshold` of every 10 000 requests go to the canary. `split` and `canary.mark`
//!   flag the request as canary: `Exit::Forward` reports it, [`Frame::canary`] keeps it.

use gw_program::{Field, Program, Value};

mod builtins;
mod effects;
mod exec;
mod expr;
mod fault;
mod hash;
mod rng;
mod template;
#[cfg(test)]
mod testing;

/// What a program asks the host to change. Borrowed strings are valid for the call only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect<'a> {
    /// `set header NAME = VALUE` (request).
    SetHeader(&'a str, &'a str),
    AppendHeader(&'a str, &'a str),
    RemoveHeader(&'a str),
    SetQuery(&'a str, &'a str),
    RemoveQuery(&'a str),
    RewritePath(&'a str),
    /// Replace the request body with this JSON text.
    SetBody(&'a str),
    /// Response phase.
    SetStatus(u16),
    RespSetHeader(&'a str, &'a str),
    RespAppendHeader(&'a str, &'a str),
    RespRemoveHeader(&'a str),
    RespSetBody(&'a str),
    /// The body of a plugin's own answer (`Call::Respond`) as bytes: a cache hit of an answer
    /// that is not text. Only `Call::Respond` answers use it.
    RespSetBodyBytes(&'a [u8]),
    /// If this call denies: a header for gw's answer (`WWW-Authenticate`), kept when an
    /// `on error` page reshapes the body.
    DenyHeader(&'a str, &'a str),
    /// If this call denies: gw's body for it (content type, body) in place of its default
    /// `{"message", "requestId"}`; an `on error` page for the status replaces it.
    DenyBody(&'a str, &'a str),
    /// If this call denies: why, for gw's log (never sent to the client).
    DenyReason(&'a str),
}

/// A plugin's answer to a `call`.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// Go on with the next op.
    Continue,
    /// Refuse the request with gw's answer for `status` (the config's `on error` page for it
    /// when there is one), with `Retry-After` when set: a 401 from an authorizer, a 429 from a
    /// throttle.
    Deny {
        status: u16,
        retry_after: Option<u64>,
    },
    /// End the request with this response (a cache hit...). The plugin has put the headers and
    /// body it wants into the host already.
    Respond(u16),
    /// The plugin handed the host an operation to await ([`Host::pend`]). The request owns
    /// it: others go on meanwhile. When it completes, its [`Completion`] answers in the
    /// plugin's place and the program goes on after the call.
    Pending,
}

/// A request a plugin makes itself (an authorizer's call, a key set's URL), HTTP/1.1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// Path and query, as sent (`/v1/check?x=1`).
    pub target: String,
    /// The Host field's value.
    pub host: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Over TLS (an `https://` URL): the server's certificate is verified for the Host's
    /// name (without its port) against the system's trusted CAs. The plugin's factory says
    /// so at load (gw-plugin's `Factory::https`), so they are read there, never on a worker.
    pub tls: bool,
}

/// The answer to an [`HttpRequest`], its body read whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a plugin's HTTP exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The connection could not be made or broke.
    Io(String),
    /// No whole answer within the timeout.
    Timeout,
    /// The answer was not valid HTTP/1.1, or its body was over the client's limit.
    BadResponse(String),
    /// The worker is stopping.
    Closed,
}

/// An exchange under way; it owns what it needs, so a plugin can hand it to `Host::pend`.
pub type HttpFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<HttpResponse, HttpError>>>>;

/// The worker's HTTP client for plugins' own calls, one timeout for the whole exchange.
pub trait HttpClient {
    /// To a service by address: the client's own keep-alive connections, reused only when
    /// quiet.
    fn send(
        &self,
        addr: std::net::SocketAddr,
        request: HttpRequest,
        timeout: std::time::Duration,
    ) -> HttpFuture;
    /// To a server of the config's upstream `upstream` (its id, as the compiler numbers
    /// upstreams), through the worker's upstream pools: its balancing, health and pooled
    /// keep-alive connections, as a proxied request would. `None` where the host has no
    /// upstreams.
    fn send_upstream(
        &self,
        upstream: u16,
        request: HttpRequest,
        timeout: std::time::Duration,
    ) -> Option<HttpFuture> {
        let _ = (upstream, request, timeout);
        None
    }
}

/// What a pending operation does once it has completed: it sees the request again (to store
/// locals, set headers) and answers as the plugin's call would.
pub type Completion = Box<dyn FnOnce(&mut dyn Host) -> Call>;

/// An operation a plugin call waits for (an authorizer's HTTP call, a key fetch). It must
/// not borrow the plugin instance: the instance serves other requests meanwhile.
pub type PendingOp = std::pin::Pin<Box<dyn std::future::Future<Output = Completion>>>;

/// The environment a program runs in: the runtime's request, or a test double.
pub trait Host {
    /// Load a field; `Value::Absent` when the request has no such value.
    fn load(&mut self, field: Field) -> Value;
    /// Apply a change to the request or response.
    fn apply(&mut self, effect: Effect<'_>);
    /// Run the plugin use at `slot` (`ConfigImage::plugins`) with the given arguments.
    fn call(&mut self, slot: u16, args: &[Value]) -> Call;
    /// Unix time in milliseconds.
    fn now_ms(&self) -> i64;
    /// When the request's first byte arrived: the clock of rate limits. The runtime reads it
    /// once per request; a host without one reads the clock.
    fn arrived(&self) -> std::time::Instant {
        std::time::Instant::now()
    }
    /// `upstream_healthy(NAME)`: whether the upstream has a server in service.
    fn upstream_healthy(&self, upstream: u16) -> bool;
    /// Next value of the per-worker counter of canary `id` (unsticky splits).
    fn split_counter(&mut self, id: u16) -> u64;
    /// The buffered request body (routes with `RoutePlan::buffer_body`), for plugins.
    fn request_body(&self) -> Option<&[u8]> {
        None
    }
    /// The buffered upstream response body (response phase of routes with
    /// `RoutePlan::buffer_response`).
    fn response_body(&self) -> Option<&[u8]> {
        None
    }
    /// Key of the sticky canary and `hash by` hashes: `ConfigImage::hash_seed`, which is kept
    /// across reloads so callers stay on their side. Hosts should return the image's seed.
    fn hash_seed(&self) -> u64 {
        0
    }
    /// A plugin stores a value it produced (`claim.*`, `key.*`, `auth.ctx.*`, `body.*`) for
    /// `Field::Local(key)` loads later in this request. Hosts without plugins ignore it.
    fn set_local(&mut self, key: u16, value: Value) {
        let _ = (key, value);
    }
    /// The first value of the request header `name` (ASCII case-insensitive), for plugins
    /// that read headers the config does not name (a token's header, a cache's `Vary`).
    fn request_header(&self, name: &[u8]) -> Option<&[u8]> {
        let _ = name;
        None
    }
    /// The first value of query parameter `name`, percent-decoded (`Value::Absent` if none),
    /// for plugins that read a parameter the config names only in their declaration.
    fn request_query(&self, name: &str) -> Value {
        let _ = name;
        Value::Absent
    }
    /// The value of cookie `name` (`Value::Absent` if none).
    fn request_cookie(&self, name: &str) -> Value {
        let _ = name;
        Value::Absent
    }
    /// Every request header, in order, as `(name, value)`.
    fn for_each_request_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        let _ = f;
    }
    /// The first value of the upstream response's header `name` (response phase).
    fn response_header(&self, name: &[u8]) -> Option<&[u8]> {
        let _ = name;
        None
    }
    /// Every header of the upstream response, in order (response phase), for a plugin that
    /// keeps the response (a cache).
    fn for_each_response_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        let _ = f;
    }
    /// The request's id (`X-Request-Id`), for a plugin's own calls and logs.
    fn request_id(&self) -> &str {
        ""
    }
    /// The worker's HTTP client, for a plugin's own calls (await them through `pend`).
    fn http(&self) -> Option<std::rc::Rc<dyn HttpClient>> {
        None
    }
    /// A plugin call hands over the operation it waits for, then answers [`Call::Pending`].
    /// False (and the operation dropped) where the host cannot await: the call then fails.
    fn pend(&mut self, op: PendingOp) -> bool {
        drop(op);
        false
    }
    /// Take back the operation a call just handed over with [`Host::pend`], so a plugin that
    /// calls others (`auth any`) can await it in its own operation.
    fn take_pending(&mut self) -> Option<PendingOp> {
        None
    }
}

/// How a program ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Exit {
    /// Request phase: send the request to this upstream.
    Forward {
        upstream: u16,
        hash: Option<u64>,
        canary: bool,
    },
    /// Respond without an upstream. The body, if any, is in `Frame::scratch` at `body`.
    Respond {
        status: u16,
        body: Option<(u32, u32)>,
        json: bool,
    },
    /// `require` failed or a plugin denied: gw's error response for `status` (through the
    /// config's `on error` page), with `Retry-After` when set.
    Deny {
        status: u16,
        message: Option<u16>,
        retry_after: Option<u64>,
    },
    /// A plugin call at `pc` answered `Call::Pending`: once the operation it handed the host
    /// completes and its completion answers `Call::Continue`, the host resumes at `pc + 1`.
    Pending { pc: u32 },
    /// Response / error programs: ran to the end.
    Done,
    /// Upgrade to a WebSocket relay to this upstream.
    Upgrade { upstream: u16, hash: Option<u64> },
    /// A runtime error (bad register, failed conversion). The host maps it to 500.
    Trap { pc: u32 },
    /// A plugin answered `Call::Respond(status)`: it has put the response's headers and body
    /// into the host, which sends them as they are.
    Responded { status: u16 },
}

/// Reusable registers and scratch space for running programs.
#[derive(Debug, Default)]
pub struct Frame {
    /// Registers of the running program (absent at its start).
    pub regs: Vec<Value>,
    /// Reused text buffer; holds a `Respond` body after the program ends.
    pub scratch: String,
    /// Reused byte buffer for builtins that decode (url_decode, base64_decode).
    pub bytes: Vec<u8>,
    /// Set when the request went to the canary side (`split` or `canary.mark`).
    pub canary: bool,
}

impl Frame {
    /// An empty frame; it grows to the largest program it runs and keeps that memory.
    pub fn new() -> Frame {
        Frame::default()
    }

    /// The text of a `Respond` body.
    pub fn body(&self, range: (u32, u32)) -> &str {
        self.scratch
            .get(range.0 as usize..range.1 as usize)
            .unwrap_or("")
    }

    /// Start a program: `regs` absent registers, keeping the allocations.
    fn reset(&mut self, regs: u8) {
        let regs = usize::from(regs);
        if self.regs.len() == regs {
            // The common case (the same program again): overwrite in place, no resize.
            self.regs.iter_mut().for_each(|r| *r = Value::Absent);
        } else {
            self.regs.clear();
            self.regs.resize(regs, Value::Absent);
        }
        self.scratch.clear();
        self.canary = false;
    }
}

/// Run `program` from `pc` (0 to start, or the `pc` of an `Exit::Pending` to resume).
///
/// Resuming needs the frame the program ran in; a frame whose register count does not match
/// the program traps.
///
/// Generic over the host so a concrete host's loads and effects are inlined into the loop;
/// `&mut dyn Host` works too.
pub fn run<H: Host + ?Sized>(program: &Program, pc: u32, frame: &mut Frame, host: &mut H) -> Exit {
    if pc == 0 {
        frame.reset(program.regs);
    } else if frame.regs.len() != usize::from(program.regs) {
        return Exit::Trap { pc };
    }
    exec::Machine {
        p: program,
        frame,
        host,
        exit: Exit::Done,
    }
    .run(pc)
}

/// [`run`], calling `on_op(pc, frame)` after each op it executes (the frame as that op left
/// it), the op that ends the run included: `gw trace` prints each op and the registers it
/// changed. The same interpreter step as [`run`], in a loop of its own, so `run` pays
/// nothing for the hook.
pub fn run_traced<H: Host + ?Sized>(
    program: &Program,
    pc: u32,
    frame: &mut Frame,
    host: &mut H,
    on_op: &mut dyn FnMut(u32, &Frame),
) -> Exit {
    if pc == 0 {
        frame.reset(program.regs);
    } else if frame.regs.len() != usize::from(program.regs) {
        return Exit::Trap { pc };
    }
    exec::Machine {
        p: program,
        frame,
        host,
        exit: Exit::Done,
    }
    .run_traced(pc, on_op)
}
