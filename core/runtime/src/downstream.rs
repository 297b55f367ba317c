//! A client connection from accept to its protocol: the TLS handshake, then HTTP/1.1
//! (`conn`) or HTTP/2 (`h2`). A TLS connection, or one on an `h2c` listener, is HTTP/2 when it
//! opens with the HTTP/2 connection preface: a client that negotiated `h2` by ALPN, or one
//! with prior knowledge on `h2c`, sends it first (RFC 9113 §3.3, §3.4); any other first bytes
//! are an HTTP/1.1 request.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;

use crate::body::read_untimed;
use crate::client_stream::ClientStream;
use crate::conn::ConnGuard;
use crate::error::Side;
use crate::h2_io::PREFACE;
use crate::state::Conn;
use crate::stop::Stop;
use crate::tls::TlsStream;
use crate::worker::Worker;

/// What the listener that accepted a connection serves on it.
pub struct Accepted {
    pub peer: SocketAddr,
    pub local: Option<SocketAddr>,
    /// The rustls config of a TLS listener, current at accept.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `h2c`: HTTP/2 with prior knowledge on a plain listener.
    pub h2c: bool,
    /// Triggered when a reload removes the listener.
    pub listener: Rc<Stop>,
}

/// Serve a connection until it closes (`None`: it closes at once).
///
/// Not `async` itself: the state is built here so the task does not keep the arguments and
/// the `Conn` made from them side by side (bench/idle-mem.sh).
pub fn serve(w: Rc<Worker>, stream: TcpStream, a: Accepted) -> Option<impl Future<Output = ()>> {
    let guard = ConnGuard(w.clone());
    let mut stream = stream;
    let _ = stream.set_nodelay(true);
    if w.multishot {
        stream.recv_multishot();
    }
    let stream = match a.tls {
        None => ClientStream::Plain(stream),
        Some(config) => match TlsStream::server(stream, config) {
            Ok(t) => ClientStream::Tls(Box::new(t)),
            // rustls refused to start a connection: the socket closes
            Err(_) => return None,
        },
    };
    let c = crate::conn::new(&w, stream, a.peer, a.local);
    let (h2c, listener) = (a.h2c, a.listener);
    Some(async move {
        let mut c = c;
        let tls = c.stream.is_tls();
        // boxed: a plain connection's task keeps no room for the handshake
        if tls && !Box::pin(handshake(&w, &mut c)).await {
            c.rb.release(&w.pool);
            return;
        }
        if (tls || h2c) && Box::pin(preface(&w, &mut c)).await {
            Box::pin(crate::h2::serve(w, guard, c, listener)).await;
            return;
        }
        crate::conn::serve_requests(w, guard, c).await;
    })
}

/// The TLS handshake of a connection, within the `header_read` timeout. False: it failed
/// (a peer that spoke no TLS, or too slowly) and the connection closes.
async fn handshake(w: &Worker, c: &mut Conn) -> bool {
    let ClientStream::Tls(t) = &mut c.stream else {
        return true;
    };
    let timeout = Duration::from_millis(w.current().image().timeouts.header_read);
    let hs = std::pin::pin!(t.handshake());
    matches!(c.watch.within(timeout, hs).await, Ok(Ok(())))
}

/// Read the connection's first bytes until they are the HTTP/2 preface (true) or cannot be.
/// The bytes stay in the receive buffer for whichever protocol serves them; a client that
/// sends nothing within `idle`, or stops within `header_read`, is left to HTTP/1.1's reader,
/// which closes it as it would.
async fn preface(w: &Worker, c: &mut Conn) -> bool {
    let (idle, header_read) = {
        let cfg = w.current();
        let t = &cfg.image().timeouts;
        (
            Duration::from_millis(t.idle),
            Duration::from_millis(t.header_read),
        )
    };
    let started = Instant::now();
    loop {
        let seen = c.rb.unread();
        let n = seen.len().min(PREFACE.len());
        if seen.get(..n) != PREFACE.get(..n) {
            return false;
        }
        if n == PREFACE.len() {
            return true;
        }
        let wait = if n == 0 {
            idle
        } else {
            match header_read.checked_sub(started.elapsed()) {
                Some(d) if !d.is_zero() => d,
                _ => return false,
            }
        };
        let read = std::pin::pin!(read_untimed(
            &mut c.stream,
            &mut c.rb,
            &w.pool,
            PREFACE.len(),
            Side::Downstream
        ));
        match c.watch.within(wait, read).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return false,
        }
    }
}
