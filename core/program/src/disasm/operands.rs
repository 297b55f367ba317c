//! The operand column of a disassembled op.

use std::fmt::Write;

use super::{literal, mnemonic, msg, name, plugin_mnemonic, reg};
use crate::field::Field;
use crate::image::ConfigImage;
use crate::op::{NO_REG, NONE, Op};
use crate::program::Program;
use crate::value::Value;

/// What naming an operand may need besides the op.
pub(super) struct Ctx<'a> {
    pub p: &'a Program,
    pub image: Option<&'a ConfigImage>,
    /// The route's path parameter names (`ld.field r0, path.id`); empty prints `path#0`.
    pub params: &'a [String],
    pub phase_label: &'a str,
}

impl Ctx<'_> {
    /// Write the operands of `op` and return its mnemonic.
    pub fn write(&self, op: &Op, o: &mut String) -> String {
        let p = self.p;
        let mut mnem = mnemonic(op).to_string();
        let _ = match *op {
            Op::LdField { dst, field } => {
                let _ = write!(o, "{}, ", reg(dst));
                if let Some(local_mnemonic) = self.field(field, o) {
                    mnem = local_mnemonic.to_string();
                }
                Ok(())
            }
            Op::LdConst { dst, k } => {
                let _ = write!(o, "{}, ", reg(dst));
                literal(p, k, o);
                Ok(())
            }
            Op::Mov { dst, src: a }
            | Op::Has { dst, a }
            | Op::Not { dst, a }
            | Op::Neg { dst, a } => write!(o, "{}, {}", reg(dst), reg(a)),
            Op::Cmp { dst, a, b, .. }
            | Op::Arith { dst, a, b, .. }
            | Op::Str { dst, a, b, .. }
            | Op::Concat { dst, a, b }
            | Op::Coalesce { dst, a, b }
            | Op::Index { dst, a, b }
            | Op::InList { dst, a, list: b } => write!(o, "{}, {}, {}", reg(dst), reg(a), reg(b)),
            Op::CmpConst { dst, a, k, .. } | Op::CoalesceConst { dst, a, k } => {
                let _ = write!(o, "{}, {}, ", reg(dst), reg(a));
                literal(p, k, o);
                Ok(())
            }
            Op::InListConst { dst, k, list } => {
                let _ = write!(o, "{}, ", reg(dst));
                literal(p, k, o);
                write!(o, ", {}", reg(list))
            }
            Op::Member { dst, a, k } => {
                let _ = write!(o, "{}, {}, ", reg(dst), reg(a));
                literal(p, k, o);
                Ok(())
            }
            Op::InSet { dst, a, set } => write!(o, "{}, {}, set#{set}", reg(dst), reg(a)),
            Op::InCidr { dst, a, set } => write!(o, "{}, {}, cidr#{set}", reg(dst), reg(a)),
            Op::Matches { dst, a, re } => {
                let _ = write!(o, "{}, {}, re#{re}", reg(dst), reg(a));
                match p.regexes.get(usize::from(re)).map(|r| r.as_str()) {
                    Some(src) if !src.contains('"') => write!(o, " r\"{src}\""),
                    Some(src) => {
                        o.push(' ');
                        Value::str(src).write_literal(o);
                        Ok(())
                    }
                    None => Ok(()),
                }
            }
            Op::CallFn {
                dst,
                func,
                arg,
                argc,
            } => {
                let _ = write!(o, "{}, {}(", reg(dst), func.name());
                for i in 0..argc {
                    let sep = if i > 0 { ", " } else { "" };
                    let _ = write!(o, "{sep}r{}", u16::from(arg) + u16::from(i));
                }
                write!(o, ")")
            }
            Op::TplBuild { dst, tpl } => {
                let _ = write!(o, "{}, ", reg(dst));
                self.template(tpl, o)
            }
            Op::Jmp { off } => write!(o, "+{}", u32::from(off) + 1),
            Op::Jz { r, off } | Op::Jnz { r, off } => {
                write!(o, "{}, +{}", reg(r), u32::from(off) + 1)
            }
            Op::HdrEqConst { dst, h, k } => {
                let _ = write!(o, "{}, ", reg(dst));
                literal(p, h, o);
                o.push_str(", ");
                literal(p, k, o);
                Ok(())
            }
            Op::DenyIfNot { r, status, msg: m } => {
                write!(o, "{}, {status}, {}", reg(r), msg(m))
            }
            Op::Deny { status, msg: m } => write!(o, "{status}, {}", msg(m)),
            Op::HdrSetConst { h, k } => {
                literal(p, h, o);
                o.push_str(", ");
                literal(p, k, o);
                Ok(())
            }
            Op::Call { slot, arg, argc } => {
                mnem = self.call(slot, o);
                for i in 0..argc {
                    let _ = write!(o, ", r{}", u16::from(arg) + u16::from(i));
                }
                Ok(())
            }
            Op::HdrSet { h, r }
            | Op::HdrAdd { h, r }
            | Op::QuerySet { q: h, r }
            | Op::RespHdrSet { h, r }
            | Op::RespHdrAdd { h, r } => {
                literal(p, h, o);
                write!(o, ", {}", reg(r))
            }
            Op::HdrDel { h } | Op::QueryDel { q: h } | Op::RespHdrDel { h } => {
                literal(p, h, o);
                Ok(())
            }
            Op::PathRewrite { r } | Op::RespStatusSet { r } => write!(o, "{}", reg(r)),
            Op::BodyBuild { tpl } | Op::RespBodyBuild { tpl } => self.template(tpl, o),
            Op::Forward { up, hash } | Op::Upgrade { up, hash } => {
                self.upstream(up, o);
                if hash != NO_REG {
                    let _ = write!(o, ", hash {}", reg(hash));
                }
                Ok(())
            }
            Op::Split {
                canary,
                sticky,
                threshold,
                off,
            } => write!(
                o,
                "canary#{canary}, {}, {threshold}/10000, +{}",
                reg(sticky),
                u32::from(off) + 1
            ),
            Op::Respond { status, tpl, json } => {
                let _ = write!(o, "{status}");
                if tpl != NONE {
                    let _ = write!(o, ", {} ", if json { "json" } else { "text" });
                    let _ = self.template(tpl, o);
                }
                Ok(())
            }
            Op::CanaryMark | Op::Done => Ok(()),
        };
        mnem
    }

    /// Write a field's name; a local read gets its own mnemonic (`ld.claim r0, sub`).
    fn field(&self, field: Field, o: &mut String) -> Option<&'static str> {
        let p = self.p;
        let fixed = match field {
            Field::ReqMethod => "req.method",
            Field::ReqPath => "req.path",
            Field::ReqHost => "req.host",
            Field::ReqScheme => "req.scheme",
            Field::ClientIp => "client.ip",
            Field::TlsSubject => "tls.client.subject",
            Field::RequestId => "request.id",
            Field::RouteName => "route.name",
            Field::RespStatus => "resp.status",
            Field::UpstreamName => "upstream.name",
            Field::UpstreamLatency => "upstream.latency",
            Field::Canary => "canary",
            Field::ErrorStatus => "error.status",
            Field::ErrorMessage => "error.message",
            Field::ErrorRetryAfter => "error.retry_after",
            Field::PathParam(i) => {
                match self.params.get(usize::from(i)) {
                    Some(n) => {
                        let _ = write!(o, "path.{n}");
                    }
                    None => {
                        let _ = write!(o, "path#{i}");
                    }
                }
                return None;
            }
            Field::Query(k) => return self.named("query.", k, o),
            Field::Header(k) => return self.named("header.", k, o),
            Field::Cookie(k) => return self.named("cookie.", k, o),
            Field::RespHeader(k) => return self.named("resp.header.", k, o),
            Field::RespJson(k) | Field::Body(k) => return self.named("", k, o),
            Field::Local(id) => {
                let Some(local) = p.locals.get(usize::from(id)) else {
                    let _ = write!(o, "local#{id}");
                    return None;
                };
                for (prefix, mnem) in [
                    ("claim.", "ld.claim"),
                    ("auth.ctx.", "ld.ctx"),
                    ("body.", "ld.body"),
                ] {
                    if let Some(rest) = local.strip_prefix(prefix) {
                        o.push_str(rest);
                        return Some(mnem);
                    }
                }
                o.push_str(local);
                return None;
            }
        };
        o.push_str(fixed);
        None
    }

    fn named(&self, prefix: &str, k: u16, o: &mut String) -> Option<&'static str> {
        o.push_str(prefix);
        o.push_str(name(self.p, k));
        None
    }

    fn template(&self, tpl: u16, o: &mut String) -> std::fmt::Result {
        write!(o, "tpl#{tpl}")?;
        match self.p.templates.get(usize::from(tpl)) {
            Some(t) if !t.display.is_empty() => write!(o, " {}", t.display),
            _ => Ok(()),
        }
    }

    fn upstream(&self, up: u16, o: &mut String) {
        let _ = write!(o, "up#{up}");
        if let Some(u) = self
            .image
            .and_then(|img| img.upstreams.get(usize::from(up)))
        {
            let _ = write!(o, " {}", u.name);
        }
    }

    /// `bucket#1 50/s b100` for throttles, `jwt#0 users` for others; returns the mnemonic.
    fn call(&self, slot: u16, o: &mut String) -> String {
        let Some(spec) = self
            .image
            .and_then(|img| img.plugins.get(usize::from(slot)))
        else {
            let _ = write!(o, "slot#{slot}");
            return "call".to_string();
        };
        let (mnem, noun) = plugin_mnemonic(spec, self.phase_label);
        let _ = write!(o, "{noun}#{slot}");
        let rate = Value::find(&spec.args, "rate");
        let burst = Value::find(&spec.args, "burst");
        if let Some(rate) = rate {
            o.push(' ');
            rate.write_literal(o);
            if let Some(burst) = burst {
                o.push_str(" b");
                burst.write_literal(o);
            }
        } else if let Some(Value::Str(n)) = Value::find(&spec.args, "name") {
            let _ = write!(o, " {}", n.as_str());
        } else if !spec.state_key.is_empty() {
            let _ = write!(o, " {}", spec.state_key);
        }
        self.auth_summary(spec, o);
        scope_summary(spec, o);
        mnem
    }

    /// An auth step's cache key and failure statuses: `[key route+identity 5m · 401/403 ·
    /// on_error 503]`.
    fn auth_summary(&self, spec: &crate::PluginSpec, o: &mut String) {
        let arg = |n: &str| Value::find(&spec.args, n);
        let text = |n: &str| arg(n).and_then(Value::as_str).map(str::to_owned);
        match spec.plugin.as_str() {
            "jwt" if arg("jwks_url").is_some() => {
                o.push_str(" [key token · 401 · 503 until keys load]");
            }
            "jwt" => o.push_str(" [key token · 401]"),
            "api_key" => {
                let from = match (text("header"), text("query")) {
                    (_, Some(q)) => format!("query.{q}"),
                    (Some(h), None) => format!("header.{h}"),
                    (None, None) => "header.x-api-key".into(),
                };
                let _ = write!(o, " [key sha256({from}) · 401]");
            }
            "authorizer" => {
                let ttl = match arg("ttl") {
                    Some(Value::Duration(0)) | None => "none".to_string(),
                    Some(v) => {
                        let mut t = String::from("route+identity ");
                        v.write_literal(&mut t);
                        t
                    }
                };
                let on_error = match (text("on_error").as_deref(), arg("on_error_status")) {
                    (Some("allow"), _) => "allow".to_string(),
                    (_, Some(Value::Int(s))) => s.to_string(),
                    _ => "503".to_string(),
                };
                let _ = write!(o, " [key {ttl} · 401/403 · on_error {on_error}]");
            }
            "auth.any" => {
                o.push_str(" [first of");
                if let Some(Value::List(members)) = arg("members") {
                    for m in members.iter() {
                        if let Value::Int(slot) = m {
                            let member = u16::try_from(*slot).ok().and_then(|s| {
                                self.image.and_then(|img| img.plugins.get(usize::from(s)))
                            });
                            let noun = member.map_or("slot", |m| plugin_mnemonic(m, "").1);
                            let _ = write!(o, " {noun}#{slot}");
                        }
                    }
                }
                o.push_str(" · 401, or a member's 5xx]");
            }
            _ => {}
        }
    }
}

/// Where each limit counts: `[scope node]`, `[store redis URL · on_store_down deny]`; for
/// plans, one per plan: `[free: scope node; pro: store redis URL · on_store_down allow]`.
fn scope_summary(spec: &crate::PluginSpec, o: &mut String) {
    let scope = |store: Option<&Value>, down: Option<&Value>| match store.and_then(Value::as_str) {
        Some(url) => format!(
            "store redis {url} · on_store_down {}",
            down.and_then(Value::as_str).unwrap_or("deny")
        ),
        None => "scope node".to_string(),
    };
    match spec.plugin.as_str() {
        "throttle" => {
            let s = scope(
                Value::find(&spec.args, "store"),
                Value::find(&spec.args, "on_store_down"),
            );
            let _ = write!(o, " [{s}]");
        }
        "throttle.plan" => {
            let plans: Vec<String> = spec
                .args
                .iter()
                .filter_map(|(k, v)| {
                    let name = k.strip_prefix("plan.")?;
                    let Value::List(parts) = v else {
                        return None;
                    };
                    Some(format!("{name}: {}", scope(parts.get(4), parts.get(5))))
                })
                .collect();
            if !plans.is_empty() {
                let _ = write!(o, " [{}]", plans.join("; "));
            }
        }
        _ => {}
    }
}
