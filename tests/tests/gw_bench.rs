//! `gw bench`, the real binary against loopback servers: what it counts (every request sent
//! is a response or an error of its kind, checked against what the server received), the
//! open-loop schedule, coordinated omission (a server that stalls 200 ms once a second), a
//! `--compare` run straight to an upstream and through gw in front of it, `--json`, `--plot`,
//! `--cost` and bad input.
//!
//! The machine may be busy: the assertions are about behaviour (counts, ratios between two
//! runs of the same server), never wall-clock figures, except the stall, a lower bound.
//! Run: `cargo test -p gw-tests --test gw_bench`.

// Test harness code fails loudly by design.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]
// The shared harness records through Mutexes; this is test code, not the request path.
#![allow(clippy::disallowed_types)]

#[allow(dead_code, unused_imports)]
#[path = "e2e/support/mod.rs"]
mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::gw::{Proc, TempDir, gw_bin};
use support::{Driver, Gw, Reply, Upstream, free_port, proxy_all};

/// What a `gw bench` run printed.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}):\n{}\n--- stderr ---\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// `gw bench ARGS`; it must exit within 60 s (every run here is a few seconds).
fn bench(args: &[&str]) -> Ran {
    let dir = TempDir::new();
    let mut proc = Proc(
        Command::new(gw_bin())
            .arg("bench")
            .args(args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.path().join("out")).unwrap())
            .stderr(fs::File::create(dir.path().join("err")).unwrap())
            .spawn()
            .expect("spawn gw bench"),
    );
    let status = proc
        .wait_timeout(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("`gw bench {}` kept running", args.join(" ")));
    let ran = Ran {
        code: status.code(),
        stdout: fs::read_to_string(dir.path().join("out")).unwrap_or_default(),
        stderr: fs::read_to_string(dir.path().join("err")).unwrap_or_default(),
    };
    assert!(
        !ran.stderr.contains("panicked"),
        "gw bench panicked: {}",
        ran.stderr
    );
    ran
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Every request taken on is a response or an error of one kind.
fn assert_accounted(t: &Value) {
    let e = &t["errors"];
    assert_eq!(
        n(&t["requests"]),
        n(&t["responses"])
            + n(&e["connect"])
            + n(&e["timeout"])
            + n(&e["reset"])
            + n(&e["protocol"]),
        "{t}"
    );
    assert_eq!(
        n(&t["responses"]),
        n(&t["status_2xx"]) + n(&e["non_2xx"]),
        "{t}"
    );
}

macro_rules! on_both_drivers {
    ($($body:ident => $uring:ident, $epoll:ident;)+) => {
        $(
            #[test]
            fn $uring() {
                $body(Driver::Uring)
            }

            #[test]
            fn $epoll() {
                $body(Driver::Epoll)
            }
        )+
    };
}

on_both_drivers! {
    counts_match_the_server => counts_match_the_server_uring, counts_match_the_server_epoll;
    resets_are_errors_not_missing_data =>
        resets_are_errors_not_missing_data_uring, resets_are_errors_not_missing_data_epoll;
    open_loop_keeps_its_schedule => open_loop_keeps_its_schedule_uring, open_loop_keeps_its_schedule_epoll;
}

/// Closed loop: every response the server sent is counted, with its status.
fn counts_match_the_server(driver: Driver) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    // every fifth request gets a 503, the others a chunked 200
    let up = Upstream::start("u", move |_| {
        if h.fetch_add(1, Ordering::SeqCst) % 5 == 4 {
            Reply::status(503, "busy")
        } else {
            Reply::Chunked {
                status: 200,
                headers: vec![],
                chunks: vec![b"ab".to_vec(), b"cd".to_vec()],
            }
        }
    });
    let url = format!("http://{}/x", up.addr());
    let ran = bench(&[
        &url,
        "-c",
        "4",
        "-d",
        "1s",
        "--json",
        "--driver",
        driver.flag(),
    ]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let t = &ran.json()["targets"][0];
    assert_accounted(t);
    let e = &t["errors"];
    assert_eq!(
        (
            n(&e["connect"]),
            n(&e["timeout"]),
            n(&e["reset"]),
            n(&e["protocol"])
        ),
        (0, 0, 0, 0),
        "{t}"
    );
    // the server may count a request whose answer the run's end cut off: not one more
    let served = up.count() as u64;
    assert!(n(&t["requests"]) > 20, "{t}");
    assert!(
        served >= n(&t["requests"]) && served <= n(&t["requests"]) + 4,
        "{served}: {t}"
    );
    let non_2xx = n(&e["non_2xx"]);
    let fifth = n(&t["requests"]) / 5;
    assert!(non_2xx.abs_diff(fifth) <= 4, "{non_2xx} of {t}");
    assert_eq!(n(&t["connections_opened"]), 4, "{t}");
}

/// An upstream that closes every third connection without answering: each such request is a
/// `reset` error, the rest responses, and together they are every request the server got.
fn resets_are_errors_not_missing_data(driver: Driver) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let up = Upstream::start("u", move |_| {
        if h.fetch_add(1, Ordering::SeqCst) % 3 == 2 {
            Reply::Close
        } else {
            Reply::text("ok")
        }
    });
    let url = format!("http://{}/", up.addr());
    let ran = bench(&[
        &url,
        "-c",
        "2",
        "-d",
        "1s",
        "--json",
        "--driver",
        driver.flag(),
    ]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let t = &ran.json()["targets"][0];
    assert_accounted(t);
    let reset = n(&t["errors"]["reset"]);
    let ok = n(&t["status_2xx"]);
    assert!(reset > 3 && ok > 6, "{t}");
    assert!(ok.abs_diff(2 * reset) <= 4, "{t}");
    let served = up.count() as u64;
    assert!(
        served >= n(&t["requests"]) && served <= n(&t["requests"]) + 2,
        "{served}: {t}"
    );
    // a closed connection is replaced: one per reset, besides the first two
    assert!(n(&t["connections_opened"]) >= reset, "{t}");
}

/// At 1000 requests a second for 2 s, 2000 requests go out (± 2%), whatever the machine's
/// load: the schedule does not depend on how fast responses come.
fn open_loop_keeps_its_schedule(driver: Driver) {
    let up = Upstream::echo("u");
    let url = format!("http://{}/", up.addr());
    let ran = bench(&[
        &url,
        "--rate",
        "1000/s",
        "-d",
        "2s",
        "--json",
        "--driver",
        driver.flag(),
    ]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let j = ran.json();
    let t = &j["targets"][0];
    assert_accounted(t);
    assert_eq!(j["settings"]["mode"], "open", "{j}");
    let served = up.count() as f64;
    assert!(
        (1960.0..=2040.0).contains(&served),
        "server got {served}: {t}"
    );
    assert!((1960..=2040).contains(&n(&t["requests"])), "{t}");
}

/// A server that holds every response during the first 200 ms of each second (counted from
/// its start): one thread per connection, GET only.
struct Staller {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Staller {
    fn start() -> Staller {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let t0 = Instant::now();
        let s = stop.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                thread::spawn(move || Staller::serve(conn, t0));
            }
        });
        Staller { addr, stop }
    }

    fn serve(mut conn: TcpStream, t0: Instant) {
        let _ = conn.set_nodelay(true);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                buf.drain(..end + 4);
                let phase = t0.elapsed().as_millis() % 1000;
                if phase < 200 {
                    thread::sleep(Duration::from_millis(200 - phase as u64));
                }
                if conn
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .is_err()
                {
                    return;
                }
            }
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        }
    }
}

impl Drop for Staller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// The share of responses at or above `ms`, from the JSON percentile spectrum.
fn share_at_least(t: &Value, ms: f64) -> f64 {
    let below = t["percentiles"]
        .as_array()
        .unwrap()
        .iter()
        .take_while(|p| p["latency_us"].as_f64().unwrap() < ms * 1000.0)
        .last()
        .map_or(0.0, |p| p["percentile"].as_f64().unwrap());
    1.0 - below / 100.0
}

/// Coordinated omission: in the open loop the requests due during a stall wait for it and the
/// p99 shows it; in the closed loop each connection sends one request into each stall and
/// then waits, so the stall is a handful of samples among thousands and hides in the tail.
#[test]
fn the_open_loop_sees_a_stall_the_closed_loop_hides() {
    let s = Staller::start();
    let url = format!("http://{}/", s.addr);
    let open = bench(&[&url, "--rate", "200/s", "-c", "64", "-d", "3s", "--json"]);
    assert_eq!(open.code, Some(0), "{}", open.stderr);
    let open = &open.json()["targets"][0];
    assert_accounted(open);
    assert_eq!(n(&open["errors"]["total"]), 0, "{open}");
    let p99 = open["latency_us"]["p99"].as_f64().unwrap();
    assert!(
        p99 >= 150_000.0,
        "p99 {p99} µs does not show the stall: {open}"
    );
    let closed = bench(&[&url, "-c", "2", "-d", "3s", "--json"]);
    assert_eq!(closed.code, Some(0), "{}", closed.stderr);
    let closed = &closed.json()["targets"][0];
    assert_accounted(closed);
    // the closed loop met the stall too...
    assert!(
        closed["latency_us"]["max"].as_f64().unwrap() >= 150_000.0,
        "{closed}"
    );
    // ...but counted it for a far smaller share of its requests: in the open loop, those due
    // in the stall's first 100 ms, a tenth
    let (o, c) = (share_at_least(open, 100.0), share_at_least(closed, 100.0));
    assert!(o >= 0.05, "open loop: {o} of responses slow: {open}");
    assert!(c * 4.0 < o, "closed loop {c} vs open loop {o}: {closed}");
}

/// `--compare`: the upstream straight, then gw in front of it, with the same settings; the
/// table shows both and the difference; `--json` and `--plot` carry both.
#[test]
fn compare_direct_with_gw_in_front() {
    let up = Upstream::echo("u");
    let gw = Gw::start(Driver::Uring, &proxy_all(up.addr()));
    let direct = format!("http://{}/api/x", up.addr());
    let through = gw.url("/api/x");
    let ran = bench(&[&direct, "--compare", &through, "-c", "2", "-d", "1s"]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stdout.contains(&format!("[1] {direct}")),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains(&format!("[2] {through}")),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains(&format!("difference from [1] {direct}")),
        "{}",
        ran.stdout
    );

    let dir = TempDir::new();
    let svg = dir.path().join("cmp.svg");
    let svg_arg = svg.to_str().unwrap();
    let before = up.count() as u64;
    let ran = bench(&[
        &direct,
        "--compare",
        &through,
        "-c",
        "2",
        "-d",
        "1s",
        "--json",
        "--plot",
        svg_arg,
    ]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let j = ran.json();
    let targets = j["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2, "{j}");
    for t in targets {
        assert_accounted(t);
        assert_eq!(n(&t["errors"]["total"]), 0, "{t}");
        assert!(n(&t["responses"]) > 0, "{t}");
        assert!(t["percentiles"].as_array().unwrap().len() > 2, "{t}");
    }
    assert_eq!(j["differences"][0]["url"], through.as_str(), "{j}");
    assert!(j["differences"][0]["p50_us"].is_number(), "{j}");
    // both runs reached the upstream, each request once
    let reached = up.count() as u64 - before;
    let sent = n(&targets[0]["requests"]) + n(&targets[1]["requests"]);
    assert!(
        reached >= sent && reached <= sent + 4,
        "{reached} vs {sent}"
    );

    let drawn = fs::read_to_string(&svg).unwrap();
    assert!(drawn.starts_with("<svg"), "{drawn}");
    assert!(drawn.contains("<polyline"), "no curve: {drawn}");
    assert!(
        drawn.contains(&direct) && drawn.contains(&through),
        "no legend"
    );
}

/// Nothing listens: every request is a connect error, the run ends on time and exits 1.
#[test]
fn an_unreachable_target_counts_connect_errors() {
    let url = format!("http://127.0.0.1:{}/", free_port());
    let ran = bench(&[&url, "-c", "2", "-d", "1s", "--json"]);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("no response from"), "{}", ran.stderr);
    let t = &ran.json()["targets"][0];
    assert_accounted(t);
    assert!(n(&t["errors"]["connect"]) > 0, "{t}");
    assert_eq!(n(&t["responses"]), 0, "{t}");
    assert_eq!(n(&t["connections_opened"]), 0, "{t}");
}

#[test]
fn bad_input_is_a_clear_error() {
    for (args, says) in [
        (&["https://127.0.0.1/"][..], "TLS is not supported yet"),
        (&["127.0.0.1:80"], "is not a URL"),
        (&["http://127.0.0.1/", "--rate", "0"], "--rate"),
        (&["http://127.0.0.1/", "--rate", "lots"], "not a rate"),
        (&["http://127.0.0.1/", "-d", "forever"], "--duration"),
        (&["http://127.0.0.1/", "-H", "no colon"], "name: value"),
        (&["http://127.0.0.1/", "--body", "@/no/such/file"], "--body"),
        (&["--cost"], "--volume"),
        (&[], "missing URL"),
    ] {
        let ran = bench(args);
        assert_eq!(ran.code, Some(2), "{args:?}: {}", ran.stderr);
        assert!(ran.stderr.contains(says), "{args:?}: {}", ran.stderr);
    }
    let help = Command::new(gw_bin()).arg("help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("bench URL"));
}

/// `--cost`: the bills at the published tiers and the cores, from a `--json` run's throughput.
#[test]
fn cost_reads_a_json_run() {
    let up = Upstream::echo("u");
    let url = format!("http://{}/", up.addr());
    let ran = bench(&[&url, "-c", "2", "-d", "1s", "--json"]);
    let dir = TempDir::new();
    let file = dir.path().join("run.json");
    fs::write(&file, &ran.stdout).unwrap();
    let cost = bench(&[
        "--cost",
        "--volume",
        "2e9/month",
        "--from",
        file.to_str().unwrap(),
    ]);
    assert_eq!(cost.code, Some(0), "{}", cost.stderr);
    assert!(cost.stdout.contains("REST API"), "{}", cost.stdout);
    assert!(cost.stdout.contains("$5,413.10 a month"), "{}", cost.stdout);
    assert!(cost.stdout.contains("$1,830.00 a month"), "{}", cost.stdout);
    assert!(cost.stdout.contains(&url), "{}", cost.stdout);
    let broken = dir.path().join("broken.json");
    fs::write(&broken, "{").unwrap();
    let cost = bench(&[
        "--cost",
        "--volume",
        "1e6",
        "--from",
        broken.to_str().unwrap(),
    ]);
    assert_eq!(cost.code, Some(1));
    assert!(
        cost.stderr.contains("not a `gw bench --json` file"),
        "{}",
        cost.stderr
    );
}
