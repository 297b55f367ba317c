//! The HTTP/1.1 client plugins use for their own calls (an authorizer, a key set's URL): to a
//! config's upstream through the worker's upstream pools (balancing, health, pooled
//! keep-alive connections), or to a service by address over the client's own keep-alive
//! connections, reused only when nothing arrived on them while idle, over TLS for an
//! `https://` call (`HttpRequest::tls`: the config's `Loaded::plugin_tls`, the name the Host
//! without its port). One timeout bounds each exchange; it reads with the runtime's buffers
//! and parsers.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::Duration;

use gw_plugin::{HttpClient, HttpError, HttpFuture, HttpRequest, HttpResponse};
use gw_proto::{Framing, ResponseHead, Status};
use rustls::pki_types::ServerName;

use crate::body::{BodyIn, OutFraming, read_untimed, write_untimed};
use crate::buffers::{BufPool, RecvBuf};
use crate::error::{ErrorKind, Side};
use crate::transport::Transport;
use crate::upstream::conn::Picked;
use crate::upstream::stream::UpStream;
use crate::worker::Worker;

/// Largest response body a plugin's call reads.
const MAX_BODY: u64 = 4 * 1024 * 1024;
/// Largest response head.
const MAX_HEAD: usize = 64 * 1024;
/// Idle connections kept per worker.
const MAX_IDLE: usize = 64;

/// A worker's client (cheap to clone: the state is shared).
#[derive(Clone)]
pub(crate) struct WorkerHttp(Rc<Inner>);

struct Inner {
    pool: BufPool,
    /// Idle connections by address, and by server name for TLS ones.
    idle: RefCell<Vec<(SocketAddr, Option<String>, UpStream)>>,
    /// The worker, for calls to the config's upstreams (its pools and balancing).
    worker: Weak<Worker>,
}

impl WorkerHttp {
    pub(crate) fn new(worker: Weak<Worker>) -> WorkerHttp {
        WorkerHttp(Rc::new(Inner {
            pool: BufPool::new(),
            idle: RefCell::new(Vec::new()),
            worker,
        }))
    }
}

impl HttpClient for WorkerHttp {
    fn send(&self, addr: SocketAddr, request: HttpRequest, timeout: Duration) -> HttpFuture {
        let inner = self.0.clone();
        Box::pin(async move {
            match monoio::time::timeout(timeout, exchange(&inner, addr, &request)).await {
                Ok(r) => r,
                Err(_) => Err(HttpError::Timeout),
            }
        })
    }

    fn send_upstream(
        &self,
        upstream: u16,
        request: HttpRequest,
        timeout: Duration,
    ) -> Option<HttpFuture> {
        let inner = self.0.clone();
        Some(Box::pin(async move {
            let w = inner.worker.upgrade().ok_or(HttpError::Closed)?;
            via_upstream(&w, upstream, &request, timeout).await
        }))
    }
}

/// One exchange with a server of upstream `up`, picked, pooled and health-tracked as a
/// proxied request's would be; `timeout` bounds the connect and the exchange.
async fn via_upstream(
    w: &Worker,
    up: u16,
    req: &HttpRequest,
    timeout: Duration,
) -> Result<HttpResponse, HttpError> {
    let cfg = w.current();
    let up = usize::from(up);
    let plan = cfg
        .loaded
        .image
        .upstreams
        .get(up)
        .ok_or_else(|| HttpError::Io("no such upstream".into()))?;
    let now = w.now();
    let server = w
        .upstreams
        .borrow_mut()
        .pick(up, None, None, &cfg.loaded, now)
        .ok_or_else(|| HttpError::Io("no healthy server".into()))?;
    let addr = w
        .upstreams
        .borrow()
        .addr(up, server)
        .ok_or_else(|| HttpError::Io("no such upstream".into()))?;
    let picked = Picked {
        upstreams: &w.upstreams,
        fail_on: plan.fail_on,
        up,
        server,
        addr,
    };
    let (stream, _) = picked
        .open(false, timeout, w.multishot, now)
        .await
        .map_err(|e| match e.kind {
            ErrorKind::ConnectTimeout => HttpError::Timeout,
            _ => io(e),
        })?;
    let left = timeout.saturating_sub(w.now().saturating_duration_since(now));
    let (resp, stream) = match monoio::time::timeout(left, over(&w.pool, stream, req)).await {
        Ok(r) => r?,
        Err(_) => {
            picked.timed_out(w.now());
            return Err(HttpError::Timeout);
        }
    };
    picked.answered(resp.status, w.now());
    if let Some(s) = stream {
        w.upstreams.borrow_mut().put(up, server, s, w.now());
    }
    Ok(resp)
}

fn io(e: impl std::fmt::Display) -> HttpError {
    HttpError::Io(e.to_string())
}

/// One request and its whole response; the connection goes back when it can be reused.
async fn exchange(
    inner: &Inner,
    addr: SocketAddr,
    req: &HttpRequest,
) -> Result<HttpResponse, HttpError> {
    let pool = &inner.pool;
    let name = req.tls.then(|| {
        let host = crate::host::host_without_port(&req.host);
        // an IPv6 literal's name is its address without the brackets
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    });
    let pooled = {
        let mut idle = inner.idle.borrow_mut();
        let mut found = None;
        while let Some(i) = idle.iter().rposition(|(a, n, _)| *a == addr && *n == name) {
            let (_, _, mut s) = idle.swap_remove(i);
            if s.is_quiet() {
                found = Some(s);
                break;
            }
        }
        found
    };
    let stream = match pooled {
        Some(s) => s,
        None => connect(inner, addr, name.as_deref()).await?,
    };
    let (resp, stream) = over(pool, stream, req).await?;
    if let Some(s) = stream {
        let mut idle = inner.idle.borrow_mut();
        if idle.len() < MAX_IDLE {
            idle.push((addr, name, s));
        }
    }
    Ok(resp)
}

/// A new connection to `addr`, over TLS to the server `name` when there is one.
async fn connect(
    inner: &Inner,
    addr: SocketAddr,
    name: Option<&str>,
) -> Result<UpStream, HttpError> {
    let tls = match name {
        None => None,
        Some(name) => {
            let config = inner
                .worker
                .upgrade()
                .and_then(|w| w.current().loaded.plugin_tls.clone())
                .ok_or_else(|| {
                    HttpError::Io("an https:// call its policy did not declare".into())
                })?;
            let name = ServerName::try_from(name.to_owned()).map_err(|_| {
                HttpError::Io(format!("`{name}` is not a DNS name or an IP address"))
            })?;
            Some((config, name))
        }
    };
    crate::upstream::conn::open_to(addr, tls, false)
        .await
        .map_err(io)
}

/// Send `req` on `stream` and read the whole response; the stream comes back when it can be
/// reused.
async fn over<S: Transport>(
    pool: &BufPool,
    mut stream: S,
    req: &HttpRequest,
) -> Result<(HttpResponse, Option<S>), HttpError> {
    let mut out = Vec::with_capacity(256 + req.body.len());
    out.extend_from_slice(req.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(req.host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (n, v) in &req.headers {
        gw_proto::write_header(n.as_bytes(), v.as_bytes(), &mut out);
    }
    if !req.body.is_empty() || !matches!(req.method.as_str(), "GET" | "HEAD") {
        gw_proto::write_header(
            b"Content-Length",
            req.body.len().to_string().as_bytes(),
            &mut out,
        );
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&req.body);
    write_untimed(&mut stream, &mut out, Side::Upstream)
        .await
        .map_err(io)?;

    let mut rb = RecvBuf::new(pool.big());
    let result = read_response(pool, &mut stream, &mut rb, req.method == "HEAD").await;
    let reusable = matches!(&result, Ok((_, true))) && rb.is_empty();
    rb.release(pool);
    let (resp, _) = result?;
    Ok((resp, reusable.then_some(stream)))
}

/// The response on `stream`: interim answers skipped, the body read whole. The flag says
/// whether the connection may be reused.
async fn read_response<S: Transport>(
    pool: &BufPool,
    stream: &mut S,
    rb: &mut RecvBuf,
    head_request: bool,
) -> Result<(HttpResponse, bool), HttpError> {
    let mut head = ResponseHead::default();
    let n = loop {
        if !rb.is_empty() {
            match gw_proto::parse_response(rb.unread(), head_request, &mut head) {
                Ok(Status::Complete(n)) if (100..200).contains(&head.status) => {
                    rb.consume(n);
                    continue;
                }
                Ok(Status::Complete(n)) => break n,
                Ok(Status::Partial) => {}
                Err(e) => return Err(HttpError::BadResponse(format!("{e:?}"))),
            }
        }
        let got = read_untimed(stream, rb, pool, MAX_HEAD, Side::Upstream)
            .await
            .map_err(io)?;
        if got == 0 {
            return Err(HttpError::Io("closed before a response".into()));
        }
    };
    let hb = rb.unread().get(..n).unwrap_or(&[]);
    let headers = head
        .headers
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k.of(hb)).into_owned(),
                String::from_utf8_lossy(v.of(hb)).into_owned(),
            )
        })
        .collect();
    let status = head.status;
    rb.consume(n);
    let mut body = Vec::new();
    let mut framing = BodyIn::new(head.framing, MAX_BODY);
    loop {
        let done = framing
            .drain_buffered(rb, &mut body, OutFraming::Raw, Side::Upstream)
            .map_err(|e| HttpError::BadResponse(e.to_string()))?;
        if done {
            break;
        }
        let got = read_untimed(stream, rb, pool, 64 * 1024, Side::Upstream)
            .await
            .map_err(io)?;
        if got == 0 {
            if head.framing == Framing::UntilClose {
                break;
            }
            return Err(HttpError::Io("closed in the body".into()));
        }
    }
    let reusable = head.keep_alive && head.framing != Framing::UntilClose;
    Ok((
        HttpResponse {
            status,
            headers,
            body,
        },
        reusable,
    ))
}
