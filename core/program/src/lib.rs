//! gw-program: the compiled artifact — ops, programs, route plans and the config image — plus
//! its verifier and disassembler. The only contract between the DSL side and the runtime side.

pub mod cost;
pub mod disasm;
pub mod field;
pub mod image;
pub mod op;
pub mod program;
pub mod render;
pub mod router;
pub mod value;
pub mod verify;

pub use field::Field;
pub use gw_proto::{PathChars, UnderscoreNames};
pub use image::*;
pub use op::{ArithOp, Builtin, CmpOp, NO_REG, NONE, Op, Reg, StrOp};
pub use program::{CidrSet, Loc, Program, Template, TplPart};
pub use router::{Conflict, Lookup, PatSeg, RouteKey, Router};
pub use value::{Json, Str, Value};

pub use cost::{op_cost, program_cost};
pub use disasm::{disasm_image, disasm_program};
pub use program::ip_bits;
pub use regex::Regex;
pub use verify::{Phase, Reason, VerifyCtx, VerifyError, verify, verify_image};
