//! A TLS listener's sessions, stapling and what a scanner sees: sessions resumed with tickets
//! whatever worker a connection lands on and across a reload (TLS 1.2 and 1.3, with `openssl
//! s_client -sess_out/-sess_in`); OCSP responses made with `openssl ocsp` stapled per
//! certificate and re-read on reload (`s_client -status`); sslyze's scan of the protocols,
//! cipher suites and resumption a listener offers (the table in tests/README.md).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::gw::TempDir;
use crate::support::tools::find_program;
use crate::support::{Driver, Gw};
use crate::tls::{openssl, pki, wait_for_log};

on_both_drivers! {
    sessions_resume_on_every_worker_and_across_a_reload => sessions_resume_on_every_worker_and_across_a_reload_uring, sessions_resume_on_every_worker_and_across_a_reload_epoll;
    ocsp_responses_are_stapled_per_certificate_and_reread_on_reload => ocsp_responses_are_stapled_per_certificate_and_reread_on_reload_uring, ocsp_responses_are_stapled_per_certificate_and_reread_on_reload_epoll;
    sslyze_finds_only_tls_1_2_and_1_3_with_aead_suites_and_resumption => sslyze_finds_only_tls_1_2_and_1_3_with_aead_suites_and_resumption_uring, sslyze_finds_only_tls_1_2_and_1_3_with_aead_suites_and_resumption_epoll;
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

/// Write `a.ocsp.der` in `dir`: the test CA's OCSP response for `a.pem`, `good` or revoked,
/// made by `openssl ocsp` from an index file as a CA's responder would.
fn ocsp_response(dir: &Path, revoked: bool) {
    let p = pki();
    let serial = openssl(dir, &["x509", "-in", &p.file("a.pem"), "-noout", "-serial"]);
    let serial = serial.trim().trim_start_matches("serial=");
    let line = if revoked {
        format!("R\t301231000000Z\t260101000000Z\t{serial}\tunknown\t/CN=a.test\n")
    } else {
        format!("V\t301231000000Z\t\t{serial}\tunknown\t/CN=a.test\n")
    };
    std::fs::write(dir.join("index.txt"), line).unwrap();
    openssl(
        dir,
        &[
            "ocsp",
            "-index",
            "index.txt",
            "-rsigner",
            &p.file("ca.pem"),
            "-rkey",
            &p.file("ca.key"),
            "-CA",
            &p.file("ca.pem"),
            "-issuer",
            &p.file("ca.pem"),
            "-cert",
            &p.file("a.pem"),
            "-respout",
            "a.ocsp.der",
            "-ndays",
            "2",
        ],
    );
}

/// What `openssl s_client -status` says of the stapled response when asking for `name`.
fn stapled(addr: SocketAddr, name: &str) -> String {
    let bin = find_program("openssl").unwrap();
    let out = Command::new(bin)
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            name,
        ])
        .arg("-status")
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if text.contains("OCSP response: no response sent") {
        return "none".into();
    }
    assert!(
        text.contains("OCSP Response Status: successful (0x0)"),
        "{text}"
    );
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Cert Status: "))
        .unwrap_or_else(|| panic!("no Cert Status in\n{text}"))
        .to_owned()
}

fn ocsp_responses_are_stapled_per_certificate_and_reread_on_reload(d: Driver) {
    let p = pki();
    let dir = TempDir::new();
    ocsp_response(dir.path(), false);
    let tls = format!(
        "tls {{\n  cert \"{}\" key \"{}\" ocsp \"{}\"\n  cert \"{}\" key \"{}\"\n}}",
        p.file("a.pem"),
        p.file("a.key"),
        dir.path().join("a.ocsp.der").display(),
        p.file("b.pem"),
        p.file("b.key")
    );
    let gw = Gw::start_listening(d, &tls, HELLO, &[]);
    assert_eq!(stapled(gw.addr, "a.test"), "good");
    // the other certificate has no response of its own
    assert_eq!(stapled(gw.addr, "b.test"), "none");
    // a renewed response is read with the config
    ocsp_response(dir.path(), true);
    gw.proc.signal("HUP");
    wait_for_log(&gw, "reloaded", 1);
    assert_eq!(stapled(gw.addr, "a.test"), "revoked");
    // a file that is not an OCSP response refuses the reload; the last one stays stapled
    std::fs::write(dir.path().join("a.ocsp.der"), "not DER\n").unwrap();
    gw.proc.signal("HUP");
    wait_for_log(&gw, "not a DER OCSP response", 1);
    assert_eq!(stapled(gw.addr, "a.test"), "revoked");
}

/// sslyze's scan of `addr` as JSON (`--json_out`). sslyze gives up on a server when its
/// first handshakes take over 5 s (`ERROR_NO_CONNECTIVITY`), which a starved test machine can
/// cause: only that outcome is scanned again, at most twice.
fn sslyze(addr: SocketAddr, dir: &Path) -> serde_json::Value {
    let bin =
        find_program("sslyze").expect("sslyze is not installed: run scripts/install-test-deps.sh");
    let out = dir.join("sslyze.json");
    for _ in 0..3 {
        let ran = Command::new(&bin)
            .args([
                "--sslv2",
                "--sslv3",
                "--tlsv1",
                "--tlsv1_1",
                "--tlsv1_2",
                "--tlsv1_3",
                "--resum",
                "--slow_connection",
                "--quiet",
                "--sni",
                "a.test",
                "--json_out",
            ])
            .arg(&out)
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .output()
            .expect("run sslyze");
        assert!(
            ran.status.success(),
            "sslyze: {}",
            String::from_utf8_lossy(&ran.stderr)
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        let server = json["server_scan_results"][0].clone();
        if server["connectivity_status"] == "COMPLETED" {
            assert_eq!(server["scan_status"], "COMPLETED", "{server:#}");
            return server["scan_result"].clone();
        }
        eprintln!(
            "sslyze could not connect: {}",
            server["connectivity_error_trace"]
        );
    }
    panic!("sslyze could not connect to gw in 3 scans");
}

/// The cipher suites sslyze found accepted for one protocol (`tls_1_2_cipher_suites`).
fn accepted(scan: &serde_json::Value, protocol: &str) -> Vec<String> {
    let p = &scan[protocol];
    assert_eq!(p["status"], "COMPLETED", "{protocol}: {p:#}");
    p["result"]["accepted_cipher_suites"]
        .as_array()
        .unwrap_or_else(|| panic!("{protocol}: {p:#}"))
        .iter()
        .map(|c| c["cipher_suite"]["name"].as_str().unwrap().to_owned())
        .collect()
}

fn sslyze_finds_only_tls_1_2_and_1_3_with_aead_suites_and_resumption(d: Driver) {
    let gw = Gw::start_listening(d, &tls_block(), HELLO, &[]);
    let dir = TempDir::new();
    let scan = sslyze(gw.addr, dir.path());
    for old in [
        "ssl_2_0_cipher_suites",
        "ssl_3_0_cipher_suites",
        "tls_1_0_cipher_suites",
        "tls_1_1_cipher_suites",
    ] {
        assert_eq!(accepted(&scan, old), Vec::<String>::new(), "{old}");
    }
    let tls12 = accepted(&scan, "tls_1_2_cipher_suites");
    let tls13 = accepted(&scan, "tls_1_3_cipher_suites");
    assert!(
        !tls12.is_empty() && !tls13.is_empty(),
        "{tls12:?} {tls13:?}"
    );
    // TLS 1.2: forward secrecy (ECDHE) and an AEAD only; nothing weak under any name
    for suite in &tls12 {
        assert!(suite.starts_with("TLS_ECDHE_"), "{suite}");
        assert!(
            suite.ends_with("_GCM_SHA256")
                || suite.ends_with("_GCM_SHA384")
                || suite.ends_with("_CHACHA20_POLY1305_SHA256"),
            "{suite}"
        );
    }
    for suite in tls12.iter().chain(&tls13) {
        for weak in [
            "RC4", "3DES", "DES_", "NULL", "EXPORT", "anon", "_CBC_", "MD5",
        ] {
            assert!(!suite.contains(weak), "{suite}");
        }
    }
    let mut want13 = vec![
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
    ];
    let mut got13 = tls13.clone();
    got13.sort();
    want13.sort();
    assert_eq!(got13, want13);
    // resumption: every attempt by session id resumes (tickets: tls_listener's s_client test)
    let resum = &scan["session_resumption"];
    assert_eq!(resum["status"], "COMPLETED", "{resum:#}");
    assert_eq!(
        resum["result"]["session_id_resumption_result"], "FULLY_SUPPORTED",
        "{resum:#}"
    );
}
