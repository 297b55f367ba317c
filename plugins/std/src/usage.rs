//! Quota counters of `throttle plan`, one per key id, and the usage file that keeps them over
//! restarts.
//!
//! A counter is one atomic word: the period it counts (its kind and its index, UTC) and the
//! requests counted in it. A request is counted by compare-and-swap, so workers never lose an
//! update and a quota admits exactly N. The word of a new period starts at zero.
//!
//! The usage file is text, one record per line, `ID WORD CHECK`: the key id, the word in hex,
//! and an FNV-1a checksum of both, so a damaged or truncated line is skipped (and reported)
//! without losing the others. It is replaced whole (a temporary file, fsync, rename), so a
//! crash leaves the previous version or the new one, never a mix.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bits of a counter word holding the count; the period sits above them.
const COUNT_BITS: u32 = 40;
/// The largest quota a counter holds.
pub(crate) const MAX_QUOTA: u64 = (1 << COUNT_BITS) - 1;
/// Bits of the period's index (above them, 2 bits of its kind).
const INDEX_BITS: u32 = 22;
/// First line of a usage file.
const HEADER: &str = "# gw usage v1";
/// How often the writer looks for changes to save.
pub(crate) const SAVE_EVERY: Duration = Duration::from_secs(1);

const DAY_MS: i64 = 86_400_000;

/// A quota's calendar period, in UTC. Weeks start on Monday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub(crate) fn parse(s: &str) -> Option<Period> {
        match s {
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    fn kind(self) -> u64 {
        match self {
            Period::Day => 1,
            Period::Week => 2,
            Period::Month => 3,
        }
    }

    /// The index of the period holding Unix time `unix_ms` (times before 1970 count as 1970).
    pub(crate) fn index(self, unix_ms: i64) -> u64 {
        let days = unix_ms.max(0) / DAY_MS;
        let i = match self {
            Period::Day => days,
            // 1970-01-01 was a Thursday: day 0 is the fourth day of its week
            Period::Week => (days + 3) / 7,
            Period::Month => {
                let (y, m, _) = civil_from_days(days);
                y * 12 + (m - 1)
            }
        };
        i.max(0) as u64
    }

    /// The Unix time (seconds) at which period `index` ends.
    pub(crate) fn end_secs(self, index: u64) -> i64 {
        let i = i64::try_from(index).unwrap_or(i64::MAX / DAY_MS);
        let days = match self {
            Period::Day => i.saturating_add(1),
            Period::Week => i.saturating_add(1).saturating_mul(7).saturating_sub(3),
            Period::Month => {
                let next = i.saturating_add(1);
                days_from_civil(next / 12, next % 12 + 1, 1)
            }
        };
        days.saturating_mul(86_400)
    }

    /// The tag of period `index` in a counter word.
    fn tag(self, index: u64) -> u64 {
        (self.kind() << INDEX_BITS) | (index & ((1 << INDEX_BITS) - 1))
    }
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix time `secs`.
pub(crate) fn utc_text(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// One key's quota counter: `tag << 40 | count`.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    fn with(word: u64) -> Counter {
        Counter(AtomicU64::new(word))
    }

    pub(crate) fn word(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Requests counted in period `index`.
    pub(crate) fn used(&self, period: Period, index: u64) -> u64 {
        let w = self.word();
        if w >> COUNT_BITS == period.tag(index) {
            w & MAX_QUOTA
        } else {
            0
        }
    }

    /// Count one request in period `index` under `quota`: the count after it, or `Err` when
    /// the period's quota is spent (nothing counted).
    pub(crate) fn take(&self, period: Period, index: u64, quota: u64) -> Result<u64, ()> {
        let tag = period.tag(index);
        let mut seen = self.word();
        loop {
            let used = if seen >> COUNT_BITS == tag {
                seen & MAX_QUOTA
            } else {
                0
            };
            if used >= quota.min(MAX_QUOTA) {
                return Err(());
            }
            let next = (tag << COUNT_BITS) | (used + 1);
            match self
                .0
                .compare_exchange_weak(seen, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(used + 1),
                Err(current) => seen = current,
            }
        }
    }
}

/// The counters by key id.
pub(crate) type Counters = BTreeMap<Box<str>, Arc<Counter>>;

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // a separator, so ("ab", "c") and ("a", "bc") differ
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The text of a usage file holding `counters`.
pub(crate) fn render(counters: &Counters) -> String {
    let mut out = String::with_capacity(64 * counters.len() + HEADER.len() + 1);
    out.push_str(HEADER);
    out.push('\n');
    for (id, c) in counters {
        let word = format!("{:x}", c.word());
        let check = fnv1a(&[id.as_bytes(), word.as_bytes()]);
        let _ = writeln!(out, "{id} {word} {check:016x}");
    }
    out
}

/// What a usage file held: its counters, and the lines that were damaged (1-based).
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub(crate) counters: Counters,
    pub(crate) damaged: Vec<usize>,
}

/// Parse a usage file's text; damaged lines (a wrong checksum, a cut-off record, another
/// header) are listed and skipped.
pub(crate) fn parse(text: &str) -> Loaded {
    let mut out = Loaded::default();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || (i == 0 && line == HEADER) {
            continue;
        }
        let mut parts = line.split(' ');
        let record = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(id), Some(word), Some(check), None) if !id.is_empty() => {
                let sum = fnv1a(&[id.as_bytes(), word.as_bytes()]);
                match (
                    u64::from_str_radix(word, 16),
                    u64::from_str_radix(check, 16),
                ) {
                    (Ok(w), Ok(c)) if c == sum && check.len() == 16 => Some((id, w)),
                    _ => None,
                }
            }
            _ => None,
        };
        match record {
            Some((id, w)) => {
                out.counters.insert(id.into(), Arc::new(Counter::with(w)));
            }
            None => out.damaged.push(i + 1),
        }
    }
    out
}

/// Read a usage file. A missing file holds nothing; an unreadable one is an error.
pub(crate) fn read(path: &Path) -> Result<Loaded, String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(parse(&String::from_utf8_lossy(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Loaded::default()),
        Err(e) => Err(format!("cannot read usage file {}: {e}", path.display())),
    }
}

/// Replace `path` with `text`: write a temporary file beside it, sync it, rename it over.
pub(crate) fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

enum Msg {
    /// Counters a new config counts in (added to those saved).
    Counters(Counters),
    /// Save now, then answer.
    Save(mpsc::Sender<()>),
}

/// The thread that saves the counters: at most once per [`SAVE_EVERY`] when they changed, and
/// once more when the last config using it goes away (at shutdown, after the workers stop).
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub(crate) path: PathBuf,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("path", &self.path).finish()
    }
}

impl Writer {
    /// Start saving `counters` to `path`. Without a thread (the system refused one), the
    /// counters are saved only at drop.
    /// Counts as they are now count as saved (they were just read from `path`), so a config
    /// that only loads (`gw check`) never rewrites the file of a gw that is serving.
    pub(crate) fn start(path: PathBuf, counters: Counters) -> Writer {
        let (tx, rx) = mpsc::channel();
        let at = path.clone();
        let saved = snapshot(&counters);
        let thread = std::thread::Builder::new()
            .name("gw-usage".into())
            .spawn(move || save_loop(&at, counters, saved, &rx))
            .map_err(|e| eprintln!("usage file {}: no writer thread: {e}", path.display()))
            .ok();
        Writer {
            tx: Some(tx),
            thread,
            path,
        }
    }

    /// Save the counters now, and wait (a little) until they are saved: gw is stopping.
    pub(crate) fn save_now(&self) {
        let (ack, done) = mpsc::channel();
        if let Some(tx) = &self.tx
            && tx.send(Msg::Save(ack)).is_ok()
        {
            let _ = done.recv_timeout(Duration::from_secs(10));
        }
    }

    /// Save these counters too (a reload's, which shares the counters of kept keys).
    pub(crate) fn add(&self, counters: Counters) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Counters(counters));
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // closing the channel asks for the last save
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn snapshot(c: &Counters) -> Vec<u64> {
    c.values().map(|c| c.word()).collect()
}

fn save_loop(path: &Path, mut counters: Counters, mut saved: Vec<u64>, rx: &mpsc::Receiver<Msg>) {
    let mut last = Instant::now();
    let mut closing = false;
    while !closing {
        let wait = SAVE_EVERY.saturating_sub(last.elapsed());
        let mut ack = None;
        match rx.recv_timeout(wait) {
            Ok(Msg::Counters(more)) => {
                counters.extend(more);
                saved.clear(); // the set changed: save it
                continue;
            }
            Ok(Msg::Save(a)) => ack = Some(a),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => closing = true,
        }
        let now = snapshot(&counters);
        if now != saved {
            match write_atomic(path, &render(&counters)) {
                Ok(()) => saved = now,
                Err(e) => eprintln!("usage file {}: cannot save: {e}", path.display()),
            }
        }
        if let Some(a) = ack {
            let _ = a.send(());
        }
        last = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i64, m: i64, d: i64) -> i64 {
        days_from_civil(y, m, d) * DAY_MS
    }

    #[test]
    fn periods_follow_the_utc_calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        let t = ms(2026, 3, 31) + DAY_MS - 1; // the last millisecond of March
        assert_eq!(Period::Month.index(t) + 1, Period::Month.index(t + 1));
        assert_eq!(
            Period::Month.end_secs(Period::Month.index(t)),
            ms(2026, 4, 1) / 1000
        );
        assert_eq!(
            Period::Month.end_secs(Period::Month.index(ms(2026, 12, 5))),
            ms(2027, 1, 1) / 1000
        );
        // 2026-03-02 is a Monday: the week before ends then
        let sunday = ms(2026, 3, 1);
        assert_eq!(
            Period::Week.end_secs(Period::Week.index(sunday)),
            ms(2026, 3, 2) / 1000
        );
        assert_eq!(
            Period::Week.index(sunday) + 1,
            Period::Week.index(ms(2026, 3, 2))
        );
        assert_eq!(
            Period::Day.end_secs(Period::Day.index(sunday + 5)),
            (sunday + DAY_MS) / 1000
        );
    }

    #[test]
    fn utc_text_is_rfc_3339() {
        assert_eq!(
            utc_text(ms(2027, 1, 1) / 1000 + 3661),
            "2027-01-01T01:01:01Z"
        );
    }

    #[test]
    fn a_counter_admits_exactly_its_quota_per_period() {
        let c = Counter::default();
        let ok = (0..10)
            .filter(|_| c.take(Period::Day, 7, 3).is_ok())
            .count();
        assert_eq!(ok, 3);
        assert_eq!(c.used(Period::Day, 7), 3);
        assert_eq!(c.used(Period::Day, 8), 0);
        assert_eq!(c.used(Period::Month, 7), 0, "another kind of period");
        assert_eq!(
            c.take(Period::Day, 8, 3),
            Ok(1),
            "a new period starts at zero"
        );
    }

    #[test]
    fn counters_are_exact_across_threads() {
        let c = Arc::new(Counter::default());
        let admitted: usize = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    (0..10_000)
                        .filter(|_| c.take(Period::Month, 1, 25_000).is_ok())
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(admitted, 25_000);
    }

    #[test]
    fn the_file_round_trips_and_damaged_lines_lose_only_themselves() {
        let mut counters = Counters::new();
        for (id, n) in [("acme", 5u64), ("globex", 7), ("initech", 9)] {
            let c = Counter::default();
            for _ in 0..n {
                c.take(Period::Day, 3, 100).unwrap();
            }
            counters.insert(id.into(), Arc::new(c));
        }
        let text = render(&counters);
        let back = parse(&text);
        assert!(back.damaged.is_empty());
        assert_eq!(back.counters["globex"].used(Period::Day, 3), 7);

        // a flipped digit in one record, and the file cut off inside the last
        let broken = text.replacen("globex ", "globez ", 1);
        let cut = &broken[..broken.len() - 5];
        let back = parse(cut);
        assert_eq!(back.damaged, vec![3, 4]);
        assert_eq!(back.counters["acme"].used(Period::Day, 3), 5);
        assert!(!back.counters.contains_key("globex"));
        // garbage is damage too, never a panic
        let back = parse("\u{0}\u{1}garbage\nacme\n a b c d e\n");
        assert_eq!(back.damaged, vec![1, 2, 3]);
    }

    #[test]
    fn the_writer_saves_changes_and_saves_at_drop() {
        let dir = std::env::temp_dir().join(format!("gw-usage-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.usage");
        let _ = std::fs::remove_file(&path);
        let c = Arc::new(Counter::default());
        let mut counters = Counters::new();
        counters.insert("k".into(), c.clone());
        let w = Writer::start(path.clone(), counters.clone());
        drop(w);
        assert!(!path.exists(), "nothing counted, nothing written");
        let w = Writer::start(path.clone(), counters);
        c.take(Period::Day, 1, 10).unwrap();
        drop(w);
        let back = read(&path).unwrap();
        assert_eq!(back.counters["k"].used(Period::Day, 1), 1);
        assert!(!dir.join("t.usage.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
