//! Per-register text bounds: the most bytes a register's value renders to, so a template
//! or header write of `request.id` is costed at 200 bytes rather than the 8 KiB input limit.
//!
//! A forward dataflow over the ops: jumps only go forward, so one pass sees every write that
//! can reach an op. The state at an op is the larger of what falls through to it and what
//! jumps to it. Bounds never exceed [`STR_BOUND`], so they only ever refine the table.

use std::collections::BTreeMap;

use crate::field::Field;
use crate::op::{ArithOp, Builtin, Op, Reg};
use crate::program::{Program, TplPart};
use crate::value::Value;

use super::STR_BOUND;

/// Bound on `request.id`: gw generates a 36-byte UUID, or echoes the client's `X-Request-Id`,
/// which the runtime must cap at this length.
pub const REQUEST_ID_BOUND: u64 = 200;
/// `req.method`: the longest method gw accepts.
pub const METHOD_BOUND: u64 = 16;
/// `client.ip` as text: a full IPv6 address.
pub const IP_BOUND: u64 = 39;
/// An int, duration, size or timestamp as text (`-9223372036854775808`).
pub const INT_BOUND: u64 = 20;
/// A bool as text (`false`).
pub const BOOL_BOUND: u64 = 5;

/// Register bounds at one point of a program.
#[derive(Clone)]
pub(crate) struct RegBounds([u64; 256]);

impl RegBounds {
    pub(crate) fn unknown() -> RegBounds {
        RegBounds([STR_BOUND; 256])
    }

    /// The bound of `r` (unwritten registers hold the input bound).
    pub(crate) fn get(&self, r: Reg) -> u64 {
        self.0.get(usize::from(r)).copied().unwrap_or(STR_BOUND)
    }

    fn set(&mut self, r: Reg, bound: u64) {
        if let Some(slot) = self.0.get_mut(usize::from(r)) {
            *slot = bound.min(STR_BOUND);
        }
    }

    fn join(&mut self, other: &RegBounds) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = (*a).max(*b);
        }
    }
}

/// Calls `f` with each op and the register bounds before it runs; returns the bounds after
/// the last op.
pub(crate) fn walk(program: &Program, mut f: impl FnMut(&Op, &RegBounds)) -> RegBounds {
    let mut state = RegBounds::unknown();
    let mut pending: BTreeMap<usize, RegBounds> = BTreeMap::new();
    for (pc, op) in program.ops.iter().enumerate() {
        if let Some(jumped) = pending.remove(&pc) {
            state.join(&jumped);
        }
        f(op, &state);
        if let Some(off) = jump_offset(op) {
            let target = pc + 1 + usize::from(off);
            pending
                .entry(target)
                .and_modify(|s| s.join(&state))
                .or_insert_with(|| state.clone());
        }
        if let Some((dst, bound)) = result_bound(op, program, &state) {
            state.set(dst, bound);
        }
    }
    state
}

/// The text bound of register `r` after the program's last op: what the compiler uses for
/// a value it has just loaded.
pub fn bound_after(program: &Program, r: Reg) -> u64 {
    walk(program, |_, _| {}).get(r)
}

fn jump_offset(op: &Op) -> Option<u16> {
    match *op {
        Op::Jmp { off } | Op::Jz { off, .. } | Op::Jnz { off, .. } | Op::Split { off, .. } => {
            Some(off)
        }
        _ => None,
    }
}

/// The register an op writes and the bound of what it writes.
fn result_bound(op: &Op, program: &Program, s: &RegBounds) -> Option<(Reg, u64)> {
    let pair = match *op {
        Op::LdField { dst, field } => (dst, field_bound(field, program)),
        Op::LdConst { dst, k } => (dst, const_text_len(program, k)),
        Op::Mov { dst, src } => (dst, s.get(src)),
        Op::Cmp { dst, .. }
        | Op::CmpConst { dst, .. }
        | Op::Str { dst, .. }
        | Op::InList { dst, .. }
        | Op::InSet { dst, .. }
        | Op::InCidr { dst, .. }
        | Op::Matches { dst, .. }
        | Op::InListConst { dst, .. }
        | Op::Has { dst, .. }
        | Op::Not { dst, .. }
        | Op::HdrEqConst { dst, .. } => (dst, BOOL_BOUND),
        Op::Arith {
            dst,
            op: ArithOp::Add,
            a,
            b,
        }
        | Op::Concat { dst, a, b } => (dst, s.get(a).saturating_add(s.get(b))),
        Op::Arith { dst, .. } | Op::Neg { dst, .. } => (dst, INT_BOUND),
        Op::Coalesce { dst, a, b } => (dst, s.get(a).max(s.get(b))),
        Op::CoalesceConst { dst, a, k } => (dst, s.get(a).max(const_text_len(program, k))),
        Op::CallFn { dst, func, arg, .. } => (dst, builtin_bound(func, s.get(arg))),
        Op::TplBuild { dst, tpl } => (dst, template_text_bound(program, tpl, s)),
        Op::Index { dst, .. } | Op::Member { dst, .. } => (dst, STR_BOUND),
        _ => return None,
    };
    Some(pair)
}

/// The text bound of a field load.
fn field_bound(field: Field, program: &Program) -> u64 {
    let known = program
        .field_bounds
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, b)| u64::from(*b));
    match field {
        Field::ReqMethod => METHOD_BOUND,
        Field::ReqScheme => 5,
        Field::ClientIp => IP_BOUND,
        Field::RequestId => REQUEST_ID_BOUND,
        Field::RespStatus | Field::ErrorStatus => 3,
        Field::UpstreamLatency | Field::ErrorRetryAfter => INT_BOUND,
        Field::Canary => BOOL_BOUND,
        _ => known.unwrap_or(STR_BOUND),
    }
}

fn const_text_len(program: &Program, k: u16) -> u64 {
    match program.consts.get(usize::from(k)) {
        Some(Value::Str(s)) => s.as_str().len() as u64,
        Some(Value::Bool(_)) => BOOL_BOUND,
        Some(Value::Int(_) | Value::Duration(_) | Value::Size(_) | Value::Timestamp(_)) => {
            INT_BOUND
        }
        Some(Value::Absent) => 4,
        Some(Value::Ip(_)) => IP_BOUND,
        _ => STR_BOUND,
    }
}

fn builtin_bound(func: Builtin, arg: u64) -> u64 {
    match func {
        Builtin::Lower
        | Builtin::Upper
        | Builtin::Trim
        | Builtin::UrlDecode
        | Builtin::Base64Decode
        | Builtin::SplitFirst
        | Builtin::SplitLast => arg,
        Builtin::UrlEncode => arg.saturating_mul(3),
        Builtin::Base64Encode => arg.div_ceil(3).saturating_mul(4),
        Builtin::Len | Builtin::ToInt | Builtin::Now => INT_BOUND,
        Builtin::Sha256Hex => 64,
        Builtin::Uuid => 36,
        Builtin::UpstreamHealthy => BOOL_BOUND,
        // `string(x)` of a json value escapes characters.
        Builtin::ToString => STR_BOUND,
    }
}

/// Text rendered by a template (registers as text, JSON registers quoted and escaped).
pub(crate) fn template_text_bound(program: &Program, tpl: u16, s: &RegBounds) -> u64 {
    let Some(template) = program.templates.get(usize::from(tpl)) else {
        return 0;
    };
    template.parts.iter().fold(0u64, |sum, part| {
        let b = match part {
            TplPart::Text(text) => text.len() as u64,
            TplPart::Reg { r, json: false } => s.get(*r),
            TplPart::Reg { r, json: true } => s.get(*r).saturating_add(2),
            // every byte may become a three-byte escape
            TplPart::Path { r, .. } => s.get(*r).saturating_mul(3),
        };
        sum.saturating_add(b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(ops: Vec<Op>) -> Program {
        Program {
            ops,
            consts: vec![Value::str("abc")],
            field_bounds: vec![(Field::RouteName, 11)],
            ..Program::default()
        }
    }

    #[test]
    fn loads_carry_their_field_bound() {
        let p = program(vec![
            Op::LdField {
                dst: 0,
                field: Field::RequestId,
            },
            Op::LdField {
                dst: 1,
                field: Field::RouteName,
            },
            Op::LdField {
                dst: 2,
                field: Field::Header(0),
            },
            Op::Concat { dst: 3, a: 0, b: 1 },
        ]);
        assert_eq!(bound_after(&p, 0), REQUEST_ID_BOUND);
        assert_eq!(bound_after(&p, 1), 11);
        assert_eq!(bound_after(&p, 2), STR_BOUND);
        assert_eq!(bound_after(&p, 3), REQUEST_ID_BOUND + 11);
        assert_eq!(
            bound_after(&p, 9),
            STR_BOUND,
            "unwritten registers are unbounded"
        );
    }

    #[test]
    fn a_skipped_write_does_not_narrow_the_bound() {
        // r0 = header; if r1 { r0 = request.id }: after the join r0 may still be the header.
        let p = program(vec![
            Op::LdField {
                dst: 0,
                field: Field::Header(0),
            },
            Op::Jz { r: 1, off: 1 },
            Op::LdField {
                dst: 0,
                field: Field::RequestId,
            },
            Op::Mov { dst: 2, src: 0 },
        ]);
        assert_eq!(bound_after(&p, 2), STR_BOUND);
        let straight = program(vec![
            Op::LdField {
                dst: 0,
                field: Field::Header(0),
            },
            Op::LdField {
                dst: 0,
                field: Field::RequestId,
            },
            Op::Mov { dst: 2, src: 0 },
        ]);
        assert_eq!(bound_after(&straight, 2), REQUEST_ID_BOUND);
    }

    #[test]
    fn bounds_never_exceed_the_input_bound() {
        let p = program(vec![
            Op::LdField {
                dst: 0,
                field: Field::Header(0),
            },
            Op::CallFn {
                dst: 1,
                func: Builtin::UrlEncode,
                arg: 0,
                argc: 1,
            },
        ]);
        assert_eq!(bound_after(&p, 1), STR_BOUND);
    }
}
