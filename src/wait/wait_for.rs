//! Waiting for text: `wait_for` and its forms.
//!
//! The waiter copies new output from the ring as it arrives (woken by the
//! pump, never by a timer) and searches it with the state lock released, so
//! a long search never holds up the pump or other callers. Literal patterns
//! are searched incrementally; a regular expression is re-run over the whole
//! window (since a new byte can complete a match that began anywhere), which
//! is bounded by what the ring retains: bytes the ring has evicted are
//! dropped from the window too, so a long wait on a chatty program holds
//! at most about one ring's worth of output.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::engine::core::Guard;
use crate::engine::decode::decode_lossy;
use crate::engine::state::State;
use crate::engine::tap::{Event, Tap};
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::limits::TAIL_CHARS;
use crate::session::handle::{Session, deadline_after};
use crate::wait::pattern::Patterns;

/// Bytes of already-searched output a waiter keeps for the tail of its
/// error (a character is at most 4 bytes).
const TAIL_KEEP_BYTES: usize = TAIL_CHARS * 4;

/// A successful [`Session::wait_for`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Match {
    /// Which pattern matched (its position in the [`Patterns`]).
    pub index: usize,
    /// The text the pattern matched.
    pub text: String,
    /// Unread output before the match (from the unread cursor to the
    /// match): returned here once, like a read, so nothing is lost.
    pub before: String,
    /// Absolute offset where `before` begins.
    pub start_offset: u64,
    /// Absolute offset of the first byte of the match.
    pub match_start: u64,
    /// Absolute offset one past the match; the unread cursor is now here.
    pub match_end: u64,
    /// Unread bytes the ring dropped before `start_offset` since the
    /// previous read.
    pub dropped_bytes: u64,
    /// With [`DecodeErrors::Strict`](crate::DecodeErrors::Strict): the
    /// absolute offset of the first malformed sequence in `before`, which
    /// then shows each one as U+FFFD. The match is delivered all the same
    /// (a wait never throws a match away over a decoding problem). Always
    /// `None` in the other modes, which never report one.
    pub invalid_at: Option<u64>,
}

impl Session {
    /// The absolute offset one past the newest output byte: the offset the
    /// next output will have. Take it before sending input, then pass it to
    /// [`wait_for_from`](Self::wait_for_from) to wait for what the input
    /// caused, with no race however fast the answer is.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn output_offset(&self) -> Result<u64> {
        self.with_state(|g| Ok(g.end()))
    }

    /// Waits until one of `patterns` appears in the output from the unread
    /// cursor on — output already buffered but not yet read counts, so
    /// start-then-wait has no race — for at most `timeout` (`None`: no
    /// limit).
    ///
    /// On success the unread cursor moves past the match; the unread text
    /// before it is in [`Match::before`]. To ignore what is already there
    /// (a stale prompt), use [`wait_for_new`](Self::wait_for_new).
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::{Pattern, Session};
    ///
    /// // The banner may be printed before the wait starts: it still counts.
    /// let s = Session::start("echo ready; read x; echo \"result: $((x * 2))\"")?;
    /// let m = s.wait_for("ready", Some(Duration::from_secs(10)))?;
    /// assert_eq!((m.text.as_str(), m.before.as_str()), ("ready", ""));
    ///
    /// // Several patterns report which matched.
    /// s.send("21\n")?;
    /// let m = s.wait_for(["error", "result: 42"], Some(Duration::from_secs(10)))?;
    /// assert_eq!((m.index, m.text.as_str()), (1, "result: 42"));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::WaitTimeout`] (with the tail of what was seen, how long it
    /// waited and how much output arrived meanwhile) when time runs out,
    /// [`Error::ExitedBeforeMatch`] if the child exits first,
    /// [`Error::SessionClosed`], [`Error::Unencodable`] for a literal the
    /// session's encoding cannot represent (it could never match). In
    /// strict decoding mode, malformed output before the match is reported
    /// in [`Match::invalid_at`], not as an error. A timeout of zero checks
    /// once and never blocks.
    pub fn wait_for(&self, patterns: impl Into<Patterns>, timeout: Option<Duration>) -> Result<Match> {
        self.expect(Origin::Cursor, patterns.into(), deadline_after(timeout))
    }

    /// [`wait_for`](Self::wait_for) until `deadline` (`None`: no limit).
    ///
    /// # Errors
    ///
    /// As for [`wait_for`](Self::wait_for).
    pub fn wait_for_deadline(
        &self,
        patterns: impl Into<Patterns>,
        deadline: Option<Instant>,
    ) -> Result<Match> {
        self.expect(Origin::Cursor, patterns.into(), deadline)
    }

    /// Like [`wait_for`](Self::wait_for), but matches only output that
    /// arrives *after this call starts*, so text already buffered (a stale
    /// prompt) never matches.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::{Pattern, Session};
    ///
    /// // A program that prints on its own: wait for its next line.
    /// let s = Session::start("i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done")?;
    /// let first = s.wait_for(Pattern::regex(r"tick \d+")?, Some(Duration::from_secs(10)))?;
    /// let next = s.wait_for_new(Pattern::regex(r"tick \d+")?, Some(Duration::from_secs(10)))?;
    /// assert!(next.match_start > first.match_start);
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`wait_for`](Self::wait_for).
    pub fn wait_for_new(&self, patterns: impl Into<Patterns>, timeout: Option<Duration>) -> Result<Match> {
        self.expect(Origin::End, patterns.into(), deadline_after(timeout))
    }

    /// [`wait_for_new`](Self::wait_for_new) until `deadline`.
    ///
    /// # Errors
    ///
    /// As for [`wait_for`](Self::wait_for).
    pub fn wait_for_new_deadline(
        &self,
        patterns: impl Into<Patterns>,
        deadline: Option<Instant>,
    ) -> Result<Match> {
        self.expect(Origin::End, patterns.into(), deadline)
    }

    /// Like [`wait_for`](Self::wait_for), but matches output from absolute
    /// offset `offset` on (clamped to what the ring still holds), including
    /// output that arrived before this call: the race-free way to wait for
    /// the answer to input.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::Session;
    ///
    /// let cat = Session::start(["cat"])?;
    /// let at = cat.output_offset()?;
    /// cat.send("ping\n")?;
    /// // However fast the echo came back, it is at or after `at`.
    /// let m = cat.wait_for_from(at, "ping", Some(Duration::from_secs(10)))?;
    /// assert!(m.match_start >= at);
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`wait_for`](Self::wait_for).
    pub fn wait_for_from(
        &self,
        offset: u64,
        patterns: impl Into<Patterns>,
        timeout: Option<Duration>,
    ) -> Result<Match> {
        self.expect(Origin::Offset(offset), patterns.into(), deadline_after(timeout))
    }

    /// [`wait_for_from`](Self::wait_for_from) until `deadline`.
    ///
    /// # Errors
    ///
    /// As for [`wait_for`](Self::wait_for).
    pub fn wait_for_from_deadline(
        &self,
        offset: u64,
        patterns: impl Into<Patterns>,
        deadline: Option<Instant>,
    ) -> Result<Match> {
        self.expect(Origin::Offset(offset), patterns.into(), deadline)
    }

    fn expect(&self, from: Origin, patterns: Patterns, deadline: Option<Instant>) -> Result<Match> {
        let patterns = Expect::encode(self, patterns)?;
        let encoding = self.encoding();
        let core = self.core()?;
        let mut g = core.lock()?;
        let mut expect = Expect::start(self, &mut g, from, patterns);
        loop {
            let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
            if let Some(done) = expect.step(&mut g, timed_out) {
                return done.and_then(|found| take_match(&mut g, encoding, found));
            }
            g = g.wait_until(deadline, |s| expect.changed(s))?;
        }
    }
}

/// A match found but not yet taken: (pattern index, start, end, matched
/// bytes).
pub(crate) type Found = (usize, u64, u64, Vec<u8>);

/// One `wait_for` in progress: the matching state that the blocking form
/// (which waits on the condvar) and the async form (which registers a
/// waker) both drive, one [`step`](Self::step) per wake-up, each under the
/// state lock.
pub(crate) struct Expect {
    id: SessionId,
    encoding: &'static encoding_rs::Encoding,
    patterns: Patterns,
    literal: bool,
    watch: Arc<Mutex<Watch>>,
    /// Ends the tap however the wait ends (also by a dropped future).
    _detach: Detach,
    /// Output not yet searched by the tap: a regex's window, or a
    /// literal's error tail.
    window: Vec<u8>,
    window_base: u64,
    found: Option<Found>,
    /// The output end at the last step: the wait goes on when it moves.
    seen_end: u64,
    /// The output end when the wait began.
    start_end: u64,
    started: Instant,
}

impl Expect {
    /// `patterns` in the session's encoding.
    ///
    /// # Errors
    ///
    /// [`Error::Unencodable`] for a literal the encoding cannot represent.
    pub(crate) fn encode(session: &Session, patterns: Patterns) -> Result<Patterns> {
        let encoding = session.encoding();
        patterns
            .encoded(encoding)
            .map_err(|character| Error::Unencodable {
                id: session.id(),
                encoding: encoding.name(),
                character,
            })
    }

    /// Starts waiting for `patterns` (encoded) in the output from `from`.
    pub(crate) fn start(session: &Session, g: &mut Guard<'_>, from: Origin, patterns: Patterns) -> Expect {
        // Under one lock: snapshot what the ring holds from `from`, and
        // attach a tap that sees every later byte, so nothing slips between
        // them and nothing the ring evicts later is missed.
        let end = g.end();
        let (base, window) = g.retained_from(match from {
            Origin::Cursor => g.cursor(),
            Origin::End => end,
            Origin::Offset(offset) => offset,
        });
        let literal = patterns.overlap().is_some();
        let watch = Arc::new(Mutex::new(Watch {
            patterns: literal.then(|| patterns.clone()),
            carry: window[window.len().saturating_sub(patterns.overlap().unwrap_or(0))..].to_vec(),
            found: None,
            pending: Vec::new(),
            pending_start: end,
            limit: g.capacity().max(MIN_REGEX_WINDOW),
            done: false,
        }));
        if g.exit().is_none() {
            g.add_tap(Box::new(WatchTap(Arc::clone(&watch))));
        }
        // What was there before the tap: searched once, here.
        let found = g.unlocked(|| search(&patterns, &window, base));
        Expect {
            id: session.id(),
            encoding: session.encoding(),
            patterns,
            literal,
            _detach: Detach(Arc::clone(&watch)),
            watch,
            window,
            window_base: base,
            found,
            seen_end: end,
            start_end: end,
            started: Instant::now(),
        }
    }

    /// Whether the state moved since the last step (new output or the
    /// exit): only then can a step find something new.
    pub(crate) fn changed(&self, s: &State) -> bool {
        s.end() != self.seen_end || s.exit().is_some()
    }

    /// Looks at what arrived since the last step. `None`: keep waiting
    /// (nothing matched, the child runs and the wait has not `timed_out`).
    /// Nothing is consumed: [`take_match`] does that.
    pub(crate) fn step(&mut self, g: &mut Guard<'_>, timed_out: bool) -> Option<Result<Found>> {
        loop {
            if g.closed() {
                return Some(Err(Error::SessionClosed { id: self.id }));
            }
            if let Some(found) = self.found.take() {
                return Some(Ok(found));
            }
            let exited = g.exit();
            self.seen_end = g.end();
            // What the tap collected since the last look.
            self.found = {
                let mut w = self.watch.lock();
                if !self.literal && w.pending_start > self.window_base + self.window.len() as u64 {
                    // The waiter fell more than the window's bound behind:
                    // no match can span the gap.
                    self.window.clear();
                    self.window_base = w.pending_start;
                }
                self.window.append(&mut w.pending);
                w.pending_start = self.window_base + self.window.len() as u64;
                w.found.take()
            };
            if self.literal {
                // The tap finds literal matches as the bytes arrive; the
                // window is only the tail for an error message.
                let cut = self.window.len().saturating_sub(TAIL_KEEP_BYTES);
                self.window.drain(..cut);
                self.window_base += cut as u64;
            } else {
                // A regex is re-run over the window, which the tap keeps
                // within its bound.
                let limit = self.watch.lock().limit;
                let cut = self.window.len().saturating_sub(limit);
                self.window.drain(..cut);
                self.window_base += cut as u64;
                let (patterns, window, base) = (&self.patterns, &self.window, self.window_base);
                self.found = g.unlocked(|| search(patterns, window, base));
            }
            if self.found.is_some() {
                continue;
            }
            if let Some(status) = exited {
                return Some(Err(Error::ExitedBeforeMatch {
                    id: self.id,
                    status,
                    patterns: self.patterns.to_string(),
                    waited: self.started.elapsed(),
                    tail: tail(self.encoding, &self.window),
                }));
            }
            if timed_out {
                return Some(Err(Error::WaitTimeout {
                    id: self.id,
                    patterns: self.patterns.to_string(),
                    waited: self.started.elapsed(),
                    tail: tail(self.encoding, &self.window),
                    arrived: g.end() - self.start_end,
                }));
            }
            return None;
        }
    }
}

/// Takes a found match: the unread output before it becomes
/// [`Match::before`] and the unread cursor moves past it.
///
/// # Errors
///
/// [`Error::Decode`] in strict mode.
pub(crate) fn take_match(
    g: &mut Guard<'_>,
    encoding: &'static encoding_rs::Encoding,
    found: Found,
) -> Result<Match> {
    let (index, s, e, bytes) = found;
    let matched = decode_lossy(encoding, &bytes, false);
    finish(g, index, matched, s, e)
}

/// The first match of `patterns` in `window`, at absolute offsets.
fn search(patterns: &Patterns, window: &[u8], window_base: u64) -> Option<Found> {
    patterns.find(window, 0).map(|(i, s, e)| {
        (
            i,
            window_base + s as u64,
            window_base + e as u64,
            window[s..e].to_vec(),
        )
    })
}

/// Where a wait starts matching.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Origin {
    /// The unread cursor: buffered output counts.
    Cursor,
    /// The end of the output: only what arrives after the call.
    End,
    /// An absolute offset (clamped to what the buffer retains).
    Offset(u64),
}

/// The smallest window a regex wait keeps, whatever the ring's size.
const MIN_REGEX_WINDOW: usize = 1 << 20;

/// What a waiter's tap shares with the waiter.
struct Watch {
    /// Literal patterns, matched by the tap itself as bytes arrive (`None`
    /// for a regex wait: the waiter searches `pending`).
    patterns: Option<Patterns>,
    /// The last bytes before `next` that a literal match could start in.
    carry: Vec<u8>,
    /// A match the tap found: (pattern index, start, end, matched bytes).
    found: Option<(usize, u64, u64, Vec<u8>)>,
    /// Bytes for the waiter (a regex's window, or a literal's error tail).
    pending: Vec<u8>,
    /// Absolute offset of `pending[0]`.
    pending_start: u64,
    /// Most bytes `pending` holds; older ones are dropped.
    limit: usize,
    /// The waiter has returned: the tap removes itself.
    done: bool,
}

struct WatchTap(Arc<Mutex<Watch>>);

impl Tap for WatchTap {
    fn event(&mut self, event: &Event<'_>) -> bool {
        let mut guard = self.0.lock();
        let f: &mut Watch = &mut guard;
        if f.done || f.found.is_some() {
            return false;
        }
        let Event::Output { offset, bytes } = *event else {
            return !matches!(event, Event::Exit { .. });
        };
        if let Some(patterns) = &f.patterns {
            // Why here, on the pump thread: a literal search of one chunk is
            // a memchr-speed scan, and doing it as bytes arrive means no
            // match can be evicted before a slow waiter looks.
            let carry_start = offset - f.carry.len() as u64;
            f.carry.extend_from_slice(bytes);
            let hay = &f.carry;
            if let Some((i, s, e)) = patterns.find(hay, 0) {
                f.found = Some((
                    i,
                    carry_start + s as u64,
                    carry_start + e as u64,
                    hay[s..e].to_vec(),
                ));
                return false;
            }
            let keep = patterns.overlap().unwrap_or(0).min(hay.len());
            f.carry.drain(..hay.len() - keep);
            f.pending.extend_from_slice(bytes);
            let excess = f.pending.len().saturating_sub(TAIL_KEEP_BYTES);
            f.pending.drain(..excess);
        } else {
            f.pending.extend_from_slice(bytes);
            let excess = f.pending.len().saturating_sub(f.limit);
            if excess > 0 {
                f.pending.drain(..excess);
                f.pending_start += excess as u64;
            }
        }
        true
    }
}

/// Marks the feed done when the waiter returns, so its tap goes away at the
/// next event (or with the session).
struct Detach(Arc<Mutex<Watch>>);

impl Drop for Detach {
    fn drop(&mut self) {
        self.0.lock().done = true;
    }
}

/// Consumes the unread output up to the end of the match. Malformed bytes
/// before it (strict mode) become U+FFFD in `before` and are reported in
/// [`Match::invalid_at`]: the match is never lost to them.
fn finish(g: &mut Guard<'_>, index: usize, text: String, match_start: u64, match_end: u64) -> Result<Match> {
    let mut before = String::new();
    let mut start_offset = None;
    let mut dropped_bytes = 0;
    let mut invalid_at = None;
    while g.cursor() < match_start {
        let at = g.cursor();
        let want = (match_start - at) as usize;
        match g.take(want) {
            Ok(r) => {
                start_offset.get_or_insert(r.start_offset);
                dropped_bytes += r.dropped_bytes;
                before.push_str(&r.text);
                if r.end_offset == r.start_offset {
                    break; // nothing more before the match (cannot happen)
                }
            }
            // The cursor is past the malformed sequence now; go on after it.
            Err(Error::Decode { offset, text, .. }) => {
                start_offset.get_or_insert(at);
                invalid_at.get_or_insert(offset);
                before.push_str(&text);
                before.push(char::REPLACEMENT_CHARACTER);
            }
            Err(e) => return Err(e),
        }
    }
    // The match's bytes are returned as `text`, not through the reader's
    // decoder.
    g.consume_to(match_end);
    Ok(Match {
        index,
        text,
        before,
        start_offset: start_offset.unwrap_or(match_start.min(g.cursor())),
        match_start,
        match_end,
        dropped_bytes,
        invalid_at,
    })
}

/// The last [`TAIL_CHARS`] characters of `bytes`, decoded leniently.
fn tail(encoding: &'static encoding_rs::Encoding, bytes: &[u8]) -> String {
    let text = decode_lossy(encoding, bytes, false);
    let skip = text.chars().count().saturating_sub(TAIL_CHARS);
    text.chars().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::pattern::Pattern;

    fn tap(patterns: Option<Patterns>, limit: usize, start: u64) -> (WatchTap, Arc<Mutex<Watch>>) {
        let watch = Arc::new(Mutex::new(Watch {
            patterns,
            carry: Vec::new(),
            found: None,
            pending: Vec::new(),
            pending_start: start,
            limit,
            done: false,
        }));
        (WatchTap(Arc::clone(&watch)), watch)
    }

    fn output(offset: u64, bytes: &[u8]) -> Event<'_> {
        Event::Output { offset, bytes }
    }

    #[test]
    fn a_literal_split_across_chunks_is_found_at_its_absolute_offsets() {
        let (mut t, w) = tap(Some(Patterns::from("READY")), 1 << 20, 10);
        assert!(t.event(&output(10, b"xxRE")));
        assert!(t.event(&output(14, b"AD")));
        assert!(!t.event(&output(16, b"Yzz")), "found: the tap leaves");
        assert_eq!(w.lock().found, Some((0, 12, 17, b"READY".to_vec())));
    }

    #[test]
    fn the_carry_keeps_only_the_bytes_a_match_could_start_in() {
        let (mut t, w) = tap(
            Some(Patterns::from(["abcdef", "xyz"].map(Pattern::literal).to_vec())),
            1 << 20,
            0,
        );
        let mut offset = 0;
        for chunk in [&b"0123456789"[..], b"abcde", b"q", b"0123456789abcd"] {
            assert!(t.event(&output(offset, chunk)));
            offset += chunk.len() as u64;
            // The longest pattern is 6 bytes: a match can start in the last 5.
            assert!(w.lock().carry.len() <= 5, "{:?}", w.lock().carry);
        }
        assert_eq!(w.lock().carry, b"9abcd");
        assert!(!t.event(&output(offset, b"ef")));
        let start = offset - 4;
        assert_eq!(w.lock().found, Some((0, start, start + 6, b"abcdef".to_vec())));
    }

    #[test]
    fn a_literal_waiter_keeps_only_the_tail_for_its_error() {
        let (mut t, w) = tap(Some(Patterns::from("never")), 1 << 20, 0);
        let chunk = vec![b'.'; 1000];
        for i in 0..10 {
            assert!(t.event(&output(i * 1000, &chunk)));
        }
        assert_eq!(w.lock().pending.len(), TAIL_KEEP_BYTES);
    }

    #[test]
    fn a_regex_window_is_bounded_and_its_start_follows_what_it_drops() {
        let (mut t, w) = tap(None, 10, 100);
        assert!(t.event(&output(100, b"0123456789abcde")));
        assert!(t.event(&output(115, b"fghij")));
        let w = w.lock();
        assert_eq!((&w.pending[..], w.pending_start), (&b"abcdefghij"[..], 110));
    }

    #[test]
    fn the_tap_leaves_when_the_waiter_returns_or_the_child_exits() {
        let (mut t, _) = tap(None, 10, 0);
        assert!(
            t.event(&Event::Input { bytes: b"x" }),
            "input is not output: ignored"
        );
        assert!(!t.event(&Event::Exit {
            status: crate::status::ExitStatus::Exited(0)
        }));
        let (mut t, w) = tap(None, 10, 0);
        drop(Detach(Arc::clone(&w)));
        assert!(
            !t.event(&output(0, b"late")),
            "a returned waiter's tap removes itself"
        );
    }
}
