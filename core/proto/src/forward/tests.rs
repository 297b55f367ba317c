use super::*;
use crate::{HeadLimits, Status, parse_request};
use std::net::{Ipv4Addr, Ipv6Addr};

fn parsed(raw: &[u8]) -> RequestHead {
    let mut head = RequestHead::default();
    let got = parse_request(raw, &HeadLimits::default(), &mut head);
    assert_eq!(
        got,
        Ok(Status::Complete(raw.len())),
        "{}",
        String::from_utf8_lossy(raw)
    );
    head
}

fn forward(raw: &[u8], edits: &HeaderEdits, f: impl FnOnce(&mut ForwardHead<'_>)) -> String {
    let head = parsed(raw);
    let mut fh = ForwardHead {
        request: &head,
        buf: raw,
        path: head.path.of(raw),
        query: head.query.of(raw),
        client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
        tls: false,
        request_id: b"rid-1",
        edits,
        host: UpstreamHost::Client,
        framing: head.framing,
        upgrade: true,
        underscores: UnderscoreNames::Drop,
    };
    f(&mut fh);
    let mut out = Vec::new();
    write_forward_head(&fh, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn plain_get() {
    let raw = b"GET /a?b=1 HTTP/1.1\r\nHost: api.example\r\nAccept: */*\r\n\r\n";
    assert_eq!(
        forward(raw, &HeaderEdits::new(), |_| {}),
        "GET /a?b=1 HTTP/1.1\r\nHost: api.example\r\nAccept: */*\r\n\
X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nForwarded: for=192.0.2.7;proto=http;host=\"api.example\"\r\n\
X-Request-Id: rid-1\r\nConnection: keep-alive\r\n\r\n"
    );
}

#[test]
fn hop_by_hop_stripped_and_forwarding_fields_merged() {
    let raw = b"POST /up HTTP/1.1\r\nhost: a.example\r\nConnection: keep-alive, X-Secret\r\n\
Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\n\
Transfer-Encoding: chunked\r\nX-Secret: s\r\nX-Forwarded-For: 10.0.0.1\r\n\
X-Forwarded-For: 10.0.0.2, 10.0.0.3\r\nX-Forwarded-Proto: https\r\nForwarded: for=10.0.0.1\r\n\
Proxy-Authorization: Basic eA==\r\nUpgrade: h2c\r\nX-Request-Id: client-id\r\nUser-Agent: t\r\n\r\n";
    let got = forward(raw, &HeaderEdits::new(), |f| {
        f.client_ip = IpAddr::V6("2001:db8::1".parse().unwrap());
        f.tls = true;
        f.path = b"/v2/up";
        f.query = b"k=v";
        f.host = UpstreamHost::Set(b"backend:8080");
    });
    assert_eq!(
        got,
        "POST /v2/up?k=v HTTP/1.1\r\nHost: backend:8080\r\nX-Request-Id: client-id\r\n\
User-Agent: t\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 2001:db8::1\r\n\
X-Forwarded-Proto: https\r\n\
Forwarded: for=10.0.0.1, for=\"[2001:db8::1]\";proto=https;host=\"a.example\"\r\n\
Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
    );
}

#[test]
fn reframed_body_and_mapped_ipv4() {
    let raw = b"PUT /x HTTP/1.0\r\nContent-Length: 10\r\n\r\n";
    let got = forward(raw, &HeaderEdits::new(), |f| {
        f.framing = Framing::Length(1234);
        f.client_ip = IpAddr::V6(Ipv4Addr::new(203, 0, 113, 9).to_ipv6_mapped());
        f.request_id = b"";
    });
    assert_eq!(
        got,
        "PUT /x HTTP/1.1\r\nHost: \r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: http\r\n\
Forwarded: for=203.0.113.9;proto=http\r\nContent-Length: 1234\r\nConnection: keep-alive\r\n\r\n"
    );
    let got = forward(raw, &HeaderEdits::new(), |f| {
        f.client_ip = IpAddr::V6(Ipv6Addr::LOCALHOST);
        f.framing = Framing::Chunked;
    });
    assert!(got.contains("X-Forwarded-For: ::1\r\n"), "{got}");
    assert!(
        got.contains("Forwarded: for=\"[::1]\";proto=http\r\n"),
        "{got}"
    );
    assert!(got.contains("Transfer-Encoding: chunked\r\n") && !got.contains("Content-Length"));
}

#[test]
fn websocket_handshake_keeps_upgrade() {
    let raw = b"GET /chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Key: k==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(
        forward(raw, &HeaderEdits::new(), |f| f.request_id = b""),
        "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k==\r\n\
Sec-WebSocket-Version: 13\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n\
Forwarded: for=192.0.2.7;proto=http;host=\"h\"\r\nConnection: upgrade\r\n\r\n"
    );
}

#[test]
fn upgrade_is_dropped_outside_websocket_routes() {
    let raw = b"GET /chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Key: k==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let got = forward(raw, &HeaderEdits::new(), |f| {
        f.request_id = b"";
        f.upgrade = false;
    });
    assert!(!got.to_ascii_lowercase().contains("upgrade"), "{got}");
    assert!(got.ends_with("Connection: keep-alive\r\n\r\n"), "{got}");
}

#[test]
fn underscore_names_are_dropped_unless_kept() {
    let raw = b"GET / HTTP/1.1\r\nHost: h\r\nX_User: admin\r\nX-User: bob\r\n\r\n";
    assert!(parsed(raw).underscore_names);
    assert!(!parsed(b"GET / HTTP/1.1\r\nHost: h\r\nX-User: bob\r\n\r\n").underscore_names);
    let dropped = forward(raw, &HeaderEdits::new(), |_| {});
    assert!(
        !dropped.contains("X_User") && dropped.contains("X-User: bob"),
        "{dropped}"
    );
    let kept = forward(raw, &HeaderEdits::new(), |f| {
        f.underscores = UnderscoreNames::Keep
    });
    assert!(kept.contains("X_User: admin\r\n"), "{kept}");
}

#[test]
fn edits_have_the_last_word() {
    let raw =
        b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer t\r\nX-Keep: 1\r\nX-Multi: a\r\n\r\n";
    let mut edits = HeaderEdits::new();
    edits.remove(b"authorization").unwrap();
    edits.set(b"Host", b"internal").unwrap();
    edits.append(b"X-Multi", b"b").unwrap();
    edits.set(b"X-Forwarded-For", b"hidden").unwrap();
    edits.remove(b"forwarded").unwrap();
    edits.set(b"X-User", b"42").unwrap();
    assert_eq!(
        forward(raw, &edits, |f| f.host = UpstreamHost::Set(b"ignored")),
        "GET / HTTP/1.1\r\nHost: internal\r\nX-Keep: 1\r\nX-Multi: a\r\n\
X-Forwarded-Proto: http\r\nX-Request-Id: rid-1\r\nConnection: keep-alive\r\n\
X-Multi: b\r\nX-Forwarded-For: hidden\r\nX-User: 42\r\n\r\n"
    );
}

#[test]
fn hop_by_hop_names() {
    for name in [
        "Connection",
        "keep-alive",
        "PROXY-CONNECTION",
        "te",
        "Trailer",
        "Upgrade",
    ] {
        assert!(is_hop_by_hop(name.as_bytes()), "{name}");
    }
    assert!(is_hop_by_hop(b"Transfer-Encoding") && is_hop_by_hop(b"proxy-authorization"));
    for name in [
        "Content-Length",
        "Host",
        "Trailers",
        "X-Connection",
        "Authorization",
        "",
    ] {
        assert!(!is_hop_by_hop(name.as_bytes()), "{name}");
    }
}

#[test]
fn expect_is_answered_not_forwarded() {
    let raw = b"POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n";
    let got = forward(raw, &HeaderEdits::new(), |f| f.request_id = b"");
    assert!(!got.to_ascii_lowercase().contains("expect"), "{got}");
    assert!(got.contains("Content-Length: 1\r\n"), "{got}");
}

#[test]
fn host_choice() {
    let v10 = b"GET / HTTP/1.0\r\n\r\n";
    let v11 = b"GET / HTTP/1.1\r\nHost: client.example\r\n\r\n";
    let host_line = |raw: &[u8], host: UpstreamHost<'static>| {
        let got = forward(raw, &HeaderEdits::new(), |f| f.host = host);
        got.lines().nth(1).unwrap_or_default().to_string()
    };
    assert_eq!(host_line(v10, UpstreamHost::Client), "Host: ");
    assert_eq!(
        host_line(v10, UpstreamHost::ClientOr(b"up:81")),
        "Host: up:81"
    );
    assert_eq!(
        host_line(v11, UpstreamHost::ClientOr(b"up:81")),
        "Host: client.example"
    );
    assert_eq!(host_line(v11, UpstreamHost::Set(b"up:81")), "Host: up:81");
    let got = forward(v10, &HeaderEdits::new(), |_| {});
    assert!(
        got.contains("Forwarded: for=192.0.2.7;proto=http\r\n"),
        "{got}"
    );
}

#[test]
fn ip_text_matches_display() {
    for a in [0u8, 9, 10, 99, 100, 199, 200, 255] {
        for b in [0u8, 7, 42, 255] {
            let ip = IpAddr::V4(Ipv4Addr::new(a, b, 100 - b % 100, 1));
            assert_eq!(IpText::new(ip).as_bytes(), ip.to_string().as_bytes());
        }
    }
    let long = Ipv6Addr::new(
        0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
    );
    for v6 in [long, Ipv6Addr::LOCALHOST, "2001:db8::1".parse().unwrap()] {
        let text = IpText::new(IpAddr::V6(v6));
        assert!(text.v6);
        assert_eq!(text.as_bytes(), v6.to_string().as_bytes());
    }
}

#[test]
fn connection_named_fields_dropped_whether_or_not_the_parser_flagged_them() {
    let plain = parsed(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, , Upgrade\r\n\r\n");
    assert!(plain.connection_plain);
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\nX-Secret: s\r\n\r\n";
    let head = parsed(raw);
    assert!(!head.connection_plain);
    let fh = ForwardHead {
        request: &head,
        buf: raw,
        path: b"/",
        query: b"",
        client_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
        tls: false,
        request_id: b"rid-1",
        edits: &HeaderEdits::new(),
        host: UpstreamHost::Client,
        framing: head.framing,
        upgrade: true,
        underscores: UnderscoreNames::Drop,
    };
    let mut out = Vec::new();
    write_forward_head(&fh, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("X-Secret"), "{text}");
}
