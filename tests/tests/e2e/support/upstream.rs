//! A scripted HTTP/1.1 upstream server (std::net, one thread per connection).
//!
//! It records every byte it receives on every connection and every request it parsed, so a
//! test can assert what gw forwarded (or that it forwarded nothing), and answers each request
//! with the [`Reply`] its handler picks.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::http::{Head, Reader};
use super::reply::{Reply, Server, perform};

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Index of the connection it arrived on (0-based, in accept order).
    pub conn: usize,
    pub method: String,
    /// The request target as sent by gw (path and query).
    pub target: String,
    pub version: String,
    pub head: Head,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

struct Shared {
    name: String,
    handler: Box<Handler>,
    requests: Mutex<Vec<Recorded>>,
    /// Raw bytes received, per connection.
    raw: Mutex<Vec<Arc<Mutex<Vec<u8>>>>>,
    /// Clones of every accepted stream, shut down when the server stops.
    streams: Mutex<Vec<TcpStream>>,
    stop: AtomicBool,
    connections: AtomicUsize,
}

/// A running upstream server; stops (and drops every connection) on drop.
pub struct Upstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Upstream {
    /// Every request gets [`Reply::Echo`].
    pub fn echo(name: &str) -> Upstream {
        Upstream::start(name, |_| Reply::Echo)
    }

    /// Start on a free loopback port; `handler` picks the reply to each request.
    pub fn start(name: &str, handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        let addr = listener.local_addr().expect("upstream addr");
        let shared = Arc::new(Shared {
            name: name.to_string(),
            handler: Box::new(handler),
            requests: Mutex::new(Vec::new()),
            raw: Mutex::new(Vec::new()),
            streams: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
        });
        let acceptor = Arc::clone(&shared);
        thread::spawn(move || accept_loop(&listener, &acceptor));
        Upstream { addr, shared }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Requests other than health checks (`/healthz`).
    pub fn traffic(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path() != "/healthz")
            .collect()
    }

    pub fn count(&self) -> usize {
        self.traffic().len()
    }

    pub fn health_checks(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.path() == "/healthz")
            .count()
    }

    /// The only recorded non-health request; panics if there is not exactly one.
    pub fn single(&self) -> Recorded {
        let reqs = self.traffic();
        assert_eq!(
            reqs.len(),
            1,
            "upstream {} expected one request, got {reqs:#?}",
            self.name()
        );
        reqs.into_iter().next().unwrap()
    }

    /// Every byte received on every connection, connection by connection.
    pub fn raw(&self) -> Vec<u8> {
        let conns = self.shared.raw.lock().unwrap().clone();
        conns
            .iter()
            .flat_map(|c| c.lock().unwrap().clone())
            .collect()
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Wait until `cond` holds, or panic after `timeout` with `what`.
    pub fn wait_until(&self, timeout: Duration, what: &str, cond: impl Fn(&Upstream) -> bool) {
        let deadline = Instant::now() + timeout;
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "upstream {}: timed out waiting for {what}",
                self.name()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept, then cut every connection so their threads end.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        for s in self.shared.streams.lock().unwrap().iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// A free loopback port with nothing listening on it (bind :0, read, drop).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind :0");
    l.local_addr().expect("local addr").port()
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let conn = shared.connections.fetch_add(1, Ordering::SeqCst);
        let log = Arc::new(Mutex::new(Vec::new()));
        shared.raw.lock().unwrap().push(Arc::clone(&log));
        if let Ok(clone) = stream.try_clone() {
            shared.streams.lock().unwrap().push(clone);
        }
        let shared = Arc::clone(shared);
        thread::spawn(move || {
            let _ = serve(stream, conn, &log, &shared);
        });
    }
}

/// Reads from the stream and appends every byte to the connection's log.
struct Recording {
    stream: TcpStream,
    log: Arc<Mutex<Vec<u8>>>,
}

impl Read for Recording {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        self.log.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

fn serve(
    stream: TcpStream,
    conn: usize,
    log: &Arc<Mutex<Vec<u8>>>,
    shared: &Shared,
) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut reader = Reader::new(Recording {
        stream,
        log: Arc::clone(log),
    });
    loop {
        let Some(head) = reader.read_head(1 << 20)? else {
            return Ok(());
        };
        let mut parts = head.line.splitn(3, ' ');
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let version = parts.next().unwrap_or_default().to_string();
        if head
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let body = if head.is_chunked() {
            reader.read_chunked()?
        } else {
            let len = head.content_length().unwrap_or(0);
            reader.read_exact_vec(usize::try_from(len).unwrap_or(usize::MAX))?
        };
        let keep_alive = !head.tokens("connection").iter().any(|t| t == "close")
            && (version == "HTTP/1.1"
                || head.tokens("connection").iter().any(|t| t == "keep-alive"));
        let req = Recorded {
            conn,
            method,
            target,
            version,
            head,
            body,
        };
        shared.requests.lock().unwrap().push(req.clone());
        let reply = (shared.handler)(&req);
        let server = Server {
            name: &shared.name,
            stop: &shared.stop,
        };
        if !perform(&mut out, &req, reply, &server)? || !keep_alive {
            let _ = out.shutdown(Shutdown::Both);
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::client::Client;

    #[test]
    fn upstream_echoes_and_records() {
        let up = Upstream::echo("self");
        let mut c = Client::connect(up.addr());
        let r = c.request("POST", "/a?b=1", &[("x-k", "v")], b"hello");
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["path"], "/a?b=1");
        assert_eq!(r.header("x-up-name"), Some("self"));
        let got = up.single();
        assert_eq!(
            (got.method.as_str(), got.path(), got.body.as_slice()),
            ("POST", "/a", &b"hello"[..])
        );
        assert!(up.raw().starts_with(b"POST /a?b=1 HTTP/1.1\r\n"));
    }

    #[test]
    fn upstream_scripts_chunked_and_head() {
        let up = Upstream::start("s", |r| match r.path() {
            "/c" => Reply::Chunked {
                status: 200,
                headers: vec![],
                chunks: vec![b"ab".to_vec(), b"c".to_vec()],
            },
            _ => Reply::text("body"),
        });
        let mut c = Client::connect(up.addr());
        assert_eq!(c.get("/c").body, b"abc");
        let head = c.request("HEAD", "/h", &[], b"");
        assert_eq!(
            (head.header("content-length"), head.body.len()),
            (Some("4"), 0)
        );
        assert_eq!(c.get("/h").body, b"body");
    }
}
