//! Busy-polling (`--busy-poll`, off by default): a lightly loaded worker polls for its
//! window after each request event and then sleeps; a busy one, one that shares its core with
//! a CPU-bound thread, or one with busy-polling off does not spin. Observed in the worker
//! thread's scheduler state (/proc/PID/task/TID/stat): a spinning thread is runnable (`R`) at
//! every sample, on a core or waiting for one, while a sleeping one is mostly `S`, so the
//! checks hold on a machine whose cores are busy with other work. A worker that loses its
//! core to another thread while spinning pauses and says so in its log; on a loaded machine
//! that is what it should do, and the tests accept it.

use std::thread;
use std::time::{Duration, Instant};

use crate::support::gw::Proc;
use crate::support::*;

on_both_drivers! {
    spins_for_its_window_then_sleeps => spins_for_its_window_then_sleeps_uring, spins_for_its_window_then_sleeps_epoll;
    no_spin_by_default_or_when_off => no_spin_by_default_or_when_off_uring, no_spin_by_default_or_when_off_epoll;
    no_spin_under_load => no_spin_under_load_uring, no_spin_under_load_epoll;
    backs_off_on_a_shared_core => backs_off_on_a_shared_core_uring, backs_off_on_a_shared_core_epoll;
}

/// Long, so that a spinning worker shows clearly.
const WINDOW: &str = "900ms";

/// A worker is taken to spin when it is runnable in at least this share of the samples.
const SPINNING: f64 = 0.8;

/// What the worker logs when it pauses busy-polling after losing its core.
const PAUSED: &str = "busy-poll pauses";

/// The scheduler state letter of gw's first worker thread.
fn worker_state(gw: &Gw) -> char {
    let tasks = format!("/proc/{}/task", gw.proc.id());
    for t in std::fs::read_dir(&tasks).unwrap().flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() == "gw-worker-0" {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            return stat[stat.rfind(')').unwrap() + 2..]
                .chars()
                .next()
                .unwrap_or('?');
        }
    }
    panic!("no gw-worker-0 thread in {tasks}");
}

/// The share of samples, every 2 ms over `span`, in which the worker was runnable.
fn runnable_share(gw: &Gw, span: Duration) -> f64 {
    let t = Instant::now();
    let (mut runnable, mut all) = (0u32, 0u32);
    while t.elapsed() < span {
        all += 1;
        runnable += u32::from(worker_state(gw) == 'R');
        thread::sleep(Duration::from_millis(2));
    }
    f64::from(runnable) / f64::from(all.max(1))
}

fn start(d: Driver, busy_poll: Option<&str>) -> (Upstream, Gw) {
    let up = Upstream::echo("up");
    let args: Vec<&str> = busy_poll.map_or(Vec::new(), |b| vec!["--busy-poll", b]);
    let gw = Gw::start_with(d, &format!("workers 1\n{}", proxy_all(up.addr())), &args);
    (up, gw)
}

fn spins_for_its_window_then_sleeps(d: Driver) {
    let (_up, gw) = start(d, Some(WINDOW));
    let idle = runnable_share(&gw, Duration::from_millis(200));
    assert!(idle < SPINNING, "an idle worker spun ({idle:.2} runnable)");
    let t = Instant::now();
    assert_eq!(gw.get("/try").status, 200);
    let spinning = runnable_share(&gw, Duration::from_millis(400));
    let paused = gw.stderr().contains(PAUSED);
    assert!(
        spinning >= SPINNING || paused,
        "within its {WINDOW} window the worker neither spun ({spinning:.2} runnable) nor \
         paused after losing its core"
    );
    // past the window (with a tick of margin)
    thread::sleep(Duration::from_millis(1000).saturating_sub(t.elapsed()));
    let after = runnable_share(&gw, Duration::from_millis(300));
    assert!(
        after < SPINNING,
        "the worker kept spinning past its window ({after:.2} runnable)"
    );
}

/// A CPU-bound process on the worker's core: the worker stops spinning (it would only wait
/// out that process's time slices), says so, and serves requests as a sleeping worker does.
fn backs_off_on_a_shared_core(d: Driver) {
    let (_up, gw) = start(d, Some(WINDOW));
    // gw pins worker 0 to core 0
    let hog = Proc(
        std::process::Command::new("taskset")
            .args(["-c", "0", "sh", "-c", "while :; do :; done"])
            .spawn()
            .expect("start a busy loop with taskset"),
    );
    thread::sleep(Duration::from_millis(100));
    assert_eq!(gw.get("/shared/0").status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gw.stderr().contains(PAUSED) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        gw.stderr().contains(PAUSED),
        "no pause logged:\n{}",
        gw.stderr()
    );
    assert_eq!(gw.get("/shared/1").status, 200);
    let used = runnable_share(&gw, Duration::from_millis(300));
    drop(hog);
    assert!(
        used < SPINNING,
        "the worker kept spinning on a shared core ({used:.2} runnable)"
    );
}

fn no_spin_by_default_or_when_off(d: Driver) {
    for busy_poll in [None, Some("off")] {
        let (_up, gw) = start(d, busy_poll);
        for i in 0..3 {
            assert_eq!(gw.get(&format!("/off/{i}")).status, 200);
        }
        let used = runnable_share(&gw, Duration::from_millis(300));
        assert!(
            used < SPINNING,
            "{busy_poll:?}: the worker spun ({used:.2} runnable)"
        );
        assert!(
            !gw.stderr().contains(PAUSED),
            "{busy_poll:?}: {}",
            gw.stderr()
        );
    }
}

/// Eight connections each sending a request every 20 ms: a light load in CPU, but more than
/// 4 active connections per 10 ms tick, so the worker does not spin between the requests (it
/// would spin all the time: every request restarts the window).
fn no_spin_under_load(d: Driver) {
    const CONNS: usize = 8;
    let (_up, gw) = start(d, Some(WINDOW));
    let mut clients: Vec<Client> = (0..CONNS).map(|_| gw.connect()).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for (i, c) in clients.iter_mut().enumerate() {
                    c.send(&build_request("GET", &format!("/load/{n}/{i}"), &[], b""));
                }
                for c in clients.iter_mut() {
                    assert_eq!(c.read_response("GET").unwrap().status, 200);
                }
                n += 1;
                thread::sleep(Duration::from_millis(20));
            }
            n
        })
    };
    // the worker counts the connections from the next tick on
    thread::sleep(Duration::from_millis(100));
    let used = runnable_share(&gw, Duration::from_millis(600));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let rounds = load.join().expect("the load ran");
    assert!(rounds > 0);
    assert!(
        used < SPINNING,
        "the worker spun under a load of {CONNS} connections ({used:.2} runnable)"
    );
}
