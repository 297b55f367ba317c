//! Forwarding a request upstream: pick a server, reuse a pooled connection or connect, send
//! head and body (one write when the body is at hand), read the response head. A pooled
//! connection found closed before any response byte is retried once on a fresh one; connect
//! failures are retried on another server when the route says `retry N on connect_error`.

use std::time::{Duration, Instant};

use gw_program::{RoutePlan, Upstream};
use gw_proto::{Framing, ResponseHead};

use crate::admit::{body_limit, listener_of, read_body, send_continue};
use crate::body::{BodyIn, OutFraming, Pump, flush, write_untimed};
use crate::buffers::RecvBuf;
use crate::deadline::{Elapsed, Watch};
use crate::error::{Error, ErrorKind, Side};
use crate::head::{UpstreamHead, write_upstream_head};
use crate::host::req_view;
use crate::state::Conn;
use crate::upstream::conn::{Picked, Sent, Target, Track, UpConn, read_head};
use crate::worker::{Gen, Worker};

/// Send the request upstream (a pooled quiet connection or a new one, under the route's
/// retry budget and deadline) and read the response head.
pub async fn send<'w>(
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
    if c.req.edits.body.is_some() && !c.req.body_read {
        Box::pin(read_body(w, cfg, c, limit)).await?;
    }
    let (framing, mut body_in, how) = plan_body(c, t.route, limit);
    let mut out = w.pool.big();
    // only an HTTP/1.0 client may send no Host: format the fallback for it alone
    let fallback = if c.req.head.host.is_empty() {
        fallback_host(up)
    } else {
        String::new()
    };
    // the view borrows the request's fields, the edits are borrowed apart (no 216-byte
    // move of `Edits` out of the connection and back)
    let head = UpstreamHead {
        req: req_view!(c, Some(t.route)),
        host_override: up.host_header.as_deref(),
        fallback_host: &fallback,
        framing,
        upgrade: t.upgrade,
        underscores: listener_of(image, c.local)
            .map_or(gw_proto::UnderscoreNames::Drop, |l| l.underscores),
    };
    write_upstream_head(&head, &mut c.req.edits, &mut out);
    if let Some(span) = c.req.edits.body {
        out.extend_from_slice(c.req.edits.get(span).as_bytes());
    } else if t.route.buffer_body {
        out.extend_from_slice(&c.req.body);
    }
    let mut complete = true;
    if let Some(b) = body_in.as_mut() {
        complete = match b.drain_buffered(&mut c.rb, &mut out, how, Side::Downstream) {
            Ok(done) => done,
            Err(e) => {
                c.req.must_close = true;
                w.pool.put(out);
                return Err(e);
            }
        };
        if complete {
            c.req.body_read = true;
        } else {
            // from here on the client's body is partly consumed
            c.req.must_close = true;
        }
    }
    let connect_timeout = Duration::from_millis(
        t.route
            .connect_timeout_ms
            .or(up.connect_timeout)
            .unwrap_or(image.timeouts.connect),
    );
    let request_timeout = Duration::from_millis(
        t.route
            .timeout_ms
            .or(up.request_timeout)
            .unwrap_or(image.timeouts.request),
    );
    // One budget for every retry condition the route names (`retry N on ...`).
    let retry = t.route.retry;
    let mut retries = retry.count;
    // Timeouts and 5xx may mean the upstream acted on the request: resend only idempotent
    // methods (nginx's proxy_next_upstream rule), and only when the whole request is in `out`.
    let resendable = is_idempotent(c.req.head.method.of(&c.req.hb));
    let mut stale_retry = true;
    let mut fresh_only = false;
    let mut exclude = None;
    let mut sent_continue = false;
    let body_timeout = Duration::from_millis(image.timeouts.header_read);
    let is_head = c.req.head.method.of(&c.req.hb) == b"HEAD";
    let mut head = std::mem::take(&mut c.up.resp_head);
    // Every attempt together stays within the request timeout (nginx's
    // proxy_next_upstream_timeout): a retry gets what is left of it, and none starts once it
    // is spent. A route that retries on timeout gives each attempt an equal share, or a
    // timed-out first attempt would leave nothing to retry with.
    let deadline = w.now() + request_timeout;
    let per_attempt = if retry.on_timeout && retry.count > 0 {
        request_timeout / (u32::from(retry.count) + 1)
    } else {
        request_timeout
    };
    let result = loop {
        let now = w.now();
        let left = deadline.saturating_duration_since(now);
        let attempt_timeout = per_attempt.min(left);
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
        let picked = Picked {
            upstreams: &w.upstreams,
            fail_on: up.fail_on,
            up: up_id,
            server,
            addr,
        };
        let opened = picked
            .open(fresh_only, connect_timeout.min(left), w.multishot, now)
            .await;
        let (stream, reused) = match opened {
            Ok(s) => s,
            Err(e) => {
                w.metrics.borrow_mut().connect_errors += 1;
                if retry.on_connect_error && retries > 0 && w.now() < deadline {
                    w.metrics.borrow_mut().retries += 1;
                    retries -= 1;
                    exclude = Some(server);
                    continue;
                }
                break Err(e.at(addr));
            }
        };
        let track = Track::new(&w.upstreams, &w.pool, up_id, server);
        let mut conn = UpConn {
            stream,
            rb: RecvBuf::new(w.pool.big()),
            track,
        };
        if !complete && c.req.head.expect_continue && !sent_continue {
            sent_continue = true;
            Box::pin(send_continue(w, cfg, c)).await?;
        }
        // the response program's `upstream.latency` and the metrics need the real clock
        let started = if t.route.response.is_some() || cfg.observed {
            Instant::now()
        } else {
            now
        };
        let got = if complete {
            exchange(
                w,
                &c.watch,
                &mut conn,
                &mut out,
                is_head,
                &mut head,
                attempt_timeout,
            )
            .await
        } else {
            let timeouts = (attempt_timeout, body_timeout);
            let body = (body_in.as_mut(), how);
            Box::pin(stream_request(
                w, c, &mut conn, &mut out, body, &mut head, timeouts,
            ))
            .await
        };
        // passive health: the answers the upstream declares as failures
        match &got {
            Ok(_) => picked.answered(head.status, w.now()),
            Err(Failed::Read(e)) if e.kind == ErrorKind::UpstreamTimeout => {
                picked.timed_out(w.now());
            }
            _ => {}
        }
        match got {
            Ok(_)
                if retry.on_5xx
                    && head.status >= 500
                    && complete
                    && resendable
                    && retries > 0
                    && w.now() < deadline =>
            {
                w.metrics.borrow_mut().retries += 1;
                retries -= 1;
                exclude = Some(server);
                // the 5xx body is not read: this connection cannot be reused
                conn.close();
                continue;
            }
            // A switch nobody asked for would turn this connection into a tunnel gw does not
            // relay (RFC 9110 §7.8: a server must not switch unless asked).
            Ok(_) if head.status == 101 && !t.upgrade => {
                conn.close();
                break Err(Error::new(
                    ErrorKind::BadResponse,
                    Side::Upstream,
                    "101 Switching Protocols to a request that did not ask for an upgrade",
                )
                .at(addr));
            }
            Ok(n) => {
                c.up.rhb.clear();
                c.up.rhb
                    .extend_from_slice(conn.rb.unread().get(..n).unwrap_or(&[]));
                conn.rb.consume(n);
                break Ok(Sent {
                    conn,
                    head: std::mem::take(&mut head),
                    started,
                    addr,
                });
            }
            // `out` still holds the whole request: resend it on a fresh connection
            Err(Failed::Write(_)) if reused && complete && stale_retry => {
                stale_retry = false;
                fresh_only = true;
                conn.close();
                continue;
            }
            Err(Failed::Read(e)) if e.retry && reused && complete && stale_retry => {
                stale_retry = false;
                fresh_only = true;
                conn.close();
                continue;
            }
            Err(Failed::Read(e))
                if e.kind == ErrorKind::UpstreamTimeout
                    && retry.on_timeout
                    && complete
                    && resendable
                    && retries > 0
                    && w.now() < deadline =>
            {
                w.metrics.borrow_mut().retries += 1;
                retries -= 1;
                exclude = Some(server);
                conn.close();
                continue;
            }
            Err(Failed::Write(e) | Failed::Read(e)) => {
                conn.close();
                break Err(e.at(addr));
            }
        }
    };
    c.up.resp_head = head;
    w.pool.put(out);
    result
}

/// Methods a retry may resend after the upstream may have seen them (RFC 9110 §9.2.2).
fn is_idempotent(method: &[u8]) -> bool {
    matches!(
        method,
        b"GET" | b"HEAD" | b"OPTIONS" | b"PUT" | b"DELETE" | b"TRACE"
    )
}

/// Where an exchange with the upstream failed: a failed write on a stale pooled connection
/// is always safe to resend, a failed read only when no response byte came.
enum Failed {
    Write(Error),
    Read(Error),
}

/// Send a request that is wholly in `out` and read the response head, both under one
/// timer. `out` keeps its bytes so a stale connection's request can be resent.
async fn exchange(
    w: &Worker,
    watch: &Watch,
    conn: &mut UpConn<'_>,
    out: &mut Vec<u8>,
    is_head: bool,
    head: &mut ResponseHead,
    timeout: Duration,
) -> Result<usize, Failed> {
    let io = std::pin::pin!(async {
        write_untimed(&mut conn.stream, out, Side::Upstream)
            .await
            .map_err(Failed::Write)?;
        read_head(&w.pool, conn, is_head, head)
            .await
            .map_err(Failed::Read)
    });
    match watch.within(timeout, io).await {
        Ok(r) => r,
        Err(Elapsed) => Err(Failed::Read(Error::new(
            ErrorKind::UpstreamTimeout,
            Side::Upstream,
            "response head",
        ))),
    }
}

/// Send the head and the part of the body at hand, stream the rest of the body from the
/// client (100-continue answered first), then read the response head.
async fn stream_request(
    w: &Worker,
    c: &mut Conn,
    conn: &mut UpConn<'_>,
    out: &mut Vec<u8>,
    (body_in, how): (Option<&mut BodyIn>, OutFraming),
    head: &mut ResponseHead,
    (timeout, body_timeout): (Duration, Duration),
) -> Result<usize, Failed> {
    flush(&mut conn.stream, out, (&c.watch, timeout), Side::Upstream)
        .await
        .map_err(Failed::Write)?;
    if let Some(b) = body_in {
        let mut pump = Pump {
            src: &mut c.stream,
            src_side: Side::Downstream,
            rb: &mut c.rb,
            dst: &mut conn.stream,
            dst_side: Side::Upstream,
            out,
            how,
            pool: &w.pool,
            read_timeout: body_timeout,
            write_timeout: timeout,
            watch: &c.watch,
            sent: 0,
        };
        pump.run(b).await.map_err(Failed::Write)?;
        c.req.body_read = true;
        c.req.must_close = false;
    }
    let is_head = c.req.head.method.of(&c.req.hb) == b"HEAD";
    let read = std::pin::pin!(read_head(&w.pool, conn, is_head, head));
    match c.watch.within(timeout, read).await {
        Ok(r) => r.map_err(Failed::Read),
        Err(Elapsed) => Err(Failed::Read(Error::new(
            ErrorKind::UpstreamTimeout,
            Side::Upstream,
            "response head",
        ))),
    }
}

/// How the request body goes upstream: its header, the streaming decoder (None when the
/// body is already in hand or absent), and the outgoing framing.
fn plan_body(c: &Conn, route: &RoutePlan, limit: u64) -> (Framing, Option<BodyIn>, OutFraming) {
    if let Some(span) = c.req.edits.body {
        return (
            Framing::Length(u64::from(span.1 - span.0)),
            None,
            OutFraming::Raw,
        );
    }
    if route.buffer_body {
        return (
            Framing::Length(c.req.body.len() as u64),
            None,
            OutFraming::Raw,
        );
    }
    match c.req.head.framing {
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
