//! Busy-polling (`--busy-poll`): a lightly loaded worker polls for its window after each
//! request event and then sleeps; a busy one, or one with busy-polling off, does not spin.
//! Measured on gw's own CPU time (/proc/PID/stat), with wide margins: a spinning worker
//! burns most of a core, a sleeping one almost nothing.

use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

on_both_drivers! {
    spins_for_its_window_then_sleeps => spins_for_its_window_then_sleeps_uring, spins_for_its_window_then_sleeps_epoll;
    no_spin_when_off => no_spin_when_off_uring, no_spin_when_off_epoll;
    no_spin_under_load => no_spin_under_load_uring, no_spin_under_load_epoll;
}

const WINDOW: &str = "400ms";

/// gw's CPU time (user + system) so far.
fn cpu(gw: &Gw) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", gw.proc.id())).unwrap();
    // the fields after the parenthesised command name; utime and stime are the 12th and 13th
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split(' ')
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    // USER_HZ is 100 on Linux
    Duration::from_millis((f[0] + f[1]) * 10)
}

/// gw's CPU time over `span` from now.
fn cpu_over(gw: &Gw, span: Duration) -> Duration {
    let before = cpu(gw);
    thread::sleep(span);
    cpu(gw) - before
}

fn start(d: Driver, busy_poll: &str) -> (Upstream, Gw) {
    let up = Upstream::echo("up");
    let gw = Gw::start_with(
        d,
        &format!("workers 1\n{}", proxy_all(up.addr())),
        &["--busy-poll", busy_poll],
    );
    (up, gw)
}

fn spins_for_its_window_then_sleeps(d: Driver) {
    let (_up, gw) = start(d, WINDOW);
    // idle: nothing to spin for
    let idle = cpu_over(&gw, Duration::from_millis(300));
    assert!(idle < Duration::from_millis(60), "idle gw used {idle:?}");
    let t = Instant::now();
    assert_eq!(gw.get("/one").status, 200);
    let spinning = cpu_over(&gw, Duration::from_millis(300));
    assert!(
        spinning >= Duration::from_millis(60),
        "after a request, within the {WINDOW} window, gw used only {spinning:?} of CPU"
    );
    // past the window (with a tick of margin)
    thread::sleep(Duration::from_millis(450).saturating_sub(t.elapsed()));
    let after = cpu_over(&gw, Duration::from_millis(300));
    assert!(
        after < Duration::from_millis(60),
        "gw kept spinning past its window: {after:?} in 300ms"
    );
}

fn no_spin_when_off(d: Driver) {
    let (_up, gw) = start(d, "off");
    for i in 0..3 {
        assert_eq!(gw.get(&format!("/off/{i}")).status, 200);
    }
    let used = cpu_over(&gw, Duration::from_millis(300));
    assert!(
        used < Duration::from_millis(60),
        "gw with --busy-poll off used {used:?} in 300ms after its requests"
    );
}

/// Many connections with a request each, all at once: the worker is busy, so it does not spin
/// afterwards (and it answers every request).
fn no_spin_under_load(d: Driver) {
    const CONNS: usize = 40;
    let (_up, gw) = start(d, WINDOW);
    let mut clients: Vec<Client> = (0..CONNS).map(|_| gw.connect()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(&build_request("GET", &format!("/load/{i}"), &[], b""));
    }
    for c in &mut clients {
        assert_eq!(c.read_response("GET").unwrap().status, 200);
    }
    let used = cpu_over(&gw, Duration::from_millis(300));
    assert!(
        used < Duration::from_millis(60),
        "gw spun after a burst from {CONNS} connections: {used:?} in 300ms"
    );
}
