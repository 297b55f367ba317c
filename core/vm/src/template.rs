//! Template rendering (`tpl.build`, `body.build`, `respond`, `resp.body.build`).
//!
//! A register part renders as JSON (`json: true`: absent is `null`, strings are quoted and
//! escaped per RFC 8259) or as text (strings raw, scalars in canonical form, lists and json
//! objects as compact JSON; grammar/README.md#expressions). Text parts are copied as they
//! are: the compiler emits the JSON punctuation of a `json { … }` body as text parts.

use gw_program::{Template, TplPart, Value};

use crate::exec::reg;
use crate::fault::Fault;

/// Append `tpl` rendered with `regs` to `out`.
pub(crate) fn render(tpl: &Template, regs: &[Value], out: &mut String) -> Result<(), Fault> {
    for part in &tpl.parts {
        match part {
            TplPart::Text(text) => out.push_str(text),
            TplPart::Reg { r, json: true } => reg(regs, *r)?.write_json(out),
            TplPart::Reg { r, json: false } => reg(regs, *r)?.write_text(out),
            TplPart::Path { r, segments } => {
                let v = reg(regs, *r)?;
                match v.as_text() {
                    Some(s) => gw_proto::push_path_encoded(s, *segments, out),
                    None => {
                        let mut text = String::new();
                        v.write_text(&mut text);
                        gw_proto::push_path_encoded(&text, *segments, out);
                    }
                }
            }
        }
    }
    Ok(())
}
