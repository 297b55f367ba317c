//! The two ends of a tunnel as byte streams: the upstream's socket halves, and the client's,
//! plain or through the connection's TLS state (shared by both halves, borrowed only
//! between awaits).

use std::cell::RefCell;
use std::io::{self, BufRead, Write};

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::tcp::{TcpOwnedReadHalf, TcpOwnedWriteHalf};

/// Room for one TLS record with its header and the largest expansion TLS 1.2 allows.
const RECORD: usize = 16 * 1024 + 2048 + 5;

/// The side a tunnel reads from.
pub enum In<'a> {
    Tcp(TcpOwnedReadHalf),
    Tls {
        half: TcpOwnedReadHalf,
        tls: &'a RefCell<rustls::Connection>,
        /// Ciphertext read and not yet handed to rustls.
        cipher: Vec<u8>,
    },
}

impl In<'_> {
    /// Read what arrives next into `buf` (emptied first; plaintext for TLS). `Ok(0)`: the
    /// peer closed (a TLS peer's `close_notify` too).
    pub async fn read(&mut self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        buf.clear();
        match self {
            In::Tcp(half) => half.read(buf).await,
            In::Tls { half, tls, cipher } => loop {
                let ok = feed(&mut tls.borrow_mut(), cipher, &mut buf);
                cipher.clear();
                if !buf.is_empty() {
                    return (Ok(buf.len()), buf);
                }
                if !ok {
                    return (Ok(0), buf);
                }
                if cipher.capacity() < RECORD {
                    cipher.reserve_exact(RECORD);
                }
                let (res, c) = half.read(std::mem::take(cipher)).await;
                *cipher = c;
                match res {
                    Ok(0) => return (Ok(0), buf),
                    Ok(_) => {}
                    Err(e) => return (Err(e), buf),
                }
            },
        }
    }
}

/// Hand `cipher` to rustls and append the plaintext it yields to `plain`. False: the stream
/// ended (close_notify) or broke.
fn feed(tls: &mut rustls::Connection, mut cipher: &[u8], plain: &mut Vec<u8>) -> bool {
    loop {
        loop {
            let mut r = tls.reader();
            let n = match r.fill_buf() {
                Ok([]) => return false,
                Ok(chunk) => {
                    plain.extend_from_slice(chunk);
                    chunk.len()
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return false,
            };
            r.consume(n);
        }
        if cipher.is_empty() {
            return true;
        }
        match tls.read_tls(&mut cipher) {
            Ok(n) if n > 0 => {}
            _ => return false,
        }
        if tls.process_new_packets().is_err() {
            return false;
        }
    }
}

/// The side a tunnel writes to.
pub enum Out<'a> {
    Tcp(TcpOwnedWriteHalf),
    Tls {
        half: TcpOwnedWriteHalf,
        tls: &'a RefCell<rustls::Connection>,
        /// Records being written.
        tx: Vec<u8>,
    },
}

impl Out<'_> {
    /// Write all of `buf` (plaintext for TLS); the buffer comes back whatever happens.
    pub async fn write(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        match self {
            Out::Tcp(half) => {
                let (res, buf) = half.write_all(buf).await;
                (res.map(|_| ()), buf)
            }
            Out::Tls { half, tls, tx } => {
                let mut done = 0;
                while done < buf.len() {
                    tx.clear();
                    {
                        let mut tls = tls.borrow_mut();
                        let n = match tls.writer().write(buf.get(done..).unwrap_or(&[])) {
                            Ok(n) => n,
                            Err(e) => return (Err(e), buf),
                        };
                        done += n;
                        while tls.wants_write() {
                            if let Err(e) = tls.write_tls(tx) {
                                return (Err(e), buf);
                            }
                        }
                        if n == 0 && tx.is_empty() {
                            return (Err(io::ErrorKind::WriteZero.into()), buf);
                        }
                    }
                    let (res, t) = half.write_all(std::mem::take(tx)).await;
                    *tx = t;
                    if let Err(e) = res {
                        return (Err(e), buf);
                    }
                }
                (Ok(()), buf)
            }
        }
    }

    /// The end of the stream: a TLS `close_notify`, then the socket's FIN.
    pub async fn finish(&mut self) {
        let half = match self {
            Out::Tcp(half) => half,
            Out::Tls { half, tls, tx } => {
                tx.clear();
                {
                    let mut tls = tls.borrow_mut();
                    tls.send_close_notify();
                    while tls.wants_write() {
                        if tls.write_tls(tx).is_err() {
                            break;
                        }
                    }
                }
                let (_, t) = half.write_all(std::mem::take(tx)).await;
                *tx = t;
                half
            }
        };
        let _ = half.shutdown().await;
    }
}
