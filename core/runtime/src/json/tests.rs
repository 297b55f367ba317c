use std::sync::Arc;

use gw_program::{Json, Program, Str, Value};

use super::pointer::{array_index, token_is};
use super::*;

fn get(body: &str, ptr: &str) -> Value {
    Doc::default().get(body.as_bytes(), ptr)
}

fn num(n: f64) -> Value {
    Value::Json(Json::Number(n))
}

const PET: &str = r#"{"id": 7, "name": "Rex", "tags": ["a", {"b": [10, 20]}], "owner": null,
    "ok": true, "ratio": 0.5, "a/b": 1, "m~n": 2, "": 3, "nested": {"x": {"y": "deep"}}}"#;

#[test]
fn scalars_convert_to_native_values() {
    assert_eq!(get(PET, "/id"), Value::Int(7));
    assert_eq!(get(PET, "/name"), Value::str("Rex"));
    assert_eq!(get(PET, "/ok"), Value::Bool(true));
    assert_eq!(get(PET, "/ratio"), num(0.5));
    assert_eq!(get(PET, "/owner"), Value::Absent, "null reads as absent");
    assert_eq!(get(PET, "/missing"), Value::Absent);
    assert_eq!(
        get(r#"{"s":"a\"b\\c\u00e9\n"}"#, "/s"),
        Value::str("a\"b\\cé\n")
    );
}

#[test]
fn numbers_beyond_i64_become_json_numbers() {
    assert_eq!(
        get(r#"{"n": -9223372036854775808}"#, "/n"),
        Value::Int(i64::MIN)
    );
    assert_eq!(
        get(r#"{"n": 9223372036854775807}"#, "/n"),
        Value::Int(i64::MAX)
    );
    assert_eq!(
        get(r#"{"n": 9223372036854775808}"#, "/n"),
        num(9_223_372_036_854_775_808.0)
    );
    assert_eq!(
        get(r#"{"n": 18446744073709551615}"#, "/n"),
        num(u64::MAX as f64)
    );
    assert_eq!(get(r#"{"n": 1e3}"#, "/n"), num(1000.0));
    assert_eq!(
        get(r#"{"n": 123456789012345678901234567890}"#, "/n"),
        num(123_456_789_012_345_678_901_234_567_890.0)
    );
}

#[test]
fn nested_pointers_and_array_indices() {
    assert_eq!(get(PET, "/nested/x/y"), Value::str("deep"));
    assert_eq!(get(PET, "/tags/0"), Value::str("a"));
    assert_eq!(get(PET, "/tags/1/b/1"), Value::Int(20));
    assert_eq!(get(PET, "/tags/2"), Value::Absent, "past the end");
    assert_eq!(get(PET, "/tags/-"), Value::Absent);
    assert_eq!(get(PET, "/tags/01"), Value::Absent, "leading zero");
    assert_eq!(get(PET, "/tags/x"), Value::Absent);
    assert_eq!(get(PET, "/name/0"), Value::Absent, "into a string");
    assert_eq!(get("[1, [2, 3]]", "/1/0"), Value::Int(2));
    assert_eq!(get(PET, "nested"), Value::Absent, "a pointer starts with /");
}

#[test]
fn escapes_and_the_empty_key() {
    assert_eq!(get(PET, "/a~1b"), Value::Int(1));
    assert_eq!(get(PET, "/m~0n"), Value::Int(2));
    assert_eq!(get(PET, "/"), Value::Int(3));
    assert_eq!(get(PET, "/a/b"), Value::Absent);
    assert_eq!(get(PET, "/m~n"), Value::Absent, "bare ~ is not an escape");
    assert!(token_is("a~1b~0", "a/b~"));
    assert!(!token_is("a~2", "a~2"));
    assert!(!token_is("a~", "a~"));
    assert!(!token_is("ab", "a"));
    assert!(!token_is("a", "ab"));
    assert!(token_is("", ""));
    assert_eq!(array_index("0"), Some(0));
    assert_eq!(array_index("120"), Some(120));
    assert_eq!(array_index("00"), None);
    assert_eq!(array_index(""), None);
    assert_eq!(array_index("+1"), None);
    assert_eq!(array_index("99999999999999999999999"), None);
}

#[test]
fn objects_and_arrays_become_shared_json() {
    let tags = get(PET, "/tags");
    let want = Json::Array(Arc::from(vec![
        Json::String(Str::new("a")),
        Json::Object(Arc::from(vec![(
            Str::new("b"),
            Json::Array(Arc::from(vec![Json::Number(10.0), Json::Number(20.0)])),
        )])),
    ]));
    assert_eq!(tags, Value::Json(want));
    let whole = get(r#"{"k": [null, false], "v": {}}"#, "");
    let want = Json::Object(Arc::from(vec![
        (
            Str::new("k"),
            Json::Array(Arc::from(vec![Json::Null, Json::Bool(false)])),
        ),
        (Str::new("v"), Json::Object(Arc::from(Vec::new()))),
    ]));
    assert_eq!(whole, Value::Json(want));
    assert_eq!(get("5", ""), Value::Int(5), "a scalar document");
}

#[test]
fn duplicate_keys_take_the_last_value() {
    assert_eq!(
        get(r#"{"a": 1, "b": {"c": 2}, "a": 3}"#, "/a"),
        Value::Int(3)
    );
    assert_eq!(
        get(r#"{"a": {"x": 1}, "a": {"y": 2}}"#, "/a/x"),
        Value::Absent
    );
}

#[test]
fn invalid_json_reads_absent_everywhere() {
    for body in [
        "",
        "hello",
        "{\"a\": 1",
        "{\"a\": 1}}",
        "{'a': 1}",
        "[1,]",
        "nul",
    ] {
        let mut doc = Doc::default();
        assert_eq!(doc.get(body.as_bytes(), ""), Value::Absent, "{body:?}");
        assert_eq!(doc.get(body.as_bytes(), "/a"), Value::Absent, "{body:?}");
    }
    assert_eq!(
        Doc::default().get(b"{\"a\": \"\xff\"}", "/a"),
        Value::Absent,
        "not UTF-8"
    );
}

#[test]
fn parsed_once_and_cached_until_cleared() {
    let mut doc = Doc::default();
    assert_eq!(doc.get(br#"{"a": 1}"#, "/a"), Value::Int(1));
    // the cached document answers, whatever bytes are passed now
    assert_eq!(doc.get(br#"{"a": 2}"#, "/a"), Value::Int(1));
    doc.clear();
    assert_eq!(doc.get(br#"{"a": 2}"#, "/a"), Value::Int(2));
    doc.clear();
    assert_eq!(doc.get(b"nope", "/a"), Value::Absent);
    assert_eq!(
        doc.get(br#"{"a": 3}"#, "/a"),
        Value::Absent,
        "invalid is cached too"
    );
    doc.clear();
    assert_eq!(doc.get(br#"{"a": 4}"#, "/a"), Value::Int(4));
    let mut docs = JsonDocs::default();
    assert_eq!(docs.body.get(br#"{"b": 1}"#, "/b"), Value::Int(1));
    assert_eq!(docs.resp.get(br#"{"b": 2}"#, "/b"), Value::Int(2));
    docs.clear();
    assert_eq!(docs.body.get(br#"{"b": 5}"#, "/b"), Value::Int(5));
}

#[test]
fn load_reads_the_pointer_constant() {
    let prog = Program {
        consts: vec![Value::str("/a/1"), Value::Int(3)],
        ..Program::default()
    };
    let body: &[u8] = br#"{"a": [0, "x"]}"#;
    let mut doc = Doc::default();
    assert_eq!(load(&mut doc, &prog, 0, Some(body)), Value::str("x"));
    assert_eq!(
        load(&mut doc, &prog, 0, None),
        Value::Absent,
        "no buffered body"
    );
    assert_eq!(
        load(&mut doc, &prog, 1, Some(body)),
        Value::Absent,
        "not a pointer"
    );
    assert_eq!(
        load(&mut doc, &prog, 9, Some(body)),
        Value::Absent,
        "no such const"
    );
}

#[test]
fn deep_documents_are_bounded_not_overflowing() {
    // just inside the limit: resolves and converts to a tree
    let depth = MAX_DEPTH - 2;
    let body = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let ptr = "/0".repeat(depth);
    assert_eq!(get(&body, &ptr), Value::Int(1));
    assert!(matches!(get(&body, ""), Value::Json(Json::Array(_))));
    // far beyond it: refused as a whole, no stack overflow
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let depth = 200_000;
        let body = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        assert_eq!(get(&body, ""), Value::Absent);
        assert_eq!(get(&body, "/0"), Value::Absent);
    }
}

#[test]
fn huge_documents_resolve_and_buffers_are_reused() {
    let n = 100_000;
    let items: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"id":{i},"name":"item-{i}","tags":["t{i}"]}}"#))
        .collect();
    let body = format!(r#"{{"items":[{}],"count":{n}}}"#, items.join(","));
    assert!(body.len() > KEEP, "exercises the buffer release path");
    let mut doc = Doc::default();
    assert_eq!(doc.get(body.as_bytes(), "/count"), Value::Int(n));
    assert_eq!(
        doc.get(body.as_bytes(), "/items/99999/name"),
        Value::str("item-99999")
    );
    assert_eq!(doc.get(body.as_bytes(), "/items/100000"), Value::Absent);
    doc.clear();
    assert_eq!(
        doc.nodes.capacity(),
        0,
        "a huge document's nodes are released"
    );
    // the worker's parser still works after releasing its buffers
    assert_eq!(doc.get(br#"{"x": [true]}"#, "/x/0"), Value::Bool(true));
}
