//! `throttle RATE burst N by EXPR`: a token bucket per key, exact for the node across its
//! workers; a refusal is 429 with Retry-After through the config's `on error 429` page.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

on_both_drivers! {
    the_node_admits_burst_then_rate_across_workers => the_node_admits_burst_then_rate_across_workers_uring, the_node_admits_burst_then_rate_across_workers_epoll;
    refusals_use_the_on_error_page_and_keys_have_their_own_buckets => refusals_use_the_on_error_page_and_keys_have_their_own_buckets_uring, refusals_use_the_on_error_page_and_keys_have_their_own_buckets_epoll;
    ratelimit_fields_reach_relayed_answers_and_refusals => ratelimit_fields_reach_relayed_answers_and_refusals_uring, ratelimit_fields_reach_relayed_answers_and_refusals_epoll;
    buckets_carry_over_a_reload_by_name => buckets_carry_over_a_reload_by_name_uring, buckets_carry_over_a_reload_by_name_epoll;
}

const PAGE: &str =
    "on error 429 {\n  body json { message: \"slow down\", retry_after: error.retry_after }\n}\n";

/// 100/s burst 100 from 50 connections on 2 workers for about 5 s: the node admits the
/// burst plus the rate over the time the load ran (600 for 5 s), within 5%.
fn the_node_admits_burst_then_rate_across_workers(d: Driver) {
    const CONNS: usize = 50;
    let config = format!(
        "workers 2\nroute GET /t {{\n  throttle 100/s burst 100\n  respond 200 json {{ ok: true }}\n}}\n{PAGE}"
    );
    let gw = Gw::start(d, &config);
    let (admitted, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let clients: Vec<_> = (0..CONNS)
        .map(|_| {
            let mut c = gw.connect();
            let (admitted, refused, stop) = (admitted.clone(), refused.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match c.get("/t").status {
                        200 => admitted.fetch_add(1, Ordering::SeqCst),
                        429 => refused.fetch_add(1, Ordering::SeqCst),
                        s => panic!("status {s}"),
                    };
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(5));
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().expect("a client thread");
    }
    let ran = start.elapsed().as_secs_f64();
    let admitted = admitted.load(Ordering::SeqCst) as f64;
    let expected = 100.0 + 100.0 * ran;
    assert!(
        refused.load(Ordering::SeqCst) > 0,
        "the load never exceeded the rate"
    );
    assert!(
        (admitted - expected).abs() <= expected * 0.05,
        "admitted {admitted} in {ran:.2} s, expected {expected:.0} ± 5%"
    );
}

fn refusals_use_the_on_error_page_and_keys_have_their_own_buckets(d: Driver) {
    let config = format!(
        "route GET /k {{\n  throttle 1/min burst 2 by header.x-user ?? \"anonymous\"\n  respond 200 json {{ ok: true }}\n}}\n{PAGE}"
    );
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    let get = |c: &mut Client, user: &str| c.request("GET", "/k", &[("x-user", user)], b"");
    assert_eq!(get(&mut c, "ann").status, 200);
    assert_eq!(get(&mut c, "ann").status, 200);
    let r = get(&mut c, "ann");
    assert_eq!(r.status, 429);
    let wait: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(r.json()["message"], "slow down");
    assert_eq!(r.json()["retry_after"], wait);
    // another key has its own bucket
    assert_eq!(get(&mut c, "bob").status, 200);
}

/// `RateLimit-Policy` and `RateLimit` on the upstream's answer as it is relayed, one member
/// per throttle of the route, and on gw's own 429.
fn ratelimit_fields_reach_relayed_answers_and_refusals(d: Driver) {
    let up = Upstream::echo("u");
    let config = format!(
        "{}route GET /r {{\n  throttle 1/min burst 2 by header.x-user ?? \"anonymous\" name per_user\n  throttle 100/s burst 100\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    let get = |c: &mut Client| c.request("GET", "/r", &[("x-user", "ann")], b"");
    let r = get(&mut c);
    assert_eq!(r.status, 200, "{}", r.text());
    // one field line per throttle; a list either way
    let all = |r: &crate::support::client::Response, name: &str| r.head.header_all(name).join(", ");
    assert_eq!(
        all(&r, "ratelimit-policy"),
        "\"per_user\";q=2;w=120, \"GET /r#2\";q=100;w=1"
    );
    assert_eq!(
        all(&r, "ratelimit"),
        "\"per_user\";r=1;t=60, \"GET /r#2\";r=99;t=1"
    );
    assert_eq!(get(&mut c).status, 200);
    let r = get(&mut c);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("ratelimit-policy"), Some("\"per_user\";q=2;w=120"));
    let state = r.header("ratelimit").expect("RateLimit on the 429");
    let t: u64 = state
        .strip_prefix("\"per_user\";r=0;t=")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("RateLimit {state}"));
    assert!((61..=120).contains(&t), "full again in {t} s");
    assert_eq!(up.count(), 2, "the refusal never reached the upstream");
}

/// A reload keeps the buckets of a `name`: a key over its limit stays over it.
fn buckets_carry_over_a_reload_by_name(d: Driver) {
    let config = format!(
        "route GET /k {{\n  throttle 1/min burst 2 by header.x-user name login\n  respond 200 json {{ ok: true }}\n}}\n{PAGE}"
    );
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    let get = |c: &mut Client| c.request("GET", "/k", &[("x-user", "ann")], b"");
    assert_eq!(get(&mut c).status, 200);
    assert_eq!(get(&mut c).status, 200);
    gw.proc.signal("HUP");
    crate::auth::wait_reloaded(&gw, 1);
    let mut c = gw.connect();
    assert_eq!(get(&mut c).status, 429, "the bucket was carried over");
}
