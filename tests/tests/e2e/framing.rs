//! Message framing through the proxy: keep-alive, pipelining, Content-Length, chunked bodies
//! both ways, 8 MiB bodies, `Expect: 100-continue`.

use std::thread;
use std::time::Duration;

use crate::support::*;

on_both_drivers! {
    keep_alive => keep_alive_uring, keep_alive_epoll;
    pipelining => pipelining_uring, pipelining_epoll;
    content_length => content_length_uring, content_length_epoll;
    chunked_request_body => chunked_request_body_uring, chunked_request_body_epoll;
    chunked_response_body => chunked_response_body_uring, chunked_response_body_epoll;
    large_bodies => large_bodies_uring, large_bodies_epoll;
    expect_continue => expect_continue_uring, expect_continue_epoll;
}

fn keep_alive(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &proxy_all(up.addr()));
    let mut c = gw.connect();
    for i in 0..5 {
        let path = format!("/ka/{i}");
        let r = c.get(&path);
        assert_eq!(r.status, 200, "request {i} on the kept-alive connection");
        assert_eq!(r.header("x-up-path"), Some(path.as_str()));
        assert_eq!(r.json()["path"], path.as_str());
    }
    let paths: Vec<String> = up.traffic().iter().map(|r| r.target.clone()).collect();
    assert_eq!(paths, ["/ka/0", "/ka/1", "/ka/2", "/ka/3", "/ka/4"]);
}

fn pipelining(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &proxy_all(up.addr()));
    let mut c = gw.connect();
    let mut batch = build_request("GET", "/pipe/1", &[], b"");
    batch.extend(build_request("POST", "/pipe/2", &[], b"second body"));
    batch.extend(build_request("GET", "/pipe/3", &[], b""));
    c.send(&batch);
    for (i, method) in ["GET", "POST", "GET"].iter().enumerate() {
        let r = c
            .read_response(method)
            .unwrap_or_else(|e| panic!("pipelined response {i}: {e}"));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("x-up-path"),
            Some(format!("/pipe/{}", i + 1).as_str()),
            "order"
        );
    }
    let reqs = up.traffic();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[1].body, b"second body");
    assert!(
        reqs[0].body.is_empty() && reqs[2].body.is_empty(),
        "bodies bled between requests"
    );
}

fn content_length(d: Driver) {
    let up = Upstream::start("u", |r| Reply::text(format!("len={}", r.body.len())));
    let gw = Gw::start(d, &proxy_all(up.addr()));
    let mut c = gw.connect();

    let r = c.request(
        "POST",
        "/cl",
        &[("Content-Type", "text/plain")],
        b"hello world",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("6"));
    assert_eq!(r.body, b"len=11");
    let got = up.single();
    assert_eq!(got.header("content-length"), Some("11"));
    assert!(
        !got.head.has("transfer-encoding"),
        "a Content-Length body was re-framed"
    );
    assert_eq!(got.body, b"hello world");

    let r = c.request("POST", "/cl0", &[("Content-Length", "0")], b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"len=0"[..]));

    let r = c.get("/nobody");
    assert_eq!(r.status, 200);
    let got = up.traffic().pop().unwrap();
    assert!(
        !got.head.has("transfer-encoding"),
        "bodiless GET got a chunked body upstream"
    );
    assert!(matches!(got.header("content-length"), None | Some("0")));
}

fn chunked_request_body(d: Driver) {
    let up = Upstream::start("u", |r| Reply::text(format!("got {}", r.body.len())));
    let gw = Gw::start(d, &proxy_all(up.addr()));

    // Small chunks in separate writes, with an extension and a trailer.
    let mut c = gw.connect();
    c.send(b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    up.wait_until(
        Duration::from_secs(5),
        "the first chunk to be streamed",
        |u| crate::support::http::find(&u.raw(), b"hello").is_some(),
    );
    c.send(b"7;ext=1\r\n, world\r\n");
    thread::sleep(Duration::from_millis(50));
    c.send(b"0\r\nX-Trailer: t\r\n\r\n");
    let r = c
        .read_response("POST")
        .expect("response to the chunked upload");
    assert_eq!((r.status, r.text().as_str()), (200, "got 12"));
    let got = up.single();
    assert_eq!(
        got.body, b"hello, world",
        "upstream must see the exact bytes"
    );
    let te = got.head.is_chunked();
    let cl = got.header("content-length");
    assert!(
        te != cl.is_some(),
        "re-framed body needs exactly one framing: te={te} cl={cl:?}"
    );
    assert!(cl.is_none() || cl == Some("12"));

    // A larger body in uneven chunks, and the connection still works afterwards.
    let body = pattern(300_000, 7);
    let mut wire = build_request("PUT", "/up2", &[("Transfer-Encoding", "chunked")], b"");
    wire.extend(chunked(&body, 7_777));
    c.send(&wire);
    let r = c
        .read_response("PUT")
        .expect("response to the second upload");
    assert_eq!(r.text(), "got 300000");
    let got = up.traffic().pop().unwrap();
    assert_eq!(
        first_difference(&got.body, &body),
        None,
        "second body differs"
    );
    assert_eq!(c.get("/after").status, 200);
}

fn chunked_response_body(d: Driver) {
    let big = pattern(200_000, 3);
    let chunks = vec![
        b"one,".to_vec(),
        b"two,".to_vec(),
        big.clone(),
        b"end".to_vec(),
    ];
    let up = Upstream::start("u", move |_| Reply::Chunked {
        status: 200,
        headers: vec![("content-type".into(), "application/octet-stream".into())],
        chunks: chunks.clone(),
    });
    let gw = Gw::start(d, &proxy_all(up.addr()));
    let mut c = gw.connect();
    let mut want = b"one,two,".to_vec();
    want.extend(&big);
    want.extend(b"end");
    for _ in 0..2 {
        let r = c.get("/chunks");
        assert_eq!(r.status, 200);
        assert!(
            !(r.head.is_chunked() && r.head.has("content-length")),
            "both Transfer-Encoding and Content-Length: {:?}",
            r.head
        );
        assert_eq!(
            first_difference(&r.body, &want),
            None,
            "body of {} bytes",
            r.body.len()
        );
    }
}

const BIG: usize = 8 * 1024 * 1024;

fn large_bodies(d: Driver) {
    let down = pattern(BIG, 11);
    let served = down.clone();
    let up = Upstream::start("u", move |r| match r.path() {
        "/down" => Reply::text(served.clone()),
        "/down-chunked" => Reply::Chunked {
            status: 200,
            headers: vec![],
            chunks: served.chunks(64 * 1024).map(<[u8]>::to_vec).collect(),
        },
        _ => Reply::text(format!("{}", r.body.len())),
    });
    let gw = Gw::start(d, &proxy_all(up.addr()));
    let mut c = gw.connect();

    let body = pattern(BIG, 5);
    let r = c.request("POST", "/up", &[], &body);
    assert_eq!((r.status, r.text()), (200, BIG.to_string()));
    let got = up.traffic().pop().unwrap();
    assert_eq!(
        first_difference(&got.body, &body),
        None,
        "8 MiB upload differs upstream"
    );

    let body = pattern(BIG, 6);
    let mut wire = build_request(
        "POST",
        "/up-chunked",
        &[("Transfer-Encoding", "chunked")],
        b"",
    );
    wire.extend(chunked(&body, 128 * 1024));
    c.send(&wire);
    let r = c
        .read_response("POST")
        .expect("chunked 8 MiB upload response");
    assert_eq!((r.status, r.text()), (200, BIG.to_string()));
    let got = up.traffic().pop().unwrap();
    assert_eq!(
        first_difference(&got.body, &body),
        None,
        "chunked 8 MiB upload differs"
    );

    for path in ["/down", "/down-chunked"] {
        let r = c.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            first_difference(&r.body, &down),
            None,
            "{path}: {} bytes",
            r.body.len()
        );
    }
}

fn expect_continue(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start(d, &proxy_all(up.addr()));
    let mut c = gw.connect();
    c.set_read_timeout(Duration::from_secs(3));
    c.send(
        b"POST /expect HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    let interim = c
        .read_head()
        .expect("a 100 Continue before the body is sent");
    assert!(
        interim.line.starts_with("HTTP/1.1 100"),
        "got {:?}",
        interim.line
    );
    c.send(b"hello");
    let r = c.read_response("POST").expect("final response");
    assert_eq!(r.status, 200);
    assert_eq!(up.single().body, b"hello");
    assert_eq!(
        c.get("/after").status,
        200,
        "connection usable after 100-continue"
    );
}
