//! Request smuggling: every ambiguous or malformed head is answered 400, the connection is
//! closed, and the upstream receives nothing at all.

use std::thread;
use std::time::Duration;

use crate::support::*;

on_both_drivers! {
    smuggling_rejected => smuggling_rejected_uring, smuggling_rejected_epoll;
}

/// (case, bytes sent in one write)
const CASES: &[(&str, &[u8])] = &[
    (
        "Content-Length and Transfer-Encoding",
        b"POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
    ),
    (
        "Transfer-Encoding and Content-Length",
        b"POST /s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    ),
    (
        "duplicate differing Content-Length",
        b"POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    ),
    (
        "invalid chunk size",
        b"POST /s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    ),
    ("obs-fold", b"GET /s HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n folded\r\n\r\n"),
    ("bare CR in a header value", b"GET /s HTTP/1.1\r\nHost: t\r\nX-A: 1\r2\r\n\r\n"),
    ("bare LF line endings", b"GET /s HTTP/1.1\nHost: t\n\n"),
    ("bare LF ending one header", b"GET /s HTTP/1.1\r\nHost: t\nX-A: 1\r\n\r\n"),
    ("NUL in a header value", b"GET /s HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n"),
    ("control character in a header value", b"GET /s HTTP/1.1\r\nHost: t\r\nX-A: a\x01b\r\n\r\n"),
    ("NUL in the request target", b"GET /s\x00x HTTP/1.1\r\nHost: t\r\n\r\n"),
    ("non-token method", b"G(T /s HTTP/1.1\r\nHost: t\r\n\r\n"),
    ("whitespace before a header colon", b"GET /s HTTP/1.1\r\nHost : t\r\n\r\n"),
    // paths an upstream reads as another path than the one routed (refused by default)
    ("encoded slash and dot segments", b"GET /public%2f..%2fadmin/x HTTP/1.1\r\nHost: t\r\n\r\n"),
    ("matrix parameters", b"GET /admin;x=1/x HTTP/1.1\r\nHost: t\r\n\r\n"),
    ("an empty matrix segment", b"GET /;/admin/x HTTP/1.1\r\nHost: t\r\n\r\n"),
    ("encoded backslash", b"GET /%5Cadmin/x HTTP/1.1\r\nHost: t\r\n\r\n"),
    ("encoded percent", b"GET /a%252Fadmin HTTP/1.1\r\nHost: t\r\n\r\n"),
    ("encoded NUL", b"GET /a%00/admin HTTP/1.1\r\nHost: t\r\n\r\n"),
];

fn smuggling_rejected(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &proxy_all(up.addr()));
    let mut failures = Vec::new();
    for (case, wire) in CASES {
        let before = up.raw().len();
        let mut c = gw.connect();
        c.set_read_timeout(Duration::from_secs(3));
        let _ = c.try_send(wire);
        let problem = match c.read_response("POST") {
            Ok(r) if r.status != 400 => Some(format!("status {} ({})", r.status, r.text())),
            Ok(_) => c
                .wait_closed(Duration::from_secs(2))
                .err()
                .map(|e| format!("400 but not closed: {e}")),
            Err(e) => Some(format!("no 400 response: {e}")),
        };
        thread::sleep(Duration::from_millis(50));
        let leaked = up.raw().split_off(before);
        let problem = match (problem, leaked.is_empty()) {
            (p, true) => p,
            (p, false) => Some(format!(
                "{}upstream received {:?}",
                p.map(|p| p + "; ").unwrap_or_default(),
                String::from_utf8_lossy(&leaked)
            )),
        };
        if let Some(p) = problem {
            failures.push(format!("{case}: {p}"));
        }
    }
    assert!(
        failures.is_empty(),
        "smuggling cases not rejected:\n  {}",
        failures.join("\n  ")
    );
    assert_eq!(gw.get("/ok").status, 200, "gw still serves");
}
