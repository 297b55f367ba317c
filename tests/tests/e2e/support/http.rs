//! HTTP/1.1 message reading shared by the test upstream and the raw client.
//!
//! Deliberately simple and lenient: it is the measuring instrument, not the thing under test.
//! It only needs to frame what gw sends (Content-Length, chunked, until-close) exactly.

use std::io::{self, Read};

/// A message head: the start line and the header fields in order, as received.
#[derive(Debug, Clone, Default)]
pub struct Head {
    pub line: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// The comma-separated elements of every `name` line, trimmed and lowercased.
    pub fn tokens(&self, name: &str) -> Vec<String> {
        self.header_all(name)
            .iter()
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// `Transfer-Encoding` ends in `chunked`.
    pub fn is_chunked(&self) -> bool {
        self.tokens("transfer-encoding")
            .last()
            .is_some_and(|t| t == "chunked")
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Parse a head (without the final empty line) into its start line and fields.
fn parse_head(bytes: &[u8]) -> io::Result<Head> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    for l in lines.filter(|l| !l.is_empty()) {
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header line {l:?}")))?;
        headers.push((k.to_string(), v.trim().to_string()));
    }
    Ok(Head { line, headers })
}

/// A buffered reader that frames HTTP messages.
pub struct Reader<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: Read> Reader<R> {
    pub fn new(inner: R) -> Self {
        Reader {
            inner,
            buf: Vec::new(),
        }
    }

    /// Read more bytes into the buffer; 0 means end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 64 * 1024];
        let n = self.inner.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    /// Read one head. `Ok(None)` when the stream ended cleanly before its first byte.
    pub fn read_head(&mut self, max: usize) -> io::Result<Option<Head>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let raw = self.take(end + 4);
                return parse_head(&raw[..end]).map(Some);
            }
            if self.buf.len() > max {
                return Err(invalid(format!("head larger than {max} bytes")));
            }
            if self.fill()? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let partial = String::from_utf8_lossy(&self.buf).into_owned();
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("stream ended inside a head: {partial:?}"),
                ));
            }
        }
    }

    /// Exactly `n` bytes.
    pub fn read_exact_vec(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("stream ended after {} of {n} body bytes", self.buf.len()),
                ));
            }
        }
        Ok(self.take(n))
    }

    /// One CRLF-terminated line, without the CRLF.
    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n") {
                let mut line = self.take(end + 2);
                line.truncate(end);
                return Ok(line);
            }
            if self.buf.len() > 64 * 1024 {
                return Err(invalid("line too long"));
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "stream ended in a line",
                ));
            }
        }
    }

    /// A chunked body, decoded; trailers are read and dropped.
    pub fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line()?;
            let text = String::from_utf8_lossy(&line);
            let size_text = text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| invalid(format!("bad chunk size {text:?}")))?;
            if size == 0 {
                while !self.read_line()?.is_empty() {}
                return Ok(body);
            }
            body.extend(self.read_exact_vec(size)?);
            if !self.read_line()?.is_empty() {
                return Err(invalid("chunk data not followed by CRLF"));
            }
        }
    }

    /// Everything until the peer closes.
    pub fn read_to_close(&mut self) -> io::Result<Vec<u8>> {
        while self.fill()? > 0 {}
        Ok(std::mem::take(&mut self.buf))
    }

    /// Whatever is buffered plus anything readable until end of stream or an error;
    /// returns the bytes and the error that stopped reading (None = clean end of stream).
    pub fn drain(&mut self) -> (Vec<u8>, Option<io::Error>) {
        loop {
            match self.fill() {
                Ok(0) => return (std::mem::take(&mut self.buf), None),
                Ok(_) => {}
                Err(e) => return (std::mem::take(&mut self.buf), Some(e)),
            }
        }
    }
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Deterministic pseudo-random bytes (xorshift), so large bodies are not all one value.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Where two byte strings first differ, for readable assertion messages on large bodies.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    if a == b {
        return None;
    }
    Some(
        a.iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_heads_and_chunked_bodies() {
        let wire: &[u8] = b"HTTP/1.1 200 OK\r\nA: 1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
            3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\nrest";
        let mut r = Reader::new(wire);
        let head = r.read_head(1024).unwrap().unwrap();
        assert_eq!(head.line, "HTTP/1.1 200 OK");
        assert_eq!(head.header("a"), Some("1"));
        assert!(head.is_chunked());
        assert_eq!(r.read_chunked().unwrap(), b"abcde");
        assert_eq!(r.read_to_close().unwrap(), b"rest");
    }

    #[test]
    fn short_body_is_an_error() {
        let mut r = Reader::new(&b"abc"[..]);
        assert_eq!(
            r.read_exact_vec(5).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert!(Reader::new(&b""[..]).read_head(10).unwrap().is_none());
    }

    #[test]
    fn pattern_differs_by_seed() {
        assert_ne!(pattern(64, 1), pattern(64, 2));
        assert_eq!(first_difference(b"abc", b"abd"), Some(2));
        assert_eq!(first_difference(b"ab", b"abc"), Some(2));
        assert_eq!(first_difference(b"ab", b"ab"), None);
    }
}
