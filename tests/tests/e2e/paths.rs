//! Path normalisation happens once, before routing: the router and the upstream see the same
//! path, so encoded dot segments and doubled slashes cannot bypass a route.

use crate::support::*;

on_both_drivers! {
    path_normalisation => path_normalisation_uring, path_normalisation_epoll;
    path_confusion_refused_by_default => path_confusion_refused_by_default_uring, path_confusion_refused_by_default_epoll;
    allowed_path_characters_reach_the_upstream_as_routed => allowed_path_characters_reach_the_upstream_as_routed_uring, allowed_path_characters_reach_the_upstream_as_routed_epoll;
}

/// Forms that reach a guarded prefix on upstreams that decode `%2F` and resolve `..`, strip
/// `;params` (Tomcat, Spring, Jetty) or read `\` as `/`: 400 before routing, nothing forwarded.
fn path_confusion_refused_by_default(d: Driver) {
    let up = Upstream::echo("u");
    let config = format!(
        "{}route GET /admin/{{rest+}} {{\n  require header.x-admin == \"yes\" else 403\n  upstream u\n}}\n\
route ANY /{{proxy+}} {{\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    assert_eq!(gw.get("/admin/x").status, 403);
    let before = up.count();
    for sent in [
        "/public%2f..%2fadmin/x",
        "/public%2F..%2Fadmin/x",
        "/admin;x=1/x",
        "/;/admin/x",
        "/%5Cadmin/x",
        "/%5cadmin/x",
        "/a%3Badmin",
        "/a%252Fadmin",
        "/a%3F/admin",
        "/a%23/admin",
        "/a%00/admin",
    ] {
        let mut c = gw.connect();
        let r = c.get(sent);
        assert_eq!(r.status, 400, "{sent}");
    }
    let leaked: Vec<String> = up
        .traffic()
        .iter()
        .skip(before)
        .map(|r| r.target.clone())
        .collect();
    assert!(leaked.is_empty(), "forwarded: {leaked:?}");
    assert_eq!(gw.get("/public/x").status, 200);
}

/// A listener or a route may allow the refused characters; the upstream then receives exactly
/// the path the router matched.
fn allowed_path_characters_reach_the_upstream_as_routed(d: Driver) {
    let up = Upstream::echo("u");
    let config = format!(
        "{}route GET /blobs/{{key}} {{\n  allow_in_path \"%2F\"\n  upstream u\n}}\n\
route GET /enc/{{id}} {{\n  allow_in_path \"%2F\" \"%3F\"\n  rewrite path \"/items/{{path.id}}/v\"\n  upstream u\n}}\n\
route ANY /{{proxy+}} {{\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    assert_eq!(gw.get("/blobs/a%2fb").status, 200);
    assert_eq!(up.traffic().pop().unwrap().target, "/blobs/a%2Fb");
    assert_eq!(
        gw.get("/other/a%2Fb").status,
        400,
        "only that route allows it"
    );
    assert_eq!(
        gw.get("/blobs/a;b").status,
        400,
        "only %2F is allowed there"
    );
    // decoded into a rewritten path, an allowed encoded slash is encoded again
    assert_eq!(gw.get("/enc/..%2Fadmin%3F").status, 200);
    assert_eq!(up.traffic().pop().unwrap().target, "/items/..%2Fadmin%3F/v");
    drop(gw);

    let gw = Gw::start_listening(d, "{ allow_in_path \";\" \"%2F\" }", &config, &[]);
    assert_eq!(gw.get("/files/a%2Fb;v=1").status, 200);
    assert_eq!(up.traffic().pop().unwrap().target, "/files/a%2Fb;v=1");
    assert_eq!(gw.get("/files/a%5Cb").status, 400, "still refused");
}

fn path_normalisation(d: Driver) {
    let up = Upstream::echo("u");
    let config = format!(
        "{}route GET /admin/{{x}} {{\n  respond 403\n}}\nroute ANY /{{proxy+}} {{\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);

    let forwarded = [
        ("/admin/../public", "/public"),
        ("/admin/../public?q=1", "/public?q=1"),
        ("/public/./a//b", "/public/a/b"),
        ("/public/%61bc", "/public/abc"),
    ];
    for (sent, seen) in forwarded {
        let r = gw.get(sent);
        assert_eq!(r.status, 200, "{sent}");
        let got = up.traffic().pop().unwrap();
        assert_eq!(
            got.target, seen,
            "{sent} must reach the upstream normalised"
        );
    }
    let forwarded_count = up.count();

    for sent in [
        "/admin/x",
        "/public/%2e%2e/admin/x",
        "/public/%2E%2E/admin/x",
        "/public/.%2e/admin/x",
        "//admin/x",
        "/./admin/x",
        "/admin//x",
    ] {
        let r = gw.get(sent);
        assert_eq!(r.status, 403, "{sent} must be routed to the admin route");
    }
    let r = gw.get("/public/%2e%2e/%2e%2e/admin/x");
    assert!(
        matches!(r.status, 400 | 403),
        "`..` above the root: {}",
        r.status
    );

    let leaked: Vec<String> = up
        .traffic()
        .iter()
        .skip(forwarded_count)
        .map(|r| r.target.clone())
        .collect();
    assert!(leaked.is_empty(), "admin requests forwarded: {leaked:?}");
}
