//! Entry points for the cargo-fuzz targets (fuzz/): each drives one parser and what the
//! runtime does with its result. None may panic or loop on any input.

use std::net::{IpAddr, Ipv6Addr};

use crate::{
    Chunk, ChunkedDecoder, ClientHead, ForwardHead, Framing, HeadLimits, HeaderEdits, PathChars,
    ProtoError, RequestHead, ResponseHead, Status, UpstreamHost, check_forward_path,
    normalize_path, parse_request, parse_response, percent_decode_component, percent_decode_query,
    push_path_encoded, query_pairs, write_forward_head, write_response_head,
};

/// Parse pipelined requests from `data` as the runtime would: head, path, query, upstream head
/// and body framing, then the next request.
pub fn fuzz_request(data: &[u8]) {
    let limits = HeadLimits::default();
    let mut head = RequestHead::default();
    let (mut path, mut value, mut out) = (String::new(), String::new(), Vec::new());
    let edits = HeaderEdits::new();
    let mut rest = data;
    while let Ok(Status::Complete(n)) = parse_request(rest, &limits, &mut head) {
        if normalize_path(head.path.of(rest), &mut path).is_ok() {
            for (k, v) in query_pairs(head.query.of(rest)) {
                let _ = percent_decode_query(k, &mut value);
                let _ = percent_decode_component(v, &mut value);
            }
            let forward = ForwardHead {
                request: &head,
                buf: rest,
                path: path.as_bytes(),
                query: head.query.of(rest),
                client_ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
                tls: false,
                request_id: b"fuzz",
                edits: &edits,
                host: UpstreamHost::Client,
                upgrade: false,
                underscores: crate::UnderscoreNames::Drop,
                framing: head.framing,
            };
            out.clear();
            write_forward_head(&forward, &mut out);
        }
        let body = rest.get(n..).unwrap_or(&[]);
        let Some(after) = skip_body(head.framing, body, ChunkedDecoder::new()) else {
            return;
        };
        rest = body.get(after..).unwrap_or(&[]);
    }
}

/// Parse an upstream response (as a reply to GET and to HEAD), relay its head, skip its body.
pub fn fuzz_response(data: &[u8]) {
    let mut head = ResponseHead::default();
    let edits = HeaderEdits::new();
    let mut out = Vec::new();
    for head_request in [false, true] {
        let Ok(Status::Complete(n)) = parse_response(data, head_request, &mut head) else {
            continue;
        };
        let client = ClientHead {
            status: head.status,
            reason: head.reason.of(data),
            upstream: Some((&head, data)),
            framing: head.framing,
            close: !head.keep_alive,
            client_minor: 1,
            request_id: b"fuzz",
            via: b"1.1 gw",
            date: b"Sun, 06 Nov 1994 08:49:37 GMT",
            edits: &edits,
        };
        out.clear();
        write_response_head(&client, &mut out);
        let _ = skip_body(
            head.framing,
            data.get(n..).unwrap_or(&[]),
            ChunkedDecoder::upstream(),
        );
    }
}

/// A request whose path is routed, then rewritten as `rewrite path` does: the path normalised
/// and checked against the default path policy, a `{rest+}` value under `/rw/` and a `{id}`
/// value under `/one/` decoded and written into `/x/{rest}` and `/items/{id}/v` with the path
/// encoder, and a value taken from the rest of the input written both ways. Whatever passes
/// [`check_forward_path`] goes into an upstream head, which must parse back as exactly one
/// request carrying that path, and must stay below its literal prefix. Without a rewrite,
/// the upstream receives exactly the path that was routed.
pub fn fuzz_path_rewrite(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (raw, value) = (
        data.get(..split).unwrap_or(&[]),
        data.get(split + 1..).unwrap_or(&[]),
    );
    let mut routed = String::new();
    let mut rendered = Vec::new();
    // the path as the request parser hands it over
    let mut line = b"GET ".to_vec();
    line.extend_from_slice(raw);
    line.extend_from_slice(b" HTTP/1.1\r\nHost: fuzz\r\n\r\n");
    let mut req = RequestHead::default();
    let parsed = matches!(
        parse_request(&line, &HeadLimits::default(), &mut req),
        Ok(Status::Complete(_))
    );
    if parsed && normalize_path(req.path.of(&line), &mut routed).is_ok() {
        let strict = PathChars::of(routed.as_bytes()).is_empty();
        if strict {
            must_forward_as(routed.as_bytes(), routed.as_bytes(), "/");
        }
        let mut decoded = String::new();
        if let Some(rest) = routed.strip_prefix("/rw/")
            && percent_decode_component(rest.as_bytes(), &mut decoded).is_ok()
        {
            rendered.push(render("/x/", &decoded, true, ""));
        }
        if let Some(id) = routed.strip_prefix("/one/")
            && !id.contains('/')
            && !id.is_empty()
            && percent_decode_component(id.as_bytes(), &mut decoded).is_ok()
        {
            rendered.push(render("/items/", &decoded, false, "/v"));
        }
    }
    let value = String::from_utf8_lossy(value);
    rendered.push(render("/x/", &value, true, ""));
    rendered.push(render("/items/", &value, false, "/v"));
    for (prefix, path) in rendered {
        if check_forward_path(path.as_bytes()).is_ok() {
            must_forward_as(path.as_bytes(), path.as_bytes(), prefix);
        }
    }
}

/// `prefix` + `value` through the path encoder + `suffix`, with the prefix it must stay under.
fn render(
    prefix: &'static str,
    value: &str,
    segments: bool,
    suffix: &str,
) -> (&'static str, String) {
    let mut out = String::from(prefix);
    push_path_encoded(value, segments, &mut out);
    out.push_str(suffix);
    (prefix, out)
}

/// Write an upstream head for `path` and check that it parses back as one request whose
/// path is `want`, and that the path, normalised as an upstream would, stays under `prefix`.
// A fuzz entry point reports a broken invariant by panicking; none of this is on the request
// path.
#[allow(clippy::panic)]
fn must_forward_as(path: &[u8], want: &[u8], prefix: &str) {
    let raw = b"GET / HTTP/1.1\r\nHost: fuzz\r\n\r\n";
    let mut head = RequestHead::default();
    if !matches!(
        parse_request(raw, &HeadLimits::default(), &mut head),
        Ok(Status::Complete(_))
    ) {
        return;
    }
    let edits = HeaderEdits::new();
    let forward = ForwardHead {
        request: &head,
        buf: raw,
        path,
        query: b"",
        client_ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
        tls: false,
        request_id: b"fuzz",
        edits: &edits,
        host: UpstreamHost::Client,
        framing: head.framing,
        upgrade: false,
        underscores: crate::UnderscoreNames::Drop,
    };
    let mut out = Vec::new();
    write_forward_head(&forward, &mut out);
    let limits = HeadLimits {
        url: out.len(),
        ..HeadLimits::default()
    };
    let mut back = RequestHead::default();
    match parse_request(&out, &limits, &mut back) {
        Ok(Status::Complete(n)) => {
            assert_eq!(n, out.len(), "one upstream head, nothing after it");
            assert_eq!(back.path.of(&out), want, "the path routed is the path sent");
        }
        other => panic!("the upstream head does not parse: {other:?}"),
    }
    let mut normal = String::new();
    if normalize_path(want, &mut normal).is_ok() {
        assert!(
            normal.starts_with(prefix),
            "{normal} climbed out of {prefix}"
        );
    }
}

/// Upstream responses read off one connection, as the proxy reads them: interim responses
/// skipped, each final head relayed, its body framed by the request's method (bit `i` of
/// `data[0]`: HEAD), then the next response from the bytes after it. The relayed head must
/// parse back as exactly one head, framed as gw frames the body it sends, with no
/// Content-Length on a 1xx, 204 or 304.
#[allow(clippy::panic)]
pub fn fuzz_upstream_exchange(data: &[u8]) {
    let Some((&methods, mut rest)) = data.split_first() else {
        return;
    };
    let mut head = ResponseHead::default();
    let mut back = ResponseHead::default();
    let edits = HeaderEdits::new();
    let mut out = Vec::new();
    for i in 0..8 {
        let is_head = methods >> i & 1 == 1;
        let n = loop {
            match parse_response(rest, is_head, &mut head) {
                Ok(Status::Complete(n))
                    if (100..200).contains(&head.status) && head.status != 101 =>
                {
                    rest = rest.get(n..).unwrap_or(&[]);
                }
                Ok(Status::Complete(n)) => break n,
                _ => return,
            }
        };
        if head.status == 101 {
            return;
        }
        let no_body = is_head || matches!(head.status, 204 | 304);
        let framing = match head.framing {
            _ if no_body => Framing::None,
            Framing::Length(n) => Framing::Length(n),
            Framing::None => Framing::Length(0),
            Framing::Chunked | Framing::UntilClose => Framing::Chunked,
        };
        let client = ClientHead {
            status: head.status,
            reason: head.reason.of(rest),
            upstream: Some((&head, rest)),
            framing,
            close: !head.keep_alive,
            client_minor: 1,
            request_id: b"fuzz",
            via: b"",
            date: b"Sun, 06 Nov 1994 08:49:37 GMT",
            edits: &edits,
        };
        out.clear();
        write_response_head(&client, &mut out);
        match parse_response(&out, is_head, &mut back) {
            Ok(Status::Complete(m)) => {
                assert_eq!(m, out.len(), "one relayed head");
                assert_eq!(back.status, head.status);
                if !no_body {
                    assert_eq!(back.framing, framing, "the body is framed as it is sent");
                }
                if matches!(head.status, 204 | 304) {
                    assert!(
                        back.header(&out, b"content-length").is_none(),
                        "no Content-Length on {}",
                        head.status
                    );
                }
            }
            // gw adds its own fields (X-Request-Id, framing): a head already at the parser's
            // field limit can pass it
            Err(ProtoError::BadResponse("too many headers"))
                if head.headers.len() + 3 >= crate::MAX_HEADERS => {}
            other => panic!("the relayed head does not parse: {other:?}"),
        }
        let body = rest.get(n..).unwrap_or(&[]);
        let used = if no_body {
            Some(0)
        } else {
            skip_body(head.framing, body, ChunkedDecoder::upstream())
        };
        let Some(used) = used else {
            return;
        };
        if !head.keep_alive {
            return;
        }
        rest = body.get(used..).unwrap_or(&[]);
    }
}

/// Decode `data[1..]` as a chunked body fed in pieces of `data[0]` bytes (0: all at once).
pub fn fuzz_chunked(data: &[u8]) {
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    let step = if split == 0 {
        body.len().max(1)
    } else {
        usize::from(split)
    };
    let mut decoder = ChunkedDecoder::new();
    let (mut start, mut end) = (0, step.min(body.len()));
    loop {
        let Some(input) = body.get(start..end) else {
            return;
        };
        match decoder.decode(input) {
            Ok(Chunk::Data { consumed, data }) => {
                let _ = data.of(input);
                start += consumed;
            }
            Ok(Chunk::Partial { consumed }) => {
                start += consumed;
                if end == body.len() {
                    return;
                }
                end = end.saturating_add(step).min(body.len());
            }
            Ok(Chunk::End { .. }) | Err(_) => return,
        }
    }
}

/// Where the body framed by `framing` ends in `body`; `None` when it does not end there.
fn skip_body(framing: Framing, body: &[u8], mut decoder: ChunkedDecoder) -> Option<usize> {
    match framing {
        Framing::None => Some(0),
        Framing::Length(n) => usize::try_from(n).ok().filter(|&n| n <= body.len()),
        Framing::UntilClose => None,
        Framing::Chunked => {
            let mut at = 0;
            loop {
                match decoder.decode(body.get(at..)?) {
                    Ok(Chunk::Data { consumed, .. }) => at += consumed,
                    Ok(Chunk::End { consumed }) => return Some(at + consumed),
                    Ok(Chunk::Partial { .. }) | Err(_) => return None,
                }
            }
        }
    }
}

/// Read `data` as WebSocket frames from a client and from a server, with and without
/// permessage-deflate, in pieces whose sizes the first byte picks: every step takes bytes
/// until the first violation, and a frame's pieces never exceed what was given.
pub fn fuzz_websocket(data: &[u8]) {
    use crate::websocket::{Extensions, FrameReader, Sender, Step};
    let (piece, data) = match data.split_first() {
        Some((p, rest)) => (usize::from(*p % 16) + 1, rest),
        None => return,
    };
    for sender in [Sender::Client, Sender::Server] {
        for deflate in [false, true] {
            let ext = Extensions {
                deflate,
                other: false,
            };
            let mut r = FrameReader::new(sender, ext, 4096);
            let mut raw = Vec::new();
            'chunks: for chunk in data.chunks(piece) {
                let mut rest = chunk;
                while !rest.is_empty() {
                    let (n, step) = r.read(rest);
                    match step {
                        Step::Violation(_) => break 'chunks,
                        Step::Control => {
                            raw.clear();
                            r.control_raw(&mut raw);
                            assert!(raw.len() <= 131);
                        }
                        Step::Header => assert!(r.header().len() <= 14),
                        Step::Partial | Step::Payload => {}
                    }
                    assert!(n > 0 && n <= rest.len(), "a step takes what it was given");
                    rest = rest.get(n..).unwrap_or(&[]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProtoError;

    #[test]
    fn entry_points_run() {
        fuzz_request(
            b"GET /a/../b?x=%41 HTTP/1.1\r\nHost: h\r\n\r\nPOST / HTTP/1.1\r\nHost: h\r\n\
Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        );
        fuzz_response(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
        for split in 0..8 {
            let mut data = vec![split];
            data.extend_from_slice(b"3;a=b\r\nabc\r\n0\r\nT: 1\r\n\r\n");
            fuzz_chunked(&data);
        }
        fuzz_chunked(b"");
        fuzz_path_rewrite(b"/rw/a%20HTTP/1.1%0D%0AHost:%20t%0D%0A%0D%0AGET%20/smug\n../../x");
        fuzz_path_rewrite(b"/one/..%2Fadmin\n..");
        fuzz_upstream_exchange(
            b"\x02HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx\
HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
        );
    }

    /// A deterministic xorshift generator: the same mutations on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn mutated_requests_never_panic() {
        let seeds: &[&[u8]] = &[
            b"GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive\r\n\r\n",
            b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: b\r\n\r\n",
            b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
            b"GET ws://h/chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ];
        let tokens: &[&[u8]] = &[
            b"\r\n",
            b"\n",
            b"\r",
            b" ",
            b"\t",
            b":",
            b"\0",
            b"%",
            b"%2e",
            b"/..",
            b"//",
            b",",
            b"chunked",
            b"Content-Length: ",
            b"Transfer-Encoding: ",
            b"Host: ",
            b"HTTP/1.0",
            b"HTTP/2.0",
            b"0\r\n\r\n",
            b"ffffffffffffffffff",
            b"\xff",
            b";",
            b"?",
            b"#",
            b"*",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut head = RequestHead::default();
        let mut path = String::new();
        let limits = HeadLimits {
            url: 64,
            head: 256,
            headers: 8,
        };
        let (mut complete, mut refused) = (0, 0);
        for round in 0..4000 {
            let mut buf = seeds[round % seeds.len()].to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(buf.len() + 1);
                match rng.below(4) {
                    0 => buf.insert(at, rng.next() as u8),
                    1 if at < buf.len() => {
                        buf.remove(at);
                    }
                    2 if at < buf.len() => buf[at] = rng.next() as u8,
                    _ => {
                        let t = tokens[rng.below(tokens.len())];
                        buf.splice(at..at, t.iter().copied());
                    }
                }
            }
            match parse_request(&buf, &limits, &mut head) {
                Ok(Status::Complete(n)) => {
                    complete += 1;
                    assert!(n > 0 && n <= buf.len());
                    for (name, value) in &head.headers {
                        assert!(name.end as usize <= n && value.end as usize <= n);
                    }
                    let _ = normalize_target(&buf, &head, &mut path);
                }
                Ok(Status::Partial) => {}
                Err(_) => refused += 1,
            }
            fuzz_request(&buf);
            fuzz_response(&buf);
            fuzz_chunked(&buf);
        }
        // The mutations reach both sides of the parser, not only its first refusal.
        assert!(
            complete > 400 && refused > 400,
            "complete {complete}, refused {refused}"
        );
    }

    fn normalize_target(
        buf: &[u8],
        head: &RequestHead,
        out: &mut String,
    ) -> Result<(), ProtoError> {
        normalize_path(head.path.of(buf), out)
    }
}
