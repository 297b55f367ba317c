//! One direction of a tunnel's writes: the frames relayed toward a peer, and gw's own (Ping,
//! Close) slotted in between them. gw's frames wait in `own` until the stream toward the
//! peer is between two frames; whoever holds the write half then (the relaying task after
//! a write, or the task that queued them when the lane sits idle) sends them.

use std::cell::{Cell, RefCell};
use std::task::{Poll, Waker};

use super::io::Out;

pub struct Lane<'a> {
    /// The write half; taken while a write is in progress.
    out: Cell<Option<Out<'a>>>,
    waiting: RefCell<Vec<Waker>>,
    /// What was written so far ends a frame.
    at_boundary: Cell<bool>,
    /// gw's own frames waiting for a boundary, and whether they end with a Close.
    own: RefCell<Vec<u8>>,
    own_close: Cell<bool>,
    /// A Close went out, or the peer is gone: nothing more is written.
    closed: Cell<bool>,
    /// A write failed.
    broken: Cell<bool>,
}

impl<'a> Lane<'a> {
    pub fn new(out: Out<'a>) -> Lane<'a> {
        Lane {
            out: Cell::new(Some(out)),
            waiting: RefCell::new(Vec::new()),
            at_boundary: Cell::new(true),
            own: RefCell::new(Vec::new()),
            own_close: Cell::new(false),
            closed: Cell::new(false),
            broken: Cell::new(false),
        }
    }

    /// A Close went out on this lane (or nothing more can).
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// What was written so far ends a frame.
    pub fn at_boundary(&self) -> bool {
        self.at_boundary.get()
    }

    /// A write failed: the peer is gone.
    pub fn is_broken(&self) -> bool {
        self.broken.get()
    }

    /// Nothing more goes out on this lane (its peer is gone).
    pub fn shut(&self) {
        self.closed.set(true);
    }

    /// gw's frames are still waiting for a boundary.
    pub fn has_own(&self) -> bool {
        !self.own.borrow().is_empty()
    }

    /// A Close of gw's own is queued or out.
    pub fn closing(&self) -> bool {
        self.own_close.get() || self.closed.get()
    }

    /// The write half, once no other task holds it.
    async fn take(&self) -> Out<'a> {
        std::future::poll_fn(|cx| match self.out.take() {
            Some(o) => Poll::Ready(o),
            None => {
                let mut w = self.waiting.borrow_mut();
                if !w.iter().any(|w| w.will_wake(cx.waker())) {
                    w.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
        .await
    }

    fn give(&self, o: Out<'a>) {
        self.out.set(Some(o));
        for w in self.waiting.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// The write half for the end of the tunnel, if no task kept it.
    pub fn into_out(self) -> Option<Out<'a>> {
        self.out.into_inner()
    }

    /// Write `buf` unless the lane is closed; a failed write breaks it.
    async fn put(&self, o: &mut Out<'a>, buf: Vec<u8>) -> Vec<u8> {
        if self.closed.get() || buf.is_empty() {
            return buf;
        }
        let (res, buf) = o.write(buf).await;
        if res.is_err() {
            self.broken.set(true);
            self.closed.set(true);
        }
        buf
    }

    async fn put_own(&self, o: &mut Out<'a>) {
        let own = std::mem::take(&mut *self.own.borrow_mut());
        if own.is_empty() {
            return;
        }
        self.put(o, own).await;
        if self.own_close.get() {
            self.closed.set(true);
        }
    }

    /// Relay `data`: frames as received, in which `cut` is the last offset between two frames
    /// (if any), ending a frame when `boundary`, and with a Close as its last frame when
    /// `close`. gw's waiting frames go in at `cut`. Gives `data`'s buffer back.
    pub async fn relay(
        &self,
        mut data: Vec<u8>,
        cut: Option<usize>,
        boundary: bool,
        close: bool,
    ) -> Vec<u8> {
        let mut o = self.take().await;
        if let Some(c) = cut.filter(|_| self.has_own()) {
            // rare (a ping or close is waiting): the tail is copied out and back
            let tail = data.split_off(c.min(data.len()));
            data = self.put(&mut o, data).await;
            self.put_own(&mut o).await;
            data.clear();
            data.extend_from_slice(&tail);
        }
        data = self.put(&mut o, data).await;
        self.at_boundary.set(boundary);
        if close && boundary {
            self.closed.set(true);
        }
        if boundary {
            self.put_own(&mut o).await;
        }
        self.give(o);
        data
    }

    /// Queue a frame of gw's own (`close`: a Close, after which nothing more goes) and send
    /// it now if the lane is idle between two frames. Nothing is queued after a Close.
    pub async fn send_own(&self, frame: &[u8], close: bool) {
        if self.closing() {
            return;
        }
        self.own.borrow_mut().extend_from_slice(frame);
        if close {
            self.own_close.set(true);
        }
        if !self.at_boundary.get() {
            return;
        }
        let Some(mut o) = self.out.take() else {
            // the holder sends them after its write
            return;
        };
        self.put_own(&mut o).await;
        self.give(o);
    }
}
