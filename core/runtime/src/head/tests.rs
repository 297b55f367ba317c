use gw_proto::{HeadLimits, RequestHead};
use gw_vm::Effect;

use super::*;

fn parse(raw: &[u8]) -> RequestHead {
    let mut head = RequestHead::default();
    gw_proto::parse_request(raw, &HeadLimits::default(), &mut head).unwrap();
    head
}

#[test]
fn upstream_head_applies_query_and_path_edits() {
    let raw = b"GET /a?x=1&y=2 HTTP/1.1\r\nHost: h\r\nX-Drop: 1\r\n\r\n";
    let head = parse(raw);
    let mut edits = Edits::default();
    edits.apply(Effect::SetQuery("y", "a b"));
    edits.apply(Effect::RemoveQuery("x"));
    edits.apply(Effect::RewritePath("/v2/a"));
    edits.apply(Effect::RemoveHeader("x-drop"));
    let h = UpstreamHead {
        req: ReqView {
            hb: raw,
            head: &head,
            path: "/a",
            params: &[],
            client: "127.0.0.1".parse().unwrap(),
            request_id: "r1",
            route: None,
            tls: false,
            client_subject: None,
        },
        host_override: None,
        fallback_host: "up:80",
        framing: Framing::None,
        upgrade: false,
        underscores: gw_proto::UnderscoreNames::Drop,
    };
    let mut out = Vec::new();
    write_upstream_head(&h, &mut edits, &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("GET /v2/a?y=a%20b HTTP/1.1\r\n"), "{text}");
    assert!(text.contains("Host: h\r\n"), "{text}");
    assert!(!text.to_ascii_lowercase().contains("x-drop"), "{text}");
    assert!(text.contains("X-Request-Id: r1\r\n"), "{text}");
}

#[test]
fn own_response_has_length_type_and_id() {
    let mut edits = Edits::default();
    edits.apply(Effect::RespSetHeader("x-extra", "1"));
    let r = OwnResponse {
        status: 200,
        content_type: Some("application/json"),
        body: b"{}",
        head_only: false,
        request_id: "rid",
        conn: ConnHeader {
            keep_alive: false,
            minor: 1,
        },
        extra: &[("allow", "GET")],
        date: b"Sun, 06 Nov 1994 08:49:37 GMT",
    };
    let mut out = Vec::new();
    write_own_response(&r, &mut edits, &mut out);
    let text = String::from_utf8(out).unwrap().to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200 ok\r\n"), "{text}");
    for want in [
        "content-length: 2\r\n",
        "content-type: application/json\r\n",
        "x-request-id: rid\r\n",
        "connection: close\r\n",
        "allow: get\r\n",
        "x-extra: 1\r\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in {text}");
    }
    assert!(text.ends_with("\r\n\r\n{}"));
    // 204 has neither body nor length
    let mut out = Vec::new();
    let r = OwnResponse {
        status: 204,
        body: b"xx",
        ..r
    };
    write_own_response(&r, &mut Edits::default(), &mut out);
    let text = String::from_utf8(out).unwrap().to_ascii_lowercase();
    assert!(
        !text.contains("content-length") && text.ends_with("\r\n\r\n"),
        "{text}"
    );
}
