use std::cell::Cell;

use gw_program::{Field, Program, Value};
use gw_proto::{HeadLimits, RequestHead, Status};
use gw_vm::{Call, Effect, Host};

use super::*;
use crate::edits::Edits;

const REQ: &[u8] = b"GET /pets/42?limit=5&name=a%20b HTTP/1.1\r\nHost: api.example.com:8080\r\nX-Api-Key: k1\r\nCookie: a=1; session=xyz\r\n\r\n";

fn parse() -> RequestHead {
    let mut head = RequestHead::default();
    let st = gw_proto::parse_request(REQ, &HeadLimits::default(), &mut head).unwrap();
    assert!(matches!(st, Status::Complete(_)));
    head
}

fn prog() -> Program {
    Program {
        consts: vec![
            Value::str("x-api-key"),
            Value::str("limit"),
            Value::str("session"),
            Value::str("name"),
        ],
        ..Program::default()
    }
}

struct Fixture {
    head: RequestHead,
    prog: Program,
    edits: Edits,
    denial: crate::edits::Denial,
    policy: Option<u16>,
    pending: Option<gw_plugin::PendingOp>,
    split: Vec<Cell<u64>>,
    slots: Vec<crate::slot::Slot>,
    locals: Vec<Value>,
    json: crate::json::JsonDocs,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            head: parse(),
            prog: prog(),
            edits: Edits::default(),
            denial: Default::default(),
            policy: None,
            pending: None,
            split: vec![Cell::new(0), Cell::new(0)],
            slots: Vec::new(),
            locals: Vec::new(),
            json: Default::default(),
        }
    }

    fn host(&mut self) -> ReqHost<'_> {
        ReqHost {
            prog: &self.prog,
            req: ReqView {
                hb: REQ,
                head: &self.head,
                path: "/pets/42",
                params: &[(6, 8)],
                client: "10.1.2.3".parse().unwrap(),
                request_id: "rid",
                route: None,
                tls: false,
                client_subject: None,
            },
            edits: &mut self.edits,
            denial: &mut self.denial,
            policy: &mut self.policy,
            slots: &self.slots,
            pending: &mut self.pending,
            resp: None,
            error: None,
            body: None,
            split: &self.split,
            healthy: &|up| up == 0,
            now_ms: Cell::new(Some(1234)),
            arrived: std::time::Instant::now(),
            hash_seed: 99,
            locals: &mut self.locals,
            json: &mut self.json,
            http: None,
        }
    }
}

#[test]
fn loads_request_fields() {
    let mut f = Fixture::new();
    let mut h = f.host();
    assert_eq!(h.load(Field::ReqMethod), Value::str("GET"));
    assert_eq!(h.load(Field::ReqPath), Value::str("/pets/42"));
    assert_eq!(h.load(Field::ReqHost), Value::str("api.example.com"));
    assert_eq!(h.load(Field::PathParam(0)), Value::str("42"));
    assert_eq!(h.load(Field::PathParam(1)), Value::Absent);
    assert_eq!(h.load(Field::Header(0)), Value::str("k1"));
    assert_eq!(h.load(Field::Query(1)), Value::str("5"));
    assert_eq!(h.load(Field::Query(3)), Value::str("a b"));
    assert_eq!(h.load(Field::Query(0)), Value::Absent);
    assert_eq!(h.load(Field::Cookie(2)), Value::str("xyz"));
    assert_eq!(
        h.load(Field::ClientIp),
        Value::Ip("10.1.2.3".parse().unwrap())
    );
    assert_eq!(h.load(Field::RequestId), Value::str("rid"));
    assert_eq!(h.load(Field::RespStatus), Value::Absent);
    assert_eq!(h.now_ms(), 1234);
    assert_eq!(h.hash_seed(), 99);
    assert!(h.upstream_healthy(0));
    assert!(!h.upstream_healthy(1));
}

#[test]
fn effects_and_split_counters() {
    let mut f = Fixture::new();
    let mut h = f.host();
    h.apply(Effect::SetHeader("x-user", "u1"));
    h.apply(Effect::RewritePath("/v2"));
    assert_eq!(
        (h.split_counter(0), h.split_counter(0), h.split_counter(1)),
        (0, 1, 0)
    );
    assert_eq!(
        h.split_counter(2),
        2,
        "ids share counters modulo the table size"
    );
    let _ = h;
    assert_eq!(f.edits.req_headers.set_value(b"x-user"), Some(&b"u1"[..]));
    assert_eq!(f.edits.get(f.edits.path.unwrap()), "/v2");
}

struct Counter(u32);

impl gw_plugin::Instance for Counter {
    fn call(&mut self, host: &mut dyn Host, _args: &[Value]) -> Call {
        self.0 += 1;
        host.apply(Effect::SetHeader("x-count", "1"));
        host.set_local(2, Value::str("alice"));
        if self.0 == 1 {
            let handed = host.pend(Box::pin(async {
                let done: gw_plugin::Completion = Box::new(|_| Call::Continue);
                done
            }));
            assert!(handed);
            // a second operation for one call is refused
            assert!(!host.pend(Box::pin(async {
                let done: gw_plugin::Completion = Box::new(|_| Call::Continue);
                done
            })));
            Call::Pending
        } else {
            Call::Continue
        }
    }
}

#[test]
fn plugin_calls_dispatch_by_slot_and_hand_over_their_operation() {
    let mut f = Fixture::new();
    f.slots = vec![crate::slot::Slot::new(Box::new(Counter(0)))];
    let mut h = f.host();
    assert_eq!(h.call(0, &[]), Call::Pending);
    assert_eq!(h.call(0, &[]), Call::Continue);
    assert_eq!(
        h.call(7, &[]),
        Call::Deny {
            status: 500,
            retry_after: None
        }
    );
    assert_eq!(h.load(Field::Local(2)), Value::str("alice"));
    assert_eq!(h.load(Field::Local(0)), Value::Absent);
    h.set_local(60_000, Value::Bool(true));
    assert_eq!(h.load(Field::Local(60_000)), Value::Absent);
    let _ = h;
    assert!(f.pending.is_some(), "the request holds the operation");
    assert_eq!(f.edits.req_headers.set_value(b"x-count"), Some(&b"1"[..]));
}

#[test]
fn plugins_read_named_parameters_and_cookies_and_describe_denials() {
    let mut f = Fixture::new();
    let mut h = f.host();
    assert_eq!(h.request_query("name"), Value::str("a b"));
    assert_eq!(h.request_query("nope"), Value::Absent);
    assert_eq!(h.request_cookie("session"), Value::str("xyz"));
    assert_eq!(h.request_cookie("sess"), Value::Absent);
    h.apply(Effect::DenyHeader("www-authenticate", "Bearer"));
    h.apply(Effect::DenyHeader("bad name", "x"));
    h.apply(Effect::DenyReason("expired"));
    h.apply(Effect::DenyBody("application/problem+json", "{}"));
    assert!(
        f.edits.resp_headers.is_empty(),
        "denial effects are not edits"
    );
    let added: Vec<_> = f.denial.headers.added().collect();
    assert_eq!(added, [(&b"www-authenticate"[..], &b"Bearer"[..])]);
    assert_eq!(f.denial.reason, "expired");
    assert_eq!(
        f.denial.body,
        Some(("application/problem+json".into(), b"{}".to_vec()))
    );
    // a call starts with no account of a denial
    let mut h = f.host();
    assert_eq!(
        h.call(7, &[]),
        Call::Deny {
            status: 500,
            retry_after: None
        }
    );
    assert!(f.denial.reason.is_empty() && f.denial.body.is_none());
}

#[test]
fn host_without_port_handles_ipv6() {
    assert_eq!(host_without_port("a.b:80"), "a.b");
    assert_eq!(host_without_port("[::1]:80"), "[::1]");
    assert_eq!(host_without_port("a.b"), "a.b");
    assert_eq!(host_without_port(""), "");
}

#[test]
fn plugins_read_headers_by_name_in_order_and_the_request_id() {
    let mut f = Fixture::new();
    let h = f.host();
    let host: &dyn Host = &h;
    assert_eq!(host.request_header(b"x-api-key"), Some(&b"k1"[..]));
    assert_eq!(host.request_header(b"x-none"), None);
    let mut names = Vec::new();
    host.for_each_request_header(&mut |n, _| names.push(String::from_utf8_lossy(n).into_owned()));
    assert_eq!(names.first().map(String::as_str), Some("Host"));
    assert_eq!(names.len(), f_headers());
    assert_eq!(host.request_id(), "rid");
    assert_eq!(
        host.response_header(b"server"),
        None,
        "no response in the request phase"
    );
}

/// How many header fields the fixture's request has.
fn f_headers() -> usize {
    parse().headers.len()
}
