//! Test doubles: a host made of maps, and a way to assemble verified programs by hand.

use std::collections::{HashMap, HashSet, VecDeque};

use gw_program::{Field, Loc, Op, Program, Template, Value, program_cost, verify};

use crate::{Call, Effect, Exit, Frame, Host, run};

/// A host that answers loads from a map and records what the program did.
#[derive(Default)]
pub(crate) struct TestHost {
    pub fields: HashMap<Field, Value>,
    /// Effects as `format!("{:?}")` strings, in order.
    pub effects: Vec<String>,
    /// Plugin calls: slot and arguments.
    pub calls: Vec<(u16, Vec<Value>)>,
    /// Answers per slot, consumed in order; `Continue` when none is left.
    pub answers: HashMap<u16, VecDeque<Call>>,
    pub now: i64,
    pub healthy: HashSet<u16>,
    pub counters: HashMap<u16, u64>,
    pub seed: u64,
}

impl TestHost {
    pub fn with(fields: &[(Field, Value)]) -> TestHost {
        TestHost {
            fields: fields.iter().cloned().collect(),
            ..TestHost::default()
        }
    }
}

impl Host for TestHost {
    fn load(&mut self, field: Field) -> Value {
        self.fields.get(&field).cloned().unwrap_or(Value::Absent)
    }

    fn apply(&mut self, effect: Effect<'_>) {
        self.effects.push(format!("{effect:?}"));
    }

    fn call(&mut self, slot: u16, args: &[Value]) -> Call {
        self.calls.push((slot, args.to_vec()));
        self.answers
            .get_mut(&slot)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Call::Continue)
    }

    fn now_ms(&self) -> i64 {
        self.now
    }

    fn upstream_healthy(&self, upstream: u16) -> bool {
        self.healthy.contains(&upstream)
    }

    fn split_counter(&mut self, id: u16) -> u64 {
        let c = self.counters.entry(id).or_default();
        let n = *c;
        *c += 1;
        n
    }

    fn hash_seed(&self) -> u64 {
        self.seed
    }
}

/// A program under construction; `build` fills locs and cost.
pub(crate) struct Asm {
    pub p: Program,
}

impl Asm {
    pub fn new(regs: u8) -> Asm {
        Asm {
            p: Program {
                name: "route TEST /t".into(),
                regs,
                ..Program::default()
            },
        }
    }

    /// Add a constant; returns its index.
    pub fn konst(&mut self, v: Value) -> u16 {
        self.p.consts.push(v);
        u16::try_from(self.p.consts.len() - 1).unwrap()
    }

    pub fn template(&mut self, parts: Vec<gw_program::TplPart>) -> u16 {
        self.p.templates.push(Template {
            parts,
            display: String::new(),
        });
        u16::try_from(self.p.templates.len() - 1).unwrap()
    }

    pub fn ops(mut self, ops: Vec<Op>) -> Program {
        self.p.locs = vec![
            Loc {
                line: 1,
                col: 1,
                note: u16::MAX
            };
            ops.len()
        ];
        self.p.ops = ops;
        self.p.cost = program_cost(&self.p);
        self.p
    }
}

/// Verify `p` as a request program (with room for 4 upstreams, plugins and canaries) and
/// run it from the start.
pub(crate) fn run_request(p: &Program, host: &mut TestHost) -> (Exit, Frame) {
    let ctx = gw_program::VerifyCtx {
        upstreams: 4,
        plugins: 4,
        canaries: 4,
        params: 2,
        ..gw_program::VerifyCtx::new(gw_program::Phase::Request)
    };
    verify(p, &ctx).unwrap();
    let mut frame = Frame::new();
    let exit = run(p, 0, &mut frame, host);
    (exit, frame)
}

/// Verify `p` as a response program and run it.
pub(crate) fn run_response(p: &Program, host: &mut TestHost) -> (Exit, Frame) {
    verify(p, &gw_program::VerifyCtx::new(gw_program::Phase::Response)).unwrap();
    let mut frame = Frame::new();
    let exit = run(p, 0, &mut frame, host);
    (exit, frame)
}

/// Run `ops` followed by `respond 200` as a request program; returns the registers.
pub(crate) fn eval(asm: Asm, mut ops: Vec<Op>, host: &mut TestHost) -> Vec<Value> {
    ops.push(Op::Respond {
        status: 200,
        tpl: gw_program::NONE,
        json: false,
    });
    let p = asm.ops(ops);
    let (exit, frame) = run_request(&p, host);
    assert_eq!(
        exit,
        Exit::Respond {
            status: 200,
            body: None,
            json: false
        }
    );
    frame.regs
}
