//! A TLS listener's sessions and what a scanner sees: sessions resumed with tickets whatever
//! worker a connection lands on and across a reload (TLS 1.2 and 1.3, with `openssl s_client
//! -sess_out/-sess_in`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::gw::TempDir;
use crate::support::tools::find_program;
use crate::support::{Driver, Gw};
use crate::tls::{pki, wait_for_log};

on_both_drivers! {
    sessions_resume_on_every_worker_and_across_a_reload => sessions_resume_on_every_worker_and_across_a_reload_uring, sessions_resume_on_every_worker_and_across_a_reload_epoll;
}

const HELLO: &str = "route GET /hi { respond 200 json { scheme: req.scheme } }\n";

/// The `tls { }` block serving the test PKI's `a.test`.
fn tls_block() -> String {
    let p = pki();
    format!(
        "tls {{\n  cert \"{}\" key \"{}\"\n}}",
        p.file("a.pem"),
        p.file("a.key")
    )
}

/// One `openssl s_client` connection as `a.test` with `args`, sending a request that closes
/// the connection and reading until gw closes it; its output.
fn s_client(addr: SocketAddr, args: &[&str]) -> String {
    let bin = find_program("openssl").expect("openssl is not installed");
    let mut child = Command::new(bin)
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            "a.test",
        ])
        .args(["-CAfile", &pki().file("ca.pem"), "-ign_eof"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl s_client");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"GET /hi HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(r#"{"scheme":"https"}"#),
        "s_client {args:?} got no answer:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// `New` or `Reused`, and the protocol, from s_client's session line.
fn session_line(text: &str) -> String {
    text.lines()
        .find(|l| l.starts_with("New, ") || l.starts_with("Reused, "))
        .unwrap_or_else(|| panic!("no session line in\n{text}"))
        .split(", Cipher")
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn sessions_resume_on_every_worker_and_across_a_reload(d: Driver) {
    let gw = Gw::start_listening(d, &tls_block(), HELLO, &["--workers", "4"]);
    let dir = TempDir::new();
    for version in ["1.2", "1.3"] {
        let flag = format!("-tls{}", version.replace('.', "_"));
        let proto = format!("TLSv{version}");
        let sess = dir.path().join(format!("{version}.sess"));
        let sess = sess.to_str().unwrap();
        let first = s_client(gw.addr, &[&flag, "-sess_out", sess]);
        assert_eq!(session_line(&first), format!("New, {proto}"));
        // a ticket from the rotating key set: valid while its key is current or previous
        assert!(
            first.contains("TLS session ticket lifetime hint: 43200 (seconds)"),
            "{first}"
        );
        assert!(Path::new(sess).exists());
        // each connection lands on one of 4 workers (SO_REUSEPORT spreads them by their
        // source port): every one resumes, wherever the session began
        for _ in 0..8 {
            let again = s_client(gw.addr, &[&flag, "-sess_in", sess]);
            assert_eq!(session_line(&again), format!("Reused, {proto}"), "{again}");
        }
    }
    // the ticket keys outlive the config: a session from before the reload resumes after it
    gw.proc.signal("HUP");
    wait_for_log(&gw, "reloaded", 1);
    for version in ["1.2", "1.3"] {
        let flag = format!("-tls{}", version.replace('.', "_"));
        let sess = dir.path().join(format!("{version}.sess"));
        let again = s_client(gw.addr, &[&flag, "-sess_in", sess.to_str().unwrap()]);
        assert_eq!(
            session_line(&again),
            format!("Reused, TLSv{version}"),
            "{again}"
        );
    }
}
