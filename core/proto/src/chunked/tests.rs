use super::*;

/// Feed `input` in pieces cut at `cuts` (ascending), as a connection would: the unconsumed rest
/// of each read stays buffered. Returns the decoded body.
fn decode_split(input: &[u8], cuts: &[usize]) -> Result<Vec<u8>, ProtoError> {
    let mut dec = ChunkedDecoder::new();
    let mut body = Vec::new();
    let mut start = 0;
    let mut ends = cuts.iter().copied().chain(std::iter::once(input.len()));
    let mut end = ends.next().unwrap_or(input.len());
    loop {
        let window = &input[start..end];
        match dec.decode(window)? {
            Chunk::Data { consumed, data } => {
                assert!(consumed > 0 && data.end as usize <= consumed);
                body.extend_from_slice(data.of(window));
                start += consumed;
            }
            Chunk::Partial { consumed } => {
                start += consumed;
                match ends.next() {
                    Some(e) => end = e,
                    None => return Err(ProtoError::BadRequest("incomplete")),
                }
            }
            Chunk::End { consumed } => {
                start += consumed;
                assert_eq!(start, end, "bytes left after the body");
                assert!(dec.is_done());
                return Ok(body);
            }
        }
    }
}

const SAMPLE: &[u8] = b"5\r\nhello\r\n1;name=value;x=\"q\"\r\n \r\n00A\r\n0123456789\r\n\
c \t;ext\r\n hello world\r\n0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n";
const SAMPLE_BODY: &[u8] = b"hello 0123456789 hello world";

#[test]
fn every_split_point() {
    assert_eq!(decode_split(SAMPLE, &[]).unwrap(), SAMPLE_BODY);
    for a in 0..=SAMPLE.len() {
        assert_eq!(
            decode_split(SAMPLE, &[a]).unwrap(),
            SAMPLE_BODY,
            "split at {a}"
        );
    }
    for a in (0..=SAMPLE.len()).step_by(3) {
        for b in a..=SAMPLE.len() {
            assert_eq!(
                decode_split(SAMPLE, &[a, b]).unwrap(),
                SAMPLE_BODY,
                "split {a},{b}"
            );
        }
    }
    let bytewise: Vec<usize> = (0..=SAMPLE.len()).collect();
    assert_eq!(decode_split(SAMPLE, &bytewise).unwrap(), SAMPLE_BODY);
}

#[test]
fn data_is_a_range_of_the_input() {
    let input = b"3\r\nabc\r\n0\r\n\r\nNEXT";
    let mut dec = ChunkedDecoder::new();
    assert_eq!(
        dec.decode(input).unwrap(),
        Chunk::Data {
            consumed: 6,
            data: Range { start: 3, end: 6 }
        }
    );
    assert_eq!(dec.decode(&input[6..]).unwrap(), Chunk::End { consumed: 7 });
    assert_eq!(&input[13..], b"NEXT");
    assert_eq!(dec.decode(b"more").unwrap(), Chunk::End { consumed: 0 });
}

#[test]
fn refusals() {
    let table: &[(&[u8], &str)] = &[
        (b"g\r\n", "invalid chunk size"),
        (b"\r\n", "invalid chunk size"),
        (b";x\r\n", "invalid chunk size"),
        (b"-1\r\n", "invalid chunk size"),
        (b"0x5\r\n", "invalid chunk size line"),
        (b"5 5\r\nhello\r\n", "invalid chunk size line"),
        (b"5 \r\nhello\r\n", "invalid chunk size line"),
        (b"+5\r\n", "invalid chunk size"),
        (b"11111111111111111\r\n", "chunk size too large"),
        (b"00000000000000001\r\n", "chunk size too large"),
        (b"8000000000000001\r\n", "chunk size too large"),
        (b"ffffffffffffffff\r\n", "chunk size too large"),
        (b"5\nhello\r\n", "bare LF in chunked body"),
        (b"5\rhello\r\n", "bare CR in chunked body"),
        (b"5;a\nhello\r\n", "bare LF in chunked body"),
        (b"5;a\0\r\n", "invalid byte in chunked body"),
        (b"5\r\nhelloX\r\n", "missing CRLF after chunk data"),
        (b"5\r\nhello\n", "missing CRLF after chunk data"),
        (b"5\r\nhello\r0\r\n\r\n", "bare CR in chunked body"),
        (b"5\r\nhello\r\n0\r\n\n", "bare LF in chunked body"),
        (b"0\r\nT: 1\n\r\n", "bare LF in chunked body"),
        (b"0\r\nT: 1\rX\r\n", "bare CR in chunked body"),
        (b"0\r\n\rX", "bare CR in chunked body"),
        (b"0\r\nT: \x01\r\n\r\n", "invalid byte in chunked body"),
    ];
    for (raw, why) in table {
        let got = decode_split(raw, &[]);
        assert_eq!(
            got,
            Err(ProtoError::BadRequest(why)),
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
    let mut up = ChunkedDecoder::upstream();
    assert_eq!(
        up.decode(b"z"),
        Err(ProtoError::BadResponse("invalid chunk size"))
    );
}

#[test]
fn bounds() {
    let mut ok = b"1;".to_vec();
    ok.extend(std::iter::repeat_n(b'e', MAX_CHUNK_EXT as usize - 1));
    ok.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
    assert_eq!(decode_split(&ok, &[]).unwrap(), b"x");
    let mut long = b"1;".to_vec();
    long.extend(std::iter::repeat_n(b'e', MAX_CHUNK_EXT as usize + 1));
    assert_eq!(
        decode_split(&long, &[]),
        Err(ProtoError::BadRequest("chunk extension too long"))
    );
    let mut trailers = b"0\r\n".to_vec();
    while trailers.len() < 2 * MAX_TRAILERS as usize {
        trailers.extend_from_slice(b"X-Trailer: value\r\n");
    }
    trailers.extend_from_slice(b"\r\n");
    assert_eq!(
        decode_split(&trailers, &[]),
        Err(ProtoError::BadRequest("trailers too large"))
    );
    // The largest size accepted is 2^63: it decodes as a (long) partial body.
    let mut dec = ChunkedDecoder::new();
    let got = dec.decode(b"8000000000000000\r\nab").unwrap();
    assert_eq!(
        got,
        Chunk::Data {
            consumed: 20,
            data: Range { start: 18, end: 20 }
        }
    );
    assert_eq!(dec.decode(b"").unwrap(), Chunk::Partial { consumed: 0 });
}

#[test]
fn chunk_headers() {
    let table: &[(usize, &[u8])] = &[
        (0, b"0\r\n\r\n"),
        (1, b"1\r\n"),
        (10, b"a\r\n"),
        (255, b"ff\r\n"),
        (4096, b"1000\r\n"),
        (usize::MAX, b"ffffffffffffffff\r\n"),
    ];
    for (len, want) in table {
        let mut out = b"x".to_vec();
        write_chunk_header(*len, &mut out);
        assert_eq!(&out[1..], *want, "{len}");
    }
    // What the writer produces, the decoder reads back.
    let mut body = Vec::new();
    for piece in [&b"abc"[..], &[b'z'; 300]] {
        write_chunk_header(piece.len(), &mut body);
        body.extend_from_slice(piece);
        body.extend_from_slice(b"\r\n");
    }
    write_chunk_header(0, &mut body);
    let mut want = b"abc".to_vec();
    want.extend_from_slice(&[b'z'; 300]);
    assert_eq!(decode_split(&body, &[7, 100]).unwrap(), want);
}
