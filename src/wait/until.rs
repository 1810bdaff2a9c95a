//! Reads that know when to stop: until a pattern shows up in the unread
//! output, or until the output settles.

use std::time::{Duration, Instant};

use crate::engine::result::PollResult;
use crate::error::{Error, Result};
use crate::limits::DEFAULT_MAX_OUTPUT_BYTES;
use crate::session::handle::{Session, deadline_after};
use crate::wait::pattern::Patterns;

/// When a [`Session::poll_until`] or [`Session::write_stdin_until`] may
/// return before its yield time. Every condition is still bounded by the
/// yield time; the child's exit always ends the wait.
///
/// - [`pattern`](Self::pattern): as soon as the unread output (from the
///   cursor on, so output already buffered counts) contains a match.
/// - [`settle`](Self::settle): once output has started and then paused for
///   this long, so a whole burst comes back at once.
/// - Neither: like [`Session::poll`], at the first output.
///
/// With both, whichever comes first.
///
/// ```
/// use std::time::Duration;
/// use bgterm::{ReadUntil, Session};
///
/// let py = Session::start(["python3", "-q"])?;
/// let prompt = ReadUntil::new().pattern(">>> ");
/// py.poll_until(Duration::from_secs(10), &prompt)?; // the banner, up to the prompt
/// let out = py.write_stdin_until("2 + 2\n", Duration::from_secs(10), &prompt)?;
/// assert_eq!((out.text.as_str(), out.matched), ("2 + 2\r\n4\r\n>>> ", Some(0)));
/// # Ok::<(), bgterm::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ReadUntil {
    pattern: Option<Patterns>,
    settle: Option<Duration>,
    max_output_bytes: usize,
}

impl Default for ReadUntil {
    fn default() -> ReadUntil {
        ReadUntil::new()
    }
}

impl ReadUntil {
    /// No condition: return at the first output, as a poll does.
    pub fn new() -> ReadUntil {
        ReadUntil {
            pattern: None,
            settle: None,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }

    /// Return as soon as the unread output contains one of `patterns`
    /// ([`PollResult::matched`] says which). The result is all the unread
    /// output (up to [`max_output_bytes`](Self::max_output_bytes)), not
    /// just up to the match.
    ///
    /// By default, no pattern.
    pub fn pattern(mut self, patterns: impl Into<Patterns>) -> ReadUntil {
        self.pattern = Some(patterns.into());
        self
    }

    /// Once output has started, keep collecting until none has arrived for
    /// `quiet`.
    ///
    /// By default, no settling.
    pub fn settle(mut self, quiet: Duration) -> ReadUntil {
        self.settle = Some(quiet);
        self
    }

    /// Most bytes the result returns.
    ///
    /// By default, [`DEFAULT_MAX_OUTPUT_BYTES`].
    pub fn max_output_bytes(mut self, bytes: usize) -> ReadUntil {
        self.max_output_bytes = bytes;
        self
    }
}

impl Session {
    /// Waits up to `yield_time` like [`poll`](Self::poll), but returns early
    /// only when `until` says so (a pattern in the unread output, or the
    /// output settling), and then returns all the unread output. The wait
    /// is woken by the session's output, never by a timer.
    ///
    /// # Errors
    ///
    /// [`Error::Unencodable`] for a literal the session's encoding cannot
    /// represent, or as for [`poll`](Self::poll).
    pub fn poll_until(&self, yield_time: Duration, until: &ReadUntil) -> Result<PollResult> {
        let encoding = self.encoding();
        let patterns = until
            .pattern
            .as_ref()
            .map(|p| p.encoded(encoding))
            .transpose()
            .map_err(|character| Error::Unencodable {
                id: self.id(),
                encoding: encoding.name(),
                character,
            })?;
        let deadline = deadline_after(Some(yield_time));
        let core = self.core()?;
        let mut g = core.lock()?;
        // How far the unread output was searched: a literal can only match
        // across the old end by its length less one.
        let mut searched = g.cursor();
        let mut matched = None;
        loop {
            if let Some(patterns) = &patterns {
                let from = match patterns.overlap() {
                    Some(overlap) => searched.saturating_sub(overlap as u64).max(g.cursor()),
                    None => g.cursor(),
                };
                let (base, bytes) = g.retained_from(from);
                searched = base + bytes.len() as u64;
                matched = g.unlocked(|| patterns.find(&bytes, 0)).map(|(i, _, _)| i);
                if matched.is_some() {
                    break;
                }
            } else if until.settle.is_none() && g.unread() > 0 {
                break;
            }
            if g.exit().is_some() || deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let end = g.end();
            let settling = until.settle.filter(|_| g.unread() > 0);
            let wake_by = match (settling.and_then(|q| deadline_after(Some(q))), deadline) {
                (Some(q), Some(d)) => Some(q.min(d)),
                (q, d) => q.or(d),
            };
            g = g.wait_until(wake_by, |s| s.end() != end || s.exit().is_some())?;
            if settling.is_some() && g.end() == end && g.exit().is_none() {
                break; // quiet for `settle` (or out of time)
            }
        }
        let mut result = g.take(until.max_output_bytes)?;
        result.matched = matched;
        Ok(result)
    }

    /// Sends `chars` (as [`send`](Self::send)), then
    /// [`poll_until`](Self::poll_until).
    ///
    /// # Errors
    ///
    /// As for [`write_stdin`](Self::write_stdin) and
    /// [`poll_until`](Self::poll_until).
    pub fn write_stdin_until(
        &self,
        chars: &str,
        yield_time: Duration,
        until: &ReadUntil,
    ) -> Result<PollResult> {
        self.send(chars)?;
        self.poll_until(yield_time, until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_keep_what_was_set() {
        let u = ReadUntil::new()
            .pattern("x")
            .settle(Duration::from_millis(5))
            .max_output_bytes(7);
        assert_eq!(u.pattern.map(|p| p.len()), Some(1));
        assert_eq!(
            (u.settle, u.max_output_bytes),
            (Some(Duration::from_millis(5)), 7)
        );
        let d = ReadUntil::default();
        assert!(d.pattern.is_none() && d.settle.is_none());
        assert_eq!(d.max_output_bytes, DEFAULT_MAX_OUTPUT_BYTES);
    }
}
