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
use crate::worker::Worker;

/// Relay between the client and the upstream; `client_rb` / `up_rb` hold bytes already read
/// past the handshake.
pub async fn relay(
    w: &Worker,
    client: ClientStream,
    client_rb: RecvBuf,
    up: TcpStream,
    up_rb: RecvBuf,
    idle: Duration,
) {
    let client = match client {
        ClientStream::Plain(s) => s,
        ClientStream::Tls(t) => return relay_tls(w, *t, client_rb, up, up_rb, idle).await,
        // an HTTP/2 request carries no Upgrade, so its route answers 426 before any tunnel
        ClientStream::H2(_) => return,
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

/// The relay of a TLS client: each direction runs on its own half of the socket, and both
/// share the TLS state, borrowed only between awaits.
async fn relay_tls(
    w: &Worker,
    client: crate::tls::TlsStream,
    client_rb: RecvBuf,
    up: TcpStream,
    up_rb: RecvBuf,
    idle: Duration,
) {
    let (tcp, tls, rest) = client.into_parts();
    let tls = Rc::new(RefCell::new(tls));
    let (cr, cw) = tcp.into_split();
    let (ur, uw) = up.into_split();
    let a = w.pool.big();
    let b = w.pool.big();
    let (a, b) = monoio::join!(
        decrypt(cr, &tls, uw, (client_rb.unread().to_vec(), rest), a, idle),
        encrypt(ur, &tls, cw, up_rb.unread().to_vec(), b, idle)
    );
    w.pool.put(a);
    w.pool.put(b);
}

/// Client to upstream: ciphertext read from `src`, its plaintext written to `dst`. `first`:
/// plaintext already read, then ciphertext already read.
async fn decrypt<R: AsyncReadRent, W: AsyncWriteRent>(
    mut src: R,
    tls: &RefCell<rustls::Connection>,
    mut dst: W,
    first: (Vec<u8>, Vec<u8>),
    mut buf: Vec<u8>,
    idle: Duration,
) -> Vec<u8> {
    let (mut plain, mut cipher) = first;
    loop {
        let ok = feed(&mut tls.borrow_mut(), &cipher, &mut plain);
        if !plain.is_empty() {
            let (res, p) = dst.write_all(plain).await;
            plain = p;
            plain.clear();
            if res.is_err() {
                break;
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
            Ok(n) if n > 0 => std::mem::swap(&mut cipher, &mut buf),
            _ => break,
        }
    }
    let _ = dst.shutdown().await;
    buf
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

/// Upstream to client: bytes read from `src` (after `first`), encrypted and written to `dst`.
async fn encrypt<R: AsyncReadRent, W: AsyncWriteRent>(
    mut src: R,
    tls: &RefCell<rustls::Connection>,
    mut dst: W,
    first: Vec<u8>,
    mut buf: Vec<u8>,
    idle: Duration,
) -> Vec<u8> {
    let mut plain = first;
    let mut tx = Vec::new();
    loop {
        let mut done = 0;
        while done < plain.len() {
            {
                let mut tls = tls.borrow_mut();
                let n = tls
                    .writer()
                    .write(plain.get(done..).unwrap_or(&[]))
                    .unwrap_or(0);
                done += n;
                while tls.wants_write() {
                    if tls.write_tls(&mut tx).is_err() {
                        return buf;
                    }
                }
                if n == 0 && tx.is_empty() {
                    return buf;
                }
            }
            let (res, t) = dst.write_all(tx).await;
            tx = t;
            tx.clear();
            if res.is_err() {
                return buf;
            }
        }
        plain.clear();
        buf.clear();
        let Ok((res, b)) = monoio::time::timeout(idle, src.read(buf)).await else {
            return Vec::new();
        };
        buf = b;
        match res {
            Ok(n) if n > 0 => std::mem::swap(&mut plain, &mut buf),
            _ => break,
        }
    }
    // the upstream closed: so does the TLS session
    tls.borrow_mut().send_close_notify();
    let _ = tls.borrow_mut().write_tls(&mut tx);
    let (_, _) = dst.write_all(tx).await;
    let _ = dst.shutdown().await;
    buf
}
