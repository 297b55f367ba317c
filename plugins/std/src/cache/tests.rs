use super::*;

/// A GET request and, in the response phase, the upstream's answer.
#[derive(Default)]
struct Req {
    method: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    status: i64,
    resp_headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
    set: Vec<(String, String)>,
    resp_body: Option<String>,
}

impl Host for Req {
    fn load(&mut self, f: Field) -> Value {
        match f {
            Field::ReqMethod => Value::str(self.method),
            Field::ReqPath => Value::str("/pets"),
            Field::ReqHost => Value::str("api"),
            Field::RespStatus => Value::Int(self.status),
            _ => Value::Absent,
        }
    }
    fn apply(&mut self, e: Effect<'_>) {
        match e {
            Effect::RespSetHeader(n, v) | Effect::RespAppendHeader(n, v) => {
                self.set.push((n.into(), v.into()))
            }
            Effect::RespSetBodyBytes(b) => {
                self.resp_body = Some(String::from_utf8_lossy(b).into_owned())
            }
            _ => {}
        }
    }
    fn call(&mut self, _: u16, _: &[Value]) -> Call {
        Call::Continue
    }
    fn now_ms(&self) -> i64 {
        0
    }
    fn upstream_healthy(&self, _: u16) -> bool {
        true
    }
    fn split_counter(&mut self, _: u16) -> u64 {
        0
    }
    fn request_header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }
    fn for_each_response_header(&self, f: &mut dyn FnMut(&[u8], &[u8])) {
        for (n, v) in &self.resp_headers {
            f(n.as_bytes(), v.as_bytes());
        }
    }
    fn response_body(&self) -> Option<&[u8]> {
        Some(&self.body)
    }
}

fn instance(max_entry: u64) -> Box<dyn Instance> {
    let spec = PluginSpec {
        plugin: "cache".into(),
        state_key: format!("GET /pets#cache#{max_entry}"),
        args: vec![
            ("ttl".into(), Value::Duration(60_000)),
            ("keys".into(), Value::Int(1)),
            ("vary".into(), Value::Int(0)),
            ("max_entry".into(), Value::Size(max_entry)),
        ],
        origin: "t.gw:2:3".into(),
    };
    Cache.build(&spec, None).unwrap().instance(0)
}

fn get(i: &mut Box<dyn Instance>, headers: Vec<(&'static str, &'static str)>) -> (Call, Req) {
    let mut r = Req {
        method: "GET",
        headers,
        ..Req::default()
    };
    (i.call(&mut r, &[Value::str("lookup"), Value::str("10")]), r)
}

fn answer(
    i: &mut Box<dyn Instance>,
    headers: Vec<(&'static str, &'static str)>,
    status: i64,
    resp_headers: Vec<(&'static str, &'static str)>,
    body: &str,
) {
    let mut r = Req {
        method: "GET",
        headers,
        status,
        resp_headers,
        body: body.as_bytes().to_vec(),
        ..Req::default()
    };
    assert_eq!(
        i.call(&mut r, &[Value::str("store"), Value::str("10")]),
        Call::Continue
    );
}

#[test]
fn a_stored_answer_is_served_with_its_fields_and_age() {
    let mut i = instance(1024);
    let (call, r) = get(&mut i, vec![]);
    assert_eq!(call, Call::Continue);
    assert_eq!(r.set, vec![("x-cache".to_owned(), "miss".to_owned())]);
    let json = vec![
        ("Content-Type", "application/json"),
        ("Connection", "close"),
    ];
    answer(&mut i, vec![], 200, json, "[1]");
    let (call, r) = get(&mut i, vec![]);
    assert_eq!(call, Call::Respond(200));
    assert_eq!(r.resp_body.as_deref(), Some("[1]"));
    assert!(
        r.set
            .contains(&("content-type".into(), "application/json".into()))
    );
    assert!(r.set.contains(&("x-cache".into(), "hit".into())));
    assert!(r.set.contains(&("age".into(), "0".into())));
    assert!(!r.set.iter().any(|(n, _)| n == "connection"), "hop-by-hop");
}

#[test]
fn what_may_not_be_kept_is_not() {
    for (status, headers, body) in [
        (500, vec![], "x"),
        (200, vec![("Cache-Control", "no-store")], "x"),
        (200, vec![("Cache-Control", "private")], "x"),
        (200, vec![("Cache-Control", "max-age=abc")], "x"),
        (200, vec![("Set-Cookie", "s=1")], "x"),
        (200, vec![("Vary", "*")], "x"),
        (200, vec![], "a body over max_entry: more than 16 bytes"),
    ] {
        let mut i = instance(16);
        get(&mut i, vec![]);
        answer(&mut i, vec![], status, headers.clone(), body);
        assert_eq!(
            get(&mut i, vec![]).0,
            Call::Continue,
            "{status} {headers:?}"
        );
        // the thread-local store outlives the instance: purge it for the next case
        STORES.with(|m| m.borrow_mut().clear());
    }
}

#[test]
fn vary_keeps_one_answer_per_named_field() {
    let mut i = instance(4096);
    let en = vec![("Accept-Language", "en")];
    let fr = vec![("Accept-Language", "fr")];
    let vary = || vec![("Vary", "accept-language")];
    answer(&mut i, en.clone(), 200, vary(), "hello");
    assert_eq!(get(&mut i, fr.clone()).0, Call::Continue);
    answer(&mut i, fr.clone(), 200, vary(), "bonjour");
    assert_eq!(get(&mut i, en).1.resp_body.as_deref(), Some("hello"));
    assert_eq!(get(&mut i, fr).1.resp_body.as_deref(), Some("bonjour"));
}

#[test]
fn a_reload_keeps_the_workers_entries() {
    let spec = |ttl: u64| PluginSpec {
        plugin: "cache".into(),
        state_key: "GET /pets#cache#reload".into(),
        args: vec![
            ("ttl".into(), Value::Duration(ttl)),
            ("keys".into(), Value::Int(1)),
            ("vary".into(), Value::Int(0)),
        ],
        origin: "t.gw:2:3".into(),
    };
    let old = Cache.build(&spec(60_000), None).unwrap();
    let mut i = old.instance(0);
    answer(&mut i, vec![], 200, vec![], "kept");
    let new = Cache.build(&spec(30_000), Some(old.as_ref())).unwrap();
    let mut j = new.instance(0);
    drop(i);
    assert_eq!(get(&mut j, vec![]).1.resp_body.as_deref(), Some("kept"));
    // purges reach it
    assert!(purge(new.as_ref(), "/pets"));
    assert_eq!(get(&mut j, vec![]).0, Call::Continue);
}

#[test]
fn purge_by_route_reaches_only_that_routes_caches() {
    let spec = |route: &str| PluginSpec {
        plugin: "cache".into(),
        state_key: format!("{route}#cache#0000000000000001"),
        args: vec![
            ("ttl".into(), Value::Duration(60_000)),
            ("keys".into(), Value::Int(1)),
            ("vary".into(), Value::Int(0)),
        ],
        origin: "t.gw:2:3".into(),
    };
    let specs = [spec("GET /pets"), spec("GET /pets/{id}")];
    let factories: Vec<Box<dyn Factory>> = specs
        .iter()
        .map(|s| Cache.build(s, None).unwrap())
        .collect();
    let mut pets = factories[0].instance(0);
    let mut one = factories[1].instance(0);
    answer(&mut pets, vec![], 200, vec![], "all");
    answer(&mut one, vec![], 200, vec![], "one");
    assert_eq!(purge_route(&specs, &factories, "GET /pets"), 1);
    assert_eq!(get(&mut pets, vec![]).0, Call::Continue, "purged");
    assert_eq!(
        get(&mut one, vec![]).0,
        Call::Respond(200),
        "another route's cache"
    );
}
