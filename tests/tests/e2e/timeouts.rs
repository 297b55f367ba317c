//! `timeouts { header_read 1s; idle 2s }`: slow heads are cut off while other clients are
//! served; idle keep-alive connections are closed, busy ones are not.

use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

on_both_drivers! {
    header_read_timeout => header_read_timeout_uring, header_read_timeout_epoll;
    idle_timeout => idle_timeout_uring, idle_timeout_epoll;
}

fn config(up: &Upstream) -> String {
    format!(
        "{}timeouts {{\n  header_read 1s\n  idle 2s\n}}\n",
        proxy_all(up.addr())
    )
}

/// What a connection cut by the header timeout may have received: nothing, or a 408.
fn assert_cut(what: &str, got: &[u8]) {
    let text = String::from_utf8_lossy(got);
    assert!(
        got.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{what}: got {text:?}"
    );
}

fn header_read_timeout(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &config(&up));

    let start = Instant::now();
    let mut stalled = gw.connect();
    stalled.send(b"GET /stalled HTTP/1.1\r\nHost: t\r\n");
    // A slowloris client keeps sending a header byte every 200 ms: the deadline covers the
    // whole head, not each read.
    let mut trickle = gw.connect();
    trickle.send(b"GET /trickle HTTP/1.1\r\nHost: t\r\nX-Slow: ");
    let trickler = thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(6) {
            if trickle.try_send(b"a").is_err() {
                return (start.elapsed(), trickle.wait_closed(Duration::from_secs(1)));
            }
            thread::sleep(Duration::from_millis(200));
        }
        (start.elapsed(), trickle.wait_closed(Duration::from_secs(1)))
    });

    // Other clients are served while those two stall.
    for i in 0..3 {
        let t = Instant::now();
        let r = gw.get(&format!("/meanwhile/{i}"));
        assert_eq!(r.status, 200);
        assert!(
            t.elapsed() < Duration::from_millis(800),
            "served slowly: {:?}",
            t.elapsed()
        );
        thread::sleep(Duration::from_millis(150));
    }

    let got = stalled
        .wait_closed(Duration::from_secs(4))
        .expect("stalled head must be closed");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(800) && elapsed < Duration::from_secs(3),
        "stalled connection closed after {elapsed:?}; header_read is 1s"
    );
    assert_cut("stalled", &got);

    let (elapsed, closed) = trickler.join().unwrap();
    let got = closed.expect("trickling head must be closed");
    assert!(
        elapsed < Duration::from_secs(3),
        "slowloris connection lived {elapsed:?}"
    );
    assert_cut("trickle", &got);

    let paths: Vec<String> = up.traffic().iter().map(|r| r.target.clone()).collect();
    assert_eq!(paths, ["/meanwhile/0", "/meanwhile/1", "/meanwhile/2"]);
}

fn idle_timeout(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &config(&up));

    let mut idle = gw.connect();
    assert_eq!(idle.get("/idle").status, 200);
    let start = Instant::now();

    // A connection that sends a request every 500 ms outlives the idle timeout.
    let mut busy = gw.connect();
    while start.elapsed() < Duration::from_secs(3) {
        assert_eq!(
            busy.get("/busy").status,
            200,
            "busy connection after {:?}",
            start.elapsed()
        );
        thread::sleep(Duration::from_millis(500));
    }

    let got = idle
        .wait_closed(Duration::from_secs(3))
        .expect("idle connection must be closed");
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "idle connection closed after {elapsed:?}"
    );
    assert!(got.is_empty() || String::from_utf8_lossy(&got).starts_with("HTTP/1.1 408"));

    // It was not closed early: a fresh idle connection survives 1.5 s.
    let mut idle = gw.connect();
    assert_eq!(idle.get("/idle2").status, 200);
    thread::sleep(Duration::from_millis(1500));
    let again = idle.try_send(&build_request("GET", "/idle2-again", &[], b""));
    let r = again.and_then(|()| idle.read_response("GET"));
    let r = r.unwrap_or_else(|e| panic!("closed within 1.5s of idling; idle is 2s: {e}"));
    assert_eq!(r.status, 200);
    let start = Instant::now();
    idle.wait_closed(Duration::from_secs(4))
        .expect("closed after idle");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(4),
        "idle close after {elapsed:?}; idle is 2s"
    );
}
