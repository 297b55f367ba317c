//! `cache`: hits never reach the upstream; TTL, the upstream's Cache-Control and Vary, the
//! key, `max_entry` and malformed directives each have their outcome; concurrent misses for one
//! key on a worker send one upstream request.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::support::*;

on_both_drivers! {
    hits_skip_the_upstream_until_the_ttl => hits_skip_the_upstream_until_the_ttl_uring, hits_skip_the_upstream_until_the_ttl_epoll;
    cache_control_vary_key_and_size_decide_what_is_kept => cache_control_vary_key_and_size_decide_what_is_kept_uring, cache_control_vary_key_and_size_decide_what_is_kept_epoll;
    fifty_concurrent_misses_send_one_upstream_request => fifty_concurrent_misses_send_one_upstream_request_uring, fifty_concurrent_misses_send_one_upstream_request_epoll;
}

fn reply(headers: &[(&str, &str)], body: &str) -> Reply {
    Reply::Response {
        status: 200,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

/// Upstream answers by path: `/c/<case>`.
fn upstream() -> Upstream {
    Upstream::start("u", |r| {
        let json = ("content-type", "application/json");
        match r.target.split('?').next().unwrap_or("") {
            "/c/plain" => reply(&[json], "{\"n\":1}"),
            "/c/no-store" => reply(&[json, ("cache-control", "no-store")], "{}"),
            "/c/private" => reply(&[json, ("cache-control", "private, max-age=60")], "{}"),
            "/c/malformed" => reply(&[json, ("cache-control", "max-age=ten")], "{}"),
            "/c/short" => reply(&[json, ("cache-control", "s-maxage=1, max-age=600")], "{}"),
            "/c/vary" => {
                let lang = r
                    .head
                    .header("accept-language")
                    .unwrap_or("none")
                    .to_owned();
                reply(&[json, ("vary", "Accept-Language")], &format!("\"{lang}\""))
            }
            "/c/bin" => Reply::Response {
                status: 200,
                headers: vec![("content-type".into(), "application/octet-stream".into())],
                body: (0..=255u8).collect(),
            },
            "/c/big" => reply(&[json], &format!("\"{}\"", "x".repeat(2000))),
            "/c/slow" => Reply::Delay(Duration::from_millis(500), Box::new(reply(&[json], "{}"))),
            _ => Reply::status(404, "no"),
        }
    })
}

fn config(up: &Upstream, cache: &str) -> String {
    format!(
        "workers 1\n{}route GET /c/{{case}} {{\n  cache {cache}\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], "")
    )
}

fn count(up: &Upstream, path: &str) -> usize {
    up.requests()
        .iter()
        .filter(|r| r.target.starts_with(path))
        .count()
}

fn hits_skip_the_upstream_until_the_ttl(d: Driver) {
    let up = upstream();
    let gw = Gw::start(d, &config(&up, "{ ttl 1s; key [] }"));
    let mut c = gw.connect();
    let r = c.get("/c/plain");
    assert_eq!((r.status, r.header("x-cache")), (200, Some("miss")));
    for _ in 0..5 {
        let r = c.get("/c/plain");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-cache"), Some("hit"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.header("age").is_some());
        assert_eq!(r.text(), "{\"n\":1}");
    }
    let head = c.request("HEAD", "/c/plain", &[], b"");
    assert_eq!(head.header("x-cache"), Some("hit"));
    assert!(head.body.is_empty());
    assert_eq!(count(&up, "/c/plain"), 1, "hits never reached the upstream");
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        c.get("/c/plain").header("x-cache"),
        Some("miss"),
        "the TTL ran out"
    );
    assert_eq!(count(&up, "/c/plain"), 2);
}

fn cache_control_vary_key_and_size_decide_what_is_kept(d: Driver) {
    let up = upstream();
    let gw = Gw::start(
        d,
        &config(&up, "{ ttl 60s; key [query.page]; max_entry 1KiB }"),
    );
    let mut c = gw.connect();
    // never kept: no-store, private, a lifetime that cannot be read, a body over max_entry
    for case in ["/c/no-store", "/c/private", "/c/malformed", "/c/big"] {
        for _ in 0..2 {
            let r = c.get(case);
            assert_eq!(r.status, 200, "{case}");
            assert_eq!(r.header("x-cache"), Some("miss"), "{case}");
        }
        assert_eq!(count(&up, case), 2, "{case}");
    }
    assert_eq!(
        c.get("/c/big").body.len(),
        2002,
        "served whole, just not kept"
    );
    // s-maxage=1 shortens the entry's life below the ttl
    c.get("/c/short");
    assert_eq!(c.get("/c/short").header("x-cache"), Some("hit"));
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(c.get("/c/short").header("x-cache"), Some("miss"));
    // the key: query.page names the entry, other query parameters do not
    c.get("/c/plain?page=1");
    assert_eq!(c.get("/c/plain?page=1&x=2").header("x-cache"), Some("hit"));
    assert_eq!(c.get("/c/plain?page=2").header("x-cache"), Some("miss"));
    // Vary: one entry per Accept-Language
    let lang =
        |c: &mut Client, l: &str| c.request("GET", "/c/vary", &[("accept-language", l)], b"");
    assert_eq!(lang(&mut c, "en").text(), "\"en\"");
    assert_eq!(lang(&mut c, "fr").header("x-cache"), Some("miss"));
    let r = lang(&mut c, "en");
    assert_eq!(
        (r.header("x-cache"), r.text().as_str()),
        (Some("hit"), "\"en\"")
    );
    let r = lang(&mut c, "fr");
    assert_eq!(
        (r.header("x-cache"), r.text().as_str()),
        (Some("hit"), "\"fr\"")
    );
    assert_eq!(count(&up, "/c/vary"), 2);
    // a body that is not text is kept byte for byte
    let first = c.get("/c/bin");
    let r = c.get("/c/bin");
    assert_eq!(r.header("x-cache"), Some("hit"));
    assert_eq!(r.body, first.body);
    assert_eq!(r.body, (0..=255u8).collect::<Vec<u8>>());
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    // a 404 is kept too
    c.get("/c/none");
    assert_eq!(c.get("/c/none").header("x-cache"), Some("hit"));
    // a reload keeps the worker's entries
    gw.proc.signal("HUP");
    crate::auth::wait_reloaded(&gw, 1);
    assert_eq!(gw.get("/c/none").header("x-cache"), Some("hit"));
    assert_eq!(count(&up, "/c/none"), 1);
}

fn fifty_concurrent_misses_send_one_upstream_request(d: Driver) {
    let up = upstream();
    let gw = Arc::new(Gw::start(d, &config(&up, "{ ttl 60s; key [] }")));
    let clients: Vec<_> = (0..50)
        .map(|_| {
            let mut c = gw.connect();
            thread::spawn(move || {
                let r = c.get("/c/slow");
                (r.status, r.header("x-cache").map(str::to_owned))
            })
        })
        .collect();
    let answers: Vec<_> = clients.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
    assert_eq!(
        count(&up, "/c/slow"),
        1,
        "one upstream request for 50 misses"
    );
    let hits = answers
        .iter()
        .filter(|(_, x)| x.as_deref() == Some("hit"))
        .count();
    assert_eq!(
        hits, 49,
        "every other request was served what the first stored: {answers:?}"
    );
}
