//! Process signals for `gw run`: SIGTERM and SIGINT stop gracefully, SIGHUP reloads, SIGUSR1
//! reopens the access log.
//!
//! The signals are blocked in the calling thread before the workers start (threads inherit
//! the mask), and the control thread takes them synchronously with `sigwait`: no handler, no
//! unsafe, no self-pipe.

use std::io;

use nix::sys::signal::{SigSet, Signal as NixSignal};

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM / SIGINT: graceful shutdown.
    Terminate,
    /// SIGHUP: re-read and recompile the config.
    Reload,
    /// SIGUSR1: reopen the access log file (log rotation).
    Reopen,
}

/// The blocked set; call [`Signals::block`] before starting any thread.
#[derive(Debug)]
pub struct Signals {
    set: SigSet,
}

impl Signals {
    /// Block SIGTERM, SIGINT, SIGHUP and SIGUSR1 in this thread (and every thread it starts).
    pub fn block() -> io::Result<Signals> {
        let mut set = SigSet::empty();
        set.add(NixSignal::SIGTERM);
        set.add(NixSignal::SIGINT);
        set.add(NixSignal::SIGHUP);
        set.add(NixSignal::SIGUSR1);
        set.thread_block().map_err(io::Error::from)?;
        Ok(Signals { set })
    }

    /// Wait for the next signal.
    pub fn wait(&self) -> io::Result<Signal> {
        loop {
            match self.set.wait().map_err(io::Error::from)? {
                NixSignal::SIGHUP => return Ok(Signal::Reload),
                NixSignal::SIGUSR1 => return Ok(Signal::Reopen),
                NixSignal::SIGTERM | NixSignal::SIGINT => return Ok(Signal::Terminate),
                _ => continue,
            }
        }
    }
}
