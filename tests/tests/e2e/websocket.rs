//! WebSocket routes end to end: a client with hand-written frames (so it can also send
//! abusive ones) through gw to an echo upstream (support/websocket.rs), over plain TCP and
//! TLS. Echo of
//! text, binary, fragmented and 1 MiB messages; pings and pongs; the close handshake from
//! either side with its code and reason; `idle_timeout`, `max_message` and `ping_every`
//! enforced with their close codes; a reload that leaves an open WebSocket on its limits;
//! frames that break RFC 6455; permessage-deflate's RSV1; the metrics.

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::websocket::*;
use crate::support::{Driver, Gw, upstream_block};

on_both_drivers! {
    text_binary_fragmented_and_a_mebibyte_echo_through => text_binary_fragmented_and_a_mebibyte_echo_through_uring, text_binary_fragmented_and_a_mebibyte_echo_through_epoll;
    pings_pass_and_a_close_from_either_side_reaches_the_other => pings_pass_and_a_close_from_either_side_reaches_the_other_uring, pings_pass_and_a_close_from_either_side_reaches_the_other_epoll;
    idle_timeout_closes_both_sides_with_1001 => idle_timeout_closes_both_sides_with_1001_uring, idle_timeout_closes_both_sides_with_1001_epoll;
    max_message_closes_the_sender_with_1009 => max_message_closes_the_sender_with_1009_uring, max_message_closes_the_sender_with_1009_epoll;
    ping_every_pings_the_client_and_closes_one_that_never_answers => ping_every_pings_the_client_and_closes_one_that_never_answers_uring, ping_every_pings_the_client_and_closes_one_that_never_answers_epoll;
    gw_pings_go_between_the_frames_of_a_long_message => gw_pings_go_between_the_frames_of_a_long_message_uring, gw_pings_go_between_the_frames_of_a_long_message_epoll;
    sigterm_closes_open_websockets_with_1001_and_waits_for_the_answers => sigterm_closes_open_websockets_with_1001_and_waits_for_the_answers_uring, sigterm_closes_open_websockets_with_1001_and_waits_for_the_answers_epoll;
    a_reload_leaves_an_open_websocket_on_its_limits => a_reload_leaves_an_open_websocket_on_its_limits_uring, a_reload_leaves_an_open_websocket_on_its_limits_epoll;
    frames_that_break_the_protocol_get_1002_and_the_worker_goes_on => frames_that_break_the_protocol_get_1002_and_the_worker_goes_on_uring, frames_that_break_the_protocol_get_1002_and_the_worker_goes_on_epoll;
    permessage_deflate_from_the_upstream_allows_rsv1 => permessage_deflate_from_the_upstream_allows_rsv1_uring, permessage_deflate_from_the_upstream_allows_rsv1_epoll;
    a_websocket_over_tls => a_websocket_over_tls_uring, a_websocket_over_tls_epoll;
    the_python_websockets_library_through_gw_with_permessage_deflate => the_python_websockets_library_through_gw_with_permessage_deflate_uring, the_python_websockets_library_through_gw_with_permessage_deflate_epoll;
    the_python_websockets_library_as_the_upstream_reads_gws_closes => the_python_websockets_library_as_the_upstream_reads_gws_closes_uring, the_python_websockets_library_as_the_upstream_reads_gws_closes_epoll;
    metrics_count_open_websockets_and_messages => metrics_count_open_websockets_and_messages_uring, metrics_count_open_websockets_and_messages_epoll;
}

/// A config: `route GET /chat websocket` to `up` with these `websocket { }` settings.
fn chat_config(up: &WsUpstream, settings: &str) -> String {
    format!(
        "{}route GET /chat websocket {{\n  websocket {{ {settings} }}\n  upstream ws\n}}\n",
        upstream_block("ws", &[up.addr], "")
    )
}

fn text_binary_fragmented_and_a_mebibyte_echo_through(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start(d, &chat_config(&up, "max_message 2MiB"));
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | TEXT, "héllo".as_bytes());
    assert_eq!(ws.message(), (TEXT, "héllo".as_bytes().to_vec()));
    // a frame that arrives a byte at a time
    for b in encode(FIN | TEXT, b"slowly", Some([1, 2, 3, 4])) {
        ws.send_raw(&[b]);
        thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(ws.message(), (TEXT, b"slowly".to_vec()));
    let bin: Vec<u8> = (0..=255u8).collect();
    ws.send(FIN | BINARY, &bin);
    assert_eq!(ws.message(), (BINARY, bin));
    // three fragments with a ping between two of them
    ws.send(TEXT, b"frag");
    ws.send(FIN | PING, b"between");
    ws.send(0, b"men");
    ws.send(FIN, b"ted");
    assert_eq!(ws.message(), (TEXT, b"fragmented".to_vec()));
    // a 1 MiB message, sent in one frame, and in 64 KiB fragments
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    ws.send(FIN | BINARY, &big);
    assert_eq!(ws.message(), (BINARY, big.clone()));
    for (i, part) in big.chunks(64 << 10).enumerate() {
        let op = if i == 0 { BINARY } else { 0 };
        let fin = if (i + 1) * (64 << 10) >= big.len() {
            FIN
        } else {
            0
        };
        ws.send(fin | op, part);
    }
    assert_eq!(ws.message(), (BINARY, big));
    assert_eq!(up.seen.lock().unwrap().messages, 6);

    // a frame sent with the upgrade request, before the 101: it is relayed after it
    let mut s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut bytes = upgrade_request("/chat").into_bytes();
    bytes.extend(encode(FIN | TEXT, b"eager", Some([7, 7, 7, 7])));
    s.write_all(&bytes).unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 101"));
    let mut eager = Ws {
        s: Box::new(s),
        client: true,
        head: String::new(),
    };
    assert_eq!(eager.message(), (TEXT, b"eager".to_vec()));
    ws.close(1000, "done");
    assert_eq!(ws.expect_close(), (1000, "done".to_owned()));
    ws.expect_end();
    assert_eq!(up.closes(), [(1000, "done".to_owned())]);
}

fn pings_pass_and_a_close_from_either_side_reaches_the_other(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start(d, &chat_config(&up, ""));
    let mut ws = open(&gw, "/chat");
    // the client's ping reaches the upstream, whose pong comes back
    ws.send(FIN | PING, b"are you there");
    let f = ws.recv().unwrap();
    assert_eq!(
        (f.op(), f.payload.as_slice()),
        (PONG, &b"are you there"[..])
    );
    assert!(!f.masked);
    // the upstream's ping reaches the client, whose pong reaches the upstream
    ws.send(FIN | TEXT, b"cmd:ping");
    let f = ws.recv().unwrap();
    assert_eq!((f.op(), f.payload.as_slice()), (PING, &b"up-ping"[..]));
    ws.send(FIN | PONG, b"up-ping");
    // the upstream closes: its code and reason reach the client, whose answer reaches it
    ws.send(FIN | TEXT, b"cmd:close");
    assert_eq!(ws.expect_close(), (4001, "bye from upstream".to_owned()));
    ws.close(4001, "ok then");
    ws.expect_end();
    assert_eq!(up.wait_close(1), (4001, "ok then".to_owned()));
    assert_eq!(up.seen.lock().unwrap().pongs, [b"up-ping".to_vec()]);

    // and the client closes: its code and reason reach the upstream, whose answer comes back
    let mut ws = open(&gw, "/chat");
    ws.close(4321, "client leaves");
    assert_eq!(ws.expect_close(), (4321, "client leaves".to_owned()));
    ws.expect_end();
    assert_eq!(up.wait_close(2), (4321, "client leaves".to_owned()));

    // a side that goes without a Close: the other gets 1001
    drop(open(&gw, "/chat"));
    assert_eq!(up.wait_close(3), (1001, "peer went away".to_owned()));
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | TEXT, b"cmd:vanish");
    assert_eq!(ws.expect_close(), (1001, "peer went away".to_owned()));
    ws.expect_end();

    // a client gone in the middle of a frame: the upstream can be sent no Close, and gw
    // closes its connection
    let ended = up.seen.lock().unwrap().ended;
    let mut ws = open(&gw, "/chat");
    let frame = encode(FIN | BINARY, &[9; 100], Some([1, 2, 3, 4]));
    ws.send_raw(&frame[..50]);
    drop(ws);
    let deadline = Instant::now() + PATIENCE;
    while up.seen.lock().unwrap().ended == ended {
        assert!(
            Instant::now() < deadline,
            "the upstream's connection stays open"
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(up.closes().len(), 3, "no Close after half a frame");
}

fn idle_timeout_closes_both_sides_with_1001(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start(d, &chat_config(&up, "idle_timeout 3s"));
    let mut ws = open(&gw, "/chat");
    // a client that never answers gw's Close
    let mut deaf = open(&gw, "/chat");
    // traffic keeps it open past the timeout (a message every 200 ms: a busy machine may
    // stall the exchange for a while without reaching the timeout)
    let started = Instant::now();
    let mut quiet = Instant::now();
    for i in 0..18 {
        thread::sleep(Duration::from_millis(200));
        ws.send(FIN | TEXT, format!("{i}").as_bytes());
        assert_eq!(ws.message().1, format!("{i}").into_bytes());
        quiet = Instant::now();
    }
    assert!(started.elapsed() > Duration::from_millis(3600));
    // then silence
    assert_eq!(ws.expect_close(), (1001, "idle timeout".to_owned()));
    assert!(
        quiet.elapsed() >= Duration::from_millis(2900),
        "closed before 3s of silence"
    );
    ws.close(1001, "");
    ws.expect_end();
    assert_eq!(up.wait_close(2), (1001, "idle timeout".to_owned()));
    // the one that never answered is closed all the same, a while after its Close
    assert_eq!(deaf.expect_close(), (1001, "idle timeout".to_owned()));
    deaf.expect_end();
    assert_eq!(up.closes(), vec![(1001, "idle timeout".to_owned()); 2]);
}

fn max_message_closes_the_sender_with_1009(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start_with(
        d,
        &chat_config(&up, "max_message 1KiB"),
        &["--workers", "1"],
    );
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | BINARY, &[1; 1024]);
    assert_eq!(ws.message(), (BINARY, vec![1; 1024]));
    // two fragments adding up to more: the first passes, the second is refused
    ws.send(BINARY, &[2; 600]);
    ws.send(FIN, &[2; 600]);
    assert_eq!(ws.expect_close(), (1009, "message too big".to_owned()));
    drop(ws);
    assert_eq!(
        up.wait_close(1),
        (1001, "peer broke the protocol".to_owned())
    );

    // an upstream's message over the limit: the upstream gets 1009, the client 1001
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | TEXT, b"cmd:big 1025");
    assert_eq!(
        ws.expect_close(),
        (1001, "peer broke the protocol".to_owned())
    );
    ws.close(1000, "");
    assert_eq!(up.wait_close(2), (1009, "message too big".to_owned()));

    // the worker goes on
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | TEXT, b"still here");
    assert_eq!(ws.message(), (TEXT, b"still here".to_vec()));
}

fn ping_every_pings_the_client_and_closes_one_that_never_answers(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start(d, &chat_config(&up, "ping_every 1s"));
    // a client that answers stays open over several pings
    let mut ws = open(&gw, "/chat");
    let answering = thread::spawn(move || {
        for _ in 0..4 {
            let f = ws.recv().unwrap();
            assert_eq!(f.op(), PING, "{f:?}");
            assert!(!f.masked);
            assert!(f.payload.starts_with(b"gw ping "), "{f:?}");
            ws.send(FIN | PONG, &f.payload);
        }
        ws
    });
    // one that never answers gets a ping, then a Close, as does the upstream
    let mut silent = open(&gw, "/chat");
    let f = silent.recv().unwrap();
    assert_eq!(f.op(), PING);
    assert_eq!(silent.expect_close(), (1001, "no pong".to_owned()));
    silent.close(1001, "");
    silent.expect_end();
    assert_eq!(up.wait_close(1), (1001, "no pong".to_owned()));

    let mut ws = answering.join().unwrap();
    ws.send(FIN | TEXT, b"alive");
    assert_eq!(ws.message(), (TEXT, b"alive".to_vec()));
    // the pongs to gw's pings never reached the upstream
    assert!(up.seen.lock().unwrap().pongs.is_empty());
    assert_eq!(up.closes().len(), 1);
}

fn gw_pings_go_between_the_frames_of_a_long_message(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start(d, &chat_config(&up, "ping_every 1s; max_message 4MiB"));
    let mut ws = open(&gw, "/chat");
    // about 3 s of fragments, read in chunks that hold several frames
    ws.send(FIN | TEXT, b"cmd:stream 3000");
    let (mut fragments, mut pings) = (0, 0);
    loop {
        // a ping cut into a frame would read as garbage here
        let f = ws.recv().unwrap();
        match f.op() {
            PING => {
                pings += 1;
                ws.send(FIN | PONG, &f.payload);
            }
            BINARY | 0 => {
                let want = (fragments % 256) as u8;
                assert!(
                    f.payload.len() == 1000 && f.payload.iter().all(|b| *b == want),
                    "fragment {fragments} is not 1000 bytes of {want}: {:?}",
                    f.payload.get(..16)
                );
                fragments += 1;
                if f.fin() {
                    break;
                }
            }
            _ => panic!("{f:?}"),
        }
    }
    assert_eq!(fragments, 3000);
    assert!(pings >= 2, "{pings} pings during the message");
    ws.send(FIN | TEXT, b"after");
    assert_eq!(ws.message(), (TEXT, b"after".to_vec()));
}

fn sigterm_closes_open_websockets_with_1001_and_waits_for_the_answers(d: Driver) {
    let up = WsUpstream::start(None);
    let mut gw = Gw::start(d, &chat_config(&up, ""));
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | TEXT, b"hi");
    assert_eq!(ws.message().1, b"hi");
    gw.proc.signal("TERM");
    assert_eq!(ws.expect_close(), (1001, "gw is stopping".to_owned()));
    // gw waits for this answer before it exits
    ws.close(1001, "");
    ws.expect_end();
    assert_eq!(up.wait_close(1), (1001, "gw is stopping".to_owned()));
    let status = gw
        .proc
        .wait_timeout(PATIENCE)
        .expect("gw exits after SIGTERM");
    assert!(status.success(), "{status:?}");
}

fn a_reload_leaves_an_open_websocket_on_its_limits(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start(d, &chat_config(&up, "max_message 1KiB"));
    let mut old = open(&gw, "/chat");
    old.send(FIN | TEXT, b"before");
    assert_eq!(old.message().1, b"before");
    let file = gw.dir().join("e2e.gw");
    let config = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        config.replace("max_message 1KiB", "max_message 64KiB"),
    )
    .unwrap();
    gw.proc.signal("HUP");
    crate::auth::wait_reloaded(&gw, 1);
    // a new WebSocket gets the new limit
    let mut new = open(&gw, "/chat");
    new.send(FIN | BINARY, &[3; 2048]);
    assert_eq!(new.message(), (BINARY, vec![3; 2048]));
    // the open one keeps its own
    old.send(FIN | BINARY, &[1; 1024]);
    assert_eq!(old.message(), (BINARY, vec![1; 1024]));
    old.send(FIN | BINARY, &[3; 2048]);
    assert_eq!(old.expect_close(), (1009, "message too big".to_owned()));
    drop(old);

    // a reload that removes the route: an open WebSocket still has its route and limits
    let mut open_before = open(&gw, "/chat");
    let config = std::fs::read_to_string(&file).unwrap();
    let without = config.replace("route GET /chat websocket", "route GET /gone websocket");
    std::fs::write(&file, without).unwrap();
    gw.proc.signal("HUP");
    crate::auth::wait_reloaded(&gw, 2);
    let mut s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(upgrade_request("/chat").as_bytes()).unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 404"));
    open_before.send(FIN | BINARY, &[4; 2048]);
    assert_eq!(open_before.message(), (BINARY, vec![4; 2048]));
    open_before.send(FIN | BINARY, &[5; 65 * 1024]);
    assert_eq!(
        open_before.expect_close(),
        (1009, "message too big".to_owned())
    );
}

/// Bytes a client may not send, and the close code gw answers them with.
const ABUSE: &[(&str, &[u8], u16)] = &[
    (
        "a frame claiming 2^63 bytes",
        &[0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
        1002,
    ),
    ("an unmasked frame", &[0x81, 0x02, b'h', b'i'], 1002),
    ("a fragmented ping", &[0x09, 0x80, 1, 2, 3, 4], 1002),
    ("a reserved opcode", &[0x83, 0x80, 1, 2, 3, 4], 1002),
    ("a continuation first", &[0x80, 0x80, 1, 2, 3, 4], 1002),
    ("garbage", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1002),
    (
        "a close code 1005",
        &[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xed],
        1002,
    ),
];

fn frames_that_break_the_protocol_get_1002_and_the_worker_goes_on(d: Driver) {
    let up = WsUpstream::start(None);
    let gw = Gw::start_with(d, &chat_config(&up, ""), &["--workers", "1"]);
    let mut cases: Vec<(&str, Vec<u8>, u16)> =
        ABUSE.iter().map(|(n, b, c)| (*n, b.to_vec(), *c)).collect();
    // a 126-byte ping
    cases.push((
        "a 126-byte ping",
        encode(FIN | PING, &[0; 126], Some([9; 4])),
        1002,
    ));
    for (i, (name, bytes, code)) in cases.iter().enumerate() {
        let mut ws = open(&gw, "/chat");
        ws.send(FIN | TEXT, b"first");
        assert_eq!(ws.message().1, b"first", "{name}");
        ws.send_raw(bytes);
        let (got, reason) = ws.expect_close();
        assert_eq!(got, *code, "{name}: {reason}");
        drop(ws);
        assert_eq!(
            up.wait_close(i + 1),
            (1001, "peer broke the protocol".to_owned()),
            "{name}"
        );
    }
    // the upstream's side: a masked frame from a server
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | TEXT, b"cmd:masked");
    assert_eq!(
        ws.expect_close(),
        (1001, "peer broke the protocol".to_owned())
    );
    let n = cases.len() + 1;
    assert_eq!(up.wait_close(n), (1002, "masked server frame".to_owned()));
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | TEXT, b"after all that");
    assert_eq!(ws.message().1, b"after all that");
}

fn permessage_deflate_from_the_upstream_allows_rsv1(d: Driver) {
    const RSV1: u8 = 0x40;
    // the payload is opaque to gw: it relays a compressed frame as it is
    let up = WsUpstream::start(Some("permessage-deflate; server_no_context_takeover"));
    let gw = Gw::start(d, &chat_config(&up, ""));
    let mut ws = open(&gw, "/chat");
    assert!(
        ws.head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions: permessage-deflate"),
        "{}",
        ws.head
    );
    ws.send(
        FIN | RSV1 | TEXT,
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    );
    let f = ws.recv().unwrap();
    assert_eq!(f.b0, FIN | RSV1 | TEXT);
    assert_eq!(f.payload, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    // without the extension RSV1 breaks the protocol
    let plain = WsUpstream::start(None);
    let gw = Gw::start(d, &chat_config(&plain, ""));
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | RSV1 | TEXT, b"x");
    assert_eq!(ws.expect_close(), (1002, "reserved bit set".to_owned()));
}

fn a_websocket_over_tls(d: Driver) {
    use crate::tls::{client_config, pki, tls_block, tls_connect};
    let up = WsUpstream::start(None);
    let gw = Gw::start_listening(
        d,
        &tls_block(pki()),
        &chat_config(&up, "max_message 2MiB"),
        &[],
    );
    let s = tls_connect(gw.addr, "a.test", client_config(&[b"http/1.1"]));
    let mut ws = handshake(Box::new(s), "/chat");
    ws.send(FIN | TEXT, b"over tls");
    assert_eq!(ws.message(), (TEXT, b"over tls".to_vec()));
    let big = vec![5u8; 1 << 20];
    ws.send(FIN | BINARY, &big);
    assert_eq!(ws.message(), (BINARY, big));
    ws.send(FIN | TEXT, b"cmd:big 3000000");
    assert_eq!(
        ws.expect_close(),
        (1001, "peer broke the protocol".to_owned())
    );
    ws.close(1000, "");
    assert_eq!(up.wait_close(1), (1009, "message too big".to_owned()));
}

/// The client of Python's `websockets` library (scripts/install-test-deps.sh installs it): it
/// offers permessage-deflate, answers pings on its own, and checks every frame it gets.
const PYTHON_CLIENT: &str = r#"
import sys, time
from websockets.sync.client import connect
with connect(sys.argv[1], ping_interval=None, max_size=None) as ws:
    print("extensions", ",".join(e.name for e in ws.protocol.extensions))
    ws.send("héllo")
    assert ws.recv() == "héllo"
    data = bytes(range(256)) * 4096
    ws.send(data)
    assert ws.recv() == data
    ws.send(["frag", "men", "ted"])
    assert ws.recv() == "fragmented"
    # gw pings every second meanwhile: the library answers, or gw would close
    time.sleep(2.5)
    ws.send("still here")
    assert ws.recv() == "still here"
    ws.close(4000, "py done")
    print("closed", ws.close_code, ws.close_reason)
"#;

fn the_python_websockets_library_through_gw_with_permessage_deflate(d: Driver) {
    // the echo upstream accepts the client's offer: frames come back compressed as they went
    let up = WsUpstream::start(Some("permessage-deflate"));
    let gw = Gw::start(d, &chat_config(&up, "ping_every 1s; max_message 2MiB"));
    let out = std::process::Command::new("python3")
        .args(["-c", PYTHON_CLIENT, &format!("ws://{}/chat", gw.addr)])
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        "extensions permessage-deflate\nclosed 4000 py done\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(up.wait_close(1), (4000, "py done".to_owned()));
    assert!(
        up.seen.lock().unwrap().pongs.is_empty(),
        "gw's pongs reached the upstream"
    );
}

/// An echo server on Python's `websockets` library: prints its port, then the code and reason
/// of each connection's Close as it received it.
const PYTHON_SERVER: &str = r#"
import asyncio
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
async def echo(ws):
    try:
        async for m in ws:
            await ws.send(m)
    except ConnectionClosed:
        pass
    print("closed", ws.close_code, ws.close_reason, flush=True)
async def main():
    async with serve(echo, "127.0.0.1", 0, ping_interval=None, compression=None) as server:
        print("port", server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
"#;

fn the_python_websockets_library_as_the_upstream_reads_gws_closes(d: Driver) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new("python3")
        .args(["-c", PYTHON_SERVER])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _server = crate::support::gw::Proc(child);
    let port: u16 = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.strip_prefix("port ")?.parse().ok())
        .expect("the server's port");
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let config = format!(
        "{}route GET /chat websocket {{\n  websocket {{ idle_timeout 1s; max_message 1KiB }}\n  upstream ws\n}}\n",
        upstream_block("ws", &[addr], "")
    );
    let gw = Gw::start(d, &config);
    // gw's masked Close for the idle timeout, read by a server that checks what it gets
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | TEXT, b"hi");
    assert_eq!(ws.message(), (TEXT, b"hi".to_vec()));
    assert_eq!(ws.expect_close(), (1001, "idle timeout".to_owned()));
    ws.close(1001, "");
    let line = lines.next().and_then(Result::ok);
    assert_eq!(line.as_deref(), Some("closed 1001 idle timeout"));
    // and the Close after the client broke a limit
    let mut ws = open(&gw, "/chat");
    ws.send(FIN | BINARY, &[0; 2000]);
    assert_eq!(ws.expect_close(), (1009, "message too big".to_owned()));
    let line = lines.next().and_then(Result::ok);
    assert_eq!(line.as_deref(), Some("closed 1001 peer broke the protocol"));
    // a Close the client sends passes through as it came
    let mut ws = open(&gw, "/chat");
    ws.close(4002, "from the client");
    assert_eq!(ws.expect_close(), (4002, "from the client".to_owned()));
    let line = lines.next().and_then(Result::ok);
    assert_eq!(line.as_deref(), Some("closed 4002 from the client"));
}

fn metrics_count_open_websockets_and_messages(d: Driver) {
    let up = WsUpstream::start(None);
    let admin = format!("127.0.0.1:{}", crate::support::free_port());
    let gw = Gw::start(d, &format!("admin {admin}\n{}", chat_config(&up, "")));
    let metric = |name: &str, direction: Option<&str>| -> Option<f64> {
        let (_, text) = crate::operations::admin_get(&admin, "/metrics");
        let series = match direction {
            Some(d) => format!("{name}{{route=\"GET /chat\",direction=\"{d}\"}} "),
            None => format!("{name} "),
        };
        text.lines()
            .find_map(|l| l.strip_prefix(&series)?.parse().ok())
    };
    let mut a = open(&gw, "/chat");
    let mut b = open(&gw, "/chat");
    for i in 0..3 {
        a.send(FIN | TEXT, format!("a{i}").as_bytes());
        assert_eq!(a.message().1, format!("a{i}").into_bytes());
    }
    // a fragmented message counts once
    b.send(TEXT, b"b");
    b.send(FIN, b"1");
    assert_eq!(b.message().1, b"b1");
    // a scrape may come before the worker counted the last echo: wait for it
    let eventually = |name: &str, direction: Option<&str>, want: f64| {
        let deadline = Instant::now() + PATIENCE;
        while metric(name, direction) != Some(want) {
            assert!(
                Instant::now() < deadline,
                "{name} {direction:?} is {:?}, not {want}",
                metric(name, direction)
            );
            thread::sleep(Duration::from_millis(20));
        }
    };
    eventually("gw_websockets_open", None, 2.0);
    eventually("gw_websocket_messages_total", Some("to_upstream"), 4.0);
    eventually("gw_websocket_messages_total", Some("to_client"), 4.0);
    // the Prometheus client library's parser reads the same (a format error fails)
    let parsed = crate::operations::scrape(&admin);
    for direction in ["to_upstream", "to_client"] {
        assert!(
            parsed
                .iter()
                .any(|(n, labels, v)| n == "gw_websocket_messages_total"
                    && labels.get("direction").map(String::as_str) == Some(direction)
                    && labels.get("route").map(String::as_str) == Some("GET /chat")
                    && *v == 4.0),
            "{direction}: {parsed:?}"
        );
    }
    assert!(
        parsed
            .iter()
            .any(|(n, _, v)| n == "gw_websockets_open" && *v == 2.0),
        "{parsed:?}"
    );
    a.close(1000, "");
    assert_eq!(a.expect_close().0, 1000);
    a.expect_end();
    eventually("gw_websockets_open", None, 1.0);
    drop(b);
    eventually("gw_websockets_open", None, 0.0);
}
