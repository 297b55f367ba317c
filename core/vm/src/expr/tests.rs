use std::sync::Arc;

use gw_program::{ArithOp, CmpOp, Json, Str, StrOp, Value};

use super::*;
use crate::fault::Fault;

fn arith_of(op: ArithOp, a: Value, b: Value) -> Result<Value, Fault> {
    arith(op, &a, &b, &mut String::new())
}

#[test]
fn equality_is_total_and_ordering_needs_matching_types() {
    assert!(!compare(CmpOp::Eq, &Value::Int(1), &Value::str("1")).unwrap());
    assert!(compare(CmpOp::Ne, &Value::Int(1), &Value::str("1")).unwrap());
    assert_eq!(
        compare(CmpOp::Lt, &Value::Int(1), &Value::str("1")),
        Err(Fault::Type)
    );
    assert!(compare(CmpOp::Lt, &Value::Duration(250), &Value::Duration(30_000)).unwrap());
    assert!(compare(CmpOp::Ge, &Value::str("b"), &Value::str("a")).unwrap());
    let v4: Value = Value::Ip("10.0.0.1".parse().unwrap());
    let mapped: Value = Value::Ip("::ffff:10.0.0.1".parse().unwrap());
    assert!(compare(CmpOp::Eq, &v4, &mapped).unwrap());
}

#[test]
fn json_null_is_absent_for_comparisons() {
    let null = Value::Json(Json::Null);
    assert!(!compare(CmpOp::Eq, &null, &Value::Int(0)).unwrap());
    assert!(compare(CmpOp::Ne, &null, &Value::Int(0)).unwrap());
    assert!(!compare(CmpOp::Lt, &null, &Value::Int(0)).unwrap());
}

#[test]
fn case_insensitive_equality_handles_unicode() {
    assert!(eq_ignore_case("Content-Type", "content-type"));
    assert!(eq_ignore_case("ÉCOLE", "école"));
    assert!(!eq_ignore_case("école", "ecole"));
}

#[test]
fn integer_arithmetic_is_checked() {
    assert_eq!(
        arith_of(ArithOp::Add, Value::Int(i64::MAX), Value::Int(1)),
        Err(Fault::Overflow)
    );
    assert_eq!(
        arith_of(ArithOp::Div, Value::Int(1), Value::Int(0)),
        Err(Fault::DivZero)
    );
    assert_eq!(
        arith_of(ArithOp::Rem, Value::Int(1), Value::Int(0)),
        Err(Fault::DivZero)
    );
    assert_eq!(
        arith_of(ArithOp::Div, Value::Int(i64::MIN), Value::Int(-1)),
        Err(Fault::Overflow)
    );
    assert_eq!(
        arith_of(ArithOp::Mul, Value::Int(6), Value::Int(7)),
        Ok(Value::Int(42))
    );
    assert_eq!(neg(&Value::Int(i64::MIN)), Err(Fault::Overflow));
    let n = Value::Json(Json::Number(2.0));
    assert_eq!(arith_of(ArithOp::Sub, n, Value::Int(5)), Ok(Value::Int(-3)));
}

#[test]
fn time_and_size_arithmetic() {
    let t = Value::Timestamp(1_000);
    assert_eq!(
        arith_of(ArithOp::Add, t.clone(), Value::Duration(500)),
        Ok(Value::Timestamp(1_500))
    );
    assert_eq!(
        arith_of(ArithOp::Sub, Value::Timestamp(4_000), t.clone()),
        Ok(Value::Duration(3_000))
    );
    assert_eq!(
        arith_of(ArithOp::Sub, t.clone(), Value::Timestamp(4_000)),
        Err(Fault::Overflow)
    );
    assert_eq!(
        arith_of(ArithOp::Mul, Value::Int(3), Value::Duration(1000)),
        Ok(Value::Duration(3000))
    );
    assert_eq!(
        arith_of(ArithOp::Add, Value::Size(1), Value::Size(2)),
        Ok(Value::Size(3))
    );
    assert_eq!(
        arith_of(ArithOp::Add, Value::Size(1), Value::Duration(2)),
        Err(Fault::Type)
    );
}

#[test]
fn concat_is_inline_up_to_23_bytes() {
    let mut scratch = String::new();
    let short = concat(
        &Value::str("0123456789"),
        &Value::str("0123456789abc"),
        &mut scratch,
    );
    assert!(
        matches!(&short, Ok(Value::Str(s)) if !s.is_shared() && s.as_str().len() == Str::INLINE),
        "{short:?}"
    );
    let long = concat(
        &Value::str("0123456789"),
        &Value::str("0123456789abcd"),
        &mut scratch,
    );
    assert!(
        matches!(&long, Ok(Value::Str(s)) if s.is_shared() && s.as_str() == "01234567890123456789abcd"),
        "{long:?}"
    );
    assert_eq!(
        concat(&Value::Absent, &Value::str("x"), &mut scratch),
        Ok(Value::Absent)
    );
    assert_eq!(
        concat(&Value::Int(1), &Value::str("x"), &mut scratch),
        Err(Fault::Type)
    );
    let plus = arith(
        ArithOp::Add,
        &Value::str("a"),
        &Value::str("b"),
        &mut scratch,
    );
    assert_eq!(plus, Ok(Value::str("ab")));
}

#[test]
fn contains_works_on_strings_and_lists() {
    let scopes = Value::List(Arc::from(vec![Value::str("read"), Value::str("write")]));
    assert_eq!(
        str_op(StrOp::Contains, &scopes, &Value::str("write")),
        Ok(true)
    );
    assert_eq!(
        str_op(
            StrOp::Contains,
            &Value::str("pets:write"),
            &Value::str("write")
        ),
        Ok(true)
    );
    assert_eq!(
        str_op(StrOp::Contains, &Value::Absent, &Value::str("x")),
        Ok(false)
    );
    let json = Value::Json(Json::Array(Arc::from(vec![Json::String(Str::new("a"))])));
    assert_eq!(in_list(&Value::str("a"), &json), Ok(true));
    assert_eq!(in_list(&Value::str("b"), &json), Ok(false));
    assert_eq!(in_list(&Value::str("a"), &Value::Int(3)), Err(Fault::Type));
}

#[test]
fn index_and_member_out_of_range_are_absent() {
    let list = Value::List(Arc::from(vec![Value::Int(1)]));
    assert_eq!(index(&list, &Value::Int(0)), Ok(Value::Int(1)));
    assert_eq!(index(&list, &Value::Int(1)), Ok(Value::Absent));
    assert_eq!(index(&list, &Value::Int(-1)), Ok(Value::Absent));
    let obj = Value::Json(Json::Object(Arc::from(vec![(
        Str::new("a"),
        Json::Bool(true),
    )])));
    assert_eq!(member(&obj, "a"), Ok(Value::Json(Json::Bool(true))));
    assert_eq!(member(&obj, "b"), Ok(Value::Absent));
    assert_eq!(
        index(&obj, &Value::str("a")),
        Ok(Value::Json(Json::Bool(true)))
    );
    assert_eq!(member(&Value::Int(1), "a"), Err(Fault::Type));
}

#[test]
fn not_propagates_absence() {
    assert_eq!(not(&Value::Bool(true)), Ok(Value::Bool(false)));
    assert_eq!(not(&Value::Json(Json::Bool(false))), Ok(Value::Bool(true)));
    assert_eq!(not(&Value::Absent), Ok(Value::Absent));
    assert_eq!(not(&Value::Int(0)), Err(Fault::Type));
}
