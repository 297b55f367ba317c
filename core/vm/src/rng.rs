//! `uuid()`: version 4 UUIDs from a per-thread wyrand generator seeded once from the OS
//! (getrandom), so a request id costs no system call. Ids are unique, not secrets: nothing in
//! gw uses them for authentication.

use std::cell::Cell;
use std::fmt::Write;

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    getrandom::u64().unwrap_or_else(|_| fallback_seed())
}

/// Without an OS generator (never on Linux ≥ 3.17): std's per-process random hash keys.
fn fallback_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x6777_2d75_7569_6421);
    h.finish()
}

/// wyrand: a 64-bit generator that passes BigCrush and PractRand.
fn next_u64() -> u64 {
    STATE.with(|state| {
        let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        // Folding the 128-bit product: the truncations are the point.
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// Append a random (version 4, RFC 9562) UUID in its 36-character form.
pub(crate) fn write_uuid_v4(out: &mut String) {
    let hi = (next_u64() & !0xf000) | 0x4000;
    let lo = (next_u64() & !(0b11 << 62)) | (0b10 << 62);
    let _ = write!(
        out,
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let mut s = String::new();
            write_uuid_v4(&mut s);
            assert_eq!(s.len(), 36, "{s}");
            let bytes = s.as_bytes();
            assert_eq!(bytes[14], b'4', "version nibble in {s}");
            assert!(
                matches!(bytes[19], b'8' | b'9' | b'a' | b'b'),
                "variant in {s}"
            );
            assert!([8, 13, 18, 23].iter().all(|&i| bytes[i] == b'-'), "{s}");
            assert!(seen.insert(s));
        }
    }
}
