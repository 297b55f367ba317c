//! Runtime failures, in one place: what went wrong, on which side, whether a retry is safe,
//! and the one function that maps them to an HTTP status ([`Error::status`]).

use std::fmt;
use std::io;

use gw_proto::ProtoError;

/// Who a failure belongs to (pingora's `ErrorSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client: malformed request, too large, too slow, went away.
    Downstream,
    /// The upstream server: refused, timed out, sent garbage, closed early.
    Upstream,
    /// gw itself or its configuration.
    Internal,
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request could not be parsed or was refused by the protocol layer.
    Proto(ProtoError),
    /// The route relays a WebSocket and the request did not ask for one.
    UpgradeRequired,
    /// No route matches the path.
    NoRoute,
    /// The path matches, the method does not.
    MethodNotAllowed,
    /// Body over the route's or the image's limit.
    BodyTooLarge,
    /// The client did not send the head (or body) in time.
    ClientTimeout,
    /// The client closed the connection or the socket failed.
    ClientIo,
    /// Connecting to the upstream failed (refused, unreachable).
    ConnectFailed,
    /// Connecting to the upstream took longer than its connect timeout.
    ConnectTimeout,
    /// Every server of the upstream is ejected.
    NoHealthyServer,
    /// The upstream did not answer within the request timeout.
    UpstreamTimeout,
    /// The upstream closed the connection before the response was complete.
    UpstreamClosed,
    /// The upstream's response could not be parsed.
    BadResponse,
    /// The request program trapped.
    ProgramTrap,
}

/// A runtime failure: kind, side, whether retrying elsewhere is safe, and context.
#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub side: Side,
    /// Safe to retry on another connection: no byte of the request body is lost and no byte of
    /// the response was received.
    pub retry: bool,
    pub cause: Option<io::Error>,
    /// Where it happened, for the log line.
    pub context: &'static str,
    /// The upstream server it happened with, for the log line.
    pub server: Option<std::net::SocketAddr>,
}

impl Error {
    /// A failure without an I/O cause.
    pub fn new(kind: ErrorKind, side: Side, context: &'static str) -> Error {
        Error {
            kind,
            side,
            retry: false,
            cause: None,
            context,
            server: None,
        }
    }

    /// A failure caused by an I/O error.
    pub fn io(kind: ErrorKind, side: Side, context: &'static str, cause: io::Error) -> Error {
        Error {
            kind,
            side,
            retry: false,
            cause: Some(cause),
            context,
            server: None,
        }
    }

    /// Name the upstream server the failure happened with.
    pub fn at(mut self, server: std::net::SocketAddr) -> Error {
        self.server = Some(server);
        self
    }

    /// Mark the failure as safe to retry on a fresh connection.
    pub fn retryable(mut self) -> Error {
        self.retry = true;
        self
    }

    /// A protocol error found in the client's request.
    pub fn proto(e: ProtoError) -> Error {
        let side = match e {
            ProtoError::BadResponse(_) => Side::Upstream,
            _ => Side::Downstream,
        };
        Error::new(ErrorKind::Proto(e), side, "parse")
    }

    /// The HTTP status the client sees for this failure.
    pub fn status(&self) -> u16 {
        match self.kind {
            ErrorKind::Proto(p) => p.status(),
            ErrorKind::NoRoute => 404,
            ErrorKind::UpgradeRequired => 426,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::BodyTooLarge => 413,
            ErrorKind::ClientTimeout => 408,
            ErrorKind::ClientIo => 400,
            ErrorKind::ConnectFailed | ErrorKind::UpstreamClosed | ErrorKind::BadResponse => 502,
            ErrorKind::ConnectTimeout | ErrorKind::UpstreamTimeout => 504,
            ErrorKind::NoHealthyServer => 503,
            ErrorKind::ProgramTrap => 500,
        }
    }

    /// The message put in gw's error body.
    pub fn message(&self) -> &'static str {
        match self.kind {
            ErrorKind::Proto(ProtoError::BadRequest(m)) => m,
            ErrorKind::Proto(ProtoError::NotImplemented(m)) => m,
            ErrorKind::Proto(ProtoError::BadResponse(_)) => "bad gateway",
            ErrorKind::Proto(ProtoError::UriTooLong) => "request URI too long",
            ErrorKind::Proto(ProtoError::HeadersTooLarge) => "request header fields too large",
            ErrorKind::Proto(ProtoError::BodyTooLarge) | ErrorKind::BodyTooLarge => {
                "request entity too large"
            }
            ErrorKind::Proto(ProtoError::VersionNotSupported) => "HTTP version not supported",
            ErrorKind::NoRoute => "not found",
            ErrorKind::UpgradeRequired => "upgrade required",
            ErrorKind::MethodNotAllowed => "method not allowed",
            ErrorKind::ClientTimeout => "request timeout",
            ErrorKind::ClientIo => "bad request",
            ErrorKind::ConnectFailed | ErrorKind::UpstreamClosed | ErrorKind::BadResponse => {
                "bad gateway"
            }
            ErrorKind::ConnectTimeout | ErrorKind::UpstreamTimeout => "gateway timeout",
            ErrorKind::NoHealthyServer => "no healthy upstream",
            ErrorKind::ProgramTrap => "internal server error",
        }
    }

    /// After this failure the client connection cannot be reused.
    pub fn closes_client(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Proto(_)
                | ErrorKind::BodyTooLarge
                | ErrorKind::ClientTimeout
                | ErrorKind::ClientIo
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} ({:?} side) in {}",
            self.kind, self.side, self.context
        )?;
        if let Some(c) = &self.cause {
            write!(f, ": {c}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Appends the JSON error body `{"message": "...", "requestId": "..."}`.
pub fn write_error_body(message: &str, request_id: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"message\":");
    write_json_str(message, out);
    out.extend_from_slice(b",\"requestId\":");
    write_json_str(request_id, out);
    out.push(b'}');
}

/// Appends `s` as a JSON string literal.
pub fn write_json_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    // the common case (ids, paths, routes): nothing to escape, one copy
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                let hex = b"0123456789abcdef";
                let v = c as usize;
                out.extend_from_slice(b"\\u00");
                out.push(hex.get(v >> 4).copied().unwrap_or(b'0'));
                out.push(hex.get(v & 15).copied().unwrap_or(b'0'));
            }
            c => {
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_by_kind() {
        let cases = [
            (ErrorKind::NoRoute, 404),
            (ErrorKind::MethodNotAllowed, 405),
            (ErrorKind::ConnectFailed, 502),
            (ErrorKind::ConnectTimeout, 504),
            (ErrorKind::UpstreamTimeout, 504),
            (ErrorKind::UpstreamClosed, 502),
            (ErrorKind::BadResponse, 502),
            (ErrorKind::BodyTooLarge, 413),
            (ErrorKind::NoHealthyServer, 503),
            (ErrorKind::ProgramTrap, 500),
            (ErrorKind::Proto(ProtoError::UriTooLong), 414),
            (ErrorKind::Proto(ProtoError::HeadersTooLarge), 431),
            (ErrorKind::Proto(ProtoError::BadRequest("smuggling")), 400),
        ];
        for (kind, status) in cases {
            assert_eq!(
                Error::new(kind, Side::Internal, "t").status(),
                status,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn protocol_errors_close_the_client() {
        let e = Error::proto(ProtoError::BadRequest("both content-length and chunked"));
        assert!(e.closes_client());
        assert_eq!(e.side, Side::Downstream);
        let up = Error::new(ErrorKind::ConnectFailed, Side::Upstream, "connect");
        assert!(!up.closes_client());
        let missing = Error::new(ErrorKind::NoRoute, Side::Downstream, "route");
        assert!(!missing.closes_client(), "a 404 keeps the connection");
    }

    #[test]
    fn error_body_is_escaped_json() {
        let mut out = Vec::new();
        write_error_body("bad \"x\"\n", "id\u{1}", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"message":"bad \"x\"\n","requestId":"id\u0001"}"#
        );
    }

    #[test]
    fn retryable_marks_retry() {
        let e = Error::new(ErrorKind::UpstreamClosed, Side::Upstream, "read").retryable();
        assert!(e.retry);
        assert_eq!(e.status(), 502);
        assert!(e.to_string().contains("UpstreamClosed"));
    }
}
