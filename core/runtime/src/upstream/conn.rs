//! One upstream connection in use: counted in its server's in-flight load, connected with a
//! timeout, and reading the response head (interim 1xx skipped; a close before any byte is
//! marked retryable, which is how a stale pooled connection shows).

use std::net::SocketAddr;
use std::time::Duration;

use gw_proto::{ResponseHead, Status};
use monoio::net::TcpStream;

use crate::body::read_untimed;
use crate::buffers::RecvBuf;
use crate::error::{Error, ErrorKind, Side};
use crate::worker::Worker;

/// Largest upstream response head accepted.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Counts a request in its server's in-flight load (least request) until dropped.
pub struct Track<'w> {
    w: &'w Worker,
    up: usize,
    server: usize,
}

impl<'w> Track<'w> {
    pub fn new(w: &'w Worker, up: usize, server: usize) -> Track<'w> {
        w.upstreams.borrow_mut().track(up, server, true);
        Track { w, up, server }
    }
}

impl Drop for Track<'_> {
    fn drop(&mut self) {
        self.w
            .upstreams
            .borrow_mut()
            .track(self.up, self.server, false);
    }
}

/// An upstream connection with a request in flight.
pub struct UpConn<'w> {
    pub stream: TcpStream,
    pub rb: RecvBuf,
    pub track: Track<'w>,
}

impl UpConn<'_> {
    /// The response ended cleanly: put the connection back in its server's pool.
    pub fn release(self) {
        let UpConn {
            stream,
            mut rb,
            track,
        } = self;
        let w = track.w;
        rb.release(&w.pool);
        w.upstreams
            .borrow_mut()
            .put(track.up, track.server, stream, w.now());
    }

    /// The stream and its unread bytes, for a tunnel.
    pub fn into_parts(self) -> (TcpStream, RecvBuf) {
        let UpConn { stream, rb, .. } = self;
        (stream, rb)
    }

    /// Close the connection, returning its buffer.
    pub fn close(self) {
        let UpConn { mut rb, track, .. } = self;
        rb.release(&track.w.pool);
    }
}

/// Connect to an upstream server; `multishot`: receive through a multishot receive.
pub async fn connect(
    addr: SocketAddr,
    timeout: Duration,
    multishot: bool,
) -> Result<TcpStream, Error> {
    match monoio::time::timeout(timeout, TcpStream::connect_addr(addr)).await {
        Ok(Ok(mut s)) => {
            let _ = s.set_nodelay(true);
            if multishot {
                s.recv_multishot();
            }
            Ok(s)
        }
        Ok(Err(e)) => Err(Error::io(
            ErrorKind::ConnectFailed,
            Side::Upstream,
            "connect",
            e,
        )),
        Err(_) => Err(Error::new(
            ErrorKind::ConnectTimeout,
            Side::Upstream,
            "connect",
        )),
    }
}

/// Read the response head into `head` (its header list is reused between requests),
/// skipping interim 1xx responses (except 101). Returns the head's length in `conn.rb`'s
/// unread bytes. A close before any byte is retryable. Untimed: the caller bounds the write
/// of the request and this read with one timer.
pub async fn read_head(
    w: &Worker,
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
            &w.pool,
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
