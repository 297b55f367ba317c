//! Membership and patterns: `in` (constant sets, lists, CIDR tries, `file("…")` sets) and
//! `matches` (regexes checked and compiled at load, E0303).

use gw_program::{CidrSet, Op, Value};
use gw_syntax::Diagnostic;
use gw_syntax::ast::{Expr, ExprKind};

use crate::files;
use crate::lower::{Lower, Opnd, Val};
use crate::types::Ty;

/// Longest regex source accepted (E0303 above).
const MAX_REGEX: usize = 4096;
/// Compiled regex size limit (E0303 above).
const REGEX_SIZE: usize = 1 << 20;

impl<'g, 'a> Lower<'g, 'a> {
    pub(crate) fn in_(&mut self, e: &Expr, a: &Expr, b: &Expr) -> Val {
        let va = self.expr(a);
        if let ExprKind::Call { func, args } = &b.kind
            && func.name == "file"
        {
            return self.in_file(e, va, a, b, args);
        }
        let vb = self.expr(b);
        if va.ty.is_err() || vb.ty.is_err() {
            return Val::err();
        }
        let ip = *va.ty.base() == Ty::Ip;
        // `ip in 10.0.0.0/8` and `ip in [10.0.0.0/8, 192.168.0.1]`
        if ip && let Some(k) = vb.konst() {
            let items: Vec<Value> = match k {
                Value::List(l) => l.to_vec(),
                v => vec![v.clone()],
            };
            let mut blocks = Vec::new();
            for it in &items {
                match it {
                    Value::Cidr(addr, p) => blocks.push(CidrSet::block(*addr, *p)),
                    Value::Ip(addr) => blocks.push(CidrSet::block(*addr, 128)),
                    _ => {
                        self.mismatch(
                            b.span,
                            "cidr",
                            &vb.ty,
                            "an IP is tested against CIDR blocks",
                        );
                        return Val::err();
                    }
                }
            }
            return self.in_cidrs(e, va, a, CidrSet::from_blocks(blocks));
        }
        let Ty::List(elem) = vb.ty.base() else {
            self.mismatch(
                b.span,
                &format!("list<{}>", va.ty.base()),
                &vb.ty,
                "`in` needs a list on the right",
            );
            return Val::err();
        };
        if !elem.compatible(&va.ty) {
            self.mismatch(
                a.span,
                &elem.to_string(),
                &va.ty,
                &format!("the list holds `{elem}`"),
            );
            return Val::err();
        }
        if let (Some(x), Some(Value::List(l))) = (va.konst(), vb.konst()) {
            return Val::k(Value::Bool(l.iter().any(|v| v == x)), Ty::Bool);
        }
        let dst = self.b.reg();
        match (vb.konst(), &va.o) {
            (Some(Value::List(l)), _) if l.iter().all(|v| matches!(v, Value::Str(_))) => {
                let items: Vec<String> = l
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                let set = self.b.set(&items);
                let ra = self.reg_of(&va, a.span);
                self.b.op(Op::InSet { dst, a: ra, set }, e.span);
            }
            (_, Opnd::K(k)) => {
                let k = self.b.konst(k.clone());
                let list = self.reg_of(&vb, b.span);
                self.b.op(Op::InListConst { dst, k, list }, e.span);
            }
            _ => {
                let ra = self.reg_of(&va, a.span);
                let list = self.reg_of(&vb, b.span);
                self.b.op(Op::InList { dst, a: ra, list }, e.span);
            }
        }
        Val {
            ty: Ty::Bool,
            o: Opnd::R(dst),
        }
    }

    pub(crate) fn in_cidrs(&mut self, e: &Expr, va: Val, a: &Expr, set: CidrSet) -> Val {
        let set = self.b.cidrs(set);
        let ra = self.reg_of(&va, a.span);
        let dst = self.b.reg();
        self.b.op(Op::InCidr { dst, a: ra, set }, e.span);
        Val {
            ty: Ty::Bool,
            o: Opnd::R(dst),
        }
    }

    /// `x in file("list.txt")`: a string set, or CIDR blocks when `x` is an IP.
    pub(crate) fn in_file(&mut self, e: &Expr, va: Val, a: &Expr, b: &Expr, args: &[Expr]) -> Val {
        let path = match args {
            [
                Expr {
                    kind: ExprKind::Str(s),
                    ..
                },
            ] => s.as_plain(),
            _ => None,
        };
        let Some(path) = path else {
            self.emit(
                Diagnostic::error("E0301", b.span, "`file` takes one string literal")
                    .with_label("expected `file(\"list.txt\")`"),
            );
            return Val::err();
        };
        let Some((_, text)) = files::read(&mut self.g.cx, b.span, &path) else {
            return Val::err();
        };
        let lines = files::set_lines(&text);
        if va.ty.is_err() {
            return Val::err();
        }
        if *va.ty.base() != Ty::Ip {
            let set = self.b.set(&lines);
            let ra = self.reg_of(&va, a.span);
            let dst = self.b.reg();
            self.b.op(Op::InSet { dst, a: ra, set }, e.span);
            return Val {
                ty: Ty::Bool,
                o: Opnd::R(dst),
            };
        }
        let mut blocks = Vec::new();
        for l in &lines {
            match parse_block(l) {
                Some(bl) => blocks.push(bl),
                None => {
                    self.emit(
                        Diagnostic::error(
                            "E0304",
                            b.span,
                            format!("invalid CIDR `{l}` in `{path}`"),
                        )
                        .with_label("set file named here")
                        .with_help("one IP or CIDR block per line: `10.0.0.0/8`"),
                    );
                    return Val::err();
                }
            }
        }
        self.in_cidrs(e, va, a, CidrSet::from_blocks(blocks))
    }

    pub(crate) fn matches(&mut self, e: &Expr, a: &Expr, b: &Expr) -> Val {
        let va = self.expr(a);
        let src = match &b.kind {
            ExprKind::Str(s) => s.as_plain(),
            _ => None,
        };
        let Some(src) = src else {
            self.emit(
                Diagnostic::error(
                    "E0303",
                    b.span,
                    "the pattern of `matches` must be a literal",
                )
                .with_label("computed patterns are not allowed")
                .with_help("write the regex as a string literal, e.g. r\"^[a-z]+$\""),
            );
            return Val::err();
        };
        if src.len() > MAX_REGEX {
            self.emit(
                Diagnostic::error(
                    "E0303",
                    b.span,
                    format!(
                        "regex is {} bytes, over the {MAX_REGEX}-byte limit",
                        src.len()
                    ),
                )
                .with_label("too large"),
            );
            return Val::err();
        }
        let re = match regex::RegexBuilder::new(&src)
            .size_limit(REGEX_SIZE)
            .build()
        {
            Ok(r) => r,
            Err(err) => {
                let why = err.to_string();
                let last = why.lines().last().unwrap_or("invalid").trim();
                let first = last.strip_prefix("error: ").unwrap_or(last).to_string();
                self.emit(
                    Diagnostic::error("E0303", b.span, format!("invalid regex: {first}"))
                        .with_label("this pattern does not compile")
                        .with_note("patterns are RE2-style: no backreferences or look-around"),
                );
                return Val::err();
            }
        };
        if va.ty.is_err() {
            return Val::err();
        }
        if !matches!(va.ty.base(), Ty::Str | Ty::Json) {
            self.mismatch(a.span, "string", &va.ty, "`matches` works on strings");
            return Val::err();
        }
        let re = self.b.regex(re);
        let ra = self.reg_of(&va, a.span);
        let dst = self.b.reg();
        self.b.op(Op::Matches { dst, a: ra, re }, e.span);
        self.surcharge(&[ra]);
        Val {
            ty: Ty::Bool,
            o: Opnd::R(dst),
        }
    }
}

fn parse_block(s: &str) -> Option<(u128, u8)> {
    match s.split_once('/') {
        Some((ip, p)) => {
            let ip: std::net::IpAddr = ip.parse().ok()?;
            let p: u8 = p.parse().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            (p <= max).then(|| CidrSet::block(ip, p))
        }
        None => s.parse().ok().map(|ip| CidrSet::block(ip, 128)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(crate) fn parses_set_blocks() {
        assert_eq!(
            parse_block("10.0.0.0/8"),
            Some(CidrSet::block("10.0.0.0".parse().unwrap(), 8))
        );
        assert!(parse_block("10.0.0.0/33").is_none());
        assert!(parse_block("nope").is_none());
        assert!(parse_block("::1").is_some());
    }
}
