//! Busy-polling (`--busy-poll`): a lightly loaded worker polls for its window after each
//! request event and then sleeps; a busy one, one that shares its core with a CPU-bound
//! thread, or one with busy-polling off does not spin. Measured on gw's own CPU time
//! (/proc/PID/stat), with wide margins: a spinning worker burns most of a core, a sleeping one
//! almost nothing.

use std::thread;
use std::time::{Duration, Instant};

use crate::support::gw::Proc;
use crate::support::*;

on_both_drivers! {
    spins_for_its_window_then_sleeps => spins_for_its_window_then_sleeps_uring, spins_for_its_window_then_sleeps_epoll;
    no_spin_when_off => no_spin_when_off_uring, no_spin_when_off_epoll;
    no_spin_under_load => no_spin_under_load_uring, no_spin_under_load_epoll;
    backs_off_on_a_shared_core => backs_off_on_a_shared_core_uring, backs_off_on_a_shared_core_epoll;
}

/// Long, so that a spinning worker shows clearly in gw's CPU time.
const WINDOW: &str = "900ms";

/// gw's back-off after it keeps losing its core while spinning (gw-runtime's spin.rs).
const BACKOFF: Duration = Duration::from_secs(1);

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
    // Other tests' processes share this machine's cores; a worker that keeps losing its core
    // to them backs off for a while, so a few tries, each after that back-off, are allowed.
    let mut used = Vec::new();
    for i in 0..3 {
        let t = Instant::now();
        assert_eq!(gw.get(&format!("/try/{i}")).status, 200);
        let spinning = cpu_over(&gw, Duration::from_millis(600));
        used.push(spinning);
        // past the window (with a tick of margin)
        thread::sleep(Duration::from_millis(950).saturating_sub(t.elapsed()));
        let after = cpu_over(&gw, Duration::from_millis(300));
        assert!(
            after < Duration::from_millis(60),
            "gw kept spinning past its window: {after:?} in 300ms"
        );
        if spinning >= Duration::from_millis(60) {
            return;
        }
        thread::sleep(BACKOFF);
    }
    panic!("after a request, within the {WINDOW} window, gw used only {used:?} of CPU");
}

/// A CPU-bound process on the worker's core: the worker stops spinning (it would only wait
/// out that process's time slices) and serves requests as a sleeping worker does.
fn backs_off_on_a_shared_core(d: Driver) {
    let (_up, gw) = start(d, WINDOW);
    // gw pins worker 0 to core 0
    let hog = Proc(
        std::process::Command::new("taskset")
            .args(["-c", "0", "sh", "-c", "while :; do :; done"])
            .spawn()
            .expect("start a busy loop with taskset"),
    );
    thread::sleep(Duration::from_millis(100));
    assert_eq!(gw.get("/shared/0").status, 200);
    // losing the core three times within 100ms takes a few of the loop's time slices
    thread::sleep(Duration::from_millis(100));
    assert_eq!(gw.get("/shared/1").status, 200);
    let used = cpu_over(&gw, Duration::from_millis(500));
    drop(hog);
    assert!(
        used < Duration::from_millis(60),
        "gw kept spinning on a core shared with a busy loop: {used:?} in 500ms"
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

/// Eight connections each sending a request every 5 ms: a light load in CPU, but more than 4
/// active connections per 10 ms tick, so the worker does not spin between the requests (it
/// would spin all the time: every request restarts the window). The load is paced so that
/// the machine stays quiet and the worker has no reason to back off instead.
fn no_spin_under_load(d: Driver) {
    const CONNS: usize = 8;
    let (_up, gw) = start(d, WINDOW);
    let mut clients: Vec<Client> = (0..CONNS).map(|_| gw.connect()).collect();
    let round = |clients: &mut Vec<Client>, n: usize| {
        for (i, c) in clients.iter_mut().enumerate() {
            c.send(&build_request("GET", &format!("/load/{n}/{i}"), &[], b""));
        }
        for c in clients.iter_mut() {
            assert_eq!(c.read_response("GET").unwrap().status, 200);
        }
    };
    let mut n = 0;
    // warm up: the worker counts the connections from the next tick on
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(100) {
        round(&mut clients, n);
        n += 1;
        thread::sleep(Duration::from_millis(5));
    }
    let before = cpu(&gw);
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(600) {
        round(&mut clients, n);
        n += 1;
        thread::sleep(Duration::from_millis(5));
    }
    let used = cpu(&gw) - before;
    assert!(
        used < Duration::from_millis(300),
        "gw spun under a load of {CONNS} connections: {used:?} of CPU in 600ms ({n} rounds)"
    );
}
