//! Pool indices, ids and operand values.

use super::tests::{ctx, prog, reason};
use super::*;
use crate::field::Field;
use crate::op::{Builtin, NO_REG, NONE};
use crate::program::CidrSet;
use crate::value::Value;

const FORWARD: Op = Op::Forward {
    up: 0,
    hash: NO_REG,
};

#[test]
fn pool_indices_must_resolve() {
    let cases: Vec<(Program, Reason)> = vec![
        (
            prog(1, vec![], vec![Op::LdConst { dst: 0, k: 0 }, FORWARD]),
            Reason::BadConst { k: 0 },
        ),
        (
            prog(1, vec![Value::Int(1)], vec![Op::HdrDel { h: 0 }, FORWARD]),
            Reason::NotAName { k: 0 },
        ),
        (
            prog(
                1,
                vec![],
                vec![
                    Op::InSet {
                        dst: 0,
                        a: 0,
                        set: 0,
                    },
                    FORWARD,
                ],
            ),
            Reason::BadSet { set: 0 },
        ),
        (
            prog(
                1,
                vec![],
                vec![
                    Op::Matches {
                        dst: 0,
                        a: 0,
                        re: 2,
                    },
                    FORWARD,
                ],
            ),
            Reason::BadRegex { re: 2 },
        ),
        (
            prog(1, vec![], vec![Op::TplBuild { dst: 0, tpl: 0 }, FORWARD]),
            Reason::BadTemplate { tpl: 0 },
        ),
        (
            prog(
                1,
                vec![],
                vec![Op::Deny {
                    status: 403,
                    msg: 0,
                }],
            ),
            Reason::BadMessage { msg: 0 },
        ),
        (
            prog(
                1,
                vec![],
                vec![
                    Op::LdField {
                        dst: 0,
                        field: Field::Local(0),
                    },
                    FORWARD,
                ],
            ),
            Reason::BadLocal { id: 0 },
        ),
        (
            prog(
                1,
                vec![],
                vec![
                    Op::LdField {
                        dst: 0,
                        field: Field::PathParam(1),
                    },
                    FORWARD,
                ],
            ),
            Reason::BadParam { index: 1 },
        ),
        (
            prog(
                0,
                vec![],
                vec![Op::Forward {
                    up: 2,
                    hash: NO_REG,
                }],
            ),
            Reason::BadUpstream { up: 2 },
        ),
        (
            prog(
                0,
                vec![],
                vec![
                    Op::Call {
                        slot: 1,
                        arg: 0,
                        argc: 0,
                    },
                    FORWARD,
                ],
            ),
            Reason::BadPlugin { slot: 1 },
        ),
        (
            prog(
                0,
                vec![],
                vec![Op::Deny {
                    status: 99,
                    msg: NONE,
                }],
            ),
            Reason::BadStatus { status: 99 },
        ),
        (
            prog(
                1,
                vec![],
                vec![
                    Op::CallFn {
                        dst: 0,
                        func: Builtin::Lower,
                        arg: 0,
                        argc: 2,
                    },
                    FORWARD,
                ],
            ),
            Reason::BadArity {
                func: Builtin::Lower,
                argc: 2,
            },
        ),
        (
            prog(
                0,
                vec![],
                vec![
                    Op::Split {
                        canary: 1,
                        sticky: NO_REG,
                        threshold: 1,
                        off: 0,
                    },
                    FORWARD,
                ],
            ),
            Reason::BadCanary { id: 1 },
        ),
        (
            prog(
                0,
                vec![],
                vec![
                    Op::Split {
                        canary: 0,
                        sticky: NO_REG,
                        threshold: 10_001,
                        off: 0,
                    },
                    FORWARD,
                ],
            ),
            Reason::BadThreshold { threshold: 10_001 },
        ),
    ];
    for (p, want) in cases {
        assert_eq!(reason(&p, Phase::Request), want, "{:?}", p.ops);
    }
}

#[test]
fn cidr_sets_must_be_normalized() {
    let mut p = prog(
        1,
        vec![],
        vec![
            Op::InCidr {
                dst: 0,
                a: 0,
                set: 0,
            },
            FORWARD,
        ],
    );
    let ten = CidrSet::block("10.0.0.0".parse().unwrap(), 8);
    let inner = CidrSet::block("10.1.0.0".parse().unwrap(), 16);
    p.cidrs.push(CidrSet {
        blocks: vec![ten, inner],
    });
    p.cost = program_cost(&p);
    assert_eq!(
        reason(&p, Phase::Request),
        Reason::CidrSetNotNormalized { set: 0 }
    );
    p.cidrs[0] = CidrSet::from_blocks([inner, ten]);
    p.cost = program_cost(&p);
    assert_eq!(verify(&p, &ctx(Phase::Request)), Ok(()));
}
