use super::*;

type Want = Result<&'static str, &'static str>;
type Pairs = &'static [(&'static [u8], &'static [u8])];

#[test]
fn normalisation_table() {
    let table: &[(&[u8], Result<&str, &str>)] = &[
        (b"/", Ok("/")),
        (b"", Ok("/")),
        (b"/a/b", Ok("/a/b")),
        (b"/a/b/", Ok("/a/b/")),
        (b"/admin/../public", Ok("/public")),
        (b"/a/%2e%2e/b", Ok("/b")),
        (b"/a/%2E%2E/b", Ok("/b")),
        (b"/a/.%2e/b", Ok("/b")),
        (b"/a/%2e/b", Ok("/a/b")),
        (b"//x", Ok("/x")),
        (b"/a//b///c", Ok("/a/b/c")),
        (b"/a/./b", Ok("/a/b")),
        (b"/%2Fetc", Ok("/%2Fetc")),
        (b"/%2fetc/passwd", Ok("/%2Fetc/passwd")),
        (b"/a%2F..%2Fb", Ok("/a%2F..%2Fb")),
        (b"/..", Ok("/")),
        (b"/../../a", Ok("/a")),
        (b"/a/..", Ok("/")),
        (b"/a/b/..", Ok("/a/")),
        (b"/a/b/.", Ok("/a/b/")),
        (b"/a/b/./", Ok("/a/b/")),
        (b"/a/...", Ok("/a/...")),
        (b"/a/..b/.c", Ok("/a/..b/.c")),
        (b"/%7Euser/%41%62%2D%5f", Ok("/~user/Ab-_")),
        (b"/caf%c3%a9", Ok("/caf%C3%A9")),
        (b"/a%3a%3Ab", Ok("/a%3A%3Ab")),
        (b"/a%20b", Ok("/a%20b")),
        (b"/a;b=c/d", Ok("/a;b=c/d")),
        (b"/a/%25", Ok("/a/%25")),
        (b"/a/%252e%252e/", Ok("/a/%252e%252e/")),
        (b"/a/..;/admin", Err("dot segment with parameters")),
        (b"/a/.;x/admin", Err("dot segment with parameters")),
        (b"/a/%2e%2e;x/admin", Err("dot segment with parameters")),
        (b"/%00", Err("NUL in path")),
        (b"/a%zz", Err("invalid percent-escape")),
        (b"/a%4", Err("invalid percent-escape")),
        (b"/a%", Err("invalid percent-escape")),
        (b"/a%g0", Err("invalid percent-escape")),
        (b"a/b", Err("path does not start with /")),
        (b"*", Err("path does not start with /")),
        (b"/a\\..\\b", Err("backslash in path")),
        (b"/a b", Err("invalid character in path")),
        (b"/a\xc3\xa9", Err("invalid character in path")),
        (b"/a\x00", Err("invalid character in path")),
    ];
    let mut out = String::from("stale");
    for (raw, want) in table {
        let got = normalize_path(raw, &mut out).map(|()| out.as_str());
        let want = want.map_err(ProtoError::BadRequest);
        assert_eq!(got, want, "{}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn fast_path_agrees_with_the_general_case() {
    let inputs: &[&[u8]] = &[
        b"/",
        b"/bench",
        b"/api/v1/items/42",
        b"/a/b/",
        b"/file.json",
        b"/a.b/c..d/e.",
        b"/a;b=c/d",
        b"/.hidden",
        b"/a/..",
        b"/a//b",
        b"//",
        b"/a%41",
        b"/a\\b",
        b"/a b",
        b"/caf\xc3\xa9",
        b"/a\x7f",
        b"a/b",
        b"",
        b"/~user/x-y_z",
    ];
    for raw in inputs {
        let mut general = String::from("stale");
        let want = normalize_segments(raw, &mut general).map(|()| general.clone());
        let mut got = String::from("stale");
        let got = normalize_path(raw, &mut got).map(|()| got);
        assert_eq!(got, want, "{}", String::from_utf8_lossy(raw));
        let mut copy = String::from("stale");
        if copy_if_normal(raw, &mut copy) {
            assert_eq!(want.as_deref(), Ok(std::str::from_utf8(raw).unwrap()));
            assert_eq!(copy.as_bytes(), *raw);
        }
    }
    let mut out = String::new();
    assert!(copy_if_normal(b"/api/v1/file.json", &mut out));
    assert!(!copy_if_normal(b"/a/./b", &mut out) && !copy_if_normal(b"/a//b", &mut out));
}

#[test]
fn normal_form_is_stable() {
    // Normalising twice changes nothing: the router and the upstream agree.
    let inputs: &[&[u8]] = &[
        b"/a/%2e%2e/b/",
        b"//x/./y/../z",
        b"/%7e%2f%41",
        b"/a/b/c/../../d",
        b"/",
    ];
    for raw in inputs {
        let mut once = String::new();
        normalize_path(raw, &mut once).unwrap();
        let mut twice = String::new();
        normalize_path(once.as_bytes(), &mut twice).unwrap();
        assert_eq!(once, twice);
    }
}

#[test]
fn components() {
    let table: &[(&[u8], Want, Want)] = &[
        (b"abc", Ok("abc"), Ok("abc")),
        (b"a%20b+c", Ok("a b+c"), Ok("a b c")),
        (b"%2F%2f", Ok("//"), Ok("//")),
        (b"caf%C3%A9", Ok("caf\u{e9}"), Ok("caf\u{e9}")),
        (b"", Ok(""), Ok("")),
        (
            b"%00",
            Err("NUL in URI component"),
            Err("NUL in URI component"),
        ),
        (
            b"%zz",
            Err("invalid percent-escape"),
            Err("invalid percent-escape"),
        ),
        (
            b"%4",
            Err("invalid percent-escape"),
            Err("invalid percent-escape"),
        ),
        (
            b"%C3",
            Err("URI component is not UTF-8"),
            Err("URI component is not UTF-8"),
        ),
        (
            b"\xff",
            Err("URI component is not UTF-8"),
            Err("URI component is not UTF-8"),
        ),
    ];
    let mut out = String::from("stale");
    for (raw, want_component, want_query) in table {
        let what = String::from_utf8_lossy(raw);
        let got = percent_decode_component(raw, &mut out).map(|()| out.clone());
        assert_eq!(
            got,
            want_component
                .map(String::from)
                .map_err(ProtoError::BadRequest),
            "{what}"
        );
        if got.is_err() {
            assert!(out.is_empty(), "{what}: output cleared on error");
        }
        let got = percent_decode_query(raw, &mut out).map(|()| out.clone());
        assert_eq!(
            got,
            want_query.map(String::from).map_err(ProtoError::BadRequest),
            "{what}"
        );
    }
}

#[test]
fn query_pair_table() {
    let table: &[(&[u8], Pairs)] = &[
        (b"", &[]),
        (b"a=1", &[(b"a", b"1")]),
        (b"a=1&b=2", &[(b"a", b"1"), (b"b", b"2")]),
        (b"a&b=", &[(b"a", b""), (b"b", b"")]),
        (b"&&a=1&&", &[(b"a", b"1")]),
        (b"a=b=c", &[(b"a", b"b=c")]),
        (b"=v", &[(b"", b"v")]),
        (b"x=%41+b", &[(b"x", b"%41+b")]),
    ];
    for (q, want) in table {
        let got: Vec<(&[u8], &[u8])> = query_pairs(q).collect();
        assert_eq!(got, want.to_vec(), "{}", String::from_utf8_lossy(q));
    }
}

#[test]
fn path_chars_found_after_normalisation() {
    let table: &[(&[u8], &[&str])] = &[
        (b"/admin/x", &[]),
        (b"/public%2f..%2fadmin/x", &["%2F"]),
        (b"/admin;x=1/x", &[";"]),
        (b"/;/admin/x", &[";"]),
        (b"/%5Cadmin/x", &["%5C"]),
        (b"/a%3bb/%25/%3F%23", &["%3B", "%25", "%3F", "%23"]),
        (b"/%41%2e%7E", &[]),
    ];
    for (raw, want) in table {
        let mut out = String::new();
        normalize_path(raw, &mut out).unwrap();
        let got: Vec<&str> = PathChars::of(out.as_bytes()).tokens().collect();
        assert_eq!(&got, want, "{}", String::from_utf8_lossy(raw));
    }
    assert_eq!(PathChars::from_token("%2f"), Some(PathChars::ENCODED_SLASH));
    assert_eq!(PathChars::from_token("%00"), None);
    let both = PathChars::ENCODED_SLASH.union(PathChars::SEMICOLON);
    assert_eq!(both.without(PathChars::SEMICOLON), PathChars::ENCODED_SLASH);
    assert!(both.without(both).is_empty());
}

#[test]
fn path_values_cannot_split_or_climb() {
    let enc = |s: &str, segments: bool| {
        let mut out = String::new();
        push_path_encoded(s, segments, &mut out);
        out
    };
    assert_eq!(
        enc("a HTTP/1.1\r\nHost: t\r\n\r\nGET /smug", false),
        "a%20HTTP%2F1.1%0D%0AHost:%20t%0D%0A%0D%0AGET%20%2Fsmug"
    );
    assert_eq!(enc("../admin", false), "..%2Fadmin");
    assert_eq!(enc("a/b c", true), "a/b%20c");
    assert_eq!(enc("x;y?z#w%25\\", true), "x%3By%3Fz%23w%2525%5C");
    assert_eq!(enc("é+~", false), "%C3%A9+~");
}

#[test]
fn forward_paths_stay_one_line_below_their_prefix() {
    for ok in [
        "/",
        "/v2/a%2Fb",
        "/x/.hidden/y",
        "/x/..a/b",
        "/a/b/",
        "/x/...",
        "/a//b",
    ] {
        assert_eq!(check_forward_path(ok.as_bytes()), Ok(()), "{ok}");
    }
    for bad in [
        "x/a",
        "",
        "/a b",
        "/a\r\nHost: x",
        "/x/../admin",
        "/x/%2e%2E/admin",
        "/x/.%2e",
        "/x/./a",
        "/x/..",
        "/a%zz",
        "/a%0",
        "/a%00",
        "/a\\b",
        "/a?b",
        "/a#b",
    ] {
        assert!(check_forward_path(bad.as_bytes()).is_err(), "{bad:?}");
    }
}
