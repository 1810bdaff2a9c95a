//! Soak: seeded random operations from several threads across 50 session
//! slots for a bounded time, with exact byte accounting after every step
//! and descriptors, threads and children back to their baseline at the end.
//!
//! Every child is the same small program that writes exactly what it is
//! told to, on a raw terminal (no echo, no `\n` to `\r\n`), so the test
//! knows every byte each child wrote:
//!
//! - `o<N>` writes N bytes of `x`;
//! - `m<K>` writes the marker `M<K>M`;
//! - `q` exits.
//!
//! After every read-like step (`poll`, `read`, `write_stdin`, `wait_for`,
//! `poll_quiet`) the step's offsets must continue the ledger: it starts
//! where the last one ended plus what the buffer dropped, it returns
//! exactly `end - start` bytes, and returned + dropped never exceeds what
//! the child was told to write. At every marker (and at a clean exit)
//! returned + dropped must *equal* what the child wrote, to the byte.
//!
//! Environment: `BGTERM_SOAK_SECS` (default 60 under CI, else 15),
//! `BGTERM_SOAK_SEED` (default: from the clock; printed at the start, so a
//! failure can be replayed: each thread's sequence of operations follows
//! from the seed, though their interleaving is up to the scheduler).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgterm::crossbeam_channel::Receiver;
use bgterm::{Error, PollResult, Session, SessionBuilder, SessionEvent};
use common::{LONG, fds, threads};

const SLOTS: usize = 50;
const THREADS: usize = 4;

/// The child: writes exactly what it is told (see the module docs).
const CHILD: &str = "stty raw -echo; echo READY; \
    while IFS= read -r l; do case $l in \
    o*) head -c \"${l#o}\" /dev/zero | tr '\\0' x;; \
    m*) printf 'M%sM' \"${l#m}\";; \
    q) exit 0;; esac; done";

/// `READY\n`, the first thing every child writes.
const READY: u64 = 6;

/// splitmix64: small, seedable, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One live session and its ledger.
struct Live {
    s: Session,
    /// Bytes the child has been told to write (exact while `exact`).
    written: u64,
    /// Returned + dropped so far: where the next read must start.
    consumed: u64,
    /// False once the child may have been cut short (stop, kill).
    exact: bool,
    marks: u64,
    events: Option<Receiver<SessionEvent>>,
}

impl Live {
    /// Checks a read-like step and advances the ledger.
    fn took(&mut self, r: &PollResult, what: &str) {
        let id = self.s.id();
        assert_eq!(
            r.start_offset,
            self.consumed + r.dropped_bytes,
            "{id} {what}: a read must start where the last ended, plus the drops"
        );
        assert_eq!(
            r.text.len() as u64,
            r.end_offset - r.start_offset,
            "{id} {what}: returned bytes"
        );
        assert!(
            r.text
                .bytes()
                .all(|b| b == b'x' || b == b'M' || b.is_ascii_digit()),
            "{id} {what}: only what the child was told to write: {:?}",
            &r.text[..r.text.len().min(80)]
        );
        self.consumed = r.end_offset;
        self.check_bound(what);
    }

    fn check_bound(&self, what: &str) {
        assert!(
            self.consumed <= self.written || !self.exact,
            "{} {what}: returned + dropped {} exceeds what the child wrote, {}",
            self.s.id(),
            self.consumed,
            self.written
        );
    }

    /// Sends a marker and waits for it: returned + dropped is then exactly
    /// what the child wrote.
    fn sync(&mut self) {
        self.marks += 1;
        let marker = format!("M{}M", self.marks);
        self.s.send(&format!("m{}\n", self.marks)).unwrap();
        self.written += marker.len() as u64;
        let m = self
            .s
            .wait_for_from(self.consumed, marker.as_str(), Some(LONG))
            .unwrap();
        assert_eq!(
            m.start_offset,
            self.consumed + m.dropped_bytes,
            "{} marker",
            self.s.id()
        );
        assert_eq!(m.before.len() as u64, m.match_start - m.start_offset);
        self.consumed = m.match_end;
        assert_eq!(
            self.consumed,
            self.written,
            "{}: returned + dropped must equal what the child wrote",
            self.s.id()
        );
        assert_eq!(self.s.output_offset().unwrap(), self.written);
    }

    /// Reads to the end after the child exited.
    fn drain(&mut self) {
        let deadline = Instant::now() + LONG;
        loop {
            let r = self.s.poll(Duration::from_millis(100)).unwrap();
            self.took(&r, "drain");
            if !r.running && r.remaining_bytes == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "{}: no end", self.s.id());
        }
    }

    fn finish_events(&mut self) {
        if let Some(rx) = self.events.take() {
            finish_events(self.s.id(), &rx);
        }
    }
}

/// The subscription's last event is `Exited` or `Closed`, then it
/// disconnects; output events never go back.
fn finish_events(id: bgterm::SessionId, rx: &Receiver<SessionEvent>) {
    let deadline = Instant::now() + LONG;
    let mut last = None;
    let mut end = 0;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(e) => {
                if let SessionEvent::Output {
                    start, end: e_end, ..
                } = &e
                {
                    assert!(*start >= end, "{id}: output events go forward");
                    end = *e_end;
                }
                last = Some(e);
            }
            Err(bgterm::crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("{id}: the event stream did not end: {e}"),
        }
    }
    assert!(
        matches!(
            last,
            Some(SessionEvent::Exited { .. } | SessionEvent::Closed { .. })
        ),
        "{id}: the stream ended with {last:?}"
    );
}

fn start(rng: &mut Rng) -> Live {
    let mut b = SessionBuilder::new(CHILD);
    if rng.chance(40) {
        // Drops, often; at least a marker's length, so a marker is never
        // evicted before its waiter looks (nothing follows it).
        b = b.max_buffer_bytes(64 + rng.below(8192) as usize);
    }
    if rng.chance(20) {
        b = b.screen(true);
    }
    let s = b.spawn().unwrap();
    let m = s.wait_for_from(0, "READY\n", Some(LONG)).unwrap();
    let mut live = Live {
        s,
        written: READY,
        consumed: 0,
        exact: true,
        marks: 0,
        events: None,
    };
    assert_eq!(m.match_end, READY);
    live.consumed = READY;
    live
}

/// One random step on `slot`.
fn step(rng: &mut Rng, slot: &mut Option<Live>) {
    let Some(live) = slot.as_mut() else {
        *slot = Some(start(rng));
        return;
    };
    match rng.below(100) {
        0..=19 => {
            let n = if rng.chance(5) {
                rng.below(300_000)
            } else {
                rng.below(20_000)
            };
            match live.s.send(&format!("o{n}\n")) {
                Ok(()) => live.written += n,
                Err(Error::SessionExited { .. }) => assert!(!live.exact),
                Err(e) => panic!("{e:?}"),
            }
        }
        20..=29 => {
            let r = live.s.poll(Duration::from_millis(rng.below(30))).unwrap();
            live.took(&r, "poll");
        }
        30..=37 => {
            let r = live.s.read_with_limit(1 + rng.below(70_000) as usize).unwrap();
            live.took(&r, "read");
        }
        38..=41 if live.exact => {
            let r = live
                .s
                .write_stdin("o10\n", Duration::from_millis(rng.below(20)))
                .unwrap();
            live.written += 10;
            live.took(&r, "write_stdin");
        }
        42..=44 => {
            let r = live
                .s
                .poll_quiet(Duration::from_millis(50), Duration::from_millis(10))
                .unwrap();
            live.took(&r, "poll_quiet");
        }
        45..=54 if live.exact => live.sync(),
        55..=59 => {
            let (rows, cols) = (1 + rng.below(100) as u16, 1 + rng.below(300) as u16);
            live.s.resize(rows, cols).unwrap();
            assert_eq!(live.s.size().unwrap(), (rows, cols));
        }
        60..=66 => {
            let n = 1 + rng.below(30) as usize;
            match rng.below(4) {
                0 => assert!(live.s.display(n).unwrap().lines.len() <= n),
                1 => {
                    let c = live.s.capture_range(0, n).unwrap();
                    assert!(c.lines.len() <= n);
                }
                2 => {
                    let info = live.s.info().unwrap();
                    assert_eq!(info.size, live.s.size().unwrap());
                }
                _ => {
                    live.s.logs(n).unwrap();
                }
            }
        }
        67..=70 if live.events.is_none() => {
            live.events = Some(
                live.s
                    .subscribe_with_capacity(3 + rng.below(60) as usize)
                    .unwrap(),
            );
        }
        71..=73 => {
            // Stop: the child may be cut short; read on to the end.
            let stopped = live.s.stop(Duration::from_millis(rng.below(50))).unwrap();
            let _ = stopped.status;
            live.exact = false;
            live.drain();
            live.finish_events();
            live.s.close().unwrap();
            *slot = None;
        }
        74..=77 => {
            // A clean exit: everything accounted for, to the byte.
            if live.exact {
                live.sync();
                live.s.send("q\n").unwrap();
                assert!(live.s.wait(Some(LONG)).unwrap().is_some());
                live.drain();
                assert_eq!(live.consumed, live.written, "{} after its exit", live.s.id());
            }
            live.s.close().unwrap();
            live.finish_events();
            *slot = None;
        }
        78..=80 => {
            // Closed through a clone, from another thread's point of view.
            if live.exact && rng.chance(50) {
                live.sync();
            }
            let other = live.s.clone();
            std::thread::scope(|t| {
                t.spawn(|| other.close().unwrap());
            });
            assert!(matches!(live.s.read(), Err(Error::SessionClosed { .. })));
            live.finish_events();
            *slot = None;
        }
        81..=83 => {
            // Dropped without a close.
            let mut gone = slot.take().unwrap();
            let (id, events) = (gone.s.id(), gone.events.take());
            drop(gone);
            if let Some(rx) = events {
                finish_events(id, &rx);
            }
        }
        _ => {
            let r = live.s.read().unwrap();
            live.took(&r, "read");
        }
    }
}

/// Processes whose parent is this process (running or zombie).
fn children() -> Vec<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (_, rest) = stat.rsplit_once(')')?;
            let ppid = rest.split_whitespace().nth(1)?;
            (ppid == me).then_some(pid)
        })
        .collect()
}

#[test]
fn soak_random_operations_keep_every_byte_and_leak_nothing() {
    if !common::require("stty") || !common::require("head") || !common::require("tr") {
        return;
    }
    let secs: u64 = std::env::var("BGTERM_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if std::env::var_os("CI").is_some() { 60 } else { 15 });
    let seed: u64 = std::env::var("BGTERM_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    // Through stderr with Write: libtest captures only the print macros.
    let _ = writeln!(
        std::io::stderr(),
        "soak: seed {seed} for {secs} s (replay with BGTERM_SOAK_SEED={seed})"
    );

    // Warm up what is created once per process.
    let mut rng = Rng(seed);
    let mut w = start(&mut rng);
    w.sync();
    w.s.close().unwrap();
    let (fds_before, threads_before) = (fds(), threads());
    assert!(children().is_empty(), "children before: {:?}", children());

    let slots: Arc<Vec<Mutex<Option<Live>>>> = Arc::new((0..SLOTS).map(|_| Mutex::new(None)).collect());
    let steps = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = (0..THREADS as u64)
        .map(|t| {
            let slots = Arc::clone(&slots);
            let steps = Arc::clone(&steps);
            std::thread::spawn(move || {
                let mut rng = Rng(seed ^ (t + 1).wrapping_mul(0xa076_1d64_78bd_642f));
                while Instant::now() < until {
                    let i = rng.below(SLOTS as u64) as usize;
                    let mut slot = slots[i].lock().unwrap();
                    step(&mut rng, &mut slot);
                    steps.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    // End every session still open, half of them by a clean, exact exit.
    let mut open = 0;
    for (i, slot) in slots.iter().enumerate() {
        if let Some(mut live) = slot.lock().unwrap().take() {
            open += 1;
            if live.exact && i % 2 == 0 {
                live.sync();
                live.s.send("q\n").unwrap();
                assert!(live.s.wait(Some(LONG)).unwrap().is_some());
                live.drain();
                assert_eq!(live.consumed, live.written);
            }
            live.s.close().unwrap();
            live.finish_events();
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "soak: {} steps, {open} sessions open at the end",
        steps.load(Ordering::Relaxed)
    );
    drop(slots);
    assert!(
        steps.load(Ordering::Relaxed) > 100,
        "too few steps to mean anything"
    );
    assert_eq!(fds(), fds_before, "descriptors");
    let extra: Vec<u64> = threads().difference(&threads_before).copied().collect();
    assert!(extra.is_empty(), "threads left: {extra:?}");
    assert!(children().is_empty(), "children left: {:?}", children());
}
