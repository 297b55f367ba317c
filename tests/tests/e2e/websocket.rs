//! WebSocket routes end to end: a client written here (frames by hand, so it can also send
//! abusive ones) through gw to an echo upstream written here, over plain TCP and TLS. Echo of
//! text, binary, fragmented and 1 MiB messages; pings and pongs; the close handshake from
//! either side with its code and reason; `idle_timeout`, `max_message` and `ping_every`
//! enforced with their close codes; a reload that leaves an open WebSocket on its limits;
//! frames that break RFC 6455; permessage-deflate's RSV1; the metrics.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{Driver, Gw, upstream_block};

on_both_drivers! {
    text_binary_fragmented_and_a_mebibyte_echo_through => text_binary_fragmented_and_a_mebibyte_echo_through_uring, text_binary_fragmented_and_a_mebibyte_echo_through_epoll;
    pings_pass_and_a_close_from_either_side_reaches_the_other => pings_pass_and_a_close_from_either_side_reaches_the_other_uring, pings_pass_and_a_close_from_either_side_reaches_the_other_epoll;
    idle_timeout_closes_both_sides_with_1001 => idle_timeout_closes_both_sides_with_1001_uring, idle_timeout_closes_both_sides_with_1001_epoll;
    max_message_closes_the_sender_with_1009 => max_message_closes_the_sender_with_1009_uring, max_message_closes_the_sender_with_1009_epoll;
    ping_every_pings_the_client_and_closes_one_that_never_answers => ping_every_pings_the_client_and_closes_one_that_never_answers_uring, ping_every_pings_the_client_and_closes_one_that_never_answers_epoll;
    gw_pings_go_between_the_frames_of_a_long_message => gw_pings_go_between_the_frames_of_a_long_message_uring, gw_pings_go_between_the_frames_of_a_long_message_epoll;
    sigterm_closes_open_websockets_with_1001_and_waits_for_the_answers => sigterm_closes_open_websockets_with_1001_and_waits_for_the_answers_uring, sigterm_closes_open_websockets_with_1001_and_waits_for_the_answers_epoll;
    a_reload_leaves_an_open_websocket_on_its_limits => a_reload_leaves_an_open_websocket_on_its_limits_uring, a_reload_leaves_an_open_websocket_on_its_limits_epoll;
    frames_that_break_the_protocol_get_1002_and_the_worker_goes_on => frames_that_break_the_protocol_get_1002_and_the_worker_goes_on_uring, frames_that_break_the_protocol_get_1002_and_the_worker_goes_on_epoll;
    permessage_deflate_from_the_upstream_allows_rsv1 => permessage_deflate_from_the_upstream_allows_rsv1_uring, permessage_deflate_from_the_upstream_allows_rsv1_epoll;
    a_websocket_over_tls => a_websocket_over_tls_uring, a_websocket_over_tls_epoll;
    metrics_count_open_websockets_and_messages => metrics_count_open_websockets_and_messages_uring, metrics_count_open_websockets_and_messages_epoll;
}

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;
const FIN: u8 = 0x80;

/// How long a read may wait for something gw or the upstream is sure to send.
const PATIENCE: Duration = Duration::from_secs(20);

/// One frame as read.
#[derive(Debug, Clone, PartialEq)]
struct Frame {
    b0: u8,
    masked: bool,
    payload: Vec<u8>,
}

impl Frame {
    fn op(&self) -> u8 {
        self.b0 & 0x0f
    }

    fn fin(&self) -> bool {
        self.b0 & FIN != 0
    }

    /// A Close's code and reason.
    fn close_status(&self) -> (u16, String) {
        assert_eq!(self.op(), CLOSE, "not a Close: {self:?}");
        match self.payload.as_slice() {
            [a, b, rest @ ..] => (
                u16::from_be_bytes([*a, *b]),
                String::from_utf8(rest.to_vec()).unwrap(),
            ),
            _ => (1005, String::new()),
        }
    }
}

/// A frame's bytes: first byte `b0`, masked with `mask` when given.
fn encode(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![b0];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().zip(k.iter().cycle()).map(|(b, k)| b ^ k));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// One end of a WebSocket over a blocking stream; a client masks what it sends.
struct Ws {
    s: Box<dyn Stream>,
    client: bool,
    /// The handshake head this end read: the 101 for a client, the request for a server.
    head: String,
}

impl Ws {
    fn send(&mut self, b0: u8, payload: &[u8]) {
        self.try_send(b0, payload).unwrap();
    }

    fn try_send(&mut self, b0: u8, payload: &[u8]) -> io::Result<()> {
        let mask = self.client.then_some([0x5a, 0x17, 0xc3, 0x8e]);
        self.s.write_all(&encode(b0, payload, mask))?;
        self.s.flush()
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
        self.s.flush().unwrap();
    }

    fn close(&mut self, code: u16, reason: &str) {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_bytes());
        self.send(FIN | CLOSE, &p);
    }

    /// The next frame; an error at the end of the stream.
    fn recv(&mut self) -> io::Result<Frame> {
        let mut h = [0u8; 2];
        self.s.read_exact(&mut h)?;
        let len = match h[1] & 0x7f {
            126 => {
                let mut l = [0u8; 2];
                self.s.read_exact(&mut l)?;
                u64::from(u16::from_be_bytes(l))
            }
            127 => {
                let mut l = [0u8; 8];
                self.s.read_exact(&mut l)?;
                u64::from_be_bytes(l)
            }
            n => u64::from(n),
        };
        let masked = h[1] & 0x80 != 0;
        let mut key = [0u8; 4];
        if masked {
            self.s.read_exact(&mut key)?;
        }
        let mut payload = vec![0u8; usize::try_from(len).unwrap()];
        self.s.read_exact(&mut payload)?;
        if masked {
            for (b, k) in payload.iter_mut().zip(key.iter().cycle()) {
                *b ^= k;
            }
        }
        Ok(Frame {
            b0: h[0],
            masked,
            payload,
        })
    }

    /// The next data message (its fragments joined), with the pings and pongs before it.
    fn message(&mut self) -> (u8, Vec<u8>) {
        let first = self.skip_pings();
        assert!(matches!(first.op(), TEXT | BINARY), "{first:?}");
        let mut data = first.payload.clone();
        let mut fin = first.fin();
        while !fin {
            let f = self.skip_pings();
            assert_eq!(f.op(), 0, "a continuation: {f:?}");
            data.extend_from_slice(&f.payload);
            fin = f.fin();
        }
        (first.op(), data)
    }

    /// The next frame that is not a Ping or Pong.
    fn skip_pings(&mut self) -> Frame {
        loop {
            let f = self.recv().unwrap();
            if !matches!(f.op(), PING | PONG) {
                return f;
            }
        }
    }

    /// Read until a Close (data frames before it are skipped); its code and reason.
    fn expect_close(&mut self) -> (u16, String) {
        loop {
            let f = self
                .recv()
                .unwrap_or_else(|e| panic!("the stream ended without a Close: {e}"));
            if f.op() == CLOSE {
                assert!(!(self.client && f.masked), "gw masked a frame to a client");
                return f.close_status();
            }
        }
    }

    /// The stream ends (after a Close): nothing but its end comes.
    fn expect_end(&mut self) {
        match self.recv() {
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                ),
                "{e}"
            ),
            Ok(f) => panic!("a frame after the Close: {f:?}"),
        }
    }
}

/// The request that opens a WebSocket on `path`.
fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: chat.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Read an HTTP head a byte at a time, so no frame byte is taken with it.
fn read_head(s: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "closed mid-head: {head:?}");
        head.push(b[0]);
    }
    String::from_utf8(head).unwrap()
}

/// The Sec-WebSocket-Accept for `key` (RFC 6455 §4.2.2).
fn accept_for(key: &str) -> String {
    use base64::Engine;
    let d = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(d.as_ref())
}

/// Open a WebSocket through `s` (already connected), checking the 101.
fn handshake(mut s: Box<dyn Stream>, path: &str) -> Ws {
    s.write_all(upgrade_request(path).as_bytes()).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let accept = format!(
        "sec-websocket-accept: {}",
        accept_for("dGhlIHNhbXBsZSBub25jZQ==")
    );
    assert!(
        head.to_ascii_lowercase()
            .contains(&accept.to_ascii_lowercase()),
        "{head}"
    );
    Ws {
        s,
        client: true,
        head,
    }
}

fn open(gw: &Gw, path: &str) -> Ws {
    let s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_nodelay(true).unwrap();
    handshake(Box::new(s), path)
}

/// What the echo upstream saw, over all its connections.
#[derive(Debug, Default)]
struct Seen {
    /// Close codes and reasons it received.
    closes: Vec<(u16, String)>,
    pongs: Vec<Vec<u8>>,
    /// Data messages it received.
    messages: usize,
    /// Connections that ended without a Close from gw.
    ended: usize,
}

/// An echo WebSocket upstream: every data frame is sent back as it came (fragments stay
/// fragments), a Ping answered, a Close answered with the same payload. Text messages
/// `cmd:…` make it act: `cmd:close` (it closes with 4001), `cmd:ping`, `cmd:masked` (a
/// masked frame, which no server may send), `cmd:big N` (an N-byte message).
struct WsUpstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

impl WsUpstream {
    /// With `extensions`, the 101 says it negotiated them.
    fn start(extensions: Option<&'static str>) -> WsUpstream {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s2 = seen.clone();
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                let seen = s2.clone();
                thread::spawn(move || serve(s, &seen, extensions));
            }
        });
        WsUpstream { addr, seen }
    }

    fn closes(&self) -> Vec<(u16, String)> {
        self.seen.lock().unwrap().closes.clone()
    }

    /// Wait until it received a Close; its code and reason.
    fn wait_close(&self, n: usize) -> (u16, String) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(c) = self.closes().get(n - 1) {
                return c.clone();
            }
            assert!(Instant::now() < deadline, "the upstream got no Close #{n}");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn serve(mut s: TcpStream, seen: &Mutex<Seen>, extensions: Option<&str>) {
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = read_head(&mut s);
    let key = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| v.trim().to_owned())
        })
        .expect("a Sec-WebSocket-Key");
    let ext = extensions
        .map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{ext}\r\n",
        accept_for(&key)
    )
    .unwrap();
    let mut ws = Ws {
        s: Box::new(s),
        client: false,
        head,
    };
    let mut closing = false;
    loop {
        let Ok(f) = ws.recv() else {
            seen.lock().unwrap().ended += 1;
            return;
        };
        assert!(f.masked, "gw sent the upstream an unmasked frame: {f:?}");
        match f.op() {
            CLOSE => {
                seen.lock().unwrap().closes.push(f.close_status());
                if !closing {
                    let _ = ws.try_send(FIN | CLOSE, &f.payload);
                }
                return;
            }
            PING => {
                let _ = ws.try_send(FIN | PONG, &f.payload);
            }
            PONG => seen.lock().unwrap().pongs.push(f.payload),
            _ => {
                if f.fin() {
                    seen.lock().unwrap().messages += 1;
                }
                let text = String::from_utf8_lossy(&f.payload).into_owned();
                match text
                    .split_once(' ')
                    .map_or((text.as_str(), ""), |(a, b)| (a, b))
                {
                    ("cmd:close", _) => {
                        closing = true;
                        let mut p = 4001u16.to_be_bytes().to_vec();
                        p.extend_from_slice(b"bye from upstream");
                        let _ = ws.try_send(FIN | CLOSE, &p);
                    }
                    ("cmd:vanish", _) => return,
                    ("cmd:ping", _) => {
                        let _ = ws.try_send(FIN | PING, b"up-ping");
                    }
                    ("cmd:masked", _) => {
                        let _ =
                            ws.s.write_all(&encode(FIN | TEXT, b"x", Some([1, 2, 3, 4])));
                    }
                    ("cmd:stream", n) => {
                        // one message of n 1000-byte fragments, ten at a time in writes
                        // that end inside a frame
                        let n: usize = n.parse().unwrap();
                        let mut burst = Vec::new();
                        for i in 0..n {
                            let op = if i == 0 { BINARY } else { 0 };
                            let fin = if i + 1 == n { FIN } else { 0 };
                            burst.extend(encode(fin | op, &[(i % 256) as u8; 1000], None));
                            if i % 10 == 9 || i + 1 == n {
                                for piece in burst.chunks(1499) {
                                    let _ = ws.s.write_all(piece);
                                    thread::sleep(Duration::from_millis(1));
                                }
                                burst.clear();
                            }
                        }
                    }
                    ("cmd:big", n) => {
                        let _ = ws.try_send(FIN | BINARY, &vec![7u8; n.parse().unwrap()]);
                    }
                    _ => {
                        let _ = ws.try_send(f.b0, &f.payload);
                    }
                }
            }
        }
    }
}

/// A config: `route GET /chat websocket` to `up` with these `websocket { }` settings.
fn chat_config(up: &WsUpstream, settings: &str) -> String {
    format!(
        "{}route GET /chat websocket {{\n  websocket {{ {settings} }}\n  upstream ws\n}}\n",
        upstream_block("ws", &[up.addr], "")
    )
}

fn text_binary_fragmented_and_a_mebibyte_echo_through(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start(d, &chat_config(&up, "max_message 2MiB"));
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | TEXT, "héllo".as_bytes());
    assert_eq!(ws.message(), (TEXT, "héllo".as_bytes().to_vec()));
    // a frame that arrives a byte at a time
    for b in encode(FIN | TEXT, b"slowly", Some([1, 2, 3, 4])) {
        ws.send_raw(&[b]);
        thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(ws.message(), (TEXT, b"slowly".to_vec()));
    let bin: Vec<u8> = (0..=255u8).collect();
    ws.send(FIN | BINARY, &bin);
    assert_eq!(ws.message(), (BINARY, bin));
    // three fragments with a ping between two of them
    ws.send(TEXT, b"frag");
    ws.send(FIN | PING, b"between");
    ws.send(0, b"men");
    ws.send(FIN, b"ted");
    assert_eq!(ws.message(), (TEXT, b"fragmented".to_vec()));
    // a 1 MiB message, sent in one frame, and in 64 KiB fragments
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    ws.send(FIN | BINARY, &big);
    assert_eq!(ws.message(), (BINARY, big.clone()));
    for (i, part) in big.chunks(64 << 10).enumerate() {
        let op = if i == 0 { BINARY } else { 0 };
        let fin = if (i + 1) * (64 << 10) >= big.len() {
            FIN
        } else {
            0
        };
        ws.send(fin | op, part);
    }
    assert_eq!(ws.message(), (BINARY, big));
    assert_eq!(up.seen.lock().unwrap().messages, 6);
    ws.close(1000, "done");
    assert_eq!(ws.expect_close(), (1000, "done".to_owned()));
    ws.expect_end();
    assert_eq!(up.closes(), [(1000, "done".to_owned())]);
}

fn pings_pass_and_a_close_from_either_side_reaches_the_other(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start(d, &chat_config(&up, ""));
    let mut ws = open(&gw, "/chat");
    // the client's ping reaches the upstream, whose pong comes back
    ws.send(FIN | PING, b"are you there");
    let f = ws.recv().unwrap();
    assert_eq!(
        (f.op(), f.payload.as_slice()),
        (PONG, &b"are you there"[..])
    );
    assert!(!f.masked);
    // the upstream's ping reaches the client, whose pong reaches the upstream
    ws.send(FIN | TEXT, b"cmd:ping");
    let f = ws.recv().unwrap();
    assert_eq!((f.op(), f.payload.as_slice()), (PING, &b"up-ping"[..]));
    ws.send(FIN | PONG, b"up-ping");
    // the upstream closes: its code and reason reach the client, whose answer reaches it
    ws.send(FIN | TEXT, b"cmd:close");
    assert_eq!(ws.expect_close(), (4001, "bye from upstream".to_owned()));
    ws.close(4001, "ok then");
    ws.expect_end();
    assert_eq!(up.wait_close(1), (4001, "ok then".to_owned()));
    assert_eq!(up.seen.lock().unwrap().pongs, [b"up-ping".to_vec()]);

    // and the client closes: its code and reason reach the upstream, whose answer comes back
    let mut ws = open(&gw, "/chat");
    ws.close(4321, "client leaves");
    assert_eq!(ws.expect_close(), (4321, "client leaves".to_owned()));
    ws.expect_end();
    assert_eq!(up.wait_close(2), (4321, "client leaves".to_owned()));

    // a side that goes without a Close: the other gets 1001
    drop(open(&gw, "/chat"));
    assert_eq!(up.wait_close(3), (1001, "peer went away".to_owned()));
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | TEXT, b"cmd:vanish");
    assert_eq!(ws.expect_close(), (1001, "peer went away".to_owned()));
    ws.expect_end();

    // a client gone in the middle of a frame: the upstream can be sent no Close, and gw
    // closes its connection
    let ended = up.seen.lock().unwrap().ended;
    let mut ws = open(&gw, "/chat");
    let frame = encode(FIN | BINARY, &[9; 100], Some([1, 2, 3, 4]));
    ws.send_raw(&frame[..50]);
    drop(ws);
    let deadline = Instant::now() + PATIENCE;
    while up.seen.lock().unwrap().ended == ended {
        assert!(
            Instant::now() < deadline,
            "the upstream's connection stays open"
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(up.closes().len(), 3, "no Close after half a frame");
}

fn idle_timeout_closes_both_sides_with_1001(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start(d, &chat_config(&up, "idle_timeout 2s"));
    let mut ws = open(&gw, "/chat");
    // a client that never answers gw's Close
    let mut deaf = open(&gw, "/chat");
    // traffic keeps it open past the timeout
    let started = Instant::now();
    let mut quiet = Instant::now();
    for i in 0..8 {
        thread::sleep(Duration::from_millis(300));
        ws.send(FIN | TEXT, format!("{i}").as_bytes());
        assert_eq!(ws.message().1, format!("{i}").into_bytes());
        quiet = Instant::now();
    }
    assert!(started.elapsed() > Duration::from_millis(2400));
    // then silence
    assert_eq!(ws.expect_close(), (1001, "idle timeout".to_owned()));
    assert!(
        quiet.elapsed() >= Duration::from_millis(1900),
        "closed before 2s of silence"
    );
    ws.close(1001, "");
    ws.expect_end();
    assert_eq!(up.wait_close(2), (1001, "idle timeout".to_owned()));
    // the one that never answered is closed all the same, a while after its Close
    assert_eq!(deaf.expect_close(), (1001, "idle timeout".to_owned()));
    deaf.expect_end();
    assert_eq!(up.closes(), vec![(1001, "idle timeout".to_owned()); 2]);
}

fn max_message_closes_the_sender_with_1009(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start_with(
        d,
        &chat_config(&up, "max_message 1KiB"),
        &["--workers", "1"],
    );
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | BINARY, &[1; 1024]);
    assert_eq!(ws.message(), (BINARY, vec![1; 1024]));
    // two fragments adding up to more: the first passes, the second is refused
    ws.send(BINARY, &[2; 600]);
    ws.send(FIN, &[2; 600]);
    assert_eq!(ws.expect_close(), (1009, "message too big".to_owned()));
    drop(ws);
    assert_eq!(
        up.wait_close(1),
        (1001, "peer broke the protocol".to_owned())
    );

    // an upstream's message over the limit: the upstream gets 1009, the client 1001
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | TEXT, b"cmd:big 1025");
    assert_eq!(
        ws.expect_close(),
        (1001, "peer broke the protocol".to_owned())
    );
    ws.close(1000, "");
    assert_eq!(up.wait_close(2), (1009, "message too big".to_owned()));

    // the worker goes on
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | TEXT, b"still here");
    assert_eq!(ws.message(), (TEXT, b"still here".to_vec()));
}

fn ping_every_pings_the_client_and_closes_one_that_never_answers(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start(d, &chat_config(&up, "ping_every 1s"));
    // a client that answers stays open over several pings
    let mut ws = open(&gw, "/chat");
    let answering = thread::spawn(move || {
        for _ in 0..4 {
            let f = ws.recv().unwrap();
            assert_eq!(f.op(), PING, "{f:?}");
            assert!(!f.masked);
            assert!(f.payload.starts_with(b"gw ping "), "{f:?}");
            ws.send(FIN | PONG, &f.payload);
        }
        ws
    });
    // one that never answers gets a ping, then a Close, as does the upstream
    let mut silent = open(&gw, "/chat");
    let f = silent.recv().unwrap();
    assert_eq!(f.op(), PING);
    assert_eq!(silent.expect_close(), (1001, "no pong".to_owned()));
    silent.close(1001, "");
    silent.expect_end();
    assert_eq!(up.wait_close(1), (1001, "no pong".to_owned()));

    let mut ws = answering.join().unwrap();
    ws.send(FIN | TEXT, b"alive");
    assert_eq!(ws.message(), (TEXT, b"alive".to_vec()));
    // the pongs to gw's pings never reached the upstream
    assert!(up.seen.lock().unwrap().pongs.is_empty());
    assert_eq!(up.closes().len(), 1);
}

fn gw_pings_go_between_the_frames_of_a_long_message(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start(d, &chat_config(&up, "ping_every 1s; max_message 4MiB"));
    let mut ws = open(&gw, "/chat");
    // about 3 s of fragments, read in chunks that hold several frames
    ws.send(FIN | TEXT, b"cmd:stream 3000");
    let (mut fragments, mut pings) = (0, 0);
    loop {
        // a ping cut into a frame would read as garbage here
        let f = ws.recv().unwrap();
        match f.op() {
            PING => {
                pings += 1;
                ws.send(FIN | PONG, &f.payload);
            }
            BINARY | 0 => {
                let want = (fragments % 256) as u8;
                assert!(
                    f.payload.len() == 1000 && f.payload.iter().all(|b| *b == want),
                    "fragment {fragments} is not 1000 bytes of {want}: {:?}",
                    f.payload.get(..16)
                );
                fragments += 1;
                if f.fin() {
                    break;
                }
            }
            _ => panic!("{f:?}"),
        }
    }
    assert_eq!(fragments, 3000);
    assert!(pings >= 2, "{pings} pings during the message");
    ws.send(FIN | TEXT, b"after");
    assert_eq!(ws.message(), (TEXT, b"after".to_vec()));
}

fn sigterm_closes_open_websockets_with_1001_and_waits_for_the_answers(d: Driver) {
    let up = WsUpstream::start(None);
    let mut gw = Gw::start(d, &chat_config(&up, ""));
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | TEXT, b"hi");
    assert_eq!(ws.message().1, b"hi");
    gw.proc.signal("TERM");
    assert_eq!(ws.expect_close(), (1001, "gw is stopping".to_owned()));
    // gw waits for this answer before it exits
    ws.close(1001, "");
    ws.expect_end();
    assert_eq!(up.wait_close(1), (1001, "gw is stopping".to_owned()));
    let status = gw
        .proc
        .wait_timeout(PATIENCE)
        .expect("gw exits after SIGTERM");
    assert!(status.success(), "{status:?}");
}

fn a_reload_leaves_an_open_websocket_on_its_limits(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start(d, &chat_config(&up, "max_message 1KiB"));
    let mut old = open(&gw, "/chat");
    old.send(FIN | TEXT, b"before");
    assert_eq!(old.message().1, b"before");
    let file = gw.dir().join("e2e.gw");
    let config = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        config.replace("max_message 1KiB", "max_message 64KiB"),
    )
    .unwrap();
    gw.proc.signal("HUP");
    crate::auth::wait_reloaded(&gw, 1);
    // a new WebSocket gets the new limit
    let mut new = open(&gw, "/chat");
    new.send(FIN | BINARY, &[3; 2048]);
    assert_eq!(new.message(), (BINARY, vec![3; 2048]));
    // the open one keeps its own
    old.send(FIN | BINARY, &[1; 1024]);
    assert_eq!(old.message(), (BINARY, vec![1; 1024]));
    old.send(FIN | BINARY, &[3; 2048]);
    assert_eq!(old.expect_close(), (1009, "message too big".to_owned()));
    drop(old);

    // a reload that removes the route: an open WebSocket still has its route and limits
    let mut open_before = open(&gw, "/chat");
    let config = std::fs::read_to_string(&file).unwrap();
    let without = config.replace("route GET /chat websocket", "route GET /gone websocket");
    std::fs::write(&file, without).unwrap();
    gw.proc.signal("HUP");
    crate::auth::wait_reloaded(&gw, 2);
    let mut s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(upgrade_request("/chat").as_bytes()).unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 404"));
    open_before.send(FIN | BINARY, &[4; 2048]);
    assert_eq!(open_before.message(), (BINARY, vec![4; 2048]));
    open_before.send(FIN | BINARY, &[5; 65 * 1024]);
    assert_eq!(
        open_before.expect_close(),
        (1009, "message too big".to_owned())
    );
}

/// Bytes a client may not send, and the close code gw answers them with.
const ABUSE: &[(&str, &[u8], u16)] = &[
    (
        "a frame claiming 2^63 bytes",
        &[0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
        1002,
    ),
    ("an unmasked frame", &[0x81, 0x02, b'h', b'i'], 1002),
    ("a fragmented ping", &[0x09, 0x80, 1, 2, 3, 4], 1002),
    ("a reserved opcode", &[0x83, 0x80, 1, 2, 3, 4], 1002),
    ("a continuation first", &[0x80, 0x80, 1, 2, 3, 4], 1002),
    ("garbage", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1002),
    (
        "a close code 1005",
        &[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xed],
        1002,
    ),
];

fn frames_that_break_the_protocol_get_1002_and_the_worker_goes_on(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start_with(d, &chat_config(&up, ""), &["--workers", "1"]);
    let mut cases: Vec<(&str, Vec<u8>, u16)> =
        ABUSE.iter().map(|(n, b, c)| (*n, b.to_vec(), *c)).collect();
    // a 126-byte ping
    cases.push((
        "a 126-byte ping",
        encode(FIN | PING, &[0; 126], Some([9; 4])),
        1002,
    ));
    for (i, (name, bytes, code)) in cases.iter().enumerate() {
        let mut ws = open(&gw, "/chat");
        ws.send(FIN | TEXT, b"first");
        assert_eq!(ws.message().1, b"first", "{name}");
        ws.send_raw(bytes);
        let (got, reason) = ws.expect_close();
        assert_eq!(got, *code, "{name}: {reason}");
        drop(ws);
        assert_eq!(
            up.wait_close(i + 1),
            (1001, "peer broke the protocol".to_owned()),
            "{name}"
        );
    }
    // the upstream's side: a masked frame from a server
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | TEXT, b"cmd:masked");
    assert_eq!(
        ws.expect_close(),
        (1001, "peer broke the protocol".to_owned())
    );
    let n = cases.len() + 1;
    assert_eq!(up.wait_close(n), (1002, "masked server frame".to_owned()));
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | TEXT, b"after all that");
    assert_eq!(ws.message().1, b"after all that");
}

fn permessage_deflate_from_the_upstream_allows_rsv1(d: Driver) {
    const RSV1: u8 = 0x40;
    // the payload is opaque to gw: it relays a compressed frame as it is
    let up = WsUpstream::start(Some("permessage-deflate; server_no_context_takeover"));
    let gw = Gw::start(d, &chat_config(&up, ""));
    let mut ws = open(&gw, "/chat");
    assert!(
        ws.head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions: permessage-deflate"),
        "{}",
        ws.head
    );
    ws.send(
        FIN | RSV1 | TEXT,
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    );
    let f = ws.recv().unwrap();
    assert_eq!(f.b0, FIN | RSV1 | TEXT);
    assert_eq!(f.payload, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    // without the extension RSV1 breaks the protocol
    let plain = WsUpstream::start(None);
    let gw = Gw::start(d, &chat_config(&plain, ""));
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | RSV1 | TEXT, b"x");
    assert_eq!(ws.expect_close(), (1002, "reserved bit set".to_owned()));
}

fn a_websocket_over_tls(d: Driver) {
    use crate::tls::{client_config, pki, tls_block, tls_connect};
    let up = WsUpstream::start(None);
    let gw = Gw::start_listening(
        d,
        &tls_block(pki()),
        &chat_config(&up, "max_message 2MiB"),
        &[],
    );
    let s = tls_connect(gw.addr, "a.test", client_config(&[b"http/1.1"]));
    let mut ws = handshake(Box::new(s), "/chat");
    ws.send(FIN | TEXT, b"over tls");
    assert_eq!(ws.message(), (TEXT, b"over tls".to_vec()));
    let big = vec![5u8; 1 << 20];
    ws.send(FIN | BINARY, &big);
    assert_eq!(ws.message(), (BINARY, big));
    ws.send(FIN | TEXT, b"cmd:big 3000000");
    assert_eq!(
        ws.expect_close(),
        (1001, "peer broke the protocol".to_owned())
    );
    ws.close(1000, "");
    assert_eq!(up.wait_close(1), (1009, "message too big".to_owned()));
}

fn metrics_count_open_websockets_and_messages(d: Driver) {
    let up = WsUpstream::start(None);
    let admin = format!("127.0.0.1:{}", crate::support::free_port());
    let gw = Gw::start(d, &format!("admin {admin}\n{}", chat_config(&up, "")));
    let metric = |name: &str, direction: Option<&str>| -> Option<f64> {
        let (_, text) = crate::operations::admin_get(&admin, "/metrics");
        let series = match direction {
            Some(d) => format!("{name}{{route=\"GET /chat\",direction=\"{d}\"}} "),
            None => format!("{name} "),
        };
        text.lines()
            .find_map(|l| l.strip_prefix(&series)?.parse().ok())
    };
    let mut a = open(&gw, "/chat");
    let mut b = open(&gw, "/chat");
    for i in 0..3 {
        a.send(FIN | TEXT, format!("a{i}").as_bytes());
        assert_eq!(a.message().1, format!("a{i}").into_bytes());
    }
    // a fragmented message counts once
    b.send(TEXT, b"b");
    b.send(FIN, b"1");
    assert_eq!(b.message().1, b"b1");
    // a scrape may come before the worker counted the last echo: wait for it
    let eventually = |name: &str, direction: Option<&str>, want: f64| {
        let deadline = Instant::now() + PATIENCE;
        while metric(name, direction) != Some(want) {
            assert!(
                Instant::now() < deadline,
                "{name} {direction:?} is {:?}, not {want}",
                metric(name, direction)
            );
            thread::sleep(Duration::from_millis(20));
        }
    };
    eventually("gw_websockets_open", None, 2.0);
    eventually("gw_websocket_messages_total", Some("to_upstream"), 4.0);
    eventually("gw_websocket_messages_total", Some("to_client"), 4.0);
    // the Prometheus client library's parser reads the same (a format error fails)
    let parsed = crate::operations::scrape(&admin);
    for direction in ["to_upstream", "to_client"] {
        assert!(
            parsed
                .iter()
                .any(|(n, labels, v)| n == "gw_websocket_messages_total"
                    && labels.get("direction").map(String::as_str) == Some(direction)
                    && labels.get("route").map(String::as_str) == Some("GET /chat")
                    && *v == 4.0),
            "{direction}: {parsed:?}"
        );
    }
    assert!(
        parsed
            .iter()
            .any(|(n, _, v)| n == "gw_websockets_open" && *v == 2.0),
        "{parsed:?}"
    );
    a.close(1000, "");
    assert_eq!(a.expect_close().0, 1000);
    a.expect_end();
    eventually("gw_websockets_open", None, 1.0);
    drop(b);
    eventually("gw_websockets_open", None, 0.0);
}
