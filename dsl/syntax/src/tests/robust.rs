//! Nothing panics, hangs or overflows the stack on hostile input.

use super::examples::example_texts;
use crate::*;

fn codes(p: &Parsed) -> Vec<&'static str> {
    p.diagnostics.iter().map(|d| d.code).collect()
}

fn route_with(cond: &str) -> String {
    format!("route GET /x {{\n  require {cond}\n  respond 200\n}}\n")
}

#[test]
fn nesting_at_the_limit_parses() {
    let n = MAX_DEPTH - 1; // the route's `{` is one level
    let parens = route_with(&format!("{}true{}", "(".repeat(n), ")".repeat(n)));
    let lists = route_with(&format!("1 in {}1{}", "[".repeat(n), "]".repeat(n)));
    let tpl = format!(
        "route GET /x {{\n  respond 200 json {}1{}\n}}\n",
        "{ a: ".repeat(n - 1),
        " }".repeat(n - 1)
    );
    let strings = route_with(&format!(
        "{}x{} == \"\"",
        "\"{".repeat(31),
        "}\"".repeat(31)
    ));
    for src in [parens, lists, tpl, strings] {
        let p = parse_source("deep.gw", &src);
        assert!(
            p.diagnostics.is_empty(),
            "{}",
            render_all(&p.diagnostics, &p.sources)
        );
        assert_eq!(p.config.items.len(), 1);
    }
}

#[test]
fn thousand_deep_nesting_is_e0106_not_a_crash() {
    let cases = [
        route_with(&format!("{}true{}", "(".repeat(1000), ")".repeat(1000))),
        route_with(&format!("{}1{}", "[".repeat(1000), "]".repeat(1000))),
        route_with(&format!("{}x{}", "\"{".repeat(1000), "}\"".repeat(1000))),
        format!(
            "route GET /x {{ respond 200 json {}1{} }}",
            "{a: ".repeat(1000),
            "}".repeat(1000)
        ),
        route_with(&format!("{}true", "!".repeat(1000))),
        route_with(&format!("{}1", "-".repeat(1000))),
        route_with(&vec!["a"; 1000].join(" ?? ")),
        route_with(&vec!["a"; 1000].join(" + ")),
        route_with(&(vec!["c ? a"; 1000].join(" : ") + " : b")),
        route_with(&format!("a{}", ".b".repeat(1000))),
        route_with(&format!("a{}", "[0]".repeat(1000))),
        route_with(&format!("{}1{}", "f(".repeat(1000), ")".repeat(1000))),
    ];
    for src in cases {
        let p = parse_source("deep.gw", &src);
        assert_eq!(
            codes(&p),
            vec!["E0106"],
            "{}",
            render_all(&p.diagnostics, &p.sources)
        );
        assert!(p.config.items.is_empty());
    }
}

#[test]
fn expression_depth_limit_counts_every_level() {
    let ok = route_with(&vec!["a"; MAX_EXPR_DEPTH as usize - 1].join(" + "));
    assert!(parse_source("x.gw", &ok).diagnostics.is_empty());
    let deep = route_with(&vec!["a"; MAX_EXPR_DEPTH as usize + 2].join(" + "));
    assert_eq!(codes(&parse_source("x.gw", &deep)), vec!["E0106"]);
}

#[test]
fn twenty_megabytes_is_refused_before_parsing() {
    let mut big = String::from("listen :8080\n");
    while big.len() < 20 * 1024 * 1024 {
        big.push_str("route GET /a { respond 200 }\n");
    }
    let p = parse_source("big.gw", &big);
    assert_eq!(codes(&p), vec!["E0105"]);
    let out = render_all(&p.diagnostics, &p.sources);
    assert!(
        out.starts_with("error[E0105]: `big.gw` is too large: ")
            && out.contains(" bytes, the limit is 16 MiB (16777216 bytes)\n --> big.gw\n"),
        "{out}"
    );
    // The same input as one huge expression line is refused as well.
    let line = format!(
        "route GET /x {{ require {} }}",
        vec!["a"; 4_000_000].join(" || ")
    );
    assert_eq!(codes(&parse_source("big.gw", &line)), vec!["E0105"]);
}

#[test]
fn large_valid_input_parses() {
    let mut src = String::new();
    for i in 0..5_000 {
        src.push_str(&format!("route GET /r{i}/{{id}} {{\n  require header.x-a == \"{i}\" && path.id != \"0\" else 403\n  respond 200 json {{ id: path.id }}\n}}\n"));
    }
    let p = parse_source("many.gw", &src);
    assert!(p.diagnostics.is_empty());
    assert_eq!(p.config.items.len(), 5_000);
}

#[test]
fn long_flat_expressions_are_bounded() {
    let many = route_with(&format!("x in [{}]", vec!["\"a\""; 20_000].join(", ")));
    assert!(parse_source("x.gw", &many).diagnostics.is_empty());
    let ops = route_with(&vec!["a"; MAX_OPERATORS + 10].join(" && "));
    assert_eq!(codes(&parse_source("x.gw", &ops)), vec!["E0106"]);
}

/// xorshift64*: deterministic, no dependency.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"{",
    b"}",
    b"(",
    b")",
    b"[",
    b"]",
    b"\"",
    b"r\"",
    b"#",
    b"\n",
    b";",
    b"\\",
    b"{{",
    b"}}",
    b" when ",
    b" else ",
    b"??",
    b"?",
    b":",
    b"/",
    b"%",
    b"-",
    b"10 s",
    b"1.5.3",
    b"\xff",
    b"\xe2\x80",
    b"route GET /a { respond 200 }\n",
    b"999.1.1.1",
    b"::1",
    b"/{x+}",
    b"\t",
    b"\r\n",
    b"\0",
];

pub(crate) fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 => {
                if at < out.len() {
                    out.remove(at);
                }
            }
            1 => out.insert(at, (rng.next() & 0xff) as u8),
            2 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                out.splice(at..at, piece.iter().copied());
            }
            3 => {
                let len = rng.below(40).min(out.len() - at.min(out.len()));
                out.drain(at..at + len);
            }
            _ => {
                if at < out.len() {
                    out[at] = INTERESTING[rng.below(INTERESTING.len())][0];
                }
            }
        }
    }
    out
}

#[test]
fn random_mutations_of_the_examples_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let texts = example_texts();
    let mut rejected = 0;
    for i in 0..3_000 {
        let (_, base) = &texts[i % texts.len()];
        let data = mutate(&mut rng, base.as_bytes());
        let parsed = parse_detached("mutant.gw", &data);
        let rendered = render_all(&parsed.diagnostics, &parsed.sources);
        assert_eq!(rendered.is_empty(), parsed.diagnostics.is_empty());
        if !parsed.diagnostics.is_empty() {
            rejected += 1;
            continue;
        }
        // Whatever parses formats to the same tree, and the format is stable.
        let text = std::str::from_utf8(&data).unwrap_or_default();
        let formatted =
            format_source("mutant.gw", text).unwrap_or_else(|d| panic!("{d:?}\n{text}"));
        let mut again = parse_detached("mutant.gw", formatted.as_bytes()).config;
        let mut before = parsed.config;
        strip_spans(&mut before);
        strip_spans(&mut again);
        assert_eq!(before, again, "input:\n{text}\nformatted:\n{formatted}");
        assert_eq!(
            format_source("mutant.gw", &formatted).as_deref(),
            Ok(formatted.as_str()),
            "input:\n{text}"
        );
    }
    assert!(
        rejected > 300 && rejected < 2_900,
        "mutations should break most files, not all: {rejected}"
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = Rng(42);
    for len in [0, 1, 2, 3, 7, 64, 500, 4096] {
        for _ in 0..50 {
            let data: Vec<u8> = (0..len).map(|_| (rng.next() & 0xff) as u8).collect();
            fuzz_parse(&data);
            let ascii: Vec<u8> = data
                .iter()
                .map(|b| INTERESTING[usize::from(*b) % INTERESTING.len()][0])
                .collect();
            fuzz_parse(&ascii);
        }
    }
}
