//! `retry N on connect_error | timeout | 5xx`: a failed attempt moves to another server.
//! Timeouts and 5xx are retried for idempotent methods only (as nginx's proxy_next_upstream),
//! and only when the whole request is still at hand.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::*;

on_both_drivers! {
    retry_on_5xx => retry_on_5xx_uring, retry_on_5xx_epoll;
    retry_on_timeout => retry_on_timeout_uring, retry_on_timeout_epoll;
    no_retry_without_the_condition => no_retry_without_the_condition_uring, no_retry_without_the_condition_epoll;
    post_is_not_retried => post_is_not_retried_uring, post_is_not_retried_epoll;
    retries_share_the_request_timeout => retries_share_the_request_timeout_uring, retries_share_the_request_timeout_epoll;
}

/// `retry 2 on 5xx` with `timeout request 1500ms` and servers that answer 503 after a second:
/// the second attempt gets only what is left of the request's time, and a third never
/// starts (three full attempts would take three seconds).
fn retries_share_the_request_timeout(d: Driver) {
    let slow_5xx = |name: &str| {
        Upstream::start(name, |_| {
            Reply::Delay(
                Duration::from_millis(1000),
                Box::new(Reply::status(503, "busy")),
            )
        })
    };
    let (a, b, c) = (slow_5xx("a"), slow_5xx("b"), slow_5xx("c"));
    let route = "  upstream u\n  timeout request 1500ms\n  retry 2 on connect_error, 5xx";
    let gw = Gw::start(d, &config(&[a.addr(), b.addr(), c.addr()], route));
    let r = gw.get("/x");
    assert_eq!(
        r.status, 504,
        "the second attempt ran out of the request's time"
    );
    let attempts = a.count() + b.count() + c.count();
    assert_eq!(
        attempts, 2,
        "no third attempt once the request timeout is spent"
    );

    // within the timeout, retries still move on
    let fast_5xx = Upstream::start("f", |_| Reply::status(503, "busy"));
    let good = Upstream::echo("g");
    let gw = Gw::start(d, &config(&[fast_5xx.addr(), good.addr()], route));
    for i in 0..4 {
        assert_eq!(gw.get(&format!("/y/{i}")).status, 200);
    }
}

fn config(servers: &[SocketAddr], route: &str) -> String {
    format!(
        "workers 1\n{}route ANY /{{proxy+}} {{\n{route}\n}}\n",
        upstream_block("u", servers, "balance round_robin")
    )
}

fn retry_on_5xx(d: Driver) {
    let bad = Upstream::start("bad", |_| Reply::status(503, "down"));
    let good = Upstream::echo("good");
    let gw = Gw::start(
        d,
        &config(&[bad.addr(), good.addr()], "  upstream u\n  retry 1 on 5xx"),
    );
    let mut c = gw.connect();
    for i in 0..6 {
        let r = c.request("GET", &format!("/r/{i}"), &[], b"");
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
    }
    assert!(
        bad.count() >= 1,
        "round robin never tried the failing server"
    );
    assert_eq!(good.count(), 6);
}

fn retry_on_timeout(d: Driver) {
    let slow = Upstream::start("slow", |_| Reply::Never);
    let good = Upstream::echo("good");
    let route = "  upstream u\n  timeout 400ms\n  retry 1 on timeout";
    let gw = Gw::start(d, &config(&[slow.addr(), good.addr()], route));
    let mut c = gw.connect();
    for i in 0..4 {
        let t = Instant::now();
        let r = c.request("GET", &format!("/t/{i}"), &[], b"");
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "took {:?}",
            t.elapsed()
        );
    }
    assert!(slow.count() >= 1, "round robin never tried the slow server");
}

fn no_retry_without_the_condition(d: Driver) {
    let bad = Upstream::start("bad", |_| Reply::status(503, "down"));
    let good = Upstream::echo("good");
    // connect errors only: a 503 is passed through as the upstream said it
    let gw = Gw::start(
        d,
        &config(
            &[bad.addr(), good.addr()],
            "  upstream u\n  retry 1 on connect_error",
        ),
    );
    let mut c = gw.connect();
    let statuses: Vec<u16> = (0..4)
        .map(|i| c.request("GET", &format!("/n/{i}"), &[], b"").status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        2,
        "{statuses:?}"
    );
}

fn post_is_not_retried(d: Driver) {
    let bad = Upstream::start("bad", |_| Reply::status(503, "down"));
    let good = Upstream::echo("good");
    let gw = Gw::start(
        d,
        &config(&[bad.addr(), good.addr()], "  upstream u\n  retry 1 on 5xx"),
    );
    let mut c = gw.connect();
    let statuses: Vec<u16> = (0..4)
        .map(|i| c.request("POST", &format!("/p/{i}"), &[], b"{}").status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(bad.count() + good.count(), 4, "a POST was sent twice");
}
