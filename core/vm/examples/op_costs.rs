//! Checks the static cost table (`gw_program::cost`) against the interpreter: runs programs
//! of 16 copies of one op on worst-case (8 KiB) operands and prints measured ns per op beside
//! the op's cost in units (~1 ns each). A measured figure above the cost means the table
//! underestimates that op on this machine.
//!
//! `cargo run --release -p gw-vm --example op_costs` (on an otherwise idle machine).

use std::hint::black_box;
use std::time::Instant;

use gw_program::{
    Builtin, CmpOp, Field, Loc, NONE, Op, Program, Regex, StrOp, Template, TplPart, Value, op_cost,
};
use gw_vm::{Call, Effect, Frame, Host, run};

/// Every load answers a fixed value: the header a short one, anything else 8 KiB.
struct FixedHost {
    header: Value,
    big: Value,
}

impl Host for FixedHost {
    fn load(&mut self, field: Field) -> Value {
        match field {
            Field::Header(_) => self.header.clone(),
            _ => self.big.clone(),
        }
    }
    fn apply(&mut self, effect: Effect<'_>) {
        black_box(effect);
    }
    fn call(&mut self, _: u16, _: &[Value]) -> Call {
        Call::Continue
    }
    fn now_ms(&self) -> i64 {
        0
    }
    fn upstream_healthy(&self, _: u16) -> bool {
        true
    }
    fn split_counter(&mut self, _: u16) -> u64 {
        0
    }
}

const COPIES: usize = 16;

/// `r1 = <8 KiB string>; op × 16; respond`. The program is not verified: the harness only
/// needs it to run.
fn program(op: Op, setup: impl FnOnce(&mut Program)) -> Program {
    program_of(op, COPIES, setup)
}

fn program_of(op: Op, copies: usize, setup: impl FnOnce(&mut Program)) -> Program {
    let mut p = Program {
        regs: 4,
        consts: vec![Value::str("x"), Value::Int(3)],
        ..Program::default()
    };
    setup(&mut p);
    p.ops = vec![
        Op::LdField {
            dst: 1,
            field: Field::Body(0),
        },
        Op::Mov { dst: 2, src: 1 },
    ];
    p.ops.extend(std::iter::repeat_n(op, copies));
    p.ops.push(Op::Respond {
        status: 200,
        tpl: NONE,
        json: false,
    });
    p.locs = vec![Loc::default(); p.ops.len()];
    p
}

/// Best of 7 rounds, in ns per copy of the op (the fixed ops around them subtracted).
fn measure(p: &Program, base_ns: f64, host: &mut FixedHost) -> f64 {
    let mut frame = Frame::new();
    let rounds = 20_000;
    let mut best = f64::MAX;
    for _ in 0..7 {
        let start = Instant::now();
        for _ in 0..rounds {
            black_box(run(black_box(p), 0, &mut frame, host));
        }
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(rounds));
    }
    (best - base_ns).max(0.0) / COPIES as f64
}

fn main() {
    let mut host = FixedHost {
        header: Value::str("application/json"),
        big: Value::str(&"a".repeat(8192)),
    };
    let base = program_of(Op::Mov { dst: 3, src: 0 }, 0, |_| {});
    let base_ns = measure(&base, 0.0, &mut host) * COPIES as f64;
    let call = |func, argc| Op::CallFn {
        dst: 0,
        func,
        arg: 1,
        argc,
    };
    let cases: Vec<(&str, Program)> = vec![
        ("ld.const", program(Op::LdConst { dst: 0, k: 1 }, |_| {})),
        (
            "eq.const (int)",
            program(
                Op::CmpConst {
                    dst: 0,
                    op: CmpOp::Eq,
                    a: 3,
                    k: 1,
                },
                |_| {},
            ),
        ),
        (
            "ld.field header",
            program(
                Op::LdField {
                    dst: 0,
                    field: Field::Header(0),
                },
                |_| {},
            ),
        ),
        (
            "eq (8 KiB strings)",
            program(
                Op::Cmp {
                    dst: 0,
                    op: CmpOp::Eq,
                    a: 1,
                    b: 2,
                },
                |_| {},
            ),
        ),
        (
            "contains (8 KiB)",
            program(
                Op::Str {
                    dst: 0,
                    op: StrOp::Contains,
                    a: 1,
                    b: 2,
                },
                |_| {},
            ),
        ),
        (
            "concat (2 × 8 KiB)",
            program(Op::Concat { dst: 0, a: 1, b: 2 }, |_| {}),
        ),
        (
            "in.set (8 KiB)",
            program(
                Op::InSet {
                    dst: 0,
                    a: 1,
                    set: 0,
                },
                |p| {
                    p.sets.push(["x".to_string()].into_iter().collect());
                },
            ),
        ),
        (
            "matches (8 KiB)",
            program(
                Op::Matches {
                    dst: 0,
                    a: 1,
                    re: 0,
                },
                |p| {
                    p.regexes.extend(Regex::new(r"^(a|b)*c$").ok());
                },
            ),
        ),
        (
            "matches, long pattern",
            program(
                Op::Matches {
                    dst: 0,
                    a: 1,
                    re: 0,
                },
                |p| {
                    let re = r"^((a|b)+(c|d)*[a-c]{1,3})+(e|f)[0-9]*$";
                    p.regexes.extend(Regex::new(re).ok());
                },
            ),
        ),
        ("lower (8 KiB)", program(call(Builtin::Lower, 1), |_| {})),
        ("len (8 KiB)", program(call(Builtin::Len, 1), |_| {})),
        (
            "url_encode (8 KiB)",
            program(call(Builtin::UrlEncode, 1), |_| {}),
        ),
        (
            "base64_encode (8 KiB)",
            program(call(Builtin::Base64Encode, 1), |_| {}),
        ),
        (
            "sha256_hex (8 KiB)",
            program(call(Builtin::Sha256Hex, 1), |_| {}),
        ),
        ("uuid", program(call(Builtin::Uuid, 0), |_| {})),
        (
            "tpl.build json (8 KiB)",
            program(Op::TplBuild { dst: 0, tpl: 0 }, |p| {
                let parts = vec![TplPart::Reg { r: 1, json: true }];
                p.templates.push(Template {
                    parts,
                    display: String::new(),
                });
            }),
        ),
        (
            "hdr.set (8 KiB)",
            program(Op::HdrSet { h: 0, r: 1 }, |_| {}),
        ),
        (
            "split sticky (8 KiB)",
            program(
                Op::Split {
                    canary: 0,
                    sticky: 1,
                    threshold: 0,
                    off: 0,
                },
                |_| {},
            ),
        ),
    ];
    println!("{:<24} {:>10} {:>10}", "op", "ns/op", "cost");
    for (name, p) in &cases {
        let ns = measure(p, base_ns, &mut host);
        let cost = p.ops.get(2).map_or(0, |op| op_cost(op, p));
        let flag = if ns > cost as f64 { "  <- over" } else { "" };
        println!("{name:<24} {ns:>10.1} {cost:>10}{flag}");
    }
}
