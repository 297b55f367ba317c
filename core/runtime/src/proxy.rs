//! Forwarding a request upstream: pick a server, reuse a pooled connection or connect, send
//! head and body (one write when the body is at hand), read the response head. A pooled
//! connection found closed before any response byte is retried once on a fresh one; connect
//! failures are retried on another server when the route says `retry N on connect_error`.

use std::rc::Rc;
use std::time::{Duration, Instant};

use gw_program::{RoutePlan, Upstream};
use gw_proto::{Framing, ResponseHead};

use crate::body::{BodyIn, OutFraming, Pump, flush};
use crate::buffers::RecvBuf;
use crate::conn::{Conn, Next};
use crate::error::{Error, ErrorKind, Side};
use crate::head::{UpstreamHead, write_upstream_head};
use crate::host::ReqView;
use crate::request::{body_limit, read_body, send_continue};
use crate::respond;
use crate::upstream::conn::{Track, UpConn, connect, read_head};
use crate::worker::{Gen, Worker};

/// What the route forwards: the request in `c`, to upstream `up`.
pub struct Target<'a> {
    pub route: &'a RoutePlan,
    pub up: u16,
    pub hash: Option<u64>,
    pub canary: bool,
    pub upgrade: bool,
}

/// Forward the request and relay the response.
pub async fn forward(w: &Rc<Worker>, cfg: &Rc<Gen>, c: &mut Conn, t: Target<'_>) -> Next {
    let sent = match send(w, cfg, c, &t).await {
        Ok(s) => s,
        Err(e) => return respond::error(w, cfg, c, &e, None).await,
    };
    crate::response::relay(w, cfg, c, &t, sent).await
}

/// A request sent upstream and its response head received.
pub struct Sent<'w> {
    pub conn: UpConn<'w>,
    pub head: ResponseHead,
    /// Head bytes were copied to `c.rhb`; `conn.rb` holds what followed.
    pub latency: Duration,
}

async fn send<'w>(
    w: &'w Worker,
    cfg: &Gen,
    c: &mut Conn,
    t: &Target<'_>,
) -> Result<Sent<'w>, Error> {
    let image = cfg.image();
    let up_id = t.up as usize;
    let Some(up) = image.upstreams.get(up_id) else {
        return Err(Error::new(
            ErrorKind::ProgramTrap,
            Side::Internal,
            "upstream id",
        ));
    };
    let limit = body_limit(cfg, t.route);
    // A replaced body makes the client's unread: read it so the connection stays in sync.
    if c.edits.body.is_some() && !c.body_read {
        read_body(w, cfg, c, limit).await?;
    }
    let (framing, mut body_in, how) = plan_body(c, t.route, limit);
    let mut out = w.pool.big();
    // only an HTTP/1.0 client may send no Host: format the fallback for it alone
    let fallback = if c.head.host.is_empty() {
        fallback_host(up)
    } else {
        String::new()
    };
    let mut edits = std::mem::take(&mut c.edits);
    let head = UpstreamHead {
        req: view(c, t.route),
        host_override: up.host_header.as_deref(),
        fallback_host: &fallback,
        framing,
    };
    write_upstream_head(&head, &mut edits, &mut out);
    c.edits = edits;
    if let Some(span) = c.edits.body {
        out.extend_from_slice(c.edits.get(span).as_bytes());
    } else if t.route.buffer_body {
        out.extend_from_slice(&c.body);
    }
    let mut complete = true;
    if let Some(b) = body_in.as_mut() {
        complete = match b.drain_buffered(&mut c.rb, &mut out, how, Side::Downstream) {
            Ok(done) => done,
            Err(e) => {
                c.must_close = true;
                w.pool.put(out);
                return Err(e);
            }
        };
        if complete {
            c.body_read = true;
        } else {
            // from here on the client's body is partly consumed
            c.must_close = true;
        }
    }
    let connect_timeout =
        Duration::from_millis(up.connect_timeout.unwrap_or(image.timeouts.connect));
    let request_timeout = Duration::from_millis(
        t.route
            .timeout_ms
            .or(up.request_timeout)
            .unwrap_or(image.timeouts.request),
    );
    let mut connect_retries = if t.route.retry.on_connect_error {
        t.route.retry.count
    } else {
        0
    };
    let mut stale_retry = true;
    let mut fresh_only = false;
    let mut exclude = None;
    let mut sent_continue = false;
    let result = loop {
        let now = Instant::now();
        let picked = w
            .upstreams
            .borrow_mut()
            .pick(up_id, t.hash, exclude, &cfg.loaded, now);
        let Some(server) = picked else {
            break Err(Error::new(
                ErrorKind::NoHealthyServer,
                Side::Upstream,
                "balance",
            ));
        };
        let Some(addr) = w.upstreams.borrow().addr(up_id, server) else {
            break Err(Error::new(
                ErrorKind::NoHealthyServer,
                Side::Upstream,
                "balance",
            ));
        };
        let pooled = if fresh_only {
            None
        } else {
            w.upstreams.borrow_mut().take(up_id, server, now)
        };
        let reused = pooled.is_some();
        let stream = match pooled {
            Some(s) => s,
            None => match connect(addr, connect_timeout).await {
                Ok(s) => {
                    w.upstreams.borrow_mut().connect_ok(up_id, server);
                    s
                }
                Err(e) => {
                    w.upstreams
                        .borrow_mut()
                        .connect_failed(up_id, server, Instant::now());
                    if connect_retries > 0 {
                        connect_retries -= 1;
                        exclude = Some(server);
                        continue;
                    }
                    break Err(e);
                }
            },
        };
        let track = Track::new(w, up_id, server);
        let mut conn = UpConn {
            stream,
            rb: RecvBuf::new(w.pool.big()),
            track,
        };
        if !complete && c.head.expect_continue && !sent_continue {
            sent_continue = true;
            send_continue(w, cfg, c).await?;
        }
        let started = Instant::now();
        // `out` survives the write (owned buffers come back), so a retry can resend it
        let keep_out = out.clone_from_pool(w);
        let wrote = flush(&mut conn.stream, &mut out, request_timeout, Side::Upstream).await;
        if let Err(e) = wrote {
            if reused && complete && stale_retry {
                stale_retry = false;
                fresh_only = true;
                out = keep_out;
                continue;
            }
            w.pool.put(keep_out);
            break Err(e);
        }
        if !complete && let Some(b) = body_in.as_mut() {
            let mut pump = Pump {
                src: &mut c.stream,
                src_side: Side::Downstream,
                rb: &mut c.rb,
                dst: &mut conn.stream,
                dst_side: Side::Upstream,
                out: &mut out,
                how,
                pool: &w.pool,
                read_timeout: Duration::from_millis(image.timeouts.header_read),
                write_timeout: request_timeout,
            };
            if let Err(e) = pump.run(b).await {
                w.pool.put(keep_out);
                break Err(e);
            }
            c.body_read = true;
            c.must_close = false;
        }
        match read_head(
            w,
            &mut conn,
            c.head.method.of(&c.hb) == b"HEAD",
            request_timeout,
        )
        .await
        {
            Ok((head, n)) => {
                c.rhb.clear();
                c.rhb
                    .extend_from_slice(conn.rb.unread().get(..n).unwrap_or(&[]));
                conn.rb.consume(n);
                w.pool.put(keep_out);
                break Ok(Sent {
                    conn,
                    head,
                    latency: started.elapsed(),
                });
            }
            Err(e) if e.retry && reused && complete && stale_retry => {
                stale_retry = false;
                fresh_only = true;
                out = keep_out;
                continue;
            }
            Err(e) => {
                w.pool.put(keep_out);
                break Err(e);
            }
        }
    };
    w.pool.put(out);
    result
}

/// Copying `out` before a write is what makes a stale-connection retry possible.
trait CloneFromPool {
    fn clone_from_pool(&self, w: &Worker) -> Vec<u8>;
}

impl CloneFromPool for Vec<u8> {
    fn clone_from_pool(&self, w: &Worker) -> Vec<u8> {
        let mut v = w.pool.big();
        v.extend_from_slice(self);
        v
    }
}

/// The request as the head writer sees it.
fn view<'a>(c: &'a Conn, route: &'a RoutePlan) -> ReqView<'a> {
    ReqView {
        hb: &c.hb,
        head: &c.head,
        path: &c.path,
        params: &c.params,
        client: c.peer.ip(),
        request_id: &c.request_id,
        route: Some(route),
    }
}

/// How the request body goes upstream: its header, the streaming decoder (None when the
/// body is already in hand or absent), and the outgoing framing.
fn plan_body(c: &Conn, route: &RoutePlan, limit: u64) -> (Framing, Option<BodyIn>, OutFraming) {
    if let Some(span) = c.edits.body {
        return (
            Framing::Length(u64::from(span.1 - span.0)),
            None,
            OutFraming::Raw,
        );
    }
    if route.buffer_body {
        return (Framing::Length(c.body.len() as u64), None, OutFraming::Raw);
    }
    match c.head.framing {
        Framing::Length(n) => (
            Framing::Length(n),
            Some(BodyIn::new(Framing::Length(n), limit)),
            OutFraming::Raw,
        ),
        Framing::Chunked => (
            Framing::Chunked,
            Some(BodyIn::new(Framing::Chunked, limit)),
            OutFraming::Chunked,
        ),
        Framing::None | Framing::UntilClose => (Framing::None, None, OutFraming::Raw),
    }
}

fn fallback_host(up: &Upstream) -> String {
    up.servers
        .first()
        .map(|s| format!("{}:{}", s.host, s.port))
        .unwrap_or_default()
}
