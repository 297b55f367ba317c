//! TLS over a monoio `TcpStream`, driving a `rustls::Connection` with monoio's owned-buffer
//! reads and writes: ciphertext is read into a buffer of the stream's own and fed to rustls,
//! plaintext is copied out into the caller's buffer; plaintext written is encrypted by rustls
//! and its records written in one send.

use std::io::{self, BufRead, Write};
use std::sync::Arc;

use monoio::net::TcpStream;

use crate::transport::Transport;

/// Room for one TLS record with its header and the largest expansion TLS 1.2 allows.
const RECORD: usize = 16 * 1024 + 2048 + 5;

/// One TLS connection over TCP (either side).
pub struct TlsStream {
    tcp: TcpStream,
    tls: rustls::Connection,
    /// Ciphertext read and not yet handed to rustls: `rx[rx_pos..]`.
    rx: Vec<u8>,
    rx_pos: usize,
    /// Records being written.
    tx: Vec<u8>,
    /// The verified client certificate's subject (mutual TLS), set by the handshake.
    subject: Option<Box<str>>,
}

impl TlsStream {
    /// The server side of a connection a listener accepted.
    pub fn server(tcp: TcpStream, config: Arc<rustls::ServerConfig>) -> io::Result<TlsStream> {
        let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(TlsStream::new(tcp, rustls::Connection::Server(conn)))
    }

    /// The client side of a connection to the server `name`.
    pub fn client(
        tcp: TcpStream,
        config: Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
    ) -> io::Result<TlsStream> {
        let conn = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
        Ok(TlsStream::new(tcp, rustls::Connection::Client(conn)))
    }

    fn new(tcp: TcpStream, tls: rustls::Connection) -> TlsStream {
        TlsStream {
            tcp,
            tls,
            rx: Vec::new(),
            rx_pos: 0,
            tx: Vec::new(),
            subject: None,
        }
    }

    /// The subject of the peer's verified certificate, once the handshake is done.
    pub fn client_subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// Nothing arrived since the last read: no ciphertext or plaintext waiting, no
    /// `close_notify`, nothing on the socket. A pooled connection is reused only then.
    pub fn is_quiet(&mut self) -> bool {
        self.rx_pos >= self.rx.len()
            && self
                .tls
                .process_new_packets()
                .is_ok_and(|s| s.plaintext_bytes_to_read() == 0 && !s.peer_has_closed())
            && self.tcp.is_quiet()
    }

    /// The socket, the TLS state and the ciphertext read but not yet handed to rustls.
    pub fn into_parts(self) -> (TcpStream, rustls::Connection, Vec<u8>) {
        let rest = self.rx.get(self.rx_pos..).unwrap_or(&[]).to_vec();
        (self.tcp, self.tls, rest)
    }

    /// Run the handshake to its end (the caller bounds it in time). A peer that fails it
    /// gets rustls's alert before the error returns.
    pub async fn handshake(&mut self) -> io::Result<()> {
        while self.tls.is_handshaking() {
            if self.tls.wants_write() {
                self.flush().await?;
            } else if !self.fill().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        // rustls verified the chain against `client_ca`: only a verified client has one
        if let rustls::Connection::Server(s) = &self.tls {
            self.subject = s
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| super::subject::of_cert(c))
                .map(String::into_boxed_str);
        }
        // what the server sends after its Finished (TLS 1.3 session tickets)
        self.flush().await
    }

    /// Send a `close_notify` alert (the socket itself closes when the stream drops).
    pub async fn close(&mut self) -> io::Result<()> {
        self.tls.send_close_notify();
        self.flush().await
    }

    /// Read ciphertext when none is left over, and hand it to rustls. `Ok(false)`: the
    /// socket reached its end (rustls is told, so its reader reports how the peer closed).
    async fn fill(&mut self) -> io::Result<bool> {
        if self.rx_pos >= self.rx.len() {
            self.rx.clear();
            self.rx_pos = 0;
            if self.rx.capacity() < RECORD {
                self.rx.reserve_exact(RECORD);
            }
            let (res, rx) = self.tcp.read_into(std::mem::take(&mut self.rx)).await;
            self.rx = rx;
            if res? == 0 {
                self.tls.read_tls(&mut io::empty())?;
                return Ok(false);
            }
        }
        let mut pending = self.rx.get(self.rx_pos..).unwrap_or(&[]);
        let n = self.tls.read_tls(&mut pending)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "TLS input not taken",
            ));
        }
        self.rx_pos += n;
        if let Err(e) = self.tls.process_new_packets() {
            // the alert rustls queued for the peer, best effort: the error is what matters
            let _ = self.flush().await;
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        Ok(true)
    }

    /// Write every record rustls has queued.
    async fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            let mut tx = std::mem::take(&mut self.tx);
            tx.clear();
            while self.tls.wants_write() {
                if let Err(e) = self.tls.write_tls(&mut tx) {
                    self.tx = tx;
                    return Err(e);
                }
            }
            let (res, tx) = self.tcp.write_all_of(tx).await;
            self.tx = tx;
            res?;
        }
        Ok(())
    }

    /// Copy decrypted bytes into `buf`'s spare room. `None`: none yet.
    fn take_plaintext(&mut self, buf: &mut Vec<u8>) -> Option<io::Result<usize>> {
        let room = buf.capacity() - buf.len();
        let mut reader = self.tls.reader();
        let n = match reader.fill_buf() {
            Ok(chunk) => {
                let n = chunk.len().min(room);
                buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
                n
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            // The peer closed without close_notify: an end of stream like any other; HTTP's
            // own framing tells a truncated message.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Some(Err(e)),
        };
        reader.consume(n);
        Some(Ok(n))
    }
}

impl Transport for TlsStream {
    async fn read_into(&mut self, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        loop {
            if let Some(r) = self.take_plaintext(&mut buf) {
                return (r, buf);
            }
            if self.tls.wants_write()
                && let Err(e) = self.flush().await
            {
                return (Err(e), buf);
            }
            if let Err(e) = self.fill().await {
                return (Err(e), buf);
            }
        }
    }

    async fn write_all_of(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let mut done = 0;
        while done < buf.len() {
            let rest = buf.get(done..).unwrap_or(&[]);
            let n = match self.tls.writer().write(rest) {
                Ok(n) => n,
                Err(e) => return (Err(e), buf),
            };
            if n == 0 && !self.tls.wants_write() {
                return (Err(io::ErrorKind::WriteZero.into()), buf);
            }
            done += n;
            if let Err(e) = self.flush().await {
                return (Err(e), buf);
            }
        }
        (Ok(()), buf)
    }
}
