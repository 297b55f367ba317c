//! The forwarding loop: accept, connect once to the upstream, pump both directions, every
//! socket receiving through its multishot receive.

use std::io;
use std::net::SocketAddr;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Splitable};
use monoio::net::{TcpListener, TcpStream};

/// Per-direction buffer, reused for the connection's life.
const BUF: usize = 16 * 1024;
/// The provided-buffer ring: buffers, bytes each, and the most sockets on multishot receive
/// (gw-runtime's `BUF_RING`; the benchmark's c50 uses 100 sockets). A receive copies out of
/// its buffer and gives it back at once, so few buffers are held at a time.
const BUF_RING: (u16, usize, usize) = (512, 8192, 256);

/// Accept forever; each connection runs as its own task on this thread.
pub async fn serve(listen: SocketAddr, upstream: SocketAddr) -> io::Result<()> {
    // before any socket exists, so every one can use it
    if !monoio::utils::register_buf_ring(BUF_RING.0, BUF_RING.1, BUF_RING.2)? {
        eprintln!("gw-floor: no provided-buffer ring on this driver: one receive per read");
    }
    let listener = TcpListener::bind(listen)?;
    loop {
        let (client, _) = match listener.accept().await {
            Ok(c) => c,
            // Out of descriptors or an aborted handshake: keep serving the others.
            Err(e) => {
                eprintln!("gw-floor: accept: {e}");
                continue;
            }
        };
        monoio::spawn(async move {
            if let Err(e) = relay(client, upstream).await
                && !quiet(&e)
            {
                eprintln!("gw-floor: relay: {e}");
            }
        });
    }
}

/// Resets and broken pipes are how benchmark clients end connections.
fn quiet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

async fn relay(mut client: TcpStream, upstream: SocketAddr) -> io::Result<()> {
    let mut server = TcpStream::connect_addr(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    // a kernel without multishot receive (before 6.0) leaves plain receives
    client.recv_multishot();
    server.recv_multishot();
    let (client_r, client_w) = client.into_split();
    let (server_r, server_w) = server.into_split();
    let (up, down) = monoio::join!(pump(client_r, server_w), pump(server_r, client_w));
    up.and(down)
}

/// Copy until EOF, then half-close the writer so the peer sees the end too.
async fn pump(mut from: impl AsyncReadRent, mut to: impl AsyncWriteRent) -> io::Result<()> {
    let mut buf = Vec::with_capacity(BUF);
    loop {
        let (res, b) = from.read(buf).await;
        buf = b;
        match res {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = to.shutdown().await;
                return Err(e);
            }
        }
        let (res, b) = to.write_all(buf).await;
        buf = b;
        res?;
        buf.clear();
    }
    to.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use monoio::io::AsyncReadRentExt;

    async fn echo_once(listener: TcpListener) {
        let (mut s, _) = listener.accept().await.unwrap();
        let (res, buf) = s.read_exact(vec![0u8; 5]).await;
        res.unwrap();
        let (res, _) = s.write_all(buf).await;
        res.unwrap();
    }

    #[monoio::test_all]
    async fn relays_bytes_both_ways() {
        // io_uring: the sockets go on multishot receive; epoll: plain receives
        monoio::utils::register_buf_ring(BUF_RING.0, BUF_RING.1, BUF_RING.2).unwrap();
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let up_addr = upstream.local_addr().unwrap();
        monoio::spawn(echo_once(upstream));
        let front = TcpListener::bind("127.0.0.1:0").unwrap();
        let front_addr = front.local_addr().unwrap();
        monoio::spawn(async move {
            let (c, _) = front.accept().await.unwrap();
            relay(c, up_addr).await.unwrap();
        });
        let mut c = TcpStream::connect_addr(front_addr).await.unwrap();
        let (res, _) = c.write_all(b"hello".to_vec()).await;
        res.unwrap();
        let (res, got) = c.read_exact(vec![0u8; 5]).await;
        res.unwrap();
        assert_eq!(got, b"hello");
    }
}
