//! Op sequences of small routes: guards, targets, folding, templates, sets.

use super::*;

#[test]
fn require_else_status_is_a_deny_guard() {
    let img = image(&with_head(&[
        "route GET /a {",
        "  require header.x-role == \"admin\" else 401 \"admins only\"",
        "  upstream app",
        "}",
    ]));
    let p = request(&img, "GET /a");
    assert_eq!(p.ops.len(), 3);
    assert!(matches!(p.ops[0], Op::HdrEqConst { dst: 0, .. }));
    assert_eq!(
        p.ops[1],
        Op::DenyIfNot {
            r: 0,
            status: 401,
            msg: 0
        }
    );
    assert_eq!(p.msgs, ["admins only"]);
    assert_eq!((p.locs[1].line, p.locs[1].col), (4, 3));
}

#[test]
fn guards_jump_forward_and_false_guards_vanish() {
    let img = image(&with_head(&[
        "vars { on = false }",
        "route GET /a {",
        "  set header x-a = \"1\" when has(query.debug)",
        "  set header x-b = \"2\" when var.on",
        "  upstream app",
        "}",
    ]));
    let p = request(&img, "GET /a");
    assert!(matches!(
        p.ops[0],
        Op::LdField {
            field: Field::Query(_),
            ..
        }
    ));
    assert!(matches!(p.ops[1], Op::Has { .. }));
    assert!(matches!(p.ops[2], Op::Jz { off: 1, .. }));
    assert!(matches!(p.ops[3], Op::HdrSetConst { .. }));
    assert!(matches!(p.ops[4], Op::Forward { .. }));
    assert_eq!(p.ops.len(), 5);
}

#[test]
fn guarded_targets_form_a_jump_chain() {
    let img = image(&with_head(&[
        "upstream b { server 127.0.0.1:9001 }",
        "route GET /a {",
        "  upstream b when query.v == \"2\"",
        "  respond 503 when query.down == \"1\"",
        "  upstream app",
        "}",
    ]));
    let p = request(&img, "GET /a");
    let kinds: Vec<&str> = p
        .ops
        .iter()
        .map(|op| match op {
            Op::Jz { .. } => "jz",
            Op::Forward { .. } => "forward",
            Op::Respond { .. } => "respond",
            Op::CmpConst { .. } => "cmp",
            Op::LdField { .. } => "ld",
            _ => "?",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "ld", "cmp", "jz", "forward", "ld", "cmp", "jz", "respond", "forward"
        ]
    );
    assert_eq!(p.ops[2], Op::Jz { r: 1, off: 1 });
    assert_eq!(
        p.ops[7],
        Op::Respond {
            status: 503,
            tpl: NONE,
            json: false
        }
    );
}

#[test]
fn templates_and_constants_fold() {
    let img = image(&with_head(&[
        "vars { region = env(\"REGION\") ?? \"eu-west-1\" }",
        "route GET /a/{id} {",
        "  respond 200 json { id: path.id, region: var.region, n: 1 + 2, ok: \"a\" == \"a\" }",
        "}",
    ]));
    let p = request(&img, "GET /a/{id}");
    assert!(matches!(
        p.ops[0],
        Op::LdField {
            field: Field::PathParam(0),
            ..
        }
    ));
    assert!(matches!(
        p.ops[1],
        Op::Respond {
            status: 200,
            json: true,
            ..
        }
    ));
    let t = &p.templates[0];
    let text: String = t
        .parts
        .iter()
        .map(|x| match x {
            gw_program::TplPart::Text(s) => s.clone(),
            gw_program::TplPart::Reg { r, json } => {
                format!("<r{r}{}>", if *json { "j" } else { "" })
            }
            gw_program::TplPart::Path { r, .. } => format!("<r{r}p>"),
        })
        .collect();
    assert_eq!(
        text,
        r#"{"id":<r0j>,"region":"eu-central-1","n":3,"ok":true}"#
    );
}

#[test]
fn validate_params_retypes_fields() {
    let img = image(&with_head(&[
        "route GET /a {",
        "  validate params { query.limit: int 1..100 = 20 }",
        "  set header x-limit = string(query.limit + 1)",
        "  upstream app",
        "}",
    ]));
    let p = request(&img, "GET /a");
    let spec = img
        .plugins
        .iter()
        .find(|s| s.plugin == "validate.params")
        .unwrap();
    let Some(Value::List(params)) = Value::find(&spec.args, "params") else {
        panic!()
    };
    let Value::List(first) = &params[0] else {
        panic!()
    };
    assert_eq!(first[1], Value::str("int"));
    assert_eq!(
        (first[2].clone(), first[3].clone(), first[4].clone()),
        (Value::Int(1), Value::Int(100), Value::Int(20))
    );
    assert!(p.ops.iter().any(|op| matches!(
        op,
        Op::LdField {
            field: Field::Local(_),
            ..
        }
    )));
    assert!(p.ops.iter().any(|op| matches!(op, Op::Arith { .. })));
}

#[test]
fn ip_sets_use_cidr_tries() {
    let img = image(&with_head(&[
        "route GET /a {",
        "  require !(client.ip in file(\"deny.txt\")) else 403",
        "  require client.ip in [10.0.0.0/8, 192.168.0.0/16] else 403",
        "  upstream app",
        "}",
    ]));
    let p = request(&img, "GET /a");
    assert_eq!(p.cidrs.len(), 2);
    assert!(p.cidrs.iter().all(|c| c.is_normalized()));
    assert!(p.ops.iter().any(|op| matches!(op, Op::InCidr { .. })));
}

#[test]
fn programs_pass_the_verifier_and_the_seed_is_stable() {
    let text = with_head(&["route GET /a { upstream app }"]);
    let a = image(&text);
    let b = image(&text);
    assert_eq!(a.hash_seed, b.hash_seed);
    assert!(gw_program::verify_image(&a).is_ok());
}

#[test]
fn route_timeouts_reach_the_plan() {
    let img = image(&with_head(&[
        "route GET /a {",
        "  timeout connect 250ms request 5s",
        "  upstream app",
        "}",
        "route GET /b {",
        "  timeout 3s",
        "  upstream app",
        "}",
    ]));
    let a = img.routes.iter().find(|r| r.name == "GET /a").unwrap();
    assert_eq!(
        (a.connect_timeout_ms, a.timeout_ms),
        (Some(250), Some(5_000))
    );
    let b = img.routes.iter().find(|r| r.name == "GET /b").unwrap();
    assert_eq!((b.connect_timeout_ms, b.timeout_ms), (None, Some(3_000)));
}

#[test]
fn built_in_strings_are_costed_at_their_own_bounds() {
    let img = image(&with_head(&[
        "route GET /hello {",
        "  respond 200 json { message: \"hello\", request_id: request.id }",
        "}",
        "route GET /who {",
        "  set header x-route = route.name",
        "  respond 200 json { route: route.name, method: req.method, ip: client.ip }",
        "}",
        "route GET /h {",
        "  respond 200 json { accept: header.accept ?? \"\" }",
        "}",
    ]));
    let hello = request(&img, "GET /hello");
    assert!(hello.cost < 400, "cost {}", hello.cost);
    // `{"message":"hello","request_id":` + a quoted 200-byte id + `}`.
    assert_eq!(hello.out_bound, 32 + 202 + 1);
    let who = request(&img, "GET /who");
    let name = "GET /who".len() as u32;
    assert!(who.out_bound < 200, "out bound {}", who.out_bound);
    assert!(
        who.out_bound >= 2 * name + 16 + 39,
        "out bound {}",
        who.out_bound
    );
    // A header value stays at the 8 KiB input bound.
    let h = request(&img, "GET /h");
    assert!(h.cost > 8 * 1024 && h.out_bound > 8 * 1024);
    assert!(gw_program::verify_image(&img).is_ok());
}
