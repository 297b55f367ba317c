use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Complete, the head being the whole input.
    Done,
    Partial,
    Fail(u16),
}

fn parse(raw: &[u8]) -> Result<(Status, RequestHead), ProtoError> {
    let mut head = RequestHead::default();
    parse_request(raw, &HeadLimits::default(), &mut head).map(|s| (s, head))
}

fn outcome(raw: &[u8], limits: &HeadLimits) -> Want {
    let mut head = RequestHead::default();
    match parse_request(raw, limits, &mut head) {
        Ok(Status::Complete(n)) => {
            assert_eq!(n, raw.len(), "{}", String::from_utf8_lossy(raw));
            Want::Done
        }
        Ok(Status::Partial) => Want::Partial,
        Err(e) => Want::Fail(e.status()),
    }
}

fn check_table(table: &[(&[u8], Want)], limits: &HeadLimits) {
    for (raw, want) in table {
        assert_eq!(
            outcome(raw, limits),
            *want,
            "{}",
            String::from_utf8_lossy(raw).escape_debug()
        );
    }
}

#[test]
fn smuggling_table() {
    use Want::*;
    let table: &[(&[u8], Want)] = &[
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Done),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", Done),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Done),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", Done),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", Done),
        // Both framings.
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", Fail(400)),
        // Content-Length values.
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \x0b5\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", Fail(400)),
        // Transfer codings.
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Fail(501)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo\r\nTransfer-Encoding: chunked\r\n\r\n", Fail(501)),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", Fail(400)),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n", Fail(400)),
        // Line structure.
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\nHost: a\n\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: a\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\n", Fail(400)),
        (b"GET / HTTP/1.1\rHost: a\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", Fail(400)),
        (b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        (b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Done),
        (b"\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        // Control characters.
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n", Done),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n", Done),
        (b"GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        (b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        (b"G\0T / HTTP/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        (b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        // Method, names, request line.
        (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        (b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", Fail(400)),
        (b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        (b"PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n", Done),
        (b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A : x\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX(A): x\r\n\r\n", Fail(400)),
        // Targets.
        (b"GET http://a.example/x?y HTTP/1.1\r\nHost: b\r\n\r\n", Done),
        (b"GET HTTPS://a.example HTTP/1.1\r\nHost: b\r\n\r\n", Done),
        (b"GET http://user@a.example/ HTTP/1.1\r\nHost: b\r\n\r\n", Fail(400)),
        (b"GET http:///x HTTP/1.1\r\nHost: b\r\n\r\n", Fail(400)),
        (b"GET ftp://a/x HTTP/1.1\r\nHost: b\r\n\r\n", Fail(400)),
        (b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        (b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        (b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Done),
        (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        (b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", Fail(501)),
        // Host.
        (b"GET / HTTP/1.1\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", Done),
        (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", Done),
        (b"GET / HTTP/1.0\r\n\r\n", Done),
        // Versions.
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Fail(505)),
        (b"PRI * HTTP/2.0\r\n", Fail(505)),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", Fail(505)),
        (b"GET / HTTP/0.9\r\n\r\n", Fail(505)),
        (b"GET / HTTP/3\r\n\r\n", Fail(505)),
        (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", Fail(505)),
        (b"GET /\r\n", Fail(505)),
        (b"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", Fail(400)),
        (b"GET / http/1.1\r\nHost: a\r\n\r\n", Fail(400)),
        (b"GET / HTTP/1.10000", Fail(400)),
        (b"GET / FOO\r\n\r\n", Fail(400)),
        (b"GET\r\n\r\n", Fail(400)),
        // Partial.
        (b"", Partial),
        (b"\r\n", Partial),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", Partial),
        (b"PRI * HTTP/2", Partial),
    ];
    check_table(table, &HeadLimits::default());
}

#[test]
fn limits_table() {
    use Want::*;
    let limits = HeadLimits {
        url: 16,
        head: 64,
        headers: 3,
    };
    let long_target = b"GET /0123456789abcdef0 HTTP/1.1\r\nHost: a\r\n\r\n";
    let table: &[(&[u8], Want)] = &[
        (b"GET /0123456789abcde HTTP/1.1\r\nHost: a\r\n\r\n", Done),
        (long_target, Fail(414)),
        // The request line has not ended yet: the target alone is already too long.
        (&long_target[..22], Fail(414)),
        (b"GET /0123456789abcdef0", Fail(414)),
        (b"GET /012345678", Partial),
        (b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", Done),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
            Fail(431),
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nA: 0123456789012345678901234567890123\r\n\r\n",
            Fail(431),
        ),
        // Still partial, but already over the head limit.
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nA: 012345678901234567890123456789012345678901",
            Fail(431),
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nA: 012345678901234567890123456789012345",
            Partial,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nA: 0123456789012345678901234567890\r\n\r\n",
            Done,
        ),
        (&[b'\r', b'\n'].repeat(40), Fail(431)),
        (&[b'G'; 65], Fail(431)),
    ];
    check_table(table, &limits);
    let none = HeadLimits {
        url: 16,
        head: 64,
        headers: 0,
    };
    assert_eq!(outcome(b"GET / HTTP/1.0\r\n\r\n", &none), Done);
    assert_eq!(
        outcome(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &none),
        Fail(431)
    );
    let many = HeadLimits {
        headers: 1000,
        ..HeadLimits::default()
    };
    let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..MAX_HEADERS {
        raw.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    assert_eq!(outcome(&raw, &many), Fail(431));
}

#[test]
fn fields_are_filled() {
    let raw = b"POST /a/b?x=1&y HTTP/1.1\r\nHost: api.example:8080\r\nContent-Length: 3\r\n\
Expect: 100-continue\r\nX-Empty:\r\nX-Pad:  v  \r\n\r\nabc";
    let (status, head) = parse(raw).unwrap();
    assert_eq!(status, Status::Complete(raw.len() - 3));
    assert_eq!(head.method.of(raw), b"POST");
    assert_eq!(head.target.of(raw), b"/a/b?x=1&y");
    assert_eq!(head.path.of(raw), b"/a/b");
    assert_eq!(head.query.of(raw), b"x=1&y");
    assert_eq!(head.minor, 1);
    assert_eq!(head.host.of(raw), b"api.example:8080");
    assert_eq!(head.framing, Framing::Length(3));
    assert!(head.keep_alive && head.expect_continue && !head.upgrade_websocket);
    let names: Vec<&[u8]> = head.headers.iter().map(|(n, _)| n.of(raw)).collect();
    assert_eq!(
        names,
        vec![
            &b"Host"[..],
            b"Content-Length",
            b"Expect",
            b"X-Empty",
            b"X-Pad"
        ]
    );
    assert_eq!(head.header(raw, b"x-empty"), Some(&b""[..]));
    assert_eq!(head.header(raw, b"X-PAD"), Some(&b"v"[..]));
    assert_eq!(head.header(raw, b"x-missing"), None);

    let raw = b"GET http://Up.Example/p/q HTTP/1.1\r\nHost: other\r\n\r\n";
    let (_, head) = parse(raw).unwrap();
    assert_eq!(head.host.of(raw), b"Up.Example");
    assert_eq!(head.path.of(raw), b"/p/q");
    assert!(head.query.is_empty());
    let raw = b"GET https://h?q=1 HTTP/1.1\r\nHost: h\r\n\r\n";
    let (_, head) = parse(raw).unwrap();
    assert_eq!(
        (head.path.of(raw), head.query.of(raw)),
        (&b""[..], &b"q=1"[..])
    );
    let raw = b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
    let (_, head) = parse(raw).unwrap();
    assert_eq!(
        (head.path.of(raw), head.query.of(raw)),
        (&b"*"[..], &b""[..])
    );
    let raw = b"GET /? HTTP/1.0\r\n\r\n";
    let (_, head) = parse(raw).unwrap();
    assert_eq!(
        (head.path.of(raw), head.query.of(raw)),
        (&b"/"[..], &b""[..])
    );
    assert!(head.host.is_empty());
}

#[test]
fn keep_alive_and_upgrade() {
    let table: &[(&[u8], bool, bool)] = &[
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true, false),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false, false),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, CLOSE\r\n\r\n", false, false),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", true, false),
        (b"GET / HTTP/1.0\r\n\r\n", false, false),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true, false),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false, false),
        (b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", true, true),
        (b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, upgrade\r\nUpgrade: h2c, WebSocket\r\n\r\n", true, true),
        (b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", true, false),
        (b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n", true, false),
        (b"POST /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", true, false),
        (b"GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", false, false),
    ];
    for (raw, keep_alive, upgrade) in table {
        let (_, head) = parse(raw).unwrap();
        let what = String::from_utf8_lossy(raw);
        assert_eq!(head.keep_alive, *keep_alive, "{what}");
        assert_eq!(head.upgrade_websocket, *upgrade, "{what}");
    }
    let (_, head) = parse(b"GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").unwrap();
    assert!(!head.expect_continue);
}

#[test]
fn pipelined_requests() {
    let buf = b"GET /one HTTP/1.1\r\nHost: a\r\n\r\nPOST /two HTTP/1.1\r\nHost: a\r\n\
Content-Length: 4\r\n\r\nbodyPOST /three HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
2\r\nhi\r\n0\r\n\r\n\r\nGET /four HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let mut head = RequestHead::default();
    let limits = HeadLimits::default();
    let mut rest = &buf[..];
    let mut seen = Vec::new();
    while !rest.is_empty() {
        let Status::Complete(n) = parse_request(rest, &limits, &mut head).unwrap() else {
            panic!("partial at {:?}", String::from_utf8_lossy(rest));
        };
        seen.push((
            String::from_utf8_lossy(head.path.of(rest)).into_owned(),
            head.keep_alive,
        ));
        let body = &rest[n..];
        let used = match head.framing {
            Framing::None => 0,
            Framing::Length(len) => len as usize,
            Framing::Chunked => {
                let mut dec = crate::ChunkedDecoder::new();
                let mut at = 0;
                loop {
                    match dec.decode(&body[at..]).unwrap() {
                        crate::Chunk::Data { consumed, .. } => at += consumed,
                        crate::Chunk::End { consumed } => break at + consumed,
                        crate::Chunk::Partial { .. } => panic!("chunked body cut"),
                    }
                }
            }
            Framing::UntilClose => unreachable!(),
        };
        rest = &body[used..];
    }
    let want = [
        ("/one", true),
        ("/two", true),
        ("/three", true),
        ("/four", false),
    ];
    let want: Vec<(String, bool)> = want.iter().map(|(p, k)| (p.to_string(), *k)).collect();
    assert_eq!(seen, want);
    // The head's vector is reused, not reallocated, across requests.
    assert!(head.headers.capacity() >= 3);
}

#[test]
fn partial_at_every_byte() {
    let raw = b"\r\nPOST /upload?id=7 HTTP/1.1\r\nHost: files.example\r\nUser-Agent: t\r\n\
Transfer-Encoding: chunked\r\nX-Tab: a\tb\r\n\r\n";
    let limits = HeadLimits::default();
    let mut head = RequestHead::default();
    for cut in 0..raw.len() {
        let got = parse_request(&raw[..cut], &limits, &mut head);
        assert_eq!(got, Ok(Status::Partial), "cut at {cut}");
    }
    assert_eq!(
        parse_request(raw, &limits, &mut head),
        Ok(Status::Complete(raw.len()))
    );
    assert_eq!(head.framing, Framing::Chunked);
    assert_eq!(head.header(raw, b"x-tab"), Some(&b"a\tb"[..]));
}
