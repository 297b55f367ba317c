//! gw patch: multishot receive into a provided-buffer ring.
//!
//! One receive request stays armed on a socket and posts a completion for each arrival, taking
//! a buffer from a ring the kernel shares with this thread (IORING_REGISTER_PBUF_RING, Linux
//! 5.19; multishot receive, Linux 6.0). The reader copies the bytes out and gives the buffer
//! straight back, so no buffer is held by a socket while it waits.

use std::{
    cell::UnsafeCell,
    collections::VecDeque,
    io,
    os::unix::prelude::{AsRawFd, RawFd},
    rc::Rc,
    sync::atomic::{AtomicU16, Ordering},
    task::{Context, Poll, Waker},
};

use io_uring::{cqueue, opcode, types};

use super::{UringInner, CANCEL_USERDATA};
use crate::driver::{Inner, CURRENT};

/// Completions of multishot receives carry this bit in their user data, beside the slot.
pub(crate) const MULTI_TAG: u64 = 1 << 62;

/// The buffer group every multishot receive of this crate draws from.
const BGID: u16 = 0;
const IORING_REGISTER_PBUF_RING: libc::c_uint = 22;
const IORING_UNREGISTER_PBUF_RING: libc::c_uint = 23;

/// `struct io_uring_buf_reg`.
#[repr(C)]
struct BufReg {
    ring_addr: u64,
    ring_entries: u32,
    bgid: u16,
    flags: u16,
    resv: [u64; 3],
}

/// The thread's provided-buffer ring: `entries` slots of 16 bytes (`struct io_uring_buf`)
/// in memory shared with the kernel, and the buffers they point at.
pub(crate) struct BufRing {
    ring: *mut u8,
    ring_len: usize,
    store: Box<[u8]>,
    size: usize,
    mask: u16,
    tail: u16,
    uring_fd: RawFd,
}

impl BufRing {
    fn new(uring_fd: RawFd, entries: u16, size: usize) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || size == 0 || size > u32::MAX as usize {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let ring_len = entries as usize * 16;
        // Page-aligned and zeroed, as the kernel requires of the ring.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut br = BufRing {
            ring: ring.cast(),
            ring_len,
            store: vec![0; entries as usize * size].into_boxed_slice(),
            size,
            mask: entries - 1,
            tail: 0,
            uring_fd,
        };
        let reg = BufReg {
            ring_addr: ring as u64,
            ring_entries: entries as u32,
            bgid: BGID,
            flags: 0,
            resv: [0; 3],
        };
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                uring_fd,
                IORING_REGISTER_PBUF_RING,
                &reg as *const BufReg,
                1,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            // not registered: Drop must not unregister
            br.uring_fd = -1;
            return Err(e);
        }
        for bid in 0..entries {
            br.stage(bid);
        }
        br.publish();
        Ok(br)
    }

    fn stage(&mut self, bid: u16) {
        let slot = (self.tail & self.mask) as usize * 16;
        unsafe {
            let e = self.ring.add(slot);
            let addr = self.store.as_ptr().add(bid as usize * self.size) as u64;
            std::ptr::write_unaligned(e.cast::<u64>(), addr);
            std::ptr::write_unaligned(e.add(8).cast::<u32>(), self.size as u32);
            // bytes 14..16 of the first slot are the ring's tail: leave them alone
            std::ptr::write_unaligned(e.add(12).cast::<u16>(), bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // The kernel reads the tail without a lock: the slots must be visible first.
        unsafe { (*self.ring.add(14).cast::<AtomicU16>()).store(self.tail, Ordering::Release) };
    }

    /// Give buffer `bid` back to the kernel.
    fn put(&mut self, bid: u16) {
        if bid <= self.mask {
            self.stage(bid);
            self.publish();
        }
    }

    fn bytes(&self, bid: u16, from: u32, to: u32) -> &[u8] {
        let base = bid as usize * self.size;
        self.store
            .get(base + from as usize..base + to as usize)
            .unwrap_or(&[])
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if self.uring_fd >= 0 {
            let reg = BufReg {
                ring_addr: 0,
                ring_entries: 0,
                bgid: BGID,
                flags: 0,
                resv: [0; 3],
            };
            unsafe {
                libc::syscall(
                    libc::SYS_io_uring_register,
                    self.uring_fd,
                    IORING_UNREGISTER_PBUF_RING,
                    &reg as *const BufReg,
                    1,
                )
            };
        }
        unsafe { libc::munmap(self.ring.cast(), self.ring_len) };
    }
}

/// One armed (or re-armable) multishot receive.
pub(crate) struct Multi {
    queue: VecDeque<(i32, u32)>,
    waker: Option<Waker>,
    armed: bool,
    /// Its [`RecvMulti`] is gone: recycle what still arrives, free the slot at the last CQE.
    orphan: bool,
}

/// Per-driver state: the buffer ring and the multishot slots.
#[derive(Default)]
pub(crate) struct MultiState {
    bufs: Option<BufRing>,
    slots: Vec<Option<Multi>>,
    free: Vec<usize>,
    /// Most sockets with a multishot receive at a time.
    max: usize,
}

impl MultiState {
    pub(crate) fn complete(&mut self, slot: usize, res: i32, flags: u32) {
        let Some(Some(m)) = self.slots.get_mut(slot) else {
            return;
        };
        if !cqueue::more(flags) {
            m.armed = false;
        }
        if m.orphan {
            if let (Some(bid), Some(bufs)) = (cqueue::buffer_select(flags), self.bufs.as_mut()) {
                bufs.put(bid);
            }
            if !m.armed {
                self.slots[slot] = None;
                self.free.push(slot);
            }
            return;
        }
        m.queue.push_back((res, flags));
        if let Some(w) = m.waker.take() {
            w.wake();
        }
    }
}

/// Register this thread's provided-buffer ring: `entries` (a power of two) buffers of `size`
/// bytes, which the multishot receives of at most `sockets` sockets at a time fill (a socket
/// switched on beyond that keeps plain receives). Returns `Ok(false)` when the thread's
/// driver is not io_uring, and the kernel's error when it cannot register one.
pub fn register_buf_ring(entries: u16, size: usize, sockets: usize) -> io::Result<bool> {
    if !CURRENT.is_set() {
        return Ok(false);
    }
    CURRENT.with(|inner| match inner {
        Inner::Uring(this) => {
            let inner = unsafe { &mut *this.get() };
            if inner.multi.bufs.is_none() {
                let fd = inner.uring.as_raw_fd();
                inner.multi.bufs = Some(BufRing::new(fd, entries, size)?);
            }
            inner.multi.max = sockets;
            Ok(true)
        }
        #[allow(unreachable_patterns)]
        _ => Ok(false),
    })
}

/// A multishot receive on a socket: each arrival lands in a buffer of the thread's ring and
/// is copied out by [`RecvMulti::poll_recv`]. It is armed at the first poll and re-armed when
/// the kernel ends it; dropping it cancels it. The socket must stay open while it lives (the
/// kernel's request holds the file, so a socket closed under it would not send its FIN until
/// the request ends).
pub(crate) struct RecvMulti {
    driver: Rc<UnsafeCell<UringInner>>,
    slot: usize,
    fd: RawFd,
    /// A buffer partly copied out: (buffer id, bytes in it, bytes copied).
    cur: Option<(u16, u32, u32)>,
}

impl std::fmt::Debug for RecvMulti {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvMulti").field("fd", &self.fd).finish()
    }
}

impl RecvMulti {
    /// A multishot receive on `fd`, or `None` when this thread's driver is not io_uring, has
    /// no buffer ring ([`register_buf_ring`]) or has its most sockets on it already.
    pub(crate) fn new(fd: RawFd) -> Option<RecvMulti> {
        if !CURRENT.is_set() {
            return None;
        }
        CURRENT.with(|inner| match inner {
            Inner::Uring(this) => {
                let inner = unsafe { &mut *this.get() };
                let st = &mut inner.multi;
                st.bufs.as_ref()?;
                if st.slots.len() - st.free.len() >= st.max {
                    return None;
                }
                let m = Multi {
                    queue: VecDeque::new(),
                    waker: None,
                    armed: false,
                    orphan: false,
                };
                let slot = match st.free.pop() {
                    Some(s) => {
                        st.slots[s] = Some(m);
                        s
                    }
                    None => {
                        st.slots.push(Some(m));
                        st.slots.len() - 1
                    }
                };
                Some(RecvMulti {
                    driver: this.clone(),
                    slot,
                    fd,
                    cur: None,
                })
            }
            #[allow(unreachable_patterns)]
            _ => None,
        })
    }

    /// gw patch: `Some(true)` when the receive is armed and nothing has arrived (no bytes, no
    /// end of stream, no error), `Some(false)` when something has, `None` when it is not armed
    /// (the socket itself must be asked).
    pub(crate) fn quiet(&self) -> Option<bool> {
        if self.cur.is_some() {
            return Some(false);
        }
        let inner = unsafe { &*self.driver.get() };
        match inner.multi.slots.get(self.slot) {
            Some(Some(m)) if !m.queue.is_empty() => Some(false),
            Some(Some(m)) if m.armed => Some(true),
            _ => None,
        }
    }

    /// Ready once something has arrived (bytes, the end of the stream or an error), arming
    /// the receive if it is not: a reader can wait without holding a buffer.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.cur.is_some() {
            return Poll::Ready(Ok(()));
        }
        let inner = unsafe { &mut *self.driver.get() };
        let Some(Some(m)) = inner.multi.slots.get_mut(self.slot) else {
            return Poll::Ready(Err(io::Error::from(io::ErrorKind::Other)));
        };
        if let Some(&(res, _)) = m.queue.front() {
            // a kernel without multishot receive: let the caller know before it reads
            return Poll::Ready(if res == -libc::EINVAL {
                Err(io::Error::from_raw_os_error(libc::EINVAL))
            } else {
                Ok(())
            });
        }
        if m.armed {
            if !m.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                m.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        if let Err(e) = self.arm(inner) {
            return Poll::Ready(Err(e));
        }
        if let Some(Some(m)) = inner.multi.slots.get_mut(self.slot) {
            m.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    fn arm(&self, inner: &mut UringInner) -> io::Result<()> {
        let sqe = opcode::RecvMulti::new(types::Fd(self.fd), BGID)
            .build()
            .user_data(MULTI_TAG | self.slot as u64);
        if inner.uring.submission().is_full() {
            inner.submit()?;
        }
        if unsafe { inner.uring.submission().push(&sqe) }.is_err() {
            return Err(io::Error::from(io::ErrorKind::Other));
        }
        if let Some(Some(m)) = inner.multi.slots.get_mut(self.slot) {
            m.armed = true;
        }
        Ok(())
    }

    /// Copy what has arrived into `dst` (`cap` bytes): `Ok(0)` at end of stream, and the
    /// socket's error as it comes. `ENOBUFS` means the ring ran dry and the receive ended; the caller reads the
    /// socket some other way once, and the next poll arms a new receive.
    /// # Safety
    /// `dst` must be valid for writes of `cap` bytes.
    pub(crate) unsafe fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        dst: *mut u8,
        cap: usize,
    ) -> Poll<io::Result<usize>> {
        let inner = unsafe { &mut *self.driver.get() };
        let st = &mut inner.multi;
        if cap == 0 {
            return Poll::Ready(Ok(0));
        }
        let mut done = 0;
        loop {
            if let Some((bid, len, off)) = self.cur {
                let Some(bufs) = st.bufs.as_mut() else {
                    return Poll::Ready(Err(io::Error::from(io::ErrorKind::Other)));
                };
                let src = bufs.bytes(bid, off, len);
                let n = src.len().min(cap - done);
                std::ptr::copy_nonoverlapping(src.as_ptr(), dst.add(done), n);
                done += n;
                let off = off + n as u32;
                if off < len {
                    self.cur = Some((bid, len, off));
                    return Poll::Ready(Ok(done));
                }
                bufs.put(bid);
                self.cur = None;
                // room left: take what else has arrived, up to an end or an error
                let next = st
                    .slots
                    .get_mut(self.slot)
                    .and_then(|m| m.as_mut())
                    .and_then(|m| match m.queue.front() {
                        Some(&(res, flags)) if res > 0 && done < cap => {
                            m.queue.pop_front();
                            cqueue::buffer_select(flags).map(|bid| (bid, res as u32, 0))
                        }
                        _ => None,
                    });
                match next {
                    Some(cur) => {
                        self.cur = Some(cur);
                        continue;
                    }
                    None => return Poll::Ready(Ok(done)),
                }
            }
            let Some(Some(m)) = st.slots.get_mut(self.slot) else {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::Other)));
            };
            match m.queue.pop_front() {
                Some((res, flags)) => {
                    let bid = cqueue::buffer_select(flags);
                    if res > 0 {
                        if let Some(bid) = bid {
                            self.cur = Some((bid, res as u32, 0));
                            continue;
                        }
                        return Poll::Ready(Err(io::Error::from(io::ErrorKind::Other)));
                    }
                    if let (Some(bid), Some(bufs)) = (bid, st.bufs.as_mut()) {
                        bufs.put(bid);
                    }
                    return Poll::Ready(if res == 0 {
                        Ok(0)
                    } else {
                        Err(io::Error::from_raw_os_error(-res))
                    });
                }
                None => {
                    if !m.armed {
                        if let Err(e) = self.arm(inner) {
                            return Poll::Ready(Err(e));
                        }
                        if let Some(Some(m)) = inner.multi.slots.get_mut(self.slot) {
                            m.waker = Some(cx.waker().clone());
                        }
                    } else if !m.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        m.waker = Some(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for RecvMulti {
    fn drop(&mut self) {
        let inner = unsafe { &mut *self.driver.get() };
        let st = &mut inner.multi;
        if let (Some((bid, _, _)), Some(bufs)) = (self.cur.take(), st.bufs.as_mut()) {
            bufs.put(bid);
        }
        let Some(Some(m)) = st.slots.get_mut(self.slot) else {
            return;
        };
        let armed = m.armed;
        let queued: Vec<u32> = m.queue.drain(..).map(|(_, f)| f).collect();
        if let Some(bufs) = st.bufs.as_mut() {
            for bid in queued.into_iter().filter_map(cqueue::buffer_select) {
                bufs.put(bid);
            }
        }
        if !armed {
            st.slots[self.slot] = None;
            st.free.push(self.slot);
            return;
        }
        m.orphan = true;
        m.waker = None;
        let cancel = opcode::AsyncCancel::new(MULTI_TAG | self.slot as u64)
            .build()
            .user_data(CANCEL_USERDATA);
        unsafe {
            if inner.uring.submission().push(&cancel).is_err() {
                let _ = inner.submit();
                let _ = inner.uring.submission().push(&cancel);
            }
        }
    }
}
