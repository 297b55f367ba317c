//! The interpreter loop: one match over every op; loads, compute and control live here, the
//! ops that reach outside the registers in `effects`.

use gw_program::{Field, Op, Program, Reg, Str, Value};

use crate::fault::{self, Fault};
use crate::{Effect, Exit, Frame, Host, builtins, expr};

/// One run of a program against a host.
pub(crate) struct Machine<'a, H: ?Sized> {
    pub p: &'a Program,
    pub frame: &'a mut Frame,
    pub host: &'a mut H,
    /// How the program ended, once a step returns `Flow::Exit` (kept out of `Flow` so a
    /// step's result stays register-sized).
    pub exit: Exit,
}

/// What to do after an op.
pub(crate) enum Flow {
    Next,
    /// Skip `off` ops after this one (a taken jump).
    Skip(u16),
    /// The program ended; `Machine::exit` says how.
    Exit,
}

pub(crate) type Step = Result<Flow, Fault>;

/// A pc as reported in exits (programs are at most 4096 ops, so it always fits).
pub(crate) fn pc32(pc: usize) -> u32 {
    u32::try_from(pc).unwrap_or(u32::MAX)
}

impl<'a, H: Host + ?Sized> Machine<'a, H> {
    pub fn run(mut self, start: u32) -> Exit {
        let mut pc = start as usize;
        let ops: &[Op] = &self.p.ops;
        loop {
            let Some(op) = ops.get(pc) else {
                return Exit::Trap { pc: pc32(pc) };
            };
            match self.step(op, pc) {
                Ok(Flow::Next) => pc += 1,
                Ok(Flow::Skip(off)) => pc += 1 + usize::from(off),
                Ok(Flow::Exit) => return self.exit,
                Err(f) => return fault::exit(self.p, pc, op, f),
            }
        }
    }

    /// [`Machine::run`] with `on_op` told of every op executed (its pc and the frame after
    /// it), the faulting and the last one included. A loop of its own, so `run` carries no
    /// hook.
    pub fn run_traced(mut self, start: u32, on_op: &mut dyn FnMut(u32, &Frame)) -> Exit {
        let mut pc = start as usize;
        let ops: &[Op] = &self.p.ops;
        loop {
            let Some(op) = ops.get(pc) else {
                return Exit::Trap { pc: pc32(pc) };
            };
            let step = self.step(op, pc);
            on_op(pc32(pc), self.frame);
            match step {
                Ok(Flow::Next) => pc += 1,
                Ok(Flow::Skip(off)) => pc += 1 + usize::from(off),
                Ok(Flow::Exit) => return self.exit,
                Err(f) => return fault::exit(self.p, pc, op, f),
            }
        }
    }

    #[inline(always)]
    fn step(&mut self, op: &Op, pc: usize) -> Step {
        match *op {
            Op::LdField { dst, field } => {
                let v = self.host.load(field);
                self.set(dst, v)
            }
            Op::LdConst { dst, k } => {
                let v = self.konst(k)?.clone();
                self.set(dst, v)
            }
            Op::Mov { dst, src } => {
                let v = self.get(src)?.clone();
                self.set(dst, v)
            }
            Op::Cmp { dst, op, a, b } => {
                let r = expr::compare(op, self.get(a)?, self.get(b)?)?;
                self.set(dst, Value::Bool(r))
            }
            Op::CmpConst { dst, op, a, k } => {
                let r = expr::compare(op, self.get(a)?, self.konst(k)?)?;
                self.set(dst, Value::Bool(r))
            }
            Op::Arith { dst, op, a, b } => {
                let Frame { regs, scratch, .. } = &mut *self.frame;
                let v = expr::arith(op, reg(regs, a)?, reg(regs, b)?, scratch)?;
                self.set(dst, v)
            }
            Op::Str { dst, op, a, b } => {
                let r = expr::str_op(op, self.get(a)?, self.get(b)?)?;
                self.set(dst, Value::Bool(r))
            }
            Op::InList { dst, a, list } => {
                let r = expr::in_list(self.get(a)?, self.get(list)?)?;
                self.set(dst, Value::Bool(r))
            }
            Op::InListConst { dst, k, list } => {
                let r = expr::in_list(self.konst(k)?, self.get(list)?)?;
                self.set(dst, Value::Bool(r))
            }
            Op::InSet { dst, a, set } => {
                let set = self.p.sets.get(usize::from(set)).ok_or(Fault::Operand)?;
                let r = expr::in_set(self.get(a)?, set)?;
                self.set(dst, Value::Bool(r))
            }
            Op::InCidr { dst, a, set } => {
                let set = self.p.cidrs.get(usize::from(set)).ok_or(Fault::Operand)?;
                let r = expr::in_cidr(self.get(a)?, set)?;
                self.set(dst, Value::Bool(r))
            }
            Op::Matches { dst, a, re } => {
                let re = self.p.regexes.get(usize::from(re)).ok_or(Fault::Operand)?;
                let v = self.get(a)?;
                let r = match v.as_text() {
                    Some(s) => re.is_match(s),
                    None if v.is_missing() => false,
                    None => return Err(Fault::Type),
                };
                self.set(dst, Value::Bool(r))
            }
            Op::Concat { dst, a, b } => {
                let Frame { regs, scratch, .. } = &mut *self.frame;
                let v = expr::concat(reg(regs, a)?, reg(regs, b)?, scratch)?;
                self.set(dst, v)
            }
            Op::Coalesce { dst, a, b } => {
                let a = self.get(a)?;
                let v = if a.is_missing() { self.get(b)? } else { a }.clone();
                self.set(dst, v)
            }
            Op::CoalesceConst { dst, a, k } => {
                let a = self.get(a)?;
                let v = if a.is_missing() { self.konst(k)? } else { a }.clone();
                self.set(dst, v)
            }
            Op::Has { dst, a } => {
                let r = !self.get(a)?.is_missing();
                self.set(dst, Value::Bool(r))
            }
            Op::Not { dst, a } => {
                let v = expr::not(self.get(a)?)?;
                self.set(dst, v)
            }
            Op::Neg { dst, a } => {
                let v = expr::neg(self.get(a)?)?;
                self.set(dst, v)
            }
            Op::CallFn {
                dst,
                func,
                arg,
                argc,
            } => {
                let start = usize::from(arg);
                let Frame {
                    regs,
                    scratch,
                    bytes,
                    ..
                } = &mut *self.frame;
                let args = regs
                    .get(start..start + usize::from(argc))
                    .ok_or(Fault::Operand)?;
                let v = builtins::call(
                    func,
                    args,
                    &mut builtins::Env {
                        host: self.host,
                        scratch,
                        bytes,
                    },
                )?;
                self.set(dst, v)
            }
            Op::TplBuild { dst, tpl } => {
                let v = Value::Str(Str::new(self.render(tpl)?));
                self.set(dst, v)
            }
            Op::Index { dst, a, b } => {
                let v = expr::index(self.get(a)?, self.get(b)?)?;
                self.set(dst, v)
            }
            Op::Member { dst, a, k } => {
                let name = self.name(k)?;
                let v = expr::member(self.get(a)?, name)?;
                self.set(dst, v)
            }
            Op::Jmp { off } => Ok(Flow::Skip(off)),
            Op::Jz { r, off } => Ok(if self.get(r)?.is_true() {
                Flow::Next
            } else {
                Flow::Skip(off)
            }),
            Op::Jnz { r, off } => Ok(if self.get(r)?.is_true() {
                Flow::Skip(off)
            } else {
                Flow::Next
            }),
            Op::HdrEqConst { dst, h, k } => {
                // Checked here so a bad operand traps before the host sees it.
                self.name(h)?;
                let header = self.host.load(Field::Header(h));
                let want = self.konst(k)?;
                let r = match (&header, want) {
                    (Value::Str(a), Value::Str(b)) => a == b,
                    _ => !header.is_missing() && expr::equal(&header, want),
                };
                self.set(dst, Value::Bool(r))
            }
            Op::DenyIfNot { r, status, msg } => {
                if self.get(r)?.is_true() {
                    Ok(Flow::Next)
                } else {
                    self.finish(fault::deny(status, msg))
                }
            }
            Op::Call { slot, arg, argc } => self.call(slot, arg, argc, pc),
            Op::HdrSetConst { h, k } => self.hdr_set_const(h, k),
            Op::HdrSet { h, r } => self.named(
                h,
                r,
                |n, v| Effect::SetHeader(n, v),
                Some(|n| Effect::RemoveHeader(n)),
            ),
            Op::HdrAdd { h, r } => self.named(h, r, |n, v| Effect::AppendHeader(n, v), None),
            Op::QuerySet { q, r } => self.named(
                q,
                r,
                |n, v| Effect::SetQuery(n, v),
                Some(|n| Effect::RemoveQuery(n)),
            ),
            Op::RespHdrSet { h, r } => self.named(
                h,
                r,
                |n, v| Effect::RespSetHeader(n, v),
                Some(|n| Effect::RespRemoveHeader(n)),
            ),
            Op::RespHdrAdd { h, r } => {
                self.named(h, r, |n, v| Effect::RespAppendHeader(n, v), None)
            }
            Op::HdrDel { h } => self.apply_name(h, |x| Effect::RemoveHeader(x)),
            Op::QueryDel { q } => self.apply_name(q, |x| Effect::RemoveQuery(x)),
            Op::RespHdrDel { h } => self.apply_name(h, |x| Effect::RespRemoveHeader(x)),
            Op::PathRewrite { r } => self.path_rewrite(r),
            Op::BodyBuild { tpl } => self.build(tpl, |x| Effect::SetBody(x)),
            Op::RespBodyBuild { tpl } => self.build(tpl, |x| Effect::RespSetBody(x)),
            Op::RespStatusSet { r } => self.resp_status_set(r),
            Op::Forward { up, hash } => self.forward(up, hash),
            Op::Upgrade { up, hash } => self.upgrade(up, hash),
            Op::Split {
                canary,
                sticky,
                threshold,
                off,
            } => self.split(canary, sticky, threshold, off),
            Op::CanaryMark => self.canary_mark(),
            Op::Respond { status, tpl, json } => self.respond(status, tpl, json),
            Op::Deny { status, msg } => self.finish(fault::deny(status, msg)),
            Op::Done => self.finish(Exit::Done),
        }
    }

    pub(crate) fn finish(&mut self, exit: Exit) -> Step {
        self.exit = exit;
        Ok(Flow::Exit)
    }

    pub(crate) fn get(&self, r: Reg) -> Result<&Value, Fault> {
        reg(&self.frame.regs, r)
    }

    pub(crate) fn set(&mut self, r: Reg, v: Value) -> Step {
        let slot = self
            .frame
            .regs
            .get_mut(usize::from(r))
            .ok_or(Fault::Operand)?;
        *slot = v;
        Ok(Flow::Next)
    }

    pub(crate) fn konst(&self, k: u16) -> Result<&'a Value, Fault> {
        let p: &'a Program = self.p;
        p.consts.get(usize::from(k)).ok_or(Fault::Operand)
    }

    /// A name constant: header, query, member.
    pub(crate) fn name(&self, k: u16) -> Result<&'a str, Fault> {
        match self.konst(k)? {
            Value::Str(s) => Ok(s.as_str()),
            _ => Err(Fault::Operand),
        }
    }
}

/// Register `r` of `regs`.
pub(crate) fn reg(regs: &[Value], r: Reg) -> Result<&Value, Fault> {
    regs.get(usize::from(r)).ok_or(Fault::Operand)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_control;
