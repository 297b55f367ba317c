use std::sync::Arc;

use super::*;
use crate::image::{RoutePlan, Upstream};
use crate::program::{Loc, Template, TplPart};

fn spec(plugin: &str, state_key: &str, args: Vec<(&str, Value)>) -> PluginSpec {
    PluginSpec {
        plugin: plugin.into(),
        state_key: state_key.into(),
        args: args.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        origin: String::new(),
    }
}

fn loc(line: u32, col: u32) -> Loc {
    Loc {
        line,
        col,
        note: u16::MAX,
    }
}

/// A `route POST /pets` shaped like grammar/examples/petstore.gw's, assembled op for op.
fn petstore() -> ConfigImage {
    let rate = |count| Value::Rate {
        count,
        per_ms: 1000,
    };
    let plugins = vec![
        spec(
            "throttle",
            "POST /pets#0",
            vec![("rate", rate(50)), ("burst", Value::Int(100))],
        ),
        spec("jwt", "users", vec![]),
        spec(
            "validate.body",
            "NewPet",
            vec![("name", Value::str("NewPet"))],
        ),
        spec(
            "throttle",
            "POST /pets#3",
            vec![("rate", rate(5)), ("burst", Value::Int(10))],
        ),
    ];
    let mut req = Program {
        name: "route POST /pets".into(),
        file: "petstore.gw".into(),
        line: 74,
        regs: 3,
        consts: vec![
            Value::Bool(false),
            Value::str("pets:write"),
            Value::str("x-user-id"),
            Value::str("public"),
            Value::str("x-tenant"),
            Value::str("authorization"),
        ],
        msgs: vec!["email not verified".into()],
        notes: vec!["policy signed_in, used at 75:3".into()],
        locals: vec![
            "claim.email_verified".into(),
            "auth.scopes".into(),
            "claim.sub".into(),
            "claim.tenant".into(),
        ],
        out_bound: 312,
        ..Program::default()
    };
    let note = |line, col| Loc { line, col, note: 0 };
    let ops_locs = vec![
        (
            Op::LdField {
                dst: 0,
                field: Field::ClientIp,
            },
            note(50, 30),
        ),
        (
            Op::Call {
                slot: 0,
                arg: 0,
                argc: 1,
            },
            loc(50, 3),
        ),
        (
            Op::Call {
                slot: 1,
                arg: 0,
                argc: 0,
            },
            loc(51, 3),
        ),
        (
            Op::LdField {
                dst: 0,
                field: Field::Local(0),
            },
            loc(52, 11),
        ),
        (Op::CoalesceConst { dst: 0, a: 0, k: 0 }, loc(52, 11)),
        (
            Op::DenyIfNot {
                r: 0,
                status: 403,
                msg: 0,
            },
            loc(52, 3),
        ),
        (
            Op::LdField {
                dst: 1,
                field: Field::Local(1),
            },
            loc(76, 27),
        ),
        (
            Op::InListConst {
                dst: 0,
                k: 1,
                list: 1,
            },
            loc(76, 11),
        ),
        (
            Op::DenyIfNot {
                r: 0,
                status: 403,
                msg: NONE,
            },
            loc(76, 3),
        ),
        (
            Op::Call {
                slot: 2,
                arg: 0,
                argc: 0,
            },
            loc(77, 3),
        ),
        (
            Op::LdField {
                dst: 0,
                field: Field::Local(2),
            },
            loc(78, 28),
        ),
        (
            Op::Call {
                slot: 3,
                arg: 0,
                argc: 1,
            },
            loc(78, 3),
        ),
        (Op::HdrSet { h: 2, r: 0 }, loc(79, 3)),
        (
            Op::LdField {
                dst: 1,
                field: Field::Local(3),
            },
            loc(80, 26),
        ),
        (Op::CoalesceConst { dst: 1, a: 1, k: 3 }, loc(80, 26)),
        (Op::HdrSet { h: 4, r: 1 }, loc(80, 3)),
        (Op::HdrDel { h: 5 }, loc(81, 3)),
        (
            Op::Forward {
                up: 0,
                hash: NO_REG,
            },
            loc(82, 3),
        ),
    ];
    (req.ops, req.locs) = ops_locs.into_iter().unzip();
    req.cost = crate::cost::program_cost(&req);

    let mut resp = Program {
        name: "route POST /pets".into(),
        file: "petstore.gw".into(),
        regs: 3,
        consts: vec![Value::Int(201), Value::str("/id"), Value::str("location")],
        templates: vec![Template {
            parts: vec![
                TplPart::Text("/pets/".into()),
                TplPart::Reg { r: 0, json: false },
            ],
            display: "\"/pets/{r0}\"".into(),
        }],
        out_bound: 2048,
        ..Program::default()
    };
    let ops_locs = vec![
        (
            Op::LdField {
                dst: 0,
                field: Field::RespStatus,
            },
            loc(84, 56),
        ),
        (
            Op::CmpConst {
                dst: 1,
                op: CmpOp::Ne,
                a: 0,
                k: 0,
            },
            loc(84, 56),
        ),
        (Op::Jnz { r: 1, off: 5 }, loc(84, 51)),
        (
            Op::LdField {
                dst: 0,
                field: Field::RespJson(1),
            },
            loc(84, 82),
        ),
        (Op::Has { dst: 1, a: 0 }, loc(84, 78)),
        (Op::Jz { r: 1, off: 2 }, loc(84, 51)),
        (Op::TplBuild { dst: 2, tpl: 0 }, loc(84, 27)),
        (Op::RespHdrSet { h: 2, r: 2 }, loc(84, 5)),
        (Op::Done, loc(85, 3)),
    ];
    (resp.ops, resp.locs) = ops_locs.into_iter().unzip();
    resp.cost = crate::cost::program_cost(&resp);

    let route = RoutePlan {
        name: "POST /pets".into(),
        method: "POST".into(),
        pattern: "/pets".into(),
        request: Arc::new(req),
        response: Some(Arc::new(resp)),
        buffer_body: true,
        buffer_response: true,
        ..RoutePlan::default()
    };
    let upstream = Upstream {
        name: "pets".into(),
        servers: vec![],
        balance: Default::default(),
        connect_timeout: None,
        request_timeout: None,
        health: None,
        max_fails: 3,
        fail_on: Default::default(),
        fail_timeout: 10_000,
        host_header: None,
    };
    ConfigImage {
        upstreams: vec![upstream],
        plugins,
        routes: vec![route],
        ..ConfigImage::default()
    }
}

#[test]
fn disasm_matches_the_language_reference_shape() {
    let img = petstore();
    assert_eq!(crate::verify::verify_image(&img), Ok(()));
    let req_cost = group_thousands(img.routes[0].request.cost);
    let resp_cost = group_thousands(img.routes[0].response.as_ref().unwrap().cost);
    let want = format!(
        "\
route POST /pets   petstore.gw:74   request: 18 ops · 3 regs · cost {req_cost} · out ≤ 312 B
  settings: timeout 29s (default) · connect 5s (default) · retry off · budget 100 000 (default) · body ≤ 10 MiB (default), buffered · cors off (none declared) · path strict (default)
  0000  ld.field      r0, client.ip                 ; 50:30  (policy signed_in, used at 75:3)
  0001  throttle      bucket#0 50/s b100 [scope node], r0 ; 50:3
  0002  auth.jwt      jwt#1 users [key token · 401] ; 51:3
  0003  ld.claim      r0, email_verified            ; 52:11
  0004  coalesce      r0, r0, false                 ; 52:11
  0005  deny.ifnot    r0, 403, msg#0                ; 52:3
  0006  ld.field      r1, auth.scopes               ; 76:27
  0007  in.list.const r0, \"pets:write\", r1          ; 76:11
  0008  deny.ifnot    r0, 403, -                    ; 76:3
  0009  validate.body schema#2 NewPet               ; 77:3
  0010  ld.claim      r0, sub                       ; 78:28
  0011  throttle      bucket#3 5/s b10 [scope node], r0 ; 78:3
  0012  hdr.set       \"x-user-id\", r0               ; 79:3
  0013  ld.claim      r1, tenant                    ; 80:26
  0014  coalesce      r1, r1, \"public\"              ; 80:26
  0015  hdr.set       \"x-tenant\", r1                ; 80:3
  0016  hdr.del       \"authorization\"               ; 81:3
  0017  forward       up#0 pets                     ; 82:3
route POST /pets   response: 9 ops · 3 regs · cost {resp_cost} · out ≤ 2 KiB
  0000  ld.field      r0, resp.status               ; 84:56
  0001  ne.const      r1, r0, 201                   ; 84:56
  0002  jnz           r1, +6                        ; 84:51
  0003  ld.resp.json  r0, /id                       ; 84:82
  0004  has           r1, r0                        ; 84:78
  0005  jz            r1, +3                        ; 84:51
  0006  tpl.build     r2, tpl#0 \"/pets/{{r0}}\"        ; 84:27
  0007  resp.hdr.set  \"location\", r2                ; 84:5
  0008  done                                        ; 85:3
"
    );
    assert_eq!(disasm_image(&img, None), want);
    assert_eq!(
        disasm_image(&img, Some("POST  /pets")),
        want,
        "filter by METHOD /pattern"
    );
    assert_eq!(disasm_image(&img, Some("GET /pets")), "");
}

#[test]
fn route_settings_show_what_was_set_and_mark_defaults() {
    let mut img = petstore();
    let route = &mut img.routes[0];
    route.timeout_ms = Some(5_000);
    route.retry = crate::image::Retry {
        count: 2,
        on_connect_error: true,
        on_timeout: false,
        on_5xx: true,
    };
    route.body_limit = Some(1 << 20);
    route.buffer_body = false;
    route.cors = true;
    route.websocket = Some(crate::image::WebsocketSettings {
        idle_timeout_ms: 60_000,
        max_message: 64 * 1024,
        ping_every_ms: None,
    });
    Arc::make_mut(&mut route.request).budget = Some(250_000);
    let text = disasm_image(&img, None);
    let line = text.lines().nth(1).unwrap();
    assert_eq!(
        line,
        "  settings: timeout 5s · connect 5s (default) · retry 2 on connect_error, 5xx · \
         budget 250 000 · body ≤ 1 MiB, streamed · websocket idle 1m, message ≤ 64 KiB, \
         no ping · cors off (none declared) · path strict (default)"
    );
    // Error pages and bare programs have no route settings.
    assert!(!disasm_program(&img.routes[0].request, "request", None).contains("settings:"));
}

#[test]
fn disasm_is_deterministic_and_works_without_an_image() {
    let img = petstore();
    let req = &img.routes[0].request;
    let text = disasm_program(req, "request", None);
    assert_eq!(text, disasm_program(req, "request", None));
    assert!(text.contains("  0001  call          slot#0, r0 "), "{text}");
    assert!(text.contains("  0017  forward       up#0 "), "{text}");
}
