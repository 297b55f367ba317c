//! The byte streams gw reads and writes through one interface: a plain TCP socket, or TLS
//! over one ([`crate::tls::TlsStream`]). The body and head code is generic over
//! [`Transport`], so a plain connection runs the same code it would with a bare `TcpStream`.

use std::io;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::tls::TlsStream;

/// Reads into and writes from owned `Vec<u8>` buffers, as monoio's I/O takes them.
pub trait Transport {
    /// Read into `buf`'s spare capacity, appending, never growing it. `Ok(0)`: end of stream.
    fn read_into(&mut self, buf: Vec<u8>) -> impl Future<Output = (io::Result<usize>, Vec<u8>)>;

    /// Write all of `buf`; the buffer comes back whatever happens.
    fn write_all_of(&mut self, buf: Vec<u8>) -> impl Future<Output = (io::Result<()>, Vec<u8>)>;
}

impl Transport for TcpStream {
    #[inline]
    async fn read_into(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        let len = buf.len();
        let (res, slice) = self.read(IoBufMut::slice_mut(buf, len..)).await;
        (res, slice.into_inner())
    }

    async fn write_all_of(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        // One send takes the whole buffer but for a full socket buffer: write_all (a loop
        // around the same op, its future moved at each await) only for what is left.
        let (res, buf) = self.write(buf).await;
        match res {
            Ok(n) if n >= buf.len() => (Ok(()), buf),
            Ok(0) => (Err(io::ErrorKind::WriteZero.into()), buf),
            Ok(n) => {
                let (res, rest) = self.write_all(monoio::buf::IoBuf::slice(buf, n..)).await;
                (res.map(|_| ()), rest.into_inner())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                let (res, rest) = self.write_all(monoio::buf::IoBuf::slice(buf, 0..)).await;
                (res.map(|_| ()), rest.into_inner())
            }
            Err(e) => (Err(e), buf),
        }
    }
}

/// A client connection's stream.
pub enum ClientStream {
    Plain(TcpStream),
    /// Boxed: the TLS state is large, and a plain connection should not carry its room.
    Tls(Box<TlsStream>),
}

impl ClientStream {
    /// Whether reads come from a multishot receive, so an idle connection can wait with
    /// [`ClientStream::recv_ready`] and no buffer. A TLS stream always reads with a buffer of
    /// its own (rustls may hold bytes already received), so it says no.
    #[inline]
    pub fn has_multishot(&self) -> bool {
        match self {
            ClientStream::Plain(s) => s.has_multishot(),
            ClientStream::Tls(_) => false,
        }
    }

    /// Wait until a read would find something (only with [`ClientStream::has_multishot`]).
    pub async fn recv_ready(&mut self) {
        if let ClientStream::Plain(s) = self {
            s.recv_ready().await;
        }
    }

    /// The subject of the client's verified certificate (mutual TLS).
    pub fn client_subject(&self) -> Option<&str> {
        match self {
            ClientStream::Plain(_) => None,
            ClientStream::Tls(t) => t.client_subject(),
        }
    }

    /// Whether the connection came over TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, ClientStream::Tls(_))
    }
}

impl Transport for ClientStream {
    #[inline]
    async fn read_into(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        match self {
            ClientStream::Plain(s) => s.read_into(buf).await,
            // boxed, so the plain read's future does not carry the TLS read's room
            ClientStream::Tls(t) => Box::pin(t.read_into(buf)).await,
        }
    }

    #[inline]
    async fn write_all_of(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        match self {
            ClientStream::Plain(s) => s.write_all_of(buf).await,
            ClientStream::Tls(t) => Box::pin(t.write_all_of(buf)).await,
        }
    }
}
