//! Ops that reach outside the registers: plugin calls, request and response changes, and
//! the actions that end a program.

use gw_program::{NO_REG, NONE, Reg, Value};

use crate::exec::{Flow, Machine, Step, pc32, reg};
use crate::fault::Fault;
use crate::{Call, Effect, Exit, Frame, Host, hash, template};

/// Which effect a `(name, value)` op applies.
pub(crate) type NamedEffect = for<'e> fn(&'e str, &'e str) -> Effect<'e>;

impl<H: Host + ?Sized> Machine<'_, H> {
    /// `call slot, args`: run a plugin.
    pub(crate) fn call(&mut self, slot: u16, arg: Reg, argc: u8, pc: usize) -> Step {
        let start = usize::from(arg);
        let args = self.frame.regs.get(start..start + usize::from(argc));
        let args = args.ok_or(Fault::Operand)?;
        match self.host.call(slot, args) {
            Call::Continue => Ok(Flow::Next),
            Call::Deny {
                status,
                retry_after,
            } => self.finish(Exit::Deny {
                status,
                message: None,
                retry_after,
            }),
            Call::Respond(status) => self.finish(Exit::Responded { status }),
            Call::Pending => self.finish(Exit::Pending { pc: pc32(pc) }),
        }
    }

    /// `hdr.set.const H, k`.
    pub(crate) fn hdr_set_const(&mut self, h: u16, k: u16) -> Step {
        let name = self.name(h)?;
        let value = self.konst(k)?;
        let Frame { scratch, .. } = &mut *self.frame;
        if !value.is_missing() {
            self.host
                .apply(Effect::SetHeader(name, text(value, scratch)));
        }
        Ok(Flow::Next)
    }

    /// `path.rewrite r`; an absent value changes nothing.
    pub(crate) fn path_rewrite(&mut self, r: Reg) -> Step {
        let Frame { regs, scratch, .. } = &mut *self.frame;
        let v = reg(regs, r)?;
        if !v.is_missing() {
            self.host.apply(Effect::RewritePath(text(v, scratch)));
        }
        Ok(Flow::Next)
    }

    /// `resp.status.set r`: an int in 100..=599.
    pub(crate) fn resp_status_set(&mut self, r: Reg) -> Step {
        let status = match self.get(r)? {
            Value::Int(s) => u16::try_from(*s).ok().filter(|s| (100..=599).contains(s)),
            _ => None,
        };
        self.host
            .apply(Effect::SetStatus(status.ok_or(Fault::Invalid)?));
        Ok(Flow::Next)
    }

    /// `forward up, hash`.
    pub(crate) fn forward(&mut self, up: u16, hash: Reg) -> Step {
        let hash = self.balance_key(hash)?;
        let canary = self.frame.canary;
        self.finish(Exit::Forward {
            upstream: up,
            hash,
            canary,
        })
    }

    /// `ws.upgrade up, hash`.
    pub(crate) fn upgrade(&mut self, up: u16, hash: Reg) -> Step {
        let hash = self.balance_key(hash)?;
        self.finish(Exit::Upgrade { upstream: up, hash })
    }

    /// `split canary, sticky, threshold`: skip `off` ops to the canary side when chosen.
    pub(crate) fn split(&mut self, canary: u16, sticky: Reg, threshold: u16, off: u16) -> Step {
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

    /// `canary.mark`.
    pub(crate) fn canary_mark(&mut self) -> Step {
        self.frame.canary = true;
        Ok(Flow::Next)
    }

    /// `respond status, tpl`: the body, if any, is left in the scratch buffer.
    pub(crate) fn respond(&mut self, status: u16, tpl: u16, json: bool) -> Step {
        let body = if tpl == NONE {
            None
        } else {
            let len = self.render(tpl)?.len();
            Some((0, u32::try_from(len).map_err(|_| Fault::Invalid)?))
        };
        self.finish(Exit::Respond { status, body, json })
    }

    /// `name = text(r)` effects. An absent value adds nothing, and a `set` of one removes the
    /// field (`absent`): the client's own value must never stand in for the one gw was told
    /// to set.
    pub(crate) fn named(
        &mut self,
        k: u16,
        r: Reg,
        effect: NamedEffect,
        absent: Option<for<'e> fn(&'e str) -> Effect<'e>>,
    ) -> Step {
        let name = self.name(k)?;
        let Frame { regs, scratch, .. } = &mut *self.frame;
        let v = reg(regs, r)?;
        if !v.is_missing() {
            self.host.apply(effect(name, text(v, scratch)));
        } else if let Some(remove) = absent {
            self.host.apply(remove(name));
        }
        Ok(Flow::Next)
    }

    /// Effects on a name alone (removals).
    pub(crate) fn apply_name(&mut self, k: u16, effect: for<'e> fn(&'e str) -> Effect<'e>) -> Step {
        let name = self.name(k)?;
        self.host.apply(effect(name));
        Ok(Flow::Next)
    }

    /// Effects on a rendered template (bodies).
    pub(crate) fn build(&mut self, tpl: u16, effect: for<'e> fn(&'e str) -> Effect<'e>) -> Step {
        self.render(tpl)?;
        self.host.apply(effect(&self.frame.scratch));
        Ok(Flow::Next)
    }

    /// Render `templates[tpl]` into the frame's scratch buffer (cleared first).
    pub(crate) fn render(&mut self, tpl: u16) -> Result<&str, Fault> {
        let tpl = self
            .p
            .templates
            .get(usize::from(tpl))
            .ok_or(Fault::Operand)?;
        let Frame { regs, scratch, .. } = &mut *self.frame;
        scratch.clear();
        template::render(tpl, regs, scratch)?;
        Ok(scratch)
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
