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

/// A comparison (`cmp`, `cmp.const`).
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

/// Integer (and duration, size, timestamp) arithmetic; `Add` on strings concatenates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// String tests (`starts_with`, `ends_with`, `contains`).
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

/// One instruction. Semantics per group are in gw-vm's crate docs; `gw_program::disasm`
/// shows each op's mnemonic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    // ---- load
    /// `dst = field`
    LdField {
        dst: Reg,
        field: Field,
    },
    /// `dst = consts[k]`
    LdConst {
        dst: Reg,
        k: u16,
    },
    /// `dst = src`
    Mov {
        dst: Reg,
        src: Reg,
    },

    // ---- compute (absent operands: comparisons false, `Ne` true)
    Cmp {
        dst: Reg,
        op: CmpOp,
        a: Reg,
        b: Reg,
    },
    /// Compare with a constant: `a OP consts[k]`.
    CmpConst {
        dst: Reg,
        op: CmpOp,
        a: Reg,
        k: u16,
    },
    Arith {
        dst: Reg,
        op: ArithOp,
        a: Reg,
        b: Reg,
    },
    Str {
        dst: Reg,
        op: StrOp,
        a: Reg,
        b: Reg,
    },
    /// `a in b` where b is a list register.
    InList {
        dst: Reg,
        a: Reg,
        list: Reg,
    },
    /// `a in sets[set]` (string set, hashed).
    InSet {
        dst: Reg,
        a: Reg,
        set: u16,
    },
    /// `a in cidrs[set]` (CIDR set, IP `a`).
    InCidr {
        dst: Reg,
        a: Reg,
        set: u16,
    },
    /// `a matches regexes[re]`
    Matches {
        dst: Reg,
        a: Reg,
        re: u16,
    },
    /// String concatenation.
    Concat {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// `dst = a ?? b`
    Coalesce {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// `dst = a ?? consts[k]` (the common `x ?? "default"`).
    CoalesceConst {
        dst: Reg,
        a: Reg,
        k: u16,
    },
    /// `consts[k] in list` (the common `"pets:write" in auth.scopes`).
    InListConst {
        dst: Reg,
        k: u16,
        list: Reg,
    },
    /// `dst = has(a)`
    Has {
        dst: Reg,
        a: Reg,
    },
    Not {
        dst: Reg,
        a: Reg,
    },
    Neg {
        dst: Reg,
        a: Reg,
    },
    /// `dst = f(args[0..argc])` where the arguments are registers `arg, arg+1, ...`.
    CallFn {
        dst: Reg,
        func: Builtin,
        arg: Reg,
        argc: u8,
    },
    /// Build `templates[tpl]` into a string value.
    TplBuild {
        dst: Reg,
        tpl: u16,
    },
    /// `dst = a[b]` on a list or json value (json pointer segments by string/int).
    Index {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    /// `dst = a.member` on a json value; `k` is the const index of the member name.
    Member {
        dst: Reg,
        a: Reg,
        k: u16,
    },

    // ---- control: `off` counts ops skipped after this one (target = pc + 1 + off)
    Jmp {
        off: u16,
    },
    /// Jump when `r` is not `Bool(true)`.
    Jz {
        r: Reg,
        off: u16,
    },
    /// Jump when `r` is `Bool(true)`.
    Jnz {
        r: Reg,
        off: u16,
    },

    // ---- fused
    /// `dst = header[consts[h]] == consts[k]`
    HdrEqConst {
        dst: Reg,
        h: u16,
        k: u16,
    },
    /// Deny with `status` (message `msgs[msg]` or NONE) unless `r` is `Bool(true)`.
    DenyIfNot {
        r: Reg,
        status: u16,
        msg: u16,
    },
    /// Set request header `consts[h]` to the constant `consts[k]`.
    HdrSetConst {
        h: u16,
        k: u16,
    },

    // ---- pipeline: a plugin use (auth.jwt, throttle, validate.body, cache.lookup, ...).
    /// Run `ConfigImage::plugins[slot]` with registers `arg..arg+argc`; may respond or yield.
    Call {
        slot: u16,
        arg: Reg,
        argc: u8,
    },

    // ---- transform (request)
    HdrSet {
        h: u16,
        r: Reg,
    },
    HdrAdd {
        h: u16,
        r: Reg,
    },
    HdrDel {
        h: u16,
    },
    QuerySet {
        q: u16,
        r: Reg,
    },
    QueryDel {
        q: u16,
    },
    /// Rewrite the upstream path to the string in `r`.
    PathRewrite {
        r: Reg,
    },
    /// Replace the request body with `templates[tpl]` (JSON).
    BodyBuild {
        tpl: u16,
    },

    // ---- actions (end the request part)
    /// Forward to upstream `up`, hashing by `hash` (NO_REG for none).
    Forward {
        up: u16,
        hash: Reg,
    },
    /// Canary split: jump `off` ops ahead when the caller lands on the canary side.
    /// `sticky` (or NO_REG for the per-worker counter) is hashed; `threshold` is out of 10 000.
    Split {
        canary: u16,
        sticky: Reg,
        threshold: u16,
        off: u16,
    },
    /// Respond with `status` and `templates[tpl]` (NONE: no body); `json` selects the type.
    Respond {
        status: u16,
        tpl: u16,
        json: bool,
    },
    /// Unconditional deny (e.g. `respond` of an error status without a body is `Respond`).
    Deny {
        status: u16,
        msg: u16,
    },
    /// WebSocket upgrade relayed to upstream `up`.
    Upgrade {
        up: u16,
        hash: Reg,
    },
    /// Mark the request as sent to the canary side (`Exit::Forward::canary`). `Split` marks
    /// by itself; a `force when` path that jumps past the split emits this op.
    CanaryMark,

    // ---- response phase
    RespStatusSet {
        r: Reg,
    },
    RespHdrSet {
        h: u16,
        r: Reg,
    },
    RespHdrAdd {
        h: u16,
        r: Reg,
    },
    RespHdrDel {
        h: u16,
    },
    RespBodyBuild {
        tpl: u16,
    },
    /// End of a response or error program.
    Done,
}

impl Builtin {
    /// Every builtin, in declaration order.
    pub const ALL: [Builtin; 16] = [
        Builtin::Lower,
        Builtin::Upper,
        Builtin::Trim,
        Builtin::Len,
        Builtin::ToInt,
        Builtin::ToString,
        Builtin::UrlEncode,
        Builtin::UrlDecode,
        Builtin::Base64Encode,
        Builtin::Base64Decode,
        Builtin::Sha256Hex,
        Builtin::Now,
        Builtin::Uuid,
        Builtin::SplitFirst,
        Builtin::SplitLast,
        Builtin::UpstreamHealthy,
    ];

    /// The name a .gw file calls it by.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Lower => "lower",
            Builtin::Upper => "upper",
            Builtin::Trim => "trim",
            Builtin::Len => "len",
            Builtin::ToInt => "int",
            Builtin::ToString => "string",
            Builtin::UrlEncode => "url_encode",
            Builtin::UrlDecode => "url_decode",
            Builtin::Base64Encode => "base64_encode",
            Builtin::Base64Decode => "base64_decode",
            Builtin::Sha256Hex => "sha256_hex",
            Builtin::Now => "now",
            Builtin::Uuid => "uuid",
            Builtin::SplitFirst => "split_first",
            Builtin::SplitLast => "split_last",
            Builtin::UpstreamHealthy => "upstream_healthy",
        }
    }

    /// Look a builtin up by its .gw name.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Number of arguments (`argc` of `CallFn`).
    pub fn arity(self) -> u8 {
        match self {
            Builtin::Now | Builtin::Uuid => 0,
            Builtin::SplitFirst | Builtin::SplitLast => 2,
            _ => 1,
        }
    }
}

// An op must stay within 8 bytes (docs/architecture.md#programs-and-ops): the interpreter's
// cache footprint.
const _: () = assert!(std::mem::size_of::<Op>() <= 8);
