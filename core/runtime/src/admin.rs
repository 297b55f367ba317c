//! The admin endpoint (`admin 127.0.0.1:9901`), served by worker 0 on its own runtime, one
//! request per connection: `GET /metrics` (Prometheus text 0.0.4, every worker's metrics
//! merged at scrape time), `/healthz`, `/ready`, `/config`, `/upstreams`, and
//! `POST /cache/purge`. The compiler refuses an admin address that a `listen` also serves
//! (E0702), so it is never on a public listener.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

use crate::error::write_json_str;
use crate::worker::{Control, Worker};

/// Largest admin request head read.
const MAX_HEAD: usize = 8 * 1024;
/// How long a scrape waits for each worker's snapshot; a worker that does not answer (stuck
/// in a long program) is left out of that scrape and counted.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(2);
/// How long an admin client has to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What the control thread records for the admin endpoint. Shared by all threads.
#[derive(Debug, Default)]
pub struct AdminState {
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// The access log writer's counts.
    pub access: Arc<crate::access_log::Counts>,
}

/// What worker 0 needs to serve the admin endpoint.
pub struct Admin {
    pub listener: std::net::TcpListener,
    /// Every worker's control channel, worker 0's included.
    pub workers: Vec<flume::Sender<Control>>,
    pub state: Arc<AdminState>,
}

/// Accept admin connections until the worker stops.
pub async fn serve(w: Rc<Worker>, admin: Admin) {
    let Admin {
        listener,
        workers,
        state,
    } = admin;
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            crate::log::log!("admin: cannot register the listener: {e}");
            return;
        }
    };
    let workers = Rc::new(workers);
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = w.stop.wait() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                monoio::spawn(one(w.clone(), stream, workers.clone(), state.clone()));
            }
            Err(e) => {
                crate::log::log!("admin: accept: {e}");
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// One request, then close.
async fn one(
    w: Rc<Worker>,
    mut stream: TcpStream,
    workers: Rc<Vec<flume::Sender<Control>>>,
    state: Arc<AdminState>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut head = gw_proto::RequestHead::default();
    let limits = gw_proto::HeadLimits::default();
    let deadline = Instant::now() + READ_TIMEOUT;
    loop {
        let spare = Vec::with_capacity(4096);
        let read = monoio::time::timeout(
            deadline.saturating_duration_since(Instant::now()),
            stream.read(spare),
        )
        .await;
        let chunk = match read {
            Ok((Ok(n), chunk)) if n > 0 => chunk,
            _ => return,
        };
        buf.extend_from_slice(&chunk);
        match gw_proto::parse_request(&buf, &limits, &mut head) {
            Ok(gw_proto::Status::Complete(_)) => break,
            Ok(gw_proto::Status::Partial) if buf.len() < MAX_HEAD => {}
            _ => {
                let _ = reply(&mut stream, 400, "text/plain", b"bad request\n").await;
                return;
            }
        }
    }
    let method = head.method.of(&buf).to_vec();
    let path = head.path.of(&buf).to_vec();
    let (status, ctype, body) = match (method.as_slice(), path.as_slice()) {
        (b"GET", b"/metrics") => {
            let text = metrics(&w, &workers, &state).await;
            (
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                text.into_bytes(),
            )
        }
        (b"GET", b"/healthz") => (200, "text/plain", b"ok\n".to_vec()),
        (b"GET", b"/ready") => ready(&w),
        (b"GET", b"/config") => (200, "application/json", config(&w)),
        (b"GET", b"/upstreams") => (200, "application/json", upstreams(&w)),
        (b"POST", b"/cache/purge") => purge(&w, head.query.of(&buf)),
        (
            _,
            b"/metrics" | b"/healthz" | b"/ready" | b"/config" | b"/upstreams" | b"/cache/purge",
        ) => (405, "text/plain", b"method not allowed\n".to_vec()),
        _ => (404, "text/plain", b"not found\n".to_vec()),
    };
    let _ = reply(&mut stream, status, ctype, &body).await;
}

async fn reply(
    stream: &mut TcpStream,
    status: u16,
    ctype: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\ncache-control: no-store\r\n\r\n",
        gw_proto::canonical_reason(status),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    let (r, _) = stream.write_all(out).await;
    r.map(|_| ())
}

/// Ask every worker for its metrics and merge them.
async fn metrics(w: &Worker, workers: &[flume::Sender<Control>], state: &AdminState) -> String {
    let mut snaps = Vec::with_capacity(workers.len());
    let mut missing = 0u64;
    for tx in workers {
        let (reply, rx) = flume::bounded(1);
        if tx.send(Control::Snapshot(reply)).is_err() {
            missing += 1;
            continue;
        }
        match monoio::time::timeout(SNAPSHOT_WAIT, rx.recv_async()).await {
            Ok(Ok(s)) => snaps.push(s),
            _ => missing += 1,
        }
    }
    let cfg = w.current();
    let process = crate::metrics::Process {
        reloads_ok: state.reloads_ok.load(Ordering::Relaxed),
        reloads_failed: state.reloads_failed.load(Ordering::Relaxed),
        generation: cfg.loaded.meta.generation,
        workers: workers.len(),
        log_lines: state.access.written.load(Ordering::Relaxed),
        log_dropped: state.access.dropped.load(Ordering::Relaxed),
        spans_exported: crate::trace::COUNTS.exported.load(Ordering::Relaxed),
        spans_dropped: crate::trace::COUNTS.dropped.load(Ordering::Relaxed),
    };
    let mut text = crate::metrics::render(&snaps, &process);
    text.push_str(
        "# HELP gw_scrape_workers_missing Workers whose metrics this scrape could not read.\n\
         # TYPE gw_scrape_workers_missing gauge\n",
    );
    text.push_str(&format!("gw_scrape_workers_missing {missing}\n"));
    text
}

/// `POST /cache/purge[?route=NAME][&prefix=P]`: forget the cached responses of one route (its
/// name, `GET /pets/{id}`), or of every route, whose key (the path, then the host and key
/// values) starts with `prefix`; on every worker, each at its next use of the cache.
fn purge(w: &Worker, query: &[u8]) -> (u16, &'static str, Vec<u8>) {
    let param = |name: &[u8]| {
        crate::host::query_value(query, name).and_then(|v| v.as_str().map(str::to_owned))
    };
    let route = param(b"route");
    let prefix = param(b"prefix").unwrap_or_default();
    let cfg = w.current();
    let img = cfg.image();
    if let Some(r) = &route
        && !img.routes.iter().any(|x| &x.name == r)
    {
        return (
            404,
            "application/json",
            b"{\"message\":\"no such route\"}".to_vec(),
        );
    }
    let purged = img
        .plugins
        .iter()
        .zip(&cfg.loaded.factories)
        .filter(|(s, _)| s.plugin == "cache")
        .filter(|(s, _)| {
            route
                .as_ref()
                .is_none_or(|r| s.state_key.starts_with(&format!("{r}#cache#")))
        })
        .filter(|(_, f)| f.purge(&prefix))
        .count();
    (
        200,
        "application/json",
        format!("{{\"purged\":{purged}}}").into_bytes(),
    )
}

/// 200 when a config is loaded and every upstream has a server in service (on worker 0's
/// passive view and the active checks), else 503 naming the upstreams that have none.
fn ready(w: &Worker) -> (u16, &'static str, Vec<u8>) {
    let cfg = w.current();
    let now = Instant::now();
    let ups = w.upstreams.borrow();
    let down: Vec<&str> = cfg
        .image()
        .upstreams
        .iter()
        .enumerate()
        .filter(|(i, _)| !ups.healthy(*i, &cfg.loaded, now))
        .map(|(_, u)| u.name.as_str())
        .collect();
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"ready\":");
    out.extend_from_slice(if down.is_empty() { b"true" } else { b"false" });
    out.extend_from_slice(b",\"upstreamsWithoutServers\":[");
    for (i, d) in down.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(d, &mut out);
    }
    out.extend_from_slice(b"]}");
    (
        if down.is_empty() { 200 } else { 503 },
        "application/json",
        out,
    )
}

/// The config being served: its source, when it loaded, its generation, and its routes.
fn config(w: &Worker) -> Vec<u8> {
    let cfg = w.current();
    let meta = &cfg.loaded.meta;
    let img = cfg.image();
    let mut o = Vec::with_capacity(1024);
    o.extend_from_slice(b"{\"source\":");
    write_json_str(&meta.source, &mut o);
    o.extend_from_slice(b",\"sourceHash\":");
    write_json_str(&meta.source_hash, &mut o);
    o.extend_from_slice(
        format!(
            ",\"loadedAt\":{},\"generation\":{}",
            meta.loaded_at, meta.generation
        )
        .as_bytes(),
    );
    o.extend_from_slice(b",\"listeners\":[");
    for (i, l) in img.listeners.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        write_json_str(&l.addr.to_string(), &mut o);
    }
    o.extend_from_slice(b"],\"routes\":[");
    for (i, r) in img.routes.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"name\":");
        write_json_str(&r.name, &mut o);
        o.extend_from_slice(b",\"method\":");
        write_json_str(&r.method, &mut o);
        o.extend_from_slice(b",\"template\":");
        write_json_str(&r.pattern, &mut o);
        o.push(b'}');
    }
    o.extend_from_slice(b"],\"upstreams\":[");
    for (i, u) in img.upstreams.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        write_json_str(&u.name, &mut o);
    }
    o.extend_from_slice(b"]}");
    o
}

/// Each upstream's servers: address, the active check's verdict, and whether worker 0's
/// passive health has it ejected now.
fn upstreams(w: &Worker) -> Vec<u8> {
    let cfg = w.current();
    let now = Instant::now();
    let ups = w.upstreams.borrow();
    let mut o = Vec::with_capacity(512);
    o.push(b'[');
    for (i, u) in ups.list.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"name\":");
        write_json_str(&u.name, &mut o);
        o.extend_from_slice(b",\"servers\":[");
        for (j, s) in u.servers.iter().enumerate() {
            if j > 0 {
                o.push(b',');
            }
            o.extend_from_slice(b"{\"addr\":");
            write_json_str(&s.addr.to_string(), &mut o);
            let checked = cfg.loaded.health.is_up(i, j);
            o.extend_from_slice(
                format!(
                    ",\"healthCheck\":\"{}\",\"ejected\":{},\"inflight\":{}}}",
                    if checked { "up" } else { "down" },
                    s.is_ejected(now),
                    s.inflight
                )
                .as_bytes(),
            );
        }
        o.extend_from_slice(b"]}");
    }
    o.push(b']');
    o
}
