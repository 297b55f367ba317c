//! Why the verifier rejects a program.

use std::fmt;

use crate::cost::MAX_OPS;
use crate::field::Field;
use crate::op::{Builtin, Reg};

/// Why a program was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    Empty,
    TooLong {
        ops: usize,
    },
    LocsMismatch {
        locs: usize,
        ops: usize,
    },
    JumpOutOfRange {
        target: usize,
    },
    BadRegister {
        reg: Reg,
    },
    BadConst {
        k: u16,
    },
    /// A name operand (header, query, member) whose constant is not a string.
    NotAName {
        k: u16,
    },
    BadTemplate {
        tpl: u16,
    },
    BadTemplateRegister {
        tpl: u16,
        reg: Reg,
    },
    BadSet {
        set: u16,
    },
    BadCidrSet {
        set: u16,
    },
    /// A CIDR set not built by `CidrSet::from_blocks` (unsorted, overlapping or unmasked).
    CidrSetNotNormalized {
        set: u16,
    },
    BadRegex {
        re: u16,
    },
    BadMessage {
        msg: u16,
    },
    BadLocal {
        id: u16,
    },
    BadParam {
        index: u8,
    },
    BadNote {
        note: u16,
    },
    BadUpstream {
        up: u16,
    },
    BadPlugin {
        slot: u16,
    },
    BadCanary {
        id: u16,
    },
    DuplicateCanary {
        id: u16,
    },
    BadStatus {
        status: u16,
    },
    BadThreshold {
        threshold: u16,
    },
    BadArity {
        func: Builtin,
        argc: u8,
    },
    FieldNotInPhase {
        field: Field,
    },
    OpNotInPhase,
    /// The last op does not end the program (a path would run off the end).
    NoFinalAction,
    CostMismatch {
        recorded: u64,
        computed: u64,
    },
    OverBudget {
        cost: u64,
        budget: u64,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Empty => write!(f, "program has no ops"),
            Reason::TooLong { ops } => write!(f, "{ops} ops, more than the {MAX_OPS} allowed"),
            Reason::LocsMismatch { locs, ops } => write!(f, "{locs} locations for {ops} ops"),
            Reason::JumpOutOfRange { target } => write!(f, "jump target {target:04} out of range"),
            Reason::BadRegister { reg } => {
                write!(f, "register r{reg} not below the register count")
            }
            Reason::BadConst { k } => write!(f, "constant #{k} does not exist"),
            Reason::NotAName { k } => write!(f, "constant #{k} is not a name (string)"),
            Reason::BadTemplate { tpl } => write!(f, "template #{tpl} does not exist"),
            Reason::BadTemplateRegister { tpl, reg } => {
                write!(
                    f,
                    "template #{tpl} reads r{reg}, not below the register count"
                )
            }
            Reason::BadSet { set } => write!(f, "set #{set} does not exist"),
            Reason::BadCidrSet { set } => write!(f, "cidr set #{set} does not exist"),
            Reason::CidrSetNotNormalized { set } => {
                write!(
                    f,
                    "cidr set #{set} is not normalized (build it with CidrSet::from_blocks)"
                )
            }
            Reason::BadRegex { re } => write!(f, "regex #{re} does not exist"),
            Reason::BadMessage { msg } => write!(f, "message #{msg} does not exist"),
            Reason::BadLocal { id } => write!(f, "local #{id} has no name in `locals`"),
            Reason::BadParam { index } => write!(f, "path parameter #{index} does not exist"),
            Reason::BadNote { note } => write!(f, "note #{note} does not exist"),
            Reason::BadUpstream { up } => write!(f, "upstream #{up} does not exist"),
            Reason::BadPlugin { slot } => write!(f, "plugin slot #{slot} does not exist"),
            Reason::BadCanary { id } => write!(f, "canary #{id} does not exist"),
            Reason::DuplicateCanary { id } => write!(f, "canary #{id} is split twice"),
            Reason::BadStatus { status } => write!(f, "status {status} outside 100..=599"),
            Reason::BadThreshold { threshold } => {
                write!(f, "split threshold {threshold} over 10000")
            }
            Reason::BadArity { func, argc } => {
                write!(
                    f,
                    "{}() takes {} arguments, not {argc}",
                    func.name(),
                    func.arity()
                )
            }
            Reason::FieldNotInPhase { field } => write!(f, "field {field:?} not available here"),
            Reason::OpNotInPhase => write!(f, "op not allowed in this phase"),
            Reason::NoFinalAction => write!(f, "last op is not an action: a path runs off the end"),
            Reason::CostMismatch { recorded, computed } => {
                write!(f, "recorded cost {recorded}, recomputed {computed}")
            }
            Reason::OverBudget { cost, budget } => write!(f, "cost {cost} over budget {budget}"),
        }
    }
}
