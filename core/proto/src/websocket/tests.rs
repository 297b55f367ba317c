use super::*;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame with the first byte `b0` (FIN, RSV, opcode), `payload`, masked with `mask`.
fn frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![b0];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mut p = payload.to_vec();
    if let Some(k) = mask {
        out.extend_from_slice(&k);
        apply_mask(&mut p, k);
    }
    out.extend_from_slice(&p);
    out
}

fn client(b0: u8, payload: &[u8]) -> Vec<u8> {
    frame(b0, payload, Some(KEY))
}

/// What a reader made of a byte stream.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    headers: Vec<Vec<u8>>,
    payload: Vec<u8>,
    controls: Vec<(u8, Vec<u8>)>,
    messages: usize,
    violation: Option<Violation>,
    /// Whether the stream ended at a frame boundary.
    boundary: bool,
}

/// Feed `bytes` in pieces of `piece` bytes.
fn drive(r: &mut FrameReader, bytes: &[u8], piece: usize) -> Seen {
    let mut s = Seen::default();
    for chunk in bytes.chunks(piece.max(1)) {
        let mut at = 0;
        while at < chunk.len() {
            let (n, step) = r.read(&chunk[at..]);
            match step {
                Step::Partial => {}
                Step::Header => s.headers.push(r.header().to_vec()),
                Step::Payload => s.payload.extend_from_slice(&chunk[at..at + n]),
                Step::Control => {
                    let (op, p) = r.control();
                    s.controls.push((op, p.to_vec()));
                }
                Step::Violation(v) => {
                    s.violation = Some(v);
                    return s;
                }
            }
            if r.message_ended() {
                s.messages += 1;
            }
            assert!(n > 0, "no progress on {:?}", &chunk[at..]);
            at += n;
        }
    }
    s.boundary = r.at_boundary();
    s
}

fn reader(sender: Sender) -> FrameReader {
    FrameReader::new(sender, Extensions::default(), 1 << 20)
}

#[test]
fn a_stream_of_frames_reads_the_same_in_any_pieces() {
    let mut bytes = client(0x81, b"hello");
    bytes.extend(client(0x02, &[7u8; 300]));
    bytes.extend(client(0x89, b"ping!"));
    bytes.extend(client(0x80, &[8u8; 70_000]));
    bytes.extend(client(0x82, b""));
    bytes.extend(client(0x88, &[0x03, 0xe8, b'o', b'k']));
    for piece in [1, 2, 3, 7, 64, 1000, bytes.len()] {
        let s = drive(&mut reader(Sender::Client), &bytes, piece);
        assert_eq!(s.violation, None, "piece {piece}");
        assert_eq!(s.headers.len(), 4, "piece {piece}");
        assert_eq!(s.headers[0], bytes[..6], "headers come as received");
        // payload passes through still masked
        assert_eq!(s.payload.len(), 5 + 300 + 70_000);
        assert_eq!(
            s.messages, 3,
            "text, the fragmented binary, the empty binary"
        );
        assert_eq!(
            s.controls,
            [
                (OP_PING, b"ping!".to_vec()),
                (OP_CLOSE, vec![0x03, 0xe8, b'o', b'k'])
            ]
        );
        assert!(s.boundary);
    }
}

#[test]
fn a_control_frame_is_given_back_as_received() {
    let bytes = client(0x8a, b"pong data");
    let mut r = reader(Sender::Client);
    assert_eq!(
        r.read(&bytes),
        (6, Step::Partial),
        "a step at a time: the header"
    );
    assert_eq!(
        r.data_payload_left(),
        0,
        "a control frame's payload is read"
    );
    assert_eq!(r.read(&bytes[6..]), (9, Step::Control));
    let mut raw = Vec::new();
    r.control_raw(&mut raw);
    assert_eq!(raw, bytes);

    let bytes = frame(0x89, b"x", None);
    let mut r = reader(Sender::Server);
    assert_eq!(
        drive(&mut r, &bytes, 100).controls,
        [(OP_PING, b"x".to_vec())]
    );
    let mut raw = Vec::new();
    r.control_raw(&mut raw);
    assert_eq!(raw, bytes);
}

#[test]
fn boundaries_are_between_frames_only() {
    let bytes = client(0x82, &[1, 2, 3, 4]);
    let mut r = reader(Sender::Client);
    assert!(r.at_boundary());
    assert_eq!(r.read(&bytes[..3]), (3, Step::Partial));
    assert!(!r.at_boundary(), "inside a header");
    assert_eq!(r.read(&bytes[3..6]), (3, Step::Header));
    assert!(!r.at_boundary(), "payload to come");
    assert_eq!(r.data_payload_left(), 4);
    assert_eq!(r.read(&bytes[6..8]), (2, Step::Payload));
    assert!(!r.at_boundary());
    assert_eq!(r.read(&bytes[8..]), (2, Step::Payload));
    assert!(r.at_boundary());
    assert_eq!(r.data_payload_left(), 0);
    assert!(r.message_ended());
    // a control frame between the fragments of a message
    let mut r = reader(Sender::Server);
    let mut s = frame(0x01, b"ab", None);
    s.extend(frame(0x89, b"", None));
    s.extend(frame(0x80, b"cd", None));
    let seen = drive(&mut r, &s, 1);
    assert_eq!(seen.violation, None);
    assert_eq!(seen.payload, b"abcd");
    assert_eq!(seen.messages, 1);
}

/// Bytes that must end the connection, the sender, and the close code.
const BAD: &[(&str, Sender, &[u8], u16)] = &[
    (
        "length 2^63",
        Sender::Client,
        &[0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
        PROTOCOL_ERROR,
    ),
    (
        "length 2^64-1",
        Sender::Server,
        &[0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        PROTOCOL_ERROR,
    ),
    (
        "unmasked client frame",
        Sender::Client,
        &[0x81, 0x02, b'h', b'i'],
        PROTOCOL_ERROR,
    ),
    (
        "masked server frame",
        Sender::Server,
        &[0x81, 0x81, 1, 2, 3, 4, 5],
        PROTOCOL_ERROR,
    ),
    (
        "fragmented ping",
        Sender::Client,
        &[0x09, 0x80, 1, 2, 3, 4],
        PROTOCOL_ERROR,
    ),
    (
        "fragmented close",
        Sender::Server,
        &[0x08, 0x00],
        PROTOCOL_ERROR,
    ),
    (
        "126-byte ping",
        Sender::Client,
        &[0x89, 0xfe, 0x00, 0x7e],
        PROTOCOL_ERROR,
    ),
    (
        "ping with a 16-bit length",
        Sender::Server,
        &[0x89, 0x7e],
        PROTOCOL_ERROR,
    ),
    (
        "reserved data opcode",
        Sender::Client,
        &[0x83, 0x80, 1, 2, 3, 4],
        PROTOCOL_ERROR,
    ),
    (
        "reserved control opcode",
        Sender::Server,
        &[0x8b, 0x00],
        PROTOCOL_ERROR,
    ),
    (
        "RSV1 without an extension",
        Sender::Client,
        &[0xc1, 0x80, 1, 2, 3, 4],
        PROTOCOL_ERROR,
    ),
    ("RSV2", Sender::Server, &[0xa1, 0x00], PROTOCOL_ERROR),
    ("RSV3", Sender::Server, &[0x91, 0x00], PROTOCOL_ERROR),
    (
        "continuation first",
        Sender::Client,
        &[0x80, 0x80, 1, 2, 3, 4],
        PROTOCOL_ERROR,
    ),
    (
        "text inside a fragmented message",
        Sender::Server,
        &[0x01, 0x01, b'a', 0x81, 0x01, b'b'],
        PROTOCOL_ERROR,
    ),
    (
        "close with one byte",
        Sender::Server,
        &[0x88, 0x01, 0x03],
        PROTOCOL_ERROR,
    ),
    (
        "close code 1005",
        Sender::Server,
        &[0x88, 0x02, 0x03, 0xed],
        PROTOCOL_ERROR,
    ),
    (
        "close code 999",
        Sender::Server,
        &[0x88, 0x02, 0x03, 0xe7],
        PROTOCOL_ERROR,
    ),
    (
        "close code 5000",
        Sender::Server,
        &[0x88, 0x02, 0x13, 0x88],
        PROTOCOL_ERROR,
    ),
    (
        "close reason not UTF-8",
        Sender::Server,
        &[0x88, 0x04, 0x03, 0xe8, 0xff, 0xfe],
        INVALID_DATA,
    ),
    (
        "HTTP instead of frames",
        Sender::Client,
        b"GET / HTTP/1.1\r\n\r\n",
        PROTOCOL_ERROR,
    ),
    (
        "a frame over max_message",
        Sender::Server,
        &[0x82, 0x7e, 0x04, 0x01],
        TOO_BIG,
    ),
];

#[test]
fn bad_input_is_refused_with_its_close_code() {
    for (name, sender, bytes, code) in BAD {
        for piece in [1, bytes.len()] {
            // a 1024-byte limit, and payload that is there or not: headers decide
            let mut r = FrameReader::new(*sender, Extensions::default(), 1024);
            let mut bytes = bytes.to_vec();
            bytes.extend(std::iter::repeat_n(0u8, 600));
            let s = drive(&mut r, &bytes, piece);
            let v = s.violation.unwrap_or_else(|| panic!("{name}: accepted"));
            assert_eq!(v.code, *code, "{name}: {}", v.reason);
            // and it stays refused
            assert_eq!(r.read(b"\x81\x80abcd"), (0, Step::Violation(v)), "{name}");
        }
    }
}

#[test]
fn a_refused_header_is_refused_before_its_payload() {
    // the frame over the limit is refused as soon as its length is known
    let mut r = FrameReader::new(Sender::Client, Extensions::default(), 10);
    let (n, step) = r.read(&[0x82, 0x8b, 1, 2, 3, 4, 0, 0]);
    assert_eq!(n, 6, "the header and nothing after it");
    assert_eq!(step, Step::Violation(violation(TOO_BIG, "message too big")));
    // exactly the limit passes
    let mut r = FrameReader::new(Sender::Client, Extensions::default(), 10);
    let s = drive(&mut r, &client(0x82, &[0; 10]), 4);
    assert_eq!(s.violation, None);
    assert_eq!(s.messages, 1);
    // fragments count together; a ping between them does not count
    let mut r = FrameReader::new(Sender::Client, Extensions::default(), 10);
    let mut bytes = client(0x02, &[0; 6]);
    bytes.extend(client(0x89, &[0; 100]));
    bytes.extend(client(0x00, &[0; 4]));
    let s = drive(&mut r, &bytes, 3);
    assert_eq!(s.violation, None);
    bytes.extend(client(0x80, &[0; 1]));
    let mut r = FrameReader::new(Sender::Client, Extensions::default(), 10);
    let s = drive(&mut r, &bytes, 3);
    assert_eq!(s.violation.map(|v| v.code), Some(TOO_BIG));
    assert_eq!(s.payload.len(), 10, "what came before the limit passed");
}

#[test]
fn permessage_deflate_allows_rsv1_on_a_first_frame_only() {
    let ext = Extensions::from_fields([&b"permessage-deflate; client_max_window_bits"[..]]);
    assert_eq!(
        ext,
        Extensions {
            deflate: true,
            other: false
        }
    );
    let mut r = FrameReader::new(Sender::Client, ext, 1 << 20);
    let mut ok = client(0x41, b"zz");
    ok.extend(client(0x80, b"zz"));
    ok.extend(client(0xc2, b"zz"));
    let s = drive(&mut r, &ok, 1);
    assert_eq!(s.violation, None);
    assert_eq!(s.messages, 2);
    for bad in [client(0xc9, b""), {
        let mut v = client(0x41, b"a");
        v.extend(client(0xc0, b"b"));
        v
    }] {
        let mut r = FrameReader::new(Sender::Client, ext, 1 << 20);
        let s = drive(&mut r, &bad, 3);
        assert_eq!(s.violation.map(|v| v.code), Some(PROTOCOL_ERROR));
    }
    // an extension gw does not know may use any reserved bit
    let ext = Extensions::from_fields([&b"x-custom"[..], &b""[..]]);
    assert_eq!(
        ext,
        Extensions {
            deflate: false,
            other: true
        }
    );
    let mut r = FrameReader::new(Sender::Server, ext, 1 << 20);
    assert_eq!(drive(&mut r, &frame(0xf1, b"a", None), 1).violation, None);
    assert_eq!(
        Extensions::from_fields([&b" , "[..]]),
        Extensions::default()
    );
}

#[test]
fn frames_gw_writes_read_back() {
    let mut out = Vec::new();
    close_frame(TOO_BIG, "message too big", Some(KEY), &mut out);
    control_frame(OP_PING, b"gw 1", None, &mut out);
    // a reason over 123 bytes is cut at a character
    close_frame(GOING_AWAY, &"é".repeat(100), None, &mut out);
    let mut r = reader(Sender::Client);
    let (h, _) = r.read(&out);
    let (n, step) = r.read(&out[h..]);
    assert_eq!(step, Step::Control);
    let (op, p) = r.control();
    assert_eq!(op, OP_CLOSE);
    assert_eq!(close_status(p), (TOO_BIG, &b"message too big"[..]));
    let mut r = reader(Sender::Server);
    let s = drive(&mut r, &out[h + n..], 5);
    assert_eq!(s.violation, None);
    assert_eq!(s.controls[0], (OP_PING, b"gw 1".to_vec()));
    let (code, reason) = close_status(&s.controls[1].1);
    assert_eq!(code, GOING_AWAY);
    assert_eq!(reason.len(), 122);
    assert!(std::str::from_utf8(reason).is_ok());
    assert_eq!(close_status(&[]), (1005, &[][..]));
}

#[test]
fn arbitrary_bytes_never_stall_or_panic() {
    // a cheap deterministic sweep: every 3-byte prefix with filler
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 40) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|i| (seed >> (i % 8 * 8)) as u8 ^ i as u8)
            .collect();
        for sender in [Sender::Client, Sender::Server] {
            let mut r = FrameReader::new(sender, Extensions::default(), 16);
            drive(&mut r, &bytes, (seed % 5) as usize + 1);
        }
    }
}
