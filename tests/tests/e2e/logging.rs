//! gw's log: every line is stamped with the UTC time; an upstream failure names the request's
//! method, path, route and upstream server; passive-health ejections and recoveries and the
//! start and end of a drain (with the connections a drain timeout cuts) are logged.

use std::net::TcpListener;
use std::time::Duration;

use crate::support::*;

on_both_drivers! {
    upstream_failures_and_ejections_are_logged => upstream_failures_and_ejections_are_logged_uring, upstream_failures_and_ejections_are_logged_epoll;
    drains_are_logged => drains_are_logged_uring, drains_are_logged_epoll;
}

/// Every log line starts with `YYYY-MM-DDTHH:MM:SS.mmmZ gw: `. The config's diagnostics,
/// printed as rustc does when the file loads, are not log lines.
fn assert_stamped(log: &str) {
    let diagnostic = |l: &str| {
        let t = l.trim_start();
        l.starts_with("warning")
            || l.starts_with("error")
            || t.starts_with("-->")
            || t.starts_with('=')
            || t.starts_with('|')
            || t.split_once('|')
                .is_some_and(|(n, _)| n.trim().chars().all(|c| c.is_ascii_digit()))
    };
    for line in log
        .lines()
        .filter(|l| !l.trim().is_empty() && !diagnostic(l))
    {
        let b = line.as_bytes();
        let stamped = b.len() > 29
            && b[..4].iter().all(u8::is_ascii_digit)
            && (b[4], b[7], b[10], b[13], b[16], b[19], b[23])
                == (b'-', b'-', b'T', b':', b':', b'.', b'Z')
            && line[24..].starts_with(" gw: ");
        assert!(stamped, "unstamped log line: {line:?}\n{log}");
    }
}

fn upstream_failures_and_ejections_are_logged(d: Driver) {
    // a port nothing listens on: bind, note it, close
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = format!(
        "workers 1\n{}route ANY /{{proxy+}} {{\n  upstream u\n}}\n",
        upstream_block("u", &[dead], "max_fails 2\nfail_timeout 30s")
    );
    let gw = Gw::start(d, &config);
    for _ in 0..2 {
        assert_eq!(gw.get("/orders/7").status, 502);
    }
    let log = gw.stderr();
    assert!(
        log.contains(&format!(
            "GET /orders/7 route ANY /{{proxy+}} server {dead}: 502"
        )),
        "the failure names method, path, route and server:\n{log}"
    );
    assert!(
        log.contains(&format!(
            "upstream u server {dead}: ejected for 30000 ms after 2 failure(s) in a row"
        )),
        "the ejection is logged:\n{log}"
    );
    assert_stamped(&log);
}

fn drains_are_logged(d: Driver) {
    let up = Upstream::start("u", |r| match r.path() {
        "/slow" => Reply::Delay(Duration::from_millis(300), Box::new(Reply::text("done"))),
        _ => Reply::Never,
    });
    let mut gw = Gw::start(d, &format!("workers 1\n{}", proxy_all(up.addr())));
    let mut slow = gw.connect();
    slow.send(&build_request("GET", "/slow", &[], b""));
    up.wait_until(Duration::from_secs(5), "the slow request upstream", |u| {
        u.count() == 1
    });
    gw.proc.signal("TERM");
    assert_eq!(slow.read_response("GET").expect("served").status, 200);
    assert!(
        gw.proc.wait_timeout(Duration::from_secs(10)).is_some(),
        "gw exits"
    );
    let log = gw.stderr();
    assert!(log.contains("worker 0: draining 1 request(s)"), "{log}");
    assert!(log.contains("worker 0: drained"), "{log}");
    assert_stamped(&log);

    // a request that outlives the drain timeout is cut, and that is logged
    let mut gw = Gw::start(
        d,
        &format!(
            "workers 1\ntimeouts {{ drain 200ms }}\n{}",
            proxy_all(up.addr())
        ),
    );
    let mut stuck = gw.connect();
    stuck.send(&build_request("GET", "/never", &[], b""));
    up.wait_until(Duration::from_secs(5), "the stuck request upstream", |u| {
        u.traffic().iter().any(|r| r.path() == "/never")
    });
    gw.proc.signal("TERM");
    assert!(
        gw.proc.wait_timeout(Duration::from_secs(10)).is_some(),
        "gw exits"
    );
    let log = gw.stderr();
    assert!(
        log.contains("worker 0: drain timeout: closing 1 connection(s) with a request in flight"),
        "{log}"
    );
    assert_stamped(&log);
}
