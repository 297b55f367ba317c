//! gw-proto: sans-I/O HTTP/1.1 — request and response heads (httparse underneath, with the
//! stricter checks that make request smuggling impossible), body framing, chunked coding,
//! path normalisation and the head gw writes upstream.
//!
//! "Not enough bytes yet" is [`Status::Partial`], never an error.
//! (API placeholder: the implementation replaces the bodies, keeping the signatures.)
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

/// Parse progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The head is complete and `usize` bytes long.
    Complete(usize),
    Partial,
}

/// Why a message was refused. Each maps to one status code ([`ProtoError::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoError {
    /// Malformed or ambiguous message: 400 and the connection is closed.
    BadRequest(&'static str),
    /// 414
    UriTooLong,
    /// 431 (header block or header count over the limit)
    HeadersTooLarge,
    /// 413
    BodyTooLarge,
    /// 505
    VersionNotSupported,
    /// 501 (a Transfer-Encoding other than chunked)
    NotImplemented(&'static str),
    /// The upstream's response could not be parsed: 502.
    BadResponse(&'static str),
}

impl ProtoError {
    pub fn status(self) -> u16 {
        match self {
            ProtoError::BadRequest(_) => 400,
            ProtoError::UriTooLong => 414,
            ProtoError::HeadersTooLarge => 431,
            ProtoError::BodyTooLarge => 413,
            ProtoError::VersionNotSupported => 505,
            ProtoError::NotImplemented(_) => 501,
            ProtoError::BadResponse(_) => 502,
        }
    }
}

/// Limits applied while parsing a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    pub url: usize,
    pub head: usize,
    pub headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits { url: 8 * 1024, head: 10 * 1024, headers: 100 }
    }
}

/// A byte range into the buffer the head was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    pub start: u32,
    pub end: u32,
}

impl Range {
    pub fn of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start as usize..self.end as usize).unwrap_or(&[])
    }
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    #[default]
    None,
    Length(u64),
    Chunked,
    /// Response only: until the upstream closes.
    UntilClose,
}

/// A parsed request head; ranges point into the buffer given to [`parse_request`].
/// Reused across requests on a connection (its vectors keep their capacity).
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    pub method: Range,
    /// Request target as sent.
    pub target: Range,
    /// Path part of the target (before `?`).
    pub path: Range,
    /// Query part without the `?` (empty range if none).
    pub query: Range,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// (name, value) ranges, in order.
    pub headers: Vec<(Range, Range)>,
    pub framing: Framing,
    /// After this request the connection stays open (HTTP/1.1 default, `Connection: close`,
    /// HTTP/1.0 `keep-alive`).
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// `Connection: upgrade` + `Upgrade: websocket`.
    pub upgrade_websocket: bool,
    /// The Host header (or the authority of an absolute-form target).
    pub host: Range,
}

/// Parse a request head from `buf`. On `Complete(n)` the body (if any) starts at `buf[n..]`.
pub fn parse_request(
    buf: &[u8],
    limits: &HeadLimits,
    head: &mut RequestHead,
) -> Result<Status, ProtoError> {
    let _ = (buf, limits, head);
    Err(ProtoError::BadRequest("not implemented"))
}

/// A parsed upstream response head.
#[derive(Debug, Clone, Default)]
pub struct ResponseHead {
    pub status: u16,
    pub minor: u8,
    pub reason: Range,
    pub headers: Vec<(Range, Range)>,
    /// Already accounts for HEAD requests and 1xx/204/304 (no body).
    pub framing: Framing,
    pub keep_alive: bool,
}

/// Parse an upstream response head; `head_request` says the request was HEAD.
pub fn parse_response(
    buf: &[u8],
    head_request: bool,
    head: &mut ResponseHead,
) -> Result<Status, ProtoError> {
    let _ = (buf, head_request, head);
    Err(ProtoError::BadResponse("not implemented"))
}

/// Incremental chunked-body decoder.
#[derive(Debug, Clone, Default)]
pub struct ChunkedDecoder {}

/// What one step of the decoder produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// `consumed` input bytes yielded the data range `data` of the input (may be empty).
    Data { consumed: usize, data: Range },
    /// Need more input.
    Partial { consumed: usize },
    /// The terminating chunk and trailers were consumed.
    End { consumed: usize },
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {}
    }

    /// Decode from `input`; call again with the unconsumed rest.
    pub fn decode(&mut self, input: &[u8]) -> Result<Chunk, ProtoError> {
        let _ = input;
        Err(ProtoError::BadRequest("not implemented"))
    }
}

/// Write a chunk header (`{len:x}\r\n`) for `len` data bytes; the caller writes the data and
/// `\r\n`. `len == 0` writes the last chunk `0\r\n\r\n`.
pub fn write_chunk_header(len: usize, out: &mut Vec<u8>) {
    let _ = (len, out);
}

/// Normalise a request path (percent-decoding of unreserved characters, `.`/`..` segments,
/// `//`), writing the result to `out`. `%2F` stays encoded and is not a separator.
pub fn normalize_path(raw: &[u8], out: &mut String) -> Result<(), ProtoError> {
    let _ = (raw, out);
    Err(ProtoError::BadRequest("not implemented"))
}

/// True for hop-by-hop headers that a proxy must not forward (RFC 9110 §7.6.1).
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    let _ = name;
    false
}
