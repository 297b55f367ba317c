//! The trace host's helpers: query and cookie reads, Host ports, edits, stub values.

use super::*;

#[test]
fn query_values_are_decoded_and_cookies_found() {
    assert_eq!(query_value("a=1&q=a%20b+c", "q"), Some(Value::str("a b c")));
    assert_eq!(query_value("flag&x=%zz", "flag"), Some(Value::str("")));
    assert_eq!(query_value("x=%zz", "x"), Some(Value::str("%zz")));
    assert_eq!(query_value("a=1", "b"), None);
    let req = Request {
        headers: vec![("cookie".into(), "a=1;  session=s-9 ".into())],
        ..Request::default()
    };
    assert_eq!(cookie(&req, "session"), Value::str("s-9"));
    assert_eq!(cookie(&req, "none"), Value::Absent);
}

#[test]
fn hosts_lose_their_port_only() {
    assert_eq!(host_without_port("api.example.com:8080"), "api.example.com");
    assert_eq!(host_without_port("[::1]:80"), "[::1]");
    assert_eq!(host_without_port("[::1]"), "[::1]");
    assert_eq!(host_without_port("example.com"), "example.com");
}

#[test]
fn edits_replace_remove_and_fail_closed() {
    let mut headers = vec![("X-A".to_string(), "1".to_string())];
    set_pair(&mut headers, "x-a", Some("2"), true);
    assert_eq!(headers, [("x-a".to_string(), "2".to_string())]);
    set_pair(&mut headers, "x-a", None, true);
    assert!(headers.is_empty());
    assert!(field_value("a\tb"));
    assert!(!field_value("a\r\nx-evil: 1"));
    let e = Edits {
        resp_headers: vec![
            ("vary".into(), Some("Origin".into()), true),
            ("server".into(), None, false),
        ],
        ..Edits::default()
    };
    let mut out = vec![("server".to_string(), "x".to_string())];
    e.apply_resp_headers(&mut out);
    assert_eq!(out, [("vary".to_string(), "Origin".to_string())]);
}

#[test]
fn a_stub_identity_has_a_value_for_each_required_type() {
    assert_eq!(stub_value("string"), Some(Value::str("stub")));
    assert_eq!(
        stub_value("list<string>"),
        Some(Value::List(Vec::new().into()))
    );
    assert_eq!(stub_value("int?"), None);
    assert_eq!(stub_value("json"), None);
    assert_eq!(clip(&"x".repeat(300)).chars().count(), 201);
}
