//! Responses gw makes itself: mock responses (`respond`), denials, and error responses with
//! the `{"message": .., "requestId": ..}` body, overridable per status by `on error` pages.

use std::rc::Rc;
use std::time::Duration;

use gw_proto::Framing;
use gw_vm::Exit;

use crate::body::{BodyIn, OutFraming};
use crate::error::{Error, ErrorKind, Side, write_error_body};
use crate::head::{ConnHeader, OwnResponse, write_own_response};
use crate::host::{ErrView, RespView};
use crate::state::{Conn, Next};
use crate::worker::{Gen, Worker};
use gw_program::RoutePlan;

/// What an `on error` page answered: status, body range in the frame's scratch, JSON.
type PageAnswer = (u16, Option<(u32, u32)>, bool);

/// A request body left unread is drained (so the connection can be reused) up to this size.
const DISCARD_MAX: u64 = 64 * 1024;

/// Answer a failure: its status, gw's JSON error body (or the `on error` page), and close
/// the connection when the failure leaves it unusable.
pub async fn error(
    w: &Rc<Worker>,
    cfg: &Rc<Gen>,
    c: &mut Conn,
    e: &Error,
    extra: Option<(&str, &str)>,
) -> Next {
    if e.side != Side::Downstream || e.cause.is_some() {
        let method = String::from_utf8_lossy(c.req.head.method.of(&c.req.hb));
        let route = c
            .req
            .route
            .and_then(|r| cfg.image().routes.get(r as usize))
            .map_or("-", |r| r.name.as_str());
        let server = e.server.map(|s| format!(" server {s}")).unwrap_or_default();
        crate::log::log!(
            "{} {method} {} route {route}{server}: {} {e}",
            c.req.request_id,
            c.req.path,
            e.status()
        );
    }
    let keep = !e.closes_client();
    let extra: &[(&str, &str)] = match &extra {
        Some(h) => std::slice::from_ref(h),
        None => &[],
    };
    send(w, cfg, c, (e.status(), None), e.message(), extra, keep).await
}

/// A denial (`require … else`, a plugin's `Call::Deny`): gw's answer for `status` through the
/// config's `on error` page, which sees `error.retry_after`, with `Retry-After` when set. A
/// plugin's account of its denial (`Effect::Deny*`) adds its headers, replaces gw's default
/// body, and puts its reason in the log.
pub async fn deny(
    w: &Rc<Worker>,
    cfg: &Rc<Gen>,
    c: &mut Conn,
    status: u16,
    message: &str,
    retry_after: Option<u64>,
) -> Next {
    c.req.log.denied = true;
    let denial = std::mem::take(&mut c.req.denial);
    let in_access_log = cfg.logs_reasons;
    if !denial.reason.is_empty()
        && !in_access_log
        && let Some(skipped) = REASON_LINES.with(|r| r.admit(std::time::Instant::now()))
    {
        let method = String::from_utf8_lossy(c.req.head.method.of(&c.req.hb));
        let skipped = if skipped > 0 {
            format!(" ({skipped} denial reasons not logged before this one)")
        } else {
            String::new()
        };
        crate::log::log!(
            "{} {method} {}: {status} {}{skipped}",
            c.req.request_id,
            c.req.path,
            denial.reason
        );
    }
    let value = retry_after.map(|s| s.to_string());
    let mut extra: Vec<(&str, &str)> = value
        .as_deref()
        .map(|v| ("retry-after", v))
        .into_iter()
        .collect();
    extra.extend(
        denial.headers.added().filter_map(|(n, v)| {
            Some((std::str::from_utf8(n).ok()?, std::str::from_utf8(v).ok()?))
        }),
    );
    let own = denial
        .body
        .as_ref()
        .map(|(ctype, body)| (ctype.as_str(), body.as_slice()));
    let next = send_with(w, cfg, c, (status, retry_after), message, &extra, true, own).await;
    c.req.denial = denial;
    // the reason stays for the request's access log line
    let reason = std::mem::take(&mut c.req.denial.reason);
    c.req.denial.clear();
    if in_access_log {
        c.req.denial.reason = reason;
    }
    next
}

/// Denial reasons a worker writes to stderr per second, when the access log does not carry
/// them: a flood of refused requests must not become a flood of writes.
const REASON_LINES_PER_SEC: u32 = 100;

/// The stderr budget of denial reasons: [`REASON_LINES_PER_SEC`] a second, and a count of
/// those left out, reported on the next line written.
#[derive(Debug)]
struct ReasonLines {
    second: std::cell::Cell<Option<std::time::Instant>>,
    written: std::cell::Cell<u32>,
    skipped: std::cell::Cell<u64>,
}

impl ReasonLines {
    const fn new() -> ReasonLines {
        ReasonLines {
            second: std::cell::Cell::new(None),
            written: std::cell::Cell::new(0),
            skipped: std::cell::Cell::new(0),
        }
    }

    /// Whether a line may be written at `now`, with the count of lines left out before it;
    /// `None`: leave it out.
    fn admit(&self, now: std::time::Instant) -> Option<u64> {
        let new_second = self
            .second
            .get()
            .is_none_or(|s| now.saturating_duration_since(s).as_secs() >= 1);
        if new_second {
            self.second.set(Some(now));
            self.written.set(0);
        }
        if self.written.get() >= REASON_LINES_PER_SEC {
            self.skipped.set(self.skipped.get() + 1);
            return None;
        }
        self.written.set(self.written.get() + 1);
        Some(self.skipped.replace(0))
    }
}

thread_local! {
    /// The worker's budget (a worker is a thread).
    static REASON_LINES: ReasonLines = const { ReasonLines::new() };
}

async fn send(
    w: &Rc<Worker>,
    cfg: &Rc<Gen>,
    c: &mut Conn,
    status: (u16, Option<u64>),
    message: &str,
    extra: &[(&str, &str)],
    keep: bool,
) -> Next {
    send_with(w, cfg, c, status, message, extra, keep, None).await
}

/// `own`: the content type and body in place of gw's default body.
#[allow(clippy::too_many_arguments)]
async fn send_with(
    w: &Rc<Worker>,
    cfg: &Rc<Gen>,
    c: &mut Conn,
    (status, retry_after): (u16, Option<u64>),
    message: &str,
    extra: &[(&str, &str)],
    keep: bool,
    own: Option<(&str, &[u8])>,
) -> Next {
    if c.req.request_id.is_empty() {
        w.request_id(&mut c.req.request_id);
    }
    // an `on error` page runs its program with error.* fields; its respond wins
    let page = cfg
        .image()
        .error_pages
        .iter()
        .find(|p| p.statuses.contains(&status))
        .cloned();
    c.req.edits.clear();
    // before the page, whose answer the next program run would overwrite in the frame
    crate::cors::own_answer(w, cfg, c).await;
    let mut custom: Option<PageAnswer> = None;
    let mut page_edits = false;
    if let Some(page) = page {
        let ev = ErrView {
            status,
            message,
            retry_after,
        };
        match crate::phase::run_program(w, cfg, c, None, &page.program, None, Some(ev)).await {
            Ok(Exit::Respond {
                status: s,
                body,
                json,
            }) => custom = Some((s, body, json)),
            // `body json { }` / `set status` in the page: taken from the edits below
            Ok(Exit::Done) => page_edits = true,
            Ok(other) => crate::log::log!("on error {status}: unexpected end {other:?}"),
            Err(err) => crate::log::log!("on error {status}: {err}"),
        }
    }
    let keep = keep && settle_body(w, cfg, c).await;
    if c.out.capacity() == 0 {
        c.out = w.pool.big();
    }
    c.out.clear();
    let conn = conn_header(w, c, keep);
    let mut default_body = w.pool.small();
    // the page's edits lend their text out while the head edits are written
    let text = std::mem::take(&mut c.req.edits.text);
    let page_body = c
        .req
        .edits
        .resp_body
        .filter(|_| page_edits)
        .and_then(|(a, b)| text.get(a as usize..b as usize));
    let status = match c.req.edits.status {
        Some(s) if page_edits => s,
        _ => status,
    };
    let (status, ctype, body): (u16, Option<&str>, &[u8]) = match (custom, page_body) {
        (None, Some(b)) => (status, Some("application/json"), b.as_bytes()),
        (custom, _) => match custom {
            Some((s, Some(range), json)) => (
                s,
                Some(content_type(json)),
                c.req.frame.body(range).as_bytes(),
            ),
            Some((s, None, _)) => (s, None, &[]),
            None if let Some((ctype, body)) = own => (status, Some(ctype), body),
            None => {
                write_error_body(message, &c.req.request_id, &mut default_body);
                (status, Some("application/json"), &default_body)
            }
        },
    };
    let date = w.http_date();
    let r = OwnResponse {
        status,
        content_type: ctype,
        body,
        head_only: is_head(c),
        request_id: &c.req.request_id,
        conn,
        extra,
        date: &date,
    };
    c.req.log.status = r.status;
    write_own_response(&r, &mut c.req.edits, &mut c.out);
    c.req.edits.text = text;
    w.pool.put(default_body);
    finish(w, cfg, c, keep).await
}

/// `listen … { redirect https }`: a 308 to the request's `https://` URL (the host without
/// its port, the target as sent), so clients repeat the method and body there. A request
/// without a host gets a 400.
pub async fn redirect_https(w: &Rc<Worker>, cfg: &Rc<Gen>, c: &mut Conn) -> Next {
    let host = crate::host::host_without_port(
        std::str::from_utf8(c.req.head.host.of(&c.req.hb)).unwrap_or(""),
    );
    if host.is_empty() {
        let e = Error::proto(gw_proto::ProtoError::BadRequest("no host to redirect to"));
        return error(w, cfg, c, &e, None).await;
    }
    let path = c.req.head.path.of(&c.req.hb);
    let query = c.req.head.query.of(&c.req.hb);
    let mut location = String::with_capacity(8 + host.len() + path.len() + query.len() + 1);
    location.push_str("https://");
    location.push_str(host);
    // an absolute-form target without a path means `/`
    match std::str::from_utf8(path) {
        Ok(p) if p.starts_with('/') => location.push_str(p),
        _ => location.push('/'),
    }
    if !query.is_empty() {
        location.push('?');
        location.push_str(std::str::from_utf8(query).unwrap_or(""));
    }
    if c.req.request_id.is_empty() {
        w.request_id(&mut c.req.request_id);
    }
    let keep = settle_body(w, cfg, c).await;
    if c.out.capacity() == 0 {
        c.out = w.pool.big();
    }
    c.out.clear();
    let date = w.http_date();
    let r = OwnResponse {
        status: 308,
        content_type: None,
        body: &[],
        head_only: is_head(c),
        request_id: &c.req.request_id,
        conn: conn_header(w, c, keep),
        extra: &[("location", &location)],
        date: &date,
    };
    c.req.log.status = r.status;
    write_own_response(&r, &mut c.req.edits, &mut c.out);
    finish(w, cfg, c, keep).await
}

/// Answer a `respond` target: the body is in the frame's scratch.
///
/// `route` is given for the request program's `respond`: the route's response program then
/// runs on it as on an upstream's response (`resp.status`, `resp.header.*`, and `resp.json.*`
/// where the route buffers responses), and its edits apply.
pub async fn mock(
    w: &Rc<Worker>,
    cfg: &Rc<Gen>,
    c: &mut Conn,
    route: Option<&RoutePlan>,
    (status, body, json): (u16, Option<(u32, u32)>, bool),
) -> Next {
    let keep = settle_body(w, cfg, c).await;
    // out of the frame, which the response program reuses
    let mut owned = std::mem::take(&mut c.up.resp_body);
    owned.clear();
    if let Some(range) = body {
        owned.extend_from_slice(c.req.frame.body(range).as_bytes());
    }
    let mut status = status;
    let mut ctype = body.map(|_| content_type(json));
    if let Some(route) = route
        && let Some(prog) = &route.response
    {
        match Box::pin(local_response_program(
            w, cfg, c, route, prog, status, ctype, &owned,
        ))
        .await
        {
            Ok(Exit::Done | Exit::Forward { .. }) => {}
            Ok(Exit::Deny {
                status,
                message,
                retry_after,
            }) => {
                c.up.resp_body = owned;
                let msg = message
                    .and_then(|m| prog.msgs.get(m as usize))
                    .map_or_else(|| crate::head::reason(status).to_owned(), String::clone);
                return Box::pin(deny(w, cfg, c, status, &msg, retry_after)).await;
            }
            other => {
                c.up.resp_body = owned;
                crate::log::log!(
                    "route {}: response program on a local response: {other:?}",
                    route.name
                );
                let e = Error::new(ErrorKind::ProgramTrap, Side::Internal, "response program");
                return Box::pin(error(w, cfg, c, &e, None)).await;
            }
        }
        status = c.req.edits.status.unwrap_or(status);
        if let Some(span) = c.req.edits.resp_body {
            owned.clear();
            owned.extend_from_slice(c.req.edits.get(span).as_bytes());
            ctype = Some(content_type(true));
        }
    }
    if c.out.capacity() == 0 {
        c.out = w.pool.big();
    }
    c.out.clear();
    let conn = conn_header(w, c, keep);
    let date = w.http_date();
    let r = OwnResponse {
        status,
        content_type: ctype,
        body: &owned,
        head_only: is_head(c),
        request_id: &c.req.request_id,
        conn,
        extra: &[],
        date: &date,
    };
    c.req.log.status = r.status;
    write_own_response(&r, &mut c.req.edits, &mut c.out);
    c.up.resp_body = owned;
    finish(w, cfg, c, keep).await
}

/// Run the route's response program on a response gw made itself: the program sees its
/// status and the headers set so far as `resp.*`, as it would an upstream's.
#[allow(clippy::too_many_arguments)]
async fn local_response_program(
    w: &Rc<Worker>,
    cfg: &Rc<Gen>,
    c: &mut Conn,
    route: &RoutePlan,
    prog: &gw_program::Program,
    status: u16,
    ctype: Option<&str>,
    body: &[u8],
) -> Result<Exit, Error> {
    let mut rhb = std::mem::take(&mut c.up.rhb);
    rhb.clear();
    gw_proto::write_status_line(status, b"", &mut rhb);
    for (n, v) in c.req.edits.resp_headers.added() {
        gw_proto::write_header(n, v, &mut rhb);
    }
    if let Some(ct) = ctype
        && c.req
            .edits
            .resp_headers
            .set_value(b"content-type")
            .is_none()
    {
        gw_proto::write_header(b"content-type", ct.as_bytes(), &mut rhb);
    }
    rhb.extend_from_slice(b"\r\n");
    let mut head = std::mem::take(&mut c.up.resp_head);
    let parsed = gw_proto::parse_response(&rhb, false, &mut head);
    let exit = match parsed {
        Ok(gw_proto::Status::Complete(_)) => {
            let view = RespView {
                hb: &rhb,
                head: &head,
                upstream: "",
                latency_ms: 0,
                canary: false,
                body: route.buffer_response.then_some(body),
            };
            crate::phase::run_phase(w, cfg, c, route, prog, Some(view)).await
        }
        _ => Err(Error::new(
            ErrorKind::ProgramTrap,
            Side::Internal,
            "local response head",
        )),
    };
    c.up.rhb = rhb;
    c.up.resp_head = head;
    exit
}

/// Answer with the response a plugin put into the host (`Call::Respond`): its status, the
/// headers it set and the body it set, if any.
pub async fn plugin(w: &Rc<Worker>, cfg: &Rc<Gen>, c: &mut Conn, status: u16) -> Next {
    // a cached response goes to a browser like the upstream's did: with its CORS headers
    crate::cors::own_answer(w, cfg, c).await;
    let keep = settle_body(w, cfg, c).await;
    if c.out.capacity() == 0 {
        c.out = w.pool.big();
    }
    c.out.clear();
    let conn = conn_header(w, c, keep);
    // the body lives in the edits; lend it out while the head edits are written
    let text = std::mem::take(&mut c.req.edits.text);
    let bytes = c.req.edits.resp_bytes.take();
    let body = match &bytes {
        Some(b) => b.as_slice(),
        None => c
            .req
            .edits
            .resp_body
            .and_then(|(a, b)| text.get(a as usize..b as usize))
            .unwrap_or("")
            .as_bytes(),
    };
    let date = w.http_date();
    let r = OwnResponse {
        status,
        content_type: None,
        body,
        head_only: is_head(c),
        request_id: &c.req.request_id,
        conn,
        extra: &[],
        date: &date,
    };
    c.req.log.status = r.status;
    write_own_response(&r, &mut c.req.edits, &mut c.out);
    c.req.edits.text = text;
    finish(w, cfg, c, keep).await
}

fn content_type(json: bool) -> &'static str {
    if json {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    }
}

fn is_head(c: &Conn) -> bool {
    c.req.head.method.of(&c.req.hb) == b"HEAD"
}

/// The connection header for a response on `c`.
pub fn conn_header(w: &Worker, c: &Conn, keep: bool) -> ConnHeader {
    ConnHeader {
        keep_alive: keep && !c.req.must_close && c.req.head.keep_alive && !w.stop.is_stopped(),
        minor: c.req.head.minor,
    }
}

async fn finish(w: &Worker, cfg: &Gen, c: &mut Conn, keep: bool) -> Next {
    let t = Duration::from_millis(cfg.image().timeouts.idle);
    let sent = c.flush_out(t).await;
    if sent.is_ok() && conn_header(w, c, keep).keep_alive {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

/// A request body nobody read: drain a small one so the connection stays usable. False
/// when the connection must close instead.
async fn settle_body(w: &Worker, cfg: &Gen, c: &mut Conn) -> bool {
    let framing = c.req.head.framing;
    let mut body = BodyIn::new(framing, DISCARD_MAX);
    if body.is_done() || c.req.body_read {
        return true;
    }
    // the client waits for our 100 before sending: it will not send, so do not wait
    if c.req.head.expect_continue && c.rb.is_empty() {
        return false;
    }
    if let Framing::Length(n) = framing
        && n > DISCARD_MAX
    {
        return false;
    }
    let mut sink = Vec::new();
    let t = Duration::from_millis(cfg.image().timeouts.header_read.min(2_000));
    loop {
        match body.drain_buffered(&mut c.rb, &mut sink, OutFraming::Discard, Side::Downstream) {
            Ok(true) => {
                c.req.body_read = true;
                return true;
            }
            Ok(false) => {}
            Err(_) => return false,
        }
        let read = crate::body::read_some(
            &mut c.stream,
            &mut c.rb,
            &w.pool,
            crate::buffers::BIG,
            (&c.watch, t),
            Side::Downstream,
        )
        .await;
        if !matches!(read, Ok(n) if n > 0) {
            return false;
        }
    }
}

#[cfg(test)]
mod reason_tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn reasons_beyond_the_budget_are_counted_and_reported_on_the_next_line() {
        let r = ReasonLines::new();
        let t0 = Instant::now();
        for _ in 0..REASON_LINES_PER_SEC {
            assert_eq!(r.admit(t0), Some(0));
        }
        assert_eq!(r.admit(t0 + Duration::from_millis(500)), None);
        assert_eq!(r.admit(t0 + Duration::from_millis(999)), None);
        // a new second: written, with the two left out before it
        assert_eq!(r.admit(t0 + Duration::from_secs(1)), Some(2));
        assert_eq!(r.admit(t0 + Duration::from_secs(1)), Some(0));
    }
}
