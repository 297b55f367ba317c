//! Table tests of precedence, 405, HEAD, hosts, greedy, trailing slash, params, conflicts.

use super::*;

/// `/a/{x}/b/{p+}/` -> a key.
pub(super) fn key(host: Option<&str>, method: &str, pattern: &str, route: u32) -> RouteKey {
    let body = pattern.strip_prefix('/').expect("patterns start with /");
    let (body, trailing_slash) = match body.strip_suffix('/') {
        Some(b) => (b, true),
        None => (body, false),
    };
    let segments = if body.is_empty() {
        Vec::new()
    } else {
        body.split('/')
            .map(|s| match (s.starts_with('{'), s.ends_with("+}")) {
                (true, true) => PatSeg::Greedy,
                (true, false) => PatSeg::Param,
                _ => PatSeg::Literal(s.to_owned()),
            })
            .collect()
    };
    RouteKey {
        host: host.map(str::to_owned),
        method: method.to_owned(),
        segments,
        trailing_slash,
        route,
    }
}

fn router(routes: &[(Option<&str>, &str, &str)]) -> Router {
    let keys: Vec<RouteKey> = (0u32..)
        .zip(routes)
        .map(|(i, (h, m, p))| key(*h, m, p, i))
        .collect();
    Router::build(&keys).expect("no conflicts")
}

/// A lookup as text: `#route [param, ...]`, `405 Allow`, or `404`.
fn show(r: &Router, host: &str, method: &str, path: &str) -> String {
    let mut params = vec![(9, 9)];
    match r.lookup(host, method, path, &mut params) {
        Lookup::Found { route } => {
            let ps: Vec<&str> = params
                .iter()
                .map(|&(s, e)| &path[s as usize..e as usize])
                .collect();
            format!("#{route} {ps:?}")
        }
        Lookup::MethodNotAllowed { allow } => {
            assert!(params.is_empty());
            format!("405 {allow}")
        }
        Lookup::NotFound => {
            assert!(params.is_empty());
            "404".into()
        }
    }
}

#[test]
fn precedence_table() {
    let r = router(&[
        (None, "GET", "/pets"),                 // 0
        (None, "GET", "/pets/"),                // 1
        (None, "GET", "/pets/{id}"),            // 2
        (None, "GET", "/pets/mine"),            // 3
        (None, "ANY", "/pets/{id}"),            // 4
        (None, "GET", "/pets/{id}/toys/{toy}"), // 5
        (None, "GET", "/files/{p+}"),           // 6
        (None, "GET", "/files/{p+}/"),          // 7
        (None, "GET", "/files/special/{p+}"),   // 8
        (None, "ANY", "/{proxy+}"),             // 9
        (None, "GET", "/a/b/c"),                // 10
        (None, "GET", "/a/{x}/d"),              // 11
        (None, "POST", "/pets"),                // 12
        (None, "HEAD", "/docs"),                // 13
        (None, "GET", "/docs"),                 // 14
        (None, "DELETE", "/pets/{id}"),         // 15
        (None, "GET", "/"),                     // 16
        (None, "GET", "/a/{x}/{y}"),            // 17
        (None, "GET", "/a/{x+}"),               // 18
    ]);
    let cases = [
        ("GET", "/pets", "#0 []"),
        ("GET", "/pets/", "#1 []"),
        ("GET", "/pets/mine", "#3 []"),
        ("GET", "/pets/7", "#2 [\"7\"]"),
        ("POST", "/pets/7", "#4 [\"7\"]"),
        ("DELETE", "/pets/7", "#15 [\"7\"]"),
        // The literal pattern has no DELETE: the param pattern's route serves it.
        ("DELETE", "/pets/mine", "#15 [\"mine\"]"),
        ("PUT", "/pets/mine", "#4 [\"mine\"]"),
        ("GET", "/pets/7/toys/ball", "#5 [\"7\", \"ball\"]"),
        ("GET", "/files/a/b", "#6 [\"a/b\"]"),
        ("GET", "/files/a/b/", "#7 [\"a/b\"]"),
        ("POST", "/files/a/b/", "#9 [\"files/a/b/\"]"),
        ("GET", "/files/special/x", "#8 [\"x\"]"),
        ("GET", "/files/special", "#6 [\"special\"]"),
        ("GET", "/files/", "#9 [\"files/\"]"),
        ("GET", "/files", "#9 [\"files\"]"),
        ("GET", "/a/b/c", "#10 []"),
        ("GET", "/a/b/d", "#11 [\"b\"]"),
        ("GET", "/a/b/e", "#17 [\"b\", \"e\"]"),
        ("GET", "/a/b/e/f", "#18 [\"b/e/f\"]"),
        ("GET", "/a/b", "#18 [\"b\"]"),
        ("HEAD", "/docs", "#13 []"),
        ("HEAD", "/pets", "#0 []"),
        ("HEAD", "/pets/7", "#2 [\"7\"]"),
        ("GET", "/", "#16 []"),
        ("POST", "/", "405 GET, HEAD"),
        ("PUT", "/anything/at/all", "#9 [\"anything/at/all\"]"),
        ("PUT", "/pets", "#9 [\"pets\"]"),
        ("get", "/pets", "#9 [\"pets\"]"),
    ];
    for (method, path, want) in cases {
        assert_eq!(show(&r, "h", method, path), want, "{method} {path}");
    }
}

#[test]
fn method_not_allowed_lists_sorted_methods() {
    let r = router(&[
        (None, "POST", "/pets"),
        (None, "GET", "/pets"),
        (None, "OPTIONS", "/opt"),
        (None, "HEAD", "/head"),
        (None, "delete", "/pets/{id}"),
        (None, "PUT", "/pets/mine"),
    ]);
    assert_eq!(show(&r, "h", "PUT", "/pets"), "405 GET, HEAD, POST");
    assert_eq!(show(&r, "h", "GET", "/opt"), "405 OPTIONS");
    assert_eq!(show(&r, "h", "GET", "/head"), "405 HEAD");
    assert_eq!(show(&r, "h", "HEAD", "/head"), "#3 []");
    // The most specific pattern's methods: `/pets/mine` (PUT), not `/pets/{id}`.
    assert_eq!(show(&r, "h", "GET", "/pets/mine"), "405 PUT");
    assert_eq!(show(&r, "h", "DELETE", "/pets/mine"), "#4 [\"mine\"]");
    assert_eq!(show(&r, "h", "GET", "/pets/7"), "405 DELETE");
    assert_eq!(show(&r, "h", "GET", "/nothing"), "404");
    assert_eq!(show(&r, "h", "GET", "/pets/"), "404");
}

#[test]
fn head_falls_back_to_get_before_any() {
    let r = router(&[
        (None, "ANY", "/x"),
        (None, "GET", "/x"),
        (None, "HEAD", "/y"),
    ]);
    assert_eq!(show(&r, "h", "HEAD", "/x"), "#1 []");
    assert_eq!(show(&r, "h", "POST", "/x"), "#0 []");
    assert_eq!(show(&r, "h", "GET", "/y"), "405 HEAD");
}

#[test]
fn host_precedence() {
    let r = router(&[
        (None, "GET", "/h"),                    // 0
        (Some("*.example.com"), "GET", "/h"),   // 1
        (Some("api.example.com"), "GET", "/h"), // 2
        (Some("*.b.example.com"), "GET", "/h"), // 3
        (Some("API.other.org."), "GET", "/h"),  // 4
    ]);
    let cases = [
        ("api.example.com", "#2 []"),
        ("API.Example.COM:8443", "#2 []"),
        ("api.example.com.", "#2 []"),
        ("x.example.com", "#1 []"),
        ("a.b.example.com", "#3 []"),
        ("b.example.com", "#1 []"),
        ("example.com", "#0 []"),
        ("api.other.org", "#4 []"),
        ("other.org", "#0 []"),
        ("", "#0 []"),
        ("[::1]:80", "#0 []"),
    ];
    for (host, want) in cases {
        assert_eq!(show(&r, host, "GET", "/h"), want, "{host}");
    }
}

#[test]
fn pattern_then_method_then_host() {
    let r = router(&[
        (Some("api.x"), "GET", "/u/{id}"), // 0
        (None, "GET", "/u/me"),            // 1
        (Some("api.x"), "ANY", "/m"),      // 2
        (None, "GET", "/m"),               // 3
        (Some("api.x"), "GET", "/only"),   // 4
        (Some("*.y"), "POST", "/w"),       // 5
        (None, "GET", "/w"),               // 6
    ]);
    assert_eq!(show(&r, "api.x", "GET", "/u/me"), "#1 []");
    assert_eq!(show(&r, "api.x", "GET", "/u/you"), "#0 [\"you\"]");
    assert_eq!(show(&r, "other", "GET", "/u/you"), "404");
    assert_eq!(show(&r, "api.x", "GET", "/m"), "#3 []");
    assert_eq!(show(&r, "api.x", "POST", "/m"), "#2 []");
    assert_eq!(show(&r, "other", "POST", "/m"), "405 GET, HEAD");
    assert_eq!(show(&r, "api.x", "POST", "/only"), "405 GET, HEAD");
    assert_eq!(show(&r, "other", "GET", "/only"), "404");
    assert_eq!(show(&r, "a.y", "PUT", "/w"), "405 GET, HEAD, POST");
    assert_eq!(show(&r, "y", "PUT", "/w"), "405 GET, HEAD");
    assert_eq!(show(&r, "a.y", "POST", "/w"), "#5 []");
}

#[test]
fn trailing_slash_and_greedy_edges() {
    let r = router(&[
        (None, "GET", "/pets"),
        (None, "GET", "/files/{p+}"),
        (None, "GET", "/dir/{p+}/"),
        (None, "GET", "/"),
    ]);
    assert_eq!(show(&r, "h", "GET", "/pets/"), "404");
    assert_eq!(show(&r, "h", "GET", "/files"), "404");
    assert_eq!(show(&r, "h", "GET", "/files/"), "404");
    assert_eq!(show(&r, "h", "GET", "/files/x/"), "#1 [\"x/\"]");
    assert_eq!(show(&r, "h", "GET", "/dir/x"), "404");
    assert_eq!(show(&r, "h", "GET", "/dir/x/y/"), "#2 [\"x/y\"]");
    assert_eq!(show(&r, "h", "GET", "/dir/"), "404");
    // Not normalised, but must not panic.
    for path in [
        "",
        "*",
        "//",
        "///",
        "/files//x",
        "pets",
        "/\u{e9}/x",
        "/files/\u{e9}",
    ] {
        let _ = show(&r, "h", "GET", path);
    }
    assert_eq!(show(&r, "h", "GET", "//"), "404");
    assert_eq!(show(&r, "h", "GET", "pets"), "404");
}

#[test]
fn params_are_byte_ranges_in_pattern_order() {
    let r = router(&[(None, "GET", "/users/{u}/posts/{p}/{rest+}")]);
    let mut params = Vec::new();
    let path = "/users/42/posts/7/a/b";
    assert_eq!(
        r.lookup("h", "GET", path, &mut params),
        Lookup::Found { route: 0 }
    );
    assert_eq!(params, vec![(7, 9), (16, 17), (18, 21)]);
}

#[test]
fn conflicts_ignore_param_names_and_case() {
    let keys = [
        key(None, "GET", "/pets/{id}", 10),
        key(None, "GET", "/pets/{pet_id}", 11),
        key(Some("API.x"), "GET", "/a", 12),
        key(Some("api.x"), "get", "/a", 13),
        key(Some("api.y"), "GET", "/a", 14),
        key(None, "ANY", "/pets/{id}", 15),
        key(None, "GET", "/pets/{x}/", 16),
        key(None, "GET", "/pets/{other}", 17),
        key(Some("*"), "GET", "/", 18),
        key(None, "GET", "/", 19),
    ];
    let err = Router::build(&keys).expect_err("conflicts");
    let got: Vec<(u32, u32)> = err.iter().map(|c| (c.first, c.second)).collect();
    assert_eq!(got, vec![(10, 11), (12, 13), (10, 17), (18, 19)]);
    assert_eq!(got, reference::conflicts(&keys));
}

#[test]
fn invalid_greedy_is_ignored_and_empty_router_finds_nothing() {
    let keys = [RouteKey {
        host: None,
        method: "GET".into(),
        segments: vec![PatSeg::Greedy, PatSeg::Literal("x".into())],
        trailing_slash: false,
        route: 0,
    }];
    let r = Router::build(&keys).expect("ignored, not a conflict");
    assert_eq!(show(&r, "h", "GET", "/a/x"), "404");
    assert_eq!(show(&Router::default(), "h", "GET", "/"), "404");
    assert_eq!(
        show(&Router::build(&[]).expect("empty"), "h", "GET", "/"),
        "404"
    );
}

#[test]
fn many_literal_siblings_switch_to_the_hash_map() {
    let routes: Vec<String> = (0..100).map(|i| format!("/s{i}/x")).collect();
    let spec: Vec<(Option<&str>, &str, &str)> =
        routes.iter().map(|p| (None, "GET", p.as_str())).collect();
    let r = router(&spec);
    for i in 0..100 {
        assert_eq!(
            show(&r, "h", "GET", &format!("/s{i}/x")),
            format!("#{i} []")
        );
    }
    assert_eq!(show(&r, "h", "GET", "/s100/x"), "404");
    assert_eq!(r.patterns(), 100);
}

#[test]
fn router_is_shareable_between_workers() {
    fn shared<T: Send + Sync + Clone>() {}
    shared::<Router>();
}
