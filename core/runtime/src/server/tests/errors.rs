//! Refusals, failures and timeouts, on the real server.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use gw_program::{ErrorPage, Op, PatSeg, RouteKey, Router};

use super::*;

#[test]
fn smuggling_and_limits_are_refused_and_close() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let server = start(image(&[echo]), d);
        let mut s = client(&server);
        s.write_all(b"POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").unwrap();
        let r = read_resp(&mut s, &mut Vec::new(), false);
        assert_eq!(r.status, 400, "{d}");
        assert!(closed(&mut s));
        let long = format!("GET /api/{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
        assert_eq!(exchange(&server, long.as_bytes()).status, 414);
        let many = format!(
            "GET /api/x HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
            "b".repeat(11_000)
        );
        assert_eq!(exchange(&server, many.as_bytes()).status, 431);
        let r = exchange(
            &server,
            b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n01234567890123456",
        );
        assert_eq!(r.status, 413);
        server.stop();
    }
}

#[test]
fn upstream_failures_map_to_502_and_504() {
    // nothing listens on this port
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // accepts and never answers
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    // answers garbage
    let garbage = TcpListener::bind("127.0.0.1:0").unwrap();
    let garbage_addr = garbage.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in garbage.incoming().flatten() {
            let mut b = [0u8; 1024];
            let _ = c.read(&mut b);
            let _ = c.write_all(b"NOT HTTP AT ALL\r\n\r\n");
        }
    });
    for d in DRIVERS {
        let server = start(image(&[dead]), d);
        let r = exchange(&server, b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 502, "{d}: refused");
        server.stop();
        let server = start(image(&[silent_addr]), d);
        let r = exchange(&server, b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 504, "{d}: timeout");
        server.stop();
        let server = start(image(&[garbage_addr]), d);
        let r = exchange(&server, b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 502, "{d}: garbage");
        server.stop();
    }
    drop(silent);
}

#[test]
fn error_pages_override_gw_bodies() {
    let mut img = image(&[]);
    img.error_pages = vec![ErrorPage {
        statuses: vec![404],
        program: program(
            vec![Op::Respond {
                status: 404,
                tpl: 0,
                json: false,
            }],
            vec![text_tpl("custom missing")],
        ),
    }];
    img.upstreams.clear();
    img.routes.retain(|r| r.name == "GET /mock");
    let key = RouteKey {
        host: None,
        method: "GET".into(),
        segments: vec![PatSeg::Literal("mock".into())],
        trailing_slash: false,
        route: 0,
    };
    img.router = Router::build(&[key]).unwrap();
    let server = start(img, Driver::Legacy);
    let r = exchange(&server, b"GET /zzz HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "custom missing");
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    server.stop();
}

#[test]
fn idle_connections_time_out_and_shutdown_drains() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut img = image(&[echo]);
    img.timeouts.idle = 200;
    img.timeouts.header_read = 300;
    let server = start(img, Driver::Uring);
    // idle keep-alive connection is closed after the idle timeout
    let mut s = client(&server);
    std::thread::sleep(Duration::from_millis(400));
    assert!(closed(&mut s));
    // slowloris: a head trickling in is cut at header_read
    let mut s = client(&server);
    s.write_all(b"GET /api/x HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let r = read_resp(&mut s, &mut Vec::new(), false);
    assert_eq!(r.status, 408);
    let addr = server.addrs()[0];
    server.stop();
    assert!(
        TcpStream::connect(addr).is_err(),
        "listener closed after shutdown"
    );
}

#[test]
fn connect_errors_retry_on_another_server_when_the_route_says_so() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut img = image(&[dead, echo]);
    img.routes[0].retry = gw_program::Retry {
        count: 1,
        on_connect_error: true,
        ..Default::default()
    };
    let server = start(img, Driver::Legacy);
    for _ in 0..4 {
        let r = exchange(&server, b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200, "{r:?}");
    }
    server.stop();
}
