//! Managing sessions: details for listings, the last lines of output, and
//! a graceful stop.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::engine::decode;
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::limits::STOP_KILL_WAIT;
use crate::session::command::Command;
use crate::session::handle::{Session, deadline_after};
use crate::status::ExitStatus;

/// Whether a session's child is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RunState {
    /// The child is running.
    Running,
    /// The child has exited; the session is still open and readable.
    Exited(ExitStatus),
    /// The session was closed (through another handle).
    Closed,
}

/// A session's details, as a listing shows them. Cheap: it never touches
/// the screen model (for the terminal's state see
/// [`SessionInfo`](crate::SessionInfo) from [`Session::info`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionSummary {
    /// The session's id.
    pub id: SessionId,
    /// Its name, if it was given one.
    pub name: Option<String>,
    /// The child's process id (also its process-group id).
    pub pid: u32,
    /// What it runs.
    pub command: Command,
    /// The child's working directory at start.
    pub cwd: PathBuf,
    /// When it was started.
    pub started: SystemTime,
    /// Running, exited (with how), or closed.
    pub state: RunState,
}

impl Session {
    /// This session's details: id, name, pid, command, cwd, start time and
    /// whether it runs, without touching the screen model. Never fails: a closed session says
    /// [`RunState::Closed`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::{ExitStatus, RunState, SessionBuilder};
    ///
    /// let s = SessionBuilder::new("exit 3").name("three").cwd("/").spawn()?;
    /// s.wait(Some(Duration::from_secs(10)))?;
    /// let info = s.summary();
    /// assert_eq!(info.name.as_deref(), Some("three"));
    /// assert_eq!(info.cwd, std::path::Path::new("/"));
    /// assert_eq!(info.state, RunState::Exited(ExitStatus::Exited(3)));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    #[must_use]
    pub fn summary(&self) -> SessionSummary {
        let state = match self.try_wait() {
            Err(_) => RunState::Closed,
            Ok(Some(status)) => RunState::Exited(status),
            Ok(None) => RunState::Running,
        };
        SessionSummary {
            id: self.id(),
            name: self.name().map(str::to_string),
            pid: self.pid(),
            command: self.command().clone(),
            cwd: self.cwd().to_path_buf(),
            started: self.started(),
            state,
        }
    }

    /// The last `lines` lines of the output still held in memory, read or
    /// unread, as text; the unread cursor does not move. A line ends with
    /// `"\n"` (a terminal sends `"\r\n"`, and both stay in the text); an
    /// unfinished last line counts as a line. Escape sequences are kept as
    /// the child wrote them.
    ///
    /// Only the retained output is searched: at most
    /// [`SessionBuilder::max_buffer_bytes`](crate::SessionBuilder::max_buffer_bytes)
    /// bytes, so fewer lines may come back than asked for (use a
    /// [`Transcript`](crate::Transcript) to keep everything).
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::Session;
    ///
    /// let s = Session::start("printf 'one\\ntwo\\nthree\\n'")?;
    /// s.wait(Some(Duration::from_secs(10)))?;
    /// assert_eq!(s.logs(2)?, "two\r\nthree\r\n");
    /// // The unread cursor did not move: a read still returns everything.
    /// assert_eq!(s.read()?.text, "one\r\ntwo\r\nthree\r\n");
    /// assert_eq!(s.logs(1)?, "three\r\n");
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`](crate::Error::SessionClosed).
    pub fn logs(&self, lines: usize) -> Result<String> {
        if lines == 0 {
            return Ok(String::new());
        }
        // At most max_buffer_bytes: copied under the lock, decoded after.
        let (start, bytes, encoding) = self.with_state(|g| {
            let (start, bytes) = g.retained_from(0);
            Ok((start, bytes, g.encoding()))
        })?;
        // Eviction may have cut a character: skip its orphaned tail.
        let text = decode::decode_lossy(encoding, &bytes, start > 0);
        Ok(last_lines(&text, lines).to_string())
    }
}

/// The last `n` (>= 1) lines of `text`; a final `"\n"` ends the last line
/// rather than starting an empty one.
fn last_lines(text: &str, n: usize) -> &str {
    let body = text.strip_suffix('\n').unwrap_or(text);
    match body.rmatch_indices('\n').nth(n.saturating_sub(1)) {
        Some((i, _)) => &text[i + 1..],
        None => text,
    }
}

/// How a [`Session::stop`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopOutcome {
    /// The child had already exited by itself; no signal was sent.
    AlreadyExited,
    /// The child exited within the grace period after the polite signal
    /// (SIGTERM unless another was asked for).
    Terminated,
    /// The grace period ran out; the process group got SIGKILL.
    Killed,
}

/// The result of a graceful stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stopped {
    /// How the child ended.
    pub status: ExitStatus,
    /// Which step ended it.
    pub outcome: StopOutcome,
}

impl Session {
    /// Stops the child gracefully: SIGTERM to its process group, up to
    /// `grace` for it to exit, then SIGKILL. Returns its exit status and
    /// which step ended it. The wait is event-driven: it returns the moment
    /// the child exits.
    ///
    /// The session stays open, so its last output and [`logs`](Self::logs)
    /// remain readable; [`close`](Self::close) it when done.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::{Session, StopOutcome};
    ///
    /// // A program that ignores SIGTERM is killed once the grace is over.
    /// let s = Session::start("trap '' TERM; echo ready; while :; do sleep 1; done")?;
    /// s.wait_for_from(0, "ready", Some(Duration::from_secs(10)))?;
    /// let stopped = s.stop(Duration::from_millis(100))?;
    /// assert_eq!(stopped.outcome, StopOutcome::Killed);
    /// assert_eq!(stopped.status.signal(), Some(9));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`], [`Error::Io`] if a signal cannot be sent,
    /// [`Error::StopTimedOut`] if the child is still there
    /// [`STOP_KILL_WAIT`] after SIGKILL.
    pub fn stop(&self, grace: Duration) -> Result<Stopped> {
        self.stop_with_signal(libc::SIGTERM, grace)
    }

    /// [`stop`](Self::stop) that asks with `signal` instead of SIGTERM (for
    /// example SIGINT, or SIGHUP for a shell, which ignores SIGTERM).
    ///
    /// # Errors
    ///
    /// As for [`stop`](Self::stop); an invalid signal number is an
    /// [`Error::Io`].
    pub fn stop_with_signal(&self, signal: i32, grace: Duration) -> Result<Stopped> {
        if let Some(status) = self.try_wait()? {
            return Ok(Stopped {
                status,
                outcome: StopOutcome::AlreadyExited,
            });
        }
        self.signal(signal)?;
        if let Some(status) = self.wait_deadline(deadline_after(Some(grace)))? {
            return Ok(Stopped {
                status,
                outcome: StopOutcome::Terminated,
            });
        }
        self.kill()?;
        match self.wait_deadline(deadline_after(Some(STOP_KILL_WAIT)))? {
            Some(status) => Ok(Stopped {
                status,
                outcome: StopOutcome::Killed,
            }),
            None => Err(Error::StopTimedOut {
                id: self.id(),
                waited: STOP_KILL_WAIT,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::last_lines;

    #[test]
    fn last_lines_table() {
        // Table: text, n, expected
        let cases = [
            ("a\nb\nc", 2, "b\nc"),
            ("a\nb\nc\n", 2, "b\nc\n"),
            ("a\r\nb\r\n", 1, "b\r\n"),
            ("a\nb\n", 5, "a\nb\n"),
            ("", 3, ""),
            ("\n\n\n", 2, "\n\n"),
            ("only", 1, "only"),
        ];
        for (text, n, want) in cases {
            assert_eq!(last_lines(text, n), want, "{text:?} {n}");
        }
    }
}
