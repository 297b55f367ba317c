//! Ops that reach outside the registers: plugin calls, request and response changes, and
//! the actions that end a program.

use gw_program::{NO_REG, NONE, Op, Reg, Value};

use crate::exec::{Flow, Machine, Step, pc32, reg};
use crate::fault::{self, Fault};
use crate::{Call, Effect, Exit, Frame, hash, template};

/// Which effect a `(name, value)` op applies.
type NamedEffect = for<'e> fn(&'e str, &'e str) -> Effect<'e>;

impl Machine<'_> {
    pub(crate) fn effect(&mut self, op: &Op, pc: usize) -> Step {
        match *op {
            Op::Call { slot, arg, argc } => {
                let start = usize::from(arg);
                let args = self.frame.regs.get(start..start + usize::from(argc));
                let args = args.ok_or(Fault::Operand)?;
                match self.host.call(slot, args) {
                    Call::Continue => Ok(Flow::Next),
                    Call::Respond(status) => self.finish(Exit::Responded { status }),
                    Call::Pending => self.finish(Exit::Pending { pc: pc32(pc) }),
                }
            }
            Op::HdrSetConst { h, k } => {
                let name = self.name(h)?;
                let value = self.konst(k)?;
                let Frame { scratch, .. } = &mut *self.frame;
                if !value.is_missing() {
                    self.host
                        .apply(Effect::SetHeader(name, text(value, scratch)));
                }
                Ok(Flow::Next)
            }
            Op::HdrSet { h, r } => self.named(h, r, |n, v| Effect::SetHeader(n, v)),
            Op::HdrAdd { h, r } => self.named(h, r, |n, v| Effect::AppendHeader(n, v)),
            Op::QuerySet { q, r } => self.named(q, r, |n, v| Effect::SetQuery(n, v)),
            Op::RespHdrSet { h, r } => self.named(h, r, |n, v| Effect::RespSetHeader(n, v)),
            Op::RespHdrAdd { h, r } => self.named(h, r, |n, v| Effect::RespAppendHeader(n, v)),
            Op::HdrDel { h } => self.apply_name(h, |x| Effect::RemoveHeader(x)),
            Op::QueryDel { q } => self.apply_name(q, |x| Effect::RemoveQuery(x)),
            Op::RespHdrDel { h } => self.apply_name(h, |x| Effect::RespRemoveHeader(x)),
            Op::PathRewrite { r } => {
                let Frame { regs, scratch, .. } = &mut *self.frame;
                let v = reg(regs, r)?;
                if !v.is_missing() {
                    self.host.apply(Effect::RewritePath(text(v, scratch)));
                }
                Ok(Flow::Next)
            }
            Op::BodyBuild { tpl } => self.build(tpl, |x| Effect::SetBody(x)),
            Op::RespBodyBuild { tpl } => self.build(tpl, |x| Effect::RespSetBody(x)),
            Op::RespStatusSet { r } => {
                let status = match self.get(r)? {
                    Value::Int(s) => u16::try_from(*s).ok().filter(|s| (100..=599).contains(s)),
                    _ => None,
                };
                self.host
                    .apply(Effect::SetStatus(status.ok_or(Fault::Invalid)?));
                Ok(Flow::Next)
            }
            Op::Forward { up, hash } => {
                let hash = self.balance_key(hash)?;
                let canary = self.frame.canary;
                self.finish(Exit::Forward {
                    upstream: up,
                    hash,
                    canary,
                })
            }
            Op::Upgrade { up, hash } => {
                let hash = self.balance_key(hash)?;
                self.finish(Exit::Upgrade { upstream: up, hash })
            }
            Op::Split {
                canary,
                sticky,
                threshold,
                off,
            } => {
                let seed = self.host.hash_seed();
                let Frame { regs, scratch, .. } = &mut *self.frame;
                let key = if sticky == NO_REG {
                    None
                } else {
                    Some(reg(regs, sticky)?)
                };
                let side = match key.filter(|v| !v.is_missing()) {
                    Some(v) => hash::canary_side(seed, text(v, scratch), threshold),
                    None => hash::split_by_counter(self.host.split_counter(canary), threshold),
                };
                if side {
                    self.frame.canary = true;
                    Ok(Flow::Skip(off))
                } else {
                    Ok(Flow::Next)
                }
            }
            Op::CanaryMark => {
                self.frame.canary = true;
                Ok(Flow::Next)
            }
            Op::Respond { status, tpl, json } => {
                let body = if tpl == NONE {
                    None
                } else {
                    let tpl = self
                        .p
                        .templates
                        .get(usize::from(tpl))
                        .ok_or(Fault::Operand)?;
                    let Frame { regs, scratch, .. } = &mut *self.frame;
                    scratch.clear();
                    template::render(tpl, regs, scratch)?;
                    Some((0, u32::try_from(scratch.len()).map_err(|_| Fault::Invalid)?))
                };
                self.finish(Exit::Respond { status, body, json })
            }
            Op::Deny { status, msg } => self.finish(fault::deny(status, msg)),
            Op::Done => self.finish(Exit::Done),
            // Expression ops are handled by `step`; reaching here means a new op was added
            // to one match and not the other.
            _ => Err(Fault::Operand),
        }
    }

    /// `name = text(r)` effects; an absent value changes nothing.
    fn named(&mut self, k: u16, r: Reg, effect: NamedEffect) -> Step {
        let name = self.name(k)?;
        let Frame { regs, scratch, .. } = &mut *self.frame;
        let v = reg(regs, r)?;
        if !v.is_missing() {
            self.host.apply(effect(name, text(v, scratch)));
        }
        Ok(Flow::Next)
    }

    fn apply_name(&mut self, k: u16, effect: for<'e> fn(&'e str) -> Effect<'e>) -> Step {
        let name = self.name(k)?;
        self.host.apply(effect(name));
        Ok(Flow::Next)
    }

    fn build(&mut self, tpl: u16, effect: for<'e> fn(&'e str) -> Effect<'e>) -> Step {
        let tpl = self
            .p
            .templates
            .get(usize::from(tpl))
            .ok_or(Fault::Operand)?;
        let Frame { regs, scratch, .. } = &mut *self.frame;
        scratch.clear();
        template::render(tpl, regs, scratch)?;
        self.host.apply(effect(scratch));
        Ok(Flow::Next)
    }

    /// The `hash by` value of a forward, hashed; none when unset or absent.
    fn balance_key(&mut self, r: Reg) -> Result<Option<u64>, Fault> {
        if r == NO_REG {
            return Ok(None);
        }
        let seed = self.host.hash_seed();
        let Frame { regs, scratch, .. } = &mut *self.frame;
        let v = reg(regs, r)?;
        Ok((!v.is_missing()).then(|| hash::balance_hash(seed, text(v, scratch))))
    }
}

/// The text of a value: a string as it is, anything else rendered into `scratch`.
pub(crate) fn text<'v>(v: &'v Value, scratch: &'v mut String) -> &'v str {
    match v.as_text() {
        Some(s) => s,
        None => {
            scratch.clear();
            v.write_text(scratch);
            scratch
        }
    }
}

#[cfg(test)]
mod tests;
