//! The verifier: the compiler runs it on every program it emits, and the runtime again on
//! every image it loads, so a miscompile is caught before serving. A verified program cannot
//! make the VM index out of range, jump backwards or fall off its end.
//!
//! Backward jumps cannot be encoded (offsets are unsigned and count from the next op), so
//! "forward only" reduces to "in range". Every path ends in an action because every jump
//! target is in range and the last op is a terminal action of the phase.

use std::fmt;

use crate::cost::{MAX_BUDGET, MAX_OPS, program_cost};
use crate::disasm::mnemonic;
use crate::image::ConfigImage;
use crate::op::Op;
use crate::program::{Program, TplPart};

mod check;
mod reason;

pub use reason::Reason;

/// Which phase a program runs in; decides the fields and ops it may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Ends in `forward`, `respond`, `deny` or `ws.upgrade`.
    Request,
    /// `on response`: ends in `done` or `respond`.
    Response,
    /// `on error`: ends in `done` or `respond`.
    Error,
}

impl Phase {
    /// `request`, `response` or `error`, as disasm labels phases.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Request => "request",
            Phase::Response => "response",
            Phase::Error => "error",
        }
    }
}

/// What a program may refer to outside itself. (Its own pools — constants, templates, sets,
/// CIDR sets, regexes, messages, notes and `locals`, which `Field::Local(id)` indexes — are
/// checked against the program.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyCtx {
    pub phase: Phase,
    /// `ConfigImage::upstreams.len()`.
    pub upstreams: usize,
    /// `ConfigImage::plugins.len()`.
    pub plugins: usize,
    /// Number of canary splits in the image: ids are dense, `0..canaries`.
    pub canaries: usize,
    /// Path parameters of the route (`Field::PathParam` bound).
    pub params: usize,
    /// Cost ceiling for this program.
    pub budget: u64,
}

impl VerifyCtx {
    /// A context for `phase` with nothing to refer to and the default budget.
    pub fn new(phase: Phase) -> VerifyCtx {
        VerifyCtx {
            phase,
            upstreams: 0,
            plugins: 0,
            canaries: 0,
            params: 0,
            budget: crate::cost::DEFAULT_BUDGET,
        }
    }
}

/// A rejected program: which one, which op, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// `Program::name` (`route POST /pets`).
    pub program: String,
    pub phase: Phase,
    /// The offending op, when the reason is about one op.
    pub pc: Option<u32>,
    /// The offending op's mnemonic.
    pub op: Option<&'static str>,
    pub reason: Reason,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.program, self.phase.label())?;
        if let Some(pc) = self.pc {
            write!(f, " op {pc:04}")?;
        }
        if let Some(op) = self.op {
            write!(f, " `{op}`")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for VerifyError {}

/// Verify one program against what it may refer to.
pub fn verify(p: &Program, ctx: &VerifyCtx) -> Result<(), VerifyError> {
    let whole = |reason| VerifyError {
        program: p.name.clone(),
        phase: ctx.phase,
        pc: None,
        op: None,
        reason,
    };
    if p.ops.is_empty() {
        return Err(whole(Reason::Empty));
    }
    if p.ops.len() > MAX_OPS {
        return Err(whole(Reason::TooLong { ops: p.ops.len() }));
    }
    if p.locs.len() != p.ops.len() {
        return Err(whole(Reason::LocsMismatch {
            locs: p.locs.len(),
            ops: p.ops.len(),
        }));
    }
    for (pc, op) in p.ops.iter().enumerate() {
        let checker = check::OpCheck { p, ctx, pc };
        let at_op = |reason| VerifyError {
            program: p.name.clone(),
            phase: ctx.phase,
            pc: u32::try_from(pc).ok(),
            op: Some(mnemonic(op)),
            reason,
        };
        checker.op(op).map_err(at_op)?;
        if let Some(loc) = p.locs.get(pc)
            && loc.note != u16::MAX
            && usize::from(loc.note) >= p.notes.len()
        {
            return Err(at_op(Reason::BadNote { note: loc.note }));
        }
    }
    for (tpl, template) in p.templates.iter().enumerate() {
        let bad = template.parts.iter().find_map(|part| match part {
            TplPart::Reg { r, .. } | TplPart::Path { r, .. } if *r >= p.regs => Some(*r),
            _ => None,
        });
        if let Some(reg) = bad {
            let tpl = u16::try_from(tpl).unwrap_or(u16::MAX);
            return Err(whole(Reason::BadTemplateRegister { tpl, reg }));
        }
    }
    let last = p.ops.len() - 1;
    if let Some(op) = p.ops.last()
        && !is_final(op, ctx.phase)
    {
        return Err(VerifyError {
            pc: u32::try_from(last).ok(),
            op: Some(mnemonic(op)),
            ..whole(Reason::NoFinalAction)
        });
    }
    let computed = program_cost(p);
    if computed != p.cost {
        return Err(whole(Reason::CostMismatch {
            recorded: p.cost,
            computed,
        }));
    }
    if computed > ctx.budget {
        return Err(whole(Reason::OverBudget {
            cost: computed,
            budget: ctx.budget,
        }));
    }
    Ok(())
}

/// An op that ends the program in `phase`.
fn is_final(op: &Op, phase: Phase) -> bool {
    match phase {
        Phase::Request => matches!(
            op,
            Op::Forward { .. } | Op::Respond { .. } | Op::Deny { .. } | Op::Upgrade { .. }
        ),
        Phase::Response | Phase::Error => matches!(op, Op::Done | Op::Respond { .. }),
    }
}

/// Verify every program of an image (routes' request and response programs, error pages)
/// against the image's upstreams, plugins and canaries, with [`MAX_BUDGET`] as the ceiling
/// (each route's own budget was checked by the compiler).
pub fn verify_image(img: &ConfigImage) -> Result<(), VerifyError> {
    let programs = img
        .routes
        .iter()
        .flat_map(|r| {
            let params = r.params.len();
            std::iter::once((&r.request, Phase::Request, params))
                .chain(r.response.iter().map(move |p| (p, Phase::Response, params)))
        })
        .chain(
            img.error_pages
                .iter()
                .map(|e| (&e.program, Phase::Error, 0)),
        );
    let canaries: usize = programs
        .clone()
        .map(|(p, _, _)| {
            p.ops
                .iter()
                .filter(|op| matches!(op, Op::Split { .. }))
                .count()
        })
        .sum();
    let mut seen = vec![false; canaries];
    for (p, phase, params) in programs {
        let ctx = VerifyCtx {
            phase,
            upstreams: img.upstreams.len(),
            plugins: img.plugins.len(),
            canaries,
            params,
            budget: MAX_BUDGET,
        };
        verify(p, &ctx)?;
        for (pc, op) in p.ops.iter().enumerate() {
            if let Op::Split { canary, .. } = *op
                && let Some(slot) = seen.get_mut(usize::from(canary))
            {
                if *slot {
                    return Err(VerifyError {
                        program: p.name.clone(),
                        phase,
                        pc: u32::try_from(pc).ok(),
                        op: Some(mnemonic(op)),
                        reason: Reason::DuplicateCanary { id: canary },
                    });
                }
                *slot = true;
            }
        }
    }
    for page in &img.error_pages {
        if let Some(&status) = page.statuses.iter().find(|s| !(100..=599).contains(*s)) {
            return Err(VerifyError {
                program: page.program.name.clone(),
                phase: Phase::Error,
                pc: None,
                op: None,
                reason: Reason::BadStatus { status },
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_image;
#[cfg(test)]
mod tests_pools;
