//! Strings: escapes, `{{`/`}}`, `{expr}` interpolation, raw `r"..."`.

use super::{Lower, P, child};
use crate::ast::{StrLit, StrPart};
use crate::diag::Diagnostic;
use crate::grammar::Rule;

impl Lower<'_> {
    /// A `"..."` or `r"..."` string.
    pub(crate) fn string(&mut self, p: &P<'_>) -> StrLit {
        self.string_d(p).0
    }

    /// A string and the depth of its deepest interpolation (strings nest through `{..}`).
    pub(crate) fn string_d(&mut self, p: &P<'_>) -> (StrLit, u32) {
        let span = self.span(p);
        if p.as_rule() == Rule::raw_string {
            let text = child(p, Rule::raw_text)
                .map(|t| t.as_str().to_string())
                .unwrap_or_default();
            return (
                StrLit {
                    parts: vec![StrPart::Text(text)],
                    raw: true,
                    span,
                },
                1,
            );
        }
        let mut depth = 1;
        let mut parts: Vec<StrPart> = Vec::new();
        let push_text = |parts: &mut Vec<StrPart>, t: &str| match parts.last_mut() {
            Some(StrPart::Text(prev)) => prev.push_str(t),
            _ => parts.push(StrPart::Text(t.to_string())),
        };
        for c in p.clone().into_inner() {
            match c.as_rule() {
                Rule::str_text => push_text(&mut parts, c.as_str()),
                Rule::str_open_lit => push_text(&mut parts, "{"),
                Rule::str_close_lit => push_text(&mut parts, "}"),
                Rule::str_escape => {
                    match unescape(c.as_str()) {
                        Ok(ch) => push_text(&mut parts, ch.encode_utf8(&mut [0; 4])),
                        Err(label) => {
                            let d = Diagnostic::error("E0103", self.span(&c), format!("bad escape `{}`", c.as_str()))
                            .with_label(label)
                            .with_help("escapes are \\\" \\\\ \\n \\t \\r and \\u{…}; use r\"…\" for regexes");
                            self.error(d);
                        }
                    }
                }
                Rule::str_close_bad => {
                    let d = Diagnostic::error("E0103", self.span(&c), "unmatched `}` in a string")
                        .with_label("a literal brace is written twice")
                        .with_help("write `}}` for `}` (and `{{` for `{`)");
                    self.error(d);
                }
                Rule::interp => {
                    if let Some(e) = child(&c, Rule::expr) {
                        let (x, d) = self.expr_d(&e);
                        depth = depth.max(d + 1);
                        parts.push(StrPart::Interp(x));
                    }
                }
                _ => {}
            }
        }
        (
            StrLit {
                parts,
                raw: false,
                span,
            },
            depth,
        )
    }
}

fn unescape(esc: &str) -> Result<char, String> {
    match esc {
        "\\\"" => Ok('"'),
        "\\\\" => Ok('\\'),
        "\\n" => Ok('\n'),
        "\\t" => Ok('\t'),
        "\\r" => Ok('\r'),
        _ => {
            let hex = esc.strip_prefix("\\u{").and_then(|h| h.strip_suffix('}'));
            match hex {
                Some(h) if !h.is_empty() && h.len() <= 6 => u32::from_str_radix(h, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("`{h}` is not a Unicode scalar value")),
                Some(_) => Err("write 1 to 6 hex digits: `\\u{1F600}`".into()),
                None => Err("unknown escape".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(unescape("\\u{1F600}"), Ok('😀'));
        assert!(unescape("\\u{D800}").is_err());
        assert!(unescape("\\q").is_err());
    }
}
