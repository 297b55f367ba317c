//! `gw fmt`: canonical output, idempotence, and the tree kept.

use super::format_source;
use crate::{parse_source, strip_spans};

#[track_caller]
fn fmt(src: &str) -> String {
    let out = format_source("t.gw", src).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(
        format_source("t.gw", &out).as_deref(),
        Ok(out.as_str()),
        "not idempotent"
    );
    let mut a = parse_source("t.gw", src).config;
    let mut b = parse_source("t.gw", &out).config;
    strip_spans(&mut a);
    strip_spans(&mut b);
    assert_eq!(a, b, "tree changed:\n{out}");
    out
}

#[test]
fn canonical_spacing_and_indentation() {
    assert_eq!(
        fmt(
            "upstream   pets{\n      server 10.0.1.10:8080    weight 3\n\tbalance   hash\n}\nroute GET /a {\nrequire  a==1&&b  else 403\n   respond 200\n}\n"
        ),
        "upstream pets {\n  server 10.0.1.10:8080 weight 3\n  balance hash\n}\nroute GET /a {\n  require a == 1 && b else 403\n  respond 200\n}\n"
    );
}

#[test]
fn comments_blank_lines_and_joined_statements_are_kept() {
    let src = "# top\n\n\n\nworkers 2   # two\n# about routes\n\n\nroute GET /a {   # opener\n  # own line\n  set header a = 1;   set header b = 2  # both\n\n\n  respond 200\n  # before close\n}\n# tail\n";
    assert_eq!(
        fmt(src),
        "# top\n\nworkers 2  # two\n# about routes\n\nroute GET /a {  # opener\n  # own line\n  set header a = 1; set header b = 2  # both\n\n  respond 200\n  # before close\n}\n# tail\n"
    );
}

#[test]
fn one_line_blocks_stay_on_one_line() {
    assert_eq!(
        fmt(
            "plan free { rate 10/s  burst 20;   quota 10_000 per month }\nroute GET /h {respond 200 json {status:\"ok\",n:[1,2]}}\ncors {}\n"
        ),
        "plan free { rate 10/s burst 20; quota 10_000 per month }\nroute GET /h { respond 200 json { status: \"ok\", n: [1, 2] } }\ncors {}\n"
    );
}

#[test]
fn multi_line_templates_get_one_field_per_line() {
    assert_eq!(
        fmt(
            "route GET /u {\n  respond 200 json {\n    users: [\n      { id: \"u1\" },\n      { id: \"u2\" }],\n    total: 2 # count\n  } headers { x-a: \"1\" }\n}\n"
        ),
        "route GET /u {\n  respond 200 json {\n    users: [\n      { id: \"u1\" },\n      { id: \"u2\" }\n    ],\n    total: 2  # count\n  } headers { x-a: \"1\" }\n}\n"
    );
}

#[test]
fn parentheses_only_where_the_tree_needs_them() {
    let out = fmt(
        "vars {\n  a = (x + y) * z\n  b = x - (y - z)\n  c = (a ?? b) ?? c\n  d = !(a && b)\n  e = (c ? a : b) ? d : e\n  f = -(1 + 2)\n  g = (1).x\n  h = ((a))\n}\n",
    );
    assert_eq!(
        out,
        "vars {\n  a = (x + y) * z\n  b = x - (y - z)\n  c = (a ?? b) ?? c\n  d = !(a && b)\n  e = (c ? a : b) ? d : e\n  f = -(1 + 2)\n  g = (1).x\n  h = a\n}\n"
    );
}

#[test]
fn literals_and_strings_keep_their_meaning() {
    assert_eq!(
        fmt(
            "vars { a = 10_000; b = 5m; c = 12.5%; d = \"q\\\"{x}{{\\u{e9}\\t\"; e = r\"^\\d+$\"; f = [::1, 10.0.0.0/8] }\n"
        ),
        "vars { a = 10_000; b = 5m; c = 12.5%; d = \"q\\\"{x}{{é\\t\"; e = r\"^\\d+$\"; f = [::1, 10.0.0.0/8] }\n"
    );
}

#[test]
fn statement_forms_round_trip() {
    let src = "route ANY /c/{rest+} websocket {\n  timeout 3s\n  timeout connect 1s request 2s\n  cache { ttl 5s; key [path.rest] }\n  cache ttl 5s key [a.b] vary c.d\n  canary 10% to v2 sticky by header.x\n  canary v2 { weight 5%; force when header.x == \"1\" }\n  set header \"odd.name\" = 1\n  auth any(a, b)\n  retry 2 on connect_error, 502\n  validate params { query.limit: int 1..100 = 20; query.q: list<string>? }\n  upstream a hash by query.room ?? \"lobby\" when has(query.room)\n  on response { set status 201 }\n}\n";
    let out = fmt(src);
    assert_eq!(out, src);
}

#[test]
fn syntax_errors_are_returned() {
    let err = format_source("t.gw", "route GET /x {\n  requre x\n}\n");
    assert_eq!(
        err.map_err(|d| d.iter().map(|d| d.code).collect::<Vec<_>>()),
        Err(vec!["E0101"])
    );
    assert_eq!(format_source("t.gw", ""), Ok(String::new()));
    assert_eq!(
        format_source("t.gw", "# only\r\n\r\n"),
        Ok("# only\n".to_string())
    );
}
