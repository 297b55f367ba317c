//! The WebSocket peers of tests/e2e/websocket.rs: a client and an echo upstream that write
//! frames by hand (so a test can also send abusive ones) over blocking sockets.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::Gw;

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;
pub const FIN: u8 = 0x80;

/// How long a read may wait for something gw or the upstream is sure to send.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// One frame as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub b0: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn op(&self) -> u8 {
        self.b0 & 0x0f
    }

    pub fn fin(&self) -> bool {
        self.b0 & FIN != 0
    }

    /// A Close's code and reason.
    pub fn close_status(&self) -> (u16, String) {
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
pub fn encode(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
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

pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// One end of a WebSocket over a blocking stream; a client masks what it sends.
pub struct Ws {
    pub s: Box<dyn Stream>,
    pub client: bool,
    /// The handshake head this end read: the 101 for a client, the request for a server.
    pub head: String,
}

impl Ws {
    pub fn send(&mut self, b0: u8, payload: &[u8]) {
        self.try_send(b0, payload).unwrap();
    }

    pub fn try_send(&mut self, b0: u8, payload: &[u8]) -> io::Result<()> {
        let mask = self.client.then_some([0x5a, 0x17, 0xc3, 0x8e]);
        self.s.write_all(&encode(b0, payload, mask))?;
        self.s.flush()
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
        self.s.flush().unwrap();
    }

    pub fn close(&mut self, code: u16, reason: &str) {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_bytes());
        self.send(FIN | CLOSE, &p);
    }

    /// The next frame; an error at the end of the stream.
    pub fn recv(&mut self) -> io::Result<Frame> {
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
    pub fn message(&mut self) -> (u8, Vec<u8>) {
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
    pub fn skip_pings(&mut self) -> Frame {
        loop {
            let f = self.recv().unwrap();
            if !matches!(f.op(), PING | PONG) {
                return f;
            }
        }
    }

    /// Read until a Close (data frames before it are skipped); its code and reason.
    pub fn expect_close(&mut self) -> (u16, String) {
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
    pub fn expect_end(&mut self) {
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
pub fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: chat.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Read an HTTP head a byte at a time, so no frame byte is taken with it.
pub fn read_head(s: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "closed mid-head: {head:?}");
        head.push(b[0]);
    }
    String::from_utf8(head).unwrap()
}

/// The Sec-WebSocket-Accept for `key` (RFC 6455 §4.2.2).
pub fn accept_for(key: &str) -> String {
    use base64::Engine;
    let d = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(d.as_ref())
}

/// Open a WebSocket through `s` (already connected), checking the 101.
pub fn handshake(mut s: Box<dyn Stream>, path: &str) -> Ws {
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

pub fn open(gw: &Gw, path: &str) -> Ws {
    let s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_nodelay(true).unwrap();
    handshake(Box::new(s), path)
}

/// What the echo upstream saw, over all its connections.
#[derive(Debug, Default)]
pub struct Seen {
    /// Close codes and reasons it received.
    pub closes: Vec<(u16, String)>,
    pub pongs: Vec<Vec<u8>>,
    /// Data messages it received.
    pub messages: usize,
    /// Connections that ended without a Close from gw.
    pub ended: usize,
}

/// An echo WebSocket upstream: every data frame is sent back as it came (fragments stay
/// fragments), a Ping answered, a Close answered with the same payload. Text messages
/// `cmd:…` make it act: `cmd:close` (it closes with 4001), `cmd:ping`, `cmd:masked` (a
/// masked frame, which no server may send), `cmd:big N` (an N-byte message).
pub struct WsUpstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Seen>>,
}

impl WsUpstream {
    /// With `extensions`, the 101 says it negotiated them.
    pub fn start(extensions: Option<&'static str>) -> WsUpstream {
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

    pub fn closes(&self) -> Vec<(u16, String)> {
        self.seen.lock().unwrap().closes.clone()
    }

    /// Wait until it received a Close; its code and reason.
    pub fn wait_close(&self, n: usize) -> (u16, String) {
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
