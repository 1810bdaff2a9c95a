//! The bounded output buffer with an unread cursor.
//!
//! Pure data structure code: no I/O, no locking. Every position is an
//! *absolute* byte offset counted from the first byte the child ever wrote,
//! so offsets stay meaningful after old bytes are evicted.
//!
//! ```text
//!   evicted        retained (at most `capacity` bytes)
//! |.........|xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|
//!           ^start        ^cursor               ^end
//!                 already read | unread
//! ```
//!
//! Accounting invariant: every byte ever pushed is exactly one of
//! *returned* (read through the cursor), *dropped* (evicted before it was
//! read) or *unread* (between cursor and end).

use std::collections::VecDeque;

/// A bounded byte buffer with absolute offsets and an unread cursor.
#[derive(Debug)]
pub(crate) struct Ring {
    buf: VecDeque<u8>,
    capacity: usize,
    /// Absolute offset of `buf[0]`.
    start: u64,
    /// Absolute offset of the next unread byte; always in `start..=end`.
    cursor: u64,
    /// Unread bytes evicted since the last [`Ring::take`] (reported once).
    dropped_unreported: u64,
}

/// A span of unread bytes taken from the ring.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Taken {
    /// Absolute offset of the first byte of `bytes`.
    pub start: u64,
    /// The bytes, in order.
    pub bytes: Vec<u8>,
    /// Unread bytes that were evicted just before `start` since the previous
    /// take: the gap between the previous take's end and `start`.
    pub dropped: u64,
}

impl Ring {
    /// An empty ring that retains at most `capacity` bytes (`capacity >= 1`).
    pub(crate) fn new(capacity: usize) -> Ring {
        debug_assert!(capacity >= 1);
        Ring {
            buf: VecDeque::new(),
            capacity,
            start: 0,
            cursor: 0,
            dropped_unreported: 0,
        }
    }

    /// Absolute offset one past the newest byte (= bytes ever pushed).
    pub(crate) fn end(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    /// Absolute offset of the oldest retained byte.
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// Most bytes retained.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Absolute offset of the next unread byte.
    pub(crate) fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Bytes waiting between the cursor and the end.
    pub(crate) fn unread(&self) -> usize {
        (self.end() - self.cursor) as usize
    }

    /// Appends bytes, evicting the oldest if over capacity. Evicted bytes
    /// that had not been read are counted as dropped and the cursor moves
    /// past them; returns how many that was. Never fails and never blocks.
    pub(crate) fn push(&mut self, data: &[u8]) -> u64 {
        // Only the newest `capacity` bytes of `data` can ever be retained.
        let keep_from = data.len().saturating_sub(self.capacity);
        let overflow = (self.buf.len() + data.len()).saturating_sub(self.capacity);
        // Evict `overflow` bytes from the front: first old buffer content,
        // then (if `data` alone is too large) the head of `data` itself.
        let from_buf = overflow.min(self.buf.len());
        self.buf.drain(..from_buf);
        let new_start = self.start + overflow as u64;
        let lost = new_start.saturating_sub(self.cursor);
        self.dropped_unreported += lost;
        self.cursor = self.cursor.max(new_start);
        self.start = new_start;
        self.buf.extend(&data[keep_from..]);
        lost
    }

    /// Takes up to `max` unread bytes and advances the cursor past them.
    pub(crate) fn take(&mut self, max: usize) -> Taken {
        let start = self.cursor;
        let bytes = self.copy_range(start, start + (self.unread().min(max)) as u64);
        self.cursor += bytes.len() as u64;
        Taken {
            start,
            bytes,
            dropped: std::mem::take(&mut self.dropped_unreported),
        }
    }

    /// Puts back a dropped count that a [`take`](Self::take) reported but
    /// its caller could not pass on, so the next take reports it.
    pub(crate) fn restore_dropped(&mut self, dropped: u64) {
        self.dropped_unreported += dropped;
    }

    /// Moves the cursor to `offset` (clamped to the retained range) without
    /// returning anything; bytes skipped forward count as read.
    pub(crate) fn seek(&mut self, offset: u64) {
        self.cursor = offset.clamp(self.start, self.end());
    }

    /// Copies the retained bytes in `from..to` (absolute, clamped).
    pub(crate) fn copy_range(&self, from: u64, to: u64) -> Vec<u8> {
        let from = from.clamp(self.start, self.end());
        let to = to.clamp(from, self.end());
        let (a, b) = self.buf.as_slices();
        let lo = (from - self.start) as usize;
        let hi = (to - self.start) as usize;
        let mut out = Vec::with_capacity(hi - lo);
        if lo < a.len() {
            out.extend_from_slice(&a[lo..hi.min(a.len())]);
        }
        if hi > a.len() {
            out.extend_from_slice(&b[lo.saturating_sub(a.len())..hi - a.len()]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_what_was_pushed_once() {
        let mut r = Ring::new(16);
        r.push(b"hello ");
        r.push(b"world");
        let t = r.take(100);
        assert_eq!((t.start, &t.bytes[..], t.dropped), (0, &b"hello world"[..], 0));
        let t = r.take(100);
        assert_eq!((t.start, t.bytes.len()), (11, 0));
        r.push(b"!");
        assert_eq!(r.take(100).bytes, b"!");
    }

    #[test]
    fn max_splits_a_read() {
        let mut r = Ring::new(16);
        r.push(b"abcdef");
        assert_eq!(r.take(4).bytes, b"abcd");
        assert_eq!(r.unread(), 2);
        let t = r.take(4);
        assert_eq!((t.start, &t.bytes[..]), (4, &b"ef"[..]));
    }

    #[test]
    fn overflow_drops_oldest_unread_and_counts() {
        // Table: (capacity, pushes, expected text, expected dropped)
        type Case<'a> = (usize, &'a [&'a [u8]], &'a [u8], u64);
        let cases: &[Case] = &[
            (4, &[b"ab", b"cd"], b"abcd", 0),
            (4, &[b"abc", b"def"], b"cdef", 2),
            (4, &[b"abcdefgh"], b"efgh", 4),
            (1, &[b"a", b"b", b"c"], b"c", 2),
            (3, &[b"", b"xyz", b""], b"xyz", 0),
        ];
        for &(cap, pushes, text, dropped) in cases {
            let mut r = Ring::new(cap);
            for p in pushes {
                r.push(p);
            }
            let t = r.take(usize::MAX);
            assert_eq!(t.bytes, text, "cap {cap} pushes {pushes:?}");
            assert_eq!(t.dropped, dropped, "cap {cap} pushes {pushes:?}");
            assert_eq!(t.start, dropped);
        }
    }

    #[test]
    fn evicting_already_read_bytes_is_not_a_drop() {
        let mut r = Ring::new(4);
        r.push(b"abcd");
        assert_eq!(r.take(4).bytes, b"abcd");
        r.push(b"efgh");
        let t = r.take(4);
        assert_eq!((t.start, &t.bytes[..], t.dropped), (4, &b"efgh"[..], 0));
    }

    #[test]
    fn dropped_is_reported_once() {
        let mut r = Ring::new(2);
        r.push(b"abcd");
        assert_eq!(r.take(1).dropped, 2);
        assert_eq!(r.take(1).dropped, 0);
    }

    #[test]
    fn copy_range_spans_the_wrap_point() {
        let mut r = Ring::new(6);
        r.push(b"012345");
        r.take(3);
        r.push(b"678"); // forces VecDeque to wrap internally
        assert_eq!(r.copy_range(3, 9), b"345678");
        assert_eq!(r.copy_range(0, 100), b"345678", "clamped to retained range");
        assert_eq!(r.copy_range(5, 7), b"56");
    }

    #[test]
    fn seek_clamps() {
        let mut r = Ring::new(4);
        r.push(b"abcdef");
        r.seek(0);
        assert_eq!(r.cursor(), 2);
        r.seek(100);
        assert_eq!(r.cursor(), 6);
        r.seek(3);
        assert_eq!(r.take(10).bytes, b"def");
    }

    proptest! {
        /// Against a model that keeps every byte: each take returns exactly
        /// the bytes at its offsets, offsets are contiguous apart from the
        /// reported drops, and returned + dropped + unread == pushed.
        #[test]
        fn matches_a_model(
            cap in 1usize..64,
            ops in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..100).prop_map(Op::Push),
                    (0usize..80).prop_map(Op::Take),
                ],
                0..60,
            )
        ) {
            let mut r = Ring::new(cap);
            let mut all = Vec::new();
            let mut returned = 0u64;
            let mut dropped = 0u64;
            let mut next = 0u64;
            for op in ops {
                match op {
                    Op::Push(d) => {
                        let unreported_before = r.dropped_unreported;
                        all.extend_from_slice(&d);
                        let lost = r.push(&d);
                        prop_assert_eq!(lost, r.dropped_unreported - unreported_before);
                    }
                    Op::Take(max) => {
                        let t = r.take(max);
                        prop_assert_eq!(t.start, next + t.dropped);
                        let s = t.start as usize;
                        prop_assert_eq!(&t.bytes[..], &all[s..s + t.bytes.len()]);
                        prop_assert!(t.bytes.len() <= max);
                        returned += t.bytes.len() as u64;
                        dropped += t.dropped;
                        next = t.start + t.bytes.len() as u64;
                    }
                }
                prop_assert!(r.end() - r.start() <= cap as u64);
                prop_assert_eq!(
                    returned + dropped + r.dropped_unreported + r.unread() as u64,
                    all.len() as u64
                );
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(Vec<u8>),
        Take(usize),
    }
}
