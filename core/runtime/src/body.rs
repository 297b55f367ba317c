//! Message bodies in motion: decode the incoming framing (Content-Length, chunked, until
//! close), re-frame for the other side, and stream through fixed-size buffers.

use std::time::Duration;

use gw_proto::{Chunk, ChunkedDecoder, Framing};

use crate::buffers::{BufPool, RecvBuf};
use crate::deadline::{Elapsed, Watch};
use crate::error::{Error, ErrorKind, Side};
use crate::transport::Transport;

/// How a body is framed on the way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutFraming {
    /// Bytes as they are (Content-Length set in the head, or close-delimited).
    Raw,
    /// Chunked coding.
    Chunked,
    /// Read and drop.
    Discard,
}

/// The decoding state of an incoming body.
#[derive(Debug)]
pub struct BodyIn {
    framing: Framing,
    remaining: u64,
    decoder: ChunkedDecoder,
    done: bool,
    /// Data bytes seen so far.
    pub total: u64,
    limit: u64,
}

/// One decoding step over the unread bytes.
enum Step {
    /// Data at `start..end` of the unread bytes; `consumed` bytes are done with.
    Data {
        consumed: usize,
        start: usize,
        end: usize,
    },
    More {
        consumed: usize,
    },
    End {
        consumed: usize,
    },
}

impl BodyIn {
    /// A body of the given framing, refused past `limit` data bytes.
    pub fn new(framing: Framing, limit: u64) -> BodyIn {
        let remaining = match framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        BodyIn {
            framing,
            remaining,
            decoder: ChunkedDecoder::new(),
            done: matches!(framing, Framing::None | Framing::Length(0)),
            total: 0,
            limit,
        }
    }

    /// The whole body has been read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn step(&mut self, input: &[u8], side: Side) -> Result<Step, Error> {
        match self.framing {
            Framing::None => Ok(Step::End { consumed: 0 }),
            Framing::Length(_) => {
                if self.remaining == 0 {
                    return Ok(Step::End { consumed: 0 });
                }
                if input.is_empty() {
                    return Ok(Step::More { consumed: 0 });
                }
                let n = (input.len() as u64).min(self.remaining) as usize;
                self.remaining -= n as u64;
                Ok(Step::Data {
                    consumed: n,
                    start: 0,
                    end: n,
                })
            }
            Framing::UntilClose => {
                if input.is_empty() {
                    Ok(Step::More { consumed: 0 })
                } else {
                    Ok(Step::Data {
                        consumed: input.len(),
                        start: 0,
                        end: input.len(),
                    })
                }
            }
            Framing::Chunked => match self.decoder.decode(input) {
                Ok(Chunk::Data { consumed, data }) => Ok(Step::Data {
                    consumed,
                    start: data.start as usize,
                    end: data.end as usize,
                }),
                Ok(Chunk::Partial { consumed }) => Ok(Step::More { consumed }),
                Ok(Chunk::End { consumed }) => Ok(Step::End { consumed }),
                Err(e) => Err(match side {
                    Side::Upstream => Error::new(ErrorKind::BadResponse, side, "chunked body"),
                    _ => Error::proto(e),
                }),
            },
        }
    }

    /// Move the body bytes already in `rb` to `out` (framed as `how`) without any I/O.
    /// Returns true when that completed the body.
    pub fn drain_buffered(
        &mut self,
        rb: &mut RecvBuf,
        out: &mut Vec<u8>,
        how: OutFraming,
        side: Side,
    ) -> Result<bool, Error> {
        while !self.done {
            match self.step(rb.unread(), side)? {
                Step::Data {
                    consumed,
                    start,
                    end,
                } => {
                    self.account(end - start, side)?;
                    emit(rb.unread().get(start..end).unwrap_or(&[]), out, how);
                    rb.consume(consumed);
                }
                Step::More { consumed } => {
                    rb.consume(consumed);
                    return Ok(false);
                }
                Step::End { consumed } => {
                    rb.consume(consumed);
                    self.finish(out, how);
                }
            }
        }
        Ok(true)
    }

    fn account(&mut self, n: usize, side: Side) -> Result<(), Error> {
        self.total += n as u64;
        if self.total > self.limit {
            return Err(Error::new(ErrorKind::BodyTooLarge, side, "body"));
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>, how: OutFraming) {
        self.done = true;
        if how == OutFraming::Chunked {
            out.extend_from_slice(b"0\r\n\r\n");
        }
    }
}

fn emit(data: &[u8], out: &mut Vec<u8>, how: OutFraming) {
    if data.is_empty() {
        return;
    }
    match how {
        OutFraming::Raw => out.extend_from_slice(data),
        OutFraming::Chunked => {
            gw_proto::write_chunk_header(data.len(), out);
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        OutFraming::Discard => {}
    }
}

/// Read up to `rb`'s spare room from `src`. `Ok(0)` is end of stream.
/// Bounded by the connection's `watch`: a monoio timer here would make every request future
/// 128-byte aligned (its `Sleep` is cache-padded), which costs an aligned allocation per request.
pub async fn read_some<S: Transport>(
    src: &mut S,
    rb: &mut RecvBuf,
    pool: &BufPool,
    max: usize,
    (watch, timeout): (&Watch, Duration),
    side: Side,
) -> Result<usize, Error> {
    let read = std::pin::pin!(read_untimed(src, rb, pool, max, side));
    match watch.within(timeout, read).await {
        Ok(r) => r,
        Err(_) => Err(Error::new(timeout_kind(side), side, "read")),
    }
}

/// [`read_some`] without a timer of its own: for callers that bound several I/O steps with
/// one timer (a timer armed per operation costs more than the proxying around it).
pub async fn read_untimed<S: Transport>(
    src: &mut S,
    rb: &mut RecvBuf,
    pool: &BufPool,
    max: usize,
    side: Side,
) -> Result<usize, Error> {
    if !rb.reserve(pool, max) {
        return Err(Error::new(
            ErrorKind::Proto(gw_proto::ProtoError::HeadersTooLarge),
            side,
            "read",
        ));
    }
    let buf = std::mem::take(&mut rb.buf);
    let (res, buf) = src.read_into(buf).await;
    rb.buf = buf;
    if let Ok(n) = res {
        rb.received += n as u64;
    }
    res.map_err(|e| Error::io(io_kind(side), side, "read", e))
}

fn timeout_kind(side: Side) -> ErrorKind {
    match side {
        Side::Upstream => ErrorKind::UpstreamTimeout,
        _ => ErrorKind::ClientTimeout,
    }
}

fn io_kind(side: Side) -> ErrorKind {
    match side {
        Side::Upstream => ErrorKind::UpstreamClosed,
        _ => ErrorKind::ClientIo,
    }
}

/// Write all of `out` to `dst` and clear it (the buffer is kept). Bounded by `watch`, as
/// [`read_some`].
pub async fn flush<D: Transport>(
    dst: &mut D,
    out: &mut Vec<u8>,
    (watch, timeout): (&Watch, Duration),
    side: Side,
) -> Result<(), Error> {
    if out.is_empty() {
        return Ok(());
    }
    let r = {
        let write = std::pin::pin!(write_untimed(dst, out, side));
        watch.within(timeout, write).await
    };
    match r {
        Ok(r) => {
            out.clear();
            r
        }
        Err(_) => Err(Error::new(timeout_kind(side), side, "write")),
    }
}

/// Write all of `out` to `dst` without a timer and without clearing it, so a request can be
/// resent on a fresh connection when a pooled one turns out stale. On a timeout (the caller's
/// timer drops this future mid-write) `out` is left empty.
pub async fn write_untimed<D: Transport>(
    dst: &mut D,
    out: &mut Vec<u8>,
    side: Side,
) -> Result<(), Error> {
    let (res, buf) = dst.write_all_of(std::mem::take(out)).await;
    *out = buf;
    res.map_err(|e| Error::io(io_kind(side), side, "write", e))
}

/// The ends of one body transfer.
pub struct Pump<'a, S, D> {
    pub src: &'a mut S,
    pub src_side: Side,
    pub rb: &'a mut RecvBuf,
    pub dst: &'a mut D,
    pub dst_side: Side,
    pub out: &'a mut Vec<u8>,
    pub how: OutFraming,
    pub pool: &'a BufPool,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    /// The connection's deadline: bounds each read and write without a timer of its own.
    pub watch: &'a Watch,
    /// Bytes written to `dst` so far.
    pub sent: u64,
}

impl<S: Transport, D: Transport> Pump<'_, S, D> {
    /// Stream the rest of `body` from `src` to `dst`; `out` may already hold bytes to send
    /// first (a head). Returns when the body is complete and flushed.
    pub async fn run(&mut self, body: &mut BodyIn) -> Result<(), Error> {
        loop {
            let complete = body.drain_buffered(self.rb, self.out, self.how, self.src_side)?;
            // Flush before blocking on the next read, so a streamed body (SSE, long polls)
            // reaches the peer as it arrives.
            if self.how == OutFraming::Discard {
                self.out.clear();
            } else {
                self.write().await?;
            }
            if complete {
                return Ok(());
            }
            let side = self.src_side;
            let read = {
                let read = std::pin::pin!(read_untimed(
                    self.src,
                    self.rb,
                    self.pool,
                    crate::buffers::BIG * 4,
                    side
                ));
                self.watch.within(self.read_timeout, read).await
            };
            let n = match read {
                Ok(r) => r?,
                Err(Elapsed) => return Err(Error::new(timeout_kind(side), side, "read")),
            };
            if n == 0 {
                if body.framing == Framing::UntilClose {
                    body.finish(self.out, self.how);
                    self.write().await?;
                    return Ok(());
                }
                let kind = match self.src_side {
                    Side::Upstream => ErrorKind::UpstreamClosed,
                    _ => ErrorKind::ClientIo,
                };
                return Err(Error::new(kind, self.src_side, "body"));
            }
        }
    }

    /// Write and clear `out`.
    async fn write(&mut self) -> Result<(), Error> {
        if self.out.is_empty() {
            return Ok(());
        }
        let side = self.dst_side;
        let r = {
            let write = std::pin::pin!(write_untimed(self.dst, self.out, side));
            self.watch.within(self.write_timeout, write).await
        };
        match r {
            Ok(r) => {
                if r.is_ok() {
                    self.sent += self.out.len() as u64;
                }
                self.out.clear();
                r
            }
            Err(Elapsed) => Err(Error::new(timeout_kind(side), side, "write")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_body_stops_at_its_length() {
        let mut rb = RecvBuf::new(b"helloGET / HTTP/1.1".to_vec());
        let mut body = BodyIn::new(Framing::Length(5), 100);
        let mut out = Vec::new();
        assert!(
            body.drain_buffered(&mut rb, &mut out, OutFraming::Raw, Side::Downstream)
                .unwrap()
        );
        assert_eq!(out, b"hello");
        assert_eq!(rb.unread(), b"GET / HTTP/1.1");
    }

    #[test]
    fn partial_length_body_needs_more() {
        let mut rb = RecvBuf::new(b"hel".to_vec());
        let mut body = BodyIn::new(Framing::Length(5), 100);
        let mut out = Vec::new();
        assert!(
            !body
                .drain_buffered(&mut rb, &mut out, OutFraming::Chunked, Side::Downstream)
                .unwrap()
        );
        assert_eq!(out, b"3\r\nhel\r\n");
        assert!(rb.is_empty());
    }

    #[test]
    fn limit_is_enforced() {
        let mut rb = RecvBuf::new(b"0123456789".to_vec());
        let mut body = BodyIn::new(Framing::Length(10), 4);
        let mut out = Vec::new();
        let e = body.drain_buffered(&mut rb, &mut out, OutFraming::Raw, Side::Downstream);
        assert_eq!(e.unwrap_err().status(), 413);
    }

    /// 4 MiB is more than a loopback socket takes at once: the first send is partial and the
    /// rest goes out through `write_all`, in order.
    #[test]
    fn a_large_write_goes_out_whole_and_in_order() {
        use monoio::io::AsyncReadRentExt;
        for d in [crate::Driver::Uring, crate::Driver::Legacy] {
            d.block_on(false, async {
                let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let data: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
                let want = data.clone();
                let reader = monoio::spawn(async move {
                    let (mut s, _) = listener.accept().await.unwrap();
                    let (res, got) = s.read_exact(vec![0u8; 4 << 20]).await;
                    res.unwrap();
                    got
                });
                let mut w = monoio::net::TcpStream::connect_addr(addr).await.unwrap();
                let mut out = data;
                write_untimed(&mut w, &mut out, Side::Downstream)
                    .await
                    .unwrap();
                assert_eq!(out.len(), 4 << 20, "the buffer comes back");
                assert!(reader.await == want);
            })
            .unwrap();
        }
    }

    #[test]
    fn empty_bodies_are_done() {
        assert!(BodyIn::new(Framing::None, 0).is_done());
        assert!(BodyIn::new(Framing::Length(0), 0).is_done());
        assert!(!BodyIn::new(Framing::Chunked, 0).is_done());
    }
}
