//! The `gw run` process: its listening line, `workers`, compile errors, and graceful stop on
//! SIGTERM/SIGINT.

use std::thread;
use std::time::{Duration, Instant};

use crate::support::gw::run_expecting_exit;
use crate::support::*;

on_both_drivers! {
    listening_line => listening_line_uring, listening_line_epoll;
    compile_error_exits_1 => compile_error_exits_1_uring, compile_error_exits_1_epoll;
    sigterm_drains => sigterm_drains_uring, sigterm_drains_epoll;
    sigint_stops => sigint_stops_uring, sigint_stops_epoll;
}

fn listening_line(d: Driver) {
    let up = Upstream::echo("u");
    // 3 differs from the default (one worker per core on this 2-core machine).
    let gw = Gw::start(d, &format!("workers 3\n{}", proxy_all(up.addr())));
    let want = format!(
        "gw: listening on http://{} (3 workers, {})",
        gw.addr,
        d.label()
    );
    assert_eq!(gw.banner, want);
    assert_eq!(gw.get("/x").status, 200);
    drop(gw);

    let gw = Gw::start_with(d, &proxy_all(up.addr()), &["--workers", "3"]);
    let want = format!(
        "gw: listening on http://{} (3 workers, {})",
        gw.addr,
        d.label()
    );
    assert_eq!(gw.banner, want, "--workers");
    // Each worker has its own listener: many connections are all served.
    for i in 0..12 {
        assert_eq!(gw.get(&format!("/w/{i}")).status, 200);
    }
}

fn compile_error_exits_1(d: Driver) {
    let port = free_port();
    let config = format!("listen 127.0.0.1:{port}\nroute GET /x {{\n  upstream nowhere\n}}\n");
    let out = run_expecting_exit(d, &config);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", out.stderr);
    assert!(!out.stdout.contains("listening"), "stdout: {}", out.stdout);
    assert!(out.stderr.contains("error"), "stderr: {}", out.stderr);
    // rustc-style location: --> FILE:3:COL, with the offending line quoted.
    let file = out.file.display().to_string();
    assert!(
        out.stderr.contains(&format!("--> {file}:3:")),
        "no `--> {file}:3:` in:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("upstream nowhere"),
        "source line not shown:\n{}",
        out.stderr
    );
}

fn sigterm_drains(d: Driver) {
    let up = Upstream::start("u", |r| match r.path() {
        "/slow" => Reply::Delay(
            Duration::from_millis(1500),
            Box::new(Reply::text("slow done")),
        ),
        _ => Reply::Echo,
    });
    let mut gw = Gw::start(d, &proxy_all(up.addr()));
    // An idle keep-alive connection must not hold up the exit.
    let mut idle = gw.connect();
    assert_eq!(idle.get("/warm").status, 200);

    let mut slow = gw.connect();
    slow.send(&build_request("GET", "/slow", &[], b""));
    up.wait_until(Duration::from_secs(5), "the slow request upstream", |u| {
        u.traffic().iter().any(|r| r.path() == "/slow")
    });
    let signalled = Instant::now();
    gw.proc.signal("TERM");
    thread::sleep(Duration::from_millis(300));

    // No longer accepting: a new request gets no response.
    if let Ok(mut late) = Client::try_connect(gw.addr) {
        late.set_read_timeout(Duration::from_secs(3));
        if late
            .try_send(&build_request("GET", "/late", &[], b""))
            .is_ok()
            && let Ok(r) = late.read_response("GET")
        {
            panic!("a connection made after SIGTERM was served: {}", r.status);
        }
    }

    let r = slow
        .read_response("GET")
        .expect("the in-flight request completes");
    assert_eq!((r.status, r.text().as_str()), (200, "slow done"));
    let status = gw
        .proc
        .wait_timeout(Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "gw still running {:?} after SIGTERM\n{}",
                signalled.elapsed(),
                gw.stderr()
            )
        });
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM; stderr: {}",
        gw.stderr()
    );
    assert!(up.traffic().iter().all(|r| r.path() != "/late"));
}

fn sigint_stops(d: Driver) {
    let up = Upstream::echo("u");
    let mut gw = Gw::start(d, &proxy_all(up.addr()));
    assert_eq!(gw.get("/x").status, 200);
    gw.proc.signal("INT");
    let status = gw
        .proc
        .wait_timeout(Duration::from_secs(5))
        .expect("gw exits on SIGINT");
    assert_eq!(status.code(), Some(0), "stderr: {}", gw.stderr());
}
