//! `cors { … }`: preflights answered by gw without the upstream (allowed and refused), the
//! headers of actual responses and of gw's own errors, credentials, wildcard subdomains,
//! `cors off`, and `*` with credentials refused at compile time.

use crate::support::client::Response;
use crate::support::gw::run_expecting_exit;
use crate::support::*;

on_both_drivers! {
    preflights_are_answered_by_gw => preflights_are_answered_by_gw_uring, preflights_are_answered_by_gw_epoll;
    actual_responses_and_errors_carry_the_headers => actual_responses_and_errors_carry_the_headers_uring, actual_responses_and_errors_carry_the_headers_epoll;
    a_wildcard_origin_without_credentials => a_wildcard_origin_without_credentials_uring, a_wildcard_origin_without_credentials_epoll;
    a_wildcard_with_credentials_does_not_compile => a_wildcard_with_credentials_does_not_compile_uring, a_wildcard_with_credentials_does_not_compile_epoll;
    cached_responses_carry_the_headers_of_their_request => cached_responses_carry_the_headers_of_their_request_uring, cached_responses_carry_the_headers_of_their_request_epoll;
}

const CORS: &str = "cors {\n  origins \"https://app.example.com\" \"https://*.example.com\"\n  methods GET POST\n  headers content-type x-api-key\n  expose x-request-id\n  credentials true\n  max_age 10m\n}\n";

fn config(up: &Upstream) -> String {
    format!(
        "{CORS}{}route GET /pets {{\n  upstream pets\n}}\nroute POST /pets {{\n  require header.x-ok == \"1\" else 403 \"no\"\n  upstream pets\n}}\nroute DELETE /pets {{\n  upstream pets\n}}\nroute GET /open {{\n  cors off\n  upstream pets\n}}\n",
        upstream_block("pets", &[up.addr()], "")
    )
}

fn preflight(c: &mut Client, path: &str, origin: &str, method: &str, headers: &str) -> Response {
    let mut h = vec![
        ("origin", origin),
        ("access-control-request-method", method),
    ];
    if !headers.is_empty() {
        h.push(("access-control-request-headers", headers));
    }
    c.request("OPTIONS", path, &h, b"")
}

fn preflights_are_answered_by_gw(d: Driver) {
    let up = Upstream::echo("pets");
    let gw = Gw::start(d, &config(&up));
    let mut c = gw.connect();
    for origin in ["https://app.example.com", "https://shop.eu.example.com"] {
        let r = preflight(&mut c, "/pets", origin, "POST", "Content-Type, X-Api-Key");
        assert_eq!(r.status, 204, "{origin}");
        assert_eq!(r.header("access-control-allow-origin"), Some(origin));
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST"));
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("content-type, x-api-key")
        );
        assert_eq!(r.header("access-control-max-age"), Some("600"));
        assert_eq!(r.header("vary"), Some("Origin"));
    }
    // refused: an origin not listed, the bare parent of a wildcard, a method the route
    // serves but `methods` does not list, a header not allowed
    for (origin, method, headers) in [
        ("https://evil.test", "POST", ""),
        ("https://example.com", "GET", ""),
        ("https://app.example.com", "DELETE", ""),
        ("https://app.example.com", "POST", "x-secret"),
    ] {
        let r = preflight(&mut c, "/pets", origin, method, headers);
        assert_eq!(r.status, 403, "{origin} {method} {headers}");
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("access-control-allow-methods"), None);
    }
    // a method no route serves: the router's 405, without CORS headers
    let r = preflight(&mut c, "/pets", "https://app.example.com", "PUT", "");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("access-control-allow-origin"), None);
    // a route with `cors off` is not preflighted: OPTIONS there is the router's 405
    let r = preflight(&mut c, "/open", "https://app.example.com", "GET", "");
    assert_eq!(r.status, 405);
    // a plain OPTIONS (no preflight headers) is not answered as one
    assert_eq!(c.request("OPTIONS", "/pets", &[], b"").status, 405);
    assert_eq!(up.count(), 0, "a preflight reached the upstream");
}

fn actual_responses_and_errors_carry_the_headers(d: Driver) {
    let up = Upstream::echo("pets");
    let gw = Gw::start(d, &config(&up));
    let mut c = gw.connect();
    let r = c.request("GET", "/pets", &[("origin", "https://a.example.com")], b"");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://a.example.com")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("x-request-id")
    );
    assert_eq!(r.header("vary"), Some("Origin"));
    assert_eq!(r.header("access-control-allow-methods"), None);
    // an origin not allowed gets no CORS headers, only Vary
    let r = c.request("GET", "/pets", &[("origin", "https://a.example.org")], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(r.header("vary"), Some("Origin"));
    // gw's own answer (a denial) for the route carries them too
    let r = c.request(
        "POST",
        "/pets",
        &[("origin", "https://app.example.com")],
        b"",
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    // `cors off`
    let r = c.request(
        "GET",
        "/open",
        &[("origin", "https://app.example.com")],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(r.header("vary"), None);
}

fn a_wildcard_origin_without_credentials(d: Driver) {
    let config = "cors {\n  origins \"*\"\n  methods GET\n}\nroute GET /p {\n  respond 200 json { ok: true }\n}\n";
    let gw = Gw::start(d, config);
    let mut c = gw.connect();
    let r = c.request("GET", "/p", &[("origin", "https://anyone.test")], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-credentials"), None);
    let r = preflight(&mut c, "/p", "https://anyone.test", "GET", "");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

fn a_wildcard_with_credentials_does_not_compile(d: Driver) {
    let config = format!(
        "listen 127.0.0.1:{}\ncors {{\n  origins \"*\"\n  credentials true\n}}\nroute GET /p {{\n  respond 200 json {{ ok: true }}\n}}\n",
        free_port()
    );
    let f = run_expecting_exit(d, &config);
    assert!(!f.status.success());
    assert!(f.stderr.contains("error[E0304]"), "{}", f.stderr);
    assert!(
        f.stderr.contains("`credentials true` cannot go with"),
        "{}",
        f.stderr
    );
}

fn cached_responses_carry_the_headers_of_their_request(d: Driver) {
    let up = Upstream::echo("pets");
    let config = format!(
        "workers 1\n{CORS}{}route GET /pets {{\n  cache ttl 60s\n  upstream pets\n}}\n",
        upstream_block("pets", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    for (origin, cached) in [
        ("https://app.example.com", "miss"),
        ("https://app.example.com", "hit"),
        ("https://shop.example.com", "hit"),
    ] {
        let r = c.request("GET", "/pets", &[("origin", origin)], b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-cache"), Some(cached));
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some(origin),
            "{cached}"
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert!(
            r.header("vary")
                .is_some_and(|v| v.to_ascii_lowercase().contains("origin"))
        );
    }
    let r = c.request("GET", "/pets", &[("origin", "https://evil.test")], b"");
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(up.count(), 1, "one upstream request; the others were hits");
}
