//! One keep-alive HTTP/1.1 connection of `gw bench`: write the request, read one response
//! with gw-proto (head, then the body by Content-Length, chunked coding or the close),
//! discarding the body as it comes.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use gw_proto::{Chunk, ChunkedDecoder, Framing, ResponseHead, Status};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

/// Receive buffer; a longer response head grows it, up to gw-proto's limit.
const BUF: usize = 16 * 1024;

/// Why a request got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The connection could not be opened.
    Connect,
    /// No complete response within `--timeout`.
    Timeout,
    /// The connection was reset or closed before the response was complete.
    Reset,
    /// The response was not HTTP/1.x that gw-proto accepts.
    Protocol,
}

/// What a response leaves of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Response {
    pub status: u16,
    /// The connection can carry the next request.
    pub keep_alive: bool,
}

/// An open connection and its receive buffer.
pub(crate) struct Conn {
    stream: TcpStream,
    /// Received bytes not consumed yet.
    buf: Vec<u8>,
    head: ResponseHead,
}

impl Conn {
    /// Connect; with `multishot`, receive through the thread's provided-buffer ring.
    pub async fn open(addr: SocketAddr, multishot: bool) -> io::Result<Conn> {
        let mut stream = TcpStream::connect_addr(addr).await?;
        stream.set_nodelay(true)?;
        if multishot {
            stream.recv_multishot();
        }
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(BUF),
            head: ResponseHead::default(),
        })
    }

    /// Send `request` and read its response; `head_request`: the method was HEAD (no body).
    pub async fn exchange(
        &mut self,
        request: Rc<Vec<u8>>,
        head_request: bool,
    ) -> Result<Response, Failure> {
        let (res, _) = self.stream.write_all(request).await;
        res.map_err(|_| Failure::Reset)?;
        self.buf.clear();
        let end = loop {
            match gw_proto::parse_response(&self.buf, head_request, &mut self.head) {
                Ok(Status::Complete(end)) if self.head.is_informational() => {
                    if self.head.status == 101 {
                        return Err(Failure::Protocol);
                    }
                    // 100 Continue, 103 Early Hints: the response follows
                    self.buf.drain(..end.min(self.buf.len()));
                }
                Ok(Status::Complete(end)) => break end,
                Ok(Status::Partial) => {
                    if self.fill().await? == 0 {
                        return Err(Failure::Reset);
                    }
                }
                Err(_) => return Err(Failure::Protocol),
            }
        };
        self.buf.drain(..end.min(self.buf.len()));
        let response = Response {
            status: self.head.status,
            keep_alive: self.head.keep_alive,
        };
        match self.head.framing {
            Framing::None => {}
            Framing::Length(n) => self.skip(n).await?,
            Framing::Chunked => self.skip_chunked().await?,
            Framing::UntilClose => while self.fill().await? > 0 {},
        }
        Ok(response)
    }

    /// Read more bytes after those in the buffer; 0 at the end of the stream.
    async fn fill(&mut self) -> Result<usize, Failure> {
        if self.buf.len() == self.buf.capacity() {
            self.buf.reserve(self.buf.capacity().max(BUF));
        }
        let len = self.buf.len();
        let buf = std::mem::take(&mut self.buf);
        let (res, slice) = self.stream.read(buf.slice_mut(len..)).await;
        self.buf = slice.into_inner();
        res.map_err(|_| Failure::Reset)
    }

    /// Consume `n` body bytes.
    async fn skip(&mut self, mut n: u64) -> Result<(), Failure> {
        loop {
            let have = self.buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            self.buf.drain(..have);
            n -= have as u64;
            if n == 0 {
                return Ok(());
            }
            if self.fill().await? == 0 {
                return Err(Failure::Reset);
            }
        }
    }

    /// Consume a chunked body and its trailers.
    async fn skip_chunked(&mut self) -> Result<(), Failure> {
        let mut dec = ChunkedDecoder::upstream();
        loop {
            let consumed = match dec.decode(&self.buf) {
                Ok(Chunk::End { consumed }) => {
                    self.buf.drain(..consumed.min(self.buf.len()));
                    return Ok(());
                }
                Ok(Chunk::Data { consumed, .. } | Chunk::Partial { consumed }) => consumed,
                Err(_) => return Err(Failure::Protocol),
            };
            self.buf.drain(..consumed.min(self.buf.len()));
            if consumed == 0 && self.fill().await? == 0 {
                return Err(Failure::Reset);
            }
        }
    }
}
