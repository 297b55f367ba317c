//! The upstream's response on its way back: the response program, the head gw writes
//! downstream (framing recomputed, hop-by-hop stripped, X-Request-Id echoed), and the body
//! streamed through — re-chunked when the client speaks HTTP/1.1 and the length is unknown.

use std::rc::Rc;
use std::time::{Duration, Instant};

use gw_proto::Framing;
use gw_vm::Exit;

use crate::body::{BodyIn, OutFraming, Pump, read_some};
use crate::error::{Error, ErrorKind, Side};
use crate::host::RespView;
use crate::respond::{self, conn_header};
use crate::state::{Conn, Next};
use crate::upstream::conn::UpConn;
use crate::upstream::conn::{Sent, Target};
use crate::worker::{Gen, Worker};
use gw_proto::{ClientHead, ResponseHead, write_response_head};

/// Relay the response of `sent` to the client.
pub async fn relay(
    w: &Rc<Worker>,
    cfg: &Rc<Gen>,
    c: &mut Conn,
    t: &Target<'_>,
    sent: Sent<'_>,
) -> Next {
    let Sent {
        conn,
        head,
        started,
        addr,
    } = sent;
    c.req.log.upstream_us = Some(started.elapsed().as_micros() as u64);
    c.req.log.upstream_start_us = started.saturating_duration_since(c.started.0).as_micros() as u64;
    c.req.log.upstream = Some(addr);
    let next = relay_head(w, cfg, c, t, conn, &head, started).await;
    c.up.resp_head = head;
    next
}

async fn relay_head(
    w: &Rc<Worker>,
    cfg: &Rc<Gen>,
    c: &mut Conn,
    t: &Target<'_>,
    mut conn: UpConn<'_>,
    head: &ResponseHead,
    started: Instant,
) -> Next {
    let image = cfg.image();
    let up_name = image
        .upstreams
        .get(t.up as usize)
        .map_or("", |u| u.name.as_str());
    let is_head = c.req.head.method.of(&c.req.hb) == b"HEAD";
    let timeout = Duration::from_millis(
        t.route
            .timeout_ms
            .unwrap_or(image.timeouts.request)
            .max(image.timeouts.idle),
    );
    // Streamed responses have no limit unless the config sets one; a buffered one is held
    // in memory and always has one.
    let limit = match (image.limits.response_body, t.route.buffer_response) {
        (Some(l), _) => l,
        (None, true) => image.limits.body,
        (None, false) => u64::MAX,
    };
    if let Framing::Length(n) = head.framing
        && n > limit
        && !is_head
        && !matches!(head.status, 204 | 304)
    {
        conn.close();
        crate::log::log!(
            "{} route {}: upstream {up_name} sent a {n}-byte body, over the {limit}-byte response limit: 502",
            c.req.request_id,
            t.route.name
        );
        let e = Error::new(
            ErrorKind::BadResponse,
            Side::Upstream,
            "response over the limit",
        );
        return Box::pin(respond::error(w, cfg, c, &e, None)).await;
    }
    let mut upstream_body = BodyIn::new(head.framing, limit);
    // Buffer the response when the route reads it (resp.json.*, cache store).
    let mut buffered = false;
    if t.route.buffer_response && !upstream_body.is_done() && head.status != 101 {
        if c.up.resp_body.capacity() == 0 {
            c.up.resp_body = w.pool.big();
        }
        c.up.resp_body.clear();
        loop {
            match upstream_body.drain_buffered(
                &mut conn.rb,
                &mut c.up.resp_body,
                OutFraming::Raw,
                Side::Upstream,
            ) {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => {
                    conn.close();
                    return Box::pin(respond::error(w, cfg, c, &as_upstream(e), None)).await;
                }
            }
            let r = read_some(
                &mut conn.stream,
                &mut conn.rb,
                &w.pool,
                crate::buffers::BIG * 4,
                (&c.watch, timeout),
                Side::Upstream,
            )
            .await;
            match r {
                Ok(n) if n > 0 => {}
                Ok(_) if head.framing == Framing::UntilClose => break,
                Ok(_) => {
                    conn.close();
                    let e = Error::new(ErrorKind::UpstreamClosed, Side::Upstream, "response body");
                    return Box::pin(respond::error(w, cfg, c, &e, None)).await;
                }
                Err(e) => {
                    conn.close();
                    return Box::pin(respond::error(w, cfg, c, &e, None)).await;
                }
            }
        }
        buffered = true;
    }
    // The response program.
    if let Some(prog) = &t.route.response {
        let rhb = std::mem::take(&mut c.up.rhb);
        let rbody = std::mem::take(&mut c.up.resp_body);
        let view = RespView {
            hb: &rhb,
            head,
            upstream: up_name,
            latency_ms: started.elapsed().as_millis() as u64,
            canary: t.canary,
            body: buffered.then_some(rbody.as_slice()),
        };
        let exit = Box::pin(crate::phase::run_phase(
            w,
            cfg,
            c,
            t.route,
            prog,
            Some(view),
        ))
        .await;
        c.up.rhb = rhb;
        c.up.resp_body = rbody;
        if c.req.edits.refused_response > 0 {
            crate::log::log!(
                "{} route {}: {} response header edit(s) refused (invalid value): field removed",
                c.req.request_id,
                t.route.name,
                c.req.edits.refused_response
            );
        }
        match exit {
            Ok(Exit::Done) | Ok(Exit::Forward { .. }) => {}
            Ok(Exit::Respond { status, body, json }) => {
                conn.close();
                return Box::pin(respond::mock(w, cfg, c, None, (status, body, json))).await;
            }
            Ok(Exit::Deny {
                status,
                message,
                retry_after,
            }) => {
                conn.close();
                let msg = message
                    .and_then(|m| prog.msgs.get(m as usize))
                    .map_or_else(|| crate::head::reason(status).to_owned(), String::clone);
                return Box::pin(respond::deny(w, cfg, c, status, &msg, retry_after)).await;
            }
            Ok(_) | Err(_) => {
                conn.close();
                let e = Error::new(ErrorKind::ProgramTrap, Side::Internal, "response program");
                return Box::pin(respond::error(w, cfg, c, &e, None)).await;
            }
        }
    }
    let status = c.req.edits.status.unwrap_or(head.status);
    let client11 = c.req.head.minor >= 1;
    let no_body = is_head || matches!(status, 100..=199 | 204 | 304);
    let replaced = c.req.edits.resp_body;
    // (framing written, outgoing body coding, close the client after)
    let (framing, how, close_after) = if head.status == 101 {
        (Framing::None, OutFraming::Raw, false)
    } else if let Some(span) = replaced {
        (
            Framing::Length(u64::from(span.1 - span.0)),
            OutFraming::Raw,
            false,
        )
    } else if buffered {
        (
            Framing::Length(c.up.resp_body.len() as u64),
            OutFraming::Raw,
            false,
        )
    } else if no_body {
        (Framing::None, OutFraming::Raw, false)
    } else {
        match head.framing {
            Framing::Length(n) => (Framing::Length(n), OutFraming::Raw, false),
            Framing::None => (Framing::Length(0), OutFraming::Raw, false),
            Framing::Chunked | Framing::UntilClose if client11 => {
                (Framing::Chunked, OutFraming::Chunked, false)
            }
            Framing::Chunked | Framing::UntilClose => (Framing::UntilClose, OutFraming::Raw, true),
        }
    };
    if c.out.capacity() == 0 {
        c.out = w.pool.big();
    }
    c.out.clear();
    let ch = conn_header(w, c, !close_after);
    let upgrade = head.status == 101 && t.upgrade;
    let reason = if c.req.edits.status.is_some_and(|s| s != head.status) {
        &[][..]
    } else {
        head.reason.of(&c.up.rhb)
    };
    let date = w.http_date();
    let out_head = ClientHead {
        status,
        reason,
        upstream: Some((head, &c.up.rhb)),
        framing,
        close: !ch.keep_alive,
        client_minor: c.req.head.minor,
        request_id: c.req.request_id.as_bytes(),
        via: b"",
        date: &date,
        edits: &c.req.edits.resp_headers,
    };
    c.req.log.status = status;
    write_response_head(&out_head, &mut c.out);
    if upgrade {
        let sent = c.flush_out(timeout).await;
        if sent.is_err() {
            conn.close();
            return Next::Close;
        }
        let ext = gw_proto::websocket::Extensions::from_fields(
            head.headers
                .iter()
                .filter(|(n, _)| {
                    n.of(&c.up.rhb)
                        .eq_ignore_ascii_case(b"sec-websocket-extensions")
                })
                .map(|(_, v)| v.of(&c.up.rhb)),
        );
        let (stream, rb) = conn.into_parts();
        return Next::Tunnel(Box::new(crate::tunnel::Upgraded {
            stream,
            rb,
            ext,
            route: c.req.route.unwrap_or(u32::MAX),
        }));
    }
    let keep = ch.keep_alive;
    if let Some(span) = replaced {
        if !is_head {
            c.out.extend_from_slice(c.req.edits.get(span).as_bytes());
        }
        let r = c.flush_out(timeout).await;
        conn.close();
        return if r.is_ok() && keep {
            Next::KeepAlive
        } else {
            Next::Close
        };
    }
    if buffered || no_body {
        if buffered && !is_head {
            c.out.extend_from_slice(&c.up.resp_body);
        }
        let r = c.flush_out(timeout).await;
        if head.keep_alive && (buffered || upstream_body.is_done()) && conn.rb.is_empty() {
            conn.release(w.now());
        } else {
            conn.close();
        }
        return if r.is_ok() && keep {
            Next::KeepAlive
        } else {
            Next::Close
        };
    }
    let mut pump = Pump {
        src: &mut conn.stream,
        src_side: Side::Upstream,
        rb: &mut conn.rb,
        dst: &mut c.stream,
        dst_side: Side::Downstream,
        out: &mut c.out,
        how,
        pool: &w.pool,
        read_timeout: timeout,
        write_timeout: Duration::from_millis(image.timeouts.idle),
        watch: &c.watch,
        sent: 0,
    };
    let r = pump.run(&mut upstream_body).await;
    c.req.log.bytes_out += pump.sent;
    match r {
        Ok(()) => {
            if head.keep_alive && head.framing != Framing::UntilClose && conn.rb.is_empty() {
                conn.release(w.now());
            } else {
                conn.close();
            }
            if keep { Next::KeepAlive } else { Next::Close }
        }
        Err(e) => {
            // the head is out: all we can do is cut the connection so the client sees it
            crate::log::log!("{} response body: {e}", c.req.request_id);
            conn.close();
            Next::Close
        }
    }
}

fn as_upstream(e: Error) -> Error {
    match e.kind {
        ErrorKind::Proto(_) | ErrorKind::BodyTooLarge => {
            Error::new(ErrorKind::BadResponse, Side::Upstream, "response body")
        }
        _ => e,
    }
}
