//! A client connection's stream: plain TCP, TLS, or one HTTP/2 stream, behind [`Transport`].

use std::io;

use monoio::net::TcpStream;

use crate::h2_stream::StreamPipe;
use crate::tls::TlsStream;
use crate::transport::Transport;

/// A client connection's stream.
pub enum ClientStream {
    Plain(TcpStream),
    /// Boxed: the TLS state is large, and a plain connection should not carry its room.
    Tls(Box<TlsStream>),
    /// One stream of an HTTP/2 connection, carrying one request (`crate::h2_stream`).
    H2(Box<StreamPipe>),
}

impl ClientStream {
    /// Whether reads come from a multishot receive, so an idle connection can wait with
    /// [`ClientStream::recv_ready`] and no buffer. A TLS stream always reads with a buffer of
    /// its own (rustls may hold bytes already received), so it says no.
    #[inline]
    pub fn has_multishot(&self) -> bool {
        match self {
            ClientStream::Plain(s) => s.has_multishot(),
            ClientStream::Tls(_) | ClientStream::H2(_) => false,
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
            ClientStream::H2(s) => s.client_subject(),
        }
    }

    /// Whether the connection came over TLS.
    pub fn is_tls(&self) -> bool {
        match self {
            ClientStream::Plain(_) => false,
            ClientStream::Tls(_) => true,
            ClientStream::H2(s) => s.is_tls(),
        }
    }
}

impl Transport for ClientStream {
    #[inline]
    async fn read_into(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        match self {
            ClientStream::Plain(s) => s.read_into(buf).await,
            // boxed, so the plain read's future does not carry the TLS read's room
            ClientStream::Tls(t) => Box::pin(t.read_into(buf)).await,
            ClientStream::H2(s) => Box::pin(s.read_into(buf)).await,
        }
    }

    #[inline]
    async fn write_all_of(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        match self {
            ClientStream::Plain(s) => s.write_all_of(buf).await,
            ClientStream::Tls(t) => Box::pin(t.write_all_of(buf)).await,
            ClientStream::H2(s) => Box::pin(s.write_all_of(buf)).await,
        }
    }
}
