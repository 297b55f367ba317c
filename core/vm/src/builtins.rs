//! The fixed standard library (`call.fn`). Every function passes an absent argument through
//! as absent. Results are built in the frame's scratch buffers and stored as [`Str`], so only
//! results longer than 23 bytes allocate (a `sha256_hex` or `uuid` result always does).

use std::fmt::Write;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use gw_program::{Builtin, Json, Str, Value};
use sha2::{Digest, Sha256};

use crate::Host;
use crate::fault::Fault;
use crate::rng;

/// What a builtin may use besides its arguments.
pub(crate) struct Env<'a, H: ?Sized> {
    pub host: &'a mut H,
    pub scratch: &'a mut String,
    pub bytes: &'a mut Vec<u8>,
}

const PADDING_OPTIONAL: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
/// Standard alphabet; decoding accepts input with or without padding.
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, PADDING_OPTIONAL);
/// URL-safe alphabet (JWT segments), tried when the standard one fails.
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, PADDING_OPTIONAL);

/// Call `func` with `args` (the verifier checked the arity).
pub(crate) fn call<H: Host + ?Sized>(
    func: Builtin,
    args: &[Value],
    env: &mut Env<'_, H>,
) -> Result<Value, Fault> {
    match func {
        Builtin::Now => return Ok(Value::Timestamp(env.host.now_ms())),
        Builtin::Uuid => {
            env.scratch.clear();
            rng::write_uuid_v4(env.scratch);
            return Ok(Value::Str(Str::new(env.scratch)));
        }
        _ => {}
    }
    let (first, second) = (args.first().ok_or(Fault::Operand)?, args.get(1));
    if first.is_missing() || second.is_some_and(Value::is_missing) {
        return Ok(Value::Absent);
    }
    match func {
        Builtin::Len => len(first),
        Builtin::ToInt => Ok(to_int(first)),
        Builtin::ToString => match first {
            Value::Str(_) => Ok(first.clone()),
            v => Ok(string_of(env.scratch, |out| v.write_text(out))),
        },
        Builtin::UpstreamHealthy => match first {
            Value::Int(id) => {
                let id = u16::try_from(*id).map_err(|_| Fault::Invalid)?;
                Ok(Value::Bool(env.host.upstream_healthy(id)))
            }
            _ => Err(Fault::Type),
        },
        _ => {
            let s = first.as_text().ok_or(Fault::Type)?;
            let sep = match second {
                Some(v) => Some(v.as_text().ok_or(Fault::Type)?),
                None => None,
            };
            text_fn(func, s, sep, first, env.scratch, env.bytes)
        }
    }
}

/// Builtins on a string argument.
fn text_fn(
    func: Builtin,
    s: &str,
    sep: Option<&str>,
    original: &Value,
    out: &mut String,
    bytes: &mut Vec<u8>,
) -> Result<Value, Fault> {
    Ok(match func {
        Builtin::Lower if s.is_ascii() => string_of(out, |o| {
            o.push_str(s);
            o.make_ascii_lowercase();
        }),
        Builtin::Lower => string_of(out, |o| o.extend(s.chars().flat_map(char::to_lowercase))),
        Builtin::Upper if s.is_ascii() => string_of(out, |o| {
            o.push_str(s);
            o.make_ascii_uppercase();
        }),
        Builtin::Upper => string_of(out, |o| o.extend(s.chars().flat_map(char::to_uppercase))),
        Builtin::Trim => substring(original, s.trim()),
        Builtin::SplitFirst => {
            let part = match sep {
                Some(sep) if !sep.is_empty() => s.split_once(sep).map_or(s, |(head, _)| head),
                _ => s,
            };
            substring(original, part)
        }
        Builtin::SplitLast => {
            let part = match sep {
                Some(sep) if !sep.is_empty() => s.rsplit_once(sep).map_or(s, |(_, tail)| tail),
                _ => s,
            };
            substring(original, part)
        }
        Builtin::UrlEncode => string_of(out, |o| url_encode(s, o)),
        Builtin::UrlDecode => {
            url_decode(s, bytes);
            utf8_string(bytes, out)
        }
        Builtin::Base64Encode => string_of(out, |o| STANDARD.encode_string(s, o)),
        Builtin::Base64Decode => {
            bytes.clear();
            if STANDARD.decode_vec(s, bytes).is_err() {
                bytes.clear();
                URL_SAFE.decode_vec(s, bytes).map_err(|_| Fault::Invalid)?;
            }
            utf8_string(bytes, out)
        }
        Builtin::Sha256Hex => {
            let digest = Sha256::digest(s.as_bytes());
            string_of(out, |o| {
                for byte in digest {
                    let _ = write!(o, "{byte:02x}");
                }
            })
        }
        _ => return Err(Fault::Type),
    })
}

/// Build a string value in `scratch`.
fn string_of(scratch: &mut String, build: impl FnOnce(&mut String)) -> Value {
    scratch.clear();
    build(scratch);
    Value::Str(Str::new(scratch))
}

/// A part of `original`'s string: the original value itself when nothing was cut (no copy).
fn substring(original: &Value, part: &str) -> Value {
    match original {
        Value::Str(s) if s.as_str().len() == part.len() => original.clone(),
        _ => Value::Str(Str::new(part)),
    }
}

/// Decoded bytes as a string; invalid UTF-8 becomes U+FFFD (bytes are not a string type).
fn utf8_string(bytes: &[u8], scratch: &mut String) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(s) => Value::Str(Str::new(s)),
        Err(_) => string_of(scratch, |o| o.push_str(&String::from_utf8_lossy(bytes))),
    }
}

fn len(v: &Value) -> Result<Value, Fault> {
    let n = match v {
        Value::List(items) => items.len(),
        Value::Json(Json::Array(items)) => items.len(),
        Value::Json(Json::Object(members)) => members.len(),
        v => v.as_text().ok_or(Fault::Type)?.chars().count(),
    };
    i64::try_from(n)
        .map(Value::Int)
        .map_err(|_| Fault::Overflow)
}

/// `int(x)?`: absent when `x` does not hold an integer.
fn to_int(v: &Value) -> Value {
    let parsed = match v {
        Value::Int(i) => Some(*i),
        Value::Json(Json::Number(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => Some(*n as i64),
        v => v.as_text().and_then(|s| s.trim().parse::<i64>().ok()),
    };
    parsed.map_or(Value::Absent, Value::Int)
}

/// Percent-encode everything but RFC 3986 unreserved characters.
fn url_encode(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Decode `%XX` escapes into `out`; a `%` not followed by two hex digits stays as it is, and
/// `+` stays `+` (this is not form decoding).
fn url_decode(s: &str, out: &mut Vec<u8>) {
    out.clear();
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|c| char::from(*c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                // Two hex digits make at most 0xff.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests;
