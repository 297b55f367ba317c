//! Entry points for the cargo-fuzz targets (fuzz/): each drives one parser and what the
//! runtime does with its result. None may panic or loop on any input.

use std::net::{IpAddr, Ipv6Addr};

use crate::{
    Chunk, ChunkedDecoder, ClientHead, ForwardHead, Framing, HeadLimits, HeaderEdits, RequestHead,
    ResponseHead, Status, UpstreamHost, normalize_path, parse_request, parse_response,
    percent_decode_component, percent_decode_query, query_pairs, write_forward_head,
    write_response_head,
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
