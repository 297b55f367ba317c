//! `throttle plan`: a key's quota stops at exactly N, across a reload, a clean stop
//! (SIGTERM) and a crash (SIGKILL, losing at most the last second); `gw usage` reports it; a
//! damaged usage file loses only its damaged records.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::support::gw::{TempDir, gw_bin};
use crate::support::*;

on_both_drivers! {
    a_quota_holds_across_reload_stop_and_crash => a_quota_holds_across_reload_stop_and_crash_uring, a_quota_holds_across_reload_stop_and_crash_epoll;
    a_damaged_usage_file_costs_only_its_damaged_records => a_damaged_usage_file_costs_only_its_damaged_records_uring, a_damaged_usage_file_costs_only_its_damaged_records_epoll;
}

fn key_line(key: &str, id: &str, plan: &str) -> String {
    let hex: String = Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex} id={id} plan={plan}\n")
}

/// `plan gold { quota N per day }` for keys `k-acme` (id acme) and `k-globex` (id globex),
/// counted into `DIR/api.usage`.
fn config(dir: &Path, quota: u32) -> String {
    let keys = dir.join("keys.txt");
    fs::write(
        &keys,
        key_line("k-acme", "acme", "gold") + &key_line("k-globex", "globex", "gold"),
    )
    .unwrap();
    format!(
        "plan gold {{ quota {quota} per day }}\napi_keys partners {{ file \"{}\" }}\nlimits {{ usage_file \"{}\" }}\nroute GET /q {{\n  auth api_key partners\n  throttle plan\n  respond 200 json {{ ok: true }}\n}}\n",
        keys.display(),
        dir.join("api.usage").display()
    )
}

fn get(gw: &Gw, key: &str) -> u16 {
    gw.connect()
        .request("GET", "/q", &[("x-api-key", key)], b"")
        .status
}

/// Requests until the first 429 (at most `max`): how many were admitted.
fn admitted_until_refused(gw: &Gw, key: &str, max: usize) -> usize {
    let mut c = gw.connect();
    for n in 0..max {
        match c.request("GET", "/q", &[("x-api-key", key)], b"").status {
            200 => {}
            429 => return n,
            s => panic!("status {s}"),
        }
    }
    max
}

/// `gw usage ID --config FILE`'s output.
fn usage(config: &Path, id: &str) -> String {
    let out = Command::new(gw_bin())
        .args(["usage", id, "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Waits until `gw usage` says `id` used `n` (the running gw saved it).
fn wait_saved(config: &Path, id: &str, n: u32, quota: u32) {
    let want = format!("{n} of {quota} used");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !usage(config, id).contains(&want) {
        assert!(
            Instant::now() < deadline,
            "never saved: {}",
            usage(config, id)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn a_quota_holds_across_reload_stop_and_crash(d: Driver) {
    let dir = TempDir::new();
    let cfg = config(dir.path(), 5);
    let file = dir.path().join("api.gw");
    fs::write(&file, &cfg).unwrap();

    let mut gw = Gw::start(d, &cfg);
    for _ in 0..3 {
        assert_eq!(get(&gw, "k-acme"), 200);
    }
    gw.proc.signal("HUP");
    crate::auth::wait_reloaded(&gw, 1);
    assert_eq!(admitted_until_refused(&gw, "k-acme", 10), 2, "5 in all");
    let r = gw
        .connect()
        .request("GET", "/q", &[("x-api-key", "k-acme")], b"");
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert_eq!(get(&gw, "k-globex"), 200, "another key counts apart");

    // a clean stop saves every count
    gw.proc.signal("TERM");
    assert!(gw.proc.wait_timeout(Duration::from_secs(20)).is_some());
    assert!(usage(&file, "acme").contains("quota: 5 of 5 used this day (UTC), 0 left"));
    let gw = Gw::start(d, &cfg);
    assert_eq!(get(&gw, "k-acme"), 429, "the count survived the restart");
    assert_eq!(admitted_until_refused(&gw, "k-globex", 10), 4);

    // a crash loses at most what was counted since the last save (at most a second)
    drop(gw);
    let cfg = config(dir.path(), 20);
    fs::write(&file, &cfg).unwrap();
    let mut gw = Gw::start(d, &cfg);
    for _ in 0..5 {
        assert_eq!(get(&gw, "k-acme"), 200);
    }
    wait_saved(&file, "acme", 10, 20);
    for _ in 0..3 {
        assert_eq!(get(&gw, "k-acme"), 200);
    }
    gw.proc.signal("KILL");
    assert!(gw.proc.wait_timeout(Duration::from_secs(20)).is_some());
    let gw = Gw::start(d, &cfg);
    let left = admitted_until_refused(&gw, "k-acme", 30);
    assert!(
        (7..=10).contains(&left),
        "13 counted, 10 of them saved: {left} left"
    );
}

fn a_damaged_usage_file_costs_only_its_damaged_records(d: Driver) {
    let dir = TempDir::new();
    let cfg = config(dir.path(), 5);
    let mut gw = Gw::start(d, &cfg);
    for key in ["k-acme", "k-globex"] {
        for _ in 0..2 {
            assert_eq!(get(&gw, key), 200);
        }
    }
    gw.proc.signal("TERM");
    assert!(gw.proc.wait_timeout(Duration::from_secs(20)).is_some());
    let path = dir.path().join("api.usage");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replacen("acme ", "acme 0", 1)).unwrap();
    let gw = Gw::start(d, &cfg);
    assert!(
        gw.stderr().contains("damaged lines [2] skipped"),
        "{}",
        gw.stderr()
    );
    assert_eq!(
        admitted_until_refused(&gw, "k-acme", 10),
        5,
        "acme's record lost"
    );
    assert_eq!(
        admitted_until_refused(&gw, "k-globex", 10),
        3,
        "globex's kept"
    );
    // a file cut short anywhere: gw still starts
    drop(gw);
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, &text.as_bytes()[..text.len() / 2]).unwrap();
    let gw = Gw::start(d, &cfg);
    assert_eq!(get(&gw, "k-globex"), 200);
}
