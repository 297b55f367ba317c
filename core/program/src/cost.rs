//! The static cost model: one unit is about 1 ns of interpreter work on the reference machine
//! (grammar/README.md#expressions, "Cost"). A program's cost is the sum over all its ops;
//! jumps are forward-only, so every path runs each op at most once and the sum bounds every
//! path.
//!
//! Work that depends on input size is costed at an input bound: strings at [`STR_BOUND`]
//! (the 8 KiB URL and header limit), lists and JSON objects at [`LIST_BOUND`] elements.
//! Where an op writes out a register (templates, header and query writes), the register is
//! costed at the bound of what loaded it (`request.id` 200 bytes, `req.method` 16, an int
//! 20, `route.name` its length from [`Program::field_bounds`]; see the `bounds` module). The
//! per-byte rates come from how the VM does the work, and are checked against the interpreter
//! by `cargo run --release -p gw-vm --example op_costs` (measured ns per op beside its cost):
//!
//! | work | rate | why |
//! | --- | --- | --- |
//! | compare / copy / search a byte (`memcmp`, `memchr`, `memcpy`) | 1/32 unit | SIMD, ~32 B/ns |
//! | hash a byte for a set lookup (aHash), count characters | 1/8 unit | ~8 B/ns |
//! | per-character loops (case, trim, JSON escape, URL/base64 coding, SipHash) | 1 unit | ~1 B/ns |
//! | SHA-256 (software) | 4 units | ~250 MB/s without SHA extensions |
//! | regex (lazy DFA or bounded backtracker; `len` = pattern length) | 2 + len/32 units | linear in the input |
//!
//! Host work is costed as the runtime does it: a header, query or cookie load scans at most
//! `Limits::header_count` entries; a plugin `call` is charged [`CALL_COST`] for its dispatch
//! and cache-hit path. A plugin's own slow path (signature checks, I/O) is bounded by that
//! plugin's limits, not by the interpreter's budget.

mod bounds;

pub use bounds::{BOOL_BOUND, INT_BOUND, IP_BOUND, METHOD_BOUND, REQUEST_ID_BOUND, bound_after};

use bounds::RegBounds;

use crate::field::Field;
use crate::op::{ArithOp, Builtin, CmpOp, NO_REG, NONE, Op, StrOp};
use crate::program::{Program, TplPart};
use crate::value::Value;

/// Bound on a string operand (URL / header limit), in bytes.
pub const STR_BOUND: u64 = 8 * 1024;
/// Bound on the elements of a list or JSON object an op walks.
pub const LIST_BOUND: u64 = 256;
/// Dispatch and cache-hit path of a plugin call.
pub const CALL_COST: u64 = 200;
/// Default budget of a route phase (`budget N` overrides).
pub const DEFAULT_BUDGET: u64 = 100_000;
/// The largest budget a route may ask for: 10 ms of interpretation. The verifier checks
/// loaded images against it (the compiler checks each route's own budget).
pub const MAX_BUDGET: u64 = 10_000_000;
/// Longest program (E0602).
pub const MAX_OPS: usize = 4096;

/// Fixed overhead of touching the host (field load, effect).
const HOST: u64 = 20;
/// A header / query / cookie load: a case-insensitive scan of up to 100 entries.
const NAMED_LOAD: u64 = 60;
/// Allocating a result longer than the inline string size.
const ALLOC: u64 = 30;
/// A register-sized op with no data-dependent work.
const TRIVIAL: u64 = 4;

const fn simd(bytes: u64) -> u64 {
    bytes / 32
}

/// The cost of one op, in units of ~1 ns, with every register at the input bound. Pool
/// indices that do not resolve cost as if empty (the verifier rejects them separately).
pub fn op_cost(op: &Op, program: &Program) -> u64 {
    cost_with(op, program, &RegBounds::unknown())
}

/// The cost of each op in place, with register values bounded by what loaded them
/// (`request.id` at [`REQUEST_ID_BOUND`] rather than [`STR_BOUND`]).
pub fn op_costs(program: &Program) -> Vec<u64> {
    let mut out = Vec::with_capacity(program.ops.len());
    bounds::walk(program, |op, regs| out.push(cost_with(op, program, regs)));
    out
}

fn cost_with(op: &Op, program: &Program, regs: &RegBounds) -> u64 {
    match *op {
        Op::LdField { field, .. } => field_cost(field),
        Op::LdConst { .. } | Op::Mov { .. } => TRIVIAL,
        Op::Cmp { op, .. } => cmp_cost(op, STR_BOUND),
        Op::CmpConst { op, k, .. } => cmp_cost(op, const_len(program, k)),
        Op::Arith {
            op: ArithOp::Add, ..
        } => concat_cost(),
        Op::Arith { .. } => 8,
        Op::Str {
            op: StrOp::StartsWith | StrOp::EndsWith,
            ..
        } => 8 + simd(STR_BOUND),
        // Substring search (two-way, ~4 B/ns worst case) or a list walk.
        Op::Str {
            op: StrOp::Contains,
            ..
        } => (8 + STR_BOUND / 4).max(list_scan()),
        Op::InList { .. } | Op::InListConst { .. } => list_scan(),
        Op::InSet { .. } => HOST + STR_BOUND / 8,
        Op::InCidr { set, .. } => {
            let blocks = program
                .cidrs
                .get(usize::from(set))
                .map_or(0, |c| c.blocks.len());
            10 + 4 * u64::from(usize::BITS - blocks.leading_zeros())
        }
        Op::Matches { re, .. } => {
            let len = program
                .regexes
                .get(usize::from(re))
                .map_or(0, |r| r.as_str().len());
            50 + STR_BOUND * (2 + len as u64 / 32)
        }
        Op::Concat { .. } => concat_cost(),
        Op::Coalesce { .. }
        | Op::CoalesceConst { .. }
        | Op::Has { .. }
        | Op::Not { .. }
        | Op::Neg { .. } => TRIVIAL,
        Op::CallFn { func, .. } => builtin_cost(func),
        Op::TplBuild { tpl, .. } => ALLOC + template_cost(program, tpl, regs),
        Op::Index { .. } | Op::Member { .. } => 10 + 2 * LIST_BOUND,
        Op::Jmp { .. } | Op::Jz { .. } | Op::Jnz { .. } => 3,
        Op::HdrEqConst { k, .. } => NAMED_LOAD + 8 + simd(const_len(program, k)),
        Op::DenyIfNot { .. } | Op::Deny { .. } => TRIVIAL,
        Op::HdrSetConst { .. }
        | Op::HdrDel { .. }
        | Op::QueryDel { .. }
        | Op::RespHdrDel { .. } => HOST,
        Op::Call { argc, .. } => CALL_COST + 2 * u64::from(argc),
        Op::HdrSet { r, .. }
        | Op::HdrAdd { r, .. }
        | Op::QuerySet { r, .. }
        | Op::PathRewrite { r }
        | Op::RespHdrSet { r, .. }
        | Op::RespHdrAdd { r, .. } => HOST + simd(regs.get(r)),
        Op::BodyBuild { tpl } | Op::RespBodyBuild { tpl } => {
            HOST + template_cost(program, tpl, regs)
        }
        // SipHash of the hash key, ~1 B/ns.
        Op::Forward { hash, .. } | Op::Upgrade { hash, .. } => 10 + sip_cost(hash),
        Op::Split { sticky, .. } => 10 + sip_cost(sticky),
        Op::Respond { tpl, .. } => 10 + template_cost(program, tpl, regs),
        Op::RespStatusSet { .. } => 10,
        Op::CanaryMark | Op::Done => 1,
    }
}

/// The cost of a whole program: the sum of [`op_costs`] (saturating).
pub fn program_cost(program: &Program) -> u64 {
    op_costs(program)
        .into_iter()
        .fold(0u64, u64::saturating_add)
}

fn field_cost(field: Field) -> u64 {
    match field {
        Field::Query(_) | Field::Header(_) | Field::Cookie(_) | Field::RespHeader(_) => NAMED_LOAD,
        // A JSON pointer walk through the buffered body.
        Field::Body(_) | Field::RespJson(_) => NAMED_LOAD + 2 * LIST_BOUND,
        _ => HOST,
    }
}

fn cmp_cost(op: CmpOp, bound: u64) -> u64 {
    match op {
        // Case folding walks characters.
        CmpOp::IEq => 8 + bound,
        _ => 8 + simd(bound),
    }
}

/// The result is copied twice: built in the scratch buffer, then into its own string.
fn concat_cost() -> u64 {
    ALLOC + 2 * simd(2 * STR_BOUND)
}

fn list_scan() -> u64 {
    // Per-element overhead plus comparing at most STR_BOUND bytes in total.
    4 * LIST_BOUND + simd(STR_BOUND)
}

fn sip_cost(reg: u8) -> u64 {
    if reg == NO_REG { 5 } else { 5 + STR_BOUND }
}

fn const_len(program: &Program, k: u16) -> u64 {
    match program.consts.get(usize::from(k)) {
        Some(Value::Str(s)) => s.as_str().len() as u64,
        // Other constants compare in constant time, or render to a few bytes.
        _ => 8,
    }
}

/// Rendering a template: text is copied, a register is rendered as text (copy) or as JSON
/// (escaped character by character).
fn template_cost(program: &Program, tpl: u16, regs: &RegBounds) -> u64 {
    if tpl == NONE {
        return 0;
    }
    let Some(template) = program.templates.get(usize::from(tpl)) else {
        return 0;
    };
    template.parts.iter().fold(0u64, |sum, part| {
        let part_cost = match part {
            TplPart::Text(text) => 1 + simd(text.len() as u64),
            TplPart::Reg { r, json: false } => TRIVIAL + 2 * simd(regs.get(*r)),
            TplPart::Reg { r, json: true } => TRIVIAL + regs.get(*r),
            TplPart::Path { r, .. } => TRIVIAL + regs.get(*r),
        };
        sum.saturating_add(part_cost)
    })
}

fn builtin_cost(func: Builtin) -> u64 {
    match func {
        Builtin::Lower | Builtin::Upper => ALLOC + STR_BOUND,
        Builtin::Trim => 10 + STR_BOUND / 4,
        Builtin::Len => 10 + STR_BOUND / 8,
        Builtin::ToInt | Builtin::Now => HOST,
        // `string(x)` of a json object escapes every character.
        Builtin::ToString => ALLOC + STR_BOUND,
        Builtin::UrlEncode => ALLOC + 2 * STR_BOUND,
        Builtin::UrlDecode | Builtin::Base64Encode | Builtin::Base64Decode => ALLOC + STR_BOUND,
        Builtin::Sha256Hex => 100 + 4 * STR_BOUND,
        Builtin::Uuid => 150,
        Builtin::SplitFirst | Builtin::SplitLast => ALLOC + STR_BOUND / 16,
        Builtin::UpstreamHealthy => 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::Template;

    fn program(ops: Vec<Op>) -> Program {
        Program {
            ops,
            consts: vec![Value::str("pets:write"), Value::Int(3)],
            ..Program::default()
        }
    }

    #[test]
    fn program_cost_is_the_sum_of_op_costs() {
        let p = program(vec![
            Op::LdConst { dst: 0, k: 0 },
            Op::Jz { r: 0, off: 0 },
            Op::Deny {
                status: 403,
                msg: NONE,
            },
        ]);
        let sum: u64 = p.ops.iter().map(|op| op_cost(op, &p)).sum();
        assert_eq!(program_cost(&p), sum);
        assert_eq!(program_cost(&p), TRIVIAL + 3 + TRIVIAL);
    }

    #[test]
    fn string_work_scales_with_the_bound_and_constants_with_their_length() {
        let p = program(vec![]);
        let reg = op_cost(
            &Op::Cmp {
                dst: 0,
                op: CmpOp::Eq,
                a: 1,
                b: 2,
            },
            &p,
        );
        let konst = op_cost(
            &Op::CmpConst {
                dst: 0,
                op: CmpOp::Eq,
                a: 1,
                k: 0,
            },
            &p,
        );
        assert!(
            konst < reg,
            "a compare with a 10-byte constant is bounded by it"
        );
        assert_eq!(reg, 8 + STR_BOUND / 32);
        let re = |src: &str| {
            let p = Program {
                regexes: vec![regex::Regex::new(src).unwrap()],
                ..Program::default()
            };
            op_cost(
                &Op::Matches {
                    dst: 0,
                    a: 1,
                    re: 0,
                },
                &p,
            )
        };
        assert!(
            re(&"a".repeat(100)) > re("a"),
            "larger patterns cost more per byte"
        );
        assert!(re("a") >= STR_BOUND, "a regex is linear in the input bound");
    }

    #[test]
    fn templates_cost_by_their_parts() {
        let mut p = program(vec![]);
        p.templates.push(Template {
            parts: vec![
                TplPart::Text("/pets/".into()),
                TplPart::Reg { r: 0, json: false },
            ],
            display: String::new(),
        });
        p.templates.push(Template {
            parts: vec![TplPart::Reg { r: 0, json: true }],
            display: String::new(),
        });
        let text = op_cost(&Op::TplBuild { dst: 1, tpl: 0 }, &p);
        let json = op_cost(&Op::RespBodyBuild { tpl: 1 }, &p);
        assert_eq!(text, ALLOC + 1 + TRIVIAL + 2 * (STR_BOUND / 32));
        assert!(json > text, "JSON escaping walks characters");
        assert_eq!(
            op_cost(
                &Op::Respond {
                    status: 204,
                    tpl: NONE,
                    json: false
                },
                &p
            ),
            10
        );
        // A dangling template index is costed as empty, never panics.
        assert_eq!(op_cost(&Op::TplBuild { dst: 0, tpl: 9 }, &p), ALLOC);
    }

    #[test]
    fn templates_cost_registers_at_the_bound_of_their_load() {
        let respond = |field| {
            let mut p = program(vec![
                Op::LdField { dst: 0, field },
                Op::Respond {
                    status: 200,
                    tpl: 0,
                    json: true,
                },
            ]);
            p.templates.push(Template {
                parts: vec![TplPart::Reg { r: 0, json: true }],
                display: String::new(),
            });
            program_cost(&p)
        };
        let id = respond(Field::RequestId);
        assert_eq!(id, HOST + 10 + TRIVIAL + REQUEST_ID_BOUND);
        assert_eq!(
            respond(Field::Header(0)),
            NAMED_LOAD + 10 + TRIVIAL + STR_BOUND
        );
        // The per-op figure stays the worst case for callers without the program context.
        let p = program(vec![Op::PathRewrite { r: 0 }]);
        assert_eq!(op_costs(&p), vec![op_cost(&Op::PathRewrite { r: 0 }, &p)]);
    }

    #[test]
    fn sticky_hashing_costs_more_than_the_counter() {
        let p = program(vec![]);
        let counter = op_cost(
            &Op::Split {
                canary: 0,
                sticky: NO_REG,
                threshold: 1,
                off: 0,
            },
            &p,
        );
        let sticky = op_cost(
            &Op::Split {
                canary: 0,
                sticky: 0,
                threshold: 1,
                off: 0,
            },
            &p,
        );
        assert!(sticky > counter);
    }
}
