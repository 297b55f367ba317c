//! `gw disasm`: every op of a program with its operands and its .gw line.
//!
//! ```text
//! route POST /pets   petstore.gw:74   request: 18 ops · 3 regs · cost 1 284 · out ≤ 312 B
//!   0000  ld.field      r0, client.ip                 ; 50:30  (policy signed_in, used at 75:3)
//! ```
//!
//! A route's header line is followed by its settings line (`settings: timeout 29s
//! (default) · …`), then its response program.
//!
//! Jump offsets print relative to the jump itself: `0002  jnz r1, +6` jumps to `0008` (the op
//! field `off` counts from the next op, so it is 5 there). Constants print as .gw literals.
//! Output is deterministic: golden tests pin it.

use std::fmt::Write;

use crate::field::Field;
use crate::image::{ConfigImage, PluginSpec};
use crate::op::{ArithOp, CmpOp, NO_REG, NONE, Op, Reg, StrOp};
use crate::program::Program;
use crate::value::Value;

mod operands;
mod settings;

/// The mnemonic of an op (`call` for plugin calls, whose name needs the image).
pub fn mnemonic(op: &Op) -> &'static str {
    match op {
        Op::LdField {
            field: Field::RespJson(_),
            ..
        } => "ld.resp.json",
        Op::LdField {
            field: Field::Body(_),
            ..
        } => "ld.body",
        Op::LdField { .. } => "ld.field",
        Op::LdConst { .. } => "ld.const",
        Op::Mov { .. } => "mov",
        Op::Cmp { op, .. } => cmp_name(*op, false),
        Op::CmpConst { op, .. } => cmp_name(*op, true),
        Op::Arith { op, .. } => match op {
            ArithOp::Add => "add",
            ArithOp::Sub => "sub",
            ArithOp::Mul => "mul",
            ArithOp::Div => "div",
            ArithOp::Rem => "rem",
        },
        Op::Str { op, .. } => match op {
            StrOp::StartsWith => "starts_with",
            StrOp::EndsWith => "ends_with",
            StrOp::Contains => "contains",
        },
        Op::InList { .. } => "in.list",
        Op::InListConst { .. } => "in.list.const",
        Op::InSet { .. } => "in.set",
        Op::InCidr { .. } => "in.cidr",
        Op::Matches { .. } => "matches",
        Op::Concat { .. } => "concat",
        Op::Coalesce { .. } | Op::CoalesceConst { .. } => "coalesce",
        Op::Has { .. } => "has",
        Op::Not { .. } => "not",
        Op::Neg { .. } => "neg",
        Op::CallFn { .. } => "call.fn",
        Op::TplBuild { .. } => "tpl.build",
        Op::Index { .. } => "index",
        Op::Member { .. } => "member",
        Op::Jmp { .. } => "jmp",
        Op::Jz { .. } => "jz",
        Op::Jnz { .. } => "jnz",
        Op::HdrEqConst { .. } => "hdr.eq.const",
        Op::DenyIfNot { .. } => "deny.ifnot",
        Op::HdrSetConst { .. } => "hdr.set.const",
        Op::Call { .. } => "call",
        Op::HdrSet { .. } => "hdr.set",
        Op::HdrAdd { .. } => "hdr.add",
        Op::HdrDel { .. } => "hdr.del",
        Op::QuerySet { .. } => "query.set",
        Op::QueryDel { .. } => "query.del",
        Op::PathRewrite { .. } => "path.rewrite",
        Op::BodyBuild { .. } => "body.build",
        Op::Forward { .. } => "forward",
        Op::Split { .. } => "split",
        Op::Respond { .. } => "respond",
        Op::Deny { .. } => "deny",
        Op::Upgrade { .. } => "ws.upgrade",
        Op::CanaryMark => "canary.mark",
        Op::RespStatusSet { .. } => "resp.status.set",
        Op::RespHdrSet { .. } => "resp.hdr.set",
        Op::RespHdrAdd { .. } => "resp.hdr.add",
        Op::RespHdrDel { .. } => "resp.hdr.del",
        Op::RespBodyBuild { .. } => "resp.body.build",
        Op::Done => "done",
    }
}

fn cmp_name(op: CmpOp, konst: bool) -> &'static str {
    match (op, konst) {
        (CmpOp::Eq, false) => "eq",
        (CmpOp::Ne, false) => "ne",
        (CmpOp::Lt, false) => "lt",
        (CmpOp::Le, false) => "le",
        (CmpOp::Gt, false) => "gt",
        (CmpOp::Ge, false) => "ge",
        (CmpOp::IEq, false) => "ieq",
        (CmpOp::Eq, true) => "eq.const",
        (CmpOp::Ne, true) => "ne.const",
        (CmpOp::Lt, true) => "lt.const",
        (CmpOp::Le, true) => "le.const",
        (CmpOp::Gt, true) => "gt.const",
        (CmpOp::Ge, true) => "ge.const",
        (CmpOp::IEq, true) => "ieq.const",
    }
}

/// The mnemonic of a plugin call and the noun of its pool (`auth.jwt` / `jwt`).
fn plugin_mnemonic(spec: &PluginSpec, phase_label: &str) -> (String, &'static str) {
    let (name, noun) = match spec.plugin.as_str() {
        "jwt" => ("auth.jwt", "jwt"),
        "api_key" => ("auth.key", "keys"),
        "authorizer" => ("auth.call", "authz"),
        "auth.any" => ("auth.any", "any"),
        "throttle" => ("throttle", "bucket"),
        "throttle.plan" => ("throttle.plan", "plan"),
        "cache" if phase_label == "response" => ("cache.store", "cache"),
        "cache" => ("cache.lookup", "cache"),
        "validate.params" => ("validate.params", "spec"),
        "validate.body" => ("validate.body", "schema"),
        "cors" => ("cors", "cors"),
        other => return (other.to_string(), "slot"),
    };
    (name.to_string(), noun)
}

/// Disassemble one program. `phase_label` is `request`, `response` or `error`; `image`
/// (when given) names upstreams and plugins.
pub fn disasm_program(p: &Program, phase_label: &str, image: Option<&ConfigImage>) -> String {
    let mut out = String::new();
    write_program(&mut out, p, phase_label, image, &[], "");
    out
}

/// Disassemble every route of an image (request, then response program), then the error
/// pages. `route_filter` (`POST /pets`) keeps only the route of that name, or of that
/// `METHOD /pattern`; no match gives an empty string.
pub fn disasm_image(img: &ConfigImage, route_filter: Option<&str>) -> String {
    let filter = route_filter.map(|f| f.split_whitespace().collect::<Vec<_>>().join(" "));
    let mut out = String::new();
    if filter.is_none() {
        settings::write_listeners(&mut out, img);
    }
    for route in &img.routes {
        if let Some(f) = &filter {
            let key = format!("{} {}", route.method, route.pattern);
            if *f != route.name && *f != key {
                continue;
            }
        }
        let mut header = String::new();
        settings::write_settings(&mut header, route, img);
        write_program(
            &mut out,
            &route.request,
            "request",
            Some(img),
            &route.params,
            &header,
        );
        if let Some(resp) = &route.response {
            write_program(&mut out, resp, "response", Some(img), &route.params, "");
        }
    }
    if filter.is_none() {
        for page in &img.error_pages {
            write_program(&mut out, &page.program, "error", Some(img), &[], "");
        }
    }
    out
}

fn write_program(
    out: &mut String,
    p: &Program,
    phase_label: &str,
    image: Option<&ConfigImage>,
    params: &[String],
    settings: &str,
) {
    out.push_str(&p.name);
    // The response program belongs to the route printed just above: no second location.
    if !p.file.is_empty() && phase_label != "response" {
        let _ = write!(out, "   {}:{}", p.file, p.line);
    }
    let _ = writeln!(
        out,
        "   {phase_label}: {} ops · {} regs · cost {} · out ≤ {}",
        p.ops.len(),
        p.regs,
        group_thousands(p.cost),
        size(u64::from(p.out_bound)),
    );
    out.push_str(settings);
    let ctx = operands::Ctx {
        p,
        image,
        params,
        phase_label,
    };
    let mut operand_text = String::new();
    for pc in 0..p.ops.len() {
        write_op(out, &ctx, pc, &mut operand_text);
        out.push('\n');
    }
}

/// The line `gw disasm` prints for the op at `pc` of `p`, without its newline (`gw trace`
/// prints it for each op executed).
pub fn disasm_op(
    p: &Program,
    pc: usize,
    phase_label: &str,
    image: Option<&ConfigImage>,
    params: &[String],
) -> String {
    let ctx = operands::Ctx {
        p,
        image,
        params,
        phase_label,
    };
    let mut out = String::new();
    write_op(&mut out, &ctx, pc, &mut String::new());
    out
}

/// `  0003  hdr.set       x-user, r2                    ; 12:3`; nothing for a pc outside.
fn write_op(out: &mut String, ctx: &operands::Ctx<'_>, pc: usize, operand_text: &mut String) {
    let p = ctx.p;
    let Some(op) = p.ops.get(pc) else {
        return;
    };
    operand_text.clear();
    let name = ctx.write(op, operand_text);
    let _ = write!(out, "  {pc:04}  {name:<13} {operand_text:<29} ;");
    if let Some(loc) = p.locs.get(pc) {
        let _ = write!(out, " {}:{}", loc.line, loc.col);
        if let Some(note) = p.notes.get(usize::from(loc.note)) {
            let _ = write!(out, "  ({note})");
        }
    }
}

/// `1284` -> `1 284`.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// `312 B`, `2 KiB`, `1.5 KiB`, `10 MiB`.
fn size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit {
            return if bytes.is_multiple_of(unit) {
                format!("{} {name}", bytes / unit)
            } else {
                // Tenths, rounded up: a bound must not print smaller than it is.
                let tenths = (bytes * 10).div_ceil(unit);
                format!("{}.{} {name}", tenths / 10, tenths % 10)
            };
        }
    }
    format!("{bytes} B")
}

/// `r3`, or `-` for an unset optional register.
fn reg(r: Reg) -> String {
    if r == NO_REG {
        "-".to_string()
    } else {
        format!("r{r}")
    }
}

/// The constant at `k` as a .gw literal (`#k?` when it does not exist).
fn literal(p: &Program, k: u16, out: &mut String) {
    match p.consts.get(usize::from(k)) {
        Some(v) => v.write_literal(out),
        None => {
            let _ = write!(out, "#{k}?");
        }
    }
}

/// A name constant (header, query, JSON pointer) as its raw text.
fn name(p: &Program, k: u16) -> &str {
    match p.consts.get(usize::from(k)) {
        Some(Value::Str(s)) => s.as_str(),
        _ => "?",
    }
}

/// `msg#0`, or `-` for none.
fn msg(m: u16) -> String {
    if m == NONE {
        "-".to_string()
    } else {
        format!("msg#{m}")
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_operands;
