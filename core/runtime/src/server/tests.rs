//! Loopback tests: the real server started in-process on both drivers, std::net upstreams and
//! clients.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use gw_program::{
    ConfigImage, Listener, Loc, NO_REG, Op, PatSeg, Program, RouteKey, RoutePlan, Router,
    Server as ServerCfg, Template, TplPart, Upstream,
};
use gw_proto::{Framing, ResponseHead, Status};

use super::{Options, Server};
use crate::{Driver, Loaded};

mod errors;
mod json;
mod plugins;
mod upstream;

const DRIVERS: [Driver; 2] = [Driver::Uring, Driver::Legacy];

/// A hand-built program with the cost the verifier recomputes (the runtime verifies every
/// image it loads).
fn verified(mut p: Program) -> Arc<Program> {
    p.cost = gw_program::cost::program_cost(&p);
    Arc::new(p)
}

fn program(ops: Vec<Op>, templates: Vec<Template>) -> Arc<Program> {
    verified(Program {
        locs: vec![Loc::default(); ops.len()],
        ops,
        templates,
        regs: 2,
        ..Program::default()
    })
}

fn text_tpl(s: &str) -> Template {
    Template {
        parts: vec![TplPart::Text(s.into())],
        display: s.into(),
    }
}

fn route(
    name: &str,
    method: &str,
    segs: Vec<PatSeg>,
    request: Arc<Program>,
) -> (RoutePlan, RouteKey) {
    let plan = RoutePlan {
        name: name.into(),
        method: method.into(),
        pattern: name.into(),
        request,
        ..RoutePlan::default()
    };
    let key = RouteKey {
        host: None,
        method: method.into(),
        segments: segs,
        trailing_slash: false,
        route: 0,
    };
    (plan, key)
}

fn upstream(addrs: &[SocketAddr]) -> Upstream {
    Upstream {
        name: "app".into(),
        servers: addrs
            .iter()
            .map(|a| ServerCfg {
                host: a.ip().to_string(),
                port: a.port(),
                weight: 1,
                tls: None,
            })
            .collect(),
        balance: Default::default(),
        connect_timeout: Some(1000),
        request_timeout: Some(2000),
        health: None,
        max_fails: 100,
        fail_on: Default::default(),
        fail_timeout: 1000,
        host_header: None,
    }
}

/// Routes: `ANY /api/{rest+}` -> upstream 0; `GET /mock` -> 200 json; `GET /deny` -> 403;
/// `GET /big` -> upstream 0 with a 16-byte body limit.
fn image(up: &[SocketAddr]) -> ConfigImage {
    let forward = program(
        vec![Op::Forward {
            up: 0,
            hash: NO_REG,
        }],
        vec![],
    );
    let mut plans = Vec::new();
    let mut keys = Vec::new();
    let table = vec![
        route(
            "ANY /api/{rest+}",
            "ANY",
            vec![PatSeg::Literal("api".into()), PatSeg::Greedy],
            forward.clone(),
        ),
        route(
            "GET /mock",
            "GET",
            vec![PatSeg::Literal("mock".into())],
            program(
                vec![Op::Respond {
                    status: 200,
                    tpl: 0,
                    json: true,
                }],
                vec![text_tpl(r#"{"ok":true}"#)],
            ),
        ),
        route(
            "GET /deny",
            "GET",
            vec![PatSeg::Literal("deny".into())],
            program(
                vec![Op::Deny {
                    status: 403,
                    msg: gw_program::NONE,
                }],
                vec![],
            ),
        ),
        route(
            "POST /small",
            "POST",
            vec![PatSeg::Literal("small".into())],
            forward,
        ),
    ];
    for (i, (mut p, mut k)) in table.into_iter().enumerate() {
        if p.name == "POST /small" {
            p.body_limit = Some(16);
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
        upstreams: vec![upstream(up)],
        routes: plans,
        router: Router::build(&keys).unwrap(),
        ..ConfigImage::default()
    }
}

fn start(image: ConfigImage, driver: Driver) -> Server {
    let loaded = Loaded::load(image, &gw_plugin::Registry::new(), None).unwrap();
    let opts = Options {
        workers: Some(1),
        driver: Some(driver),
        no_pin: true,
        ..Options::default()
    };
    Server::start(Arc::new(loaded), &opts).unwrap()
}

/// One parsed response.
#[derive(Debug)]
struct Resp {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Read one response from `s`, with `pending` holding bytes already read.
fn read_resp(s: &mut TcpStream, pending: &mut Vec<u8>, head_req: bool) -> Resp {
    let mut head = ResponseHead::default();
    let n = loop {
        if let Ok(Status::Complete(n)) = gw_proto::parse_response(pending, head_req, &mut head) {
            break n;
        }
        fill(s, pending);
    };
    let head_text = String::from_utf8_lossy(&pending[..n]).into_owned();
    pending.drain(..n);
    let body = match head.framing {
        Framing::Length(len) => {
            while pending.len() < len as usize {
                fill(s, pending);
            }
            pending.drain(..len as usize).collect()
        }
        Framing::Chunked => {
            let mut dec = gw_proto::ChunkedDecoder::new();
            let mut body = Vec::new();
            loop {
                match dec.decode(pending).unwrap() {
                    gw_proto::Chunk::Data { consumed, data } => {
                        body.extend_from_slice(data.of(pending));
                        pending.drain(..consumed);
                    }
                    gw_proto::Chunk::Partial { consumed } => {
                        pending.drain(..consumed);
                        fill(s, pending);
                    }
                    gw_proto::Chunk::End { consumed } => {
                        pending.drain(..consumed);
                        break body;
                    }
                }
            }
        }
        Framing::UntilClose => {
            let mut rest = std::mem::take(pending);
            s.read_to_end(&mut rest).unwrap();
            rest
        }
        Framing::None => Vec::new(),
    };
    Resp {
        status: head.status,
        head: head_text,
        body,
    }
}

fn fill(s: &mut TcpStream, pending: &mut Vec<u8>) {
    let mut buf = [0u8; 8192];
    let n = s.read(&mut buf).unwrap();
    assert!(
        n > 0,
        "connection closed; had {:?}",
        String::from_utf8_lossy(pending)
    );
    pending.extend_from_slice(&buf[..n]);
}

fn client(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.addrs()[0]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn exchange(server: &Server, req: &[u8]) -> Resp {
    let mut s = client(server);
    s.write_all(req).unwrap();
    read_resp(&mut s, &mut Vec::new(), req.starts_with(b"HEAD"))
}

/// True when the server closed `s` (EOF, not a timeout).
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}

#[test]
fn proxies_get_with_forwarding_headers_on_both_drivers() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let server = start(image(&[echo]), d);
        let r = exchange(&server, b"GET /api/x/../items?q=1 HTTP/1.1\r\nHost: example.test\r\nConnection: keep-alive, x-hop\r\nX-Hop: 1\r\nX-Forwarded-For: 10.9.9.9\r\n\r\n");
        assert_eq!(r.status, 200, "{d}: {r:?}");
        let body = r.text();
        assert!(
            body.contains(r#""path":"/api/items""#),
            "{d}: normalised path: {body}"
        );
        assert!(body.contains(r#""query":"q=1""#), "{body}");
        assert!(body.contains(r#""host":"example.test""#), "{body}");
        assert!(
            body.contains(r#""x-forwarded-for":"10.9.9.9, 127.0.0.1""#),
            "{body}"
        );
        assert!(body.contains(r#""x-forwarded-proto":"http""#), "{body}");
        assert!(body.contains(r#""forwarded":"for=127.0.0.1"#), "{body}");
        assert!(
            !body.contains("x-hop"),
            "hop-by-hop named by Connection leaked: {body}"
        );
        let id = r.header("x-request-id").expect("request id echoed");
        assert!(
            body.contains(&format!(r#""x-request-id":"{id}""#)),
            "{body}"
        );
        server.stop();
    }
}

#[test]
fn keep_alive_and_pipelining_answer_in_order() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let server = start(image(&[echo]), d);
        let mut s = client(&server);
        s.write_all(b"GET /api/one HTTP/1.1\r\nHost: a\r\n\r\nGET /mock HTTP/1.1\r\nHost: a\r\n\r\nGET /api/two HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let mut pending = Vec::new();
        let a = read_resp(&mut s, &mut pending, false);
        let b = read_resp(&mut s, &mut pending, false);
        let c = read_resp(&mut s, &mut pending, false);
        assert!(a.text().contains("/api/one"), "{d}: {a:?}");
        assert_eq!(b.text(), r#"{"ok":true}"#);
        assert_eq!(
            b.header("content-type").as_deref(),
            Some("application/json")
        );
        assert!(c.text().contains("/api/two"), "{c:?}");
        // still open: one more request on the same connection
        s.write_all(b"GET /api/three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap();
        let last = read_resp(&mut s, &mut pending, false);
        assert!(last.text().contains("/api/three"));
        assert!(closed(&mut s), "Connection: close honoured");
        server.stop();
    }
}

#[test]
fn request_bodies_stream_through_length_and_chunked() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let server = start(image(&[echo]), d);
        let r = exchange(
            &server,
            b"POST /api/p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        );
        assert!(r.text().contains(r#""body":"hello""#), "{d}: {r:?}");
        let r = exchange(&server, b"POST /api/p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
        assert!(r.text().contains(r#""body":"abcde""#), "{d}: {r:?}");
        assert!(
            r.text().contains(r#""transfer-encoding":"chunked""#),
            "{r:?}"
        );
        // a large body in several writes
        let mut s = client(&server);
        let big = vec![b'z'; 200_000];
        s.write_all(
            format!(
                "PUT /api/big HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
                big.len()
            )
            .as_bytes(),
        )
        .unwrap();
        for part in big.chunks(50_000) {
            s.write_all(part).unwrap();
        }
        let r = read_resp(&mut s, &mut Vec::new(), false);
        assert_eq!(r.status, 200);
        assert!(r.body.len() > 200_000, "{}", r.body.len());
        server.stop();
    }
}

#[test]
fn expect_continue_is_answered_before_the_body() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let server = start(image(&[echo]), d);
        let mut s = client(&server);
        s.write_all(
            b"POST /api/e HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
        let mut pending = Vec::new();
        while !pending.windows(4).any(|w| w == b"\r\n\r\n") {
            fill(&mut s, &mut pending);
        }
        assert!(
            pending.starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"),
            "{d}: {:?}",
            String::from_utf8_lossy(&pending)
        );
        pending.drain(..25);
        s.write_all(b"ping").unwrap();
        let r = read_resp(&mut s, &mut pending, false);
        assert!(r.text().contains(r#""body":"ping""#), "{r:?}");
        assert!(
            !r.text().contains("100-continue"),
            "Expect is not forwarded"
        );
        // refused early: the final status instead of 100
        let r = exchange(&server, b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 99\r\nExpect: 100-continue\r\n\r\n");
        assert_eq!(r.status, 413);
        server.stop();
    }
}

#[test]
fn gw_answers_404_405_deny_and_mock_with_json_bodies() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let server = start(image(&[echo]), d);
        let r = exchange(&server, b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 404, "{d}");
        let id = r.header("x-request-id").unwrap();
        assert_eq!(
            r.text(),
            format!(r#"{{"message":"not found","requestId":"{id}"}}"#)
        );
        let r = exchange(
            &server,
            b"POST /mock HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"));
        let r = exchange(
            &server,
            b"GET /deny HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc-123\r\n\r\n",
        );
        assert_eq!(r.status, 403);
        assert!(r.text().contains(r#""requestId":"abc-123""#), "{r:?}");
        let r = exchange(&server, b"HEAD /mock HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(r.status, 200);
        assert!(r.body.is_empty());
        assert_eq!(r.header("content-length").as_deref(), Some("11"));
        server.stop();
    }
}
