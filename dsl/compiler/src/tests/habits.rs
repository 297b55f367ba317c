//! Diagnostics for habits from nginx and Kong configs, `hash by` without `balance hash`,
//! optional vars from `env()`, and W0107 (`/{proxy+}` while `/` matches no route).

use super::*;

fn codes_of(text: &str) -> Vec<&'static str> {
    run(text).0.diagnostics.iter().map(|d| d.code).collect()
}

#[test]
fn a_server_without_port_or_host_says_what_to_write() {
    let text = src(&[
        "listen :8080",
        "upstream app {",
        "  server localhost",
        "  server 10.0.0.1 weight 2",
        "  server ::1",
        "  server 9000",
        "  server \"b.internal:8080\"",
        "}",
        "route GET /a { upstream app }",
    ]);
    let (c, p) = run(&text);
    let got: Vec<(u32, &str)> = c
        .diagnostics
        .iter()
        .map(|d| (p.sources.locate(d.span).1, d.help[0].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (3, "add a port: write `localhost:80`"),
            (4, "add a port: write `10.0.0.1:80`"),
            (5, "add a port: write `[::1]:80`"),
            (6, "write `127.0.0.1:9000` or `backend.internal:9000`"),
            (7, "write `b.internal:8080` without quotes"),
        ],
        "{}",
        rendered(&c, &p)
    );
    assert!(c.diagnostics.iter().all(|d| d.code == "E0304"));
}

#[test]
fn timeout_words_are_checked_where_they_are_written() {
    // In a route the grammar reads `read 5s` as a phase; it used to set the request timeout.
    let d = diag(
        &with_head(&[
            "route GET /a {",
            "  timeout connect 1s read 5s",
            "  upstream app",
            "}",
        ]),
        "E0201",
        4,
        22,
    );
    assert_eq!(d.message, "unknown timeout `read` in a route");
    assert_eq!(
        d.help,
        ["`timeout` in a route takes `connect` and `request`: `timeout connect 1s request 10s`"]
    );
    let d = diag(
        &src(&[
            "listen :8080",
            "upstream app { server 127.0.0.1:9000; timeout conect 1s }",
            "route GET /a { upstream app }",
        ]),
        "E0201",
        2,
        47,
    );
    assert_eq!(d.message, "unknown timeout `conect` in an upstream");
    assert_eq!(d.help[0], "did you mean `connect`?");
    // What `timeout` does take still compiles.
    let img = image(&with_head(&[
        "route GET /a { timeout connect 1s request 5s; upstream app }",
    ]));
    let r = &img.routes[0];
    assert_eq!(
        (r.connect_timeout_ms, r.timeout_ms),
        (Some(1000), Some(5000))
    );
}

#[test]
fn header_fields_spelt_as_elsewhere_get_the_gw_spelling() {
    let text = with_head(&[
        "route GET /a {",
        "  set header a = req.headers.x ?? \"\"",
        "  set header b = request.header.x ?? \"\"",
        "  upstream app",
        "  on response {",
        "    set header c = resp.headers.x-id ?? \"\"",
        "    set header d = resp.headers[\"x\"] ?? \"\"",
        "    set header e = resp.header ?? \"\"",
        "  }",
        "}",
    ]);
    let (c, p) = run(&text);
    let help: Vec<&str> = c.diagnostics.iter().map(|d| d.help[0].as_str()).collect();
    assert_eq!(
        help,
        [
            "did you mean `header.x`?",
            "did you mean `header.x`?",
            "did you mean `resp.header.x-id`?",
            "did you mean `resp.header[\"x\"]`?",
            "name the header: `resp.header.content-type`",
        ],
        "{}",
        rendered(&c, &p)
    );
}

#[test]
fn hash_by_needs_an_upstream_that_balances_by_hash() {
    for mode in [
        "",
        "balance round_robin",
        "balance least_request",
        "balance random",
    ] {
        let text = src(&[
            "listen :8080",
            &format!("upstream app {{ server 127.0.0.1:9000; {mode} }}"),
            "route GET /a { upstream app hash by header.x ?? \"\" }",
        ]);
        let d = diag(&text, "E0304", 3, 29);
        assert_eq!(d.message, "upstream `app` does not balance by hash");
        assert_eq!(d.help, ["add `balance hash` to upstream `app`"]);
    }
    // The canary side is forwarded with the same key.
    let text = src(&[
        "listen :8080",
        "upstream a { server 127.0.0.1:9000; balance hash }",
        "upstream b { server 127.0.0.1:9001 }",
        "route GET /a {",
        "  upstream a hash by header.x ?? \"\"",
        "  canary b { weight 10% }",
        "}",
    ]);
    let d = diag(&text, "E0304", 5, 14);
    assert_eq!(d.help, ["add `balance hash` to upstream `b`"]);
    let ok = src(&[
        "listen :8080",
        "upstream a { server 127.0.0.1:9000; balance hash }",
        "route GET /a { upstream a hash by header.x ?? \"\" }",
    ]);
    image(&ok);
}

#[test]
fn an_optional_var_is_e0302_whether_or_not_the_variable_is_set() {
    let text = src(&[
        "listen :8080",
        "vars {",
        "  token = env(\"TOKEN\")",
        "  host  = env(\"UP_HOST\") ?? \"app.internal\"",
        "}",
        "jwt users { issuer var.token; jwks \"https://a.example/jwks.json\" }",
        "upstream app { server 127.0.0.1:9000; host var.token }",
        "route GET /a {",
        "  auth jwt users",
        "  set header authorization = var.token",
        "  set query t = var.token",
        "  set header x-up = var.host",
        "  set header x-t = \"t={var.token ?? \"none\"}\"",
        "  set header x-has = var.token  when has(var.token)",
        "  upstream app",
        "}",
    ]);
    let at = |env: Option<&'static str>| {
        let o = Options {
            available_plugins: None,
            signatures: Vec::new(),
            env: Box::new(move |k| env.filter(|_| k == "TOKEN").map(str::to_string)),
            base_dir: fixtures(),
        };
        let (c, p) = run_with(&text, &o);
        let found: Vec<(&str, u32, u32)> = c
            .diagnostics
            .iter()
            .map(|d| {
                let (_, l, col) = p.sources.locate(d.span);
                (d.code, l, col)
            })
            .collect();
        (found, c.image.is_none())
    };
    let want = vec![
        ("E0302", 6, 20),
        ("E0302", 7, 44),
        ("E0302", 10, 30),
        ("E0302", 11, 17),
    ];
    assert_eq!(at(None), (want.clone(), true));
    assert_eq!(at(Some("s3cret")), (want, true));
    let d = diag(&text, "E0302", 10, 30);
    assert_eq!(
        d.secondary[0].message,
        "`token` is defined here as `string?`"
    );
    // `vars` themselves may be optional; a `+` or an interpolation of one may not.
    let (c, _) = run(&src(&[
        "listen :8080",
        "vars { a = env(\"A\"); b = var.a + \"x\"; c = \"{var.a}\" }",
        "route GET /a { respond 200 json { b: var.b, c: var.c } }",
    ]));
    let e0302 = c.diagnostics.iter().filter(|d| d.code == "E0302").count();
    assert_eq!(e0302, 2);
}

#[test]
fn w0107_a_root_catch_all_without_a_route_for_the_root() {
    let d = diag(
        &with_head(&["route ANY /{proxy+} { upstream app }"]),
        "W0107",
        3,
        7,
    );
    assert_eq!(d.message, "`/` matches no route");
    assert_eq!(
        d.help,
        ["add `route ANY / { … }` (same statements) to serve `/` too"]
    );
    let w = |lines: &[&str]| {
        codes_of(&with_head(lines))
            .into_iter()
            .filter(|c| *c == "W0107")
            .count()
    };
    // Any method of the catch-all; `/` served under any method (405 for the others).
    assert_eq!(w(&["route GET /{p+} { upstream app }"]), 1);
    assert_eq!(
        w(&[
            "route ANY /{p+} { upstream app }",
            "route ANY / { upstream app }"
        ]),
        0
    );
    assert_eq!(
        w(&[
            "route GET /{p+} { upstream app }",
            "route POST / { upstream app }"
        ]),
        0
    );
    // Hosts: a host's catch-all needs `/` on that host, or a `/` route of no host.
    let host = |inner: &str, outer: &str| {
        w(&[
            &format!("host \"a.example\" {{\n  route ANY /{{p+}} {{ upstream app }}\n{inner}}}"),
            outer,
        ])
    };
    assert_eq!(host("", ""), 1);
    assert_eq!(host("  route GET / { upstream app }\n", ""), 0);
    assert_eq!(host("", "route ANY / { upstream app }"), 0);
    assert_eq!(
        host(
            "",
            "host \"b.example\" {\n  route ANY / { upstream app }\n}"
        ),
        1
    );
    // Only the root: `/a/{p+}` is W0104's.
    assert_eq!(w(&["route ANY /a/{p+} { upstream app }"]), 0);
}
