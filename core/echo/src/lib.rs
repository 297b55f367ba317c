//! gw-echo: a small echo upstream for `gw demo` and the runtime's loopback tests: std threads, HTTP/1.1 keep-alive,
//! answering every request with a JSON description of it (method, path, query, headers,
//! body). Not for production traffic.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use gw_proto::{Chunk, ChunkedDecoder, Framing, HeadLimits, RequestHead, Status};

use gw_program::render::write_json_str;

/// Start the echo server on `addr` (port 0 for any); returns the bound address. The accept
/// thread lives as long as the process.
pub fn start(addr: SocketAddr) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("gw-echo".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = std::thread::Builder::new()
                    .name("gw-echo-conn".into())
                    .spawn(move || serve(stream));
            }
        })?;
    Ok(bound)
}

fn serve(mut s: TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = s.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut head = RequestHead::default();
    loop {
        // read a head
        let n = loop {
            match gw_proto::parse_request(&buf, &HeadLimits::default(), &mut head) {
                Ok(Status::Complete(n)) => break n,
                Ok(Status::Partial) => {}
                Err(_) => return,
            }
            if !fill(&mut s, &mut buf) {
                return;
            }
        };
        let hb = buf.get(..n).unwrap_or(&[]).to_vec();
        buf.drain(..n.min(buf.len()));
        let Some(body) = read_body(&mut s, &mut buf, head.framing) else {
            return;
        };
        let json = describe(&hb, &head, &body);
        let mut out = Vec::with_capacity(json.len() + 128);
        let keep = head.keep_alive;
        let _ = write!(
            out,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}\r\n",
            json.len(),
            if keep { "" } else { "connection: close\r\n" }
        );
        if head.method.of(&hb) != b"HEAD" {
            out.extend_from_slice(&json);
        }
        if s.write_all(&out).is_err() || !keep {
            return;
        }
    }
}

fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut tmp = [0u8; 8192];
    match s.read(&mut tmp) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(tmp.get(..n).unwrap_or(&[]));
            true
        }
    }
}

fn read_body(s: &mut TcpStream, buf: &mut Vec<u8>, framing: Framing) -> Option<Vec<u8>> {
    match framing {
        Framing::Length(n) => {
            let n = usize::try_from(n).ok()?;
            while buf.len() < n {
                if !fill(s, buf) {
                    return None;
                }
            }
            Some(buf.drain(..n).collect())
        }
        Framing::Chunked => {
            let mut dec = ChunkedDecoder::new();
            let mut body = Vec::new();
            loop {
                match dec.decode(buf).ok()? {
                    Chunk::Data { consumed, data } => {
                        body.extend_from_slice(data.of(buf));
                        buf.drain(..consumed.min(buf.len()));
                    }
                    Chunk::Partial { consumed } => {
                        buf.drain(..consumed.min(buf.len()));
                        if !fill(s, buf) {
                            return None;
                        }
                    }
                    Chunk::End { consumed } => {
                        buf.drain(..consumed.min(buf.len()));
                        return Some(body);
                    }
                }
            }
        }
        Framing::None | Framing::UntilClose => Some(Vec::new()),
    }
}

/// `{"method":..,"path":..,"query":..,"headers":{..},"body":..}`
fn describe(hb: &[u8], head: &RequestHead, body: &[u8]) -> Vec<u8> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut out = String::with_capacity(512 + body.len());
    out.push_str("{\"method\":");
    write_json_str(&text(head.method.of(hb)), &mut out);
    out.push_str(",\"path\":");
    write_json_str(&text(head.path.of(hb)), &mut out);
    out.push_str(",\"query\":");
    write_json_str(&text(head.query.of(hb)), &mut out);
    out.push_str(",\"headers\":{");
    for (i, (n, v)) in head.headers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(&text(n.of(hb)).to_ascii_lowercase(), &mut out);
        out.push(':');
        write_json_str(&text(v.of(hb)), &mut out);
    }
    out.push_str("},\"body\":");
    write_json_str(&text(body), &mut out);
    out.push('}');
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_a_request_as_json() {
        let addr = start("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")
            .unwrap();
        c.write_all(b"GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert!(
            got.contains(r#""method":"POST","path":"/a","query":"x=1""#),
            "{got}"
        );
        assert!(got.contains(r#""body":"hi""#), "{got}");
        assert!(got.contains(r#""path":"/b""#), "{got}");
        assert!(got.contains("connection: close"));
    }
}
