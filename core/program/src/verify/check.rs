//! Operand checks of one op: registers, pool indices, ids, statuses and phase.

use super::{Phase, Reason, VerifyCtx};
use crate::field::Field;
use crate::op::{NO_REG, NONE, Op, Reg};
use crate::program::Program;
use crate::value::Value;

/// Checks the op at `pc` of `p`.
pub(super) struct OpCheck<'a> {
    pub p: &'a Program,
    pub ctx: &'a VerifyCtx,
    pub pc: usize,
}

type Check = Result<(), Reason>;

impl OpCheck<'_> {
    pub fn op(&self, op: &Op) -> Check {
        if !allowed_in(op, self.ctx.phase) {
            return Err(Reason::OpNotInPhase);
        }
        match *op {
            Op::LdField { dst, field } => self.reg(dst).and(self.field(field)),
            Op::LdConst { dst, k } => self.reg(dst).and(self.konst(k)),
            Op::Mov { dst, src: a }
            | Op::Has { dst, a }
            | Op::Not { dst, a }
            | Op::Neg { dst, a } => self.regs(&[dst, a]),
            Op::Cmp { dst, a, b, .. }
            | Op::Arith { dst, a, b, .. }
            | Op::Str { dst, a, b, .. }
            | Op::Concat { dst, a, b }
            | Op::Coalesce { dst, a, b }
            | Op::Index { dst, a, b } => self.regs(&[dst, a, b]),
            Op::CmpConst { dst, a, k, .. } | Op::CoalesceConst { dst, a, k } => {
                self.regs(&[dst, a]).and(self.konst(k))
            }
            Op::Member { dst, a, k } => self.regs(&[dst, a]).and(self.name(k)),
            Op::InList { dst, a, list } => self.regs(&[dst, a, list]),
            Op::InListConst { dst, k, list } => self.regs(&[dst, list]).and(self.konst(k)),
            Op::InSet { dst, a, set } => {
                self.regs(&[dst, a])?;
                self.pool(self.p.sets.len(), set, Reason::BadSet { set })
            }
            Op::InCidr { dst, a, set } => {
                self.regs(&[dst, a])?;
                match self.p.cidrs.get(usize::from(set)) {
                    None => Err(Reason::BadCidrSet { set }),
                    Some(c) if !c.is_normalized() => Err(Reason::CidrSetNotNormalized { set }),
                    Some(_) => Ok(()),
                }
            }
            Op::Matches { dst, a, re } => {
                self.regs(&[dst, a])?;
                self.pool(self.p.regexes.len(), re, Reason::BadRegex { re })
            }
            Op::CallFn {
                dst,
                func,
                arg,
                argc,
            } => {
                if argc != func.arity() {
                    return Err(Reason::BadArity { func, argc });
                }
                self.reg(dst).and(self.reg_range(arg, argc))
            }
            Op::TplBuild { dst, tpl } => self.reg(dst).and(self.tpl(tpl)),
            Op::Jmp { off } => self.jump(off),
            Op::Jz { r, off } | Op::Jnz { r, off } => self.reg(r).and(self.jump(off)),
            Op::HdrEqConst { dst, h, k } => self.reg(dst).and(self.name(h)).and(self.konst(k)),
            Op::DenyIfNot { r, status, msg } => {
                self.reg(r).and(self.status(status)).and(self.msg(msg))
            }
            Op::Deny { status, msg } => self.status(status).and(self.msg(msg)),
            Op::HdrSetConst { h, k } => self.name(h).and(self.konst(k)),
            Op::Call { slot, arg, argc } => {
                self.pool(self.ctx.plugins, slot, Reason::BadPlugin { slot })?;
                self.reg_range(arg, argc)
            }
            Op::HdrSet { h, r }
            | Op::HdrAdd { h, r }
            | Op::QuerySet { q: h, r }
            | Op::RespHdrSet { h, r }
            | Op::RespHdrAdd { h, r } => self.name(h).and(self.reg(r)),
            Op::HdrDel { h } | Op::QueryDel { q: h } | Op::RespHdrDel { h } => self.name(h),
            Op::PathRewrite { r } | Op::RespStatusSet { r } => self.reg(r),
            Op::BodyBuild { tpl } | Op::RespBodyBuild { tpl } => self.tpl(tpl),
            Op::Forward { up, hash } | Op::Upgrade { up, hash } => {
                self.pool(self.ctx.upstreams, up, Reason::BadUpstream { up })?;
                self.opt_reg(hash)
            }
            Op::Split {
                canary,
                sticky,
                threshold,
                off,
            } => {
                self.pool(self.ctx.canaries, canary, Reason::BadCanary { id: canary })?;
                if threshold > 10_000 {
                    return Err(Reason::BadThreshold { threshold });
                }
                self.opt_reg(sticky).and(self.jump(off))
            }
            Op::Respond { status, tpl, .. } => {
                self.status(status)?;
                if tpl == NONE { Ok(()) } else { self.tpl(tpl) }
            }
            Op::CanaryMark | Op::Done => Ok(()),
        }
    }

    fn reg(&self, r: Reg) -> Check {
        if r < self.p.regs {
            Ok(())
        } else {
            Err(Reason::BadRegister { reg: r })
        }
    }

    fn regs(&self, rs: &[Reg]) -> Check {
        rs.iter().try_for_each(|&r| self.reg(r))
    }

    fn opt_reg(&self, r: Reg) -> Check {
        if r == NO_REG { Ok(()) } else { self.reg(r) }
    }

    /// Registers `arg..arg + argc` (none when `argc` is 0).
    fn reg_range(&self, arg: Reg, argc: u8) -> Check {
        if argc == 0 {
            return Ok(());
        }
        let end = u16::from(arg) + u16::from(argc);
        if end <= u16::from(self.p.regs) {
            Ok(())
        } else {
            let reg = Reg::try_from(end - 1).unwrap_or(NO_REG);
            Err(Reason::BadRegister { reg })
        }
    }

    fn pool(&self, len: usize, index: u16, reason: Reason) -> Check {
        if usize::from(index) < len {
            Ok(())
        } else {
            Err(reason)
        }
    }

    fn konst(&self, k: u16) -> Check {
        self.pool(self.p.consts.len(), k, Reason::BadConst { k })
    }

    /// A constant that holds a name (header, query, cookie, member, JSON pointer).
    fn name(&self, k: u16) -> Check {
        match self.p.consts.get(usize::from(k)) {
            None => Err(Reason::BadConst { k }),
            Some(Value::Str(_)) => Ok(()),
            Some(_) => Err(Reason::NotAName { k }),
        }
    }

    fn tpl(&self, tpl: u16) -> Check {
        self.pool(self.p.templates.len(), tpl, Reason::BadTemplate { tpl })
    }

    fn msg(&self, msg: u16) -> Check {
        if msg == NONE {
            Ok(())
        } else {
            self.pool(self.p.msgs.len(), msg, Reason::BadMessage { msg })
        }
    }

    fn status(&self, status: u16) -> Check {
        if (100..=599).contains(&status) {
            Ok(())
        } else {
            Err(Reason::BadStatus { status })
        }
    }

    /// The target `pc + 1 + off` must be an op of the program.
    fn jump(&self, off: u16) -> Check {
        let target = self.pc + 1 + usize::from(off);
        if target < self.p.ops.len() {
            Ok(())
        } else {
            Err(Reason::JumpOutOfRange { target })
        }
    }

    fn field(&self, field: Field) -> Check {
        let phase = self.ctx.phase;
        let in_phase = match field {
            Field::RespStatus
            | Field::RespHeader(_)
            | Field::RespJson(_)
            | Field::UpstreamName
            | Field::UpstreamLatency
            | Field::Canary => phase == Phase::Response,
            Field::ErrorStatus | Field::ErrorMessage | Field::ErrorRetryAfter => {
                phase == Phase::Error
            }
            Field::Body(_) => phase != Phase::Error,
            _ => true,
        };
        if !in_phase {
            return Err(Reason::FieldNotInPhase { field });
        }
        match field {
            Field::Query(k)
            | Field::Header(k)
            | Field::Cookie(k)
            | Field::RespHeader(k)
            | Field::RespJson(k)
            | Field::Body(k) => self.name(k),
            Field::PathParam(index) if usize::from(index) >= self.ctx.params => {
                Err(Reason::BadParam { index })
            }
            Field::Local(id) if usize::from(id) >= self.p.locals.len() => {
                Err(Reason::BadLocal { id })
            }
            _ => Ok(()),
        }
    }
}

/// Request-only ops change the upstream request or pick the target; response ops change the
/// response. Expressions, jumps, plugin calls and `respond` run in every phase.
fn allowed_in(op: &Op, phase: Phase) -> bool {
    let request_only = matches!(
        op,
        Op::HdrSet { .. }
            | Op::HdrAdd { .. }
            | Op::HdrDel { .. }
            | Op::HdrSetConst { .. }
            | Op::QuerySet { .. }
            | Op::QueryDel { .. }
            | Op::PathRewrite { .. }
            | Op::BodyBuild { .. }
            | Op::Forward { .. }
            | Op::Split { .. }
            | Op::Upgrade { .. }
            | Op::CanaryMark
            | Op::Deny { .. }
            | Op::DenyIfNot { .. }
    );
    // Response-header edits are also valid in a request program: they shape a `respond`
    // (`respond 200 headers { .. }`) or a plugin's own answer.
    let response_only = matches!(
        op,
        Op::RespStatusSet { .. } | Op::RespBodyBuild { .. } | Op::Done
    );
    match phase {
        Phase::Request => !response_only,
        Phase::Response | Phase::Error => !request_only,
    }
}
