//! The op set. Operands are `u8` registers and `u16` pool indices, so an [`Op`] is at most
//! 8 bytes. Jumps are forward only (offsets count ops after the jump's successor... see
//! `Op::Jmp`). Expression ops never yield; `Call` may (`Exit::Pending`).

use crate::field::Field;

/// A register number.
pub type Reg = u8;
/// "No register" for optional operands (`hash`, `sticky`).
pub const NO_REG: Reg = u8::MAX;
/// "No pool entry" for optional `u16` operands (message, template).
pub const NONE: u16 = u16::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Case-insensitive string equality (`~=`).
    IEq,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StrOp {
    StartsWith,
    EndsWith,
    /// Substring (string) or element (list) containment: `a contains b`.
    Contains,
}

/// The fixed standard library (`call.fn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    Lower,
    Upper,
    Trim,
    Len,
    /// `int(s)?`
    ToInt,
    /// `string(x)`
    ToString,
    UrlEncode,
    UrlDecode,
    Base64Encode,
    Base64Decode,
    Sha256Hex,
    Now,
    Uuid,
    SplitFirst,
    SplitLast,
    /// `upstream_healthy(NAME)`: the argument register holds the upstream id as an int.
    UpstreamHealthy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    // ---- load
    /// `dst = field`
    LdField { dst: Reg, field: Field },
    /// `dst = consts[k]`
    LdConst { dst: Reg, k: u16 },
    /// `dst = src`
    Mov { dst: Reg, src: Reg },

    // ---- compute (absent operands: comparisons false, `Ne` true)
    Cmp { dst: Reg, op: CmpOp, a: Reg, b: Reg },
    /// Compare with a constant: `a OP consts[k]`.
    CmpConst { dst: Reg, op: CmpOp, a: Reg, k: u16 },
    Arith { dst: Reg, op: ArithOp, a: Reg, b: Reg },
    Str { dst: Reg, op: StrOp, a: Reg, b: Reg },
    /// `a in b` where b is a list register.
    InList { dst: Reg, a: Reg, list: Reg },
    /// `a in sets[set]` (string set, hashed).
    InSet { dst: Reg, a: Reg, set: u16 },
    /// `a in cidrs[set]` (CIDR set, IP `a`).
    InCidr { dst: Reg, a: Reg, set: u16 },
    /// `a matches regexes[re]`
    Matches { dst: Reg, a: Reg, re: u16 },
    /// String concatenation.
    Concat { dst: Reg, a: Reg, b: Reg },
    /// `dst = a ?? b`
    Coalesce { dst: Reg, a: Reg, b: Reg },
    /// `dst = has(a)`
    Has { dst: Reg, a: Reg },
    Not { dst: Reg, a: Reg },
    Neg { dst: Reg, a: Reg },
    /// `dst = f(args[0..argc])` where the arguments are registers `arg, arg+1, ...`.
    CallFn { dst: Reg, func: Builtin, arg: Reg, argc: u8 },
    /// Build `templates[tpl]` into a string value.
    TplBuild { dst: Reg, tpl: u16 },
    /// `dst = a[b]` on a list or json value (json pointer segments by string/int).
    Index { dst: Reg, a: Reg, b: Reg },
    /// `dst = a.member` on a json value; `k` is the const index of the member name.
    Member { dst: Reg, a: Reg, k: u16 },

    // ---- control: `off` counts ops skipped after this one (target = pc + 1 + off)
    Jmp { off: u16 },
    /// Jump when `r` is not `Bool(true)`.
    Jz { r: Reg, off: u16 },
    /// Jump when `r` is `Bool(true)`.
    Jnz { r: Reg, off: u16 },

    // ---- fused
    /// `dst = header[consts[h]] == consts[k]`
    HdrEqConst { dst: Reg, h: u16, k: u16 },
    /// Deny with `status` (message `msgs[msg]` or NONE) unless `r` is `Bool(true)`.
    DenyIfNot { r: Reg, status: u16, msg: u16 },
    /// Set request header `consts[h]` to the constant `consts[k]`.
    HdrSetConst { h: u16, k: u16 },

    // ---- pipeline: a plugin use (auth.jwt, throttle, validate.body, cache.lookup, ...).
    /// Run `ConfigImage::plugins[slot]` with registers `arg..arg+argc`; may respond or yield.
    Call { slot: u16, arg: Reg, argc: u8 },

    // ---- transform (request)
    HdrSet { h: u16, r: Reg },
    HdrAdd { h: u16, r: Reg },
    HdrDel { h: u16 },
    QuerySet { q: u16, r: Reg },
    QueryDel { q: u16 },
    /// Rewrite the upstream path to the string in `r`.
    PathRewrite { r: Reg },
    /// Replace the request body with `templates[tpl]` (JSON).
    BodyBuild { tpl: u16 },

    // ---- actions (end the request part)
    /// Forward to upstream `up`, hashing by `hash` (NO_REG for none).
    Forward { up: u16, hash: Reg },
    /// Canary split: jump `off` ops ahead when the caller lands on the canary side.
    /// `sticky` (or NO_REG for the per-worker counter) is hashed; `threshold` is out of 10 000.
    Split { canary: u16, sticky: Reg, threshold: u16, off: u16 },
    /// Respond with `status` and `templates[tpl]` (NONE: no body); `json` selects the type.
    Respond { status: u16, tpl: u16, json: bool },
    /// Unconditional deny (e.g. `respond` of an error status without a body is `Respond`).
    Deny { status: u16, msg: u16 },
    /// WebSocket upgrade relayed to upstream `up`.
    Upgrade { up: u16, hash: Reg },

    // ---- response phase
    RespStatusSet { r: Reg },
    RespHdrSet { h: u16, r: Reg },
    RespHdrAdd { h: u16, r: Reg },
    RespHdrDel { h: u16 },
    RespBodyBuild { tpl: u16 },
    /// End of a response or error program.
    Done,
}

// An op must stay within 8 bytes (LANGUAGE.md §7): the interpreter's cache footprint.
const _: () = assert!(std::mem::size_of::<Op>() <= 8);
