//! Active health checks (`health GET /healthz every 5s fail 3 pass 2`).
//!
//! Worker 0 runs them, one task per upstream, and publishes each verdict to the config's
//! lock-free [`HealthBoard`](crate::loaded::HealthBoard), which every worker reads when it
//! balances. One prober per process keeps the probe rate independent of the core count. A
//! check is a fresh connection, `METHOD PATH HTTP/1.1` with `Connection: close`; a 2xx or 3xx
//! status within the connect + request timeouts is a pass.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use gw_program::HealthCheck;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::loaded::Loaded;
use crate::worker::Worker;

/// Start the checks of the worker's current config.
pub fn spawn_checks(w: &Rc<Worker>) {
    let cfg = w.current();
    for (up, upc) in cfg.image().upstreams.iter().enumerate() {
        if let Some(check) = upc.health.clone() {
            let host = upc
                .host_header
                .clone()
                .or_else(|| upc.servers.first().map(|s| s.host.clone()))
                .unwrap_or_default();
            monoio::spawn(check_loop(w.clone(), cfg.loaded.clone(), up, check, host));
        }
    }
}

async fn check_loop(
    w: Rc<Worker>,
    loaded: Arc<Loaded>,
    up: usize,
    check: HealthCheck,
    host: String,
) {
    let addrs = loaded.addrs.get(up).cloned().unwrap_or_default();
    let name = loaded
        .image
        .upstreams
        .get(up)
        .map_or("", |u| u.name.as_str());
    let t = &loaded.image.timeouts;
    let timeout = Duration::from_millis(t.connect.saturating_add(t.request).min(10_000));
    let mut streak: Vec<(u32, u32)> = vec![(0, 0); addrs.len()];
    let request = format!(
        "{} {} HTTP/1.1\r\nhost: {host}\r\nuser-agent: gw-health\r\nconnection: close\r\n\r\n",
        check.method, check.path
    );
    let interval = Duration::from_millis(check.interval_ms.max(100));
    loop {
        monoio::select! {
            _ = monoio::time::sleep(interval) => {},
            _ = w.stop.wait() => return,
        }
        // a reload replaced this config: its own checks take over
        if !Arc::ptr_eq(&w.current().loaded, &loaded) {
            return;
        }
        for (i, &addr) in addrs.iter().enumerate() {
            let ok = monoio::time::timeout(timeout, probe(addr, request.as_bytes().to_vec()))
                .await
                .unwrap_or(false);
            let Some(s) = streak.get_mut(i) else { continue };
            let up_now = loaded.health.is_up(up, i);
            if ok {
                *s = (0, s.1 + 1);
                if !up_now && s.1 >= check.pass.max(1) {
                    loaded.health.set(up, i, true);
                    crate::log::log!("upstream {name} server {addr}: up ({} checks passed)", s.1);
                }
            } else {
                *s = (s.0 + 1, 0);
                if up_now && s.0 >= check.fail.max(1) {
                    loaded.health.set(up, i, false);
                    crate::log::log!(
                        "upstream {name} server {addr}: down ({} checks failed)",
                        s.0
                    );
                }
            }
        }
    }
}

/// One check: true for a 2xx or 3xx status line.
async fn probe(addr: SocketAddr, request: Vec<u8>) -> bool {
    let Ok(mut s) = TcpStream::connect_addr(addr).await else {
        return false;
    };
    let (res, _) = s.write_all(request).await;
    if res.is_err() {
        return false;
    }
    let mut got = Vec::with_capacity(64);
    while got.len() < 12 {
        let buf = Vec::with_capacity(64);
        let (res, buf) = s.read(buf).await;
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
                assert!(probe(addr, b"GET / HTTP/1.1\r\n\r\n".to_vec()).await);
                t.join().unwrap();
                // nothing listens there any more
                assert!(!probe(addr, b"GET / HTTP/1.1\r\n\r\n".to_vec()).await);
            })
            .unwrap();
    }
}
