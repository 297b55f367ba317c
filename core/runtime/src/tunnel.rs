//! A WebSocket connection after its 101: bytes relayed both ways without interpretation
//! until either side closes or the connection idles out.

use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Splitable};
use monoio::net::TcpStream;

use crate::buffers::RecvBuf;
use crate::worker::Worker;

/// Relay between the client and the upstream; `client_rb` / `up_rb` hold bytes already read
/// past the handshake.
pub async fn relay(
    w: &Worker,
    client: TcpStream,
    client_rb: RecvBuf,
    up: TcpStream,
    up_rb: RecvBuf,
    idle: Duration,
) {
    let (cr, cw) = client.into_split();
    let (ur, uw) = up.into_split();
    let a = w.pool.big();
    let b = w.pool.big();
    let (a, b) = monoio::join!(
        copy(cr, uw, client_rb.unread().to_vec(), a, idle),
        copy(ur, cw, up_rb.unread().to_vec(), b, idle)
    );
    w.pool.put(a);
    w.pool.put(b);
}

/// Copy `src` to `dst` (after `first`), then shut `dst`'s write side down.
async fn copy<R: AsyncReadRent, W: AsyncWriteRent>(
    mut src: R,
    mut dst: W,
    first: Vec<u8>,
    mut buf: Vec<u8>,
    idle: Duration,
) -> Vec<u8> {
    if !first.is_empty() {
        let (r, _) = dst.write_all(first).await;
        if r.is_err() {
            return buf;
        }
    }
    loop {
        buf.clear();
        let read = monoio::time::timeout(idle, src.read(buf)).await;
        let Ok((res, b)) = read else {
            return Vec::new();
        };
        buf = b;
        match res {
            Ok(n) if n > 0 => {}
            _ => break,
        }
        let (res, b) = dst.write_all(buf).await;
        buf = b;
        if res.is_err() {
            return buf;
        }
    }
    let _ = dst.shutdown().await;
    buf
}
