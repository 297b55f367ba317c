//! A client connection's state, apart from the code that serves it: what lives as long as the
//! connection, the current request and the current upstream response.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use gw_proto::{RequestHead, ResponseHead};
use gw_vm::Frame;

use crate::buffers::RecvBuf;
use crate::deadline::Watch;
use crate::edits::Edits;
use crate::error::{Error, Side};

/// One client connection: what lives as long as the connection, the current request, and
/// the current upstream response. The request and response parts keep their buffers'
/// capacity from one request to the next; [`Request::begin`] resets the request's state.
pub struct Conn {
    pub stream: crate::client_stream::ClientStream,
    pub peer: SocketAddr,
    pub local: Option<SocketAddr>,
    pub rb: RecvBuf,
    /// The response being written to the client.
    pub out: Vec<u8>,
    /// Counted in the worker's in-flight requests (from the head's first byte).
    pub busy: bool,
    /// Bounds the head reads and the upstream exchange (see [`crate::deadline`]).
    pub watch: Rc<Watch>,
    /// The watchdog tick of this connection's last request start or end (busy-poll
    /// bookkeeping).
    pub active_tick: u32,
    /// When the current request's first byte arrived, and the bytes received by then.
    pub started: (Instant, u64),
    pub req: Request,
    pub up: UpstreamResponse,
}

/// What the log phase reports about a request, filled in as it is served.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReqLog {
    /// The status sent (0: none, the client went away first).
    pub status: u16,
    /// From the request sent upstream to its response head, µs.
    pub upstream_us: Option<u64>,
    /// When the request went upstream, µs after its first byte arrived.
    pub upstream_start_us: u64,
    /// The server that answered.
    pub upstream: Option<SocketAddr>,
    /// Bytes written to the client.
    pub bytes_out: u64,
    /// The plugin slot whose call denied or last waited (a denial after it is its own).
    pub policy: Option<u16>,
    /// Answered by a denial (`require`, a policy).
    pub denied: bool,
}

/// The request being served on a connection.
#[derive(Default)]
pub struct Request {
    pub head: RequestHead,
    /// The head's bytes (`head` ranges point here).
    pub hb: Vec<u8>,
    /// The normalised path.
    pub path: String,
    pub params: Vec<(u32, u32)>,
    /// The route serving it, once routed.
    pub route: Option<u32>,
    pub request_id: String,
    pub frame: Frame,
    pub edits: Edits,
    /// A plugin's account of its denial (`Effect::Deny*`).
    pub denial: crate::edits::Denial,
    /// Buffered body (`buffer_body` routes).
    pub body: Vec<u8>,
    /// The body has been consumed (read, streamed or discarded).
    pub body_read: bool,
    /// Values plugins produced (`Field::Local`).
    pub locals: Vec<gw_program::Value>,
    /// The parsed JSON bodies (`body.*`, `resp.json.*`).
    pub json: crate::json::JsonDocs,
    /// Part of the body was consumed and the rest cannot be skipped: close after the
    /// response.
    pub must_close: bool,
    pub log: ReqLog,
    /// Its W3C trace context (`tracing { }`).
    pub trace: crate::trace::TraceCtx,
}

impl Request {
    /// Start a request whose head is in `head`/`hb`: forget everything the previous request
    /// on the connection left (its edits, parameters, route, locals, body state).
    pub fn begin(&mut self) {
        self.edits.clear();
        self.denial.clear();
        self.log = ReqLog::default();
        self.trace = crate::trace::TraceCtx::default();
        self.params.clear();
        self.route = None;
        self.body_read = false;
        self.must_close = false;
        self.locals.clear();
        self.request_id.clear();
    }

    /// The request is over: give its body buffer back and drop its parsed JSON.
    pub fn end(&mut self, pool: &crate::buffers::BufPool) {
        self.json.clear();
        if self.body.capacity() > 0 {
            pool.put(std::mem::take(&mut self.body));
        }
    }
}

/// The upstream's response to the current request.
#[derive(Default)]
pub struct UpstreamResponse {
    /// Head bytes.
    pub rhb: Vec<u8>,
    /// The parsed head, kept so its header list is reused.
    pub resp_head: ResponseHead,
    /// Buffered body (`buffer_response` routes).
    pub resp_body: Vec<u8>,
}

impl Conn {
    /// Send `out` (the response being written) to the client within `timeout`, and clear it.
    pub async fn flush_out(&mut self, timeout: Duration) -> Result<(), Error> {
        self.req.log.bytes_out += self.out.len() as u64;
        crate::body::flush(
            &mut self.stream,
            &mut self.out,
            (&self.watch, timeout),
            Side::Downstream,
        )
        .await
    }
}

/// What happens to the connection after a request.
#[derive(Debug)]
pub enum Next {
    KeepAlive,
    Close,
    /// Relay bytes both ways with this upstream connection (WebSocket), closing after this
    /// long without traffic.
    Tunnel(crate::upstream::stream::UpStream, RecvBuf, Duration),
}
