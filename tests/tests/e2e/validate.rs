//! `validate body` and `validate params`: problem+json answers (400, 415), the body limit
//! (413, chunked too), `on error 400` reshaping them, `body.*` read from the validated body,
//! and a schema that is not a schema refused at start and on reload.

use std::fs;
use std::time::Duration;

use crate::support::client::Response;
use crate::support::gw::{TempDir, run_expecting_exit};
use crate::support::*;

on_both_drivers! {
    bodies_are_validated_with_problem_documents => bodies_are_validated_with_problem_documents_uring, bodies_are_validated_with_problem_documents_epoll;
    bad_bodies_have_defined_answers => bad_bodies_have_defined_answers_uring, bad_bodies_have_defined_answers_epoll;
    an_on_error_page_reshapes_the_problem => an_on_error_page_reshapes_the_problem_uring, an_on_error_page_reshapes_the_problem_epoll;
    params_are_typed_with_defaults => params_are_typed_with_defaults_uring, params_are_typed_with_defaults_epoll;
    params_one_of_a_list_or_matching_a_pattern => params_one_of_a_list_or_matching_a_pattern_uring, params_one_of_a_list_or_matching_a_pattern_epoll;
    a_schema_that_is_not_a_schema_is_refused_and_reload_keeps_the_old_config => a_schema_that_is_not_a_schema_is_refused_and_reload_keeps_the_old_config_uring, a_schema_that_is_not_a_schema_is_refused_and_reload_keeps_the_old_config_epoll;
}

const PET: &str = r#"{
  "$schema": "http://json-schema.org/draft-04/schema#",
  "type": "object",
  "required": ["name", "age"],
  "properties": {
    "name": {"type": "string", "maxLength": 8},
    "age": {"type": "integer", "minimum": 0},
    "owner": {"$ref": "owner.json#/definitions/owner"}
  },
  "additionalProperties": false
}"#;

const OWNER: &str = r#"{"definitions": {"owner": {"type": "object", "required": ["id"],
  "properties": {"id": {"type": "string", "minLength": 2}}}}}"#;

/// Schema files in a directory of their own, and the config lines that use them.
fn schemas(dir: &TempDir) -> String {
    fs::write(dir.path().join("pet.json"), PET).unwrap();
    fs::write(dir.path().join("owner.json"), OWNER).unwrap();
    format!(
        "limits {{ body 64KiB }}\nschema Pet = file \"{}\"\n",
        dir.path().join("pet.json").display()
    )
}

fn post(c: &mut Client, ctype: &str, body: &[u8]) -> Response {
    c.request("POST", "/pets", &[("content-type", ctype)], body)
}

fn problem(r: &Response) -> serde_json::Value {
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    r.json()
}

fn bodies_are_validated_with_problem_documents(d: Driver) {
    let dir = TempDir::new();
    let up = Upstream::echo("pets");
    let config = format!(
        "{}{}route POST /pets {{\n  validate body Pet\n  set header x-pet = body.name\n  upstream pets\n}}\n",
        schemas(&dir),
        upstream_block("pets", &[up.addr()], "")
    );
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    let ok = br#"{"name":"Rex","age":3,"owner":{"id":"o1"}}"#;
    let r = post(&mut c, "application/json", ok);
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = up.single();
    assert_eq!(seen.header("x-pet"), Some("Rex"));
    assert_eq!(seen.body, ok);

    let r = post(
        &mut c,
        "application/json",
        br#"{"name":"Rexanderthegreat","age":-1,"owner":{"id":"o"},"colour":"red"}"#,
    );
    assert_eq!(r.status, 400);
    let doc = problem(&r);
    assert_eq!(doc["status"], 400);
    assert_eq!(doc["title"], "Request body does not match schema `Pet`");
    let mut got: Vec<String> = doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["pointer"].as_str().unwrap(),
                e["keyword"].as_str().unwrap()
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            " additionalProperties",
            "/age minimum",
            "/name maxLength",
            "/owner/id minLength"
        ]
    );
    assert!(doc["requestId"].is_string());
    // nothing invalid reached the upstream, and the connection is still usable
    assert_eq!(up.count(), 1);
    assert_eq!(post(&mut c, "application/json", ok).status, 200);
}

fn bad_bodies_have_defined_answers(d: Driver) {
    let dir = TempDir::new();
    let config = format!(
        "{}route POST /pets {{\n  validate body Pet\n  respond 200 json {{ name: body.name }}\n}}\n",
        schemas(&dir)
    );
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    let deep_ok_size = "[".repeat(32 * 1024);
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "valid",
            "application/json",
            br#"{"name":"Rex","age":3}"#.to_vec(),
            200,
            "",
        ),
        (
            "not JSON",
            "application/json",
            b"name=Rex&age=3".to_vec(),
            415,
            "not-json",
        ),
        (
            "truncated",
            "application/json",
            br#"{"name":"Rex","age":"#.to_vec(),
            415,
            "not-json",
        ),
        ("empty", "application/json", Vec::new(), 415, "not-json"),
        (
            "invalid UTF-8",
            "application/json",
            b"{\"name\":\"R\xffx\",\"age\":3}".to_vec(),
            415,
            "not-json",
        ),
        (
            "beyond f64",
            "application/json",
            br#"{"name":"Rex","age":1e400}"#.to_vec(),
            415,
            "not-json",
        ),
        (
            "duplicate keys",
            "application/json",
            br#"{"name":"Rex","age":3,"age":-1}"#.to_vec(),
            400,
            "invalid-body",
        ),
        (
            "deep nesting",
            "application/json",
            deep_ok_size.into_bytes(),
            400,
            "invalid-body",
        ),
        (
            "wrong content type",
            "text/plain",
            br#"{"name":"Rex","age":3}"#.to_vec(),
            415,
            "unsupported-media-type",
        ),
        (
            "+json content type",
            "application/vnd.pet+json",
            br#"{"name":"Rex","age":3}"#.to_vec(),
            200,
            "",
        ),
    ];
    for (what, ctype, body, status, kind) in cases {
        let r = post(&mut c, ctype, &body);
        assert_eq!(r.status, status, "{what}: {}", r.text());
        if status == 200 {
            assert_eq!(r.json()["name"], "Rex", "{what}");
        } else {
            let doc = problem(&r);
            assert_eq!(doc["type"], format!("urn:gw:problem:{kind}"), "{what}");
            assert_eq!(doc["status"], status, "{what}");
        }
    }
    // past the 64 KiB limit: by Content-Length before the body is read, and chunked as it
    // arrives (10 MB of nesting announced either way)
    let big = vec![b'['; 10 << 20];
    let mut c = gw.connect();
    c.send(&build_request(
        "POST",
        "/pets",
        &[("content-type", "application/json")],
        &big[..70 * 1024],
    ));
    assert_eq!(c.read_response("POST").unwrap().status, 413);
    let mut c = gw.connect();
    let head = "POST /pets HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    let mut req = head.as_bytes().to_vec();
    req.extend_from_slice(&chunked(&big[..200 * 1024], 16 * 1024));
    // gw may answer and close before taking every byte
    let _ = c.try_send(&req);
    assert_eq!(c.read_response("POST").unwrap().status, 413);
    // the server is still serving
    let mut c = gw.connect();
    assert_eq!(
        post(&mut c, "application/json", br#"{"name":"Rex","age":3}"#).status,
        200
    );
}

fn an_on_error_page_reshapes_the_problem(d: Driver) {
    let dir = TempDir::new();
    let config = format!(
        "{}route POST /pets {{\n  validate body Pet\n  respond 200 json {{ ok: true }}\n}}\non error 400 {{\n  body json {{ failed: true, status: error.status }}\n}}\n",
        schemas(&dir)
    );
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    let r = post(&mut c, "application/json", br#"{"name":"Rex"}"#);
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.json(), serde_json::json!({"failed": true, "status": 400}));
    // 415 has no page: the problem document stays
    let r = post(&mut c, "text/plain", b"x");
    assert_eq!(r.status, 415);
    assert_eq!(problem(&r)["status"], 415);
}

fn params_are_typed_with_defaults(d: Driver) {
    let config = "route GET /pets/{id} {\n  validate params {\n    path.id: uuid\n    query.limit: int 1..100 = 20\n    query.q: string?\n    header.x-dry: bool = false\n  }\n  respond 200 json { id: path.id, limit: query.limit, q: query.q ?? \"-\", dry: header.x-dry }\n}\n";
    let gw = Gw::start(d, config);
    let mut c = gw.connect();
    let id = "123e4567-e89b-12d3-a456-426614174000";
    let r = c.get(&format!("/pets/{id}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"id": id, "limit": 20, "q": "-", "dry": false})
    );
    let r = c.request(
        "GET",
        &format!("/pets/{id}?limit=100&q=cat"),
        &[("x-dry", "true")],
        b"",
    );
    assert_eq!(
        r.json(),
        serde_json::json!({"id": id, "limit": 100, "q": "cat", "dry": true})
    );
    for (target, dry, failures) in [
        ("/pets/not-a-uuid", "false", vec![("path.id", "type")]),
        (
            &*format!("/pets/{id}?limit=0"),
            "false",
            vec![("query.limit", "minimum")],
        ),
        (
            &*format!("/pets/{id}?limit=101"),
            "false",
            vec![("query.limit", "maximum")],
        ),
        (
            &*format!("/pets/{id}?limit=ten"),
            "yes",
            vec![("query.limit", "type"), ("header.x-dry", "type")],
        ),
    ] {
        let r = c.request("GET", target, &[("x-dry", dry)], b"");
        assert_eq!(r.status, 400, "{target}");
        let doc = problem(&r);
        assert_eq!(doc["title"], "Request parameters are invalid");
        let got: Vec<(String, String)> = doc["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["parameter"].as_str().unwrap().into(),
                    e["keyword"].as_str().unwrap().into(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = failures
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want, "{target}");
    }
}

fn a_schema_that_is_not_a_schema_is_refused_and_reload_keeps_the_old_config(d: Driver) {
    let dir = TempDir::new();
    let bad = dir.path().join("bad.json");
    fs::write(&bad, r#"{"type": "thing"}"#).unwrap();
    let route = "route POST /pets {\n  validate body Pet\n  respond 200 json { ok: true }\n}\n";
    let f = run_expecting_exit(
        d,
        &format!(
            "listen 127.0.0.1:{}\nschema Pet = file \"{}\"\n{route}",
            free_port(),
            bad.display()
        ),
    );
    assert!(!f.status.success());
    assert!(f.stderr.contains("is not a valid schema"), "{}", f.stderr);

    let config = format!("{}{route}", schemas(&dir));
    let gw = Gw::start(d, &config);
    let mut c = gw.connect();
    let ok = br#"{"name":"Rex","age":3}"#;
    assert_eq!(post(&mut c, "application/json", ok).status, 200);
    fs::write(dir.path().join("pet.json"), r#"{"required": "name"}"#).unwrap();
    gw.proc.signal("HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !gw.stderr().contains("is not a valid schema") {
        assert!(
            std::time::Instant::now() < deadline,
            "no reload failure logged:\n{}",
            gw.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut c = gw.connect();
    assert_eq!(post(&mut c, "application/json", ok).status, 200);
    assert_eq!(post(&mut c, "application/json", b"{}").status, 400);
}

fn params_one_of_a_list_or_matching_a_pattern(d: Driver) {
    let config = "route GET /rates {\n  validate params {\n    query.sort: string in [\"asc\", \"desc\"] = \"asc\"\n    query.currency: string matches r\"^[A-Z]{3}$\"\n  }\n  respond 200 json { sort: query.sort, currency: query.currency }\n}\n";
    let gw = Gw::start(d, config);
    let mut c = gw.connect();
    let r = c.get("/rates?currency=EUR");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["sort"], "asc", "the default");
    assert_eq!(
        c.get("/rates?sort=desc&currency=USD").json()["sort"],
        "desc"
    );
    let r = c.get("/rates?sort=sideways&currency=euro");
    assert_eq!(r.status, 400);
    let doc = problem(&r);
    let errors: Vec<(String, String)> = doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["parameter"].as_str().unwrap().to_owned(),
                e["keyword"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            ("query.sort".to_owned(), "enum".to_owned()),
            ("query.currency".to_owned(), "pattern".to_owned())
        ]
    );
    // what cannot hold is refused when the config compiles
    for (bad, why) in [
        (
            "query.sort: string in [\"asc\"] = \"up\"",
            "is not one of the values",
        ),
        ("query.code: string matches \"([a-z\"", "is not a pattern"),
        (
            "query.code: string matches \"^[A-Z]{3}$\"",
            "write a pattern",
        ),
        ("query.n: int in [\"1\"]", "refine `string`"),
    ] {
        let f = run_expecting_exit(
            d,
            &format!(
                "listen 127.0.0.1:1\nroute GET /x {{\n  validate params {{ {bad} }}\n  respond 200\n}}\n"
            ),
        );
        assert!(f.stderr.contains(why), "{bad}: {}", f.stderr);
        assert!(f.stderr.contains("E0304"), "{}", f.stderr);
    }
}
