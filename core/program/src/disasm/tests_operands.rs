//! Operand formatting: literals, registers, sizes and grouped numbers.

use super::*;
use crate::op::Builtin;
use crate::program::Loc;

#[test]
fn operands_print_as_gw_literals() {
    let mut p = Program {
        name: "route GET /x".into(),
        regs: 2,
        consts: vec![
            Value::Duration(30_000),
            Value::Size(10 << 20),
            Value::str("a\"b"),
        ],
        regexes: vec![crate::Regex::new(r"^\d+$").unwrap()],
        ..Program::default()
    };
    p.ops = vec![
        Op::LdConst { dst: 0, k: 0 },
        Op::CmpConst {
            dst: 1,
            op: CmpOp::Le,
            a: 0,
            k: 1,
        },
        Op::Matches {
            dst: 1,
            a: 0,
            re: 0,
        },
        Op::CallFn {
            dst: 1,
            func: Builtin::SplitFirst,
            arg: 0,
            argc: 2,
        },
        Op::Split {
            canary: 0,
            sticky: NO_REG,
            threshold: 1000,
            off: 1,
        },
        Op::Respond {
            status: 404,
            tpl: NONE,
            json: false,
        },
        Op::Deny {
            status: 401,
            msg: NONE,
        },
    ];
    p.locs = vec![Loc::default(); p.ops.len()];
    let text = disasm_program(&p, "request", None);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.split(" ;").next().unwrap().trim_end())
        .collect();
    assert_eq!(
        lines,
        [
            "route GET /x   request: 7 ops · 2 regs · cost 0 · out ≤ 0 B",
            "  0000  ld.const      r0, 30s",
            "  0001  le.const      r1, r0, 10MiB",
            "  0002  matches       r1, r0, re#0 r\"^\\d+$\"",
            "  0003  call.fn       r1, split_first(r0, r1)",
            "  0004  split         canary#0, -, 1000/10000, +2",
            "  0005  respond       404",
            "  0006  deny          401, -",
        ]
    );
}

#[test]
fn numbers_and_sizes_group_for_reading() {
    assert_eq!(group_thousands(0), "0");
    assert_eq!(group_thousands(1284), "1 284");
    assert_eq!(group_thousands(100_000), "100 000");
    assert_eq!(group_thousands(1_234_567), "1 234 567");
    assert_eq!(size(312), "312 B");
    assert_eq!(size(2048), "2 KiB");
    assert_eq!(size(1536), "1.5 KiB");
    assert_eq!(size(1025), "1.1 KiB");
    assert_eq!(size(10 << 20), "10 MiB");
}
