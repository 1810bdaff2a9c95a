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

use std::time::{Duration, Instant};

use parking_lot::MutexGuard;

use crate::shared::State;
use crate::{Error, Patterns, Result, Session};

/// Characters of output kept in the `tail` of a wait error.
pub const TAIL_CHARS: usize = 512;

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
        Ok(self.shared()?.lock_open()?.ring.end())
    }

    /// Waits until one of `patterns` appears in output that arrives *after
    /// this call starts* (so text already on screen, such as a stale prompt,
    /// never matches), for at most `timeout` (`None`: no limit).
    ///
    /// On success the unread cursor moves past the match; the unread text
    /// before it is in [`Match::before`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::{Pattern, Session};
    ///
    /// let s = Session::start("read x; echo \"result: $((x * 2))\"; echo done")?;
    /// s.send("21\n")?;
    /// let m = s.wait_for(Pattern::regex(r"result: \d+")?, Some(Duration::from_secs(10)))?;
    /// assert_eq!(m.text, "result: 42");
    /// // Several patterns: which one matched is reported. (`done` may already
    /// // have arrived, so continue from the end of the last match.)
    /// let m = s.wait_for_from(m.match_end, ["error", "done"], Some(Duration::from_secs(10)))?;
    /// assert_eq!((m.index, m.text.as_str()), (1, "done"));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::WaitTimeout`] (with the tail of what was seen and how long it
    /// waited) when time runs out, [`Error::ExitedBeforeMatch`] if the child
    /// exits first, [`Error::SessionClosed`], [`Error::Unencodable`] for a
    /// literal the session's encoding cannot represent (it could never
    /// match), and [`Error::Decode`] in strict mode. A timeout of zero
    /// checks once and never blocks.
    pub fn wait_for(&self, patterns: impl Into<Patterns>, timeout: Option<Duration>) -> Result<Match> {
        self.expect(None, patterns.into(), deadline_after(timeout))
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
        self.expect(None, patterns.into(), deadline)
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
        self.expect(Some(offset), patterns.into(), deadline_after(timeout))
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
        self.expect(Some(offset), patterns.into(), deadline)
    }

    fn expect(&self, from: Option<u64>, patterns: Patterns, deadline: Option<Instant>) -> Result<Match> {
        let started = Instant::now();
        let id = self.id();
        let encoding = self.encoding();
        let patterns = patterns
            .encoded(encoding)
            .map_err(|character| Error::Unencodable {
                id,
                encoding: encoding.name(),
                character,
            })?;
        let shared = self.shared()?;
        let mut st = shared.lock_open()?;
        // The searched window mirrors the ring's bytes `base..base + len`.
        let mut base = from.unwrap_or_else(|| st.ring.end()).max(st.ring.start());
        let mut window: Vec<u8> = Vec::new();
        let mut search_from = 0usize;
        loop {
            let exited = st.exit;
            let end = st.ring.end();
            if st.ring.start() > base + window.len() as u64 {
                // The ring dropped bytes we had not copied yet: no match can
                // span the gap, so start again after it.
                window.clear();
                base = st.ring.start();
                search_from = 0;
            }
            // Keep the window bounded. A literal can only start at or after
            // `search_from` (everything before was searched); a regex is
            // re-run over what the ring retains. Either way keep enough for
            // the error's tail.
            let needed = match patterns.overlap() {
                Some(_) => search_from,
                None => st.ring.start().saturating_sub(base) as usize,
            };
            let trim = needed.min(window.len().saturating_sub(TAIL_KEEP_BYTES));
            if trim > 0 {
                window.drain(..trim);
                base += trim as u64;
                search_from = search_from.saturating_sub(trim);
            }
            let have = base + window.len() as u64;
            window.extend(st.ring.copy_range(have, end));
            let found = MutexGuard::unlocked(&mut st, || patterns.find(&window, search_from));
            if st.closed {
                return Err(Error::SessionClosed { id });
            }
            if let Some((index, s, e)) = found {
                let matched = encoding.decode_without_bom_handling(&window[s..e]).0.into_owned();
                return finish(&mut st, self, index, matched, base + s as u64, base + e as u64);
            }
            search_from = match patterns.overlap() {
                Some(o) => window.len().saturating_sub(o),
                None => 0,
            };
            if let Some(status) = exited {
                return Err(Error::ExitedBeforeMatch {
                    id,
                    status,
                    patterns: patterns.to_string(),
                    waited: started.elapsed(),
                    tail: tail(encoding, &window),
                });
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::WaitTimeout {
                    id,
                    patterns: patterns.to_string(),
                    waited: started.elapsed(),
                    tail: tail(encoding, &window),
                });
            }
            st = shared.wait_until(st, deadline, |s| s.ring.end() != end || s.exit.is_some())?;
        }
    }
}

/// Consumes the unread output up to the end of the match.
fn finish(
    st: &mut MutexGuard<'_, State>,
    session: &Session,
    index: usize,
    text: String,
    match_start: u64,
    match_end: u64,
) -> Result<Match> {
    let cursor = st.ring.cursor();
    let (before, start_offset, dropped_bytes) = if cursor < match_start {
        let r = st.take_result(session.id(), (match_start - cursor) as usize)?;
        (r.text, r.start_offset, r.dropped_bytes)
    } else {
        (String::new(), match_start.min(cursor), 0)
    };
    if st.ring.cursor() < match_end {
        // The match's bytes are returned as `text`, not through the reader's
        // decoder, so the decoder starts afresh after them.
        st.ring.seek(match_end);
        st.decoder.reset();
    }
    Ok(Match {
        index,
        text,
        before,
        start_offset,
        match_start,
        match_end,
        dropped_bytes,
    })
}

fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    // An overflowing timeout is as good as none.
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// The last [`TAIL_CHARS`] characters of `bytes`, decoded leniently.
fn tail(encoding: &'static encoding_rs::Encoding, bytes: &[u8]) -> String {
    let text = encoding.decode_without_bom_handling(bytes).0;
    let skip = text.chars().count().saturating_sub(TAIL_CHARS);
    text.chars().skip(skip).collect()
}
