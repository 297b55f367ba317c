//! Building one phase program: ops with their source locations, deduplicated pools, linear
//! register allocation (reset per statement) and forward-jump patching.

use gw_program::{CidrSet, Loc, Op, Program, Reg, Template, Value};
use gw_syntax::{SourceMap, Span};

/// Most registers a program may use (E0602 above).
pub(crate) const MAX_REGS: u16 = 250;
/// Most ops in one program (E0602 above).
pub(crate) const MAX_OPS: usize = 4096;

/// A program under construction.
pub(crate) struct Builder<'s> {
    sources: &'s SourceMap,
    pub p: Program,
    next_reg: u16,
    max_reg: u16,
    /// Current expansion note (index into `p.notes`, or `u16::MAX`).
    note: u16,
    /// A pool or register overflowed: the program is reported as too long (E0602).
    pub overflow: bool,
    /// Cost of the ops emitted for each statement: `(span, units)`, for E0601's breakdown.
    pub stmt_costs: Vec<(Span, u64)>,
    /// Input-aware excess over the table cost: `(statement, units, why)`.
    pub extra: Vec<(Span, u64, String)>,
    const_index: ahash::AHashMap<String, u16>,
}

/// A forward jump waiting for its target.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Patch(usize);

impl<'s> Builder<'s> {
    pub(crate) fn new(sources: &'s SourceMap, name: String, file: String, line: u32) -> Self {
        let p = Program {
            name,
            file,
            line,
            ..Program::default()
        };
        Builder {
            sources,
            p,
            next_reg: 0,
            const_index: ahash::AHashMap::new(),
            max_reg: 0,
            note: u16::MAX,
            overflow: false,
            stmt_costs: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// Sets the note every following op carries (`policy signed_in, used at 75:3`).
    pub(crate) fn set_note(&mut self, note: Option<String>) {
        self.note = match note {
            None => u16::MAX,
            Some(n) => match self.p.notes.iter().position(|x| *x == n) {
                Some(i) => idx(i, &mut self.overflow),
                None => {
                    self.p.notes.push(n);
                    idx(self.p.notes.len() - 1, &mut self.overflow)
                }
            },
        };
    }

    pub(crate) fn len(&self) -> usize {
        self.p.ops.len()
    }

    /// Emits an op located at `span`.
    pub(crate) fn op(&mut self, op: Op, span: Span) {
        let (_, line, col) = self.sources.locate(span);
        self.p.ops.push(op);
        self.p.locs.push(Loc {
            line,
            col,
            note: self.note,
        });
    }

    /// Frees every register: a statement's values do not outlive it.
    pub(crate) fn reset_regs(&mut self) {
        self.next_reg = 0;
    }

    pub(crate) fn reg(&mut self) -> Reg {
        let r = self.next_reg;
        self.next_reg = self.next_reg.saturating_add(1);
        self.max_reg = self.max_reg.max(self.next_reg);
        if self.next_reg > MAX_REGS {
            self.overflow = true;
        }
        u8::try_from(r).unwrap_or(u8::MAX - 1)
    }

    /// `n` consecutive registers; returns the first.
    pub(crate) fn regs(&mut self, n: u8) -> Reg {
        let first = self.reg();
        for _ in 1..n {
            self.reg();
        }
        first
    }

    pub(crate) fn konst(&mut self, v: Value) -> u16 {
        // Keyed by the debug form, which names the value's kind (`Str("1")` vs `Int(1)`).
        let key = format!("{v:?}");
        if let Some(i) = self.const_index.get(&key) {
            return *i;
        }
        self.p.consts.push(v);
        let i = idx(self.p.consts.len() - 1, &mut self.overflow);
        self.const_index.insert(key, i);
        i
    }

    pub(crate) fn template(&mut self, t: Template) -> u16 {
        self.p.templates.push(t);
        idx(self.p.templates.len() - 1, &mut self.overflow)
    }

    pub(crate) fn set(&mut self, items: &[String]) -> u16 {
        let set: ahash::AHashSet<String> = items.iter().cloned().collect();
        if let Some(i) = self.p.sets.iter().position(|s| *s == set) {
            return idx(i, &mut self.overflow);
        }
        self.p.sets.push(set);
        idx(self.p.sets.len() - 1, &mut self.overflow)
    }

    pub(crate) fn cidrs(&mut self, set: CidrSet) -> u16 {
        if let Some(i) = self.p.cidrs.iter().position(|s| *s == set) {
            return idx(i, &mut self.overflow);
        }
        self.p.cidrs.push(set);
        idx(self.p.cidrs.len() - 1, &mut self.overflow)
    }

    pub(crate) fn regex(&mut self, re: regex::Regex) -> u16 {
        if let Some(i) = self
            .p
            .regexes
            .iter()
            .position(|r| r.as_str() == re.as_str())
        {
            return idx(i, &mut self.overflow);
        }
        self.p.regexes.push(re);
        idx(self.p.regexes.len() - 1, &mut self.overflow)
    }

    pub(crate) fn msg(&mut self, m: String) -> u16 {
        if let Some(i) = self.p.msgs.iter().position(|x| *x == m) {
            return idx(i, &mut self.overflow);
        }
        self.p.msgs.push(m);
        idx(self.p.msgs.len() - 1, &mut self.overflow)
    }

    /// Emits a jump whose offset is patched by [`Builder::land`].
    pub(crate) fn jump(&mut self, op: Op, span: Span) -> Patch {
        self.op(op, span);
        Patch(self.p.ops.len() - 1)
    }

    /// Points a pending jump at the next op to be emitted.
    pub(crate) fn land(&mut self, patch: Patch) {
        let target = self.p.ops.len();
        let off = target.saturating_sub(patch.0 + 1);
        let off = match u16::try_from(off) {
            Ok(o) => o,
            Err(_) => {
                self.overflow = true;
                0
            }
        };
        if let Some(op) = self.p.ops.get_mut(patch.0) {
            match op {
                Op::Jmp { off: o } | Op::Jz { off: o, .. } | Op::Jnz { off: o, .. } => *o = off,
                Op::Split { off: o, .. } => *o = off,
                _ => {}
            }
        }
    }

    /// Records the cost of the ops emitted since `start` against a statement.
    pub(crate) fn charge(&mut self, start: usize, span: Span) {
        let cost: u64 = gw_program::cost::op_costs(&self.p)
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .sum();
        if cost > 0 {
            self.stmt_costs.push((span, cost));
        }
    }

    /// Finishes the program: register count and cost.
    pub(crate) fn finish(mut self) -> Finished {
        self.p.regs = u8::try_from(self.max_reg.min(MAX_REGS)).unwrap_or(u8::MAX);
        self.p.cost = gw_program::cost::program_cost(&self.p);
        let overflow = self.overflow || self.p.ops.len() > MAX_OPS || self.max_reg > MAX_REGS;
        Finished {
            program: self.p,
            overflow,
            regs: self.max_reg,
            stmt_costs: self.stmt_costs,
            extra: self.extra,
        }
    }
}

/// A built program and what the budget and size checks need.
pub(crate) struct Finished {
    pub program: Program,
    pub overflow: bool,
    /// Registers the program needed (may exceed what `Program::regs` can hold).
    pub regs: u16,
    pub stmt_costs: Vec<(Span, u64)>,
    pub extra: Vec<(Span, u64, String)>,
}

fn idx(i: usize, overflow: &mut bool) -> u16 {
    match u16::try_from(i) {
        Ok(v) if v < u16::MAX => v,
        _ => {
            *overflow = true;
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_deduplicate_and_jumps_patch_forward() {
        let sources = SourceMap::default();
        let mut b = Builder::new(&sources, "t".into(), "t.gw".into(), 1);
        assert_eq!(b.konst(Value::Int(1)), 0);
        assert_eq!(b.konst(Value::str("a")), 1);
        assert_eq!(b.konst(Value::Int(1)), 0);
        let r = b.reg();
        let j = b.jump(Op::Jz { r, off: 0 }, Span::default());
        b.op(Op::Not { dst: r, a: r }, Span::default());
        b.op(Op::Not { dst: r, a: r }, Span::default());
        b.land(j);
        b.op(
            Op::Deny {
                status: 403,
                msg: gw_program::NONE,
            },
            Span::default(),
        );
        let f = b.finish();
        let p = f.program;
        assert!(!f.overflow);
        assert_eq!(p.ops[0], Op::Jz { r: 0, off: 2 });
        assert_eq!(p.regs, 1);
        assert_eq!(p.locs.len(), p.ops.len());
    }

    #[test]
    fn register_overflow_is_flagged() {
        let sources = SourceMap::default();
        let mut b = Builder::new(&sources, "t".into(), "t.gw".into(), 1);
        for _ in 0..300 {
            b.reg();
        }
        assert!(b.finish().overflow);
    }
}
