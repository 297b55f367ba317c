use super::*;
use crate::cost::DEFAULT_BUDGET;
use crate::field::Field;
use crate::op::Builtin;
use crate::op::{CmpOp, NO_REG};
use crate::program::{Loc, Template};
use crate::value::Value;

/// A program with `ops`, locs and a correct cost.
pub(super) fn prog(regs: u8, consts: Vec<Value>, ops: Vec<Op>) -> Program {
    let mut p = Program {
        name: "route GET /t".into(),
        regs,
        consts,
        ..Program::default()
    };
    p.locs = vec![
        Loc {
            line: 3,
            col: 5,
            note: u16::MAX
        };
        ops.len()
    ];
    p.ops = ops;
    p.cost = program_cost(&p);
    p
}

pub(super) fn ctx(phase: Phase) -> VerifyCtx {
    VerifyCtx {
        upstreams: 2,
        plugins: 1,
        canaries: 1,
        params: 1,
        ..VerifyCtx::new(phase)
    }
}

pub(super) fn reason(p: &Program, phase: Phase) -> Reason {
    verify(p, &ctx(phase)).unwrap_err().reason
}

const FORWARD: Op = Op::Forward {
    up: 0,
    hash: NO_REG,
};

#[test]
fn a_well_formed_program_passes() {
    let p = prog(
        2,
        vec![Value::str("x-canary"), Value::str("always")],
        vec![
            Op::HdrEqConst { dst: 0, h: 0, k: 1 },
            Op::Jnz { r: 0, off: 2 },
            Op::Split {
                canary: 0,
                sticky: NO_REG,
                threshold: 1000,
                off: 1,
            },
            FORWARD,
            Op::Forward { up: 1, hash: 0 },
        ],
    );
    assert_eq!(verify(&p, &ctx(Phase::Request)), Ok(()));
}

#[test]
fn jumps_must_land_inside_the_program() {
    // Offsets are unsigned and count from the next op, so a backward jump cannot be written;
    // a forward one past the end is the remaining way to leave the program.
    let p = prog(1, vec![], vec![Op::Jmp { off: 1 }, FORWARD]);
    let err = verify(&p, &ctx(Phase::Request)).unwrap_err();
    assert_eq!(err.reason, Reason::JumpOutOfRange { target: 2 });
    assert_eq!((err.pc, err.op), (Some(0), Some("jmp")));
    assert_eq!(
        err.to_string(),
        "route GET /t request op 0000 `jmp`: jump target 0002 out of range"
    );
    let p = prog(1, vec![], vec![Op::Jz { r: 0, off: 0 }, FORWARD]);
    assert_eq!(verify(&p, &ctx(Phase::Request)), Ok(()));
}

#[test]
fn registers_must_be_below_the_count() {
    let p = prog(
        1,
        vec![Value::Int(1)],
        vec![Op::LdConst { dst: 1, k: 0 }, FORWARD],
    );
    assert_eq!(reason(&p, Phase::Request), Reason::BadRegister { reg: 1 });
    let p = prog(
        2,
        vec![],
        vec![
            Op::Call {
                slot: 0,
                arg: 1,
                argc: 2,
            },
            FORWARD,
        ],
    );
    assert_eq!(reason(&p, Phase::Request), Reason::BadRegister { reg: 2 });
    let mut p = prog(
        1,
        vec![],
        vec![Op::Respond {
            status: 200,
            tpl: 0,
            json: true,
        }],
    );
    p.templates.push(Template {
        parts: vec![TplPart::Reg { r: 3, json: true }],
        display: String::new(),
    });
    assert_eq!(
        reason(&p, Phase::Request),
        Reason::BadTemplateRegister { tpl: 0, reg: 3 }
    );
}

#[test]
fn every_path_must_end_in_an_action_of_the_phase() {
    let p = prog(
        1,
        vec![Value::Bool(true)],
        vec![Op::LdConst { dst: 0, k: 0 }],
    );
    let err = verify(&p, &ctx(Phase::Request)).unwrap_err();
    assert_eq!((err.reason, err.pc), (Reason::NoFinalAction, Some(0)));
    // `done` ends a response program, not a request program.
    let p = prog(0, vec![], vec![Op::Done]);
    assert_eq!(verify(&p, &ctx(Phase::Response)), Ok(()));
    assert_eq!(reason(&p, Phase::Request), Reason::OpNotInPhase);
    let p = prog(0, vec![], vec![]);
    assert_eq!(reason(&p, Phase::Request), Reason::Empty);
}

#[test]
fn ops_and_fields_must_fit_the_phase() {
    let p = prog(0, vec![], vec![FORWARD]);
    assert_eq!(reason(&p, Phase::Response), Reason::OpNotInPhase);
    let p = prog(0, vec![], vec![Op::RespBodyBuild { tpl: 0 }, FORWARD]);
    assert_eq!(reason(&p, Phase::Request), Reason::OpNotInPhase);
    // Response-header edits shape a `respond` in the request phase.
    let p = prog(
        1,
        vec![Value::str("server")],
        vec![Op::RespHdrDel { h: 0 }, FORWARD],
    );
    assert!(verify(&p, &ctx(Phase::Request)).is_ok());
    let p = prog(
        1,
        vec![],
        vec![
            Op::LdField {
                dst: 0,
                field: Field::RespStatus,
            },
            FORWARD,
        ],
    );
    assert_eq!(
        reason(&p, Phase::Request),
        Reason::FieldNotInPhase {
            field: Field::RespStatus
        }
    );
    let p = prog(
        1,
        vec![],
        vec![
            Op::LdField {
                dst: 0,
                field: Field::ErrorStatus,
            },
            Op::Done,
        ],
    );
    assert_eq!(
        reason(&p, Phase::Response),
        Reason::FieldNotInPhase {
            field: Field::ErrorStatus
        }
    );
    assert_eq!(verify(&p, &ctx(Phase::Error)), Ok(()));
}

#[test]
fn cost_must_match_and_fit_the_budget() {
    let mut p = prog(0, vec![], vec![FORWARD]);
    p.cost += 1;
    let computed = p.cost - 1;
    assert_eq!(
        reason(&p, Phase::Request),
        Reason::CostMismatch {
            recorded: p.cost,
            computed
        }
    );
    // 13 sha256 of 8 KiB strings: over 100 000 units.
    let mut ops = vec![
        Op::CallFn {
            dst: 0,
            func: Builtin::Sha256Hex,
            arg: 0,
            argc: 1
        };
        13
    ];
    ops.push(FORWARD);
    let p = prog(1, vec![], ops);
    assert!(p.cost > DEFAULT_BUDGET);
    assert_eq!(
        reason(&p, Phase::Request),
        Reason::OverBudget {
            cost: p.cost,
            budget: DEFAULT_BUDGET
        }
    );
    let roomy = VerifyCtx {
        budget: p.cost,
        ..ctx(Phase::Request)
    };
    assert_eq!(verify(&p, &roomy), Ok(()));
}

#[test]
fn locations_notes_and_length_are_checked() {
    let mut p = prog(0, vec![], vec![FORWARD]);
    p.locs.clear();
    assert_eq!(
        reason(&p, Phase::Request),
        Reason::LocsMismatch { locs: 0, ops: 1 }
    );
    let mut p = prog(0, vec![], vec![FORWARD]);
    p.locs[0].note = 0;
    assert_eq!(reason(&p, Phase::Request), Reason::BadNote { note: 0 });
    let p = prog(0, vec![], vec![Op::Jmp { off: 0 }; MAX_OPS + 1]);
    assert_eq!(
        reason(&p, Phase::Request),
        Reason::TooLong { ops: MAX_OPS + 1 }
    );
}

#[test]
fn compare_ops_with_constants_check_the_constant() {
    let p = prog(
        2,
        vec![],
        vec![
            Op::CmpConst {
                dst: 0,
                op: CmpOp::Eq,
                a: 1,
                k: 0,
            },
            FORWARD,
        ],
    );
    assert_eq!(reason(&p, Phase::Request), Reason::BadConst { k: 0 });
}
