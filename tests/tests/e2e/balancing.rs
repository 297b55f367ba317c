//! Load balancing over two servers, and health: passive ejection of a dead server, active
//! `health` checks ejecting and readmitting one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::support::*;

on_both_drivers! {
    round_robin => round_robin_uring, round_robin_epoll;
    other_balance_modes => other_balance_modes_uring, other_balance_modes_epoll;
    passive_health => passive_health_uring, passive_health_epoll;
    active_health => active_health_uring, active_health_epoll;
}

fn config(servers: &[SocketAddr], extra: &str, target: &str) -> String {
    format!(
        "workers 1\n{}route ANY /{{proxy+}} {{\n  {target}\n}}\n",
        upstream_block("u", servers, extra)
    )
}

/// Which server answered each of `n` GETs of `path` on one connection.
fn served_by(gw: &Gw, n: usize, headers: &[(&str, &str)]) -> Vec<String> {
    let mut c = gw.connect();
    (0..n)
        .map(|i| {
            let r = c.request("GET", &format!("/lb/{i}"), headers, b"");
            assert_eq!(r.status, 200, "request {i}: {}", r.text());
            r.header("x-up-name").expect("x-up-name").to_string()
        })
        .collect()
}

fn count(names: &[String], name: &str) -> usize {
    names.iter().filter(|n| *n == name).count()
}

fn round_robin(d: Driver) {
    let (a, b) = (Upstream::echo("a"), Upstream::echo("b"));
    let gw = Gw::start(
        d,
        &config(&[a.addr(), b.addr()], "balance round_robin", "upstream u"),
    );
    let names = served_by(&gw, 20, &[]);
    assert_eq!(
        (count(&names, "a"), count(&names, "b")),
        (10, 10),
        "one worker alternates: {names:?}"
    );
    assert!(
        names.windows(2).all(|w| w[0] != w[1]),
        "not alternating: {names:?}"
    );
    assert_eq!(a.count() + b.count(), 20);
}

fn other_balance_modes(d: Driver) {
    let (a, b) = (Upstream::echo("a"), Upstream::echo("b"));
    let servers = [a.addr(), b.addr()];

    let gw = Gw::start(d, &config(&servers, "balance least_request", "upstream u"));
    assert_eq!(served_by(&gw, 10, &[]).len(), 10);
    drop(gw);

    let gw = Gw::start(d, &config(&servers, "balance random", "upstream u"));
    let names = served_by(&gw, 40, &[]);
    assert!(
        count(&names, "a") > 0 && count(&names, "b") > 0,
        "random used one server: {names:?}"
    );
    drop(gw);

    let gw = Gw::start(
        d,
        &config(&servers, "balance hash", "upstream u hash by header.x-user"),
    );
    let same = served_by(&gw, 10, &[("X-User", "alice")]);
    assert!(
        same.iter().all(|n| *n == same[0]),
        "one key, several servers: {same:?}"
    );
    let mut spread = Vec::new();
    for i in 0..20 {
        let user = format!("user-{i}");
        spread.extend(served_by(&gw, 1, &[("X-User", &user)]));
    }
    assert!(
        count(&spread, "a") > 0 && count(&spread, "b") > 0,
        "20 keys on one server: {spread:?}"
    );
}

fn passive_health(d: Driver) {
    let a = Upstream::echo("a");
    let dead: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let gw = Gw::start(
        d,
        &config(&[a.addr(), dead], "balance round_robin", "upstream u"),
    );
    let mut statuses = Vec::new();
    for i in 0..30 {
        let r = gw.connect().get(&format!("/p/{i}"));
        statuses.push(r.status);
    }
    let tail = &statuses[20..];
    assert!(
        tail.iter().all(|s| *s == 200),
        "dead server not ejected: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 502),
        "{statuses:?}"
    );
}

fn active_health(d: Driver) {
    let a = Upstream::echo("a");
    let b_healthy = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&b_healthy);
    let b = Upstream::start("b", move |r| {
        if r.path() == "/healthz" && !flag.load(Ordering::SeqCst) {
            Reply::status(503, "down")
        } else {
            Reply::Echo
        }
    });
    let health = "balance round_robin\nhealth GET /healthz every 1s fail 2 pass 1";
    let gw = Gw::start(d, &config(&[a.addr(), b.addr()], health, "upstream u"));

    b.wait_until(Duration::from_secs(6), "two failed health checks", |u| {
        u.health_checks() >= 2
    });
    thread::sleep(Duration::from_millis(300));
    let names = served_by(&gw, 10, &[]);
    assert_eq!(
        count(&names, "b"),
        0,
        "b failed its checks but got traffic: {names:?}"
    );
    let check = a
        .requests()
        .into_iter()
        .find(|r| r.path() == "/healthz")
        .expect("a was checked");
    assert_eq!(check.method, "GET");

    b_healthy.store(true, Ordering::SeqCst);
    let seen = b.health_checks();
    b.wait_until(Duration::from_secs(5), "a passing health check", |u| {
        u.health_checks() > seen
    });
    thread::sleep(Duration::from_millis(300));
    let names = served_by(&gw, 10, &[]);
    assert!(
        count(&names, "b") > 0,
        "b passed a check (pass 1) but got no traffic: {names:?}"
    );
}
