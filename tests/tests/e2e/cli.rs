//! The `gw` command line: `--help` and unknown commands and options; the `gw run` process (its
//! listening line, `workers`, compile errors, graceful stop on SIGTERM/SIGINT); and `gw check`
//! reaching `gw run`'s verdict, with what depends on the machine as a warning.

use std::fs::{self, File};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::gw::{Proc, TempDir, gw_bin, run_expecting_exit};
use crate::support::*;

on_both_drivers! {
    listening_line => listening_line_uring, listening_line_epoll;
    compile_error_exits_1 => compile_error_exits_1_uring, compile_error_exits_1_epoll;
    sigterm_drains => sigterm_drains_uring, sigterm_drains_epoll;
    sigint_stops => sigint_stops_uring, sigint_stops_epoll;
    check_refuses_what_run_refuses =>
        check_refuses_what_run_refuses_uring, check_refuses_what_run_refuses_epoll;
    unresolved_name_warns_in_check =>
        unresolved_name_warns_in_check_uring, unresolved_name_warns_in_check_epoll;
    port_in_use_warns_in_check => port_in_use_warns_in_check_uring, port_in_use_warns_in_check_epoll;
}

/// What a `gw` that ran to completion printed.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `gw ARGS` in `dir`; it must exit within 60 s (a guard against a hang, generous for a
/// loaded machine).
fn gw_in(dir: &TempDir, args: &[&str]) -> Ran {
    let out = |name: &str| File::create(dir.path().join(name)).expect("output file");
    let mut proc = Proc(
        Command::new(gw_bin())
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out("stdout.log"))
            .stderr(out("stderr.log"))
            .spawn()
            .expect("spawn gw"),
    );
    let status = proc
        .wait_timeout(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("`gw {}` kept running", args.join(" ")));
    let read = |name: &str| fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    Ran {
        code: status.code(),
        stdout: read("stdout.log"),
        stderr: read("stderr.log"),
    }
}

fn gw(args: &[&str]) -> Ran {
    gw_in(&TempDir::new(), args)
}

/// `gw check FILE` on `config`; the file's path in the output reads `FILE`.
fn check(config: &str) -> Ran {
    let dir = TempDir::new();
    let file = dir.path().join("check.gw");
    fs::write(&file, config).expect("write config");
    let file = file.display().to_string();
    let mut ran = gw_in(&dir, &["check", &file]);
    ran.stderr = ran.stderr.replace(&file, "FILE");
    ran
}

/// `gw run` on `config`, which must not start; the file's path in the output reads `FILE`.
fn run_refused(d: Driver, config: &str) -> Ran {
    let out = run_expecting_exit(d, config);
    Ran {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: out.stderr.replace(&out.file.display().to_string(), "FILE"),
    }
}

#[test]
fn help_lists_each_commands_options() {
    let run_opts = [
        "--workers",
        "--driver uring|epoll",
        "GW_DRIVER",
        "--busy-poll TIME|off",
        "GW_BUSY_POLL",
        "[default: off]",
        "--multishot on|off",
        "GW_MULTISHOT",
        "[default: on]",
        "--help",
    ];
    let table: [(&[&str], &[&str]); 8] = [
        (&["run", "--help"], &run_opts),
        (&["run", "-h"], &run_opts),
        (&["help", "run"], &run_opts),
        (&["demo", "--help"], &["--port P", "--help"]),
        (&["check", "--help"], &["usage: gw check FILE...", "--help"]),
        (&["fmt", "--help"], &["--check", "--write", "--help"]),
        (&["disasm", "--help"], &["--route", "--help"]),
        (
            &["bench", "--help"],
            &["--rate R/s", "--compare URL", "--cost", "--help"],
        ),
    ];
    for (args, want) in table {
        let ran = gw(args);
        assert_eq!(ran.code, Some(0), "gw {args:?}: {}", ran.stderr);
        for w in want {
            assert!(
                ran.stdout.contains(w),
                "gw {args:?}: no `{w}` in\n{}",
                ran.stdout
            );
        }
    }
    for args in [&["--help"][..], &["help"], &["-h"]] {
        let ran = gw(args);
        assert_eq!(ran.code, Some(0), "gw {args:?}: {}", ran.stderr);
        for c in [
            "run FILE",
            "demo",
            "check FILE...",
            "fmt FILE...",
            "disasm FILE",
            "bench URL",
        ] {
            assert!(
                ran.stdout.contains(c),
                "gw {args:?}: no `{c}` in\n{}",
                ran.stdout
            );
        }
    }
}

#[test]
fn unknown_commands_and_options_exit_2() {
    let ran = gw(&["foo"]);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("unknown command `foo`"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("check FILE..."),
        "no command list: {}",
        ran.stderr
    );
    let ran = gw(&["chek", "api.gw"]);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("unknown command `chek` (did you mean `check`?)"),
        "{}",
        ran.stderr
    );
    let ran = gw(&["run", "api.gw", "--worker", "2"]);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("unknown option `--worker` (did you mean `--workers`?)"),
        "{}",
        ran.stderr
    );
    for args in [&["check", "--fast", "api.gw"][..], &["demo", "--bogus"]] {
        let ran = gw(args);
        assert_eq!(ran.code, Some(2), "gw {args:?}: {}", ran.stderr);
        assert!(ran.stderr.contains("unknown option `--"), "{}", ran.stderr);
    }
}

/// Refused when `gw run` loads the config, whatever the machine: `gw check` prints the same
/// and exits the same.
fn check_refuses_what_run_refuses(d: Driver) {
    let port = free_port();
    let plain = format!("listen 127.0.0.1:{port}\nupstream app {{ server 127.0.0.1:9 }}\n");
    let route = "route GET /feed {\n  upstream app\n}\n";
    // the compiler reads the files a TLS listener names; the build refuses the listener
    let certs = TempDir::new();
    let pem = |name: &str| {
        let path = certs.path().join(name);
        fs::write(&path, "not read further\n").expect("write pem");
        path.display().to_string()
    };
    let (cert, key) = (pem("cert.pem"), pem("key.pem"));
    // one key listed twice: the compiler reads the file, the policy refuses it at load
    let keys = certs.path().join("keys.txt");
    let digest = "0".repeat(64);
    fs::write(
        &keys,
        format!("sha256:{digest} id=a\nsha256:{digest} id=b\n"),
    )
    .expect("write keys");
    let keys = keys.display();
    let cases = [
        (
            format!(
                "{plain}api_keys partners {{\n  file \"{keys}\"\n  header \"x-api-key\"\n}}\n\
                 route GET /feed {{\n  auth api_key partners\n  upstream app\n}}\n"
            ),
            "key `b`: the same key is listed twice",
        ),
        (
            format!(
                "listen 127.0.0.1:{port} tls {{ cert \"{cert}\" key \"{key}\" }}\n\
                 upstream app {{ server 127.0.0.1:9 }}\n{route}"
            ),
            "error: listen 127.0.0.1:",
        ),
        (
            format!(
                "listen 127.0.0.1:{port}\nupstream app {{ server 127.0.0.1:9 tls ca \"{cert}\" }}\n{route}"
            ),
            "error: upstream app: server 127.0.0.1:9 tls: ",
        ),
        (
            plain.replace(&format!("listen 127.0.0.1:{port}\n"), "") + route,
            "error: the config has no `listen`",
        ),
    ];
    for (config, want) in &cases {
        let checked = check(config);
        let ran = run_refused(d, config);
        assert_eq!(checked.code, Some(1), "{config}\n{}", checked.stderr);
        assert!(
            checked.stderr.contains(want),
            "no `{want}` in\n{}",
            checked.stderr
        );
        assert_eq!(ran.code, Some(1), "{}", ran.stderr);
        assert_eq!(
            checked.stderr, ran.stderr,
            "gw check and gw run differ on\n{config}"
        );
        assert!(!ran.stdout.contains("listening"), "{}", ran.stdout);
    }
}

/// A server name that does not resolve here (`.invalid` never does): `gw run` refuses,
/// `gw check` warns and exits 0.
fn unresolved_name_warns_in_check(d: Driver) {
    let config = format!(
        "listen 127.0.0.1:{}\nupstream app {{ server nowhere.invalid:9000 }}\n\
         route GET /x {{\n  upstream app\n}}\n",
        free_port()
    );
    let checked = check(&config);
    assert_eq!(checked.code, Some(0), "{}", checked.stderr);
    assert!(
        checked
            .stderr
            .contains("warning: upstream app: cannot resolve nowhere.invalid:9000"),
        "{}",
        checked.stderr
    );
    assert!(!checked.stderr.contains("error"), "{}", checked.stderr);
    let ran = run_refused(d, &config);
    assert_ne!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("error: upstream app: cannot resolve nowhere.invalid:9000"),
        "{}",
        ran.stderr
    );
}

/// A listen port another socket holds: `gw run` cannot bind it, `gw check` warns and exits 0;
/// once free, `gw check` has nothing to say.
fn port_in_use_warns_in_check(d: Driver) {
    let up = Upstream::echo("u");
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("local addr");
    let config = format!("listen {addr}\n{}", proxy_all(up.addr()));
    let checked = check(&config);
    assert_eq!(checked.code, Some(0), "{}", checked.stderr);
    assert!(
        checked
            .stderr
            .contains(&format!("warning: cannot listen on {addr}: ")),
        "{}",
        checked.stderr
    );
    let ran = run_refused(d, &config);
    assert_ne!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("Address already in use"),
        "{}",
        ran.stderr
    );
    drop(taken);
    let checked = check(&config);
    assert_eq!(checked.code, Some(0), "{}", checked.stderr);
    assert!(
        !checked.stderr.contains("cannot listen")
            && checked.stderr.ends_with("FILE: ok (1 routes)\n"),
        "{}",
        checked.stderr
    );
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
