//! Header handling: hop-by-hop stripping, X-Forwarded-* / Forwarded, X-Request-Id, Host,
//! and the config's header statements and mock responses.

use crate::support::*;

on_both_drivers! {
    hop_by_hop_stripped => hop_by_hop_stripped_uring, hop_by_hop_stripped_epoll;
    forwarded_headers => forwarded_headers_uring, forwarded_headers_epoll;
    request_id => request_id_uring, request_id_epoll;
    host_passed_through => host_passed_through_uring, host_passed_through_epoll;
    header_statements => header_statements_uring, header_statements_epoll;
    respond_json => respond_json_uring, respond_json_epoll;
}

fn hop_by_hop_stripped(d: Driver) {
    let up = Upstream::start("u", |_| {
        Reply::raw(
            "HTTP/1.1 200 OK\r\nConnection: X-Up-Hop\r\nX-Up-Hop: 1\r\nKeep-Alive: timeout=9\r\n\
             Upgrade: h2c\r\nX-Up-Keep: 1\r\nContent-Length: 2\r\n\r\nok",
        )
    });
    let gw = Gw::start(d, &proxy_all(up.addr()));
    let mut c = gw.connect();
    let r = c.request(
        "GET",
        "/hop",
        &[
            ("Connection", "keep-alive, X-Custom-Hop, Upgrade"),
            ("X-Custom-Hop", "secret"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Trailer", "X-Checksum"),
            ("Upgrade", "h2c"),
            ("X-End-To-End", "yes"),
        ],
        b"",
    );
    assert_eq!(r.status, 200, "a non-websocket Upgrade is not an upgrade");
    let got = up.single();
    for h in ["x-custom-hop", "keep-alive", "te", "trailer", "upgrade"] {
        assert!(
            !got.head.has(h),
            "hop-by-hop `{h}` reached the upstream: {:?}",
            got.head
        );
    }
    let conn = got.head.tokens("connection");
    assert!(
        conn.iter().all(|t| t == "keep-alive" || t == "close"),
        "client's Connection options reached the upstream: {conn:?}"
    );
    assert_eq!(got.header("x-end-to-end"), Some("yes"));

    assert!(
        !r.head.has("x-up-hop"),
        "upstream's Connection-named header reached the client"
    );
    assert!(
        !r.head.has("upgrade"),
        "upstream's Upgrade reached the client"
    );
    assert_ne!(
        r.header("keep-alive"),
        Some("timeout=9"),
        "upstream's Keep-Alive forwarded"
    );
    assert_eq!(r.header("x-up-keep"), Some("1"));
}

fn forwarded_headers(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &proxy_all(up.addr()));
    let mut c = gw.connect();

    c.get("/fresh");
    let got = up.traffic().pop().unwrap();
    assert_eq!(got.head.tokens("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(got.head.tokens("x-forwarded-proto"), ["http"]);
    let fwd = got.head.tokens("forwarded");
    assert_eq!(fwd.len(), 1, "one Forwarded element: {fwd:?}");
    assert_forwarded_element(&fwd[0]);

    c.request(
        "GET",
        "/chain",
        &[
            ("X-Forwarded-For", "203.0.113.7"),
            ("Forwarded", "for=192.0.2.60;proto=https"),
        ],
        b"",
    );
    let got = up.traffic().pop().unwrap();
    assert_eq!(
        got.head.tokens("x-forwarded-for"),
        ["203.0.113.7", "127.0.0.1"],
        "appended"
    );
    let fwd = got.head.tokens("forwarded");
    assert_eq!(fwd.len(), 2, "appended to the client's element: {fwd:?}");
    assert_eq!(fwd[0], "for=192.0.2.60;proto=https");
    assert_forwarded_element(&fwd[1]);
}

/// A Forwarded element (RFC 7239) added by gw: for the loopback client, over http.
fn assert_forwarded_element(element: &str) {
    let pairs: Vec<(String, String)> = element
        .split(';')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .collect();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        get("for"),
        Some("127.0.0.1"),
        "Forwarded element {element:?}"
    );
    assert_eq!(get("proto"), Some("http"), "Forwarded element {element:?}");
}

fn request_id(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &proxy_all(up.addr()));
    let mut c = gw.connect();

    let mut seen = Vec::new();
    for i in 0..2 {
        let r = c.get(&format!("/rid/{i}"));
        let sent = up.traffic().pop().unwrap();
        let id = sent
            .header("x-request-id")
            .expect("gw generates X-Request-Id")
            .to_string();
        assert!(!id.trim().is_empty());
        assert_eq!(
            r.header("x-request-id"),
            Some(id.as_str()),
            "echoed to the client"
        );
        seen.push(id);
    }
    assert_ne!(seen[0], seen[1], "request ids must be unique");

    let r = c.request(
        "GET",
        "/rid/given",
        &[("X-Request-Id", "e2e-given-42")],
        b"",
    );
    assert_eq!(
        up.traffic().pop().unwrap().head.header_all("x-request-id"),
        ["e2e-given-42"]
    );
    assert_eq!(r.header("x-request-id"), Some("e2e-given-42"));
}

fn host_passed_through(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &proxy_all(up.addr()));
    let mut c = gw.connect();
    c.request("GET", "/host", &[("Host", "api.example.test:8443")], b"");
    assert_eq!(
        up.single().head.header_all("host"),
        ["api.example.test:8443"]
    );
}

fn header_statements(d: Driver) {
    let up = Upstream::echo("u");
    let config = format!(
        "{}route ANY /{{proxy+}} {{\n  set header x-a = \"1\"\n  remove header x-b\n  upstream u\n  \
         on response {{\n    set header x-served-by = upstream.name\n  }}\n}}\n",
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    let r = c.request(
        "GET",
        "/ops",
        &[("X-A", "0"), ("X-B", "gone"), ("X-C", "kept")],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-served-by"), Some("u"));
    let got = up.single();
    assert_eq!(
        got.head.header_all("x-a"),
        ["1"],
        "set replaces the client's value"
    );
    assert!(!got.head.has("x-b"), "remove header x-b");
    assert_eq!(got.header("x-c"), Some("kept"));
}

fn respond_json(d: Driver) {
    let up = Upstream::echo("u");
    let config = format!(
        "{}route GET /mock {{\n  respond 200 json {{ a: 1 }}\n}}\nroute ANY /{{proxy+}} {{\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    let r = gw.get("/mock");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("application/json")),
        "content-type {:?}",
        r.header("content-type")
    );
    assert_eq!(r.json(), serde_json::json!({ "a": 1 }));
    assert_eq!(up.count(), 0, "a mock response never reaches the upstream");
}
