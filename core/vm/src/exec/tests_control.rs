//! Control flow, `require`, faults, frames and CIDR sets.

use std::net::IpAddr;

use gw_program::{ArithOp, CidrSet, CmpOp, Field, NONE, Op, Value};

use crate::testing::{Asm, TestHost, run_request};
use crate::{Exit, Frame, run, run_traced};

#[test]
fn jumps_skip_forward() {
    // r0 = true; jnz r0 -> skip the deny; jz r0 is not taken; respond 201.
    let mut asm = Asm::new(1);
    let t = asm.konst(Value::Bool(true));
    let p = asm.ops(vec![
        Op::LdConst { dst: 0, k: t },
        Op::Jnz { r: 0, off: 1 },
        Op::Deny {
            status: 403,
            msg: NONE,
        },
        Op::Jz { r: 0, off: 1 },
        Op::Jmp { off: 1 },
        Op::Deny {
            status: 401,
            msg: NONE,
        },
        Op::Respond {
            status: 201,
            tpl: NONE,
            json: false,
        },
    ]);
    let (exit, _) = run_request(&p, &mut TestHost::default());
    assert_eq!(
        exit,
        Exit::Respond {
            status: 201,
            body: None,
            json: false
        }
    );
}

#[test]
fn require_denies_with_its_status_and_message() {
    let mut asm = Asm::new(2);
    asm.p.msgs.push("not a canary tester".into());
    let h = asm.konst(Value::str("x-canary"));
    let k = asm.konst(Value::str("always"));
    let p = asm.ops(vec![
        Op::HdrEqConst { dst: 0, h, k },
        Op::DenyIfNot {
            r: 0,
            status: 403,
            msg: 0,
        },
        Op::Respond {
            status: 200,
            tpl: NONE,
            json: false,
        },
    ]);
    let mut host = TestHost::with(&[(Field::Header(h), Value::str("never"))]);
    assert_eq!(
        run_request(&p, &mut host).0,
        Exit::Deny {
            status: 403,
            message: Some(0),
            retry_after: None,
        }
    );
    let mut host = TestHost::with(&[(Field::Header(h), Value::str("always"))]);
    assert_eq!(
        run_request(&p, &mut host).0,
        Exit::Respond {
            status: 200,
            body: None,
            json: false
        }
    );
    // A missing header denies too (absent compares false).
    assert_eq!(
        run_request(&p, &mut TestHost::default()).0,
        Exit::Deny {
            status: 403,
            message: Some(0),
            retry_after: None,
        }
    );
}

#[test]
fn a_traced_run_reports_each_op_executed_and_ends_as_run_does() {
    // The same jumps as above: ops 2 and 5 are skipped, the respond at 6 is reported.
    let mut asm = Asm::new(1);
    let t = asm.konst(Value::Bool(true));
    let p = asm.ops(vec![
        Op::LdConst { dst: 0, k: t },
        Op::Jnz { r: 0, off: 1 },
        Op::Deny {
            status: 403,
            msg: NONE,
        },
        Op::Jz { r: 0, off: 1 },
        Op::Jmp { off: 1 },
        Op::Deny {
            status: 401,
            msg: NONE,
        },
        Op::Respond {
            status: 201,
            tpl: NONE,
            json: false,
        },
    ]);
    let (plain, _) = run_request(&p, &mut TestHost::default());
    let mut seen = Vec::new();
    let mut frame = Frame::new();
    let traced = run_traced(&p, 0, &mut frame, &mut TestHost::default(), &mut |pc, f| {
        seen.push((pc, f.regs.first().cloned()))
    });
    assert_eq!(traced, plain);
    let pcs: Vec<u32> = seen.iter().map(|(pc, _)| *pc).collect();
    assert_eq!(pcs, [0, 1, 3, 4, 6]);
    // the frame as each op left it: r0 is set by op 0 already
    assert_eq!(
        seen.first().and_then(|(_, r)| r.clone()),
        Some(Value::Bool(true))
    );
    // a fault is reported at its op before the run ends
    let mut asm = Asm::new(2);
    let one = asm.konst(Value::Int(1));
    let zero = asm.konst(Value::Int(0));
    let name = asm.konst(Value::str("x"));
    let p = asm.ops(vec![
        Op::LdConst { dst: 0, k: one },
        Op::LdConst { dst: 1, k: zero },
        Op::Arith {
            dst: 1,
            op: ArithOp::Div,
            a: 0,
            b: 1,
        },
        Op::HdrSet { h: name, r: 1 },
        Op::Respond {
            status: 200,
            tpl: NONE,
            json: false,
        },
    ]);
    let mut last = None;
    let exit = run_traced(&p, 0, &mut frame, &mut TestHost::default(), &mut |pc, _| {
        last = Some(pc)
    });
    assert_eq!(exit, Exit::Trap { pc: 2 });
    assert_eq!(last, Some(2));
}

#[test]
fn a_runtime_error_in_a_require_denies_and_elsewhere_traps() {
    let mut asm = Asm::new(3);
    let one = asm.konst(Value::Int(1));
    let zero = asm.konst(Value::Int(0));
    let name = asm.konst(Value::str("x-ratio"));
    let body = vec![
        Op::LdConst { dst: 0, k: one },
        Op::LdConst { dst: 1, k: zero },
        Op::Arith {
            dst: 2,
            op: ArithOp::Div,
            a: 0,
            b: 1,
        },
    ];
    // require 1 / 0 > 0 else 429
    let mut require = body.clone();
    require.push(Op::CmpConst {
        dst: 2,
        op: CmpOp::Gt,
        a: 2,
        k: zero,
    });
    require.push(Op::DenyIfNot {
        r: 2,
        status: 429,
        msg: NONE,
    });
    require.push(Op::Respond {
        status: 200,
        tpl: NONE,
        json: false,
    });
    let set = Asm { p: asm.p.clone() };
    let p = asm.ops(require);
    assert_eq!(
        run_request(&p, &mut TestHost::default()).0,
        Exit::Deny {
            status: 429,
            message: None,
            retry_after: None,
        }
    );
    // set header x-ratio = 1 / 0: the fault is not part of a require.
    let mut ops = body;
    ops.push(Op::HdrSet { h: name, r: 2 });
    ops.push(Op::Respond {
        status: 200,
        tpl: NONE,
        json: false,
    });
    let p = set.ops(ops);
    assert_eq!(
        run_request(&p, &mut TestHost::default()).0,
        Exit::Trap { pc: 2 }
    );
}

#[test]
fn unverified_programs_trap_instead_of_panicking() {
    let mut frame = Frame::new();
    let mut host = TestHost::default();
    // Register out of range, constant out of range, and running off the end.
    let bad_reg = Asm::new(1).ops(vec![Op::Mov { dst: 0, src: 9 }]);
    assert_eq!(
        run(&bad_reg, 0, &mut frame, &mut host),
        Exit::Trap { pc: 0 }
    );
    let bad_const = Asm::new(1).ops(vec![Op::LdConst { dst: 0, k: 3 }]);
    assert_eq!(
        run(&bad_const, 0, &mut frame, &mut host),
        Exit::Trap { pc: 0 }
    );
    let no_end = Asm::new(1).ops(vec![Op::Jmp { off: 5 }]);
    assert_eq!(run(&no_end, 0, &mut frame, &mut host), Exit::Trap { pc: 6 });
    // Resuming with a frame of another program.
    let two = Asm::new(2).ops(vec![Op::Done]);
    assert_eq!(
        run(&two, 3, &mut Frame::new(), &mut host),
        Exit::Trap { pc: 3 }
    );
}

#[test]
fn frames_are_reused_and_reset() {
    let mut asm = Asm::new(2);
    let k = asm.konst(Value::Int(5));
    let p = asm.ops(vec![
        Op::Has { dst: 1, a: 0 },
        Op::LdConst { dst: 0, k },
        Op::Respond {
            status: 200,
            tpl: NONE,
            json: false,
        },
    ]);
    let mut frame = Frame::new();
    let mut host = TestHost::default();
    for _ in 0..3 {
        run(&p, 0, &mut frame, &mut host);
        // r0 was set by the previous run, but every run starts with absent registers.
        assert_eq!(frame.regs[1], Value::Bool(false));
        assert_eq!(frame.regs.len(), 2);
    }
}

#[test]
fn a_frame_moves_between_programs_of_other_sizes() {
    // Each program reads its last register before writing it: absent on every run.
    let program = |regs: u8| {
        let mut asm = Asm::new(regs);
        let k = asm.konst(Value::str("left over from the last run"));
        let last = regs - 1;
        asm.ops(vec![
            Op::Has { dst: 0, a: last },
            Op::LdConst { dst: last, k },
            Op::Done,
        ])
    };
    let (small, big) = (program(2), program(5));
    let mut frame = Frame::new();
    let mut host = TestHost::default();
    for p in [&big, &small, &small, &big, &big] {
        assert_eq!(run(p, 0, &mut frame, &mut host), Exit::Done);
        assert_eq!(frame.regs.len(), usize::from(p.regs));
        assert_eq!(frame.regs[0], Value::Bool(false));
    }
}

#[test]
fn a_host_behind_dyn_runs_like_a_concrete_one() {
    let mut asm = Asm::new(1);
    let name = asm.konst(Value::str("x-a"));
    let p = asm.ops(vec![
        Op::LdField {
            dst: 0,
            field: Field::ReqMethod,
        },
        Op::HdrSet { h: name, r: 0 },
        Op::Done,
    ]);
    let fields = [(Field::ReqMethod, Value::str("GET"))];
    let mut concrete = TestHost::with(&fields);
    let mut boxed = TestHost::with(&fields);
    let exit = run(&p, 0, &mut Frame::new(), &mut concrete);
    let host: &mut dyn crate::Host = &mut boxed;
    assert_eq!(run(&p, 0, &mut Frame::new(), host), exit);
    assert_eq!(boxed.effects, concrete.effects);
    assert_eq!(concrete.effects, [r#"SetHeader("x-a", "GET")"#]);
}

#[test]
fn cidr_sets_match_v4_v6_and_mapped_addresses() {
    let blocks = [
        CidrSet::block("10.0.0.0".parse().unwrap(), 8),
        CidrSet::block("192.168.1.0".parse().unwrap(), 24),
        CidrSet::block("2001:db8::".parse().unwrap(), 32),
        CidrSet::block("10.1.0.0".parse().unwrap(), 16),
    ];
    let set = CidrSet::from_blocks(blocks);
    assert!(set.is_normalized());
    assert_eq!(set.blocks.len(), 3, "10.1.0.0/16 lies inside 10.0.0.0/8");
    let has = |s: &str| set.contains(s.parse::<IpAddr>().unwrap());
    assert!(has("10.255.0.1"));
    assert!(has("::ffff:10.0.0.1"));
    assert!(has("192.168.1.200"));
    assert!(!has("192.168.2.1"));
    assert!(has("2001:db8:1::1"));
    assert!(!has("2001:db9::1"));
    assert!(!has("11.0.0.0"));
}
