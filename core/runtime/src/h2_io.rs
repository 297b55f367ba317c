//! The byte stream under an HTTP/2 connection. The `h2` crate reads and writes through tokio's
//! `AsyncRead`/`AsyncWrite` (poll functions, borrowed buffers); monoio's sockets take owned
//! buffers in futures. [`H2Io`] bridges the two without `unsafe`: the socket is split into its
//! read and write halves, and each poll drives a boxed future that owns its half and its
//! buffer until the operation completes, so reading and writing proceed at once. A TLS
//! connection shares its rustls state between the halves (as `tunnel.rs` does), borrowed only
//! between awaits.
//!
//! Every frame header read is also counted on its way to `h2` ([`FrameCounts`]): the floods
//! `h2` bounds in memory but does not end (SETTINGS, PING, PRIORITY, empty DATA, unknown
//! frames, and resets beyond its own rapid-reset guard) end the connection with GOAWAY
//! `ENHANCE_YOUR_CALM`.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{self, BufRead, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, OwnedReadHalf, OwnedWriteHalf};
use monoio::net::TcpStream;
use tokio::io::ReadBuf;

/// Socket reads: room for a TLS record with its header and expansion.
const READ: usize = 16 * 1024 + 2048 + 5;
/// Bytes `h2` may queue before a write waits for the socket.
const WRITE_HIGH: usize = 64 * 1024;
/// After the connection ends, how long and how much of what the client still sends is read
/// and dropped, so the GOAWAY is not lost to a reset from unread input.
const LINGER: (Duration, usize) = (Duration::from_secs(1), 1024 * 1024);
/// Frames that cost work and serve no request (see [`FrameCounts`]): this many, plus
/// [`PER_REQUEST`] for each request the client opened.
const IDLE_FRAMES: u64 = 1000;
const PER_REQUEST: u64 = 2;
/// Streams the client may reset beyond half of those it opened.
const RESETS: u64 = 100;
/// The HTTP/2 connection preface, which is not framed.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

type ReadOp = Pin<Box<dyn Future<Output = (io::Result<usize>, Vec<u8>, OwnedReadHalf<TcpStream>)>>>;
type WriteOp = Pin<Box<dyn Future<Output = (io::Result<()>, Vec<u8>, OwnedWriteHalf<TcpStream>)>>>;
type Tls = Rc<RefCell<rustls::Connection>>;

/// What the frame scan found, shared with the connection's task.
#[derive(Debug, Default)]
pub struct FrameCounts {
    requests: Cell<u64>,
    idle: Cell<u64>,
    resets: Cell<u64>,
    /// Set when a count passed its limit: the flood, for the log.
    calm: Cell<Option<&'static str>>,
}

impl FrameCounts {
    /// The flood that must end the connection, once one has passed its limit.
    pub fn calm(&self) -> Option<&'static str> {
        self.calm.get()
    }

    fn frame(&self, kind: u8, flags: u8, len: u32) {
        const END_STREAM: u8 = 0x1;
        const ACK: u8 = 0x1;
        let idle = match kind {
            0 => len == 0 && flags & END_STREAM == 0,
            1 => {
                self.requests.set(self.requests.get() + 1);
                false
            }
            2 => true,
            3 => {
                self.resets.set(self.resets.get() + 1);
                false
            }
            4 | 6 => flags & ACK == 0,
            5 | 7 | 8 | 9 => false,
            // unknown types are ignored by the protocol: only their cost is real
            _ => true,
        };
        if idle {
            self.idle.set(self.idle.get() + 1);
        }
        let requests = self.requests.get();
        if self.idle.get() > IDLE_FRAMES + PER_REQUEST * requests {
            self.calm.set(Some(match kind {
                0 => "empty DATA frames",
                2 => "PRIORITY frames",
                4 => "SETTINGS frames",
                6 => "PING frames",
                _ => "unknown frames",
            }));
        } else if self.resets.get() > RESETS + requests / 2 {
            self.calm.set(Some("stream resets"));
        }
    }
}

/// Reads frame headers out of the bytes handed to `h2`.
#[derive(Debug)]
struct FrameScan {
    preface: usize,
    head: [u8; 9],
    have: usize,
    skip: u64,
}

impl FrameScan {
    fn scan(&mut self, mut bytes: &[u8], counts: &FrameCounts) {
        let skip = self.preface.min(bytes.len());
        self.preface -= skip;
        bytes = bytes.get(skip..).unwrap_or(&[]);
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = usize::try_from(self.skip)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                self.skip -= n as u64;
                bytes = bytes.get(n..).unwrap_or(&[]);
                continue;
            }
            let n = (9 - self.have).min(bytes.len());
            if let (Some(dst), Some(src)) =
                (self.head.get_mut(self.have..self.have + n), bytes.get(..n))
            {
                dst.copy_from_slice(src);
            }
            self.have += n;
            bytes = bytes.get(n..).unwrap_or(&[]);
            if self.have == 9 {
                self.have = 0;
                let [a, b, c, kind, flags, ..] = self.head;
                let len = u32::from_be_bytes([0, a, b, c]);
                self.skip = u64::from(len);
                counts.frame(kind, flags, len);
            }
        }
    }
}

/// The read side: plaintext for `h2` in `plain[pos..]`; with TLS, ciphertext in `raw[raw_pos..]`.
struct Reader {
    half: Option<OwnedReadHalf<TcpStream>>,
    op: Option<ReadOp>,
    raw: Vec<u8>,
    raw_pos: usize,
    plain: Vec<u8>,
    pos: usize,
    eof: bool,
}

/// The write side: bytes (ciphertext with TLS) waiting in `buf`, or in flight in `op`.
struct Writer {
    half: Option<OwnedWriteHalf<TcpStream>>,
    op: Option<WriteOp>,
    buf: Vec<u8>,
    shut: Option<Pin<Box<dyn Future<Output = ()>>>>,
    /// `shut` has completed (a finished future is not polled again).
    shut_done: bool,
    /// close_notify queued.
    notified: bool,
}

/// An HTTP/2 connection's socket, as `h2` reads and writes it.
pub struct H2Io {
    rd: Reader,
    wr: Writer,
    tls: Option<Tls>,
    scan: FrameScan,
    counts: Rc<FrameCounts>,
    linger: Option<(Pin<Box<monoio::time::Sleep>>, usize)>,
}

impl H2Io {
    /// `first`: plaintext already read off the connection (the preface, at least in part);
    /// `cipher`: ciphertext read but not yet handed to rustls.
    pub fn new(
        tcp: TcpStream,
        tls: Option<rustls::Connection>,
        first: Vec<u8>,
        cipher: Vec<u8>,
        counts: Rc<FrameCounts>,
    ) -> H2Io {
        let (r, w) = monoio::io::Splitable::into_split(tcp);
        H2Io {
            rd: Reader {
                half: Some(r),
                op: None,
                raw: cipher,
                raw_pos: 0,
                plain: first,
                pos: 0,
                eof: false,
            },
            wr: Writer {
                half: Some(w),
                op: None,
                buf: Vec::new(),
                shut: None,
                shut_done: false,
                notified: false,
            },
            tls: tls.map(|t| Rc::new(RefCell::new(t))),
            scan: FrameScan {
                preface: PREFACE.len(),
                head: [0; 9],
                have: 0,
                skip: 0,
            },
            counts,
            linger: None,
        }
    }

    /// Read from the socket into `raw` (TLS) or `plain`. `Ok(false)`: end of stream.
    fn poll_socket(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let rd = &mut self.rd;
        if rd.op.is_none() {
            let Some(mut half) = rd.half.take() else {
                return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
            };
            let mut buf = std::mem::take(if self.tls.is_some() {
                &mut rd.raw
            } else {
                &mut rd.plain
            });
            buf.clear();
            if buf.capacity() < READ {
                buf.reserve_exact(READ);
            }
            rd.op = Some(Box::pin(async move {
                let (res, buf) = half.read(buf).await;
                (res, buf, half)
            }));
        }
        let Some(op) = rd.op.as_mut() else {
            return Poll::Pending;
        };
        let (res, buf, half) = ready!(op.as_mut().poll(cx));
        rd.op = None;
        rd.half = Some(half);
        if self.tls.is_some() {
            rd.raw = buf;
            rd.raw_pos = 0;
        } else {
            rd.plain = buf;
            rd.pos = 0;
        }
        Poll::Ready(res.map(|n| n > 0))
    }

    /// Move plaintext rustls has decrypted into `plain`, feeding it ciphertext as needed.
    /// `Ready(Ok(true))`: some came; `Ok(false)`: the TLS stream ended.
    fn poll_tls(&mut self, cx: &mut Context<'_>, tls: &Tls) -> Poll<io::Result<bool>> {
        loop {
            {
                let mut t = tls.borrow_mut();
                let mut reader = t.reader();
                match reader.fill_buf() {
                    Ok([]) => return Poll::Ready(Ok(false)),
                    Ok(chunk) => {
                        let n = chunk.len();
                        self.rd.plain.clear();
                        self.rd.pos = 0;
                        self.rd.plain.extend_from_slice(chunk);
                        reader.consume(n);
                        return Poll::Ready(Ok(true));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // closed without close_notify: an end like any other; HTTP/2 frames tell
                    // a truncated exchange
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        return Poll::Ready(Ok(false));
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                }
                if self.rd.raw_pos < self.rd.raw.len() {
                    let mut pending = self.rd.raw.get(self.rd.raw_pos..).unwrap_or(&[]);
                    let n = t.read_tls(&mut pending)?;
                    self.rd.raw_pos += n;
                    t.process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    continue;
                }
                if self.rd.eof {
                    t.read_tls(&mut io::empty())?;
                    t.process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    return Poll::Ready(Ok(false));
                }
            }
            if !ready!(self.poll_socket(cx))? {
                self.rd.eof = true;
            }
        }
    }

    /// Drive the write in flight, if any.
    fn poll_op(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(op) = self.wr.op.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let (res, mut buf, half) = ready!(op.as_mut().poll(cx));
        self.wr.op = None;
        self.wr.half = Some(half);
        if self.wr.buf.is_empty() {
            buf.clear();
            self.wr.buf = buf;
        }
        Poll::Ready(res)
    }

    /// Start writing what `buf` holds.
    fn start_write(&mut self) -> io::Result<()> {
        let Some(mut half) = self.wr.half.take() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let buf = std::mem::take(&mut self.wr.buf);
        self.wr.op = Some(Box::pin(async move {
            let (res, buf) = half.write_all(buf).await;
            (res.map(|_| ()), buf, half)
        }));
        Ok(())
    }

    /// Move the records rustls has queued into `buf`.
    fn take_records(&mut self) -> io::Result<()> {
        if let Some(tls) = &self.tls {
            let mut t = tls.borrow_mut();
            while t.wants_write() {
                t.write_tls(&mut self.wr.buf)?;
            }
        }
        Ok(())
    }

    /// Read and drop what the client still sends, for a bounded time and amount.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let (timer, _) = self
            .linger
            .get_or_insert_with(|| (Box::pin(monoio::time::sleep(LINGER.0)), 0));
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        loop {
            match ready!(self.poll_socket(cx)) {
                Ok(true) => {
                    let n = if self.tls.is_some() {
                        self.rd.raw.len()
                    } else {
                        self.rd.plain.len()
                    };
                    self.rd.raw.clear();
                    self.rd.plain.clear();
                    let Some((_, read)) = self.linger.as_mut() else {
                        return Poll::Ready(());
                    };
                    *read += n;
                    if *read > LINGER.1 {
                        return Poll::Ready(());
                    }
                }
                _ => return Poll::Ready(()),
            }
        }
    }
}

impl tokio::io::AsyncRead for H2Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.counts.calm().is_some() {
                // the connection's task ends the connection: nothing more for h2 to read
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if this.rd.pos < this.rd.plain.len() {
                let rest = this.rd.plain.get(this.rd.pos..).unwrap_or(&[]);
                let n = rest.len().min(out.remaining());
                let chunk = rest.get(..n).unwrap_or(&[]);
                this.scan.scan(chunk, &this.counts);
                out.put_slice(chunk);
                this.rd.pos += n;
                return Poll::Ready(Ok(()));
            }
            let more = match this.tls.clone() {
                Some(tls) => ready!(this.poll_tls(cx, &tls))?,
                None if this.rd.eof => false,
                None => ready!(this.poll_socket(cx))?,
            };
            if !more {
                this.rd.eof = true;
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl tokio::io::AsyncWrite for H2Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            ready!(this.poll_op(cx))?;
            if this.wr.buf.len() >= WRITE_HIGH {
                this.start_write()?;
                continue;
            }
            let n = match this.tls.clone() {
                Some(tls) => {
                    let n = tls.borrow_mut().writer().write(data)?;
                    this.take_records()?;
                    n
                }
                None => {
                    this.wr.buf.extend_from_slice(data);
                    data.len()
                }
            };
            if n > 0 || data.is_empty() {
                return Poll::Ready(Ok(n));
            }
            // rustls took nothing: what it holds must go out first
            if this.wr.buf.is_empty() {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            this.start_write()?;
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            ready!(this.poll_op(cx))?;
            this.take_records()?;
            if this.wr.buf.is_empty() {
                return Poll::Ready(Ok(()));
            }
            this.start_write()?;
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.wr.shut.is_none() {
            if let Some(tls) = &this.tls
                && !this.wr.notified
            {
                this.wr.notified = true;
                tls.borrow_mut().send_close_notify();
            }
            ready!(Pin::new(&mut *this).poll_flush(cx))?;
            let Some(mut half) = this.wr.half.take() else {
                return Poll::Ready(Ok(()));
            };
            this.wr.shut = Some(Box::pin(async move {
                let _ = half.shutdown().await;
            }));
        }
        if let Some(shut) = this.wr.shut.as_mut()
            && !this.wr.shut_done
        {
            ready!(shut.as_mut().poll(cx));
            this.wr.shut_done = true;
        }
        ready!(this.poll_linger(cx));
        Poll::Ready(Ok(()))
    }
}
