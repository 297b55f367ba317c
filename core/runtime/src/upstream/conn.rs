//! One upstream connection in use: counted in its server's in-flight load, connected (and,
//! for a `tls` server, its handshake done) within the connect timeout, and reading the
//! response head (interim 1xx skipped; a close before any byte is marked retryable, which is
//! how a stale pooled connection shows).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gw_program::{FailOn, RoutePlan};
use gw_proto::{ResponseHead, Status};
use monoio::net::TcpStream;
use rustls::pki_types::ServerName;

use super::stream::UpStream;
use crate::body::read_untimed;
use crate::buffers::BufPool;
use crate::buffers::RecvBuf;
use crate::error::{Error, ErrorKind, Side};
use crate::tls::{TlsStream, UpstreamTls};
use crate::upstream::pool::Upstreams;

/// Largest upstream response head accepted.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// What the route forwards: the request in `c`, to upstream `up`.
pub struct Target<'a> {
    pub route: &'a RoutePlan,
    pub up: u16,
    pub hash: Option<u64>,
    pub canary: bool,
    pub upgrade: bool,
}

/// A request sent upstream and its response head received.
pub struct Sent<'w> {
    pub conn: UpConn<'w>,
    /// Head bytes were copied to `c.up.rhb`; `conn.rb` holds what followed. The caller puts
    /// it back in `c.up.resp_head` so its header list is reused.
    pub head: ResponseHead,
    /// When the request went out (the response program's `latency`).
    pub started: Instant,
    /// The server that answered.
    pub addr: std::net::SocketAddr,
}

/// Counts a request in its server's in-flight load (least request) until dropped.
pub struct Track<'w> {
    ups: &'w RefCell<Upstreams>,
    pool: &'w BufPool,
    up: usize,
    server: usize,
}

impl<'w> Track<'w> {
    /// Count a request on `server` of upstream `up`; `pool` takes the connection's buffer
    /// back when it ends.
    pub fn new(
        ups: &'w RefCell<Upstreams>,
        pool: &'w BufPool,
        up: usize,
        server: usize,
    ) -> Track<'w> {
        ups.borrow_mut().track(up, server, true);
        Track {
            ups,
            pool,
            up,
            server,
        }
    }
}

impl Drop for Track<'_> {
    fn drop(&mut self) {
        self.ups.borrow_mut().track(self.up, self.server, false);
    }
}

/// An upstream connection with a request in flight.
pub struct UpConn<'w> {
    pub stream: UpStream,
    pub rb: RecvBuf,
    pub track: Track<'w>,
}

impl UpConn<'_> {
    /// The response ended cleanly at `now`: put the connection back in its server's pool.
    pub fn release(self, now: Instant) {
        let UpConn {
            stream,
            mut rb,
            track,
        } = self;
        rb.release(track.pool);
        track
            .ups
            .borrow_mut()
            .put(track.up, track.server, stream, now);
    }

    /// The stream and its unread bytes, for a tunnel.
    pub fn into_parts(self) -> (UpStream, RecvBuf) {
        let UpConn { stream, rb, .. } = self;
        (stream, rb)
    }

    /// Close the connection, returning its buffer.
    pub fn close(self) {
        let UpConn { mut rb, track, .. } = self;
        rb.release(track.pool);
    }
}

/// One server of an upstream, as the balancer picked it, and how its answers count for
/// passive health (`max_fails N on ...`).
pub struct Picked<'a> {
    pub upstreams: &'a RefCell<Upstreams>,
    pub fail_on: FailOn,
    pub up: usize,
    pub server: usize,
    pub addr: SocketAddr,
}

impl Picked<'_> {
    /// A quiet pooled connection (unless `fresh`), else a new one; the flag says it was pooled.
    /// A connect counts as a success only when no later answer will count instead.
    pub async fn open(
        &self,
        fresh: bool,
        timeout: Duration,
        multishot: bool,
        now: Instant,
    ) -> Result<(UpStream, bool), Error> {
        let pooled = if fresh {
            None
        } else {
            self.upstreams.borrow_mut().take(self.up, self.server, now)
        };
        if let Some(s) = pooled {
            return Ok((s, true));
        }
        let tls = self.upstreams.borrow().tls(self.up, self.server);
        match Box::pin(connect(self.addr, tls.as_deref(), timeout, multishot)).await {
            Ok(s) => {
                if !self.fail_on.timeout && !self.fail_on.status_5xx {
                    self.outcome(false, now);
                }
                Ok((s, false))
            }
            Err(e) => {
                if self.fail_on.connect_error {
                    self.outcome(true, Instant::now());
                }
                Err(e)
            }
        }
    }

    /// A response head arrived with `status`.
    pub fn answered(&self, status: u16, now: Instant) {
        if self.fail_on.timeout || self.fail_on.status_5xx {
            self.outcome(self.fail_on.status_5xx && status >= 500, now);
        }
    }

    /// No response head came within the attempt's timeout.
    pub fn timed_out(&self, now: Instant) {
        if self.fail_on.timeout {
            self.outcome(true, now);
        }
    }

    fn outcome(&self, failed: bool, now: Instant) {
        self.upstreams
            .borrow_mut()
            .outcome(self.up, self.server, failed, now);
    }
}

/// Connect to an upstream server, and for a TLS one finish the handshake, all within
/// `timeout`; `multishot`: a plain connection receives through a multishot receive. A
/// certificate that fails verification is a failed connect whose cause names it.
pub async fn connect(
    addr: SocketAddr,
    tls: Option<&UpstreamTls>,
    timeout: Duration,
    multishot: bool,
) -> Result<UpStream, Error> {
    match monoio::time::timeout(timeout, open_stream(addr, tls, multishot)).await {
        Ok(r) => r,
        Err(_) => Err(Error::new(
            ErrorKind::ConnectTimeout,
            Side::Upstream,
            if tls.is_some() {
                "connect and tls handshake"
            } else {
                "connect"
            },
        )),
    }
}

/// [`connect`] without its timer (the caller's bounds it).
pub async fn open_stream(
    addr: SocketAddr,
    tls: Option<&UpstreamTls>,
    multishot: bool,
) -> Result<UpStream, Error> {
    open_to(
        addr,
        tls.map(|t| (t.config.clone(), t.name.clone())),
        multishot,
    )
    .await
}

/// Connect to `addr`, and when `tls` names a client config and a server, finish a TLS
/// handshake with it (a certificate that fails verification is a failed connect whose cause
/// names it). Untimed.
pub async fn open_to(
    addr: SocketAddr,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    multishot: bool,
) -> Result<UpStream, Error> {
    let mut s = TcpStream::connect_addr(addr)
        .await
        .map_err(|e| Error::io(ErrorKind::ConnectFailed, Side::Upstream, "connect", e))?;
    let _ = s.set_nodelay(true);
    let Some(tls) = tls else {
        if multishot {
            s.recv_multishot();
        }
        return Ok(UpStream::Plain(s));
    };
    // a TLS stream reads with a buffer of its own (rustls may hold bytes already received)
    let handshake_failed =
        |e| Error::io(ErrorKind::ConnectFailed, Side::Upstream, "tls handshake", e);
    let (config, name) = tls;
    let mut t = TlsStream::client(s, config, name).map_err(handshake_failed)?;
    t.handshake().await.map_err(handshake_failed)?;
    Ok(UpStream::Tls(Box::new(t)))
}

/// Read the response head into `head` (its header list is reused between requests),
/// skipping interim 1xx responses (except 101). Returns the head's length in `conn.rb`'s
/// unread bytes. A close before any byte is retryable. Untimed: the caller bounds the write
/// of the request and this read with one timer.
pub async fn read_head(
    pool: &BufPool,
    conn: &mut UpConn<'_>,
    head_request: bool,
    head: &mut ResponseHead,
) -> Result<usize, Error> {
    let mut got_any = false;
    loop {
        if !conn.rb.is_empty() {
            match gw_proto::parse_response(conn.rb.unread(), head_request, head) {
                Ok(Status::Complete(n))
                    if (100..200).contains(&head.status) && head.status != 101 =>
                {
                    conn.rb.consume(n);
                    continue;
                }
                Ok(Status::Complete(n)) => return Ok(n),
                Ok(Status::Partial) => {}
                Err(_) => {
                    return Err(Error::new(
                        ErrorKind::BadResponse,
                        Side::Upstream,
                        "response head",
                    ));
                }
            }
        }
        let n = match read_untimed(
            &mut conn.stream,
            &mut conn.rb,
            pool,
            MAX_RESPONSE_HEAD,
            Side::Upstream,
        )
        .await
        {
            Ok(n) => n,
            Err(e) if e.kind == ErrorKind::UpstreamClosed && !got_any => return Err(e.retryable()),
            Err(e) if matches!(e.kind, ErrorKind::Proto(_)) => {
                return Err(Error::new(
                    ErrorKind::BadResponse,
                    Side::Upstream,
                    "response head too large",
                ));
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            let e = Error::new(ErrorKind::UpstreamClosed, Side::Upstream, "response head");
            return Err(if got_any { e } else { e.retryable() });
        }
        got_any = true;
    }
}
