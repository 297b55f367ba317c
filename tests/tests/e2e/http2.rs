//! HTTP/2 to clients: `curl --http2` over TLS (ALPN) and `--http2-prior-knowledge` on an
//! `h2c` listener through a route with a policy, an upstream, a response program and an
//! `on error` page, each stream in the access log; request and response bodies both ways (by
//! length, without one, chunked from the upstream); a client certificate over h2; h2load with
//! 100 concurrent streams; ALPN falling back to HTTP/1.1; the SETTINGS gw announces; streams
//! and header lists past their limits refused; malformed requests reset; floods and abuse
//! ended with the right GOAWAY while the worker serves the next connection; GOAWAY on idle, on
//! drain and when a reload removes the listener. Raw frames come from `h2_frames.py` (python3 with the `h2` package's
//! `hpack`; scripts/install-test-deps.sh installs it and h2load).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::tools::find_program;
use crate::support::{Driver, Gw, Reply, Upstream, free_port, upstream_block};
use crate::tls::{client_config, pki, tls_connect, tls_get};

on_both_drivers! {
    h2c_with_prior_knowledge_runs_the_route_programs => h2c_with_prior_knowledge_runs_the_route_programs_uring, h2c_with_prior_knowledge_runs_the_route_programs_epoll;
    h2_over_tls_runs_the_route_programs => h2_over_tls_runs_the_route_programs_uring, h2_over_tls_runs_the_route_programs_epoll;
    alpn_offers_h2_and_falls_back_to_http_1_1 => alpn_offers_h2_and_falls_back_to_http_1_1_uring, alpn_offers_h2_and_falls_back_to_http_1_1_epoll;
    a_client_certificate_reaches_the_routes_of_h2_streams => a_client_certificate_reaches_the_routes_of_h2_streams_uring, a_client_certificate_reaches_the_routes_of_h2_streams_epoll;
    h2load_with_100_concurrent_streams_all_succeed => h2load_with_100_concurrent_streams_all_succeed_uring, h2load_with_100_concurrent_streams_all_succeed_epoll;
    streams_and_header_lists_past_their_limits_are_refused => streams_and_header_lists_past_their_limits_are_refused_uring, streams_and_header_lists_past_their_limits_are_refused_epoll;
    malformed_requests_are_reset_and_never_reach_the_upstream => malformed_requests_are_reset_and_never_reach_the_upstream_uring, malformed_requests_are_reset_and_never_reach_the_upstream_epoll;
    floods_end_with_goaway_and_the_worker_serves_the_next_connection => floods_end_with_goaway_and_the_worker_serves_the_next_connection_uring, floods_end_with_goaway_and_the_worker_serves_the_next_connection_epoll;
    a_drain_sends_goaway => a_drain_sends_goaway_uring, a_drain_sends_goaway_epoll;
    an_idle_connection_ends_with_goaway => an_idle_connection_ends_with_goaway_uring, an_idle_connection_ends_with_goaway_epoll;
    a_reload_that_removes_the_listener_sends_goaway => a_reload_that_removes_the_listener_sends_goaway_uring, a_reload_that_removes_the_listener_sends_goaway_epoll;
}

/// A route with a policy (`require`), a request edit, an upstream and a response program; a
/// mock; and an `on error 403` page.
fn config(up: SocketAddr) -> String {
    format!(
        "workers 1\n{}route ANY /api/{{rest+}} {{\n  require header.x-pass == \"yes\" else 403\n  set header x-gateway = \"gw\"\n  upstream u\n  on response {{\n    set header x-served-by = upstream.name\n  }}\n}}\nroute GET /hello {{\n  respond 200 json {{ message: \"hello\" }}\n}}\nroute POST /echo {{\n  respond 200 json {{ ok: true }}\n}}\non error 403 {{\n  body json {{ message: \"denied\", request_id: request.id }}\n}}\n",
        upstream_block("u", &[up], "")
    )
}

/// Run curl with `args` (stdin from `input`); its stdout.
fn curl_h2(args: &[&str], input: Option<&[u8]>) -> String {
    let bin = find_program("curl").expect("curl is not installed");
    let mut child = Command::new(bin)
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run curl");
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = input {
        stdin.write_all(input).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A response as curl prints it with `-i`: the head's lines, the body.
fn split(out: &str) -> (String, String) {
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((out, ""));
    (head.to_ascii_lowercase(), body.to_string())
}

/// The same exchanges over `url_base` (`http://ADDR` or `https://ADDR`) with `flags`.
fn exercise(gw: &Gw, up: &Upstream, url_base: &str, flags: &[&str]) {
    let url = |p: &str| format!("{url_base}{p}");
    // routed, edited, proxied, with the response program's header; over HTTP/2
    let mut args = flags.to_vec();
    let u = url("/api/items?x=1");
    args.extend(["-i", "-H", "x-pass: yes", &u]);
    let (head, body) = split(&curl_h2(&args, None));
    assert!(head.starts_with("http/2 200"), "{head}");
    assert!(head.contains("x-served-by: u"), "{head}");
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["path"], "/api/items?x=1");
    assert_eq!(echo["method"], "GET");
    let got = up.traffic().last().cloned().unwrap();
    assert_eq!(got.header("x-gateway"), Some("gw"));
    assert_eq!(got.version, "HTTP/1.1");
    // `:authority` became the Host
    let authority = url_base.split_once("://").unwrap().1;
    assert_eq!(got.header("host"), Some(authority));

    // a body both ways: 300 KB up (more than a stream's window), echoed back in the JSON
    let big: String = (0..300_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let file = gw.dir().join("big.txt");
    std::fs::write(&file, &big).unwrap();
    let data = format!("@{}", file.display());
    let u = url("/api/upload");
    let mut args = flags.to_vec();
    args.extend(["-H", "x-pass: yes", "--data-binary", &data, &u]);
    let echo: serde_json::Value = serde_json::from_str(&curl_h2(&args, None)).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["bodyLength"], 300_000);
    assert_eq!(echo["body"], big.as_str());
    // without a length (read from stdin): DATA frames until END_STREAM, sent upstream whole
    let mut args = flags.to_vec();
    args.extend(["-H", "x-pass: yes", "--data-binary", "@-", &u]);
    let echo: serde_json::Value =
        serde_json::from_str(&curl_h2(&args, Some(big.as_bytes()))).unwrap();
    assert_eq!(echo["bodyLength"], 300_000);
    assert_eq!(echo["body"], big.as_str());

    // a denial through the `on error 403` page, which never reaches the upstream
    let before = up.traffic().len();
    let u = url("/api/items");
    let mut args = flags.to_vec();
    args.extend(["-i", &u]);
    let (head, body) = split(&curl_h2(&args, None));
    assert!(head.starts_with("http/2 403"), "{head}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["message"], "denied");
    assert!(page["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(up.traffic().len(), before);

    // a mock, and gw's own 404 with its body
    let u = url("/hello");
    let mut args = flags.to_vec();
    args.extend(["-w", "\n%{http_version} %{http_code}", &u]);
    assert_eq!(curl_h2(&args, None), "{\"message\":\"hello\"}\n2 200");
    let u = url("/nowhere");
    let mut args = flags.to_vec();
    args.extend(["-w", "\n%{http_version} %{http_code}", &u]);
    let out = curl_h2(&args, None);
    assert!(out.ends_with("\n2 404"), "{out}");
}

fn h2c_with_prior_knowledge_runs_the_route_programs(d: Driver) {
    let up = Upstream::echo("u");
    let dir = crate::support::gw::TempDir::new();
    let log = dir.path().join("access.log");
    let config = format!(
        "log {{\n  to \"{}\"\n}}\n{}",
        log.display(),
        config(up.addr())
    );
    let gw = Gw::start_listening(d, "{ h2c }", &config, &[]);
    let base = format!("http://{}", gw.addr);
    exercise(&gw, &up, &base, &["--http2-prior-knowledge"]);
    // every stream passed the log phase: the access log has its line, with its route
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let lines: Vec<serde_json::Value> = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= 6 || std::time::Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let seen: Vec<(String, String, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["method"].as_str().unwrap_or("").to_string(),
                l["path"].as_str().unwrap_or("").to_string(),
                l["status"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    for want in [
        ("GET", "/api/items", 200),
        ("POST", "/api/upload", 200),
        ("GET", "/api/items", 403),
        ("GET", "/hello", 200),
        ("GET", "/nowhere", 404),
    ] {
        assert!(
            seen.iter()
                .any(|(m, p, st)| (m.as_str(), p.as_str(), *st) == want),
            "{want:?} not in {seen:?}"
        );
    }
    // a chunked upstream response becomes DATA frames, its framing gone
    let chunks = Upstream::start("c", |_| Reply::Chunked {
        status: 200,
        headers: vec![("x-c".to_string(), "1".to_string())],
        chunks: vec![b"hello ".to_vec(), vec![b'x'; 100_000], b" world".to_vec()],
    });
    let gw2 = Gw::start_listening(
        d,
        "{ h2c }",
        &format!(
            "{}route GET /c {{\n  upstream c\n}}\n",
            upstream_block("c", &[chunks.addr()], "")
        ),
        &[],
    );
    let (head, body) = split(&curl_h2(
        &[
            "--http2-prior-knowledge",
            "-i",
            &format!("http://{}/c", gw2.addr),
        ],
        None,
    ));
    assert!(head.starts_with("http/2 200"), "{head}");
    assert!(
        head.contains("x-c: 1") && !head.contains("transfer-encoding"),
        "{head}"
    );
    assert_eq!(body.len(), 100_012);
    assert!(body.starts_with("hello xxx") && body.ends_with("xxx world"));
    // an h2c listener still serves HTTP/1.1 to a client that starts with a request line
    let out = curl_h2(
        &[
            "--http1.1",
            "-w",
            " %{http_version}",
            &format!("{base}/hello"),
        ],
        None,
    );
    assert_eq!(out, "{\"message\":\"hello\"} 1.1");
}

/// A TLS listener's block with the test PKI's `a.test` certificate.
fn tls_listen() -> String {
    let p = pki();
    format!(
        "tls {{\n  cert \"{}\" key \"{}\"\n}}",
        p.file("a.pem"),
        p.file("a.key")
    )
}

fn h2_over_tls_runs_the_route_programs(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start_listening(d, &tls_listen(), &config(up.addr()), &[]);
    let port = gw.addr.port();
    let resolve = format!("a.test:{port}:127.0.0.1");
    let ca = pki().file("ca.pem");
    let base = format!("https://a.test:{port}");
    exercise(
        &gw,
        &up,
        &base,
        &["--http2", "--cacert", &ca, "--resolve", &resolve],
    );
    // the upstream learns the request came over TLS
    assert_eq!(
        up.traffic().last().unwrap().header("x-forwarded-proto"),
        Some("https")
    );
}

fn alpn_offers_h2_and_falls_back_to_http_1_1(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start_listening(d, &tls_listen(), &config(up.addr()), &[]);
    // a client that speaks both gets h2
    let s = tls_connect(gw.addr, "a.test", client_config(&[b"h2", b"http/1.1"]));
    assert_eq!(s.conn.alpn_protocol(), Some(&b"h2"[..]));
    drop(s);
    // one that offers only http/1.1 gets it, and is served HTTP/1.1
    let mut s = tls_connect(gw.addr, "a.test", client_config(&[b"http/1.1"]));
    assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (head, body) = tls_get(&mut s, "a.test", "/hello");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, "{\"message\":\"hello\"}");
    // and one that offers none is served HTTP/1.1 too
    let mut s = tls_connect(gw.addr, "a.test", client_config(&[]));
    assert_eq!(s.conn.alpn_protocol(), None);
    assert!(
        tls_get(&mut s, "a.test", "/hello")
            .0
            .starts_with("HTTP/1.1 200")
    );
}

fn a_client_certificate_reaches_the_routes_of_h2_streams(d: Driver) {
    let p = pki();
    let listen = format!(
        "tls {{\n  cert \"{}\" key \"{}\"\n  client_ca \"{}\"\n}}",
        p.file("a.pem"),
        p.file("a.key"),
        p.file("ca.pem")
    );
    let who = "route GET /who { respond 200 json { subject: tls.client.subject ?? \"none\", scheme: req.scheme } }\n";
    let gw = Gw::start_listening(d, &listen, who, &[]);
    let port = gw.addr.port();
    let resolve = format!("a.test:{port}:127.0.0.1");
    let (ca, cert, key) = (p.file("ca.pem"), p.file("client.pem"), p.file("client.key"));
    let out = curl_h2(
        &[
            "--http2",
            "--cacert",
            &ca,
            "--cert",
            &cert,
            "--key",
            &key,
            "--resolve",
            &resolve,
            "-w",
            "\n%{http_version}",
            &format!("https://a.test:{port}/who"),
        ],
        None,
    );
    assert_eq!(
        out,
        "{\"subject\":\"CN=client one\",\"scheme\":\"https\"}\n2"
    );
}

/// Run `h2load ARGS URL`; its stdout, after checking every request succeeded with a 2xx.
fn h2load(args: &[&str], url: &str, n: usize) {
    let bin =
        find_program("h2load").expect("h2load is not installed: run scripts/install-test-deps.sh");
    let out = Command::new(bin)
        .args(args)
        .arg(url)
        .output()
        .expect("run h2load");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "h2load: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!(
            "{n} total, {n} started, {n} done, {n} succeeded, 0 failed, 0 errored"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("status codes: {n} 2xx")), "{text}");
}

fn h2load_with_100_concurrent_streams_all_succeed(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start_listening(d, "{ h2c }", &config(up.addr()), &[]);
    let args = ["-n", "2000", "-c", "2", "-m", "100", "-H", "x-pass: yes"];
    // through the upstream, and gw's own answers
    h2load(&args, &format!("http://{}/api/load", gw.addr), 2000);
    h2load(&args, &format!("http://{}/hello", gw.addr), 2000);
    assert!(up.traffic().len() >= 2000);
    let tls = Gw::start_listening(d, &tls_listen(), &config(up.addr()), &[]);
    h2load(&args, &format!("https://{}/hello", tls.addr), 2000);
}

/// Run `h2_frames.py PORT MODE ARGS` to its end; its output lines.
fn frames(port: u16, mode: &str, args: &[&str]) -> Vec<String> {
    let out = frames_cmd(port, mode, args)
        .output()
        .expect("run python3 h2_frames.py");
    assert!(
        out.status.success(),
        "h2_frames.py {mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn frames_cmd(port: u16, mode: &str, args: &[&str]) -> Command {
    let script: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "e2e", "h2_frames.py"]
        .iter()
        .collect();
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(port.to_string()).arg(mode).args(args);
    cmd
}

fn malformed_requests_are_reset_and_never_reach_the_upstream(d: Driver) {
    let up = Upstream::echo("u");
    let gw = Gw::start_listening(d, "{ h2c }", &config(up.addr()), &[]);
    // Transfer-Encoding, Connection, `te: gzip`, a Host unlike :authority, a body longer than
    // its content-length: each stream is reset with PROTOCOL_ERROR (1)
    let out = frames(gw.addr.port(), "smuggle", &[]);
    assert_eq!(out, vec!["reset 1"; 5], "{out:?}");
    assert_eq!(up.traffic().len(), 0);
    assert_eq!(frames(gw.addr.port(), "get", &["/hello"]), ["status 200"]);
}

fn streams_and_header_lists_past_their_limits_are_refused(d: Driver) {
    let up = Upstream::echo("u");
    let config = format!(
        "limits {{ streams 2 }}\nroute POST /wait {{\n  buffer body 64KiB\n  respond 200\n}}\n{}",
        config(up.addr())
    );
    let gw = Gw::start_listening(d, "{ h2c }", &config, &[]);
    let port = gw.addr.port();
    // two requests whose bodies never end hold both streams: the third is REFUSED_STREAM (7)
    assert_eq!(
        frames(port, "open_streams", &["3", "/wait"]),
        ["open", "open", "reset 7"]
    );
    // a header list past `limits { headers }` (10 KiB) is 431; one within it is served
    assert_eq!(frames(port, "big_header", &["20000"]), ["status 431"]);
    assert_eq!(frames(port, "big_header", &["5000"]), ["status 200"]);
}

fn floods_end_with_goaway_and_the_worker_serves_the_next_connection(d: Driver) {
    let up = Upstream::echo("u");
    let limits = format!("limits {{ streams 100 }}\n{}", config(up.addr()));
    let gw = Gw::start_listening(d, "{ h2c }", &limits, &[]);
    let port = gw.addr.port();
    // what gw announces: `limits { streams }`, a 256 KiB stream window, `limits { headers }`
    // (10 KiB) as the header list size, and no extended CONNECT (8: RFC 8441)
    assert_eq!(
        frames(port, "settings_of_server", &[]),
        ["setting 3 100", "setting 4 262144", "setting 6 10240"]
    );
    // ENHANCE_YOUR_CALM (11) for floods, FLOW_CONTROL_ERROR (3) for a window past 2^31-1
    for (mode, want) in [
        ("settings", "goaway 11"),
        ("ping", "goaway 11"),
        ("priority", "goaway 11"),
        ("empty_data", "goaway 11"),
        ("rapid_reset", "goaway 11"),
        ("continuation", "goaway 11"),
        ("window", "goaway 3"),
    ] {
        assert_eq!(frames(port, mode, &[]), [want], "{mode}");
        // the one worker serves the next connection
        assert_eq!(
            frames(port, "get", &["/hello"]),
            ["status 200"],
            "after {mode}"
        );
    }
    let out = curl_h2(
        &[
            "--http2-prior-knowledge",
            &format!("http://{}/hello", gw.addr),
        ],
        None,
    );
    assert_eq!(out, "{\"message\":\"hello\"}");
}

/// Start `h2_frames.py PORT wait /hello` and read up to its `ready`.
fn waiting_client(port: u16) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = frames_cmd(port, "wait", &["/hello"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3 h2_frames.py");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    for want in ["status 200", "ready"] {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), want);
    }
    (child, out)
}

fn a_drain_sends_goaway(d: Driver) {
    let up = Upstream::echo("u");
    let mut gw = Gw::start_listening(d, "{ h2c }", &config(up.addr()), &[]);
    let (mut child, mut out) = waiting_client(gw.addr.port());
    gw.proc.signal("TERM");
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    // NO_ERROR: a graceful end
    assert_eq!(line.trim(), "goaway 0");
    assert!(child.wait().unwrap().success());
    let status = gw.proc.wait_timeout(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

fn an_idle_connection_ends_with_goaway(d: Driver) {
    let up = Upstream::echo("u");
    let config = format!("timeouts {{ idle 1s }}\n{}", config(up.addr()));
    let gw = Gw::start_listening(d, "{ h2c }", &config, &[]);
    let (mut child, mut out) = waiting_client(gw.addr.port());
    // no stream open for `idle`: a graceful GOAWAY, and gw serves on
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "goaway 0");
    assert!(child.wait().unwrap().success());
    assert_eq!(frames(gw.addr.port(), "get", &["/hello"]), ["status 200"]);
}

fn a_reload_that_removes_the_listener_sends_goaway(d: Driver) {
    let up = Upstream::echo("u");
    let second = free_port();
    let extra = format!("listen 127.0.0.1:{second} {{ h2c }}\n");
    let gw = Gw::start_listening(d, "{ h2c }", &format!("{extra}{}", config(up.addr())), &[]);
    let (mut child, mut out) = waiting_client(second);
    // the config loses the second listener
    let file = gw.dir().join("e2e.gw");
    let text = std::fs::read_to_string(&file).unwrap().replace(&extra, "");
    std::fs::write(&file, text).unwrap();
    gw.proc.signal("HUP");
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "goaway 0");
    assert!(child.wait().unwrap().success());
    // the listener that stays serves on
    assert_eq!(frames(gw.addr.port(), "get", &["/hello"]), ["status 200"]);
}
