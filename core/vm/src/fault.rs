//! Runtime errors and how a program ends on one: "an evaluation error denies" inside a
//! `require` (grammar/README.md#route-statements), a trap anywhere else.

use gw_program::{NONE, Op, Program};

use crate::Exit;
use crate::exec::pc32;

/// Why an op failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// A register or pool index out of range: the program was not verified. Always traps.
    Operand,
    /// A value of the wrong type for the op (ordering a string against an int).
    Type,
    /// Integer or duration overflow.
    Overflow,
    DivZero,
    /// Input the op cannot take (invalid base64, a status outside 100..=599).
    Invalid,
}

/// The `deny` exit of a status and an optional message.
pub(crate) fn deny(status: u16, msg: u16) -> Exit {
    Exit::Deny {
        status,
        message: (msg != NONE).then_some(msg),
        retry_after: None,
    }
}

/// How a program ends when the op at `pc` faults.
///
/// A data fault in an expression op denies when the expression feeds a `deny.ifnot`: the ops
/// after the faulting one up to that `deny.ifnot` are all expression ops or jumps (the rest
/// of the `require` expression, `&&`/`||` lowering, its `when` guard). A statement with an
/// effect, a plugin call or an action in between is not that `require`'s, so it traps.
pub(crate) fn exit(p: &Program, pc: usize, op: &Op, fault: Fault) -> Exit {
    let trap = Exit::Trap { pc: pc32(pc) };
    if fault == Fault::Operand || !is_expression(op) {
        return trap;
    }
    let rest = p.ops.get(pc + 1..).unwrap_or(&[]);
    for next in rest {
        match *next {
            Op::DenyIfNot { status, msg, .. } => return deny(status, msg),
            ref other if is_expression(other) => continue,
            _ => return trap,
        }
    }
    trap
}

/// Ops that only compute registers or jump.
fn is_expression(op: &Op) -> bool {
    matches!(
        op,
        Op::LdField { .. }
            | Op::LdConst { .. }
            | Op::Mov { .. }
            | Op::Cmp { .. }
            | Op::CmpConst { .. }
            | Op::Arith { .. }
            | Op::Str { .. }
            | Op::InList { .. }
            | Op::InListConst { .. }
            | Op::InSet { .. }
            | Op::InCidr { .. }
            | Op::Matches { .. }
            | Op::Concat { .. }
            | Op::Coalesce { .. }
            | Op::CoalesceConst { .. }
            | Op::Has { .. }
            | Op::Not { .. }
            | Op::Neg { .. }
            | Op::CallFn { .. }
            | Op::TplBuild { .. }
            | Op::Index { .. }
            | Op::Member { .. }
            | Op::HdrEqConst { .. }
            | Op::Jmp { .. }
            | Op::Jz { .. }
            | Op::Jnz { .. }
    )
}
