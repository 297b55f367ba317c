//! Path normalisation happens once, before routing: the router and the upstream see the same
//! path, so encoded dot segments and doubled slashes cannot bypass a route.

use crate::support::*;

on_both_drivers! {
    path_normalisation => path_normalisation_uring, path_normalisation_epoll;
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
