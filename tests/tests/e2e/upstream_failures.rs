//! Upstream failures map to 502/504 without hanging; a stale pooled connection is retried.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

on_both_drivers! {
    connection_refused => connection_refused_uring, connection_refused_epoll;
    upstream_never_answers => upstream_never_answers_uring, upstream_never_answers_epoll;
    upstream_sends_garbage => upstream_sends_garbage_uring, upstream_sends_garbage_epoll;
    upstream_closes_mid_body => upstream_closes_mid_body_uring, upstream_closes_mid_body_epoll;
    stale_pooled_connection => stale_pooled_connection_uring, stale_pooled_connection_epoll;
    passive_health_counts_the_declared_failures => passive_health_counts_the_declared_failures_uring, passive_health_counts_the_declared_failures_epoll;
}

/// `max_fails 2 on 5xx`: a server answering 503 is ejected after two in a row and the rest go
/// to the healthy one; by default only connect errors count, so it keeps its share.
fn passive_health_counts_the_declared_failures(d: Driver) {
    let sick = Upstream::start("sick", |_| Reply::status(503, "sick"));
    let well = Upstream::echo("well");
    let run = |extra: &str| {
        let config = format!(
            "workers 1\n{}route ANY /{{proxy+}} {{\n  upstream u\n}}\n",
            upstream_block("u", &[sick.addr(), well.addr()], extra)
        );
        let gw = Gw::start(d, &config);
        let before = sick.count();
        for i in 0..20 {
            gw.get(&format!("/r/{i}"));
        }
        (sick.count() - before, gw.stderr())
    };
    let (hits, log) =
        run("balance round_robin\nmax_fails 2 on connect_error, 5xx\nfail_timeout 60s");
    assert_eq!(hits, 2, "ejected after two 5xx in a row:\n{log}");
    assert!(
        log.contains(&format!(
            "upstream u server {}: ejected for 60000 ms after 2 failure(s)",
            sick.addr()
        )),
        "{log}"
    );
    let (hits, _) = run("balance round_robin\nmax_fails 2\nfail_timeout 60s");
    assert_eq!(hits, 10, "5xx is not a failure unless declared");
}

fn timed_config(up: SocketAddr) -> String {
    format!(
        "{}route ANY /{{proxy+}} {{\n  upstream u\n}}\n",
        upstream_block("u", &[up], "timeout connect 1s request 2s")
    )
}

fn connection_refused(d: Driver) {
    let dead: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let gw = Gw::start(d, &timed_config(dead));
    let mut c = gw.connect();
    let start = Instant::now();
    let r = c.get("/refused");
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "502 took {:?}",
        start.elapsed()
    );
}

fn upstream_never_answers(d: Driver) {
    let up = Upstream::start("u", |_| Reply::Never);
    let gw = Gw::start(d, &timed_config(up.addr()));
    let mut c = gw.connect();
    let start = Instant::now();
    let r = c.get("/silent");
    let elapsed = start.elapsed();
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(4),
        "504 after {elapsed:?}; the request timeout is 2s"
    );
    assert_eq!(up.count(), 1, "the request was sent once");
}

fn upstream_sends_garbage(d: Driver) {
    let up = Upstream::start("u", |r| match r.path() {
        "/garbage-close" => Reply::RawThenClose(b"THIS IS NOT HTTP\r\n\r\n".to_vec()),
        "/close" => Reply::Close,
        "/bad-status" => Reply::raw("HTTP/1.1 2x0 What\r\nContent-Length: 0\r\n\r\n"),
        _ => Reply::raw("\x00\x01\x02 binary junk\r\n\r\n"),
    });
    let gw = Gw::start(d, &timed_config(up.addr()));
    for path in ["/garbage-close", "/close", "/bad-status", "/binary"] {
        let mut c = gw.connect();
        c.set_read_timeout(Duration::from_secs(5));
        let r = c.get(path);
        assert_eq!(r.status, 502, "{path}: {}", r.text());
    }
}

fn upstream_closes_mid_body(d: Driver) {
    let up = Upstream::start("u", |_| {
        let mut raw = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec();
        raw.extend([b'x'; 10]);
        Reply::RawThenClose(raw)
    });
    let gw = Gw::start(d, &timed_config(up.addr()));
    let mut c = gw.connect();
    c.set_read_timeout(Duration::from_secs(5));
    let start = Instant::now();
    c.send(&build_request("GET", "/short", &[], b""));
    match c.read_response("GET") {
        // gw noticed before sending the head.
        Ok(r) => assert_eq!(
            r.status, 502,
            "a truncated body was delivered as complete: {r:?}"
        ),
        // The head went out; the client connection must be closed, not left waiting.
        Err(e) => assert!(
            matches!(
                e.kind(),
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
            ),
            "expected the connection closed mid-body, got {e} after {:?}",
            start.elapsed()
        ),
    }
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}",
        start.elapsed()
    );
}

fn stale_pooled_connection(d: Driver) {
    // Every upstream connection is closed 100 ms after its response: when gw takes it from
    // its pool for the next request, the upstream has already gone.
    let up = Upstream::start("u", |_| {
        Reply::CloseAfter(Duration::from_millis(100), Box::new(Reply::Echo))
    });
    let gw = Gw::start(d, &proxy_all(up.addr()));
    let mut c = gw.connect();
    for i in 0..4 {
        let path = format!("/stale/{i}");
        let r = c.get(&path);
        assert_eq!(
            r.status, 200,
            "request {i} after the pooled connection went stale"
        );
        assert_eq!(r.header("x-up-path"), Some(path.as_str()));
        thread::sleep(Duration::from_millis(400));
    }
    assert_eq!(up.count(), 4);
}
