//! Admitting a request before its program runs: the listener it came in on (whose path and
//! header policies apply), the route's body limit, and reading a body the route buffers
//! (answering `Expect: 100-continue`).

use std::net::SocketAddr;
use std::time::Duration;

use gw_program::{ConfigImage, Listener, RoutePlan};

use crate::body::{BodyIn, OutFraming, flush};
use crate::error::{Error, ErrorKind, Side};
use crate::state::Conn;
use crate::worker::{Gen, Worker};

/// The listener a connection came in on, by the address it was accepted at.
pub fn listener_of(image: &ConfigImage, local: Option<SocketAddr>) -> Option<&Listener> {
    match image.listeners.as_slice() {
        [only] => Some(only),
        all => all.iter().find(|l| Some(l.addr) == local),
    }
}

/// The body limit of a route.
pub fn body_limit(cfg: &Gen, route: &RoutePlan) -> u64 {
    route.body_limit.unwrap_or(cfg.image().limits.body)
}

/// Read the whole request body into `c.req.body` (answering `Expect: 100-continue` first).
pub async fn read_body(w: &Worker, cfg: &Gen, c: &mut Conn, limit: u64) -> Result<(), Error> {
    let mut body = BodyIn::new(c.req.head.framing, limit);
    if body.is_done() || c.req.body_read {
        return Ok(());
    }
    if c.req.head.expect_continue && c.rb.is_empty() {
        send_continue(w, cfg, c).await?;
    }
    if c.req.body.capacity() == 0 {
        c.req.body = w.pool.big();
    }
    let timeout = Duration::from_millis(cfg.image().timeouts.header_read);
    loop {
        let done = body.drain_buffered(
            &mut c.rb,
            &mut c.req.body,
            OutFraming::Raw,
            Side::Downstream,
        );
        match done {
            Ok(true) => {
                c.req.body_read = true;
                return Ok(());
            }
            Ok(false) => {}
            Err(e) => {
                c.req.must_close = true;
                return Err(e);
            }
        }
        let n = crate::body::read_some(
            &mut c.stream,
            &mut c.rb,
            &w.pool,
            crate::buffers::BIG * 4,
            (&c.watch, timeout),
            Side::Downstream,
        )
        .await;
        match n {
            Ok(n) if n > 0 => {}
            Ok(_) => return Err(Error::new(ErrorKind::ClientIo, Side::Downstream, "body")),
            Err(e) => {
                c.req.must_close = true;
                return Err(e);
            }
        }
    }
}

/// `HTTP/1.1 100 Continue`, once the body is about to be read.
pub async fn send_continue(w: &Worker, cfg: &Gen, c: &mut Conn) -> Result<(), Error> {
    let mut out = w.pool.small();
    out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
    let t = Duration::from_millis(cfg.image().timeouts.idle);
    let r = flush(&mut c.stream, &mut out, (&c.watch, t), Side::Downstream).await;
    w.pool.put(out);
    r
}
