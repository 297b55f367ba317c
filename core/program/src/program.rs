//! One phase program (request, response or error) and its pools.

use std::net::IpAddr;

use crate::field::Field;
use crate::op::Op;
use crate::value::Value;

/// Where an op came from: for `gw disasm` and runtime traps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loc {
    pub line: u32,
    pub col: u32,
    /// Index into `Program::notes` (`policy signed_in, used at 75:3`), or `u16::MAX`.
    pub note: u16,
}

impl Default for Loc {
    /// Line 0, no note.
    fn default() -> Self {
        Loc {
            line: 0,
            col: 0,
            note: u16::MAX,
        }
    }
}

/// A string or JSON body template: text pieces and register values.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Template {
    pub parts: Vec<TplPart>,
    /// Source text shown by disasm (`"/pets/{r0}"`).
    pub display: String,
}

/// One piece of a [`Template`].
#[derive(Clone, Debug, PartialEq)]
pub enum TplPart {
    /// Copied as it is.
    Text(String),
    /// Insert a register: as JSON (`json: true`, absent -> null, strings quoted and escaped)
    /// or as text (strings raw, scalars in canonical form, json compact).
    Reg { r: u8, json: bool },
    /// Insert a register's text percent-encoded for a path (`rewrite path`): every byte but
    /// the unreserved ones and `!$&'()*+,=:@` is escaped, `/` too unless `segments` (the
    /// rest-of-path value of a greedy `{name+}`, whose slashes separate segments).
    Path { r: u8, segments: bool },
}

/// A set of CIDR blocks for `ip in 10.0.0.0/8` / `ip in file("deny.txt")`.
///
/// Build it with [`CidrSet::from_blocks`]: the VM's lookup is a binary search that relies on
/// the blocks being masked, sorted and disjoint, and the verifier rejects a set that is not.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CidrSet {
    /// `(network, prefix)` in IPv6 bits; IPv4 networks are stored as IPv4-mapped IPv6
    /// (`10.0.0.0/8` is `(::ffff:10.0.0.0, 104)`, see [`CidrSet::block`]).
    pub blocks: Vec<(u128, u8)>,
}

impl CidrSet {
    /// One block as stored: the address as (IPv4-mapped) IPv6 bits and the prefix in IPv6
    /// bits. A prefix longer than the address is clamped.
    pub fn block(addr: IpAddr, prefix: u8) -> (u128, u8) {
        match addr {
            IpAddr::V4(v4) => {
                let bits = u128::from(v4.to_ipv6_mapped());
                let prefix = 96 + prefix.min(32);
                (bits & mask(prefix), prefix)
            }
            IpAddr::V6(v6) => {
                let prefix = prefix.min(128);
                (u128::from(v6) & mask(prefix), prefix)
            }
        }
    }

    /// Normalise blocks: mask host bits, sort, and drop blocks inside another one, so the
    /// result is sorted and disjoint (two CIDR blocks either nest or do not overlap).
    pub fn from_blocks(blocks: impl IntoIterator<Item = (u128, u8)>) -> CidrSet {
        let mut all: Vec<(u128, u8)> = blocks
            .into_iter()
            .map(|(net, p)| (net & mask(p.min(128)), p.min(128)))
            .collect();
        // Sorting by (start, prefix) puts a covering block before every block it contains.
        all.sort_unstable();
        let mut out: Vec<(u128, u8)> = Vec::with_capacity(all.len());
        for (net, prefix) in all {
            let covered = out.last().is_some_and(|&(n, p)| block_contains(n, p, net));
            if !covered {
                out.push((net, prefix));
            }
        }
        CidrSet { blocks: out }
    }

    /// Whether the blocks are masked, sorted and disjoint (what `from_blocks` produces).
    pub fn is_normalized(&self) -> bool {
        let masked = self
            .blocks
            .iter()
            .all(|&(n, p)| p <= 128 && n & mask(p) == n);
        let ordered = self
            .blocks
            .windows(2)
            .all(|w| matches!(w, [(a, pa), (b, _)] if a < b && last(*a, *pa) < *b));
        masked && ordered
    }

    /// Whether `addr` is in one of the blocks (IPv4 and IPv4-mapped IPv6 match alike).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let bits = ip_bits(addr);
        // The candidate is the last block starting at or before `bits`: blocks are disjoint.
        let idx = self.blocks.partition_point(|&(n, _)| n <= bits);
        idx.checked_sub(1)
            .and_then(|i| self.blocks.get(i))
            .is_some_and(|&(n, p)| block_contains(n, p, bits))
    }
}

/// An address as IPv6 bits, IPv4 mapped (`::ffff:a.b.c.d`).
pub fn ip_bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn mask(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p.min(128))),
    }
}

fn last(net: u128, prefix: u8) -> u128 {
    net | !mask(prefix)
}

fn block_contains(net: u128, prefix: u8, bits: u128) -> bool {
    bits & mask(prefix) == net
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
    /// Compiled once by the compiler (`Regex::new`, with its size limit); `as_str()` is the
    /// source that disasm prints. `Regex` is cheap to share across worker threads.
    pub regexes: Vec<regex::Regex>,
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
    /// Text lengths the compiler knows for fields fixed by the config (`route.name` is the
    /// route's own name, `upstream.name` the longest upstream name); the cost model bounds
    /// their loads by these, so the verifier recomputes the same cost.
    pub field_bounds: Vec<(Field, u32)>,
    /// The route's `budget N`, or `None` for the default (shown by disasm).
    pub budget: Option<u64>,
}
