//! One test per code, names and types (E01xx-E04xx): code and line:col.

use super::*;

#[test]
fn e0103_minutes_where_a_size_is_expected() {
    let d = diag(
        &with_head(&["route POST /a {", "  buffer body 1m", "  upstream app", "}"]),
        "E0103",
        4,
        15,
    );
    assert_eq!(d.help, ["write `1MiB` or `1min`"]);
}

#[test]
fn e0201_unknown_claim_has_the_sample_shape() {
    let d = diag(
        &with_head(&[
            JWT,
            "route GET /a {",
            "  auth jwt users",
            "  require claim.emial == \"ops@example.com\"",
            "  upstream app",
            "}",
        ]),
        "E0201",
        6,
        11,
    );
    assert_eq!(d.message, "unknown claim `emial`");
    assert_eq!(d.label, "not a claim of `jwt users`");
    assert_eq!(d.help, ["did you mean `claim.email`?"]);
    assert!(
        d.notes[0].starts_with("claims are declared in `jwt users { claims { … } }` (t.gw:3)"),
        "{:?}",
        d.notes
    );
}

#[test]
fn e0201_unknown_names_of_every_kind() {
    let text = with_head(&[
        "route GET /a {",
        "  use signed_in",
        "  set header x = lowr(\"a\")",
        "  require heder.x == \"1\"",
        "  upstream ap",
        "}",
        "upstream b { server 127.0.0.1:1  balanse round_robin }",
    ]);
    let (c, p) = run(&text);
    let at: Vec<(u32, u32)> = c
        .diagnostics
        .iter()
        .filter(|d| d.code == "E0201")
        .map(|d| {
            let (_, l, col) = p.sources.locate(d.span);
            (l, col)
        })
        .collect();
    assert!(at.contains(&(4, 7)), "policy: {at:?}");
    assert!(at.contains(&(5, 18)), "function: {at:?}");
    assert!(at.contains(&(6, 11)), "field: {at:?}");
    assert!(at.contains(&(7, 12)), "upstream: {at:?}");
    assert!(at.contains(&(9, 34)), "setting: {at:?}");
    let up = c
        .diagnostics
        .iter()
        .find(|d| d.message.contains("`ap`"))
        .unwrap();
    assert_eq!(up.help, ["did you mean `app`?"]);
}

#[test]
fn e0202_duplicate_with_first_defined_here() {
    let d = diag(
        &with_head(&[
            "upstream app { server 127.0.0.1:9001 }",
            "route GET /a { upstream app }",
        ]),
        "E0202",
        3,
        10,
    );
    assert_eq!(d.secondary[0].message, "first defined here");
}

#[test]
fn e0203_undeclared_claim() {
    let d = diag(
        &with_head(&[
            JWT,
            "route GET /a {",
            "  auth jwt users",
            "  require claim.department == \"x\"",
            "  upstream app",
            "}",
        ]),
        "E0203",
        6,
        11,
    );
    assert_eq!(d.help, ["declare it in `jwt users { claims { … } }`"]);
}

#[test]
fn w0204_unused_declaration_keeps_the_image() {
    let (c, p) = run(&with_head(&[
        "upstream old { server 127.0.0.1:1 }",
        "route GET /a { upstream app }",
    ]));
    let w = c.diagnostics.iter().find(|d| d.code == "W0204").unwrap();
    assert_eq!(p.sources.locate(w.span).1, 3);
    assert!(c.image.is_some());
}

#[test]
fn w0204_skips_declarations_named_by_failing_statements() {
    let (c, p) = run(&with_head(&[
        "jwt users { issuer \"https://a.example/\"; jwks \"https://a.example/jwks.json\" }",
        "jwt admins { issuer \"https://b.example/\"; jwks \"https://b.example/jwks.json\" }",
        "upstream spare { server 127.0.0.1:1 }",
        "upstream idle { server 127.0.0.1:2 }",
        "schema pet = file \"schemas/pet.json\"",
        "route GET /a {",
        "  auth jwt users",
        "  auth jwt admins",
        "  upstream app",
        "}",
        "route GET /b {",
        "  respond 200 text \"x\"",
        "  upstream spare",
        "}",
        "route GET /c {",
        "  validate body pet when nosuch.y == \"1\"",
        "  upstream app",
        "}",
    ]));
    let all = rendered(&c, &p);
    for code in ["E0507", "E0506", "E0505"] {
        assert!(all.contains(code), "{code} missing:\n{all}");
    }
    let unused: Vec<&str> = c
        .diagnostics
        .iter()
        .filter(|d| d.code == "W0204")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(unused, ["upstream `idle` is never used"], "{all}");
}

#[test]
fn e0301_mismatched_types() {
    diag(
        &with_head(&[
            "route GET /a {",
            "  validate params { query.limit: int }",
            "  require query.limit > \"10\"",
            "  upstream app",
            "}",
        ]),
        "E0301",
        5,
        11,
    );
    diag(
        &with_head(&[
            "route GET /a {",
            "  throttle 5/s by [\"a\"]",
            "  upstream app",
            "}",
        ]),
        "E0301",
        4,
        19,
    );
}

#[test]
fn e0302_optional_without_default() {
    let d = diag(
        &with_head(&[
            "route GET /a {",
            "  set header x = lower(header.y)",
            "  upstream app",
            "}",
        ]),
        "E0302",
        4,
        24,
    );
    assert!(d.help[0].contains("header.y ??"));
    // `has()` in the guard narrows.
    image(&with_head(&[
        "route GET /a {",
        "  set header x = lower(header.y) when has(header.y)",
        "  upstream app",
        "}",
    ]));
}

#[test]
fn e0303_bad_regexes() {
    diag(
        &with_head(&[
            "route GET /a {",
            "  require header.x matches r\"(a\"",
            "  upstream app",
            "}",
        ]),
        "E0303",
        4,
        28,
    );
    diag(
        &with_head(&[
            "route GET /a {",
            "  require header.x matches header.y",
            "  upstream app",
            "}",
        ]),
        "E0303",
        4,
        28,
    );
}

#[test]
fn e0304_out_of_range_values() {
    diag(
        &with_head(&[
            "route GET /a {",
            "  throttle 5/s burst 0",
            "  upstream app",
            "}",
        ]),
        "E0304",
        4,
        22,
    );
    diag(
        &with_head(&[
            "upstream b { server 127.0.0.1:1 }",
            "route GET /a {",
            "  upstream app",
            "  canary b { weight 0% }",
            "}",
        ]),
        "E0304",
        6,
        21,
    );
    diag(
        &with_head(&[
            "authorizer z { url \"http://127.0.0.1:1/\"  ttl 7200s }",
            "route GET /a { auth authorizer z; upstream app }",
        ]),
        "E0304",
        3,
        47,
    );
    diag(
        &with_head(&["route GET /a { respond 700 }"]),
        "E0304",
        3,
        24,
    );
}

#[test]
fn e0401_overlapping_routes() {
    let d = diag(
        &with_head(&[
            "route GET /pets/{id} { upstream app }",
            "route GET /pets/{pet_id} { upstream app }",
        ]),
        "E0401",
        4,
        7,
    );
    assert_eq!(d.label, "this route can never be selected");
    assert_eq!(d.secondary[0].message, "first defined here");
    assert_eq!(
        d.help,
        ["parameter names do not distinguish routes; merge the two routes"]
    );
}

#[test]
fn e0402_invalid_patterns() {
    diag(
        &with_head(&["route GET /a/{rest+}/b { upstream app }"]),
        "E0402",
        3,
        15,
    );
    diag(
        &with_head(&["route GET /a/{id}/{id} { upstream app }"]),
        "E0402",
        3,
        20,
    );
}

#[test]
fn e0403_path_param_not_in_pattern() {
    let d = diag(
        &with_head(&[
            "route GET /pets/{id} {",
            "  set header x = path.pet_id",
            "  upstream app",
            "}",
        ]),
        "E0403",
        4,
        18,
    );
    assert_eq!(d.label, "the pattern has no `{pet_id}`");
}
