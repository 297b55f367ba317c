//! `auth api_key`, `auth authorizer` and `auth any(…)` through gw in front of a real upstream:
//! keys hashed in a file that reloads with the config; an HTTP authorizer whose decisions are
//! cached per route and identity; denials as 401/403 with the reason in gw's log only.

use std::fs;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::support::gw::TempDir;
use crate::support::*;

on_both_drivers! {
    api_keys_valid_unknown_missing_and_revoked_by_a_reload => api_keys_valid_unknown_missing_and_revoked_by_a_reload_uring, api_keys_valid_unknown_missing_and_revoked_by_a_reload_epoll;
    an_api_key_in_the_query => an_api_key_in_the_query_uring, an_api_key_in_the_query_epoll;
    denial_reasons_go_to_the_access_log_or_to_a_bounded_stderr => denial_reasons_go_to_the_access_log_or_to_a_bounded_stderr_uring, denial_reasons_go_to_the_access_log_or_to_a_bounded_stderr_epoll;
    the_authorizer_allows_denies_and_passes_its_context_on => the_authorizer_allows_denies_and_passes_its_context_on_uring, the_authorizer_allows_denies_and_passes_its_context_on_epoll;
    authorizer_decisions_are_cached_per_route_and_identity => authorizer_decisions_are_cached_per_route_and_identity_uring, authorizer_decisions_are_cached_per_route_and_identity_epoll;
    an_authorizer_down_or_slow_is_503_or_allows_when_told => an_authorizer_down_or_slow_is_503_or_allows_when_told_uring, an_authorizer_down_or_slow_is_503_or_allows_when_told_epoll;
    any_takes_the_first_member_that_accepts => any_takes_the_first_member_that_accepts_uring, any_takes_the_first_member_that_accepts_epoll;
}

fn key_line(key: &str, id: &str) -> String {
    let hex: String = Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex} id={id}\n")
}

/// Waits for gw's log to say it reloaded for the `n`th time.
pub(crate) fn wait_reloaded(gw: &Gw, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while gw.stderr().matches("reloaded").count() < n {
        assert!(
            Instant::now() < deadline,
            "gw did not reload:\n{}",
            gw.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn api_key_config(keys: &std::path::Path, up: &Upstream, source: &str) -> String {
    format!(
        "api_keys partners {{\n  file \"{}\"\n  {source}\n}}\n{}route GET /r {{\n  auth api_key partners\n  set header x-partner = key.id\n  upstream u\n}}\n",
        keys.display(),
        upstream_block("u", &[up.addr()], "")
    )
}

fn api_keys_valid_unknown_missing_and_revoked_by_a_reload(d: Driver) {
    let dir = TempDir::new();
    let keys = dir.path().join("partners.txt");
    fs::write(
        &keys,
        key_line("k-acme-1", "acme") + &key_line("k-globex-2", "globex"),
    )
    .unwrap();
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &api_key_config(&keys, &up, "header \"x-api-key\""));
    let mut c = gw.connect();
    let get = |c: &mut Client, key: Option<&str>| {
        let headers: Vec<(&str, &str)> = key.map(|k| ("x-api-key", k)).into_iter().collect();
        c.request("GET", "/r", &headers, b"")
    };

    let r = get(&mut c, Some("k-acme-1"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up.single().header("x-partner"), Some("acme"));

    for (key, reason) in [
        (Some("k-acme-2"), "api_keys partners: unknown key"),
        (None, "api_keys partners: no key in header x-api-key"),
    ] {
        let r = get(&mut c, key);
        assert_eq!(r.status, 401, "{key:?}: {}", r.text());
        assert_eq!(
            r.header("www-authenticate"),
            Some("ApiKey realm=\"partners\"")
        );
        assert_eq!(r.json()["message"], "Unauthorized");
        assert!(
            !r.text().contains("unknown") && !r.text().contains("no key"),
            "the reason reached the client: {}",
            r.text()
        );
        assert!(gw.stderr().contains(reason), "{}", gw.stderr());
    }
    assert_eq!(up.count(), 1, "a refused request reached the upstream");

    // acme is revoked: the file loses its line, and a reload serves the new file
    fs::write(&keys, key_line("k-globex-2", "globex")).unwrap();
    gw.proc.signal("HUP");
    wait_reloaded(&gw, 1);
    let mut c = gw.connect();
    assert_eq!(get(&mut c, Some("k-acme-1")).status, 401);
    assert_eq!(get(&mut c, Some("k-globex-2")).status, 200);
    assert_eq!(up.traffic()[1].header("x-partner"), Some("globex"));
}

/// With `reason` among the access log's fields a denial's reason is in the request's line
/// and nowhere else; without, stderr gets at most 100 reasons a second per worker, and each
/// reason left out is counted on the next line written.
fn denial_reasons_go_to_the_access_log_or_to_a_bounded_stderr(d: Driver) {
    let dir = TempDir::new();
    let keys = dir.path().join("partners.txt");
    fs::write(&keys, key_line("k-acme-1", "acme")).unwrap();
    let log = dir.path().join("access.log");
    let up = Upstream::echo("u");
    let config = format!(
        "workers 1\nlog {{\n  to \"{}\"\n  fields [requestId, status, reason]\n}}\n{}",
        log.display(),
        api_key_config(&keys, &up, "header \"x-api-key\"")
    );
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    let r = c.request(
        "GET",
        "/r",
        &[("x-api-key", "k-nope"), ("x-request-id", "denied-1")],
        b"",
    );
    assert_eq!(r.status, 401);
    let r = c.request(
        "GET",
        "/r",
        &[("x-api-key", "k-acme-1"), ("x-request-id", "ok-1")],
        b"",
    );
    assert_eq!(r.status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    let lines = loop {
        let lines: Vec<serde_json::Value> = fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= 2 {
            break lines;
        }
        assert!(Instant::now() < deadline, "no access log lines: {lines:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(lines[0]["requestId"], "denied-1");
    assert_eq!(lines[0]["status"], 401);
    assert_eq!(lines[0]["reason"], "api_keys partners: unknown key");
    assert_eq!(lines[1]["requestId"], "ok-1");
    assert!(lines[1]["reason"].is_null(), "{}", lines[1]);
    assert!(
        !gw.stderr().contains("unknown key"),
        "the reason went to stderr too:\n{}",
        gw.stderr()
    );

    // no access log: stderr, within its budget, nothing lost from the count
    let gw = Gw::start(
        d,
        &format!(
            "workers 1\n{}",
            api_key_config(&keys, &up, "header \"x-api-key\"")
        ),
    );
    let mut c = gw.connect();
    let sent = 400;
    let start = Instant::now();
    for _ in 0..sent {
        let r = c.request("GET", "/r", &[("x-api-key", "k-nope")], b"");
        assert_eq!(r.status, 401);
    }
    let spent = start.elapsed();
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        c.request("GET", "/r", &[("x-api-key", "k-nope")], b"")
            .status,
        401
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let (written, skipped) = loop {
        let err = gw.stderr();
        let lines: Vec<&str> = err.lines().filter(|l| l.contains("unknown key")).collect();
        let skipped: u64 = lines
            .iter()
            .filter_map(|l| {
                l.split_once(" (")?
                    .1
                    .split_once(" denial reasons not logged")?
                    .0
                    .parse::<u64>()
                    .ok()
            })
            .sum();
        if lines.len() as u64 + skipped == sent + 1 {
            break (lines.len() as u64, skipped);
        }
        assert!(
            Instant::now() < deadline,
            "{} lines and {skipped} counted out of {}:\n{err}",
            lines.len(),
            sent + 1
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // every second the requests took (begun or whole) had its own budget, and the last
    // request its own
    let seconds = spent.as_secs() + 2;
    assert!(written <= 100 * seconds + 1, "{written} lines in {spent:?}");
    if spent < Duration::from_secs(1) {
        assert!(skipped >= sent - 100, "{skipped} counted out in {spent:?}");
    }
}

fn an_api_key_in_the_query(d: Driver) {
    let dir = TempDir::new();
    let keys = dir.path().join("partners.txt");
    fs::write(&keys, key_line("k q/1", "acme")).unwrap();
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &api_key_config(&keys, &up, "query \"api_key\""));
    assert_eq!(gw.get("/r?api_key=k+q%2F1").status, 200);
    assert_eq!(up.single().header("x-partner"), Some("acme"));
    assert_eq!(gw.get("/r?api_key=k+q%2F2").status, 401);
    assert_eq!(gw.get("/r?other=k+q%2F1").status, 401);
    let r = gw
        .connect()
        .request("GET", "/r", &[("api_key", "k q/1")], b"");
    assert_eq!(r.status, 401, "a query key read from a header");
}

/// An authorizer service: `tok-ann` and `tok-bo` pass with their context, `tok-bad` is a 401
/// with a challenge, `tok-ban` a 403, `tok-odd` an answer of the wrong type, `tok-no` the
/// simple response's `isAuthorized: false`.
fn authorizer_service() -> Upstream {
    Upstream::start("authz", |req| {
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let json = |v: serde_json::Value| Reply::Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: v.to_string().into_bytes(),
        };
        match body["identity"].as_str().unwrap_or("") {
            "tok-ann" => json(serde_json::json!({"user": "ann", "rooms": ["a", "b"]})),
            "tok-bo" => json(
                serde_json::json!({"isAuthorized": true, "context": {"user": "bo", "rooms": []}}),
            ),
            "tok-bad" => Reply::Response {
                status: 401,
                headers: vec![("www-authenticate".into(), "Bearer realm=\"chat\"".into())],
                body: Vec::new(),
            },
            "tok-ban" => Reply::status(403, ""),
            "tok-odd" => json(serde_json::json!({"user": 7, "rooms": []})),
            "tok-no" => json(serde_json::json!({"isAuthorized": false})),
            _ => Reply::status(500, "unexpected"),
        }
    })
}

fn authorizer_config(authz: &Upstream, up: &Upstream, extra: &str) -> String {
    format!(
        "workers 1\nauthorizer chat {{\n  url \"http://{}/authorize\"\n  identity header.authorization\n  ttl 60s\n  timeout 500ms\n  {extra}\n  context {{\n    user: string\n    rooms: list<string>\n    tier: string = \"basic\"\n  }}\n}}\n{}route GET /a {{\n  auth authorizer chat\n  require \"b\" in auth.ctx.rooms else 403\n  set header x-user = auth.ctx.user\n  set header x-tier = auth.ctx.tier\n  upstream u\n}}\nroute GET /b {{\n  auth authorizer chat\n  upstream u\n}}\n",
        authz.addr(),
        upstream_block("u", &[up.addr()], "")
    )
}

fn the_authorizer_allows_denies_and_passes_its_context_on(d: Driver) {
    let authz = authorizer_service();
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &authorizer_config(&authz, &up, ""));
    let mut c = gw.connect();
    let get = |c: &mut Client, path: &str, token: &str| {
        c.request("GET", path, &[("authorization", token)], b"")
    };

    let r = get(&mut c, "/a", "tok-ann");
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = up.single();
    assert_eq!(seen.header("x-user"), Some("ann"));
    assert_eq!(
        seen.header("x-tier"),
        Some("basic"),
        "the context's default"
    );
    let call = authz.single();
    assert_eq!((call.method.as_str(), call.path()), ("POST", "/authorize"));
    let asked: serde_json::Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(asked["identity"], "tok-ann");
    assert_eq!(asked["route"], "GET /a");
    assert_eq!(asked["method"], "GET");
    assert_eq!(asked["path"], "/a");
    assert_eq!(asked["clientIp"], "127.0.0.1");
    assert_eq!(asked["requestId"], seen.header("x-request-id").unwrap());

    // bo passes the authorizer, then fails the route's own `require` on its context
    assert_eq!(get(&mut c, "/a", "tok-bo").status, 403);
    assert_eq!(get(&mut c, "/b", "tok-bo").status, 200);

    let r = get(&mut c, "/a", "tok-bad");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"chat\""));
    assert_eq!(get(&mut c, "/a", "tok-ban").status, 403);
    assert_eq!(get(&mut c, "/a", "tok-no").status, 403);
    let r = get(&mut c, "/a", "tok-odd");
    assert_eq!(r.status, 503, "an unusable answer");
    assert!(
        gw.stderr()
            .contains("authorizer chat: context field `user`: expected a string, found a number"),
        "{}",
        gw.stderr()
    );

    // no identity: a 401 without a call
    let calls = authz.count();
    let r = c.request("GET", "/a", &[], b"");
    assert_eq!(r.status, 401);
    assert_eq!(authz.count(), calls);
    assert_eq!(
        up.count(),
        2,
        "only ann on /a and bo on /b reached the upstream"
    );
}

fn authorizer_decisions_are_cached_per_route_and_identity(d: Driver) {
    let authz = authorizer_service();
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &authorizer_config(&authz, &up, ""));
    let mut c = gw.connect();
    let get = |c: &mut Client, path: &str, token: &str| {
        c.request("GET", path, &[("authorization", token)], b"")
            .status
    };
    for _ in 0..5 {
        assert_eq!(get(&mut c, "/a", "tok-ann"), 200);
        assert_eq!(get(&mut c, "/a", "tok-ban"), 403);
    }
    assert_eq!(authz.count(), 2, "one call per identity within the ttl");
    // the same identity on another route is asked again: no decision crosses routes
    assert_eq!(get(&mut c, "/b", "tok-ann"), 200);
    assert_eq!(get(&mut c, "/b", "tok-ann"), 200);
    assert_eq!(authz.count(), 3);
    // failures are not cached: the next request asks again
    assert_eq!(get(&mut c, "/b", "tok-odd"), 503);
    assert_eq!(get(&mut c, "/b", "tok-odd"), 503);
    assert_eq!(authz.count(), 5);
    assert_eq!(up.count(), 7);
}

fn an_authorizer_down_or_slow_is_503_or_allows_when_told(d: Driver) {
    let up = Upstream::echo("u");
    // nothing listens on the authorizer's port
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_addr = down.local_addr().unwrap();
    drop(down);
    let config = |addr: std::net::SocketAddr, extra: &str| {
        format!(
            "authorizer chat {{\n  url \"http://{addr}/authorize\"\n  identity header.authorization\n  timeout 300ms\n  {extra}\n  context {{\n    user: string = \"guest\"\n  }}\n}}\n{}route GET /a {{\n  auth authorizer chat\n  set header x-user = auth.ctx.user\n  upstream u\n}}\n",
            upstream_block("u", &[up.addr()], "")
        )
    };
    let gw = Gw::start(d, &config(down_addr, ""));
    let r = gw
        .connect()
        .request("GET", "/a", &[("authorization", "t")], b"");
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(gw.stderr().contains("authorizer chat:"), "{}", gw.stderr());
    drop(gw);

    let slow = Upstream::start("slow", |_| {
        Reply::Delay(Duration::from_secs(3), Box::new(Reply::status(200, "{}")))
    });
    let gw = Gw::start(d, &config(slow.addr(), "on_error deny 502"));
    let r = gw
        .connect()
        .request("GET", "/a", &[("authorization", "t")], b"");
    assert_eq!(r.status, 502, "the configured status for a slow authorizer");
    assert!(gw.stderr().contains("no answer within"), "{}", gw.stderr());
    drop(gw);

    let gw = Gw::start(d, &config(down_addr, "on_error allow"));
    let r = gw
        .connect()
        .request("GET", "/a", &[("authorization", "t")], b"");
    assert_eq!(r.status, 200, "fail-open passes with the defaults");
    assert_eq!(up.single().header("x-user"), Some("guest"));
}

fn any_takes_the_first_member_that_accepts(d: Driver) {
    let dir = TempDir::new();
    let keys = dir.path().join("partners.txt");
    fs::write(&keys, key_line("k-acme", "acme")).unwrap();
    let authz = authorizer_service();
    let up = Upstream::echo("u");
    let config = format!(
        "workers 1\napi_keys partners {{\n  file \"{}\"\n}}\nauthorizer chat {{\n  url \"http://{}/authorize\"\n  identity header.authorization\n  ttl 60s\n  context {{\n    user: string\n  }}\n}}\n{}route GET /r {{\n  auth any(partners, chat)\n  set header x-who = key.id ?? auth.ctx.user ?? \"nobody\"\n  upstream u\n}}\n",
        keys.display(),
        authz.addr(),
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    let mut get = |headers: &[(&str, &str)]| c.request("GET", "/r", headers, b"").status;
    assert_eq!(get(&[("x-api-key", "k-acme")]), 200);
    assert_eq!(
        authz.count(),
        0,
        "the key accepted: the authorizer is not asked"
    );
    assert_eq!(get(&[("authorization", "tok-ann")]), 200);
    assert_eq!(authz.count(), 1);
    // a bad key, then a good identity: the authorizer's answer wins after the key's refusal
    assert_eq!(
        get(&[("x-api-key", "nope"), ("authorization", "tok-ann")]),
        200
    );
    let who: Vec<_> = up
        .traffic()
        .iter()
        .map(|r| r.header("x-who").unwrap_or("").to_string())
        .collect();
    assert_eq!(who, ["acme", "ann", "ann"]);
    // nobody accepts: one 401
    let r = c.request(
        "GET",
        "/r",
        &[("x-api-key", "nope"), ("authorization", "tok-bad")],
        b"",
    );
    assert_eq!(r.status, 401);
    assert!(
        gw.stderr().contains("auth any: no member accepted"),
        "{}",
        gw.stderr()
    );
    // the authorizer cannot decide and the key is wrong: that is a 503, not a 401
    assert_eq!(
        c.request(
            "GET",
            "/r",
            &[("x-api-key", "nope"), ("authorization", "tok-odd")],
            b""
        )
        .status,
        503
    );
    assert_eq!(up.count(), 3);
}
