//! An upstream connection's stream: plain TCP or TLS (`server … tls`), behind [`Transport`].

use std::io;

use monoio::net::TcpStream;

use crate::tls::TlsStream;
use crate::transport::Transport;

/// An upstream connection's stream.
pub enum UpStream {
    Plain(TcpStream),
    /// Boxed: the TLS state is large, and a plain connection should not carry its room.
    Tls(Box<TlsStream>),
}

impl std::fmt::Debug for UpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UpStream::Plain(_) => "UpStream::Plain",
            UpStream::Tls(_) => "UpStream::Tls",
        })
    }
}

impl UpStream {
    /// Nothing has arrived on the connection since its last response (bytes no request asked
    /// for, or its close): only such a pooled connection is reused.
    pub fn is_quiet(&mut self) -> bool {
        match self {
            UpStream::Plain(s) => s.is_quiet(),
            UpStream::Tls(t) => t.is_quiet(),
        }
    }
}

impl Transport for UpStream {
    #[inline]
    async fn read_into(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
        match self {
            UpStream::Plain(s) => s.read_into(buf).await,
            // boxed, so the plain read's future does not carry the TLS read's room
            UpStream::Tls(t) => Box::pin(t.read_into(buf)).await,
        }
    }

    #[inline]
    async fn write_all_of(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        match self {
            UpStream::Plain(s) => s.write_all_of(buf).await,
            UpStream::Tls(t) => Box::pin(t.write_all_of(buf)).await,
        }
    }
}
