//! Plugin specs, finished: the outputs of producing plugins and the E0801 check.

use gw_program::Value;
use gw_syntax::Diagnostic;

use crate::decls::REGISTERED_CLAIMS;
use crate::lower::Global;

/// Adds each producing plugin's outputs (`out.NAME = [local id, "type"]`) and checks every
/// spec against the plugins this build serves (E0801).
pub(crate) fn finish_specs(g: &mut Global<'_>) -> Vec<gw_program::PluginSpec> {
    let locals = &g.locals;
    let local = |n: &str| locals.find(n).map(i64::from);
    let out = |name: &str, id: i64, ty: &crate::types::Ty| {
        (
            format!("out.{name}"),
            Value::List(vec![Value::Int(id), Value::str(&ty.arg_name())].into()),
        )
    };
    let mut specs = Vec::new();
    for slot in &g.slots {
        let mut spec = slot.spec.clone();
        match spec.plugin.as_str() {
            "jwt" => {
                let decl = g.syms.jwts.find(&spec.state_key).map(|d| &d.1.value);
                let declared = decl
                    .map(|d| {
                        d.claims
                            .iter()
                            .map(|c| (c.name.clone(), c.ty.clone()))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                let all = REGISTERED_CLAIMS
                    .iter()
                    .map(|(n, t)| (n.to_string(), t.clone()))
                    .chain(declared);
                for (n, t) in all {
                    if let Some(id) = local(&format!("claim.{n}")) {
                        spec.args.push(out(&format!("claim.{n}"), id, &t));
                    }
                }
                if let Some(id) = local("auth.scopes") {
                    spec.args.push(out(
                        "auth.scopes",
                        id,
                        &crate::types::Ty::List(Box::new(crate::types::Ty::Str)),
                    ));
                }
            }
            "api_key" => {
                for n in ["key.id", "key.plan"] {
                    if let Some(id) = local(n) {
                        spec.args.push(out(n, id, &crate::types::Ty::Str));
                    }
                }
            }
            "authorizer" => {
                if let Some((_, d)) = g.syms.authorizers.find(&spec.state_key) {
                    for c in &d.value.context {
                        let n = format!("auth.ctx.{}", c.name);
                        if let Some(id) = local(&n) {
                            spec.args.push(out(&n, id, &c.ty));
                        }
                    }
                }
            }
            "validate.body" => {
                let sid = Value::find(&spec.args, "schema_id").and_then(|v| match v {
                    Value::Int(i) => u16::try_from(*i).ok(),
                    _ => None,
                });
                let mut done: Vec<&str> = Vec::new();
                for (s, ptr, ty) in &g.body_reads {
                    if Some(*s) == sid && !done.contains(&ptr.as_str()) {
                        done.push(ptr);
                        let n = format!("body.{ptr}");
                        if let Some(id) = local(&n) {
                            spec.args.push(out(&n, id, ty));
                        }
                    }
                }
            }
            _ => {}
        }
        if let Some(sig) = g.cx.opts.signatures.iter().find(|s| s.name == spec.plugin)
            && let Err(why) = sig.check(&spec)
        {
            g.cx.emit(
                Diagnostic::error(
                    "E0999",
                    slot.span,
                    format!(
                        "internal: the compiler and policy `{}` disagree: {why}",
                        spec.plugin
                    ),
                )
                .with_label("compiled here")
                .with_help("this is a bug in gw; please report it with this file"),
            );
        }
        if let Some(avail) = &g.cx.opts.available_plugins
            && !avail.contains(&spec.plugin)
        {
            let d = Diagnostic::error(
                "E0801",
                slot.span,
                format!("policy `{}` is not served by this build yet", spec.plugin),
            )
            .with_label("this statement needs it")
            .with_help(format!(
                "this `gw` serves: {}",
                if avail.is_empty() {
                    "no policies".to_string()
                } else {
                    avail.join(", ")
                }
            ));
            g.cx.emit(d);
        }
        specs.push(spec);
    }
    specs
}
