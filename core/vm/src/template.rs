//! Template rendering (`tpl.build`, `body.build`, `respond`, `resp.body.build`).
//!
//! A register part renders as JSON (`json: true`: absent is `null`, strings are quoted and
//! escaped per RFC 8259) or as text (strings raw, scalars in canonical form, lists and json
//! objects as compact JSON; LANGUAGE.md §5). Text parts are copied as they are: the compiler
//! emits the JSON punctuation of a `json { … }` body as text parts.

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
                    Some(s) => push_path_encoded(s, *segments, out),
                    None => {
                        let mut text = String::new();
                        v.write_text(&mut text);
                        push_path_encoded(&text, *segments, out);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Append `s` percent-encoded for a path: unreserved characters and the sub-delimiters other
/// than `;` stay, `:` and `@` stay, `/` stays only between `segments`; everything else,
/// `%` `?` `#` `;` `\\`, spaces, controls and non-ASCII bytes included, becomes `%XX`. A
/// decoded `a/../b` or `x HTTP/1.1\r\n` can then never become segments or lines gw did not
/// route; dot segments that `segments` leaves are refused when the path is forwarded.
pub fn push_path_encoded(s: &str, segments: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'='
                    | b':'
                    | b'@'
            )
            || (segments && b == b'/');
        if keep {
            out.push(char::from(b));
        } else {
            out.push('%');
            for nibble in [b >> 4, b & 0xf] {
                if let Some(&h) = HEX.get(usize::from(nibble)) {
                    out.push(char::from(h));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_values_cannot_split_or_climb() {
        let enc = |s: &str, segments: bool| {
            let mut out = String::new();
            push_path_encoded(s, segments, &mut out);
            out
        };
        assert_eq!(
            enc("a HTTP/1.1\r\nHost: t\r\n\r\nGET /smug", false),
            "a%20HTTP%2F1.1%0D%0AHost:%20t%0D%0A%0D%0AGET%20%2Fsmug"
        );
        assert_eq!(enc("../admin", false), "..%2Fadmin");
        assert_eq!(enc("a/b c", true), "a/b%20c");
        assert_eq!(enc("x;y?z#w%25\\", true), "x%3By%3Fz%23w%2525%5C");
        assert_eq!(enc("é+~", false), "%C3%A9+~");
    }
}
