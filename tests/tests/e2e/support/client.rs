//! A raw TCP HTTP/1.1 client: exact bytes out, responses framed exactly as received.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::http::{Head, Reader};

/// Read/write timeout of every client socket, so no test can hang.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A response as received.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub head: Head,
    pub body: Vec<u8>,
    /// 1xx responses received before this one.
    pub interim: Vec<Head>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {:?}", self.text()))
    }
}

fn status_of(head: &Head) -> io::Result<u16> {
    head.line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {:?}", head.line),
            )
        })
}

pub struct Client {
    reader: Reader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::try_connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    pub fn try_connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let writer = stream.try_clone()?;
        Ok(Client {
            reader: Reader::new(stream),
            writer,
        })
    }

    pub fn set_read_timeout(&self, timeout: Duration) {
        self.writer
            .set_read_timeout(Some(timeout))
            .expect("set read timeout");
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("client write: {e}"));
    }

    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Send a request (adding `Host` unless given, and `Content-Length` for a body), then read
    /// the final response.
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.send(&build_request(method, target, headers, body));
        self.read_response(method)
            .unwrap_or_else(|e| panic!("{method} {target}: no valid response: {e}"))
    }

    pub fn get(&mut self, target: &str) -> Response {
        self.request("GET", target, &[], b"")
    }

    /// Read one head.
    pub fn read_head(&mut self) -> io::Result<Head> {
        self.reader.read_head(1 << 20)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            )
        })
    }

    /// Read the final response to a `method` request, collecting 1xx responses before it.
    pub fn read_response(&mut self, method: &str) -> io::Result<Response> {
        let mut interim = Vec::new();
        loop {
            let head = self.read_head()?;
            let status = status_of(&head)?;
            if (100..200).contains(&status) && status != 101 {
                interim.push(head);
                continue;
            }
            let body = if method == "HEAD" || status == 204 || status == 304 || status == 101 {
                Vec::new()
            } else if head.is_chunked() {
                self.reader.read_chunked()?
            } else if let Some(len) = head.content_length() {
                self.reader
                    .read_exact_vec(usize::try_from(len).unwrap_or(usize::MAX))?
            } else {
                self.reader.read_to_close()?
            };
            return Ok(Response {
                status,
                head,
                body,
                interim,
            });
        }
    }

    /// Wait for the server to close the connection, reading (and returning) whatever it sends
    /// first. Err when it is still open after `within`.
    pub fn wait_closed(&mut self, within: Duration) -> Result<Vec<u8>, String> {
        let start = Instant::now();
        self.set_read_timeout(within);
        let (bytes, err) = self.reader.drain();
        match err {
            None => Ok(bytes),
            Some(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(bytes),
            Some(e) => Err(format!(
                "connection still open after {:?} ({e}); received {:?}",
                start.elapsed(),
                String::from_utf8_lossy(&bytes)
            )),
        }
    }
}

/// The bytes of a request: `Host` added unless given, `Content-Length` added for a body
/// unless the headers frame it.
pub fn build_request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    if !has("host") {
        out.push_str("Host: gw.test\r\n");
    }
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() && !has("content-length") && !has("transfer-encoding") {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Frame `body` as chunks of at most `size` bytes, with the last chunk.
pub fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
