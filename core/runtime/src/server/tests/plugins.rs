//! The plugin seam end to end: the reference test plugin (`probe`) driven by hand-built
//! images through the real server, on both drivers.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use gw_program::{
    ConfigImage, Field, Listener, Loc, NO_REG, Op, PatSeg, PluginSpec, Program, Router, Value,
};

use super::*;

mod probe;

use probe::{Rig, TestFactory, USER_LOCAL, rig, spec};

fn prog(ops: Vec<Op>, consts: &[&str]) -> Arc<Program> {
    verified(Program {
        locs: vec![Loc::default(); ops.len()],
        ops,
        consts: consts.iter().map(|c| Value::str(c)).collect(),
        locals: vec!["claim.sub".into()],
        regs: 2,
        ..Program::default()
    })
}

const FORWARD: Op = Op::Forward {
    up: 0,
    hash: NO_REG,
};

/// Slots 0..5: local, deny, pending, body, refuse. Routes: `GET /local` (x-name -> plugin ->
/// local forwarded as x-user), `GET /deny`, `GET /slow` (request id as the argument),
/// `GET /hurry` (as /slow, with a 1 ms request timeout), `POST /body` (buffered),
/// `POST /stream` (not buffered) and `GET /refuse`, all forwarding to `up`; an `on error 429`
/// page answers `{"retry_after":N}` from `error.retry_after`.
fn plugin_image(up: SocketAddr) -> ConfigImage {
    let call = |slot: u16, argc: u8| Op::Call { slot, arg: 0, argc };
    let lit = |s: &str| vec![PatSeg::Literal(s.into())];
    let local = prog(
        vec![
            Op::LdField {
                dst: 0,
                field: Field::Header(0),
            },
            call(0, 1),
            Op::LdField {
                dst: 1,
                field: Field::Local(USER_LOCAL),
            },
            Op::HdrSet { h: 1, r: 1 },
            FORWARD,
        ],
        &["x-name", "x-user"],
    );
    let slow = vec![
        Op::LdField {
            dst: 0,
            field: Field::RequestId,
        },
        call(2, 1),
        FORWARD,
    ];
    let table = vec![
        route("GET /local", "GET", lit("local"), local),
        route(
            "GET /deny",
            "GET",
            lit("deny"),
            prog(vec![call(1, 0), FORWARD], &[]),
        ),
        route("GET /slow", "GET", lit("slow"), prog(slow.clone(), &[])),
        route("GET /hurry", "GET", lit("hurry"), prog(slow, &[])),
        route(
            "POST /body",
            "POST",
            lit("body"),
            prog(vec![call(3, 0), FORWARD], &[]),
        ),
        route(
            "POST /stream",
            "POST",
            lit("stream"),
            prog(vec![call(3, 0), FORWARD], &[]),
        ),
        route(
            "GET /refuse",
            "GET",
            lit("refuse"),
            prog(vec![call(4, 0), FORWARD], &[]),
        ),
        route(
            "GET /fetch-up",
            "GET",
            lit("fetch-up"),
            prog(
                vec![
                    Op::LdField {
                        dst: 0,
                        field: Field::RequestId,
                    },
                    call(6, 1),
                    FORWARD,
                ],
                &[],
            ),
        ),
        route(
            "GET /fetch",
            "GET",
            lit("fetch"),
            prog(
                vec![
                    Op::LdField {
                        dst: 0,
                        field: Field::RequestId,
                    },
                    call(5, 1),
                    FORWARD,
                ],
                &[],
            ),
        ),
    ];
    let page = verified(Program {
        ops: vec![
            Op::LdField {
                dst: 0,
                field: Field::ErrorRetryAfter,
            },
            Op::Respond {
                status: 429,
                tpl: 0,
                json: true,
            },
        ],
        locs: vec![Loc::default(); 2],
        templates: vec![gw_program::Template {
            parts: vec![
                gw_program::TplPart::Text(r#"{"retry_after":"#.into()),
                gw_program::TplPart::Reg { r: 0, json: true },
                gw_program::TplPart::Text("}".into()),
            ],
            display: "{ retry_after: error.retry_after }".into(),
        }],
        regs: 1,
        ..Program::default()
    });
    let (mut plans, mut keys) = (Vec::new(), Vec::new());
    for (i, (mut p, mut k)) in table.into_iter().enumerate() {
        p.buffer_body = p.name == "POST /body";
        if p.name == "GET /hurry" {
            p.timeout_ms = Some(1);
        }
        k.route = i as u32;
        plans.push(p);
        keys.push(k);
    }
    ConfigImage {
        listeners: vec![Listener {
            addr: "127.0.0.1:0".parse().unwrap(),
            tls: None,
            path_allow: gw_proto::PathChars::NONE,
            underscores: gw_proto::UnderscoreNames::Drop,
            redirect_https: false,
            h2c: false,
        }],
        upstreams: vec![upstream(&[up])],
        routes: plans,
        router: Router::build(&keys).unwrap(),
        plugins: vec![
            spec("test.local", "users"),
            spec("test.deny", "GET /deny#1"),
            spec("test.pending", "GET /slow#1"),
            spec("test.body", "POST /body#1"),
            spec("test.refuse", "GET /refuse#1"),
            {
                let mut s = spec("test.fetch", "GET /fetch#1");
                s.args.push(("addr".into(), Value::str(&up.to_string())));
                s
            },
            {
                let mut s = spec("test.fetch", "GET /fetch-up#1");
                s.args.push(("via".into(), Value::str("upstream")));
                s
            },
        ],
        error_pages: vec![gw_program::ErrorPage {
            statuses: vec![429],
            program: page,
        }],
        ..ConfigImage::default()
    }
}

fn serve(loaded: Arc<Loaded>, driver: Driver, workers: usize) -> Server {
    let opts = Options {
        workers: Some(workers),
        driver: Some(driver),
        no_pin: true,
        ..Options::default()
    };
    Server::start(loaded, &opts).unwrap()
}

fn load(rig: &Rig, up: SocketAddr) -> Arc<Loaded> {
    Arc::new(Loaded::load(plugin_image(up), &rig.registry, None).unwrap())
}

fn hits(loaded: &Loaded, slot: usize) -> Arc<AtomicUsize> {
    let f = loaded.factories[slot]
        .as_any()
        .downcast_ref::<TestFactory>();
    f.expect("a test factory").hits.clone()
}

#[test]
fn a_plugin_local_is_forwarded_as_a_header() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let rig = rig();
        let server = serve(load(&rig, echo), d, 1);
        let r = exchange(
            &server,
            b"GET /local HTTP/1.1\r\nHost: a\r\nX-Name: ann\r\n\r\n",
        );
        assert_eq!(r.status, 200, "{d}: {r:?}");
        assert!(
            r.text().contains(r#""x-user":"user:ann""#),
            "{d}: {}",
            r.text()
        );
        // locals are per request: the next one stores its own value
        let r = exchange(
            &server,
            b"GET /local HTTP/1.1\r\nHost: a\r\nX-Name: bob\r\n\r\n",
        );
        assert!(
            r.text().contains(r#""x-user":"user:bob""#),
            "{d}: {}",
            r.text()
        );
        assert!(!r.text().contains("user:ann"), "{d}: {}", r.text());
        assert_eq!(rig.local.calls.load(Ordering::SeqCst), 2, "{d}");
        server.stop();
    }
}

#[test]
fn a_plugin_response_reaches_the_client_as_applied() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let rig = rig();
        let server = serve(load(&rig, echo), d, 1);
        let r = exchange(&server, b"GET /deny HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 429, "{d}: {r:?}");
        assert_eq!(r.text(), r#"{"message":"slow down"}"#, "{d}");
        assert_eq!(r.header("retry-after").as_deref(), Some("7"), "{d}");
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(r.header("content-length").as_deref(), Some("23"));
        assert!(r.header("x-request-id").is_some(), "{d}: {r:?}");
        // the connection stays usable and the next answer carries none of those edits
        let mut s = client(&server);
        let mut pending = Vec::new();
        s.write_all(b"GET /deny HTTP/1.1\r\nHost: a\r\n\r\nGET /local HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        assert_eq!(read_resp(&mut s, &mut pending, false).status, 429, "{d}");
        let r = read_resp(&mut s, &mut pending, false);
        assert_eq!(r.status, 200, "{d}: {r:?}");
        assert!(r.header("retry-after").is_none(), "{d}: {r:?}");
        assert_eq!(rig.deny.calls.load(Ordering::SeqCst), 2, "{d}");
        server.stop();
    }
}

#[test]
fn a_pending_operation_is_owned_by_its_request_and_many_are_awaited_at_once() {
    const CONCURRENT: usize = 100;
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let rig = rig();
        let server = serve(load(&rig, echo), d, 1);
        let r = exchange(&server, b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200, "{d}: {r:?}");
        assert!(r.text().contains(r#""path":"/slow""#), "{d}: {r:?}");
        assert!(
            r.text().contains("x-waited"),
            "{d}: the completion ran: {r:?}"
        );
        assert_eq!(rig.pending.pendings.load(Ordering::SeqCst), 1, "{d}");
        assert_eq!(
            rig.pending.calls.load(Ordering::SeqCst),
            1,
            "{d}: the program went on after the call, not through it again"
        );

        // connected first, then released together: each request awaits its own operation
        let clients: Vec<TcpStream> = (0..CONCURRENT).map(|_| client(&server)).collect();
        let gate = Arc::new(Barrier::new(CONCURRENT));
        let threads: Vec<_> = clients
            .into_iter()
            .map(|mut s| {
                let gate = gate.clone();
                std::thread::spawn(move || {
                    gate.wait();
                    s.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
                        .unwrap();
                    read_resp(&mut s, &mut Vec::new(), false).status
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 200, "{d}");
        }
        let p = &rig.pending;
        assert_eq!(p.pendings.load(Ordering::SeqCst), 1 + CONCURRENT, "{d}");
        assert_eq!(p.calls.load(Ordering::SeqCst), 1 + CONCURRENT, "{d}");
        assert_eq!(p.in_flight.load(Ordering::SeqCst), 0, "{d}");
        // in line, one at a time, at most one would be in flight
        let most = p.most_in_flight.load(Ordering::SeqCst);
        assert!(most > CONCURRENT / 2, "{d}: at most {most} awaited at once");
        assert_eq!(
            p.instances.load(Ordering::SeqCst),
            1,
            "{d}: one worker, one instance"
        );
        server.stop();
    }
}

/// A request whose plugin operation is not done within the route's timeout gets a 504;
/// requests awaiting theirs meanwhile finish normally.
#[test]
fn a_plugin_operation_not_done_within_the_request_timeout_is_a_504() {
    const AHEAD: usize = 3;
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let rig = rig();
        let server = serve(load(&rig, echo), d, 1);
        let r = exchange(&server, b"GET /hurry HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 504, "{d}: {r:?}");
        assert!(r.text().contains("requestId"), "{d}: {r:?}");
        let slow: Vec<_> = (0..AHEAD)
            .map(|_| {
                let mut s = client(&server);
                std::thread::spawn(move || {
                    s.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
                        .unwrap();
                    read_resp(&mut s, &mut Vec::new(), false).status
                })
            })
            .collect();
        let r = exchange(&server, b"GET /hurry HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 504, "{d}: {r:?}");
        for t in slow {
            assert_eq!(t.join().unwrap(), 200, "{d}");
        }
        server.stop();
    }
}

/// A plugin's denial goes through the config's `on error` page, which sees
/// `error.retry_after`, and carries `Retry-After`.
#[test]
fn a_plugin_denial_uses_the_on_error_page_with_retry_after() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let rig = rig();
        let server = serve(load(&rig, echo), d, 1);
        let r = exchange(&server, b"GET /refuse HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 429, "{d}: {r:?}");
        assert_eq!(r.text(), r#"{"retry_after":7}"#, "{d}");
        assert_eq!(r.header("retry-after").as_deref(), Some("7"), "{d}: {r:?}");
        assert_eq!(rig.refuse.calls.load(Ordering::SeqCst), 1, "{d}");
        server.stop();
    }
}

#[test]
fn each_worker_gets_one_instance_not_one_per_request() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let rig = rig();
        let server = serve(load(&rig, echo), d, 2);
        assert_eq!(server.workers(), 2);
        for i in 0..10 {
            let req = format!("GET /local HTTP/1.1\r\nHost: a\r\nX-Name: n{i}\r\n\r\n");
            assert_eq!(exchange(&server, req.as_bytes()).status, 200, "{d}");
        }
        for (name, s) in [
            ("local", &rig.local),
            ("deny", &rig.deny),
            ("body", &rig.body),
        ] {
            assert_eq!(s.instances.load(Ordering::SeqCst), 2, "{d}: {name}");
            assert_eq!(
                s.workers.load(Ordering::SeqCst),
                0b11,
                "{d}: {name}: workers 0, 1"
            );
        }
        assert_eq!(rig.local.calls.load(Ordering::SeqCst), 10, "{d}");
        server.stop();
    }
}

#[test]
fn reload_hands_the_previous_factory_of_the_same_state_key_to_build() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let rig = rig();
        let first = load(&rig, echo);
        let server = serve(first.clone(), d, 1);
        for _ in 0..3 {
            let r = exchange(&server, b"GET /local HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(r.status, 200, "{d}");
        }
        assert_eq!(hits(&first, 0).load(Ordering::SeqCst), 3, "{d}");

        let mut img = plugin_image(echo);
        img.plugins.push(spec("test.local", "partners")); // new key: fresh state
        img.plugins.push(spec("test.deny", "users")); // same key, other plugin: fresh
        let second = Arc::new(Loaded::load(img, &rig.registry, Some(&first)).unwrap());
        let builds = rig.local.builds();
        let want = [("users", None), ("users", Some(1)), ("partners", None)];
        let want: Vec<_> = want.iter().map(|(k, g)| ((*k).to_owned(), *g)).collect();
        assert_eq!(builds, want, "{d}");
        let deny_builds = rig.deny.builds();
        assert_eq!(deny_builds.last(), Some(&("users".to_owned(), None)), "{d}");
        assert!(
            Arc::ptr_eq(&hits(&first, 0), &hits(&second, 0)),
            "{d}: state carried"
        );
        assert_eq!(hits(&second, 4).load(Ordering::SeqCst), 0, "{d}");

        server.handle().reload(second.clone());
        std::thread::sleep(Duration::from_millis(50));
        let r = exchange(
            &server,
            b"GET /local HTTP/1.1\r\nHost: a\r\nX-Name: z\r\n\r\n",
        );
        assert!(r.text().contains(r#""x-user":"user:z""#), "{d}: {r:?}");
        assert_eq!(
            hits(&second, 0).load(Ordering::SeqCst),
            4,
            "{d}: counted on"
        );
        // the reload built one instance per `test.local` slot of the new config (2)
        assert_eq!(rig.local.instances.load(Ordering::SeqCst), 3, "{d}");
        server.stop();
    }
}

#[test]
fn unknown_plugins_and_build_errors_refuse_the_config_by_name() {
    let rig = rig();
    let mut img = ConfigImage::default();
    img.plugins.push(spec("test.local", "users"));
    img.plugins.push(PluginSpec {
        origin: "api.gw:12:3".into(),
        ..spec("jwt", "users")
    });
    let mut bad = spec("test.deny", "GET /x#1");
    bad.args.push(("fail".into(), Value::Bool(true)));
    bad.origin = "api.gw:20:5".into();
    img.plugins.push(bad);
    let err = Loaded::load(img, &rig.registry, None).unwrap_err();
    assert_eq!(err.messages.len(), 2, "{err}");
    assert!(err.messages[0].contains("`jwt`"), "{err}");
    assert!(err.messages[0].contains("api.gw:12:3"), "{err}");
    assert_eq!(err.messages[1], "api.gw:20:5: bad key file");
}

#[test]
fn a_buffered_route_shows_the_plugin_the_whole_body() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let rig = rig();
        let server = serve(load(&rig, echo), d, 1);
        let r = exchange(
            &server,
            b"POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\nhello plugin",
        );
        assert_eq!(r.status, 200, "{d}: {r:?}");
        let t = r.text();
        assert!(t.contains(r#""x-seen-body":"hello plugin""#), "{d}: {t}");
        assert!(t.contains(r#""x-seen-len":"12""#), "{d}: {t}");
        assert!(
            t.contains(r#""body":"hello plugin""#),
            "{d}: still forwarded: {t}"
        );
        // chunks arrive in several writes; the plugin sees them joined
        let mut s = client(&server);
        s.write_all(
            b"POST /body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        s.write_all(b"4\r\ndefg\r\n0\r\n\r\n").unwrap();
        let t = read_resp(&mut s, &mut Vec::new(), false).text();
        assert!(t.contains(r#""x-seen-body":"abcdefg""#), "{d}: {t}");
        assert!(t.contains(r#""body":"abcdefg""#), "{d}: {t}");
        // a streaming route has no buffered body to show
        let r = exchange(
            &server,
            b"POST /stream HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        );
        let t = r.text();
        assert!(t.contains(r#""x-seen-body":"<none>""#), "{d}: {t}");
        assert!(t.contains(r#""body":"hello""#), "{d}: {t}");
        assert_eq!(rig.body.calls.load(Ordering::SeqCst), 3, "{d}");
        server.stop();
    }
}

/// Every request passes the log phase once, whatever its exit: proxied, a plugin's response,
/// a plugin's denial, no route, a bad path, a plugin timeout, a malformed head.
#[test]
fn every_request_passes_the_log_phase_once() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let rig = rig();
        let server = serve(load(&rig, echo), d, 2);
        let requests: [&[u8]; 7] = [
            b"GET /local HTTP/1.1\r\nHost: a\r\nx-name: n\r\n\r\n",
            b"GET /deny HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /refuse HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /hurry HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        ];
        for r in requests {
            let got = exchange(&server, r);
            assert!(got.status >= 200, "{d}: {got:?}");
        }
        // the phase runs once the response is out: give the last one its turn
        let t = std::time::Instant::now();
        while server.requests_ended() < requests.len() as u64
            && t.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(server.requests_ended(), requests.len() as u64, "{d}");
        server.stop();
    }
}

/// An instance that asks for periodic work gets it on every worker, and it stops when the
/// config is replaced.
#[test]
fn periodic_work_runs_per_worker_until_the_config_is_replaced() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let rig = rig();
        let mut img = plugin_image(echo);
        img.plugins.push(spec("test.tick", "sweep"));
        let first = Arc::new(Loaded::load(img, &rig.registry, None).unwrap());
        let server = serve(first.clone(), d, 2);
        let t = std::time::Instant::now();
        while rig.tick.ticks.load(Ordering::SeqCst) < 20 && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(rig.tick.ticks.load(Ordering::SeqCst) >= 20, "{d}: no ticks");
        assert_eq!(
            rig.tick.workers.load(Ordering::SeqCst),
            0b11,
            "{d}: both workers"
        );
        server.handle().reload(Arc::new(
            Loaded::load(plugin_image(echo), &rig.registry, Some(&first)).unwrap(),
        ));
        // a tick already under way may still land
        std::thread::sleep(Duration::from_millis(100));
        let after = rig.tick.ticks.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            rig.tick.ticks.load(Ordering::SeqCst),
            after,
            "{d}: ticks after the reload"
        );
        server.stop();
    }
}

/// A plugin calls a service of its own through the worker's HTTP client, by address or
/// through an upstream's pools, and awaits the answer as a pending operation.
#[test]
fn a_plugin_calls_a_service_with_the_workers_http_client() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let rig = rig();
        let server = serve(load(&rig, echo), d, 1);
        // by address, then through upstream 0's pools
        for path in ["/fetch", "/fetch-up"] {
            for _ in 0..3 {
                let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
                let r = exchange(&server, req.as_bytes());
                assert_eq!(r.status, 200, "{d} {path}: {r:?}");
                let text = r.text();
                assert!(text.contains(r#""x-fetched":"200""#), "{d} {path}: {text}");
                assert!(
                    !text.contains(r#""x-fetched-len":"0""#),
                    "{d} {path}: an empty body: {text}"
                );
            }
        }
        assert_eq!(rig.fetch.calls.load(Ordering::SeqCst), 6, "{d}");
        server.stop();
    }
}
