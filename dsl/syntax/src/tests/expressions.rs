//! Expressions: precedence, associativity, postfix forms, literals and strings.

use super::support::{codes, expr_of, sexp};

fn check(cases: &[(&str, &str)]) {
    for (src, want) in cases {
        assert_eq!(sexp(&expr_of(src)), *want, "{src}");
    }
}

#[test]
fn precedence_from_postfix_to_ternary() {
    check(&[
        ("a + b * c", "(+ a (* b c))"),
        ("a * b + c % d / e", "(+ (* a b) (/ (% c d) e))"),
        ("-a * b", "(* (neg a) b)"),
        ("!a.b && c", "(&& (! a.b) c)"),
        ("a + 1 == b - 2", "(== (+ a 1) (- b 2))"),
        (
            "a == 1 && b != 2 || c < 3",
            "(|| (&& (== a 1) (!= b 2)) (< c 3))",
        ),
        ("a || b && c", "(|| a (&& b c))"),
        ("a ?? b || c", "(?? a (|| b c))"),
        ("a ?? b ?? c", "(?? a (?? b c))"),
        ("c ? a ?? b : d", "(?: c (?? a b) d)"),
        ("c ? a : d ? e : f", "(?: c a (?: d e f))"),
        ("x ? y : z ?? w", "(?: x y (?? z w))"),
        ("a - b - c", "(- (- a b) c)"),
        ("a / b / c", "(/ (/ a b) c)"),
        ("(a + b) * c", "(* (+ a b) c)"),
        ("!(a && b)", "(! (&& a b))"),
        ("- -a", "(neg (neg a))"),
        ("a <= b", "(<= a b)"),
        ("a >= b", "(>= a b)"),
        ("a > b", "(> a b)"),
        ("a ~= \"X\"", "(~= a 'X')"),
        ("x in [\"a\", \"b\"]", "(in x ['a' 'b'])"),
        (
            "s contains \"a\" && s starts_with \"b\" && s ends_with \"c\"",
            "(&& (&& (contains s 'a') (starts_with s 'b')) (ends_with s 'c'))",
        ),
        (
            "path.id matches r\"^[0-9]+$\"",
            "(matches path.id r'^[0-9]+$')",
        ),
        ("client.ip in 10.0.0.0/8", "(in client.ip 10.0.0.0/8)"),
        (
            "client.ip in file(\"deny.txt\")",
            "(in client.ip file('deny.txt'))",
        ),
    ]);
}

#[test]
fn postfix_members_indexes_and_calls() {
    check(&[
        ("header.x-api-key", "header.x-api-key"),
        ("header.x-a - 1", "(- header.x-a 1)"),
        ("header[\"odd.name\"]", "header['odd.name']"),
        ("resp.json.items[0].id", "resp.json.items[0].id"),
        ("auth.ctx.rooms", "auth.ctx.rooms"),
        ("has(resp.json.id)", "has(resp.json.id)"),
        ("now()", "now()"),
        ("split_first(header.x, \",\")", "split_first(header.x ',')"),
        (
            "upstream_healthy(checkout_v1)",
            "upstream_healthy(checkout_v1)",
        ),
        ("lower(x).y", "lower(x).y"),
        ("[1, 2,]", "[1 2]"),
        ("[]", "[]"),
    ]);
}

#[test]
fn literals_carry_their_units() {
    check(&[
        ("42", "42"),
        ("10_000", "10000"),
        ("true", "true"),
        ("false", "false"),
        ("250ms", "250ms"),
        ("30s", "30000ms"),
        ("5m", "300000ms"),
        ("5min", "300000ms"),
        ("1h", "3600000ms"),
        ("1d", "86400000ms"),
        ("1.5s", "1500ms"),
        ("512B", "512B"),
        ("1KB", "1000B"),
        ("10MB", "10000000B"),
        ("1GB", "1000000000B"),
        ("1KiB", "1024B"),
        ("10MiB", "10485760B"),
        ("1GiB", "1073741824B"),
        ("100/s", "100/1000ms"),
        ("50/min", "50/60000ms"),
        ("1000/h", "1000/3600000ms"),
        ("10000/day", "10000/86400000ms"),
        ("10%", "1000bp"),
        ("12.5%", "1250bp"),
        ("10.0.0.1", "10.0.0.1"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("::1", "::1"),
        ("2001:db8::7", "2001:db8::7"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("fe80::1", "fe80::1"),
        ("-7", "(neg 7)"),
    ]);
}

#[test]
fn strings_escape_interpolate_and_stay_raw() {
    check(&[
        (r#""a\"b\\c\n\t\r""#, "'a\"b\\c\n\t\r'"),
        (r#""\u{1F600}x""#, "'\u{1F600}x'"),
        (r#""/pets/{resp.json.id}""#, "'/pets/{resp.json.id}'"),
        (r#""{a ?? "x"}-{b}""#, "'{(?? a 'x')}-{b}'"),
        (r#""{{literal}} }}""#, "'{literal} }'"),
        (r#"r"^[a-z]{2}\d+$""#, "r'^[a-z]{2}\\d+$'"),
        (r#""""#, "''"),
    ]);
}

#[test]
fn bad_literals_are_e0103() {
    for bad in [
        "10 s",
        "1.5.3",
        "30sec",
        "99999999999999999999",
        "999.1.1.1",
        "10.0.0.0/33",
        "1.5",
        "10/m",
        "1__0",
        "0.5ms",
        "1M",
    ] {
        assert_eq!(codes(&format!("vars {{ x = {bad} }}")), ["E0103"], "{bad}");
    }
    for bad in [r#""\q""#, r#""\u{D800}""#, r#""a } b""#] {
        assert_eq!(codes(&format!("vars {{ x = {bad} }}")), ["E0103"], "{bad}");
    }
    assert_eq!(codes("listen 999.0.0.1:80"), ["E0103"]);
    assert_eq!(codes("listen :70000"), ["E0103"]);
    assert_eq!(
        codes("jwt j { claims { a: int 1..99999999999999999999 } }"),
        ["E0103"]
    );
}

#[test]
fn when_and_else_are_not_names() {
    assert_eq!(codes("vars { x = when }"), ["E0101"]);
    assert_eq!(
        codes("route GET /x {\n  require a == else 403\n  respond 200\n}"),
        ["E0101"]
    );
    // ...but they are fine as member names.
    check(&[("claim.when", "claim.when"), ("var.else", "var.else")]);
}
