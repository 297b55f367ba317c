//! Active health checks (`health GET /healthz every 5s fail 3 pass 2`).
//!
//! Worker 0 runs them (`checks.rs`), one task per upstream, and publishes each verdict to the config's
//! lock-free [`HealthBoard`](crate::loaded::HealthBoard), which every worker reads when it
//! balances. One prober per process keeps the probe rate independent of the core count. A
//! check is a fresh connection (a TLS one to a `tls` server, verified as requests' are),
//! `METHOD PATH HTTP/1.1` with `Connection: close`; a 2xx or 3xx status within the connect +
//! request timeouts is a pass.

use std::net::SocketAddr;

use super::conn::open_stream;
use crate::tls::UpstreamTls;
use crate::transport::Transport;

/// One check: true for a 2xx or 3xx status line.
pub async fn probe(addr: SocketAddr, tls: Option<&UpstreamTls>, request: Vec<u8>) -> bool {
    let Ok(mut s) = open_stream(addr, tls, false).await else {
        return false;
    };
    let (res, _) = s.write_all_of(request).await;
    if res.is_err() {
        return false;
    }
    let mut got = Vec::with_capacity(64);
    while got.len() < 12 {
        let buf = Vec::with_capacity(64);
        let (res, buf) = s.read_into(buf).await;
        match res {
            Ok(0) | Err(_) => break,
            Ok(_) => got.extend_from_slice(&buf),
        }
    }
    status_passes(&got)
}

/// `HTTP/1.x 2xx` or `3xx`.
fn status_passes(line: &[u8]) -> bool {
    line.starts_with(b"HTTP/1.") && matches!(line.get(9), Some(b'2' | b'3'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert!(status_passes(b"HTTP/1.1 200 OK\r\n"));
        assert!(status_passes(b"HTTP/1.0 302 Found\r\n"));
        assert!(!status_passes(b"HTTP/1.1 503 Unavailable\r\n"));
        assert!(!status_passes(b"garbage"));
    }

    #[test]
    fn probe_sees_up_and_down_servers() {
        crate::Driver::Legacy
            .block_on(false, async {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = l.local_addr().unwrap();
                let t = std::thread::spawn(move || {
                    use std::io::{Read, Write};
                    let (mut c, _) = l.accept().unwrap();
                    let mut buf = [0u8; 512];
                    let _ = c.read(&mut buf).unwrap();
                    c.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
                });
                assert!(probe(addr, None, b"GET / HTTP/1.1\r\n\r\n".to_vec()).await);
                t.join().unwrap();
                // nothing listens there any more
                assert!(!probe(addr, None, b"GET / HTTP/1.1\r\n\r\n".to_vec()).await);
            })
            .unwrap();
    }
}
