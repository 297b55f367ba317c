//! One phase program (request, response or error) and its pools.

use crate::op::Op;
use crate::value::Value;

/// Where an op came from: for `gw disasm` and runtime traps.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Loc {
    pub line: u32,
    pub col: u32,
    /// Index into `Program::notes` (`policy signed_in, used at 75:3`), or `u16::MAX`.
    pub note: u16,
}

/// A string or JSON body template: text pieces and register values.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Template {
    pub parts: Vec<TplPart>,
    /// Source text shown by disasm (`"/pets/{r0}"`).
    pub display: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TplPart {
    Text(String),
    /// Insert a register: as JSON (`json: true`, absent -> null, strings quoted and escaped)
    /// or as text (strings raw, scalars in canonical form, json compact).
    Reg { r: u8, json: bool },
}

/// A set of CIDR blocks for `ip in 10.0.0.0/8` / `ip in file("deny.txt")`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CidrSet {
    /// `(network, prefix)`; IPv4 networks are stored as IPv4-mapped IPv6.
    pub blocks: Vec<(u128, u8)>,
}

/// A compiled, verified program.
#[derive(Clone, Debug, Default)]
pub struct Program {
    /// Label for disasm headers: `route POST /pets`.
    pub name: String,
    /// Source file of the route (`petstore.gw`).
    pub file: String,
    /// Line of the route header.
    pub line: u32,
    pub ops: Vec<Op>,
    /// Parallel to `ops`.
    pub locs: Vec<Loc>,
    pub consts: Vec<Value>,
    pub templates: Vec<Template>,
    pub sets: Vec<ahash::AHashSet<String>>,
    pub cidrs: Vec<CidrSet>,
    /// Regex sources; compiled once by the VM's program cache / host at load.
    pub regexes: Vec<String>,
    /// `deny` messages.
    pub msgs: Vec<String>,
    /// Expansion notes for locs.
    pub notes: Vec<String>,
    /// Names of locals (`Field::Local`), for disasm.
    pub locals: Vec<String>,
    pub regs: u8,
    /// Static worst-case cost, in units of ~1 ns.
    pub cost: u64,
    /// Upper bound of bytes the program may write (headers, templates).
    pub out_bound: u32,
}
