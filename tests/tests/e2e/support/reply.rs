//! What the test upstream answers: [`Reply`] scripts and the code that writes them.

use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::upstream::Recorded;

/// What the upstream does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with a JSON description of the request.
    Echo,
    /// A response with this status, extra headers and body; Content-Length is added (except
    /// for 1xx/204/304) unless `headers` frame the body themselves. HEAD gets no body.
    Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// A chunked response, one write per chunk.
    Chunked {
        status: u16,
        headers: Vec<(String, String)>,
        chunks: Vec<Vec<u8>>,
    },
    /// These exact bytes; the connection stays open.
    Raw(Vec<u8>),
    /// These exact bytes, then close.
    RawThenClose(Vec<u8>),
    /// Wait, then reply.
    Delay(Duration, Box<Reply>),
    /// Reply, then close the connection after a pause (a keep-alive connection that the
    /// upstream drops while it sits idle in gw's pool).
    CloseAfter(Duration, Box<Reply>),
    /// Reply, then after a pause write these bytes on the same connection, unasked (a second
    /// response, a body after a HEAD response), and keep it open.
    ThenLater(Box<Reply>, Duration, Vec<u8>),
    /// Never answer; hold the connection until the server stops.
    Never,
    /// Close without answering.
    Close,
}

impl Reply {
    /// 200 with a plain body.
    pub fn text(body: impl Into<Vec<u8>>) -> Reply {
        Reply::status(200, body)
    }

    pub fn status(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn raw(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply::Raw(bytes.into())
    }
}

/// The answering server's name (sent as `x-up-name`) and its stop flag.
pub(super) struct Server<'a> {
    pub name: &'a str,
    pub stop: &'a AtomicBool,
}

/// Carry out a reply; false when the connection must close afterwards.
pub(super) fn perform(
    out: &mut TcpStream,
    req: &Recorded,
    reply: Reply,
    server: &Server,
) -> io::Result<bool> {
    let head_req = req.method == "HEAD";
    match reply {
        Reply::Echo => {
            let body = echo_json(req, server.name);
            let headers = vec![("content-type".to_string(), "application/json".to_string())];
            write_response(out, req, server, 200, &headers, &body, head_req)?;
        }
        Reply::Response {
            status,
            headers,
            body,
        } => {
            write_response(out, req, server, status, &headers, &body, head_req)?;
        }
        Reply::Chunked {
            status,
            headers,
            chunks,
        } => {
            let mut head = status_line(status);
            push_headers(&mut head, &up_headers(req, server));
            push_headers(&mut head, &headers);
            head.push_str("transfer-encoding: chunked\r\n\r\n");
            out.write_all(head.as_bytes())?;
            if !head_req {
                for chunk in chunks.iter().filter(|c| !c.is_empty()) {
                    let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
                    frame.extend_from_slice(chunk);
                    frame.extend_from_slice(b"\r\n");
                    out.write_all(&frame)?;
                }
                out.write_all(b"0\r\n\r\n")?;
            }
        }
        Reply::Raw(bytes) => out.write_all(&bytes)?,
        Reply::RawThenClose(bytes) => {
            out.write_all(&bytes)?;
            return Ok(false);
        }
        Reply::Delay(pause, inner) => {
            if !sleep_unless_stopped(pause, server) {
                return Ok(false);
            }
            return perform(out, req, *inner, server);
        }
        Reply::CloseAfter(pause, inner) => {
            perform(out, req, *inner, server)?;
            sleep_unless_stopped(pause, server);
            return Ok(false);
        }
        Reply::ThenLater(inner, pause, bytes) => {
            perform(out, req, *inner, server)?;
            if !sleep_unless_stopped(pause, server) {
                return Ok(false);
            }
            out.write_all(&bytes)?;
        }
        Reply::Never => {
            sleep_unless_stopped(Duration::from_secs(600), server);
            return Ok(false);
        }
        Reply::Close => return Ok(false),
    }
    Ok(true)
}

/// Sleep in small steps; false if the server stopped meanwhile.
fn sleep_unless_stopped(pause: Duration, server: &Server) -> bool {
    let deadline = Instant::now() + pause;
    while Instant::now() < deadline {
        if server.stop.load(Ordering::SeqCst) {
            return false;
        }
        thread::sleep(Duration::from_millis(5).min(deadline - Instant::now()));
    }
    true
}

fn status_line(status: u16) -> String {
    let reason = match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    format!("HTTP/1.1 {status} {reason}\r\n")
}

fn push_headers(out: &mut String, headers: &[(String, String)]) {
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
}

/// Headers naming the server, the connection and the path, so tests can see who answered.
fn up_headers(req: &Recorded, server: &Server) -> Vec<(String, String)> {
    vec![
        ("x-up-name".to_string(), server.name.to_string()),
        ("x-up-conn".to_string(), req.conn.to_string()),
        ("x-up-path".to_string(), req.target.clone()),
    ]
}

fn write_response(
    out: &mut TcpStream,
    req: &Recorded,
    server: &Server,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    head_req: bool,
) -> io::Result<()> {
    let mut head = status_line(status);
    push_headers(&mut head, &up_headers(req, server));
    push_headers(&mut head, headers);
    let framed = headers.iter().any(|(k, _)| {
        k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
    });
    let bodiless = (100..200).contains(&status) || status == 204 || status == 304;
    if !framed && !bodiless {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if !head_req && !bodiless {
        bytes.extend_from_slice(body);
    }
    out.write_all(&bytes)
}

fn echo_json(req: &Recorded, server: &str) -> Vec<u8> {
    let headers: Vec<[&str; 2]> = req
        .head
        .headers
        .iter()
        .map(|(k, v)| [k.as_str(), v.as_str()])
        .collect();
    let doc = serde_json::json!({
        "server": server,
        "method": req.method,
        "path": req.target,
        "version": req.version,
        "headers": headers,
        "body": String::from_utf8_lossy(&req.body),
        "bodyLength": req.body.len(),
    });
    doc.to_string().into_bytes()
}
