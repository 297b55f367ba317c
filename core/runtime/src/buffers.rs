//! Per-worker buffer pool and the receive buffer a connection reads into.
//!
//! Idle keep-alive connections hold only a small buffer (`SMALL`): the first read of a request
//! lands there, and a connection swaps it for a pooled `BIG` buffer only when a head or body
//! needs more room. That keeps 10,000 idle connections well under 4 KiB each.

use std::cell::RefCell;

/// Capacity of the buffer an idle connection waits with.
pub const SMALL: usize = 1024;
/// Capacity of a pooled I/O buffer.
pub const BIG: usize = 16 * 1024;
/// Buffers kept per size class; the rest are freed.
const KEEP: usize = 1024;

/// A worker's free lists. Single-threaded: shared between a worker's tasks by `Rc`.
#[derive(Debug, Default)]
pub struct BufPool {
    small: RefCell<Vec<Vec<u8>>>,
    big: RefCell<Vec<Vec<u8>>>,
}

impl BufPool {
    /// An empty pool.
    pub fn new() -> BufPool {
        BufPool::default()
    }

    /// A cleared buffer of `SMALL` capacity.
    pub fn small(&self) -> Vec<u8> {
        self.small
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(SMALL))
    }

    /// A cleared buffer of at least `BIG` capacity.
    pub fn big(&self) -> Vec<u8> {
        self.big
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BIG))
    }

    /// Return a buffer; its class is chosen by capacity. Oversized buffers are freed so one
    /// large request cannot pin memory in the pool.
    pub fn put(&self, mut buf: Vec<u8>) {
        buf.clear();
        let cap = buf.capacity();
        let list = if cap == SMALL {
            &self.small
        } else if (BIG..=BIG * 2).contains(&cap) {
            &self.big
        } else {
            return;
        };
        let mut list = list.borrow_mut();
        if list.len() < KEEP {
            list.push(buf);
        }
    }
}

/// Bytes received on one connection: `buf[pos..]` is unread.
#[derive(Debug, Default)]
pub struct RecvBuf {
    pub buf: Vec<u8>,
    pub pos: usize,
    /// Bytes received into it since it was made (the metrics' request bytes).
    pub received: u64,
}

impl RecvBuf {
    /// A receive buffer over `buf`.
    pub fn new(buf: Vec<u8>) -> RecvBuf {
        RecvBuf {
            buf,
            pos: 0,
            received: 0,
        }
    }

    /// The unread bytes.
    pub fn unread(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Number of unread bytes.
    pub fn len(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// No unread bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Mark `n` bytes as read.
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Move the unread bytes to the front so reads can append.
    pub fn compact(&mut self) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// Make room to read more: compact, then move to a pooled big buffer, then grow, never
    /// past `max` bytes held. False when the buffer already holds `max` bytes.
    pub fn reserve(&mut self, pool: &BufPool, max: usize) -> bool {
        if self.spare() > 0 {
            return true;
        }
        self.compact();
        if self.spare() > 0 {
            return true;
        }
        if self.buf.len() >= max {
            return false;
        }
        if self.buf.capacity() < BIG {
            let mut big = pool.big();
            big.extend_from_slice(&self.buf);
            let old = std::mem::replace(&mut self.buf, big);
            pool.put(old);
        } else {
            self.buf.reserve((max - self.buf.len()).min(BIG));
        }
        self.spare() > 0
    }

    /// Free space in the buffer.
    pub fn spare(&self) -> usize {
        self.buf.capacity() - self.buf.len()
    }

    /// When nothing is left unread, swap a big buffer back for a small one (idle connections
    /// keep only `SMALL` bytes).
    pub fn shrink_idle(&mut self, pool: &BufPool) {
        if self.is_empty() && self.buf.capacity() != SMALL {
            let old = std::mem::replace(&mut self.buf, pool.small());
            pool.put(old);
            self.pos = 0;
        }
    }

    /// A `SMALL` buffer again after [`RecvBuf::release`] (a connection that waited for its
    /// next request without one).
    pub fn refill(&mut self, pool: &BufPool) {
        if self.buf.capacity() == 0 {
            self.buf = pool.small();
            self.pos = 0;
        }
    }

    /// Give the buffer back to the pool.
    pub fn release(&mut self, pool: &BufPool) {
        pool.put(std::mem::take(&mut self.buf));
        self.pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_reuses_by_class() {
        let pool = BufPool::new();
        let mut b = pool.big();
        b.extend_from_slice(b"abc");
        let ptr = b.as_ptr();
        pool.put(b);
        let again = pool.big();
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.is_empty());
        // an odd-sized buffer is not kept
        pool.put(Vec::with_capacity(100));
        assert_eq!(pool.small().capacity(), SMALL);
    }

    #[test]
    fn recv_buf_grows_into_big_and_shrinks_when_idle() {
        let pool = BufPool::new();
        let mut r = RecvBuf::new(pool.small());
        r.buf.resize(SMALL, b'x');
        r.consume(10);
        // compaction makes room first
        assert!(r.reserve(&pool, 64 * 1024));
        assert_eq!((r.pos, r.buf.capacity()), (0, SMALL));
        r.buf.resize(SMALL, b'x');
        assert!(r.reserve(&pool, 64 * 1024));
        assert!(r.buf.capacity() >= BIG);
        assert_eq!(r.len(), SMALL);
        r.consume(r.len());
        assert!(r.is_empty());
        r.shrink_idle(&pool);
        assert_eq!(r.buf.capacity(), SMALL);
        // at the cap, no more room
        r.buf.resize(SMALL, b'y');
        assert!(!r.reserve(&pool, SMALL));
    }

    #[test]
    fn consume_resets_when_drained() {
        let mut r = RecvBuf::new(b"hello".to_vec());
        r.consume(2);
        assert_eq!(r.unread(), b"llo");
        r.consume(99);
        assert_eq!(r.pos, 0);
        assert!(r.buf.is_empty());
    }
}
