//! One client connection: read heads (keep-alive, pipelining), serve each request in order,
//! close on `Connection: close`, errors, idle or header-read timeouts and shutdown.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use gw_proto::{RequestHead, ResponseHead, Status};
use gw_vm::Frame;
use monoio::net::TcpStream;

use crate::body::read_untimed;
use crate::buffers::RecvBuf;
use crate::deadline::{Elapsed, Watch};
use crate::edits::Edits;
use crate::error::{Error, ErrorKind, Side};
use crate::worker::{Gen, Worker};

/// One client connection: what lives as long as the connection, the current request, and
/// the current upstream response. The request and response parts keep their buffers'
/// capacity from one request to the next; [`Request::begin`] resets the request's state.
pub struct Conn {
    pub stream: TcpStream,
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
    pub req: Request,
    pub up: UpstreamResponse,
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
}

impl Request {
    /// Start a request whose head is in `head`/`hb`: forget everything the previous request
    /// on the connection left (its edits, parameters, route, locals, body state).
    pub fn begin(&mut self) {
        self.edits.clear();
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
    Tunnel(TcpStream, RecvBuf, Duration),
}

/// Decrements the worker's connection count however the task ends.
struct ConnGuard(Rc<Worker>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.conns.set(self.0.conns.get().saturating_sub(1));
    }
}

/// Serve a connection until it closes.
///
/// Not `async` itself: the state is built here so the task does not keep the arguments and
/// the `Conn` made from them side by side (bench/idle-mem.sh).
pub fn serve(
    w: Rc<Worker>,
    stream: TcpStream,
    peer: SocketAddr,
    local: Option<SocketAddr>,
) -> impl Future<Output = ()> {
    let guard = ConnGuard(w.clone());
    let mut stream = stream;
    let _ = stream.set_nodelay(true);
    if w.multishot {
        stream.recv_multishot();
    }
    let c = Conn {
        stream,
        peer,
        local,
        rb: RecvBuf::new(w.pool.small()),
        out: Vec::new(),
        busy: false,
        active_tick: crate::spin::Spin::NEVER,
        watch: w.watchdog.watch(),
        req: Request::default(),
        up: UpstreamResponse::default(),
    };
    serve_conn(w, guard, Box::new(c))
}

/// The connection's loop. `Conn` is boxed so moving it in does not copy it into the task
/// next to a second slot for it.
async fn serve_conn(w: Rc<Worker>, _guard: ConnGuard, mut c: Box<Conn>) {
    loop {
        let cfg = w.current();
        let next = match read_head(&w, &cfg, &mut c).await {
            // a request serves with the image current when its head was parsed
            // Boxed: the request's future (~3.5 KiB) then lives only while the request does,
            // and an idle connection's task stays small (bench/idle-mem.sh).
            Ok(true) => Box::pin(crate::request::serve(&w, &w.current(), &mut c)).await,
            Ok(false) => Next::Close,
            Err(e) => {
                if e.kind != ErrorKind::ClientIo {
                    // a head that never parsed is a request of its own: its own id, no
                    // state of the one before
                    c.req.begin();
                    c.req.hb.clear();
                    c.req.head = RequestHead::default();
                    Box::pin(crate::respond::error(&w, &cfg, &mut c, &e, None)).await;
                }
                Next::Close
            }
        };
        if c.busy {
            c.busy = false;
            w.inflight.set(w.inflight.get().saturating_sub(1));
            w.spin.request_event(&mut c.active_tick);
            log_phase(&w);
        }
        w.pool.put(std::mem::take(&mut c.out));
        c.req.end(&w.pool);
        match next {
            Next::KeepAlive if !w.stop.is_stopped() => c.rb.shrink_idle(&w.pool),
            Next::KeepAlive | Next::Close => break,
            Next::Tunnel(up, up_rb, idle) => {
                Box::pin(crate::tunnel::relay(&w, c.stream, c.rb, up, up_rb, idle)).await;
                return;
            }
        }
    }
    c.rb.release(&w.pool);
}

/// The log phase: every request that started (its first head byte arrived) ends here once,
/// whatever its exit. The access log and metrics hang here.
fn log_phase(w: &Worker) {
    w.ended.add_one();
}

/// Read and parse the next request head into `c.req.head` / `c.req.hb`. `Ok(false)`: the client
/// closed (or idled out) between requests. Marks the connection busy from the first byte.
async fn read_head(w: &Worker, cfg: &Gen, c: &mut Conn) -> Result<bool, Error> {
    let t = &cfg.image().timeouts;
    let idle = Duration::from_millis(t.idle);
    let header_read = Duration::from_millis(t.header_read);
    let max = cfg.limits.head + cfg.limits.url + 1024;
    let mut started: Option<Instant> = None;
    loop {
        if !c.rb.is_empty() {
            if !c.busy {
                c.busy = true;
                w.inflight.set(w.inflight.get() + 1);
                w.spin.request_event(&mut c.active_tick);
            }
            match gw_proto::parse_request(c.rb.unread(), &cfg.limits, &mut c.req.head) {
                Ok(Status::Complete(n)) => {
                    c.req.hb.clear();
                    c.req
                        .hb
                        .extend_from_slice(c.rb.unread().get(..n).unwrap_or(&[]));
                    c.rb.consume(n);
                    return Ok(true);
                }
                // the header_read clock starts at the first incomplete head, so a complete
                // head (the usual case) costs no clock read
                Ok(Status::Partial) => {
                    started.get_or_insert_with(Instant::now);
                }
                Err(e) => return Err(Error::proto(e)),
            }
        }
        let wait = match started {
            // slowloris: the whole head must arrive within header_read of its first bytes
            Some(s) => match header_read.checked_sub(s.elapsed()) {
                Some(d) if !d.is_zero() => d,
                _ => {
                    return Err(Error::new(
                        ErrorKind::ClientTimeout,
                        Side::Downstream,
                        "head",
                    ));
                }
            },
            None => idle,
        };
        if w.stop.is_stopped() && c.rb.is_empty() {
            return Ok(false);
        }
        let n = if started.is_none() && c.rb.is_empty() && c.stream.has_multishot() {
            // Between requests: the multishot receive needs no buffer of ours until bytes
            // come, so an idle connection holds none (bench/idle-mem.sh).
            c.rb.release(&w.pool);
            let waited = {
                let ready = std::pin::pin!(c.stream.recv_ready());
                c.watch.within(wait, ready).await
            };
            c.rb.refill(&w.pool);
            if waited.is_err() {
                return Ok(false);
            }
            if !c.stream.has_multishot() {
                continue;
            }
            // something has arrived: this read does not wait, so it needs no timer
            read_untimed(&mut c.stream, &mut c.rb, &w.pool, max, Side::Downstream).await
        } else {
            // pinned here and passed by reference: moved into `within`, the read future would
            // be stored twice in the connection's task (bench/idle-mem.sh)
            let read = std::pin::pin!(read_untimed(
                &mut c.stream,
                &mut c.rb,
                &w.pool,
                max,
                Side::Downstream
            ));
            match c.watch.within(wait, read).await {
                Ok(r) => r,
                Err(Elapsed) => Err(Error::new(
                    ErrorKind::ClientTimeout,
                    Side::Downstream,
                    "read",
                )),
            }
        };
        let n = match n {
            Ok(n) => n,
            // nothing of a request yet: an idle close, not an error
            Err(e) if started.is_none() && c.rb.is_empty() => {
                let _ = e;
                return Ok(false);
            }
            Err(e) if e.kind == ErrorKind::Proto(gw_proto::ProtoError::HeadersTooLarge) => {
                return Err(Error::proto(gw_proto::ProtoError::HeadersTooLarge));
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            if c.rb.is_empty() {
                return Ok(false);
            }
            return Err(Error::new(ErrorKind::ClientIo, Side::Downstream, "head"));
        }
    }
}
