//! The byte streams gw reads and writes through one interface: a plain TCP socket, or TLS
//! over one (`crate::tls::TlsStream` implements [`Transport`] itself; a client's stream of
//! either kind is `crate::client_stream::ClientStream`). The body and head code is generic
//! over [`Transport`], so a plain connection runs the same code it would with a bare
//! `TcpStream`.

use std::io;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

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
