//! Effects, plugin calls, actions, canary splits and the response phase.

use gw_program::{Field, Json, NO_REG, Op, TplPart, Value};

use crate::testing::{Asm, TestHost, run_request, run_response};
use crate::{Call, Exit, Frame, run};

#[test]
fn request_transforms_reach_the_host_in_order() {
    let mut asm = Asm::new(2);
    let user = asm.konst(Value::str("x-user-id"));
    let region = asm.konst(Value::str("x-region"));
    let eu = asm.konst(Value::str("eu-west-1"));
    let auth = asm.konst(Value::str("authorization"));
    let limit = asm.konst(Value::str("limit"));
    let n = asm.konst(Value::Int(20));
    let path = asm.konst(Value::str("/v2/users/7"));
    let body = asm.template(vec![
        TplPart::Text("{\"user\":".into()),
        TplPart::Reg { r: 0, json: true },
        TplPart::Text("}".into()),
    ]);
    let p = asm.ops(vec![
        Op::LdField {
            dst: 0,
            field: Field::Local(0),
        },
        Op::HdrSet { h: user, r: 0 },
        Op::HdrSetConst { h: region, k: eu },
        Op::HdrAdd { h: region, r: 0 },
        Op::HdrDel { h: auth },
        Op::LdConst { dst: 1, k: n },
        Op::QuerySet { q: limit, r: 1 },
        Op::QueryDel { q: auth },
        Op::LdConst { dst: 1, k: path },
        Op::PathRewrite { r: 1 },
        Op::BodyBuild { tpl: body },
        // r0 is absent after this load: setting a header to it removes the header, so the
        // client's own value is not forwarded in its place.
        Op::LdField {
            dst: 0,
            field: Field::TlsSubject,
        },
        Op::HdrSet { h: user, r: 0 },
        Op::Forward {
            up: 1,
            hash: NO_REG,
        },
    ]);
    let mut p = p;
    p.locals.push("claim.sub".into());
    let mut host = TestHost::with(&[(Field::Local(0), Value::str("u-1\"x"))]);
    let (exit, _) = run_request(&p, &mut host);
    assert_eq!(
        exit,
        Exit::Forward {
            upstream: 1,
            hash: None,
            canary: false
        }
    );
    assert_eq!(
        host.effects,
        [
            r#"SetHeader("x-user-id", "u-1\"x")"#,
            r#"SetHeader("x-region", "eu-west-1")"#,
            r#"AppendHeader("x-region", "u-1\"x")"#,
            r#"RemoveHeader("authorization")"#,
            r#"SetQuery("limit", "20")"#,
            r#"RemoveQuery("authorization")"#,
            r#"RewritePath("/v2/users/7")"#,
            r#"SetBody("{\"user\":\"u-1\\\"x\"}")"#,
            r#"RemoveHeader("x-user-id")"#,
        ]
    );
}

#[test]
fn plugin_calls_continue_respond_or_resume_at_the_call() {
    let mut asm = Asm::new(2);
    let ip = asm.konst(Value::str("10.0.0.1"));
    let p = asm.ops(vec![
        Op::LdConst { dst: 1, k: ip },
        Op::Call {
            slot: 0,
            arg: 1,
            argc: 1,
        },
        Op::Call {
            slot: 2,
            arg: 0,
            argc: 0,
        },
        Op::Forward {
            up: 0,
            hash: NO_REG,
        },
    ]);
    let mut host = TestHost::default();
    host.answers.insert(0, [Call::Pending].into());
    host.answers.insert(2, [Call::Respond(429)].into());
    let (exit, mut frame) = run_request(&p, &mut host);
    assert_eq!(exit, Exit::Pending { pc: 1 });
    // The host resumes after the call once its operation completed, with the registers the
    // first run left: the plugin is not called again.
    let exit = run(&p, 2, &mut frame, &mut host);
    assert_eq!(exit, Exit::Responded { status: 429 });
    let args: Vec<_> = host
        .calls
        .iter()
        .map(|(slot, args)| (*slot, args.clone()))
        .collect();
    assert_eq!(args, [(0, vec![Value::str("10.0.0.1")]), (2, vec![])]);
    // A denial ends the program with its status and Retry-After.
    host.answers.insert(
        2,
        [Call::Deny {
            status: 429,
            retry_after: Some(3),
        }]
        .into(),
    );
    assert_eq!(
        run(&p, 2, &mut frame, &mut host),
        Exit::Deny {
            status: 429,
            message: None,
            retry_after: Some(3)
        }
    );
    // A third run: every plugin continues, the request is forwarded.
    assert_eq!(
        run(&p, 0, &mut frame, &mut host),
        Exit::Forward {
            upstream: 0,
            hash: None,
            canary: false
        }
    );
}

#[test]
fn respond_builds_a_json_body_in_the_frame() {
    let mut asm = Asm::new(2);
    let tpl = asm.template(vec![
        TplPart::Text("{\"status\":\"ok\",\"request_id\":".into()),
        TplPart::Reg { r: 0, json: true },
        TplPart::Text(",\"user\":".into()),
        TplPart::Reg { r: 1, json: true },
        TplPart::Text("}".into()),
    ]);
    let p = asm.ops(vec![
        Op::LdField {
            dst: 0,
            field: Field::RequestId,
        },
        Op::Respond {
            status: 200,
            tpl,
            json: true,
        },
    ]);
    let mut host = TestHost::with(&[(Field::RequestId, Value::str("r-1\n\u{7}"))]);
    let (exit, frame) = run_request(&p, &mut host);
    let Exit::Respond {
        status: 200,
        body: Some(range),
        json: true,
    } = exit
    else {
        panic!("{exit:?}");
    };
    // Strings escaped per RFC 8259, absent as null.
    assert_eq!(
        frame.body(range),
        r#"{"status":"ok","request_id":"r-1\n\u0007","user":null}"#
    );
}

#[test]
fn forward_hashes_its_key_with_the_seed() {
    let mut asm = Asm::new(1);
    let room = asm.konst(Value::str("room"));
    let p = asm.ops(vec![
        Op::LdField {
            dst: 0,
            field: Field::Query(room),
        },
        Op::Upgrade { up: 2, hash: 0 },
    ]);
    let hash_for = |seed, v: &str| {
        let mut host = TestHost::with(&[(Field::Query(room), Value::str(v))]);
        host.seed = seed;
        match run_request(&p, &mut host).0 {
            Exit::Upgrade { upstream: 2, hash } => hash,
            other => panic!("{other:?}"),
        }
    };
    assert!(hash_for(1, "lobby").is_some());
    assert_eq!(hash_for(1, "lobby"), hash_for(1, "lobby"));
    assert_ne!(hash_for(1, "lobby"), hash_for(1, "kitchen"));
    assert_ne!(hash_for(1, "lobby"), hash_for(2, "lobby"));
    // No key in the request: no hash.
    assert_eq!(
        run_request(&p, &mut TestHost::default()).0,
        Exit::Upgrade {
            upstream: 2,
            hash: None
        }
    );
}

/// The canary lowering of gw-compiler's target.rs: forced testers, then a split of the rest.
fn canary_program(sticky: bool) -> gw_program::Program {
    let mut asm = Asm::new(2);
    let h = asm.konst(Value::str("x-canary"));
    let always = asm.konst(Value::str("always"));
    let one = asm.konst(Value::str("1"));
    asm.p.locals.push("claim.sub".into());
    asm.ops(vec![
        Op::HdrEqConst {
            dst: 0,
            h,
            k: always,
        },
        Op::Jnz { r: 0, off: 3 },
        Op::LdField {
            dst: 1,
            field: Field::Local(0),
        },
        Op::Split {
            canary: 0,
            sticky: if sticky { 1 } else { NO_REG },
            threshold: 1000,
            off: 2,
        },
        Op::Forward {
            up: 0,
            hash: NO_REG,
        },
        Op::CanaryMark,
        Op::HdrSetConst { h, k: one },
        Op::Forward {
            up: 1,
            hash: NO_REG,
        },
    ])
}

fn side(exit: &Exit) -> bool {
    match exit {
        Exit::Forward {
            upstream: 0,
            canary: false,
            ..
        } => false,
        Exit::Forward {
            upstream: 1,
            canary: true,
            ..
        } => true,
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsticky_split_sends_exactly_the_threshold_to_the_canary() {
    let p = canary_program(false);
    let mut host = TestHost::default();
    let mut frame = Frame::new();
    let canaries = (0..10_000)
        .filter(|_| side(&run(&p, 0, &mut frame, &mut host)))
        .count();
    assert!((980..=1020).contains(&canaries), "{canaries} of 10 000");
    assert_eq!(
        canaries, 1000,
        "the counter split is exact over 10 000 requests"
    );
    // Canary requests got the canary-side header.
    let marked = host
        .effects
        .iter()
        .filter(|e| e.contains("x-canary"))
        .count();
    assert_eq!(marked, canaries);
}

#[test]
fn sticky_split_keeps_a_caller_on_its_side_and_forced_callers_on_the_canary() {
    let p = canary_program(true);
    let mut frame = Frame::new();
    let mut canaries = 0;
    for i in 0..2000 {
        let user = Value::str(&format!("user-{i}"));
        let mut host = TestHost::with(&[(Field::Local(0), user)]);
        host.seed = 99;
        let first = side(&run(&p, 0, &mut frame, &mut host));
        for _ in 0..3 {
            assert_eq!(
                side(&run(&p, 0, &mut frame, &mut host)),
                first,
                "user-{i} moved"
            );
        }
        canaries += usize::from(first);
        assert!(
            host.counters.is_empty(),
            "a sticky split never uses the counter"
        );
    }
    assert!((120..=280).contains(&canaries), "{canaries} of 2000 at 10%");
    let mut host = TestHost::with(&[(Field::Header(0), Value::str("always"))]);
    assert!(
        side(&run(&p, 0, &mut frame, &mut host)),
        "forced onto the canary"
    );
    assert!(frame.canary);
}

#[test]
fn response_programs_change_the_response() {
    let mut asm = Asm::new(3);
    let created = asm.konst(Value::Int(201));
    let loc = asm.konst(Value::str("location"));
    let server = asm.konst(Value::str("server"));
    let id = asm.konst(Value::str("/id"));
    let tpl = asm.template(vec![
        TplPart::Text("/pets/".into()),
        TplPart::Reg { r: 0, json: false },
    ]);
    let p = asm.ops(vec![
        Op::LdField {
            dst: 0,
            field: Field::RespStatus,
        },
        Op::CmpConst {
            dst: 1,
            op: gw_program::CmpOp::Ne,
            a: 0,
            k: created,
        },
        Op::Jnz { r: 1, off: 4 },
        Op::LdField {
            dst: 0,
            field: Field::RespJson(id),
        },
        Op::Has { dst: 1, a: 0 },
        Op::TplBuild { dst: 2, tpl },
        Op::RespHdrSet { h: loc, r: 2 },
        Op::RespHdrDel { h: server },
        Op::LdConst { dst: 2, k: created },
        Op::RespStatusSet { r: 2 },
        Op::Done,
    ]);
    let mut host = TestHost::with(&[
        (Field::RespStatus, Value::Int(201)),
        (Field::RespJson(id), Value::Json(Json::Number(17.0))),
    ]);
    assert_eq!(run_response(&p, &mut host).0, Exit::Done);
    assert_eq!(
        host.effects,
        [
            r#"RespSetHeader("location", "/pets/17")"#,
            r#"RespRemoveHeader("server")"#,
            "SetStatus(201)"
        ]
    );
    let mut host = TestHost::with(&[(Field::RespStatus, Value::Int(500))]);
    assert_eq!(run_response(&p, &mut host).0, Exit::Done);
    assert_eq!(
        host.effects,
        [r#"RespRemoveHeader("server")"#, "SetStatus(201)"]
    );
}

#[test]
fn a_status_out_of_range_traps() {
    let mut asm = Asm::new(1);
    let bad = asm.konst(Value::Int(1000));
    let p = asm.ops(vec![
        Op::LdConst { dst: 0, k: bad },
        Op::RespStatusSet { r: 0 },
        Op::Done,
    ]);
    let mut host = TestHost::default();
    assert_eq!(run_response(&p, &mut host).0, Exit::Trap { pc: 1 });
    assert!(host.effects.is_empty());
}
