//! An HTTP/2 client connection (RFC 9113), served with the `h2` crate over [`H2Io`]. The
//! connection's task drives `h2` (frames, HPACK, flow control, the stream states) and starts a
//! task per stream, which serves the stream's request with the HTTP/1.1 request path through a
//! [`StreamPipe`] (`h2_stream.rs`): the same routing, programs, policies, upstreams, pages,
//! metrics and access log.
//!
//! Limits: `limits { streams }` concurrent streams; `limits { headers }` the header list
//! (HPACK-decoded, as `SETTINGS_MAX_HEADER_LIST_SIZE`), which also bounds a header block of
//! CONTINUATION frames; a stream window of 256 KiB and a connection window of 1 MiB, so a
//! connection holds at most 1 MiB of request bodies; 64 KiB queued per stream for sending.
//! `h2` ends with GOAWAY the rapid-reset pattern (streams reset before they were accepted),
//! runs of CONTINUATION frames, empty DATA frames past its budget and window updates that
//! overflow (FLOW_CONTROL_ERROR); [`FrameCounts`] the other floods. Extended CONNECT (RFC
//! 8441, WebSockets over HTTP/2) is not offered. The connection ends with a graceful GOAWAY
//! when it idles for `timeouts { idle }` with no stream open, when the worker drains, or when
//! a reload removes its listener.

use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::Reason;
use h2::server::{Connection, SendResponse};

use crate::client_stream::ClientStream;
use crate::h2_io::{FrameCounts, H2Io};
use crate::h2_stream::{StreamCounts, StreamPipe};
use crate::state::Conn;
use crate::stop::Stop;
use crate::worker::Worker;

/// Stream flow-control window.
const STREAM_WINDOW: u32 = 256 * 1024;
/// Connection flow-control window: the most request body bytes a connection holds.
const CONN_WINDOW: u32 = 1024 * 1024;
/// Response bytes queued per stream before its writer waits.
const SEND_BUFFER: usize = 64 * 1024;

/// What a stream's task needs of its connection.
struct Shared {
    peer: std::net::SocketAddr,
    local: Option<std::net::SocketAddr>,
    tls: bool,
    subject: Option<Rc<str>>,
    streams: Rc<StreamCounts>,
}

enum Event {
    Stream(http::Request<h2::RecvStream>, SendResponse<Bytes>),
    /// `FrameCounts` found a flood.
    Calm(&'static str),
    /// The connection ended (an error `h2` answered with GOAWAY, or a close).
    End,
    /// The worker stops or the listener is gone.
    Drain,
    Tick,
}

/// Counts the connection in the worker's in-flight work while it drains, so the worker
/// waits for its streams and its GOAWAY.
struct Draining(Rc<Worker>);

impl Drop for Draining {
    fn drop(&mut self) {
        self.0.inflight.set(self.0.inflight.get().saturating_sub(1));
    }
}

/// Serve an HTTP/2 connection whose first bytes (the preface, in part or whole) are in
/// `c.rb`, until it closes.
pub async fn serve<G>(w: Rc<Worker>, _guard: G, c: Box<Conn>, listener: Rc<Stop>) {
    let Conn {
        stream,
        peer,
        local,
        mut rb,
        ..
    } = *c;
    let first = rb.unread().to_vec();
    rb.release(&w.pool);
    let (tcp, tls, cipher, subject) = match stream {
        ClientStream::Plain(s) => (s, None, Vec::new(), None),
        ClientStream::Tls(t) => {
            let subject = t.client_subject().map(Rc::from);
            let (tcp, tls, rest) = t.into_parts();
            (tcp, Some(tls), rest, subject)
        }
        ClientStream::H2(_) => return,
    };
    let shared = Rc::new(Shared {
        peer,
        local,
        tls: tls.is_some(),
        subject,
        streams: Rc::new(StreamCounts::default()),
    });
    let counts = Rc::new(FrameCounts::default());
    let io = H2Io::new(tcp, tls, first, cipher, counts.clone());
    let cfg = w.current();
    let image = cfg.image();
    let (idle, header_read, drain) = (
        Duration::from_millis(image.timeouts.idle),
        Duration::from_millis(image.timeouts.header_read),
        Duration::from_millis(image.timeouts.drain),
    );
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(image.limits.h2_streams)
        .max_header_list_size(image.limits.headers)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONN_WINDOW)
        .max_send_buffer_size(SEND_BUFFER);
    drop(cfg);
    let mut conn: Connection<H2Io, Bytes> =
        match monoio::time::timeout(header_read, builder.handshake(io)).await {
            Ok(Ok(conn)) => conn,
            _ => return,
        };
    let mut calmed = false;
    let mut draining: Option<(Instant, Option<Draining>)> = None;
    loop {
        let wait = match &draining {
            Some((until, _)) => until.saturating_duration_since(Instant::now()),
            None if shared.streams.active.get() == 0 => {
                idle.saturating_sub(shared.streams.last_end.get().elapsed())
            }
            None => idle,
        };
        let open = draining.is_none();
        let event = monoio::select! {
            e = next(&mut conn, &counts, calmed) => e,
            _ = monoio::time::sleep(wait) => Event::Tick,
            _ = w.stop.wait(), if open => Event::Drain,
            _ = listener.wait(), if open => Event::Drain,
        };
        match event {
            Event::Stream(req, respond) => {
                shared.streams.active.set(shared.streams.active.get() + 1);
                monoio::spawn(serve_stream(w.clone(), shared.clone(), req, respond));
            }
            Event::Calm(what) => {
                crate::log::log!(
                    "worker {}: HTTP/2 client {peer}: {what} past their limit: GOAWAY ENHANCE_YOUR_CALM",
                    w.id
                );
                calmed = true;
                conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
                draining.get_or_insert((Instant::now() + header_read, None));
            }
            Event::End => break,
            Event::Drain => {
                conn.graceful_shutdown();
                let counted = w.stop.is_stopped().then(|| {
                    w.inflight.set(w.inflight.get() + 1);
                    Draining(w.clone())
                });
                draining = Some((Instant::now() + drain, counted));
            }
            Event::Tick => match &draining {
                Some((until, _)) if Instant::now() >= *until => break,
                Some(_) => {}
                None if shared.streams.active.get() == 0
                    && shared.streams.last_end.get().elapsed() >= idle =>
                {
                    conn.graceful_shutdown();
                    draining = Some((Instant::now() + header_read, None));
                }
                None => {}
            },
        }
    }
}

/// The connection's next event: a stream, its end, or a flood `FrameCounts` found.
async fn next(conn: &mut Connection<H2Io, Bytes>, counts: &FrameCounts, calmed: bool) -> Event {
    poll_fn(|cx| {
        if !calmed && let Some(what) = counts.calm() {
            return Poll::Ready(Event::Calm(what));
        }
        match conn.poll_accept(cx) {
            Poll::Ready(Some(Ok((req, respond)))) => Poll::Ready(Event::Stream(req, respond)),
            Poll::Ready(Some(Err(_)) | None) => Poll::Ready(Event::End),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// One stream: its request rendered and served as an HTTP/1.1 request, the response sent back
/// as HEADERS and DATA. A malformed request is reset with PROTOCOL_ERROR.
async fn serve_stream(
    w: Rc<Worker>,
    shared: Rc<Shared>,
    req: http::Request<h2::RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let (parts, body) = req.into_parts();
    let rendered = match crate::h2_stream::render(&parts, body.is_end_stream()) {
        Ok(r) => r,
        Err(reason) => {
            respond.send_reset(reason);
            let s = &shared.streams;
            s.active.set(s.active.get().saturating_sub(1));
            s.last_end.set(Instant::now());
            return;
        }
    };
    let pipe = StreamPipe::new(
        rendered,
        body,
        respond,
        parts.method == http::Method::HEAD,
        (shared.tls, shared.subject.clone()),
        shared.streams.clone(),
    );
    let c = crate::conn::new(
        &w,
        ClientStream::H2(Box::new(pipe)),
        shared.peer,
        shared.local,
    );
    crate::conn::serve_requests(w, (), c).await;
}
