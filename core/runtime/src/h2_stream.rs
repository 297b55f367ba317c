//! One HTTP/2 stream as the request path sees a connection: [`StreamPipe`] is the
//! [`Transport`] of a `Conn` that serves exactly one request. Reading it yields an HTTP/1.1
//! rendering of the stream's request ([`render`]: its head, then its DATA as a
//! `Content-Length` body or as chunks); what the request path writes, an HTTP/1.1 response,
//! is parsed back with gw-proto and sent as the stream's HEADERS and DATA frames, within the
//! stream's flow-control window. So every stream runs the same code as an HTTP/1.1 request,
//! and the rendering is where HTTP/2's rules against smuggling are applied (RFC 9113 §8.2,
//! §8.3): the HTTP/1.1 parser then checks the head again under the config's limits.

use std::cell::Cell;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use gw_proto::{ChunkedDecoder, Framing, ResponseHead, Status};
use h2::Reason;
use h2::server::SendResponse;
use http::header::{self, HeaderName, HeaderValue};

use crate::transport::Transport;

/// What the streams of one connection share with its task.
#[derive(Debug)]
pub struct StreamCounts {
    /// Streams being served.
    pub active: Cell<usize>,
    /// When the last one ended.
    pub last_end: Cell<Instant>,
}

impl Default for StreamCounts {
    fn default() -> Self {
        StreamCounts {
            active: Cell::new(0),
            last_end: Cell::new(Instant::now()),
        }
    }
}

/// Where the response written to the pipe is.
enum Out {
    /// Head bytes gathered so far.
    Head(Vec<u8>),
    /// Body bytes still to send: by length, by chunks, or until the request path ends.
    Length(u64),
    Chunked(ChunkedDecoder, Vec<u8>),
    UntilClose,
    Done,
}

/// A request's HTTP/1.1 rendering.
pub struct Rendered {
    pub head: Vec<u8>,
    /// The declared body length; `None` with a body: sent as chunks.
    pub length: Option<u64>,
    pub chunked: bool,
}

/// Render a stream's request head as HTTP/1.1 (`end`: the HEADERS frame ended the stream).
/// An error is the stream's reset reason: the request is malformed (RFC 9113 §8.1.1).
pub fn render(parts: &http::request::Parts, end: bool) -> Result<Rendered, Reason> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    if parts.method == http::Method::CONNECT {
        let authority = parts.uri.authority().ok_or(Reason::PROTOCOL_ERROR)?;
        out.extend_from_slice(authority.as_str().as_bytes());
    } else {
        let target = parts.uri.path_and_query().map_or("", |p| p.as_str());
        if target.is_empty() {
            return Err(Reason::PROTOCOL_ERROR);
        }
        out.extend_from_slice(target.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    // `:authority` is the Host; a Host field beside it must name the same (§8.3.1)
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let host = match (parts.uri.authority(), hosts.next(), hosts.next()) {
        (_, _, Some(_)) => return Err(Reason::PROTOCOL_ERROR),
        (Some(a), Some(h), None) if h.as_bytes() != a.as_str().as_bytes() => {
            return Err(Reason::PROTOCOL_ERROR);
        }
        (Some(a), _, None) => Some(a.as_str().as_bytes()),
        (None, h, None) => h.map(HeaderValue::as_bytes),
    };
    if let Some(h) = host {
        field(&mut out, b"host", h)?;
    }
    let mut length: Option<u64> = None;
    for (name, value) in &parts.headers {
        let v = value.as_bytes();
        match *name {
            header::HOST | header::COOKIE => continue,
            // connection-specific fields have no place in HTTP/2 (§8.2.2)
            header::CONNECTION | header::TRANSFER_ENCODING | header::UPGRADE => {
                return Err(Reason::PROTOCOL_ERROR);
            }
            header::TE if !v.eq_ignore_ascii_case(b"trailers") => {
                return Err(Reason::PROTOCOL_ERROR);
            }
            header::CONTENT_LENGTH => {
                let n = std::str::from_utf8(v)
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or(Reason::PROTOCOL_ERROR)?;
                if length.is_some_and(|l| l != n) {
                    return Err(Reason::PROTOCOL_ERROR);
                }
                if length.is_some() {
                    continue;
                }
                length = Some(n);
            }
            _ => {
                if name.as_str() == "keep-alive" || name.as_str() == "proxy-connection" {
                    return Err(Reason::PROTOCOL_ERROR);
                }
            }
        }
        field(&mut out, name.as_str().as_bytes(), v)?;
    }
    // cookies may come as one field per pair: HTTP/1.1 has them in one (§8.2.3)
    let mut cookies = parts.headers.get_all(header::COOKIE).iter().peekable();
    if cookies.peek().is_some() {
        let mut joined = Vec::new();
        for (i, c) in cookies.enumerate() {
            if i > 0 {
                joined.extend_from_slice(b"; ");
            }
            joined.extend_from_slice(c.as_bytes());
        }
        field(&mut out, b"cookie", &joined)?;
    }
    if end && length.is_some_and(|n| n > 0) {
        return Err(Reason::PROTOCOL_ERROR);
    }
    let chunked = !end && length.is_none();
    if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(Rendered {
        head: out,
        length: if end { None } else { length },
        chunked,
    })
}

/// One `name: value` line; a value with CR, LF or NUL, or with whitespace at either end, is
/// malformed (§8.2.1).
fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) -> Result<(), Reason> {
    let bad = |b: &u8| matches!(b, b'\r' | b'\n' | 0);
    let ws = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    if name.iter().any(bad) || value.iter().any(bad) || ws(value.first()) || ws(value.last()) {
        return Err(Reason::PROTOCOL_ERROR);
    }
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// The transport of one stream's request (see the module doc).
pub struct StreamPipe {
    /// Request bytes not yet read: the head, then each DATA frame with its chunk framing.
    inq: Vec<u8>,
    in_pos: usize,
    body: Option<h2::RecvStream>,
    /// Body bytes the request declared and has not yet sent.
    left: Option<u64>,
    chunked: bool,
    respond: Option<SendResponse<Bytes>>,
    send: Option<h2::SendStream<Bytes>>,
    head_request: bool,
    out: Out,
    tls: bool,
    subject: Option<Rc<str>>,
    counts: Rc<StreamCounts>,
}

impl StreamPipe {
    pub fn new(
        rendered: Rendered,
        body: h2::RecvStream,
        respond: SendResponse<Bytes>,
        head_request: bool,
        tls: (bool, Option<Rc<str>>),
        counts: Rc<StreamCounts>,
    ) -> StreamPipe {
        let has_body = rendered.chunked || rendered.length.is_some_and(|n| n > 0);
        StreamPipe {
            inq: rendered.head,
            in_pos: 0,
            body: has_body.then_some(body),
            left: rendered.length,
            chunked: rendered.chunked,
            respond: Some(respond),
            send: None,
            head_request,
            out: Out::Head(Vec::new()),
            tls: tls.0,
            subject: tls.1,
            counts,
        }
    }

    /// Whether the connection came over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The subject of the client's verified certificate (mutual TLS).
    pub fn client_subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// Queue the next DATA frame's bytes in `inq`. `Ok(false)`: the request has ended.
    async fn next_data(&mut self) -> io::Result<bool> {
        let Some(body) = self.body.as_mut() else {
            return Ok(false);
        };
        self.inq.clear();
        self.in_pos = 0;
        match poll_fn(|cx| body.poll_data(cx)).await {
            Some(Ok(data)) => {
                // the window reopens as the request path takes the bytes: one frame is
                // held here at a time
                let _ = body.flow_control().release_capacity(data.len());
                if let Some(left) = self.left.as_mut() {
                    // never more than declared: the rest would read as a second request
                    *left = left.checked_sub(data.len() as u64).ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            "body longer than its content-length",
                        )
                    })?;
                }
                if self.chunked && !data.is_empty() {
                    gw_proto::write_chunk_header(data.len(), &mut self.inq);
                    self.inq.extend_from_slice(&data);
                    self.inq.extend_from_slice(b"\r\n");
                } else {
                    self.inq.extend_from_slice(&data);
                }
                Ok(true)
            }
            Some(Err(e)) => {
                self.body = None;
                Err(io::Error::other(e))
            }
            None => {
                self.body = None;
                if self.left.is_some_and(|l| l > 0) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "body shorter than its content-length",
                    ));
                }
                if self.chunked {
                    self.inq.extend_from_slice(b"0\r\n\r\n");
                }
                Ok(!self.inq.is_empty())
            }
        }
    }

    /// Take what the request path wrote of its response.
    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let Out::Head(acc) = &mut self.out else {
            return self.body_bytes(data).await;
        };
        acc.extend_from_slice(data);
        let mut acc = std::mem::take(acc);
        loop {
            match self.head(&acc)? {
                None => {
                    self.out = Out::Head(acc);
                    return Ok(());
                }
                Some(n) => {
                    acc.drain(..n.min(acc.len()));
                    // an interim (1xx) head is dropped: the final one follows
                    if !matches!(self.out, Out::Head(_)) {
                        return self.body_bytes(&acc).await;
                    }
                }
            }
        }
    }

    /// Parse the response head at the start of `acc` and send it. `Some(n)`: a head of `n`
    /// bytes was parsed (when interim, `out` stays `Head`).
    fn head(&mut self, acc: &[u8]) -> io::Result<Option<usize>> {
        let mut rh = ResponseHead::default();
        let n = match gw_proto::parse_response(acc, self.head_request, &mut rh) {
            Ok(Status::Complete(n)) => n,
            Ok(Status::Partial) => return Ok(None),
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        };
        if rh.is_informational() {
            return Ok(Some(n));
        }
        let mut resp = http::Response::new(());
        *resp.status_mut() = http::StatusCode::from_u16(rh.status)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "status"))?;
        let named = rh.header(acc, b"connection").unwrap_or(&[]);
        let headers = resp.headers_mut();
        for (name, value) in &rh.headers {
            let (name, value) = (name.of(acc), value.of(acc));
            // no connection-specific fields in HTTP/2 (§8.2.2), nor those Connection names
            if gw_proto::is_hop_by_hop(name)
                || named
                    .split(|b| *b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(name))
            {
                continue;
            }
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
                headers.append(n, v);
            }
        }
        let (out, end) = match rh.framing {
            Framing::None | Framing::Length(0) => (Out::Done, true),
            Framing::Length(n) => (Out::Length(n), false),
            Framing::Chunked => (Out::Chunked(ChunkedDecoder::upstream(), Vec::new()), false),
            Framing::UntilClose => (Out::UntilClose, false),
        };
        let respond = self
            .respond
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::BrokenPipe))?;
        let send = respond.send_response(resp, end).map_err(io::Error::other)?;
        self.respond = None;
        self.send = Some(send);
        self.out = out;
        Ok(Some(n))
    }

    /// Send body bytes as DATA, by the response's framing.
    async fn body_bytes(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.out {
            Out::Head(_) | Out::Done => Ok(()),
            Out::UntilClose => self.send_data(data, false).await,
            Out::Length(left) => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                *left -= n as u64;
                let end = *left == 0;
                if end {
                    self.out = Out::Done;
                }
                self.send_data(data.get(..n).unwrap_or(&[]), end).await
            }
            Out::Chunked(..) => {
                let Out::Chunked(mut dec, mut carry) = std::mem::replace(&mut self.out, Out::Done)
                else {
                    return Ok(());
                };
                carry.extend_from_slice(data);
                let mut at = 0;
                loop {
                    let input = carry.get(at..).unwrap_or(&[]);
                    let chunk = dec
                        .decode(input)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                    match chunk {
                        gw_proto::Chunk::Data { consumed, data } => {
                            let bytes = data.of(input);
                            if !bytes.is_empty() {
                                self.send_data(bytes, false).await?;
                            }
                            at += consumed;
                            if consumed == 0 {
                                break;
                            }
                        }
                        gw_proto::Chunk::Partial { consumed } => {
                            at += consumed;
                            break;
                        }
                        gw_proto::Chunk::End { .. } => return self.send_data(&[], true).await,
                    }
                }
                carry.drain(..at.min(carry.len()));
                self.out = Out::Chunked(dec, carry);
                Ok(())
            }
        }
    }

    /// Send `data` as DATA frames as the stream's window allows; `end` ends the stream.
    async fn send_data(&mut self, mut data: &[u8], end: bool) -> io::Result<()> {
        let send = self
            .send
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::BrokenPipe))?;
        if data.is_empty() {
            if end {
                send.send_data(Bytes::new(), true)
                    .map_err(io::Error::other)?;
            }
            return Ok(());
        }
        while !data.is_empty() {
            send.reserve_capacity(data.len());
            let room = match poll_fn(|cx| send.poll_capacity(cx)).await {
                Some(Ok(n)) => n,
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => return Err(io::ErrorKind::BrokenPipe.into()),
            };
            let n = room.min(data.len());
            if n == 0 {
                continue;
            }
            let (now, rest) = data.split_at(n);
            send.send_data(Bytes::copy_from_slice(now), end && rest.is_empty())
                .map_err(io::Error::other)?;
            data = rest;
        }
        Ok(())
    }
}

impl Transport for StreamPipe {
    async fn read_into(&mut self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        loop {
            if self.in_pos < self.inq.len() {
                let room = buf.capacity() - buf.len();
                let rest = self.inq.get(self.in_pos..).unwrap_or(&[]);
                let n = rest.len().min(room);
                buf.extend_from_slice(rest.get(..n).unwrap_or(&[]));
                self.in_pos += n;
                return (Ok(n), buf);
            }
            match self.next_data().await {
                Ok(true) => {}
                Ok(false) => return (Ok(0), buf),
                Err(e) => return (Err(e), buf),
            }
        }
    }

    async fn write_all_of(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let res = self.write(&buf).await;
        (res, buf)
    }
}

impl Drop for StreamPipe {
    fn drop(&mut self) {
        match (&self.out, self.send.as_mut(), self.respond.as_mut()) {
            (Out::Done, _, _) => {}
            // the request path ended a response framed by its end
            (Out::UntilClose, Some(send), _) => {
                let _ = send.send_data(Bytes::new(), true);
            }
            // cut short, or no response at all
            (_, Some(send), _) => send.send_reset(Reason::INTERNAL_ERROR),
            (_, None, Some(respond)) => respond.send_reset(Reason::INTERNAL_ERROR),
            _ => {}
        }
        self.counts
            .active
            .set(self.counts.active.get().saturating_sub(1));
        self.counts.last_end.set(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn head(r: &Rendered) -> String {
        String::from_utf8(r.head.clone()).unwrap()
    }

    #[test]
    fn authority_becomes_the_host_and_cookies_one_field() {
        let p = parts(
            "GET",
            "https://api.test/a?b=1",
            &[("cookie", "a=1"), ("x-k", "v"), ("cookie", "b=2")],
        );
        let r = render(&p, true).unwrap();
        assert_eq!(
            head(&r),
            "GET /a?b=1 HTTP/1.1\r\nhost: api.test\r\nx-k: v\r\ncookie: a=1; b=2\r\n\r\n"
        );
        assert_eq!((r.length, r.chunked), (None, false));
    }

    #[test]
    fn a_body_goes_by_its_length_or_as_chunks() {
        let p = parts("POST", "http://h/u", &[("content-length", "5")]);
        let r = render(&p, false).unwrap();
        assert!(head(&r).contains("content-length: 5\r\n"));
        assert_eq!((r.length, r.chunked), (Some(5), false));
        let p = parts("POST", "http://h/u", &[]);
        let r = render(&p, false).unwrap();
        assert!(head(&r).ends_with("transfer-encoding: chunked\r\n\r\n"));
        assert!(r.chunked);
        // a length the HEADERS frame already contradicts by ending the stream
        let p = parts("POST", "http://h/u", &[("content-length", "5")]);
        assert!(render(&p, true).is_err());
    }

    #[test]
    fn malformed_requests_are_refused() {
        for bad in [
            vec![("connection", "close")],
            vec![("transfer-encoding", "chunked")],
            vec![("upgrade", "websocket")],
            vec![("keep-alive", "5")],
            vec![("proxy-connection", "x")],
            vec![("te", "gzip")],
            vec![("host", "other")],
            vec![("content-length", "1"), ("content-length", "2")],
            vec![("content-length", "+1")],
            vec![("x-a", " padded")],
        ] {
            let p = parts("GET", "http://h/u", &bad);
            assert_eq!(
                render(&p, false).err(),
                Some(Reason::PROTOCOL_ERROR),
                "{bad:?}"
            );
        }
        let p = parts("GET", "http://h/u", &[("te", "trailers"), ("host", "h")]);
        assert!(render(&p, true).is_ok());
    }
}
