//! Listening sockets: one SO_REUSEPORT socket per worker and listener, so the kernel spreads
//! connections across workers without a shared accept queue.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Accept backlog per socket.
const BACKLOG: i32 = 4096;

/// Bind one listening socket with SO_REUSEPORT.
pub fn bind_reuseport(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false).ok();
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Bind `count` sockets per address. A port-0 address gets a port from the kernel on its first
/// socket; the others bind to that port. Returns the sockets per address (outer: address,
/// inner: worker) and the addresses actually bound.
pub fn bind_all(
    addrs: &[SocketAddr],
    count: usize,
) -> io::Result<(Vec<Vec<std::net::TcpListener>>, Vec<SocketAddr>)> {
    let mut all = Vec::with_capacity(addrs.len());
    let mut bound = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        let first = bind_reuseport(addr)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        let actual = first.local_addr()?;
        let mut socks = Vec::with_capacity(count);
        socks.push(first);
        for _ in 1..count {
            socks.push(bind_reuseport(actual)?);
        }
        all.push(socks);
        bound.push(actual);
    }
    Ok((all, bound))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_binds_every_socket_to_one_port() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (socks, bound) = bind_all(&[addr], 3).unwrap();
        assert_eq!(socks[0].len(), 3);
        let port = bound[0].port();
        assert_ne!(port, 0);
        for s in &socks[0] {
            assert_eq!(s.local_addr().unwrap().port(), port);
        }
        // a client can connect
        std::net::TcpStream::connect(bound[0]).unwrap();
    }

    #[test]
    fn a_taken_port_is_a_clear_error() {
        let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = bind_all(&[plain.local_addr().unwrap()], 1).unwrap_err();
        assert!(err.to_string().contains("cannot listen on"));
    }
}
