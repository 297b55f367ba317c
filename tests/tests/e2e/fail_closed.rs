//! What a client or a misbehaving upstream could slip through a policy: values written into a
//! rewritten path or a header, bytes an upstream sends unasked, protocol switches nobody
//! asked for. Each is refused or removed, never passed on.

use std::time::Duration;

use crate::support::*;

on_both_drivers! {
    rewrite_values_cannot_split_or_climb => rewrite_values_cannot_split_or_climb_uring, rewrite_values_cannot_split_or_climb_epoll;
    header_edits_fail_closed => header_edits_fail_closed_uring, header_edits_fail_closed_epoll;
    unsolicited_upstream_bytes_never_reach_the_next_client => unsolicited_upstream_bytes_never_reach_the_next_client_uring, unsolicited_upstream_bytes_never_reach_the_next_client_epoll;
    unasked_switch_is_502_and_upgrade_stays_on_websocket_routes => unasked_switch_is_502_and_upgrade_stays_on_websocket_routes_uring, unasked_switch_is_502_and_upgrade_stays_on_websocket_routes_epoll;
    no_content_length_on_204_or_304 => no_content_length_on_204_or_304_uring, no_content_length_on_204_or_304_epoll;
    underscore_header_names => underscore_header_names_uring, underscore_header_names_epoll;
}

fn rewrite_values_cannot_split_or_climb(d: Driver) {
    let up = Upstream::echo("u");
    let config = format!(
        "{}route ANY /rw/{{rest+}} {{\n  rewrite path \"/x/{{path.rest}}\"\n  upstream u\n}}\n\
route GET /one/{{id}} {{\n  rewrite path \"/items/{{path.id}}/v\"\n  upstream u\n}}\n\
route GET /q {{\n  rewrite path \"/search/{{query.term ?? \"none\"}}\"\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    // (sent, the path of the one request the upstream must receive)
    let cases = [
        (
            "/rw/a%20HTTP/1.1%0D%0AHost:%20t%0D%0A%0D%0AGET%20/smug",
            "/x/a%20HTTP/1.1%0D%0AHost:%20t%0D%0A%0D%0AGET%20/smug",
        ),
        ("/rw/a+b%20c", "/x/a+b%20c"),
        ("/rw/a/b", "/x/a/b"),
        // an encoded slash is refused before routing: decoded, it would climb
        ("/one/..%2Fadmin", ""),
        ("/one/a%20b", "/items/a%20b/v"),
        (
            "/q?term=..%2F..%2Fadmin%20HTTP/1.1%0D%0AX:%20y",
            "/search/..%2F..%2Fadmin%20HTTP%2F1.1%0D%0AX:%20y",
        ),
        ("/q?term=..", "/search/.."),
    ];
    for (sent, want) in cases {
        let before = up.count();
        let r = gw.get(sent);
        let after = up.traffic();
        let got: Vec<&str> = after.iter().skip(before).map(|r| r.path()).collect();
        if want.is_empty() || want.ends_with("/..") {
            // a value that would climb: refused, nothing forwarded
            assert_eq!(r.status, 400, "{sent}");
            assert!(got.is_empty(), "{sent}: forwarded {got:?}");
            continue;
        }
        assert_eq!(r.status, 200, "{sent}: {}", r.text());
        assert_eq!(got, [want], "{sent}: exactly one request, its path encoded");
    }
    assert!(
        up.traffic()
            .iter()
            .all(|r| !r.target.contains("smug") || r.target.starts_with("/x/")),
        "no smuggled request"
    );
}

fn header_edits_fail_closed(d: Driver) {
    let up = Upstream::echo("u");
    let config = format!(
        "{}route GET /tenant/{{t}} {{\n  set header x-tenant = path.t\n  upstream u\n}}\n\
route GET /q {{\n  set header x-term = query.term ?? \"none\"\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    let r = c.request("GET", "/tenant/acme", &[("x-tenant", "victim")], b"");
    assert_eq!(r.status, 200);
    assert_eq!(up.traffic().pop().unwrap().header("x-tenant"), Some("acme"));

    let before = up.count();
    for target in [
        "/tenant/acme%0A",
        "/tenant/acme%0D%0AX-Admin:%201",
        "/q?term=a%0Ab",
    ] {
        let mut c = gw.connect();
        let r = c.request(
            "GET",
            target,
            &[("x-tenant", "victim"), ("x-term", "victim")],
            b"",
        );
        assert_eq!(r.status, 400, "{target}: {}", r.text());
    }
    let leaked: Vec<String> = up
        .traffic()
        .iter()
        .skip(before)
        .map(|r| format!("{} x-tenant={:?}", r.target, r.header("x-tenant")))
        .collect();
    assert!(
        leaked.is_empty(),
        "forwarded with the client's value: {leaked:?}"
    );
    assert!(gw.stderr().contains("refused"), "the refusal is logged");
}

fn unsolicited_upstream_bytes_never_reach_the_next_client(d: Driver) {
    let evil = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Evil: 1\r\n\r\nevil".to_vec();
    let up = Upstream::start("u", move |r| match r.target.as_str() {
        // a second response written after the first, unasked
        "/first" => Reply::ThenLater(
            Box::new(Reply::text("first")),
            Duration::from_millis(50),
            evil.clone(),
        ),
        // a body after a HEAD response
        "/head" => Reply::ThenLater(
            Box::new(Reply::Response {
                status: 200,
                headers: vec![("content-length".into(), "4".into())],
                body: Vec::new(),
            }),
            Duration::from_millis(50),
            b"evil".to_vec(),
        ),
        _ => Reply::text("fresh"),
    });
    let gw = Gw::start_with(d, &proxy_all(up.addr()), &["--workers", "1"]);
    for (method, first) in [("GET", "/first"), ("HEAD", "/head")] {
        let r = gw.connect().request(method, first, &[], b"");
        assert_eq!(r.status, 200, "{method} {first}");
        // the stray bytes arrive while the connection sits in the pool
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..3 {
            let r = gw.get("/next");
            assert_eq!(r.status, 200, "after {first}");
            assert_eq!(r.text(), "fresh", "after {first}: another exchange's bytes");
            assert!(r.header("x-evil").is_none(), "after {first}");
        }
    }
}

fn unasked_switch_is_502_and_upgrade_stays_on_websocket_routes(d: Driver) {
    let up = Upstream::start("u", |r| match r.path() {
        "/switch" => Reply::raw(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        ),
        _ => Reply::Echo,
    });
    let config = format!(
        "{}route ANY /{{proxy+}} {{\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    let r = gw.get("/switch");
    assert_eq!(r.status, 502, "a 101 nobody asked for");

    let mut c = gw.connect();
    let r = c.request(
        "GET",
        "/plain",
        &[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-version", "13"),
        ],
        b"",
    );
    assert_eq!(r.status, 200);
    let seen = up.traffic().pop().unwrap();
    assert_eq!(
        seen.header("upgrade"),
        None,
        "Upgrade off a non-websocket route"
    );
    assert_ne!(
        seen.header("connection")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("upgrade")
    );
}

fn no_content_length_on_204_or_304(d: Driver) {
    let up = Upstream::start("u", |r| match r.path() {
        "/204" => Reply::raw("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
        "/304" => {
            Reply::raw("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nETag: \"v1\"\r\n\r\n")
        }
        _ => Reply::text("ok"),
    });
    let gw = Gw::start(d, &proxy_all(up.addr()));
    let mut c = gw.connect();
    for (path, status) in [("/204", 204), ("/304", 304)] {
        let r = c.get(path);
        assert_eq!(r.status, status);
        assert_eq!(r.header("content-length"), None, "{path}");
    }
    // the connection is still in step
    assert_eq!(c.get("/after").text(), "ok");
}

fn underscore_header_names(d: Driver) {
    let up = Upstream::echo("u");
    let config = proxy_all(up.addr());
    let spoof = [("x_user", "admin"), ("x-user", "bob")];

    let gw = Gw::start(d, &config);
    assert_eq!(gw.connect().request("GET", "/a", &spoof, b"").status, 200);
    let seen = up.traffic().pop().unwrap();
    assert_eq!(seen.header("x_user"), None, "dropped by default");
    assert_eq!(seen.header("x-user"), Some("bob"));
    drop(gw);

    let gw = Gw::start_listening(d, "{ header_underscores keep }", &config, &[]);
    assert_eq!(gw.connect().request("GET", "/a", &spoof, b"").status, 200);
    assert_eq!(up.traffic().pop().unwrap().header("x_user"), Some("admin"));
    drop(gw);

    let gw = Gw::start_listening(d, "{ header_underscores reject }", &config, &[]);
    let before = up.count();
    assert_eq!(gw.connect().request("GET", "/a", &spoof, b"").status, 400);
    assert_eq!(up.count(), before, "nothing forwarded");
    assert_eq!(gw.get("/a").status, 200);
}
