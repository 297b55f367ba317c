//! Messages without bodies and connection management: HEAD, 204/304/1xx, `Connection:
//! close` from either side, HTTP/1.0 clients.

use std::time::Duration;

use crate::support::*;

on_both_drivers! {
    head_request => head_request_uring, head_request_epoll;
    bodiless_statuses => bodiless_statuses_uring, bodiless_statuses_epoll;
    connection_close => connection_close_uring, connection_close_epoll;
    http10_client => http10_client_uring, http10_client_epoll;
}

fn head_request(d: Driver) {
    let up = Upstream::start("u", |_| Reply::Response {
        status: 200,
        headers: vec![
            ("content-type".into(), "text/plain".into()),
            ("etag".into(), "\"v1\"".into()),
        ],
        body: b"the representation".to_vec(),
    });
    // HEAD is served by the GET route.
    let config = format!(
        "{}route GET /doc {{\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    let get = c.get("/doc");
    assert_eq!(
        (get.status, get.body.as_slice()),
        (200, &b"the representation"[..])
    );
    let head = c.request("HEAD", "/doc", &[], b"");
    assert_eq!(head.status, 200);
    for h in ["content-length", "content-type", "etag"] {
        assert_eq!(head.header(h), get.header(h), "HEAD and GET differ in {h}");
    }
    // Had gw sent a body after the HEAD response, this response would be garbage.
    let again = c.get("/doc");
    assert_eq!(
        (again.status, again.body.as_slice()),
        (200, &b"the representation"[..])
    );
    let methods: Vec<String> = up.traffic().iter().map(|r| r.method.clone()).collect();
    assert_eq!(
        methods,
        ["GET", "HEAD", "GET"],
        "HEAD must reach the upstream as HEAD"
    );
}

fn bodiless_statuses(d: Driver) {
    let up = Upstream::start("u", |r| match r.path() {
        "/204" => Reply::raw("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"),
        // A 304 may carry the Content-Length of the representation; it still has no body.
        "/304" => {
            Reply::raw("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 42\r\n\r\n")
        }
        "/103" => Reply::raw(
            "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n\
             HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal",
        ),
        "/100" => Reply::raw(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ),
        _ => Reply::Echo,
    });
    let gw = Gw::start(d, &proxy_all(up.addr()));
    let mut c = gw.connect();
    c.set_read_timeout(Duration::from_secs(5));

    let r = c.get("/204");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("x-a"), Some("1"));
    assert!(
        !r.head.has("transfer-encoding"),
        "204 with Transfer-Encoding: {:?}",
        r.head
    );
    assert!(
        !r.head.has("content-length"),
        "204 must not carry Content-Length: {:?}",
        r.head
    );

    let r = c.request("GET", "/304", &[("If-None-Match", "\"x\"")], b"");
    assert_eq!(r.status, 304);
    assert!(
        !r.head.has("transfer-encoding"),
        "304 with Transfer-Encoding: {:?}",
        r.head
    );

    for (path, body) in [("/103", "final"), ("/100", "ok")] {
        let r = c.get(path);
        assert_eq!((r.status, r.text().as_str()), (200, body), "{path}");
        for i in &r.interim {
            assert!(
                i.line.starts_with("HTTP/1.1 1"),
                "{path}: interim {:?}",
                i.line
            );
        }
    }
    // Every response above was framed right, or this one would be misread.
    let r = c.get("/last");
    assert_eq!((r.status, r.header("x-up-path")), (200, Some("/last")));
}

fn connection_close(d: Driver) {
    let up = Upstream::start("u", |r| match r.path() {
        "/upclose" => Reply::RawThenClose(
            format!(
                "HTTP/1.1 200 OK\r\nConnection: close\r\nX-Conn: {}\r\nContent-Length: 2\r\n\r\nok",
                r.conn
            )
            .into_bytes(),
        ),
        _ => Reply::Echo,
    });
    let gw = Gw::start(d, &proxy_all(up.addr()));

    let mut c = gw.connect();
    let r = c.request("GET", "/bye", &[("Connection", "close")], b"");
    assert_eq!(r.status, 200);
    c.wait_closed(Duration::from_secs(2))
        .expect("gw must close after `Connection: close`");

    // The upstream closing its connection does not close the client's.
    let mut c = gw.connect();
    let mut conns = Vec::new();
    for _ in 0..3 {
        let r = c.get("/upclose");
        assert_eq!((r.status, r.text().as_str()), (200, "ok"));
        conns.push(r.header("x-conn").map(str::to_string));
    }
    conns.sort();
    conns.dedup();
    assert_eq!(
        conns.len(),
        3,
        "a connection the upstream closed was reused: {conns:?}"
    );
}

fn http10_client(d: Driver) {
    let up = Upstream::start("u", |r| match r.path() {
        "/chunked" => Reply::Chunked {
            status: 200,
            headers: vec![],
            chunks: vec![b"ab".to_vec(), b"cd".to_vec()],
        },
        _ => Reply::Echo,
    });
    let gw = Gw::start(d, &proxy_all(up.addr()));

    let mut c = gw.connect();
    c.send(b"GET /ten HTTP/1.0\r\n\r\n");
    let r = c.read_response("GET").expect("response to HTTP/1.0");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/ten");
    assert!(
        !r.head.is_chunked(),
        "chunked response to an HTTP/1.0 client"
    );
    c.wait_closed(Duration::from_secs(2))
        .expect("HTTP/1.0 without keep-alive is closed");

    // A chunked upstream response is delivered to an HTTP/1.0 client without chunking.
    let mut c = gw.connect();
    c.send(b"GET /chunked HTTP/1.0\r\nHost: t\r\n\r\n");
    let r = c.read_response("GET").expect("response");
    assert!(
        !r.head.is_chunked(),
        "chunked response to an HTTP/1.0 client: {:?}",
        r.head
    );
    assert_eq!((r.status, r.text().as_str()), (200, "abcd"));

    // HTTP/1.0 with keep-alive stays open.
    let mut c = gw.connect();
    for i in 0..2 {
        c.send(b"GET /ka10 HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n");
        let r = c
            .read_response("GET")
            .unwrap_or_else(|e| panic!("keep-alive request {i}: {e}"));
        assert_eq!(r.status, 200);
    }
    // The upstream always gets a valid HTTP/1.1 request with a Host.
    for r in up.traffic() {
        assert_eq!(r.version, "HTTP/1.1", "{}", r.target);
        assert!(r.head.has("host"), "no Host upstream for {}", r.target);
    }
}
