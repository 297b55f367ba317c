//! Hand-assembled programs per op group: loads, compute, control, fused ops and faults.

use std::sync::Arc;

use gw_program::{ArithOp, Builtin, CidrSet, CmpOp, Field, Json, Op, Regex, Str, StrOp, Value};

use crate::testing::{Asm, TestHost, eval};

fn list(items: &[&str]) -> Value {
    Value::List(
        items
            .iter()
            .map(|s| Value::str(s))
            .collect::<Vec<_>>()
            .into(),
    )
}

#[test]
fn loads_and_moves() {
    let mut asm = Asm::new(4);
    let k = asm.konst(Value::str("petstore"));
    let mut host = TestHost::with(&[(Field::ClientIp, Value::Ip("10.1.2.3".parse().unwrap()))]);
    let regs = eval(
        asm,
        vec![
            Op::LdField {
                dst: 0,
                field: Field::ClientIp,
            },
            Op::LdConst { dst: 1, k },
            Op::Mov { dst: 2, src: 1 },
            Op::LdField {
                dst: 3,
                field: Field::Header(k),
            },
        ],
        &mut host,
    );
    assert_eq!(regs[0], Value::Ip("10.1.2.3".parse().unwrap()));
    assert_eq!(regs[1], Value::str("petstore"));
    assert_eq!(regs[2], Value::str("petstore"));
    assert_eq!(
        regs[3],
        Value::Absent,
        "a header the request lacks is absent"
    );
}

#[test]
fn absent_operands_make_comparisons_false_and_ne_true() {
    let mut asm = Asm::new(10);
    let one = asm.konst(Value::Int(1));
    let mut ops = vec![Op::LdConst { dst: 1, k: one }];
    let cmps = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
        CmpOp::IEq,
    ];
    for (i, op) in cmps.iter().enumerate() {
        // r0 is never written: absent.
        ops.push(Op::Cmp {
            dst: 2 + i as u8,
            op: *op,
            a: 0,
            b: 1,
        });
    }
    ops.push(Op::CmpConst {
        dst: 9,
        op: CmpOp::Eq,
        a: 0,
        k: one,
    });
    let regs = eval(asm, ops, &mut TestHost::default());
    let got: Vec<&Value> = regs[2..10].iter().collect();
    let f = Value::Bool(false);
    let t = Value::Bool(true);
    assert_eq!(got, vec![&f, &t, &f, &f, &f, &f, &f, &f]);
}

#[test]
fn comparisons_of_values_and_json_scalars() {
    let mut asm = Asm::new(8);
    let n3 = asm.konst(Value::Int(3));
    let name = asm.konst(Value::str("Rex"));
    let fields = [
        (Field::Body(name), Value::Json(Json::Number(3.0))),
        (Field::Query(name), Value::str("rex")),
    ];
    let regs = eval(
        asm,
        vec![
            Op::LdField {
                dst: 0,
                field: Field::Body(name),
            },
            Op::CmpConst {
                dst: 1,
                op: CmpOp::Eq,
                a: 0,
                k: n3,
            },
            Op::CmpConst {
                dst: 2,
                op: CmpOp::Ge,
                a: 0,
                k: n3,
            },
            Op::LdField {
                dst: 3,
                field: Field::Query(name),
            },
            Op::CmpConst {
                dst: 4,
                op: CmpOp::Eq,
                a: 3,
                k: name,
            },
            Op::CmpConst {
                dst: 5,
                op: CmpOp::IEq,
                a: 3,
                k: name,
            },
            Op::CmpConst {
                dst: 6,
                op: CmpOp::Lt,
                a: 3,
                k: name,
            },
            Op::CmpConst {
                dst: 7,
                op: CmpOp::Ne,
                a: 3,
                k: n3,
            },
        ],
        &mut TestHost::with(&fields),
    );
    let b = |x| Value::Bool(x);
    assert_eq!(regs[1..3], [b(true), b(true)]);
    // "rex" vs "Rex": unequal, equal ignoring case, and "Rex" < "rex" bytewise.
    assert_eq!(regs[4..8], [b(false), b(true), b(false), b(true)]);
}

#[test]
fn arithmetic_and_coalesce() {
    let mut asm = Asm::new(9);
    let seven = asm.konst(Value::Int(7));
    let two = asm.konst(Value::Int(2));
    let dflt = asm.konst(Value::str("public"));
    let regs = eval(
        asm,
        vec![
            Op::LdConst { dst: 0, k: seven },
            Op::LdConst { dst: 1, k: two },
            Op::Arith {
                dst: 2,
                op: ArithOp::Div,
                a: 0,
                b: 1,
            },
            Op::Arith {
                dst: 3,
                op: ArithOp::Rem,
                a: 0,
                b: 1,
            },
            Op::Neg { dst: 4, a: 0 },
            // r5 absent: ?? picks the default; has() is false; absent + 2 is absent.
            Op::CoalesceConst {
                dst: 6,
                a: 5,
                k: dflt,
            },
            Op::Has { dst: 7, a: 5 },
            Op::Arith {
                dst: 8,
                op: ArithOp::Add,
                a: 5,
                b: 1,
            },
            Op::Coalesce { dst: 5, a: 0, b: 1 },
        ],
        &mut TestHost::default(),
    );
    assert_eq!(regs[2..5], [Value::Int(3), Value::Int(1), Value::Int(-7)]);
    assert_eq!(regs[6], Value::str("public"));
    assert_eq!(regs[7], Value::Bool(false));
    assert_eq!(regs[8], Value::Absent);
    assert_eq!(
        regs[5],
        Value::Int(7),
        "a present value wins over the default"
    );
}

#[test]
fn strings_membership_and_regex() {
    let mut asm = Asm::new(12);
    let path = asm.konst(Value::str("archive/2024/report"));
    let prefix = asm.konst(Value::str("archive/"));
    let scope = asm.konst(Value::str("pets:write"));
    let scopes = asm.konst(list(&["pets:read", "pets:write"]));
    asm.p
        .sets
        .push(["a@example.com".to_string()].into_iter().collect());
    let ip4 = CidrSet::block("10.0.0.0".parse().unwrap(), 8);
    asm.p.cidrs.push(CidrSet::from_blocks([ip4]));
    asm.p.regexes.push(Regex::new(r"^archive/\d{4}/").unwrap());
    let email = asm.konst(Value::str("a@example.com"));
    let fields = [(
        Field::ClientIp,
        Value::Ip("::ffff:10.9.8.7".parse().unwrap()),
    )];
    let regs = eval(
        asm,
        vec![
            Op::LdConst { dst: 0, k: path },
            Op::LdConst { dst: 1, k: prefix },
            Op::Str {
                dst: 2,
                op: StrOp::StartsWith,
                a: 0,
                b: 1,
            },
            Op::Str {
                dst: 3,
                op: StrOp::EndsWith,
                a: 0,
                b: 1,
            },
            Op::LdConst { dst: 4, k: scopes },
            Op::InListConst {
                dst: 5,
                k: scope,
                list: 4,
            },
            Op::Matches {
                dst: 6,
                a: 0,
                re: 0,
            },
            Op::LdConst { dst: 7, k: email },
            Op::InSet {
                dst: 8,
                a: 7,
                set: 0,
            },
            Op::LdField {
                dst: 9,
                field: Field::ClientIp,
            },
            Op::InCidr {
                dst: 10,
                a: 9,
                set: 0,
            },
            Op::Concat {
                dst: 11,
                a: 1,
                b: 7,
            },
        ],
        &mut TestHost::with(&fields),
    );
    let t = Value::Bool(true);
    assert_eq!(regs[2], t);
    assert_eq!(regs[3], Value::Bool(false));
    assert_eq!([&regs[5], &regs[6], &regs[8], &regs[10]], [&t, &t, &t, &t]);
    assert_eq!(regs[11], Value::str("archive/a@example.com"));
}

#[test]
fn json_index_member_and_templates() {
    let doc = Json::Object(Arc::from(vec![
        (Str::new("id"), Json::Number(42.0)),
        (
            Str::new("tags"),
            Json::Array(Arc::from(vec![Json::String(Str::new("a\"b"))])),
        ),
    ]));
    let mut asm = Asm::new(6);
    let ptr = asm.konst(Value::str("/"));
    let id = asm.konst(Value::str("id"));
    let tags = asm.konst(Value::str("tags"));
    let zero = asm.konst(Value::Int(0));
    let tpl = asm.template(vec![
        gw_program::TplPart::Text("/pets/".into()),
        gw_program::TplPart::Reg { r: 1, json: false },
        gw_program::TplPart::Text("?t=".into()),
        gw_program::TplPart::Reg { r: 3, json: false },
    ]);
    let regs = eval(
        asm,
        vec![
            Op::LdField {
                dst: 0,
                field: Field::Body(ptr),
            },
            Op::Member {
                dst: 1,
                a: 0,
                k: id,
            },
            Op::Member {
                dst: 2,
                a: 0,
                k: tags,
            },
            Op::LdConst { dst: 4, k: zero },
            Op::Index { dst: 3, a: 2, b: 4 },
            Op::TplBuild { dst: 5, tpl },
        ],
        &mut TestHost::with(&[(Field::Body(ptr), Value::Json(doc))]),
    );
    assert_eq!(regs[1], Value::Json(Json::Number(42.0)));
    assert_eq!(
        regs[5],
        Value::str("/pets/42?t=a\"b"),
        "json scalars interpolate as text"
    );
}

#[test]
fn builtin_calls_use_consecutive_argument_registers() {
    let mut asm = Asm::new(4);
    let s = asm.konst(Value::str("Bearer abc"));
    let sep = asm.konst(Value::str(" "));
    let regs = eval(
        asm,
        vec![
            Op::LdConst { dst: 0, k: s },
            Op::LdConst { dst: 1, k: sep },
            Op::CallFn {
                dst: 2,
                func: Builtin::SplitLast,
                arg: 0,
                argc: 2,
            },
            Op::CallFn {
                dst: 3,
                func: Builtin::Upper,
                arg: 2,
                argc: 1,
            },
        ],
        &mut TestHost::default(),
    );
    assert_eq!(regs[2..4], [Value::str("abc"), Value::str("ABC")]);
}
