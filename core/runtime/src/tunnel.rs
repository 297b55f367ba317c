//! A WebSocket connection after its 101: frames relayed both ways as they arrive, read only
//! as far as the route's `websocket { }` limits need (gw_proto::websocket). A message is never
//! held whole: a frame's header is checked, then its bytes pass through as they come.
//!
//! - A frame that breaks RFC 6455 gets its sender a Close with 1002 (1007 for a Close
//!   reason that is not UTF-8); a message over `max_message` gets it 1009. The other side
//!   gets 1001 (going away).
//! - `idle_timeout`: no frame relayed either way for that long closes both sides with 1001.
//! - `ping_every`: gw pings the client at that interval; a client that has not answered the
//!   last ping by the next one is closed with 1001, as is the upstream. The client's Pongs to
//!   gw's Pings end here: the upstream never sent those Pings.
//! - When gw stops (SIGTERM), both sides get 1001 and the drain waits for the handshakes.
//! - A Close from either side is relayed to the other; the tunnel ends when each side has
//!   sent its Close and been sent one, or has gone, or [`CLOSE_WAIT`] after the closing
//!   began. A side that goes away without a Close gets the other a 1001.
//!
//! gw's own frames (Ping, Close) go in between two frames toward their peer (lane.rs); those
//! toward the upstream are masked, as a client's must be. The tunnel keeps the configuration
//! it was opened under (its `Rc<Gen>`) for its whole life: a reload changes no open tunnel.

mod io;
mod lane;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use gw_program::WebsocketSettings;
use gw_proto::websocket::{
    Extensions, FrameReader, GOING_AWAY, OP_CLOSE, OP_PING, OP_PONG, Sender, Step, close_frame,
    control_frame,
};
use monoio::io::Splitable;
use monoio::net::TcpStream;

use crate::buffers::RecvBuf;
use crate::client_stream::ClientStream;
use crate::stop::Stop;
use crate::tls::TlsStream;
use crate::upstream::stream::UpStream;
use crate::worker::{Gen, Worker};
use io::{In, Out};
use lane::Lane;

/// How long the closing handshake may take once a Close was sent or received, or a side
/// went away, before both connections are closed anyway.
pub const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How long the end of each stream (TLS `close_notify`, FIN) may take to write.
const FINISH: Duration = Duration::from_secs(1);

/// The upstream's side of a switched connection, handed from the response to the relay.
#[derive(Debug)]
pub struct Upgraded {
    pub stream: UpStream,
    /// Bytes read past the 101.
    pub rb: RecvBuf,
    /// What the upstream's `Sec-WebSocket-Extensions` negotiated.
    pub ext: Extensions,
    /// The route, an index into the image's routes.
    pub route: u32,
}

/// The payload of gw's pings: this prefix, then a sequence number.
const PING_TAG: &[u8] = b"gw ping ";

/// Which peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Upstream,
}

/// What gw knows of one peer.
#[derive(Default)]
struct Peer {
    /// It sent a Close.
    got_close: Cell<bool>,
    /// Its stream ended or broke.
    gone: Cell<bool>,
    /// It broke the protocol: what it sends is dropped until it goes.
    discarding: Cell<bool>,
}

/// A tunnel's state, shared by its tasks (one worker thread: `Cell`s).
struct Tunnel<'a> {
    w: &'a Worker,
    settings: WebsocketSettings,
    ext: Extensions,
    to_client: Lane<'a>,
    to_up: Lane<'a>,
    client: Peer,
    up: Peer,
    /// The tunnel is over: every task stops.
    end: Stop,
    /// The closing handshake began ([`CLOSE_WAIT`] runs from here).
    closing: Stop,
    /// When a frame was last relayed (the idle timeout).
    last_frame: Cell<Instant>,
    /// gw's last ping, and whether its Pong is still awaited.
    ping_seq: Cell<u64>,
    awaiting_pong: Cell<bool>,
    /// The route's index in the worker's metrics, when they are kept.
    metric: Option<usize>,
}

impl<'a> Tunnel<'a> {
    fn peer(&self, s: Side) -> &Peer {
        match s {
            Side::Client => &self.client,
            Side::Upstream => &self.up,
        }
    }

    /// The lane toward `s`.
    fn lane(&self, s: Side) -> &Lane<'a> {
        match s {
            Side::Client => &self.to_client,
            Side::Upstream => &self.to_up,
        }
    }

    /// A Close of gw's own to `s` (masked toward the upstream).
    async fn close(&self, s: Side, code: u16, reason: &str) {
        let mask = (s == Side::Upstream).then(|| (self.w.random() as u32).to_be_bytes());
        let mut frame = Vec::with_capacity(131);
        close_frame(code, reason, mask, &mut frame);
        self.closing.trigger();
        self.lane(s).send_own(&frame, true).await;
    }

    /// Close both sides with `code` (idle, no pong).
    async fn close_both(&self, code: u16, reason: &str) {
        self.close(Side::Client, code, reason).await;
        self.close(Side::Upstream, code, reason).await;
    }

    /// Take stock after a change: a side whose writes failed is gone, a gone side's peer is
    /// told, and the tunnel ends once both sides are done.
    async fn settle(&self) {
        for (s, other) in [
            (Side::Client, Side::Upstream),
            (Side::Upstream, Side::Client),
        ] {
            let p = self.peer(s);
            if self.lane(s).is_broken() && !p.gone.get() {
                p.gone.set(true);
            }
            if p.gone.get() {
                // a side that sent its Close and then shut its half may still read the answer
                if !p.got_close.get() {
                    self.lane(s).shut();
                }
                self.closing.trigger();
                if !self.lane(other).at_boundary() {
                    // it went in the middle of a frame toward the other side, which can then
                    // be sent nothing valid, not even a Close
                    self.end.trigger();
                    return;
                }
                if !self.lane(other).closing() && !self.peer(other).gone.get() {
                    self.close(other, GOING_AWAY, "peer went away").await;
                }
            }
        }
        let done = |s: Side| {
            let p = self.peer(s);
            p.gone.get() || (self.lane(s).is_closed() && p.got_close.get())
        };
        if done(Side::Client) && done(Side::Upstream) {
            self.end.trigger();
        }
    }

    /// Whether a client's Pong answers one of gw's pings (it is not relayed), noting an
    /// answer to the last one.
    fn own_pong(&self, payload: &[u8]) -> bool {
        let Some(seq) = payload.strip_prefix(PING_TAG) else {
            return false;
        };
        if seq == self.ping_seq.get().to_string().as_bytes() {
            self.awaiting_pong.set(false);
        }
        true
    }

    fn count_messages(&self, from: Side, n: u64) {
        if let Some(route) = self.metric
            && n > 0
        {
            let to_upstream = from == Side::Client;
            self.w
                .metrics
                .borrow_mut()
                .websocket_messages(route, to_upstream, n);
        }
    }
}

/// A TLS stream's socket, its TLS state and the ciphertext read but not yet handed to
/// rustls.
fn tls_parts(t: TlsStream) -> (TcpStream, Option<RefCell<rustls::Connection>>, Vec<u8>) {
    let (tcp, tls, rest) = t.into_parts();
    (tcp, Some(RefCell::new(tls)), rest)
}

/// The reading and writing ends of one peer's connection, through its TLS state if it has
/// one (both halves share it); `rest`: ciphertext already read.
fn ends(
    tcp: TcpStream,
    tls: Option<&RefCell<rustls::Connection>>,
    rest: Vec<u8>,
) -> (In<'_>, Out<'_>) {
    let (r, w) = tcp.into_split();
    match tls {
        None => (In::Tcp(r), Out::Tcp(w)),
        Some(state) => (
            In::Tls {
                half: r,
                tls: state,
                cipher: rest,
            },
            Out::Tls {
                half: w,
                tls: state,
                tx: Vec::new(),
            },
        ),
    }
}

/// Counts an open tunnel in the worker's gauge for as long as it lives.
struct OpenGauge<'a>(&'a Cell<u32>);

impl Drop for OpenGauge<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// Relay between the client and the upstream under `cfg`, the configuration the upgrade was
/// served with; `client_rb` holds bytes already read past the request.
pub async fn relay(
    w: &Worker,
    cfg: Rc<Gen>,
    client: ClientStream,
    mut client_rb: RecvBuf,
    up: Box<Upgraded>,
) {
    let Upgraded {
        stream: up_stream,
        rb: mut up_rb,
        ext,
        route,
    } = *up;
    let settings = cfg
        .image()
        .routes
        .get(route as usize)
        .and_then(|r| r.websocket.clone())
        .unwrap_or(WebsocketSettings {
            idle_timeout_ms: cfg.image().timeouts.idle,
            max_message: 1 << 20,
            ping_every_ms: None,
        });
    let metric = if cfg.image().admin.is_some() {
        cfg.metric_ids.get(route as usize).copied()
    } else {
        None
    };
    w.websockets.set(w.websockets.get() + 1);
    let _open = OpenGauge(&w.websockets);

    let client_first = client_rb.unread().to_vec();
    client_rb.release(&w.pool);
    let up_first = up_rb.unread().to_vec();
    up_rb.release(&w.pool);
    let (client_tcp, client_tls, client_rest) = match client {
        ClientStream::Plain(s) => (s, None, Vec::new()),
        ClientStream::Tls(t) => tls_parts(*t),
        // an HTTP/2 request carries no Upgrade, so its route answers 426 before any tunnel
        ClientStream::H2(_) => return,
    };
    let (up_tcp, up_tls, up_rest) = match up_stream {
        UpStream::Plain(s) => (s, None, Vec::new()),
        UpStream::Tls(t) => tls_parts(*t),
    };
    let (client_in, client_out) = ends(client_tcp, client_tls.as_ref(), client_rest);
    let (up_in, up_out) = ends(up_tcp, up_tls.as_ref(), up_rest);
    let t = Tunnel {
        w,
        settings,
        ext,
        to_client: Lane::new(client_out),
        to_up: Lane::new(up_out),
        client: Peer::default(),
        up: Peer::default(),
        end: Stop::new(),
        closing: Stop::new(),
        last_frame: Cell::new(Instant::now()),
        ping_seq: Cell::new(0),
        awaiting_pong: Cell::new(false),
        metric,
    };
    let relay = async {
        monoio::join!(
            forward(&t, Side::Client, client_in, client_first),
            forward(&t, Side::Upstream, up_in, up_first),
            timers(&t)
        )
    };
    let close_wait = async {
        t.closing.wait().await;
        monoio::time::sleep(CLOSE_WAIT).await;
    };
    monoio::select! {
        _ = relay => {},
        _ = t.end.wait() => {},
        _ = close_wait => {},
    }
    let Tunnel {
        to_client, to_up, ..
    } = t;
    for lane in [to_client, to_up] {
        if let Some(mut out) = lane.into_out() {
            let _ = monoio::time::timeout(FINISH, out.finish()).await;
        }
    }
    // the configuration the tunnel was opened under is let go only now
    drop(cfg);
}

/// Relay the frames `from` sends (after `first`, read before the tunnel began) until it
/// goes away.
async fn forward(t: &Tunnel<'_>, from: Side, mut src: In<'_>, first: Vec<u8>) {
    let (lane, sender) = match from {
        Side::Client => (&t.to_up, Sender::Client),
        Side::Upstream => (&t.to_client, Sender::Server),
    };
    let peer = t.peer(from);
    let mut reader = FrameReader::new(sender, t.ext, t.settings.max_message);
    let mut first_done = first.is_empty();
    let mut buf = t.w.pool.big();
    let mut out = t.w.pool.big();
    loop {
        if first_done {
            let (res, b) = src.read(std::mem::take(&mut buf)).await;
            buf = b;
            if !matches!(res, Ok(n) if n > 0) {
                peer.gone.set(true);
                t.settle().await;
                t.w.pool.put(buf);
                t.w.pool.put(out);
                return;
            }
        }
        let input: &[u8] = if first_done { &buf } else { &first };
        first_done = true;
        if peer.discarding.get() || peer.got_close.get() {
            // after its Close or a violation, nothing it sends is relayed
            continue;
        }
        if first_done && reader.data_payload_left() >= input.len() as u64 {
            // the common case inside a long frame: the bytes go on as read, without a copy
            reader.read(input);
            let boundary = reader.data_payload_left() == 0;
            let ended = reader.message_ended();
            std::mem::swap(&mut buf, &mut out);
            t.last_frame.set(Instant::now());
            out = lane.relay(out, None, boundary, false).await;
            out.clear();
            t.count_messages(from, u64::from(ended));
            t.settle().await;
            continue;
        }
        out.clear();
        // What is written ends a frame unless a data frame's payload is still to come: a
        // header or control frame is only written whole.
        let mut cut = (reader.data_payload_left() == 0).then_some(0);
        let mut close = false;
        let mut violation = None;
        let mut messages = 0;
        let mut at = 0;
        while at < input.len() {
            let rest = input.get(at..).unwrap_or(&[]);
            let (n, step) = reader.read(rest);
            match step {
                Step::Partial => {}
                Step::Header => out.extend_from_slice(reader.header()),
                Step::Payload => out.extend_from_slice(rest.get(..n).unwrap_or(&[])),
                Step::Control => {
                    let (op, payload) = reader.control();
                    if !(from == Side::Client && op == OP_PONG && t.own_pong(payload)) {
                        reader.control_raw(&mut out);
                        close = op == OP_CLOSE;
                    }
                }
                Step::Violation(v) => {
                    violation = Some(v);
                    break;
                }
            }
            at += n;
            if reader.message_ended() {
                messages += 1;
            }
            if reader.data_payload_left() == 0 {
                cut = Some(out.len());
            }
            if close || n == 0 {
                break;
            }
        }
        if !out.is_empty() || !reader.at_boundary() {
            t.last_frame.set(Instant::now());
        }
        if !out.is_empty() {
            out = lane
                .relay(
                    std::mem::take(&mut out),
                    cut,
                    reader.data_payload_left() == 0,
                    close,
                )
                .await;
        }
        t.count_messages(from, messages);
        if close {
            peer.got_close.set(true);
            t.closing.trigger();
        }
        if let Some(v) = violation {
            peer.discarding.set(true);
            t.close(from, v.code, v.reason).await;
            let other = match from {
                Side::Client => Side::Upstream,
                Side::Upstream => Side::Client,
            };
            t.close(other, GOING_AWAY, "peer broke the protocol").await;
        }
        t.settle().await;
    }
}

/// The idle timeout and the client's pings.
async fn timers(t: &Tunnel<'_>) {
    let idle = Duration::from_millis(t.settings.idle_timeout_ms.max(1));
    let every = t
        .settings
        .ping_every_ms
        .map(|ms| Duration::from_millis(ms.max(1)));
    let mut next_ping = every.map(|e| Instant::now() + e);
    loop {
        let mut at = t.last_frame.get() + idle;
        if let Some(p) = next_ping {
            at = at.min(p);
        }
        monoio::select! {
            _ = monoio::time::sleep(at.saturating_duration_since(Instant::now())) => {},
            _ = t.closing.wait() => return,
            _ = t.w.stop.wait() => {
                // gw is shutting down: the drain waits for the closing handshakes
                t.close_both(GOING_AWAY, "gw is stopping").await;
                return;
            }
        }
        let now = Instant::now();
        if now >= t.last_frame.get() + idle {
            t.close_both(GOING_AWAY, "idle timeout").await;
            return;
        }
        let (Some(p), Some(e)) = (next_ping, every) else {
            continue;
        };
        if now < p {
            continue;
        }
        next_ping = Some(now + e);
        if t.to_client.has_own() {
            // the last ping is not out yet (a long frame toward the client): not its fault
            continue;
        }
        if t.awaiting_pong.get() {
            t.close_both(GOING_AWAY, "no pong").await;
            return;
        }
        let seq = t.ping_seq.get() + 1;
        t.ping_seq.set(seq);
        t.awaiting_pong.set(true);
        let mut payload = PING_TAG.to_vec();
        payload.extend_from_slice(seq.to_string().as_bytes());
        let mut frame = Vec::with_capacity(payload.len() + 2);
        control_frame(OP_PING, &payload, None, &mut frame);
        t.to_client.send_own(&frame, false).await;
    }
}
