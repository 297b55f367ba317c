//! Operating gw: the admin endpoint (/metrics read with the Prometheus client library's own
//! parser, /healthz, /ready, /config, /upstreams), the access log, W3C trace context and span
//! export, `gw reload` and reloads under load, listener changes, log reopening.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::gw::{TempDir, gw_bin};
use crate::support::upstream::free_port;
use crate::support::*;

on_both_drivers! {
    metrics_count_every_request_by_route_and_status_class => metrics_count_every_request_by_route_and_status_class_uring, metrics_count_every_request_by_route_and_status_class_epoll;
    admin_endpoints_describe_the_config_and_its_upstreams => admin_endpoints_describe_the_config_and_its_upstreams_uring, admin_endpoints_describe_the_config_and_its_upstreams_epoll;
    the_access_log_has_every_field_and_reopens_on_usr1 => the_access_log_has_every_field_and_reopens_on_usr1_uring, the_access_log_has_every_field_and_reopens_on_usr1_epoll;
    trace_context_is_continued_upstream_and_spans_exported => trace_context_is_continued_upstream_and_spans_exported_uring, trace_context_is_continued_upstream_and_spans_exported_epoll;
    twenty_reloads_under_load_lose_no_request => twenty_reloads_under_load_lose_no_request_uring, twenty_reloads_under_load_lose_no_request_epoll;
    a_reload_moves_the_listener => a_reload_moves_the_listener_uring, a_reload_moves_the_listener_epoll;
    spans_for_a_collector_that_is_down_are_dropped_and_counted => spans_for_a_collector_that_is_down_are_dropped_and_counted_uring, spans_for_a_collector_that_is_down_are_dropped_and_counted_epoll;
}

/// How long a test waits for something gw does in the background (a log flush, a scrape).
const PATIENCE: Duration = Duration::from_secs(20);

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(25));
    }
}

/// One sample of a scrape: metric name, labels, value.
pub(crate) type Sample = (String, BTreeMap<String, String>, f64);

/// GET `path` from the admin endpoint: status and body.
pub(crate) fn admin_get(addr: &str, path: &str) -> (u16, String) {
    admin_request(addr, "GET", path)
}

fn admin_request(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to admin");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: admin\r\ncontent-length: 0\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// /metrics, parsed by prometheus_client's text parser (scripts/install-test-deps.sh
/// installs it): a parse error fails the test.
pub(crate) fn scrape(admin: &str) -> Vec<Sample> {
    let (status, text) = admin_get(admin, "/metrics");
    assert_eq!(status, 200);
    let script = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append([s.name, s.labels, s.value])
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client could not parse /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = s[1]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            (
                s[0].as_str().unwrap().to_owned(),
                labels,
                s[2].as_f64().unwrap(),
            )
        })
        .collect()
}

/// The value of `name` with exactly these labels among its own (0 when absent).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

fn requests(samples: &[Sample], route: &str, class: &str) -> f64 {
    value(
        samples,
        "gw_requests_total",
        &[("route", route), ("status", class)],
    )
}

fn metrics_count_every_request_by_route_and_status_class(d: Driver) {
    let up = Upstream::echo("u");
    let admin = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "workers 2\nadmin {admin}\n{}route GET /ok {{\n  respond 200 json {{ ok: true }}\n}}\nroute GET /deny {{\n  require header.x-pass == \"yes\" else 403\n  respond 200 json {{ ok: true }}\n}}\nroute GET /up/{{rest+}} {{\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    for _ in 0..7 {
        assert_eq!(c.get("/ok").status, 200);
    }
    for _ in 0..3 {
        assert_eq!(c.get("/deny").status, 403);
    }
    assert_eq!(
        c.request("GET", "/deny", &[("x-pass", "yes")], b"").status,
        200
    );
    // unbounded path variety must not become label values
    for i in 0..5 {
        assert_eq!(gw.get(&format!("/nope/{i}")).status, 404);
        assert_eq!(c.get(&format!("/up/a/{i}")).status, 200);
    }
    let s = wait_for("the metrics to count 21 requests", || {
        let s = scrape(&admin);
        (value(&s, "gw_requests_total", &[]) >= 21.0).then_some(s)
    });
    assert_eq!(requests(&s, "GET /ok", "2xx"), 7.0);
    assert_eq!(requests(&s, "GET /deny", "4xx"), 3.0);
    assert_eq!(requests(&s, "GET /deny", "2xx"), 1.0);
    assert_eq!(requests(&s, "GET /up/{rest+}", "2xx"), 5.0);
    assert_eq!(requests(&s, "-", "4xx"), 5.0);
    assert_eq!(
        value(&s, "gw_requests_total", &[]),
        21.0,
        "each request once"
    );
    assert_eq!(
        value(
            &s,
            "gw_denials_total",
            &[
                ("route", "GET /deny"),
                ("policy", "require"),
                ("status", "403")
            ]
        ),
        3.0
    );
    assert_eq!(
        value(
            &s,
            "gw_request_duration_seconds_count",
            &[("route", "GET /ok")]
        ),
        7.0
    );
    assert_eq!(
        value(
            &s,
            "gw_upstream_duration_seconds_count",
            &[("route", "GET /up/{rest+}")]
        ),
        5.0
    );
    // the +Inf bucket holds every request of the route, the 5 s one nearly all
    assert_eq!(
        value(
            &s,
            "gw_request_duration_seconds_bucket",
            &[("route", "GET /ok"), ("le", "+Inf")]
        ),
        7.0
    );
    assert!(value(&s, "gw_request_bytes_total", &[("route", "GET /ok")]) > 7.0 * 20.0);
    assert!(value(&s, "gw_response_bytes_total", &[("route", "GET /ok")]) > 7.0 * 50.0);
    assert_eq!(value(&s, "gw_workers", &[]), 2.0);
    assert_eq!(value(&s, "gw_scrape_workers_missing", &[]), 0.0);
    assert!(value(&s, "gw_connections_accepted_total", &[]) >= 6.0);
    let routes: std::collections::BTreeSet<&str> = s
        .iter()
        .filter_map(|(_, l, _)| l.get("route").map(String::as_str))
        .collect();
    assert_eq!(
        routes.into_iter().collect::<Vec<_>>(),
        ["-", "GET /deny", "GET /ok", "GET /up/{rest+}"],
        "labels come from the config only"
    );
}

fn admin_endpoints_describe_the_config_and_its_upstreams(d: Driver) {
    let up = Upstream::echo("u");
    let dead = free_port();
    let admin = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "workers 1\nadmin {admin}\n{}{}route GET /a {{\n  upstream u\n}}\nroute GET /b {{\n  upstream dead\n}}\nroute GET /c {{\n  cache ttl 60s\n  upstream u\n}}\n",
        upstream_block("u", &[up.addr()], ""),
        upstream_block(
            "dead",
            &[format!("127.0.0.1:{dead}").parse().unwrap()],
            "max_fails 1"
        )
    );
    let gw = Gw::start(d, &config);
    assert_eq!(admin_get(&admin, "/healthz"), (200, "ok\n".into()));
    let (status, body) = admin_get(&admin, "/ready");
    assert_eq!(status, 200, "{body}");
    let (status, body) = admin_get(&admin, "/config");
    assert_eq!(status, 200);
    let cfg: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(cfg["generation"], 1);
    assert_eq!(cfg["routes"][1]["template"], "/b");
    assert_eq!(cfg["sourceHash"].as_str().unwrap().len(), 64);
    assert_eq!(cfg["listeners"][0], gw.addr.to_string());
    // the dead server fails once and is ejected: not ready any more
    assert_eq!(gw.get("/b").status, 502);
    let (status, body) = admin_get(&admin, "/ready");
    assert_eq!(status, 503);
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        ready["upstreamsWithoutServers"],
        serde_json::json!(["dead"])
    );
    let (_, body) = admin_get(&admin, "/upstreams");
    let ups: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ups[1]["name"], "dead");
    assert_eq!(ups[1]["servers"][0]["ejected"], true);
    assert_eq!(ups[0]["servers"][0]["ejected"], false);
    assert_eq!(admin_get(&admin, "/nope").0, 404);
    assert_eq!(admin_get(&admin, "/cache/purge").0, 405);
    // the cache: a miss, a hit, a purge of its route, a miss again
    let x_cache = |gw: &Gw| gw.get("/c").header("x-cache").map(str::to_owned);
    assert_eq!(x_cache(&gw).as_deref(), Some("miss"));
    assert_eq!(x_cache(&gw).as_deref(), Some("hit"));
    let (status, body) = admin_request(&admin, "POST", "/cache/purge?route=GET%20/c");
    assert_eq!((status, body.as_str()), (200, "{\"purged\":1}"));
    assert_eq!(x_cache(&gw).as_deref(), Some("miss"));
    assert_eq!(x_cache(&gw).as_deref(), Some("hit"));
    let (status, _) = admin_request(&admin, "POST", "/cache/purge?prefix=/c");
    assert_eq!(status, 200);
    assert_eq!(x_cache(&gw).as_deref(), Some("miss"));
    assert_eq!(
        admin_request(&admin, "POST", "/cache/purge?route=GET%20/zz").0,
        404
    );
    let s = scrape(&admin);
    assert_eq!(value(&s, "gw_upstream_ejections_total", &[]), 1.0);
    assert_eq!(value(&s, "gw_upstream_connect_errors_total", &[]), 1.0);
}

fn log_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn the_access_log_has_every_field_and_reopens_on_usr1(d: Driver) {
    let dir = TempDir::new();
    let log = dir.path().join("access.log");
    let up = Upstream::echo("u");
    let config = format!(
        "log {{\n  to \"{}\"\n}}\n{}route GET /up {{\n  upstream u\n}}\nroute GET /mock {{\n  respond 201 json {{ made: true }}\n}}\n",
        log.display(),
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    let r = c.request(
        "GET",
        "/up?q=1",
        &[("user-agent", "tester/1"), ("x-request-id", "rid-1")],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(c.get("/mock").status, 201);
    assert_eq!(c.get("/missing").status, 404);
    let lines = wait_for("three access log lines", || {
        let l = log_lines(&log);
        (l.len() >= 3).then_some(l)
    });
    let first = &lines[0];
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "time",
        "requestId",
        "clientIp",
        "caller",
        "method",
        "path",
        "route",
        "status",
        "requestBytes",
        "responseBytes",
        "latencyUs",
        "upstreamLatencyUs",
        "upstream",
        "userAgent",
        "traceId",
    ] {
        assert!(keys.contains(&k), "no `{k}` in {first}");
    }
    assert_eq!(first["requestId"], "rid-1");
    assert_eq!(first["clientIp"], "127.0.0.1");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/up", "the query is not logged");
    assert_eq!(first["route"], "GET /up");
    assert_eq!(first["status"], 200);
    assert_eq!(first["userAgent"], "tester/1");
    assert_eq!(first["upstream"], up.addr().to_string());
    assert!(first["upstreamLatencyUs"].as_u64().unwrap() <= first["latencyUs"].as_u64().unwrap());
    assert!(first["requestBytes"].as_u64().unwrap() >= 60);
    assert!(first["responseBytes"].as_u64().unwrap() > 100);
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(first["caller"], serde_json::Value::Null);
    assert_eq!(first["traceId"], serde_json::Value::Null);
    assert_eq!(
        (lines[1]["status"].as_u64(), lines[1]["upstream"].is_null()),
        (Some(201), true)
    );
    assert_eq!(
        (lines[2]["status"].as_u64(), lines[2]["route"].is_null()),
        (Some(404), true)
    );

    // logrotate: the file is moved away, gw keeps writing to it until SIGUSR1
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    assert_eq!(c.get("/mock").status, 201);
    wait_for("the line in the moved file", || {
        (log_lines(&rotated).len() == 4).then_some(())
    });
    gw.proc.signal("USR1");
    wait_for("the reopen", || {
        gw.stderr().contains("access log: reopened").then_some(())
    });
    assert_eq!(c.get("/mock").status, 201);
    let fresh = wait_for("a line in the new file", || {
        let l = log_lines(&log);
        (!l.is_empty()).then_some(l)
    });
    assert_eq!(fresh.len(), 1);
    assert_eq!(log_lines(&rotated).len(), 4);
}

/// A collector that keeps every OTLP body it is sent.
fn collector() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    thread::spawn(move || {
        for s in l.incoming().map_while(Result::ok) {
            let mut r = BufReader::new(s);
            let mut len = 0;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_ok() {
                keep.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
            }
            let _ = r
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
        }
    });
    (addr, got)
}

fn trace_context_is_continued_upstream_and_spans_exported(d: Driver) {
    let (otlp, bodies) = collector();
    let dir = TempDir::new();
    let log = dir.path().join("access.log");
    let up = Upstream::echo("u");
    let config = format!(
        "log {{\n  to \"{}\"\n  fields [traceId, status]\n}}\ntracing {{\n  sample 100%\n  otlp \"http://{otlp}/v1/traces\"\n  service \"edge\"\n}}\n{}route GET /up {{\n  upstream u\n}}\n",
        log.display(),
        upstream_block("u", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = gw.connect().request(
        "GET",
        "/up",
        &[("traceparent", incoming), ("tracestate", "vendor=1")],
        b"",
    );
    assert_eq!(r.status, 200);
    let seen = up.single();
    let sent = seen.header("traceparent").unwrap().to_owned();
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "{sent}");
    assert_eq!(parts[0], "00");
    assert_eq!(
        parts[1], "4bf92f3577b34da6a3ce929d0e0e4736",
        "the same trace"
    );
    assert_ne!(parts[2], "00f067aa0ba902b7", "a new parent id for this hop");
    assert_eq!(parts[3], "01");
    assert_eq!(seen.header("tracestate"), Some("vendor=1"));
    // a request without one starts a trace
    assert_eq!(gw.get("/up").status, 200);
    let started = up.traffic()[1].header("traceparent").unwrap().to_owned();
    assert!(
        started.starts_with("00-") && started.ends_with("-01"),
        "{started}"
    );
    assert!(!started.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
    let lines = wait_for("two access log lines", || {
        let l = log_lines(&log);
        (l.len() >= 2).then_some(l)
    });
    // two connections may be two workers, each with its own buffer: find lines by trace
    let ids: Vec<&str> = lines.iter().filter_map(|l| l["traceId"].as_str()).collect();
    assert!(ids.contains(&"4bf92f3577b34da6a3ce929d0e0e4736"), "{ids:?}");
    assert!(ids.contains(&started.split('-').nth(1).unwrap()), "{ids:?}");
    assert!(
        lines.iter().all(|l| l.as_object().unwrap().len() == 2),
        "only the fields asked for"
    );

    let spans = wait_for("four exported spans", || {
        let spans: Vec<serde_json::Value> = bodies
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| {
                assert_eq!(
                    b["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
                    "edge"
                );
                b["resourceSpans"][0]["scopeSpans"][0]["spans"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        (spans.len() >= 4).then_some(spans)
    });
    let of_trace: Vec<&serde_json::Value> = spans
        .iter()
        .filter(|s| s["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736")
        .collect();
    assert_eq!(of_trace.len(), 2);
    let server = of_trace.iter().find(|s| s["kind"] == 2).unwrap();
    let client = of_trace.iter().find(|s| s["kind"] == 3).unwrap();
    assert_eq!(
        server["parentSpanId"], "00f067aa0ba902b7",
        "under the caller's span"
    );
    assert_eq!(
        client["parentSpanId"], server["spanId"],
        "the upstream call under gw's span"
    );
    assert_eq!(client["spanId"], parts[2], "the parent id the upstream saw");
    assert_eq!(server["name"], "GET /up");
    let start: u64 = server["startTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let end: u64 = server["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    let cstart: u64 = client["startTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        start <= cstart && cstart <= end,
        "the upstream span lies within gw's"
    );
}

/// gw's config file, with its own `listen` line kept.
fn rewrite(gw: &Gw, body: &str) {
    let path = gw.dir().join("e2e.gw");
    let old = std::fs::read_to_string(&path).unwrap();
    let listen = old.lines().next().unwrap().to_owned();
    std::fs::write(&path, format!("{listen}\n{body}")).unwrap();
}

fn gw_reload(pid_file: &Path) -> (bool, String) {
    let out = Command::new(gw_bin())
        .args(["reload", "--pid-file"])
        .arg(pid_file)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn twenty_reloads_under_load_lose_no_request(d: Driver) {
    const CONNS: usize = 50;
    let admin = format!("127.0.0.1:{}", free_port());
    let dir = TempDir::new();
    let pid_file = dir.path().join("gw.pid");
    let body = |v: usize| {
        format!(
            "admin {admin}\nworkers 2\nroute GET /r {{\n  respond 200 json {{ version: {v} }}\n}}\n"
        )
    };
    let gw = Gw::start_with(d, &body(0), &["--pid-file", pid_file.to_str().unwrap()]);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..CONNS)
        .map(|_| {
            let mut c = gw.connect();
            let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    // paced, so 50 connections leave the two cores room for the reloads
                    thread::sleep(Duration::from_millis(2));
                    // one connection for the whole test: a reload must not close it
                    c.send(&build_request("GET", "/r", &[], b""));
                    match c.read_response("GET") {
                        Ok(r) if r.status == 200 => {
                            sent.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(r) => failed.lock().unwrap().push(format!("status {}", r.status)),
                        Err(e) => {
                            failed.lock().unwrap().push(format!("connection: {e}"));
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    let mut seen = 0.0;
    for i in 1..=20 {
        // a scrape between reloads parses and never goes backwards
        let counted = value(&scrape(&admin), "gw_requests_total", &[]);
        assert!(
            counted >= seen,
            "the request count went from {seen} to {counted}"
        );
        seen = counted;
        if i == 10 {
            rewrite(&gw, "route GET /r {\n  respond 200 json { version: \n}\n");
            let (ok, out) = gw_reload(&pid_file);
            assert!(!ok, "a broken config reloaded: {out}");
            assert!(out.contains("error[E0"), "no diagnostics shown: {out}");
            assert!(out.contains("keeps serving"), "{out}");
        } else {
            rewrite(&gw, &body(i));
            let (ok, out) = gw_reload(&pid_file);
            assert!(ok, "reload {i}: {out}");
            assert!(out.contains("reloaded: generation"), "{out}");
        }
    }
    thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let failed = failed.lock().unwrap().clone();
    assert!(failed.is_empty(), "requests failed: {failed:?}");
    let sent = sent.load(Ordering::SeqCst) as f64;
    assert!(sent > 0.0);
    assert_eq!(gw.connect().get("/r").json()["version"], 20);
    let s = wait_for("the metrics to count every request", || {
        let s = scrape(&admin);
        (value(&s, "gw_requests_total", &[]) > sent).then_some(s)
    });
    // every request once, plus the one just above
    assert_eq!(value(&s, "gw_requests_total", &[]), sent + 1.0);
    assert_eq!(value(&s, "gw_reloads_total", &[("result", "ok")]), 19.0);
    assert_eq!(value(&s, "gw_reloads_total", &[("result", "failed")]), 1.0);
    assert_eq!(value(&s, "gw_config_generation", &[]), 20.0);
    assert_eq!(
        value(&s, "gw_connections_accepted_total", &[]),
        CONNS as f64 + 1.0,
        "no client connection was closed and reopened"
    );
}

fn a_reload_moves_the_listener(d: Driver) {
    let dir = TempDir::new();
    let pid_file = dir.path().join("gw.pid");
    let gw = Gw::start_with(
        d,
        "route GET /v {\n  respond 200 json { v: 1 }\n}\n",
        &["--pid-file", pid_file.to_str().unwrap()],
    );
    let mut kept = gw.connect();
    assert_eq!(kept.get("/v").json()["v"], 1);
    let moved = free_port();
    std::fs::write(
        gw.dir().join("e2e.gw"),
        format!("listen 127.0.0.1:{moved}\nroute GET /v {{\n  respond 200 json {{ v: 2 }}\n}}\n"),
    )
    .unwrap();
    let (ok, out) = gw_reload(&pid_file);
    assert!(ok, "{out}");
    assert!(out.contains("listen +127.0.0.1:"), "{out}");
    let mut c = Client::connect(([127, 0, 0, 1], moved).into());
    assert_eq!(c.get("/v").json()["v"], 2);
    // the old address takes no new connections (once the workers have closed it); the one
    // open there goes on
    wait_for("the old address to close", || {
        std::net::TcpStream::connect(gw.addr).is_err().then_some(())
    });
    assert_eq!(kept.get("/v").json()["v"], 2);
    // a new address that cannot be bound refuses the reload as a whole
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    std::fs::write(
        gw.dir().join("e2e.gw"),
        format!(
            "listen {}\nroute GET /v {{\n  respond 200 json {{ v: 3 }}\n}}\n",
            taken.local_addr().unwrap()
        ),
    )
    .unwrap();
    let (ok, out) = gw_reload(&pid_file);
    assert!(!ok, "{out}");
    assert!(out.contains("cannot listen on"), "{out}");
    assert_eq!(
        c.get("/v").json()["v"],
        2,
        "the previous config keeps serving"
    );
}

fn spans_for_a_collector_that_is_down_are_dropped_and_counted(d: Driver) {
    let admin = format!("127.0.0.1:{}", free_port());
    let down = free_port();
    let config = format!(
        "admin {admin}\ntracing {{\n  otlp \"http://127.0.0.1:{down}/v1/traces\"\n}}\nroute GET /t {{\n  respond 200 json {{ ok: true }}\n}}\n"
    );
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    for _ in 0..10 {
        assert_eq!(
            c.get("/t").status,
            200,
            "requests never wait for the collector"
        );
    }
    wait_for("the dropped spans to be counted", || {
        let s = scrape(&admin);
        (value(&s, "gw_spans_dropped_total", &[]) == 10.0).then_some(())
    });
    assert!(
        gw.stderr().contains("tracing: spans dropped"),
        "{}",
        gw.stderr()
    );
}
