//! Literals: their values, and the checks a setting applies to the literal it expects
//! (E0103 for `1m` where a size is expected, E0304 for out-of-range values).

use gw_program::Value;
use gw_syntax::Diagnostic;
use gw_syntax::ast::{Lit, LitValue};

use crate::ctx::Ctx;
use crate::types::Ty;

/// The runtime value and static type of a literal. Percentages are basis points (`Int`).
pub(crate) fn value(l: &LitValue) -> (Value, Ty) {
    match *l {
        LitValue::Int(i) => (Value::Int(i), Ty::Int),
        LitValue::Bool(b) => (Value::Bool(b), Ty::Bool),
        LitValue::Duration(ms) => (Value::Duration(ms), Ty::Duration),
        LitValue::Size(b) => (Value::Size(b), Ty::Size),
        LitValue::Rate { count, per_ms } => (Value::Rate { count, per_ms }, Ty::Rate),
        LitValue::Percent(bp) => (Value::Int(i64::from(bp)), Ty::Percent),
        LitValue::Ip(ip) => (Value::Ip(ip), Ty::Ip),
        LitValue::Cidr(ip, p) => (Value::Cidr(ip, p), Ty::Cidr),
    }
}

fn kind(l: &LitValue) -> &'static str {
    match l {
        LitValue::Int(_) => "an integer",
        LitValue::Bool(_) => "a bool",
        LitValue::Duration(_) => "a duration",
        LitValue::Size(_) => "a size",
        LitValue::Rate { .. } => "a rate",
        LitValue::Percent(_) => "a percentage",
        LitValue::Ip(_) => "an IP address",
        LitValue::Cidr(..) => "a CIDR block",
    }
}

fn mismatch(cx: &mut Ctx<'_>, l: &Lit, want: &str, example: &str) {
    cx.emit(
        Diagnostic::error(
            "E0301",
            l.span,
            format!("expected {want}, found {}", kind(&l.value)),
        )
        .with_label(format!("{want} expected"))
        .with_help(format!("for example: {example}")),
    );
}

/// A duration in milliseconds within `[min, max]`.
pub(crate) fn duration(cx: &mut Ctx<'_>, l: &Lit, min: u64, max: u64) -> Option<u64> {
    match l.value {
        LitValue::Duration(ms) if ms >= min && ms <= max => Some(ms),
        LitValue::Duration(ms) => {
            out_of_range(cx, l, &format!("{ms} ms"), &fmt_ms(min), &fmt_ms(max));
            None
        }
        _ => {
            mismatch(cx, l, "a duration", "`30s`, `250ms`, `5min`");
            None
        }
    }
}

/// A size in bytes within `[min, max]`. A duration written `1m` is the nginx-style mistake.
pub(crate) fn size(cx: &mut Ctx<'_>, l: &Lit, min: u64, max: u64) -> Option<u64> {
    match l.value {
        LitValue::Size(b) if b >= min && b <= max => Some(b),
        LitValue::Size(b) => {
            out_of_range(
                cx,
                l,
                &format!("{b} bytes"),
                &format!("{min} B"),
                &format!("{max} B"),
            );
            None
        }
        LitValue::Duration(_) if cx.lit_ends_in_m(l) => {
            let text = cx.snippet(l.span).to_string();
            cx.emit(
                Diagnostic::error(
                    "E0103",
                    l.span,
                    format!("bad literal `{text}`: a size is expected"),
                )
                .with_label("`m` means minutes")
                .with_help("write `1MiB` or `1min`"),
            );
            None
        }
        _ => {
            mismatch(cx, l, "a size", "`64KiB`, `10MiB`, `1MB`");
            None
        }
    }
}

/// An integer within `[min, max]`.
pub(crate) fn int(cx: &mut Ctx<'_>, l: &Lit, min: i64, max: i64) -> Option<i64> {
    match l.value {
        LitValue::Int(i) if i >= min && i <= max => Some(i),
        LitValue::Int(i) => {
            out_of_range(cx, l, &i.to_string(), &min.to_string(), &max.to_string());
            None
        }
        _ => {
            mismatch(cx, l, "an integer", "`3`, `10_000`");
            None
        }
    }
}

/// A rate `N/unit` with N > 0.
pub(crate) fn rate(cx: &mut Ctx<'_>, l: &Lit) -> Option<(u64, u64)> {
    match l.value {
        LitValue::Rate { count, per_ms } if count > 0 && per_ms > 0 => Some((count, per_ms)),
        LitValue::Rate { .. } => {
            cx.emit(
                Diagnostic::error("E0304", l.span, "a rate must allow at least one request")
                    .with_label("zero rate"),
            );
            None
        }
        _ => {
            mismatch(cx, l, "a rate", "`100/s`, `50/min`");
            None
        }
    }
}

/// A percentage in basis points, `0% < p <= 100%`.
pub(crate) fn percent(cx: &mut Ctx<'_>, l: &Lit) -> Option<u32> {
    match l.value {
        LitValue::Percent(bp) if bp > 0 && bp <= 10_000 => Some(bp),
        LitValue::Percent(bp) => {
            let shown = format!("{}.{:02}%", bp / 100, bp % 100);
            out_of_range(cx, l, &shown, "0.01%", "100%");
            None
        }
        _ => {
            mismatch(cx, l, "a percentage", "`10%`, `12.5%`");
            None
        }
    }
}

/// An HTTP status code 100..=599.
pub(crate) fn status(cx: &mut Ctx<'_>, l: &Lit) -> Option<u16> {
    match l.value {
        LitValue::Int(i @ 100..=599) => u16::try_from(i).ok(),
        LitValue::Int(i) => {
            cx.emit(
                Diagnostic::error("E0304", l.span, format!("`{i}` is not an HTTP status"))
                    .with_label("must be between 100 and 599"),
            );
            None
        }
        _ => {
            mismatch(cx, l, "an HTTP status", "`403`, `429`");
            None
        }
    }
}

fn out_of_range(cx: &mut Ctx<'_>, l: &Lit, got: &str, min: &str, max: &str) {
    let message = match setting_before(cx, l) {
        Some(word) => format!("`{word}` must be between {min} and {max}, not {got}"),
        None => format!("value out of range: {got}"),
    };
    cx.emit(
        Diagnostic::error("E0304", l.span, message)
            .with_label(format!("must be between {min} and {max}")),
    );
}

/// The keyword a literal is the value of (`burst` in `burst 0`), read from the source: every
/// setting and statement argument follows its keyword on the same line. `else` (a status)
/// and operators name nothing.
fn setting_before<'a>(cx: &Ctx<'a>, l: &Lit) -> Option<&'a str> {
    let file = cx.sources.get(l.span.file)?;
    let before = file.text.get(..l.span.start as usize)?;
    let line = before.rsplit('\n').next()?.trim_end();
    let word = line
        .rsplit(|c: char| c.is_whitespace() || c == '{' || c == ';')
        .next()?;
    let is_name = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && word.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    (is_name && word != "else").then_some(word)
}

fn fmt_ms(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_values_keep_units() {
        assert_eq!(
            value(&LitValue::Duration(1500)),
            (Value::Duration(1500), Ty::Duration)
        );
        assert_eq!(
            value(&LitValue::Percent(1250)),
            (Value::Int(1250), Ty::Percent)
        );
        assert_eq!(fmt_ms(3_600_000), "3600s");
        assert_eq!(fmt_ms(250), "250ms");
    }
}
