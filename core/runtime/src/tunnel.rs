//! A WebSocket connection after its 101: bytes relayed both ways without interpretation
//! until either side closes or the connection idles out.

use std::cell::RefCell;
use std::io::{BufRead, Write};
use std::rc::Rc;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, Splitable};
use monoio::net::TcpStream;

use crate::buffers::RecvBuf;
use crate::client_stream::ClientStream;
use crate::upstream::stream::UpStream;
use crate::worker::Worker;

/// Relay between the client and the upstream; `client_rb` / `up_rb` hold bytes already read
/// past the handshake.
pub async fn relay(
    w: &Worker,
    client: ClientStream,
    client_rb: RecvBuf,
    up: UpStream,
    up_rb: RecvBuf,
    idle: Duration,
) {
    let (client, up) = match (client, up) {
        (ClientStream::Plain(c), UpStream::Plain(u)) => (c, u),
        (client, up) => return relay_tls(w, client, client_rb, up, up_rb, idle).await,
    };
    let (cr, cw) = client.into_split();
    let (ur, uw) = up.into_split();
    let a = w.pool.big();
    let b = w.pool.big();
    let (a, b) = monoio::join!(
        copy(cr, uw, client_rb.unread().to_vec(), a, idle),
        copy(ur, cw, up_rb.unread().to_vec(), b, idle)
    );
    w.pool.put(a);
    w.pool.put(b);
}

/// Copy `src` to `dst` (after `first`), then shut `dst`'s write side down.
async fn copy<R: AsyncReadRent, W: AsyncWriteRent>(
    mut src: R,
    mut dst: W,
    first: Vec<u8>,
    mut buf: Vec<u8>,
    idle: Duration,
) -> Vec<u8> {
    if !first.is_empty() {
        let (r, _) = dst.write_all(first).await;
        if r.is_err() {
            return buf;
        }
    }
    loop {
        buf.clear();
        let read = monoio::time::timeout(idle, src.read(buf)).await;
        let Ok((res, b)) = read else {
            return Vec::new();
        };
        buf = b;
        match res {
            Ok(n) if n > 0 => {}
            _ => break,
        }
        let (res, b) = dst.write_all(buf).await;
        buf = b;
        if res.is_err() {
            return buf;
        }
    }
    let _ = dst.shutdown().await;
    buf
}

/// One end of a tunnel: its socket, its TLS state when it speaks TLS, the plaintext already
/// read past the handshake and the ciphertext read but not yet handed to rustls.
struct End {
    tcp: TcpStream,
    tls: Option<Rc<RefCell<rustls::Connection>>>,
    plain: Vec<u8>,
    cipher: Vec<u8>,
}

impl End {
    fn new(tcp: TcpStream, tls: Option<rustls::Connection>, rb: &RecvBuf, rest: Vec<u8>) -> End {
        End {
            tcp,
            tls: tls.map(|t| Rc::new(RefCell::new(t))),
            plain: rb.unread().to_vec(),
            cipher: rest,
        }
    }
}

fn end_of_client(client: ClientStream, rb: &RecvBuf) -> End {
    match client {
        ClientStream::Plain(s) => End::new(s, None, rb, Vec::new()),
        ClientStream::Tls(t) => {
            let (tcp, tls, rest) = t.into_parts();
            End::new(tcp, Some(tls), rb, rest)
        }
    }
}

fn end_of_upstream(up: UpStream, rb: &RecvBuf) -> End {
    match up {
        UpStream::Plain(s) => End::new(s, None, rb, Vec::new()),
        UpStream::Tls(t) => {
            let (tcp, tls, rest) = t.into_parts();
            End::new(tcp, Some(tls), rb, rest)
        }
    }
}

/// The relay when either side speaks TLS: each direction runs on its own half of the
/// sockets, decrypting what its source sends and encrypting what its destination gets; the
/// directions share each side's TLS state, borrowed only between awaits.
async fn relay_tls(
    w: &Worker,
    client: ClientStream,
    client_rb: RecvBuf,
    up: UpStream,
    up_rb: RecvBuf,
    idle: Duration,
) {
    let c = end_of_client(client, &client_rb);
    let u = end_of_upstream(up, &up_rb);
    let (cr, cw) = c.tcp.into_split();
    let (ur, uw) = u.tcp.into_split();
    let a = w.pool.big();
    let b = w.pool.big();
    let (a, b) = monoio::join!(
        pipe(
            (cr, c.tls.as_deref()),
            (uw, u.tls.as_deref()),
            (c.plain, c.cipher),
            a,
            idle
        ),
        pipe(
            (ur, u.tls.as_deref()),
            (cw, c.tls.as_deref()),
            (u.plain, u.cipher),
            b,
            idle
        )
    );
    w.pool.put(a);
    w.pool.put(b);
}

/// One direction: bytes read from `src` (decrypted when it speaks TLS) written to `dst`
/// (encrypted when it does), after `first` (plaintext, then ciphertext already read). When
/// `src` ends, `dst` gets a `close_notify` (TLS) and its write side shut down.
async fn pipe<R: AsyncReadRent, W: AsyncWriteRent>(
    (mut src, src_tls): (R, Option<&RefCell<rustls::Connection>>),
    (mut dst, dst_tls): (W, Option<&RefCell<rustls::Connection>>),
    first: (Vec<u8>, Vec<u8>),
    mut buf: Vec<u8>,
    idle: Duration,
) -> Vec<u8> {
    let (mut plain, cipher) = first;
    let mut tx = Vec::new();
    let take = |bytes: &[u8], plain: &mut Vec<u8>| match src_tls {
        Some(tls) => feed(&mut tls.borrow_mut(), bytes, plain),
        None => {
            plain.extend_from_slice(bytes);
            true
        }
    };
    let mut ok = take(&cipher, &mut plain);
    loop {
        if !plain.is_empty() {
            let (sent, p) = send(&mut dst, dst_tls, plain, &mut tx).await;
            plain = p;
            plain.clear();
            if !sent {
                return buf;
            }
        }
        if !ok {
            break;
        }
        buf.clear();
        let Ok((res, b)) = monoio::time::timeout(idle, src.read(buf)).await else {
            return Vec::new();
        };
        buf = b;
        match res {
            Ok(n) if n > 0 => ok = take(&buf, &mut plain),
            _ => break,
        }
    }
    if let Some(tls) = dst_tls {
        tls.borrow_mut().send_close_notify();
        tx.clear();
        let _ = tls.borrow_mut().write_tls(&mut tx);
        let (_, _) = dst.write_all(tx).await;
    }
    let _ = dst.shutdown().await;
    buf
}

/// Write `plain` to `dst`, encrypted by `tls` when there is one (`tx` holds the records).
/// False: the write failed.
async fn send<W: AsyncWriteRent>(
    dst: &mut W,
    tls: Option<&RefCell<rustls::Connection>>,
    plain: Vec<u8>,
    tx: &mut Vec<u8>,
) -> (bool, Vec<u8>) {
    let Some(tls) = tls else {
        let (res, plain) = dst.write_all(plain).await;
        return (res.is_ok(), plain);
    };
    let mut done = 0;
    while done < plain.len() {
        {
            let mut tls = tls.borrow_mut();
            let n = tls
                .writer()
                .write(plain.get(done..).unwrap_or(&[]))
                .unwrap_or(0);
            done += n;
            tx.clear();
            while tls.wants_write() {
                if tls.write_tls(tx).is_err() {
                    return (false, plain);
                }
            }
            if n == 0 && tx.is_empty() {
                return (false, plain);
            }
        }
        let (res, t) = dst.write_all(std::mem::take(tx)).await;
        *tx = t;
        if res.is_err() {
            return (false, plain);
        }
    }
    (true, plain)
}

/// Hand `cipher` to rustls and append the plaintext it yields to `plain`. False: the stream
/// ended (close_notify) or broke.
fn feed(tls: &mut rustls::Connection, mut cipher: &[u8], plain: &mut Vec<u8>) -> bool {
    loop {
        loop {
            let mut r = tls.reader();
            let n = match r.fill_buf() {
                Ok([]) => return false,
                Ok(chunk) => {
                    plain.extend_from_slice(chunk);
                    chunk.len()
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => return false,
            };
            r.consume(n);
        }
        if cipher.is_empty() {
            return true;
        }
        match tls.read_tls(&mut cipher) {
            Ok(n) if n > 0 => {}
            _ => return false,
        }
        if tls.process_new_packets().is_err() {
            return false;
        }
    }
}
