//! The active health checks' loops on worker 0 (`upstream/health.rs` has the probe): one task
//! per checked upstream of the current config, ending when a reload replaces it or the worker
//! stops.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use gw_program::HealthCheck;

use crate::loaded::Loaded;
use crate::upstream::health::probe;
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
            let tls = loaded
                .up_tls
                .get(up)
                .and_then(|t| t.get(i))
                .cloned()
                .flatten();
            let one = probe(addr, tls.as_deref(), request.as_bytes().to_vec());
            let ok = monoio::time::timeout(timeout, one).await.unwrap_or(false);
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
