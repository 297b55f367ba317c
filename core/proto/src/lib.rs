//! gw-proto: sans-I/O HTTP/1.1 — request and response heads (httparse underneath, with the
//! stricter checks that make request smuggling impossible), body framing, chunked coding,
//! path normalisation and the heads gw writes upstream and back to the client; and the
//! frames of a WebSocket after its handshake ([`websocket`]), read as they stream by.
//!
//! "Not enough bytes yet" is [`Status::Partial`], never an error.

mod chunked;
mod client_head;
mod edits;
mod forward;
mod framing;
mod fuzzing;
mod head;
mod lexical;
mod path;
mod request;
mod response;
pub mod samples;
pub mod websocket;
mod wire;

pub use chunked::{Chunk, ChunkedDecoder, MAX_CHUNK_EXT, MAX_TRAILERS, write_chunk_header};
pub use client_head::{ClientHead, write_response_head};
pub use edits::{HeaderEdits, InvalidHeader};
pub use forward::{ForwardHead, UnderscoreNames, UpstreamHost, is_hop_by_hop, write_forward_head};
pub use fuzzing::{
    fuzz_chunked, fuzz_path_rewrite, fuzz_request, fuzz_response, fuzz_upstream_exchange,
    fuzz_websocket,
};
pub use path::{
    PathChars, check_forward_path, normalize_path, percent_decode_component, percent_decode_query,
    push_path_encoded, query_pairs,
};
pub use request::{MAX_HEADERS, RequestHead, parse_request};
pub use response::{MAX_RESPONSE_HEAD, ResponseHead, parse_response};
pub use wire::{canonical_reason, civil_from_days, http_date, write_header, write_status_line};

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
    /// The HTTP status this refusal is answered with.
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

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtoError::BadRequest(why) => write!(f, "bad request: {why}"),
            ProtoError::UriTooLong => f.write_str("request target too long"),
            ProtoError::HeadersTooLarge => f.write_str("request head too large"),
            ProtoError::BodyTooLarge => f.write_str("request body too large"),
            ProtoError::VersionNotSupported => f.write_str("HTTP version not supported"),
            ProtoError::NotImplemented(what) => write!(f, "not implemented: {what}"),
            ProtoError::BadResponse(why) => write!(f, "bad upstream response: {why}"),
        }
    }
}

impl std::error::Error for ProtoError {}

/// Limits applied while parsing a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Longest request target (414 beyond).
    pub url: usize,
    /// Largest head, request line and leading empty lines included (431 beyond).
    pub head: usize,
    /// Most header fields (431 beyond); capped at [`MAX_HEADERS`].
    pub headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            url: 8 * 1024,
            head: 10 * 1024,
            headers: 100,
        }
    }
}

/// A byte range into the buffer the head was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    pub start: u32,
    pub end: u32,
}

impl Range {
    /// The bytes of `buf` in this range (empty when out of bounds).
    pub fn of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start as usize..self.end as usize)
            .unwrap_or(&[])
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    /// True for an empty range.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
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
