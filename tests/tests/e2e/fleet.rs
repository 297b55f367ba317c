//! Limits a fleet shares through a real redis-server: two gw nodes admit the configured total
//! of one `store redis` throttle and one plan quota, not twice it; while Redis is away a limit
//! does what its `on_store_down` says, and counts again once Redis is back.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::support::gw::{Proc, TempDir, gw_bin};
use crate::support::*;

on_both_drivers! {
    two_nodes_admit_the_configured_total_not_twice_it => two_nodes_admit_the_configured_total_not_twice_it_uring, two_nodes_admit_the_configured_total_not_twice_it_epoll;
    redis_going_away_and_coming_back => redis_going_away_and_coming_back_uring, redis_going_away_and_coming_back_epoll;
}

/// A redis-server on a loopback port, without persistence; killed on drop.
struct Redis {
    proc: Option<Proc>,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let mut r = Redis {
            proc: None,
            port: free_port(),
        };
        r.up();
        r
    }

    /// (Re)start on the same port and wait until it answers PING.
    fn up(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/install-test-deps.sh installs it)");
        self.proc = Some(Proc(child));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.pong() {
            assert!(Instant::now() < deadline, "redis-server did not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pong(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// Kill it and wait until it is gone.
    fn down(&mut self) {
        drop(self.proc.take());
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

fn key_line(key: &str, id: &str, plan: &str) -> String {
    let hex: String = Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex} id={id} plan={plan}\n")
}

fn status(gw: &Gw, path: &str, headers: &[(&str, &str)]) -> u16 {
    gw.connect().request("GET", path, headers, b"").status
}

/// Ask the two nodes in turn until both refuse: how many they admitted.
fn admitted_by_both(a: &Gw, b: &Gw, path: &str, headers: &[(&str, &str)]) -> usize {
    let mut admitted = 0;
    let mut refused = [false, false];
    for i in 0..200 {
        let node = i % 2;
        match status(if node == 0 { a } else { b }, path, headers) {
            200 => admitted += 1,
            429 => refused[node] = true,
            s => panic!("status {s}"),
        }
        if refused == [true, true] {
            return admitted;
        }
    }
    panic!("never refused: {admitted} admitted");
}

fn two_nodes_admit_the_configured_total_not_twice_it(d: Driver) {
    let redis = Redis::start();
    let dir = TempDir::new();
    let keys = dir.path().join("keys.txt");
    fs::write(&keys, key_line("k-acme", "acme", "gold")).unwrap();
    let config = format!(
        "plan gold {{ quota 20 per day; store redis \"{url}\" }}\napi_keys partners {{ file \"{}\" }}\nroute GET /q {{\n  auth api_key partners\n  throttle plan\n  respond 200 json {{ ok: true }}\n}}\nroute GET /t {{\n  throttle 1/min burst 6 by header.x-user name shared store redis \"{url}\" on_store_down deny\n  respond 200 json {{ ok: true }}\n}}\n",
        keys.display(),
        url = redis.url()
    );
    let (a, b) = (Gw::start(d, &config), Gw::start(d, &config));
    assert_eq!(admitted_by_both(&a, &b, "/t", &[("x-user", "ann")]), 6);
    let r = a.connect().request("GET", "/t", &[("x-user", "ann")], b"");
    assert_eq!(r.header("ratelimit-policy"), Some("\"shared\";q=6;w=360"));
    assert_eq!(
        admitted_by_both(&a, &b, "/q", &[("x-api-key", "k-acme")]),
        20
    );

    let file = dir.path().join("api.gw");
    fs::write(&file, &config).unwrap();
    let out = Command::new(gw_bin())
        .args(["usage", "acme", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("quota: 20 of 20 used this day"), "{text}");
    assert!(text.contains(&format!("store: {}", redis.url())), "{text}");
}

fn redis_going_away_and_coming_back(d: Driver) {
    let mut redis = Redis::start();
    let url = redis.url();
    // one worker: each worker learns on its own that Redis is back
    let config = format!(
        "workers 1\nroute GET /deny {{\n  throttle 1000/s burst 1000 name d store redis \"{url}\" on_store_down deny\n  respond 200 json {{ ok: true }}\n}}\nroute GET /allow {{\n  throttle 1000/s burst 1000 name a store redis \"{url}\" on_store_down allow\n  respond 200 json {{ ok: true }}\n}}\nroute GET /few {{\n  throttle 1/min burst 2 by header.x-user name few store redis \"{url}\"\n  respond 200 json {{ ok: true }}\n}}\n"
    );
    let gw = Gw::start(d, &config);
    assert_eq!(status(&gw, "/deny", &[]), 200);
    assert_eq!(status(&gw, "/few", &[("x-user", "ann")]), 200);

    redis.down();
    let r = gw.connect().request("GET", "/deny", &[], b"");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(status(&gw, "/allow", &[]), 200, "allow lets it through");
    assert_eq!(
        status(&gw, "/few", &[("x-user", "ann")]),
        503,
        "deny is the default"
    );
    assert!(
        gw.stderr().contains("limit store redis://"),
        "{}",
        gw.stderr()
    );

    // back, empty (no persistence): counting starts over and holds again
    redis.up();
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(&gw, "/deny", &[]) != 200 {
        assert!(Instant::now() < deadline, "gw never used Redis again");
        std::thread::sleep(Duration::from_millis(50));
    }
    // each worker finds Redis back on its own: wait until new connections, whichever worker
    // takes them, count again (fresh users, so no count is spent)
    let mut in_a_row = 0;
    let mut probe = 0;
    while in_a_row < 8 {
        assert!(Instant::now() < deadline, "a worker never used Redis again");
        probe += 1;
        let user = format!("probe-{probe}");
        match status(&gw, "/few", &[("x-user", user.as_str())]) {
            200 => in_a_row += 1,
            _ => {
                in_a_row = 0;
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    let few = |gw: &Gw| status(gw, "/few", &[("x-user", "bob")]);
    assert_eq!([few(&gw), few(&gw), few(&gw)], [200, 200, 429]);
}
