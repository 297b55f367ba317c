//! `limits { body 1KiB; url 1KiB; headers 2KiB }`: 413, 414, 431, and requests within the
//! limits still pass.

use std::time::Duration;

use crate::support::*;

on_both_drivers! {
    limits => limits_uring, limits_epoll;
    response_bodies => response_bodies_uring, response_bodies_epoll;
}

/// Responses stream whole, however large, unless `limits { response_body }` is set: then a
/// body known to be over it is a 502 before any byte, and one found over it mid-stream cuts
/// the connection so that the client never sees a clean end.
fn response_bodies(d: Driver) {
    const BIG: usize = 12 * 1024 * 1024;
    let up = Upstream::start("u", |r| {
        let body = vec![b'x'; BIG];
        match r.path() {
            "/chunked" => Reply::Chunked {
                status: 200,
                headers: Vec::new(),
                chunks: body.chunks(1 << 20).map(<[u8]>::to_vec).collect(),
            },
            _ => Reply::text(body),
        }
    });
    // a request-body limit far below the download does not cut it
    let config = format!("{}limits {{ body 1KiB }}\n", proxy_all(up.addr()));
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    for path in ["/length", "/chunked"] {
        let r = c.get(path);
        assert_eq!((r.status, r.body.len()), (200, BIG), "{path}");
    }
    drop(gw);

    let config = format!("{}limits {{ response_body 1MiB }}\n", proxy_all(up.addr()));
    let gw = Gw::start(d, &config);
    assert_eq!(
        gw.get("/length").status,
        502,
        "over the limit by its Content-Length"
    );
    let mut c = gw.connect();
    c.set_read_timeout(Duration::from_secs(10));
    c.send(&build_request("GET", "/chunked", &[], b""));
    match c.read_response("GET") {
        Ok(r) => panic!("a clean end after {} bytes", r.body.len()),
        Err(e) => assert_ne!(
            e.kind(),
            std::io::ErrorKind::WouldBlock,
            "cut, not stalled: {e}"
        ),
    }
}

/// Send `wire` on a fresh connection and return the response status.
fn status_of(gw: &Gw, method: &str, wire: &[u8]) -> u16 {
    let mut c = gw.connect();
    c.set_read_timeout(Duration::from_secs(5));
    // gw may answer and close before reading all of an oversized request: a failed write is
    // fine as long as the response arrives.
    let _ = c.try_send(wire);
    c.read_response(method)
        .unwrap_or_else(|e| panic!("no response: {e}"))
        .status
}

fn limits(d: Driver) {
    let up = Upstream::start("u", |r| Reply::text(format!("{}", r.body.len())));
    let config = format!(
        "{}limits {{\n  body 1KiB\n  url 1KiB\n  headers 2KiB\n}}\n",
        proxy_all(up.addr())
    );
    let gw = Gw::start(d, &config);

    // Within the limits.
    let ok_body = build_request("POST", "/body", &[], &[b'a'; 1000]);
    assert_eq!(status_of(&gw, "POST", &ok_body), 200);
    let ok_url = format!("/url?q={}", "u".repeat(900));
    assert_eq!(
        status_of(&gw, "GET", &build_request("GET", &ok_url, &[], b"")),
        200
    );
    let ok_header = "h".repeat(1500);
    let ok_headers = build_request("GET", "/hdr", &[("X-Big", &ok_header)], b"");
    assert_eq!(status_of(&gw, "GET", &ok_headers), 200);
    let passed = up.count();
    assert_eq!(passed, 3);

    // Over the limits: rejected by gw, nothing reaches the upstream.
    let big_body = build_request("POST", "/body", &[], &[b'a'; 2048]);
    assert_eq!(
        status_of(&gw, "POST", &big_body),
        413,
        "body over 1KiB (Content-Length)"
    );
    let mut big_chunked = build_request(
        "POST",
        "/body-chunked",
        &[("Transfer-Encoding", "chunked")],
        b"",
    );
    big_chunked.extend(chunked(&[b'c'; 2048], 512));
    assert_eq!(
        status_of(&gw, "POST", &big_chunked),
        413,
        "body over 1KiB (chunked)"
    );
    let long_url = format!("/url?q={}", "u".repeat(1500));
    assert_eq!(
        status_of(&gw, "GET", &build_request("GET", &long_url, &[], b"")),
        414
    );
    let big_header = "h".repeat(3000);
    let big_headers = build_request("GET", "/hdr", &[("X-Big", &big_header)], b"");
    assert_eq!(status_of(&gw, "GET", &big_headers), 431);
    let many: Vec<(String, String)> = (0..40)
        .map(|i| (format!("X-H{i}"), "v".repeat(60)))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        status_of(&gw, "GET", &build_request("GET", "/hdr", &many, b"")),
        431,
        "40 x 60 B"
    );

    std::thread::sleep(Duration::from_millis(100));
    let after: Vec<String> = up
        .traffic()
        .iter()
        .skip(passed)
        .map(|r| r.target.clone())
        .collect();
    assert!(
        after.is_empty(),
        "rejected requests reached the upstream whole: {after:?}"
    );
}
