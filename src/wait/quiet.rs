//! Whole bursts: `poll_quiet` keeps collecting until the output pauses.

use std::time::Duration;

use crate::engine::result::PollResult;
use crate::error::Result;
use crate::limits::DEFAULT_MAX_OUTPUT_BYTES;
use crate::session::handle::{Session, deadline_after};

impl Session {
    /// Like [`poll`](Self::poll), but once output starts it keeps collecting
    /// until no new output has arrived for `idle` (or the child exits, or
    /// `max_wait` has passed since the call), so one call returns a whole
    /// burst rather than its first fragment. Returns at once with what is
    /// buffered if output is already waiting and then goes quiet.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::Session;
    ///
    /// // Three lines written with short pauses: one quiet poll gets them all.
    /// let s = Session::start("read go; for i in 1 2 3; do echo part$i; sleep 0.05; done; read stop")?;
    /// s.send("\n")?;
    /// let out = s.poll_quiet(Duration::from_secs(10), Duration::from_millis(500))?;
    /// assert!(out.text.contains("part1") && out.text.ends_with("part3\r\n"), "{:?}", out.text);
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`poll`](Self::poll).
    pub fn poll_quiet(&self, max_wait: Duration, idle: Duration) -> Result<PollResult> {
        self.poll_quiet_with_limit(max_wait, idle, DEFAULT_MAX_OUTPUT_BYTES)
    }

    /// [`poll_quiet`](Self::poll_quiet) returning at most
    /// `max_output_bytes` bytes (it also stops collecting once that much is
    /// buffered).
    ///
    /// # Errors
    ///
    /// As for [`poll`](Self::poll).
    pub fn poll_quiet_with_limit(
        &self,
        max_wait: Duration,
        idle: Duration,
        max_output_bytes: usize,
    ) -> Result<PollResult> {
        let deadline = deadline_after(Some(max_wait));
        let core = self.core()?;
        let g = core.lock()?;
        let mut g = g.wait_until(deadline, |s| s.unread() > 0 || s.exit().is_some())?;
        while g.exit().is_none() && g.unread() > 0 && g.unread() < max_output_bytes {
            let end = g.end();
            // Quiet until `idle` after the latest output, but never past the
            // caller's deadline.
            let until = match (deadline_after(Some(idle)), deadline) {
                (Some(q), Some(d)) => Some(q.min(d)),
                (q, d) => q.or(d),
            };
            g = g.wait_until(until, |s| s.end() != end || s.exit().is_some())?;
            if g.end() == end && g.exit().is_none() {
                break; // quiet for `idle`, or out of time
            }
        }
        g.take(max_output_bytes)
    }
}
