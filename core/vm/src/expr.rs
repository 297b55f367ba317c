//! Compute ops on values: comparisons, arithmetic, strings, membership, JSON access.
//!
//! Equality is total (values of different types are unequal); ordering, arithmetic and
//! string ops need operands of matching types and fault otherwise. JSON scalars compare with
//! the native values they hold (`body.count == 3`, `body.name == "x"`).

use std::cmp::Ordering;
use std::net::IpAddr;

use ahash::AHashSet;
use gw_program::{ArithOp, CidrSet, CmpOp, Json, Str, StrOp, Value, ip_bits};

use crate::fault::Fault;

/// `a OP b`. An absent operand makes every comparison false, except `ne`.
pub(crate) fn compare(op: CmpOp, a: &Value, b: &Value) -> Result<bool, Fault> {
    // The common cases first: ints, and strings other than `~=`.
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => return Ok(holds(op, x.cmp(y))),
        (Value::Str(x), Value::Str(y)) if op != CmpOp::IEq => {
            let (x, y) = (x.as_str(), y.as_str());
            return Ok(match op {
                CmpOp::Eq => x == y,
                CmpOp::Ne => x != y,
                _ => holds(op, x.cmp(y)),
            });
        }
        _ => {}
    }
    if a.is_missing() || b.is_missing() {
        return Ok(op == CmpOp::Ne);
    }
    Ok(match op {
        CmpOp::Eq => equal(a, b),
        CmpOp::Ne => !equal(a, b),
        CmpOp::IEq => match (a.as_text(), b.as_text()) {
            (Some(x), Some(y)) => eq_ignore_case(x, y),
            _ => equal(a, b),
        },
        _ => holds(op, order(a, b)?),
    })
}

/// Whether `op` holds for operands ordered `ord`.
fn holds(op: CmpOp, ord: Ordering) -> bool {
    match op {
        CmpOp::Eq | CmpOp::IEq => ord.is_eq(),
        CmpOp::Ne => ord.is_ne(),
        CmpOp::Lt => ord.is_lt(),
        CmpOp::Le => ord.is_le(),
        CmpOp::Gt => ord.is_gt(),
        CmpOp::Ge => ord.is_ge(),
    }
}

/// Value equality; JSON scalars equal the native values they hold.
pub(crate) fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Json(x), Value::Json(y)) => x == y,
        (Value::Json(j), v) | (v, Value::Json(j)) => json_equals(j, v),
        (Value::Ip(x), Value::Ip(y)) => ip_bits(*x) == ip_bits(*y),
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(x, y)| equal(x, y))
        }
        _ => a == b,
    }
}

fn json_equals(j: &Json, v: &Value) -> bool {
    match (j, v) {
        (Json::String(s), Value::Str(t)) => s == t,
        (Json::Bool(x), Value::Bool(y)) => x == y,
        (Json::Number(n), Value::Int(i)) => json_int(*n) == Some(*i),
        (Json::Array(items), Value::List(list)) => {
            items.len() == list.len()
                && items
                    .iter()
                    .zip(list.iter())
                    .all(|(j, v)| json_equals(j, v))
        }
        _ => false,
    }
}

/// Case-insensitive equality without allocating (`~=`).
fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// An f64 that holds an integer exactly, as that integer.
fn json_int(n: f64) -> Option<i64> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    // In range and integral, so the cast is exact.
    (n.fract() == 0.0 && (-LIMIT..LIMIT).contains(&n)).then_some(n as i64)
}

/// An int, or a JSON number holding one.
fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Json(Json::Number(n)) => json_int(*n),
        _ => None,
    }
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        // Ordering only: precision loss past 2^53 cannot flip an ordering of unequal ints
        // that also differ as floats, and equal floats compare equal.
        Value::Int(i) => Some(*i as f64),
        Value::Json(Json::Number(n)) => Some(*n),
        _ => None,
    }
}

fn order(a: &Value, b: &Value) -> Result<Ordering, Fault> {
    if let (Some(x), Some(y)) = (a.as_text(), b.as_text()) {
        return Ok(x.cmp(y));
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) | (Value::Size(x), Value::Size(y)) => Ok(x.cmp(y)),
        (Value::Timestamp(x), Value::Timestamp(y)) => Ok(x.cmp(y)),
        (Value::Ip(x), Value::Ip(y)) => Ok(ip_bits(*x).cmp(&ip_bits(*y))),
        _ => match (number_of(a), number_of(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y).ok_or(Fault::Type),
            _ => Err(Fault::Type),
        },
    }
}

/// `+ - * / %`. An absent operand gives absent; `+` on strings concatenates.
pub(crate) fn arith(
    op: ArithOp,
    a: &Value,
    b: &Value,
    scratch: &mut String,
) -> Result<Value, Fault> {
    if a.is_missing() || b.is_missing() {
        return Ok(Value::Absent);
    }
    if let (Some(x), Some(y)) = (int_of(a), int_of(b)) {
        let r = match op {
            ArithOp::Add => x.checked_add(y),
            ArithOp::Sub => x.checked_sub(y),
            ArithOp::Mul => x.checked_mul(y),
            ArithOp::Div | ArithOp::Rem if y == 0 => return Err(Fault::DivZero),
            ArithOp::Div => x.checked_div(y),
            ArithOp::Rem => x.checked_rem(y),
        };
        return r.map(Value::Int).ok_or(Fault::Overflow);
    }
    match (op, a, b) {
        (ArithOp::Add, _, _) if a.as_text().is_some() => concat(a, b, scratch),
        (ArithOp::Add, Value::Duration(x), Value::Duration(y)) => {
            unsigned(x.checked_add(*y), Value::Duration)
        }
        (ArithOp::Sub, Value::Duration(x), Value::Duration(y)) => {
            unsigned(x.checked_sub(*y), Value::Duration)
        }
        (ArithOp::Add, Value::Size(x), Value::Size(y)) => unsigned(x.checked_add(*y), Value::Size),
        (ArithOp::Sub, Value::Size(x), Value::Size(y)) => unsigned(x.checked_sub(*y), Value::Size),
        (ArithOp::Mul, Value::Duration(d), Value::Int(n))
        | (ArithOp::Mul, Value::Int(n), Value::Duration(d)) => {
            let n = u64::try_from(*n).map_err(|_| Fault::Overflow)?;
            unsigned(d.checked_mul(n), Value::Duration)
        }
        (ArithOp::Add, Value::Timestamp(t), Value::Duration(d))
        | (ArithOp::Add, Value::Duration(d), Value::Timestamp(t)) => {
            let d = i64::try_from(*d).map_err(|_| Fault::Overflow)?;
            t.checked_add(d)
                .map(Value::Timestamp)
                .ok_or(Fault::Overflow)
        }
        (ArithOp::Sub, Value::Timestamp(t), Value::Duration(d)) => {
            let d = i64::try_from(*d).map_err(|_| Fault::Overflow)?;
            t.checked_sub(d)
                .map(Value::Timestamp)
                .ok_or(Fault::Overflow)
        }
        (ArithOp::Sub, Value::Timestamp(x), Value::Timestamp(y)) => {
            let d = x.checked_sub(*y).and_then(|d| u64::try_from(d).ok());
            unsigned(d, Value::Duration)
        }
        _ => Err(Fault::Type),
    }
}

fn unsigned(r: Option<u64>, make: fn(u64) -> Value) -> Result<Value, Fault> {
    r.map(make).ok_or(Fault::Overflow)
}

/// String concatenation; allocates only when the result is longer than 23 bytes.
pub(crate) fn concat(a: &Value, b: &Value, scratch: &mut String) -> Result<Value, Fault> {
    if a.is_missing() || b.is_missing() {
        return Ok(Value::Absent);
    }
    let (Some(x), Some(y)) = (a.as_text(), b.as_text()) else {
        return Err(Fault::Type);
    };
    scratch.clear();
    scratch.push_str(x);
    scratch.push_str(y);
    Ok(Value::Str(Str::new(scratch)))
}

/// `starts_with`, `ends_with`, `contains` (substring, or element of a list).
pub(crate) fn str_op(op: StrOp, a: &Value, b: &Value) -> Result<bool, Fault> {
    if a.is_missing() || b.is_missing() {
        return Ok(false);
    }
    if op == StrOp::Contains && matches!(a, Value::List(_) | Value::Json(Json::Array(_))) {
        return in_list(b, a);
    }
    let (Some(x), Some(y)) = (a.as_text(), b.as_text()) else {
        return Err(Fault::Type);
    };
    Ok(match op {
        StrOp::StartsWith => x.starts_with(y),
        StrOp::EndsWith => x.ends_with(y),
        StrOp::Contains => x.contains(y),
    })
}

/// `a in list`.
pub(crate) fn in_list(a: &Value, list: &Value) -> Result<bool, Fault> {
    if a.is_missing() || list.is_missing() {
        return Ok(false);
    }
    match list {
        Value::List(items) => Ok(items.iter().any(|item| equal(a, item))),
        Value::Json(Json::Array(items)) => Ok(items.iter().any(|item| match a {
            Value::Json(j) => j == item,
            v => json_equals(item, v),
        })),
        _ => Err(Fault::Type),
    }
}

/// `a in set` (hashed strings).
pub(crate) fn in_set(a: &Value, set: &AHashSet<String>) -> Result<bool, Fault> {
    match a.as_text() {
        Some(s) => Ok(set.contains(s)),
        None if a.is_missing() => Ok(false),
        None => Err(Fault::Type),
    }
}

/// `ip in cidrs`; a string is parsed as an address (unparsable: not in the set).
pub(crate) fn in_cidr(a: &Value, set: &CidrSet) -> Result<bool, Fault> {
    match a {
        Value::Ip(ip) => Ok(set.contains(*ip)),
        v if v.is_missing() => Ok(false),
        v => match v.as_text() {
            Some(s) => Ok(s.trim().parse::<IpAddr>().is_ok_and(|ip| set.contains(ip))),
            None => Err(Fault::Type),
        },
    }
}

pub(crate) fn not(a: &Value) -> Result<Value, Fault> {
    match a {
        Value::Bool(b) | Value::Json(Json::Bool(b)) => Ok(Value::Bool(!b)),
        v if v.is_missing() => Ok(Value::Absent),
        _ => Err(Fault::Type),
    }
}

pub(crate) fn neg(a: &Value) -> Result<Value, Fault> {
    match int_of(a) {
        Some(i) => i.checked_neg().map(Value::Int).ok_or(Fault::Overflow),
        None if a.is_missing() => Ok(Value::Absent),
        None => Err(Fault::Type),
    }
}

/// `a[b]`: list or JSON array by int, JSON object by string; out of range is absent.
pub(crate) fn index(a: &Value, b: &Value) -> Result<Value, Fault> {
    if a.is_missing() || b.is_missing() {
        return Ok(Value::Absent);
    }
    let position = |len: usize| {
        int_of(b)
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| *i < len)
    };
    match a {
        Value::List(items) => Ok(position(items.len())
            .and_then(|i| items.get(i))
            .cloned()
            .unwrap_or(Value::Absent)),
        Value::Json(Json::Array(items)) => Ok(position(items.len())
            .and_then(|i| items.get(i))
            .map_or(Value::Absent, |j| Value::Json(j.clone()))),
        Value::Json(Json::Object(_)) => match b.as_text() {
            Some(name) => member(a, name),
            None => Err(Fault::Type),
        },
        _ => Err(Fault::Type),
    }
}

/// `a.name` on a JSON object; a missing member (or a non-object) is absent.
pub(crate) fn member(a: &Value, name: &str) -> Result<Value, Fault> {
    match a {
        Value::Json(Json::Object(members)) => Ok(members
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map_or(Value::Absent, |(_, v)| Value::Json(v.clone()))),
        Value::Json(_) | Value::Absent => Ok(Value::Absent),
        _ => Err(Fault::Type),
    }
}

#[cfg(test)]
mod tests;
