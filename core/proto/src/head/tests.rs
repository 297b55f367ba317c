//! The line rules, checked on the whole parsers: the cases the old byte scan had in its table,
//! then generated heads (well-formed and broken at random places) against a byte-by-byte
//! statement of the rules.

use super::lines_end_in_crlf;
use crate::{HeadLimits, ProtoError, RequestHead, ResponseHead, Status};
use crate::{parse_request, parse_response};

fn request(raw: &[u8]) -> Result<Status, ProtoError> {
    parse_request(raw, &HeadLimits::default(), &mut RequestHead::default())
}

fn response(raw: &[u8]) -> Result<Status, ProtoError> {
    parse_response(raw, false, &mut ResponseHead::default())
}

#[test]
fn line_end_check() {
    let ok: &[u8] = b"GET / HTTP/1.1\r\nA: b\r\nC: d\r\n\r\n";
    assert!(lines_end_in_crlf(ok, [16, 22]));
    assert!(lines_end_in_crlf(b"GET / HTTP/1.1\r\n\r\n", []));
    assert!(!lines_end_in_crlf(b"GET / HTTP/1.1\n\r\n", []));
    assert!(!lines_end_in_crlf(b"GET / HTTP/1.1\r\n\n", []));
    let lf: &[u8] = b"GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n";
    assert!(!lines_end_in_crlf(lf, [16, 21]));
    assert!(!lines_end_in_crlf(b"\r\n", []));
    assert!(!lines_end_in_crlf(b"", []));
}

#[test]
fn every_line_fault_is_refused() {
    let bad: &[&[u8]] = &[
        b"GET / HTTP/1.1\n\n",
        b"GET / HTTP/1.1\nA: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\r\n\n",
        b"GET / HTTP/1.1\r\nA: b\rX: y\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\0\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",
        b"GET / HTTP/1.1\r\n\x7fA: b\r\n\r\n",
        b"GET / HTTP/1.1\r\n\nA: b\r\n\r\n",
        b"GET / HTTP/1.1\r\n\rA: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\r\n\rX",
    ];
    for raw in bad {
        assert!(
            matches!(request(raw), Err(ProtoError::BadRequest(_))),
            "{:?}: {:?}",
            String::from_utf8_lossy(raw),
            request(raw)
        );
    }
    let good: &[(&[u8], usize)] = &[
        (b"GET / HTTP/1.0\r\n\r\n", 18),
        (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 27),
        (b"GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\nBODY", 33),
        (b"GET / HTTP/1.1\r\nHost: h\r\nA: b\tc\r\n\r\n", 35),
        (b"GET / HTTP/1.1\r\nHost: h\r\nA: \xe9\xff\tb\r\n\r\n", 36),
    ];
    for (raw, n) in good {
        assert_eq!(request(raw), Ok(Status::Complete(*n)));
    }
    for partial in [
        &b"GET / HTTP/1.1\r\nA: b\r\n"[..],
        b"GET / HTTP/1.1\r\nA: b\r\n\r",
        b"GET / HTTP/1.1\r",
    ] {
        assert_eq!(request(partial), Ok(Status::Partial));
    }
    for raw in [
        &b"HTTP/1.1 200 OK\n\n"[..],
        b"HTTP/1.1 200 OK\r\nA: b\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
    ] {
        assert!(
            matches!(response(raw), Err(ProtoError::BadResponse(_))),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn an_over_long_partial_head_is_too_large() {
    let limits = HeadLimits {
        head: 40,
        ..HeadLimits::default()
    };
    let mut raw = b"GET / HTTP/1.1\r\nA: ".to_vec();
    raw.resize(41, b'b');
    let r = parse_request(&raw, &limits, &mut RequestHead::default());
    assert_eq!(r, Err(ProtoError::HeadersTooLarge));
    raw.truncate(40);
    let r = parse_request(&raw, &limits, &mut RequestHead::default());
    assert_eq!(r, Ok(Status::Partial));
}

/// xorshift64*: deterministic, so a failure repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Mostly one of the first (well-formed) choices, sometimes any.
    fn pick<'a>(&mut self, choices: &[&'a [u8]]) -> &'a [u8] {
        let n = if self.below(4) == 0 {
            choices.len()
        } else {
            choices.len().min(2)
        };
        choices[self.below(n)]
    }
}

const REQUEST_LINES: &[&[u8]] = &[
    b"GET /a?b=1 HTTP/1.1",
    b"POST /up HTTP/1.0",
    b"\r\nGET / HTTP/1.1",
    b"GET /\x01 HTTP/1.1",
    b"GET / HTTP/1.1 ",
];
const STATUS_LINES: &[&[u8]] = &[
    b"HTTP/1.1 200 OK",
    b"HTTP/1.0 404 Not Found",
    b"HTTP/1.1 204",
    b"HTTP/1.1 200 O\tK",
    b"HTTP/1.1 200 O\x01K",
    b"HTTP/1.1 200 O\x7fK",
];
const NAMES: &[&[u8]] = &[b"Host", b"X-Field", b"", b" X", b"\tX", b"X\x01", b"X\r"];
const VALUES: &[&[u8]] = &[
    b"a.example",
    b"0",
    b"",
    b"a\tb",
    b"caf\xc3\xa9\xff",
    b"a\x00b",
    b"a\x7fb",
    b"a\rb",
    b"a\nb",
    b"a\r\n b",
    b"a\r\n\tb",
    b" \t ",
];
/// Line ends: CRLF (mostly), bare LF, bare CR, CR CR LF, LF CR.
const ENDINGS: &[&[u8]] = &[b"\r\n", b"\r\n", b"\n", b"\r", b"\r\r\n", b"\n\r"];

fn generate(rng: &mut Rng, start_lines: &[&[u8]]) -> Vec<u8> {
    let mut head = rng.pick(start_lines).to_vec();
    head.extend_from_slice(rng.pick(ENDINGS));
    for _ in 0..rng.below(5) {
        head.extend_from_slice(rng.pick(NAMES));
        head.extend_from_slice(b": ");
        head.extend_from_slice(rng.pick(VALUES));
        head.extend_from_slice(rng.pick(ENDINGS));
    }
    head.extend_from_slice(rng.pick(ENDINGS));
    head.extend_from_slice(b"BODY");
    head
}

/// The rules, byte by byte: every CR is followed by LF and every LF follows a CR, no control
/// character but HT, no line (after the first) starting with SP or HT.
fn lines_are_strict(head: &[u8]) -> bool {
    head.iter().enumerate().all(|(i, &b)| {
        let prev = i.checked_sub(1).map(|p| head[p]);
        match b {
            b'\r' => head.get(i + 1) == Some(&b'\n'),
            b'\n' => prev == Some(b'\r'),
            b' ' | b'\t' => prev != Some(b'\n'),
            _ => b >= 0x20 && b != 0x7f,
        }
    })
}

#[test]
fn accepted_generated_heads_keep_the_line_rules() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut requests, mut responses, mut refused_lf) = (0, 0, 0);
    for _ in 0..50_000 {
        let raw = generate(&mut rng, REQUEST_LINES);
        let mut head = RequestHead::default();
        match parse_request(&raw, &HeadLimits::default(), &mut head) {
            Ok(Status::Complete(n)) => {
                requests += 1;
                assert!(
                    lines_are_strict(&raw[..n]),
                    "accepted {:?}",
                    String::from_utf8_lossy(&raw)
                );
            }
            Ok(Status::Partial) => {}
            Err(ProtoError::BadRequest("bare LF in head")) => refused_lf += 1,
            Err(_) => {}
        }
        let raw = generate(&mut rng, STATUS_LINES);
        if let Ok(Status::Complete(n)) = response(&raw) {
            responses += 1;
            assert!(
                lines_are_strict(&raw[..n]),
                "accepted {:?}",
                String::from_utf8_lossy(&raw)
            );
        }
    }
    // the generator must reach both sides of every rule, not only refusals
    assert!(
        requests > 2_000 && responses > 2_000,
        "{requests} {responses}"
    );
    assert!(refused_lf > 500, "{refused_lf}");
}
