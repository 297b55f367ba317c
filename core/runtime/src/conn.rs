//! One client connection: read heads (keep-alive, pipelining), serve each request in order,
//! close on `Connection: close`, errors, idle or header-read timeouts and shutdown.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use gw_proto::{RequestHead, Status};

use crate::body::read_untimed;
use crate::buffers::RecvBuf;
use crate::client_stream::ClientStream;
use crate::deadline::Elapsed;
use crate::error::{Error, ErrorKind, Side};
use crate::state::{Conn, Next, Request, UpstreamResponse};
use crate::worker::{Gen, Worker};

/// Decrements the worker's connection count however the task ends.
pub struct ConnGuard(pub Rc<Worker>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.conns.set(self.0.conns.get().saturating_sub(1));
    }
}

/// The state of a connection (or of one HTTP/2 stream) over `stream`, built once.
pub fn new(
    w: &Worker,
    stream: ClientStream,
    peer: SocketAddr,
    local: Option<SocketAddr>,
) -> Box<Conn> {
    Box::new(Conn {
        stream,
        peer,
        local,
        rb: RecvBuf::new(w.pool.small()),
        out: Vec::new(),
        busy: false,
        active_tick: crate::spin::Spin::NEVER,
        started: (Instant::now(), 0),
        watch: w.watchdog.watch(),
        req: Request::default(),
        up: UpstreamResponse::default(),
    })
}

/// Serve HTTP/1.1 requests until the connection closes. `Conn` is boxed so moving it in does
/// not copy it into the task next to a second slot for it; `_guard` lives as long as the loop.
pub async fn serve_requests<G>(w: Rc<Worker>, _guard: G, mut c: Box<Conn>) {
    loop {
        let mut cfg = w.current();
        let next = match read_head(&w, &cfg, &mut c).await {
            // a request serves with the image current when its head was parsed
            // Boxed: the request's future (~3.5 KiB) then lives only while the request does,
            // and an idle connection's task stays small (bench/idle-mem.sh).
            Ok(true) => {
                cfg = w.current();
                Box::pin(crate::pipeline::serve(&w, &cfg, &mut c)).await
            }
            Ok(false) => Next::Close,
            Err(e) => {
                if e.kind != ErrorKind::ClientIo {
                    // a head that never parsed is a request of its own: its own id, no
                    // state of the one before
                    c.req.begin();
                    c.req.hb.clear();
                    c.req.head = RequestHead::default();
                    Box::pin(crate::respond::error(&w, &cfg, &mut c, &e, None)).await;
                }
                Next::Close
            }
        };
        if c.busy {
            c.busy = false;
            w.inflight.set(w.inflight.get().saturating_sub(1));
            w.spin.request_event(&mut c.active_tick);
            log_phase(&w, &cfg, &c);
        }
        w.pool.put(std::mem::take(&mut c.out));
        c.req.end(&w.pool);
        match next {
            Next::KeepAlive if !w.stop.is_stopped() => c.rb.shrink_idle(&w.pool),
            Next::KeepAlive | Next::Close => break,
            Next::Tunnel(up) => {
                // the tunnel keeps the configuration its upgrade was served with
                Box::pin(crate::tunnel::relay(&w, cfg, c.stream, c.rb, up)).await;
                return;
            }
        }
    }
    if matches!(c.stream, ClientStream::Tls(_)) {
        Box::pin(close_tls(&w, &mut c)).await;
    }
    c.rb.release(&w.pool);
}

/// Tell a TLS client the connection ends (`close_notify`), within `header_read`.
async fn close_tls(w: &Worker, c: &mut Conn) {
    if let ClientStream::Tls(t) = &mut c.stream {
        let timeout = Duration::from_millis(w.current().image().timeouts.header_read);
        let close = std::pin::pin!(t.close());
        let _ = c.watch.within(timeout, close).await;
    }
}

/// The log phase: every request that started (its first head byte arrived) ends here once,
/// whatever its exit: it is counted and measured for the metrics.
fn log_phase(w: &Worker, cfg: &Gen, c: &Conn) {
    w.ended.add_one();
    if !cfg.observed {
        return;
    }
    let log = &c.req.log;
    let route = c
        .req
        .route
        .and_then(|r| cfg.metric_ids.get(r as usize).copied())
        .unwrap_or(cfg.metric_none);
    let sample = crate::metrics::Sample {
        route,
        method: crate::metrics::method_index(c.req.head.method.of(&c.req.hb)),
        status: log.status,
        latency_us: c.started.0.elapsed().as_micros() as u64,
        upstream_us: log.upstream_us,
        bytes_in: c
            .rb
            .received
            .saturating_sub(c.started.1 + c.rb.len() as u64),
        bytes_out: log.bytes_out,
    };
    // metrics are kept for the admin endpoint; without one nothing could read them
    if cfg.image().admin.is_some() {
        let mut m = w.metrics.borrow_mut();
        if log.status != 0 {
            m.record(&sample);
        }
        if log.denied {
            let policy = log
                .policy
                .and_then(|s| cfg.image().plugins.get(usize::from(s)))
                .map_or("require", |p| p.plugin.as_str());
            m.denied(route, policy, log.status);
        }
    }
    if let Some(al) = &cfg.image().access_log {
        access_line(w, cfg, c, al, &sample);
    }
    if c.req.trace.sampled && cfg.loaded.exporter.is_some() {
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let total_ns = sample.latency_us * 1000;
        let route = c
            .req
            .route
            .and_then(|r| cfg.image().routes.get(r as usize))
            .map_or(crate::metrics::NO_ROUTE, |r| r.name.as_str());
        let upstream = log
            .upstream
            .zip(log.upstream_us)
            .map(|(a, us)| (log.upstream_start_us * 1000, us * 1000, a));
        let mut spans = w.spans.borrow_mut();
        c.req.trace.spans(
            route,
            &String::from_utf8_lossy(c.req.head.method.of(&c.req.hb)),
            log.status,
            now_ns.saturating_sub(total_ns),
            total_ns,
            upstream,
            &mut spans,
        );
        let full = spans.len() >= 256;
        drop(spans);
        if full {
            w.flush_spans();
        }
    }
}

/// Append the request's access log line to the worker's buffer (sampling as configured).
fn access_line(
    w: &Worker,
    cfg: &Gen,
    c: &Conn,
    al: &gw_program::AccessLog,
    s: &crate::metrics::Sample,
) {
    let full = {
        let mut a = w.access.borrow_mut();
        if al.sample.is_some_and(|(_, below)| s.status < below) {
            a.2 += 1;
            if !crate::access_log::keep(al, s.status, a.2) {
                return;
            }
        }
        let route = c
            .req
            .route
            .and_then(|r| cfg.image().routes.get(r as usize))
            .map(|r| r.name.as_str());
        let caller = cfg
            .caller_locals
            .iter()
            .find_map(|i| c.req.locals.get(*i).and_then(gw_program::Value::as_text));
        let line = crate::access_log::Line {
            request_id: &c.req.request_id,
            client: c.peer.ip(),
            caller,
            method: c.req.head.method.of(&c.req.hb),
            path: &c.req.path,
            route,
            status: s.status,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            latency_us: s.latency_us,
            upstream_us: s.upstream_us,
            upstream: c.req.log.upstream,
            user_agent: crate::host::header_in(&c.req.hb, &c.req.head.headers, b"user-agent"),
            trace_id: c.req.trace.trace_id(),
            reason: Some(c.req.denial.reason.as_str())
                .filter(|r| c.req.log.denied && !r.is_empty()),
        };
        crate::access_log::format(al, &line, &mut a.0);
        a.1 += 1;
        a.0.len() >= crate::access_log::BATCH
    };
    if full {
        w.flush_access_log();
    }
}

/// Read and parse the next request head into `c.req.head` / `c.req.hb`. `Ok(false)`: the client
/// closed (or idled out) between requests. Marks the connection busy from the first byte.
async fn read_head(w: &Worker, cfg: &Gen, c: &mut Conn) -> Result<bool, Error> {
    let t = &cfg.image().timeouts;
    let idle = Duration::from_millis(t.idle);
    let header_read = Duration::from_millis(t.header_read);
    let max = cfg.limits.head + cfg.limits.url + 1024;
    let mut started: Option<Instant> = None;
    loop {
        if !c.rb.is_empty() {
            if !c.busy {
                c.busy = true;
                let before = c.rb.received.saturating_sub(c.rb.len() as u64);
                c.started = (Instant::now(), before);
                w.inflight.set(w.inflight.get() + 1);
                w.spin.request_event(&mut c.active_tick);
            }
            match gw_proto::parse_request(c.rb.unread(), &cfg.limits, &mut c.req.head) {
                Ok(Status::Complete(n)) => {
                    c.req.hb.clear();
                    c.req
                        .hb
                        .extend_from_slice(c.rb.unread().get(..n).unwrap_or(&[]));
                    c.rb.consume(n);
                    return Ok(true);
                }
                // the header_read clock starts at the first incomplete head, so a complete
                // head (the usual case) costs no clock read
                Ok(Status::Partial) => {
                    started.get_or_insert_with(Instant::now);
                }
                Err(e) => return Err(Error::proto(e)),
            }
        }
        let wait = match started {
            // slowloris: the whole head must arrive within header_read of its first bytes
            Some(s) => match header_read.checked_sub(s.elapsed()) {
                Some(d) if !d.is_zero() => d,
                _ => {
                    return Err(Error::new(
                        ErrorKind::ClientTimeout,
                        Side::Downstream,
                        "head",
                    ));
                }
            },
            None => idle,
        };
        if w.stop.is_stopped() && c.rb.is_empty() {
            return Ok(false);
        }
        let n = if started.is_none() && c.rb.is_empty() && c.stream.has_multishot() {
            // Between requests: the multishot receive needs no buffer of ours until bytes
            // come, so an idle connection holds none (bench/idle-mem.sh).
            c.rb.release(&w.pool);
            let waited = {
                let ready = std::pin::pin!(c.stream.recv_ready());
                c.watch.within(wait, ready).await
            };
            c.rb.refill(&w.pool);
            if waited.is_err() {
                return Ok(false);
            }
            if !c.stream.has_multishot() {
                continue;
            }
            // something has arrived: this read does not wait, so it needs no timer
            read_untimed(&mut c.stream, &mut c.rb, &w.pool, max, Side::Downstream).await
        } else {
            // pinned here and passed by reference: moved into `within`, the read future would
            // be stored twice in the connection's task (bench/idle-mem.sh)
            let read = std::pin::pin!(read_untimed(
                &mut c.stream,
                &mut c.rb,
                &w.pool,
                max,
                Side::Downstream
            ));
            match c.watch.within(wait, read).await {
                Ok(r) => r,
                Err(Elapsed) => Err(Error::new(
                    ErrorKind::ClientTimeout,
                    Side::Downstream,
                    "read",
                )),
            }
        };
        let n = match n {
            Ok(n) => n,
            // nothing of a request yet: an idle close, not an error
            Err(e) if started.is_none() && c.rb.is_empty() => {
                let _ = e;
                return Ok(false);
            }
            Err(e) if e.kind == ErrorKind::Proto(gw_proto::ProtoError::HeadersTooLarge) => {
                return Err(Error::proto(gw_proto::ProtoError::HeadersTooLarge));
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            if c.rb.is_empty() {
                return Ok(false);
            }
            return Err(Error::new(ErrorKind::ClientIo, Side::Downstream, "head"));
        }
    }
}
