//! Upstream connection reuse, response re-framing and reload, on the real server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use gw_program::Op;

use super::*;

/// An upstream that answers one request per connection, keep-alive in words, then closes:
/// every pooled connection is stale by the time it is reused.
fn one_shot_upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut b = [0u8; 4096];
            let _ = c.read(&mut b);
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    addr
}

#[test]
fn a_stale_pooled_connection_is_retried_once_on_a_fresh_one() {
    let up = one_shot_upstream();
    for d in DRIVERS {
        let server = start(image(&[up]), d);
        let mut s = client(&server);
        let mut pending = Vec::new();
        for _ in 0..3 {
            s.write_all(b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap();
            let r = read_resp(&mut s, &mut pending, false);
            assert_eq!(r.status, 200, "{d}: {r:?}");
            assert_eq!(r.text(), "ok");
            std::thread::sleep(Duration::from_millis(50));
        }
        server.stop();
    }
}

#[test]
fn chunked_and_close_delimited_responses_are_reframed() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut b = [0u8; 4096];
            let n = c.read(&mut b).unwrap_or(0);
            if b[..n].starts_with(b"GET /api/chunked") {
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n");
            } else {
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\n\r\nuntil close");
                continue; // dropping `c` closes
            }
        }
    });
    for d in DRIVERS {
        let server = start(image(&[addr]), d);
        let r = exchange(&server, b"GET /api/chunked HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.text(), "wikipedia", "{d}");
        assert_eq!(r.header("transfer-encoding").as_deref(), Some("chunked"));
        let r = exchange(&server, b"GET /api/close HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.text(), "until close", "{d}");
        // an HTTP/1.0 client gets the body delimited by close
        let r = exchange(&server, b"GET /api/chunked HTTP/1.0\r\nHost: a\r\n\r\n");
        assert_eq!(r.text(), "wikipedia", "{d}");
        assert!(r.header("transfer-encoding").is_none());
        server.stop();
    }
}

#[test]
fn reload_switches_config_for_the_next_request_on_a_kept_connection() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let server = start(image(&[echo]), d);
        let mut s = client(&server);
        let mut pending = Vec::new();
        s.write_all(b"GET /mock HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        assert_eq!(read_resp(&mut s, &mut pending, false).status, 200);
        // the new config answers /mock with 418
        let mut img = image(&[echo]);
        img.routes[1].request = program(
            vec![Op::Respond {
                status: 418,
                tpl: gw_program::NONE,
                json: false,
            }],
            vec![],
        );
        let loaded = Loaded::load(img, &gw_plugin::Registry::new(), None).unwrap();
        server.handle().reload(Arc::new(loaded));
        std::thread::sleep(Duration::from_millis(50));
        s.write_all(b"GET /mock HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        assert_eq!(read_resp(&mut s, &mut pending, false).status, 418, "{d}");
        server.stop();
    }
}
