use gw_program::{Builtin, Json, Value};

use super::*;
use crate::testing::TestHost;

fn call_with(func: Builtin, args: &[Value], host: &mut TestHost) -> Result<Value, Fault> {
    let (mut scratch, mut bytes) = (String::new(), Vec::new());
    call(
        func,
        args,
        &mut Env {
            host,
            scratch: &mut scratch,
            bytes: &mut bytes,
        },
    )
}

fn f(func: Builtin, args: &[&str]) -> Result<Value, Fault> {
    let args: Vec<Value> = args.iter().map(|s| Value::str(s)).collect();
    call_with(func, &args, &mut TestHost::default())
}

fn ok(s: &str) -> Result<Value, Fault> {
    Ok(Value::str(s))
}

#[test]
fn case_and_trim() {
    assert_eq!(f(Builtin::Lower, &["Pets-ÉTÉ"]), ok("pets-été"));
    assert_eq!(f(Builtin::Upper, &["abc"]), ok("ABC"));
    assert_eq!(f(Builtin::Trim, &["  a b \t"]), ok("a b"));
    assert_eq!(
        f(Builtin::Len, &["héllo"]),
        Ok(Value::Int(5)),
        "len counts characters"
    );
}

#[test]
fn conversions() {
    assert_eq!(f(Builtin::ToInt, &[" 42 "]), Ok(Value::Int(42)));
    assert_eq!(
        f(Builtin::ToInt, &["4x"]),
        Ok(Value::Absent),
        "int(s)? is absent on failure"
    );
    let mut host = TestHost::default();
    let s = call_with(Builtin::ToString, &[Value::Duration(1500)], &mut host);
    assert_eq!(s, ok("1500ms"));
    let j = call_with(Builtin::ToInt, &[Value::Json(Json::Number(7.0))], &mut host);
    assert_eq!(j, Ok(Value::Int(7)));
}

#[test]
fn url_coding() {
    assert_eq!(f(Builtin::UrlEncode, &["a b/é~"]), ok("a%20b%2F%C3%A9~"));
    assert_eq!(f(Builtin::UrlDecode, &["a%20b%2f%C3%A9+"]), ok("a b/é+"));
    assert_eq!(
        f(Builtin::UrlDecode, &["100%"]),
        ok("100%"),
        "a stray % stays"
    );
    assert_eq!(f(Builtin::UrlDecode, &["%zz%4"]), ok("%zz%4"));
    assert_eq!(
        f(Builtin::UrlDecode, &["%ff"]),
        ok("\u{fffd}"),
        "invalid UTF-8 is replaced"
    );
}

#[test]
fn base64_and_sha256() {
    assert_eq!(f(Builtin::Base64Encode, &["user:pass"]), ok("dXNlcjpwYXNz"));
    assert_eq!(f(Builtin::Base64Decode, &["dXNlcjpwYXNz"]), ok("user:pass"));
    assert_eq!(
        f(Builtin::Base64Decode, &["aGk"]),
        ok("hi"),
        "padding is optional"
    );
    assert_eq!(
        f(Builtin::Base64Decode, &["-_8"]),
        ok("\u{fffd}\u{fffd}"),
        "URL-safe alphabet"
    );
    assert_eq!(
        f(Builtin::Base64Decode, &["not base64!"]),
        Err(Fault::Invalid)
    );
    assert_eq!(
        f(Builtin::Sha256Hex, &["abc"]),
        ok("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
}

#[test]
fn splits() {
    assert_eq!(f(Builtin::SplitFirst, &["a.b.c", "."]), ok("a"));
    assert_eq!(f(Builtin::SplitLast, &["a.b.c", "."]), ok("c"));
    assert_eq!(
        f(Builtin::SplitFirst, &["abc", "."]),
        ok("abc"),
        "no separator: the whole"
    );
    assert_eq!(f(Builtin::SplitLast, &["abc", ""]), ok("abc"));
}

#[test]
fn host_backed_functions() {
    let mut host = TestHost {
        now: 1_700_000_000_000,
        ..TestHost::default()
    };
    host.healthy.insert(1);
    assert_eq!(
        call_with(Builtin::Now, &[], &mut host),
        Ok(Value::Timestamp(1_700_000_000_000))
    );
    let up = |id, host: &mut TestHost| call_with(Builtin::UpstreamHealthy, &[Value::Int(id)], host);
    assert_eq!(up(1, &mut host), Ok(Value::Bool(true)));
    assert_eq!(up(0, &mut host), Ok(Value::Bool(false)));
    assert_eq!(up(-1, &mut host), Err(Fault::Invalid));
    let a = call_with(Builtin::Uuid, &[], &mut host).unwrap();
    let b = call_with(Builtin::Uuid, &[], &mut host).unwrap();
    assert_ne!(a, b);
    assert_eq!(a.as_str().map(str::len), Some(36));
}

#[test]
fn absent_arguments_give_absent() {
    let mut host = TestHost::default();
    for func in [
        Builtin::Lower,
        Builtin::Len,
        Builtin::Sha256Hex,
        Builtin::ToInt,
    ] {
        assert_eq!(
            call_with(func, &[Value::Absent], &mut host),
            Ok(Value::Absent),
            "{func:?}"
        );
    }
    let split = call_with(
        Builtin::SplitFirst,
        &[Value::str("a"), Value::Absent],
        &mut host,
    );
    assert_eq!(split, Ok(Value::Absent));
}

#[test]
fn wrong_types_fault() {
    let mut host = TestHost::default();
    assert_eq!(
        call_with(Builtin::Lower, &[Value::Int(1)], &mut host),
        Err(Fault::Type)
    );
    assert_eq!(
        call_with(Builtin::Len, &[Value::Bool(true)], &mut host),
        Err(Fault::Type)
    );
}
