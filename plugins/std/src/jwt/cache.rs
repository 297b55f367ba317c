//! The per-worker cache of verified tokens: a repeated token costs a hash lookup and a byte
//! comparison, not a signature check.
//!
//! Keyed by the token's bytes (hashed with a per-instance random ahash seed, so a client
//! cannot aim collisions; the stored bytes are compared on every hit). An entry lives until
//! the earliest of the token's `exp` (plus leeway) and the configured TTL. A key-set change
//! does not evict entries: a token verified under a key that was since removed stays accepted
//! until its entry expires, at most the TTL. Bounded: a full cache drops one entry for each
//! new one, and a periodic sweep drops the expired.

use std::collections::HashMap;
use std::rc::Rc;

use gw_program::Value;

struct Entry {
    token: Box<[u8]>,
    expires_ms: i64,
    locals: Rc<[(u16, Value)]>,
}

/// Verified tokens of one worker.
pub(crate) struct TokenCache {
    map: HashMap<u64, Entry>,
    hasher: ahash::RandomState,
    capacity: usize,
    ttl_ms: i64,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize, ttl_ms: i64) -> TokenCache {
        TokenCache {
            map: HashMap::with_capacity(capacity.min(1024)),
            hasher: ahash::RandomState::new(),
            capacity,
            ttl_ms,
        }
    }

    /// The values stored for `token` when it is cached and still valid at `now_ms`.
    pub(crate) fn get(&mut self, token: &[u8], now_ms: i64) -> Option<Rc<[(u16, Value)]>> {
        let h = self.hasher.hash_one(token);
        let e = self.map.get(&h)?;
        if *e.token != *token {
            return None;
        }
        if now_ms >= e.expires_ms {
            self.map.remove(&h);
            return None;
        }
        Some(e.locals.clone())
    }

    /// Remembers a verified token until the earliest of `expires_ms` and the TTL.
    pub(crate) fn put(
        &mut self,
        token: &[u8],
        now_ms: i64,
        expires_ms: Option<i64>,
        locals: Rc<[(u16, Value)]>,
    ) {
        if self.capacity == 0 || self.ttl_ms == 0 {
            return;
        }
        let until = now_ms
            .saturating_add(self.ttl_ms)
            .min(expires_ms.unwrap_or(i64::MAX));
        if until <= now_ms {
            return;
        }
        let h = self.hasher.hash_one(token);
        if self.map.len() >= self.capacity
            && !self.map.contains_key(&h)
            && let Some(k) = self.map.keys().next().copied()
        {
            self.map.remove(&k);
        }
        self.map.insert(
            h,
            Entry {
                token: token.into(),
                expires_ms: until,
                locals,
            },
        );
    }

    /// Drops the entries expired at `now_ms` (the instance's periodic tick).
    pub(crate) fn sweep(&mut self, now_ms: i64) {
        self.map.retain(|_, e| e.expires_ms > now_ms);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
