//! gw's own error responses: 404 without a route, 405 with Allow, `on error` bodies.

use crate::support::*;

on_both_drivers! {
    no_route_404 => no_route_404_uring, no_route_404_epoll;
    wrong_method_405 => wrong_method_405_uring, wrong_method_405_epoll;
    custom_error_page => custom_error_page_uring, custom_error_page_epoll;
    a_bad_path_gets_its_own_request_id => a_bad_path_gets_its_own_request_id_uring, a_bad_path_gets_its_own_request_id_epoll;
    a_local_respond_runs_the_response_program => a_local_respond_runs_the_response_program_uring, a_local_respond_runs_the_response_program_epoll;
}

/// `on response` runs on a response the route makes itself, as on an upstream's: it sees the
/// status and the headers `respond` set, and its edits apply.
fn a_local_respond_runs_the_response_program(d: Driver) {
    let config = "route GET /hello {\n  respond 201 json { ok: true } headers { x-from: \"respond\" }\n  \
on response {\n    set header x-status = \"{resp.status}\"\n    \
set header x-seen = resp.header.x-from ?? \"none\"\n    remove header x-from\n  }\n}\n";
    let gw = Gw::start(d, config);
    let r = gw.get("/hello");
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-status"), Some("201"));
    assert_eq!(r.header("x-seen"), Some("respond"));
    assert_eq!(r.header("x-from"), None);
    assert_eq!(r.text(), r#"{"ok":true}"#);
}

/// A keep-alive request refused for its path still gets an X-Request-Id of its own, never
/// the previous request's.
fn a_bad_path_gets_its_own_request_id(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &routes(&up, ""));
    let mut c = gw.connect();
    let first = c.get("/thing");
    assert_eq!(first.status, 200);
    let first_id = first.header("x-request-id").expect("an id").to_string();
    let bad = c.get("/a%zz");
    assert_eq!(bad.status, 400);
    let bad_id = bad.header("x-request-id").expect("an id on the refusal");
    assert_ne!(bad_id, first_id);
    assert_eq!(bad_id.len(), 36, "a fresh id: {bad_id}");
    // a head that does not parse, after a good request on the connection
    let mut c = gw.connect();
    let first = c.get("/thing");
    let first_id = first.header("x-request-id").expect("an id").to_string();
    c.send(b"GET /thing HTTP/1.1\r\nHost : a\r\n\r\n");
    let bad = c.read_response("GET").expect("a 400");
    assert_eq!(bad.status, 400);
    let bad_id = bad.header("x-request-id").expect("an id on the refusal");
    assert_ne!(bad_id, first_id);
}

fn routes(up: &Upstream, extra: &str) -> String {
    format!(
        "{}route GET /thing {{\n  upstream u\n}}\nroute PUT /thing {{\n  upstream u\n}}\n{extra}",
        upstream_block("u", &[up.addr()], "")
    )
}

fn no_route_404(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &routes(&up, ""));
    let mut c = gw.connect();

    let r = c.get("/missing");
    assert_eq!(r.status, 404);
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("application/json"))
    );
    let body = r.json();
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "body {body}"
    );
    let id = body["requestId"]
        .as_str()
        .unwrap_or_else(|| panic!("no requestId in {body}"));
    assert!(!id.is_empty());
    assert_eq!(
        r.header("x-request-id"),
        Some(id),
        "requestId is the request's X-Request-Id"
    );

    let r = c.request("GET", "/missing", &[("X-Request-Id", "e2e-404")], b"");
    assert_eq!(
        (r.status, r.json()["requestId"].as_str()),
        (404, Some("e2e-404"))
    );
    assert_eq!(
        c.get("/thing").status,
        200,
        "connection still usable after a 404"
    );
    assert_eq!(up.count(), 1);
}

fn wrong_method_405(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &routes(&up, ""));
    let mut c = gw.connect();
    let r = c.request("POST", "/thing", &[], b"x");
    assert_eq!(r.status, 405);
    let allow = r.head.tokens("allow");
    for m in ["get", "put"] {
        assert!(allow.iter().any(|a| a == m), "Allow {allow:?} lacks {m}");
    }
    assert!(
        !allow.iter().any(|a| a == "post" || a == "delete"),
        "Allow {allow:?}"
    );
    assert_eq!(up.count(), 0);
}

fn custom_error_page(d: Driver) {
    let up = Upstream::echo("u");
    let page = "on error 404 {\n  body json { message: \"nope\", request_id: request.id }\n}\n";
    let gw = Gw::start(d, &routes(&up, page));
    let mut c = gw.connect();
    let r = c.request("GET", "/missing", &[("X-Request-Id", "e2e-custom")], b"");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        serde_json::json!({ "message": "nope", "request_id": "e2e-custom" })
    );
    // Other statuses keep gw's own body.
    let r = c.request("POST", "/thing", &[], b"x");
    assert_eq!(r.status, 405);
    assert!(
        !r.text().contains("nope"),
        "the 404 page was used for a 405: {}",
        r.text()
    );
}
