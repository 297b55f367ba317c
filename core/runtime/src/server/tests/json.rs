//! `body.*` and `resp.json.*` end to end: hand-built programs that copy JSON fields of the
//! buffered request body into upstream headers and of the buffered upstream response into
//! client headers, on both drivers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};

use gw_program::{Field, Value};

use super::*;

fn prog(ops: Vec<Op>, consts: &[&str]) -> Arc<Program> {
    verified(Program {
        locs: vec![Loc::default(); ops.len()],
        ops,
        consts: consts.iter().map(|c| Value::str(c)).collect(),
        regs: 2,
        ..Program::default()
    })
}

/// `dst = field; set header consts[h] = dst` (request side, or response side with `resp`).
fn copy(field: Field, h: u16, resp: bool) -> [Op; 2] {
    let set = if resp {
        Op::RespHdrSet { h, r: 0 }
    } else {
        Op::HdrSet { h, r: 0 }
    };
    [Op::LdField { dst: 0, field }, set]
}

const FORWARD: Op = Op::Forward {
    up: 0,
    hash: NO_REG,
};

/// `POST /jb` (buffered body) -> `up`, with x-name = body./name, x-tag = body./pet/tags/1,
/// x-odd = body./a~1b. `GET /r/{rest+}` (buffered response) -> `up`, answering with
/// x-id = resp.json./id and x-city = resp.json./addr/city.
fn json_image(up: SocketAddr) -> ConfigImage {
    let req = [
        copy(Field::Body(0), 1, false),
        copy(Field::Body(2), 3, false),
        copy(Field::Body(4), 5, false),
    ];
    let mut ops: Vec<Op> = req.into_iter().flatten().collect();
    ops.push(FORWARD);
    let body = prog(
        ops,
        &["/name", "x-name", "/pet/tags/1", "x-tag", "/a~1b", "x-odd"],
    );
    let mut resp_ops: Vec<Op> = [
        copy(Field::RespJson(0), 1, true),
        copy(Field::RespJson(2), 3, true),
    ]
    .into_iter()
    .flatten()
    .collect();
    resp_ops.push(Op::Done);
    let response = prog(resp_ops, &["/id", "x-id", "/addr/city", "x-city"]);
    let (mut jb, mut jb_key) = route("POST /jb", "POST", vec![PatSeg::Literal("jb".into())], body);
    jb.buffer_body = true;
    let (mut r, mut r_key) = route(
        "GET /r/{rest+}",
        "GET",
        vec![PatSeg::Literal("r".into()), PatSeg::Greedy],
        prog(vec![FORWARD], &[]),
    );
    r.buffer_response = true;
    r.response = Some(response);
    jb_key.route = 0;
    r_key.route = 1;
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
        routes: vec![jb, r],
        router: Router::build(&[jb_key, r_key]).unwrap(),
        ..ConfigImage::default()
    }
}

/// A chunked body of `parts`, one chunk each.
fn chunked(parts: &[&str]) -> String {
    let mut out: String = parts
        .iter()
        .map(|p| format!("{:x}\r\n{p}\r\n", p.len()))
        .collect();
    out.push_str("0\r\n\r\n");
    out
}

fn post(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn body_fields_become_upstream_headers() {
    let echo = gw_echo::start("127.0.0.1:0".parse().unwrap()).unwrap();
    for d in DRIVERS {
        let server = start(json_image(echo), d);
        let mut s = client(&server);
        let mut pending = Vec::new();
        let doc = r#"{"name":"ann","pet":{"tags":["x","y"]},"a/b":"slash"}"#;
        s.write_all(&post("/jb", doc)).unwrap();
        let r = read_resp(&mut s, &mut pending, false);
        assert_eq!(r.status, 200, "{d}: {r:?}");
        let t = r.text();
        assert!(t.contains(r#""x-name":"ann""#), "{d}: {t}");
        assert!(t.contains(r#""x-tag":"y""#), "{d}: nested + index: {t}");
        assert!(
            t.contains(r#""x-odd":"slash""#),
            "{d}: escaped pointer: {t}"
        );
        // the next request on the kept connection reads its own body, not the cached one
        s.write_all(&post("/jb", r#"{"name":"bob","pet":{"tags":[]}}"#))
            .unwrap();
        let r = read_resp(&mut s, &mut pending, false);
        let t = r.text();
        assert!(t.contains(r#""x-name":"bob""#), "{d}: {t}");
        assert!(
            !t.contains("x-tag"),
            "{d}: index past the end is absent: {t}"
        );
        assert!(!t.contains("ann"), "{d}: {t}");
        // a non-JSON body: no header, still forwarded as is
        s.write_all(&post("/jb", "name=ann")).unwrap();
        let r = read_resp(&mut s, &mut pending, false);
        assert_eq!(r.status, 200, "{d}: {r:?}");
        let t = r.text();
        assert!(!t.contains("x-name"), "{d}: {t}");
        assert!(t.contains(r#""body":"name=ann""#), "{d}: {t}");
        // a chunked JSON body is buffered and read the same way
        let req = "POST /jb HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        s.write_all(format!("{req}{}", chunked(&[r#"{"name"#, r#"":"cy"}"#])).as_bytes())
            .unwrap();
        let r = read_resp(&mut s, &mut pending, false);
        assert!(r.text().contains(r#""x-name":"cy""#), "{d}: {r:?}");
        server.stop();
    }
}

/// Answers `GET /r/len` with a length-delimited JSON body, `/r/chunked` with a chunked one
/// split mid-token, anything else with plain text. Keep-alive.
fn json_upstream() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || answer(c));
        }
    });
    addr
}

fn answer(mut c: TcpStream) {
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            let mut b = [0u8; 4096];
            match c.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&b[..k]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        n += 1;
        let out = if head.starts_with("GET /r/len ") {
            let body = format!(r#"{{"id":{n},"addr":{{"city":"Oslo"}}}}"#);
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
        } else if head.starts_with("GET /r/chunked ") {
            let parts = [r#"{"id"#, r#"":"c-9","a"#, r#"ddr":{"city":"Lima"}}"#];
            format!(
                "HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n{}",
                chunked(&parts)
            )
        } else {
            "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nnot json!".to_owned()
        };
        if c.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn response_json_fields_become_client_headers() {
    let up = json_upstream();
    for d in DRIVERS {
        let server = start(json_image(up), d);
        let mut s = client(&server);
        let mut pending = Vec::new();
        s.write_all(b"GET /r/len HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let first = read_resp(&mut s, &mut pending, false);
        assert_eq!(first.status, 200, "{d}: {first:?}");
        let id = first.header("x-id").expect("x-id from resp.json./id");
        assert_eq!(first.header("x-city").as_deref(), Some("Oslo"), "{d}");
        assert_eq!(
            first.text(),
            format!(r#"{{"id":{id},"addr":{{"city":"Oslo"}}}}"#)
        );
        // same connection, next response: its own document
        s.write_all(b"GET /r/len HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let second = read_resp(&mut s, &mut pending, false);
        let id2 = second.header("x-id").expect("x-id again");
        assert_ne!(
            id, id2,
            "{d}: a cached document leaked into the next request"
        );
        assert_eq!(
            second.text(),
            format!(r#"{{"id":{id2},"addr":{{"city":"Oslo"}}}}"#)
        );
        // a chunked upstream response, split mid-token
        s.write_all(b"GET /r/chunked HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let r = read_resp(&mut s, &mut pending, false);
        assert_eq!(r.status, 201, "{d}: {r:?}");
        assert_eq!(r.header("x-id").as_deref(), Some("c-9"), "{d}: {r:?}");
        assert_eq!(r.header("x-city").as_deref(), Some("Lima"), "{d}");
        assert_eq!(r.text(), r#"{"id":"c-9","addr":{"city":"Lima"}}"#);
        // not JSON: no headers, body untouched
        s.write_all(b"GET /r/text HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let r = read_resp(&mut s, &mut pending, false);
        assert_eq!(r.status, 200, "{d}: {r:?}");
        assert!(r.header("x-id").is_none(), "{d}: {r:?}");
        assert!(r.header("x-city").is_none(), "{d}: {r:?}");
        assert_eq!(r.text(), "not json!");
        server.stop();
    }
}
