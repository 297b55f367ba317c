//! One test per code, order, cost, files and lints (E05xx-E08xx, W01xx): code and line:col.

use super::*;

#[test]
fn e0501_claim_before_auth_has_the_sample_shape() {
    let text = src(&[
        "listen :8080",
        "upstream app { server 127.0.0.1:9000 }",
        "jwt shoppers { issuer \"https://a/\"  jwks \"https://a/jwks\" }",
        "route GET /a {",
        "  throttle 200/s burst 400 by claim.sub",
        "  auth jwt shoppers",
        "  upstream app",
        "}",
    ]);
    let d = diag(&text, "E0501", 5, 31);
    assert_eq!(d.message, "`claim.sub` is not available here");
    assert_eq!(d.label, "claims exist only after `auth jwt`");
    assert_eq!(
        d.secondary[0].message,
        "the token is verified here, one line later"
    );
    assert_eq!(
        d.help,
        ["move `throttle` below `auth jwt shoppers`, or key it by `client.ip`"]
    );
}

#[test]
fn e0502_never_available_here() {
    diag(
        &with_head(&[
            "route GET /a {",
            "  require resp.status == 200",
            "  upstream app",
            "}",
        ]),
        "E0502",
        4,
        11,
    );
    diag(
        &with_head(&[
            "route GET /a websocket {",
            "  buffer body 1KiB",
            "  require body.x == 1",
            "  upstream app",
            "}",
        ]),
        "E0502",
        4,
        3,
    );
}

#[test]
fn e0503_cache_before_checks_and_without_identity() {
    diag(
        &with_head(&[
            "route GET /a {",
            "  cache ttl 60s key [query.q]",
            "  require header.x == \"1\"",
            "  upstream app",
            "}",
        ]),
        "E0503",
        4,
        3,
    );
    diag(
        &with_head(&[
            JWT,
            "route GET /a {",
            "  auth jwt users",
            "  cache ttl 60s key [query.q]",
            "  upstream app",
            "}",
        ]),
        "E0503",
        6,
        3,
    );
    image(&with_head(&[
        JWT,
        "route GET /a {",
        "  auth jwt users",
        "  cache ttl 60s key [query.q] vary claim.sub",
        "  upstream app",
        "}",
    ]));
}

#[test]
fn e0504_plans_need_keys() {
    diag(
        &with_head(&["route GET /a {", "  throttle plan", "  upstream app", "}"]),
        "E0504",
        4,
        3,
    );
    let d = diag(
        &with_head(&[
            "api_keys p { file \"keys/gold.txt\" }",
            "route GET /a { auth api_key p; upstream app }",
        ]),
        "E0504",
        3,
        19,
    );
    assert!(d.message.contains("gold"));
}

#[test]
fn e0505_no_target_and_statements_after_it() {
    diag(
        &with_head(&["route GET /a {", "  set header x = \"1\"", "}"]),
        "E0505",
        3,
        7,
    );
    let d = diag(
        &with_head(&[
            "route GET /a {",
            "  upstream app",
            "  set header x = \"1\"",
            "}",
        ]),
        "E0505",
        5,
        3,
    );
    assert_eq!(d.secondary[0].message, "the target is here");
}

#[test]
fn e0506_unreachable_target() {
    diag(
        &with_head(&[
            "upstream b { server 127.0.0.1:1 }",
            "route GET /a {",
            "  upstream app",
            "  upstream b when query.x == \"1\"",
            "}",
        ]),
        "E0506",
        6,
        3,
    );
}

#[test]
fn e0507_auth_twice() {
    let d = diag(
        &with_head(&[
            JWT,
            "route GET /a {",
            "  auth jwt users",
            "  auth jwt users",
            "  upstream app",
            "}",
        ]),
        "E0507",
        6,
        3,
    );
    assert!(d.help[0].contains("auth any"));
}

#[test]
fn e0601_over_budget() {
    let d = diag(
        &with_head(&[
            "route GET /a {",
            "  budget 100",
            "  require header.x matches r\"^a+$\"",
            "  upstream app",
            "}",
        ]),
        "E0601",
        5,
        3,
    );
    assert!(d.message.contains("budget 100"), "{}", d.message);
    assert!(d.help[0].contains("bound the input"));
}

#[test]
fn e0602_template_over_the_limit() {
    let fields: Vec<String> = (0..10).map(|i| format!("f{i}: header.h{i}")).collect();
    let line = format!("  respond 200 json {{ {} }}", fields.join(", "));
    diag(&with_head(&["route GET /a {", &line, "}"]), "E0602", 4, 20);
}

#[test]
fn e0701_missing_files() {
    diag(
        &src(&[
            "listen :443 tls { cert \"certs/none.pem\"  key \"certs/a.key\" }",
            "route GET /a { respond 200 }",
        ]),
        "E0701",
        1,
        24,
    );
    diag(
        &with_head(&[
            "schema S = file \"schemas/bad.json\"",
            "route POST /a { validate body S; upstream app }",
        ]),
        "E0701",
        3,
        17,
    );
}

#[test]
fn e0702_address_conflicts() {
    diag(
        &src(&[
            "listen :443 tls { cert \"certs/a.pem\"  key \"certs/a.key\" }",
            "listen :443",
            "route GET /a { respond 200 }",
        ]),
        "E0702",
        2,
        8,
    );
    diag(
        &src(&[
            "listen 127.0.0.1:9901",
            "admin 127.0.0.1:9901",
            "route GET /a { respond 200 }",
        ]),
        "E0702",
        2,
        7,
    );
}

#[test]
fn e0703_policy_cycle() {
    diag(
        &with_head(&[
            "policy a { use b }",
            "policy b { use a }",
            "route GET /x { use a; upstream app }",
        ]),
        "E0703",
        4,
        12,
    );
}

#[test]
fn e0801_policy_not_served() {
    let o = Options {
        available_plugins: Some(vec!["jwt".into()]),
        signatures: Vec::new(),
        ..opts()
    };
    let (c, p) = run_with(
        &with_head(&["route GET /a {", "  throttle 5/s", "  upstream app", "}"]),
        &o,
    );
    let d = c.diagnostics.iter().find(|d| d.code == "E0801").unwrap();
    assert_eq!(
        d.message,
        "policy `throttle` is not served by this build yet"
    );
    let (_, line, col) = p.sources.locate(d.span);
    assert_eq!((line, col), (4, 3));
    assert!(c.image.is_none());
}

#[test]
fn w01xx_lints() {
    let text = with_head(&[
        JWT,
        "authorizer z { url \"http://127.0.0.1:1/\"  on_error allow }",
        "route GET /a {",
        "  auth jwt users",
        "  throttle 5/s by client.ip",
        "  require claim.scope contains \"x\" ?? false",
        "  upstream app",
        "}",
        "route GET /f/{rest+} { auth authorizer z; upstream app }",
        "route GET /g/ { upstream app }",
    ]);
    let (c, p) = run(&text);
    let at = |code: &str| {
        c.diagnostics.iter().find(|d| d.code == code).map(|d| {
            let (_, l, col) = p.sources.locate(d.span);
            (l, col)
        })
    };
    assert_eq!(at("W0101"), Some((8, 11)));
    assert_eq!(at("W0102"), Some((7, 19)));
    assert_eq!(at("W0103"), Some((4, 43)));
    assert_eq!(at("W0104"), Some((11, 7)));
    assert_eq!(at("W0105"), Some((12, 7)));
    assert!(c.image.is_some(), "{}", rendered(&c, &p));
}

#[test]
fn e0501_inside_a_policy_names_the_use() {
    let text = with_head(&[
        JWT,
        "policy tag { set header x-t = claim.tenant ?? \"-\" }",
        "route GET /a {",
        "  use tag",
        "  auth jwt users",
        "  upstream app",
        "}",
    ]);
    let d = diag(&text, "E0501", 4, 31);
    assert_eq!(
        d.secondary[0].message,
        "the token is verified here, later in this route"
    );
    assert_eq!(d.help, ["move `use tag` below `auth jwt users`"]);
    assert_eq!(d.notes, ["in policy `tag`, used at line 6"]);
}
