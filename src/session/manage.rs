//! What a session is and how it is doing: details for listings, and the
//! last lines of its output.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::{Command, ExitStatus, Registry, Result, Session, SessionId};

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
        let state = match self.shared() {
            Err(_) => RunState::Closed,
            Ok(shared) => {
                let st = shared.state.lock();
                match (st.closed, st.exit) {
                    (true, _) => RunState::Closed,
                    (false, Some(status)) => RunState::Exited(status),
                    (false, None) => RunState::Running,
                }
            }
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
        let (bytes, encoding, evicted) = {
            let shared = self.shared()?;
            let st = shared.lock_open()?;
            // At most max_buffer_bytes: copied under the lock, decoded after.
            let (start, end) = (st.ring.start(), st.ring.end());
            (st.ring.copy_range(start, end), st.decoder.encoding(), start > 0)
        };
        let mut from = 0;
        if evicted && encoding == encoding_rs::UTF_8 {
            // Eviction may have cut a character: skip its orphaned tail
            // rather than show U+FFFD.
            from = bytes.iter().take(3).take_while(|&&b| b & 0xc0 == 0x80).count();
        }
        let (text, _) = encoding.decode_without_bom_handling(&bytes[from..]);
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

impl Registry {
    /// [`Session::summary`] for session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`](crate::Error::UnknownSession).
    pub fn summary(&self, id: SessionId) -> Result<SessionSummary> {
        Ok(self.get(id)?.summary())
    }

    /// Details of every session here, oldest first.
    ///
    /// ```
    /// use bgterm::{Registry, RunState, SessionBuilder};
    ///
    /// let registry = Registry::new();
    /// let a = SessionBuilder::new(["cat"]).name("a").start_in(&registry)?;
    /// let b = registry.start("cat")?;
    /// let list = registry.list_details();
    /// assert_eq!(list.iter().map(|i| i.id).collect::<Vec<_>>(), vec![a, b]);
    /// assert_eq!(list[0].name.as_deref(), Some("a"));
    /// assert!(list.iter().all(|i| i.state == RunState::Running && i.pid > 0));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    #[must_use]
    pub fn list_details(&self) -> Vec<SessionSummary> {
        self.list()
            .into_iter()
            .filter_map(|id| self.get(id).ok())
            .map(|s| s.summary())
            .collect()
    }

    /// [`Session::logs`] for session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`](crate::Error::UnknownSession), or as for
    /// [`Session::logs`].
    pub fn logs(&self, id: SessionId, lines: usize) -> Result<String> {
        self.get(id)?.logs(lines)
    }
}

/// Details of session `sid` in the global registry (see [`Session::summary`]).
///
/// # Errors
///
/// As for [`Registry::summary`].
pub fn summary(sid: SessionId) -> Result<SessionSummary> {
    Registry::global().summary(sid)
}

/// Details of every session in the global registry, oldest first.
#[must_use]
pub fn list_details() -> Vec<SessionSummary> {
    Registry::global().list_details()
}

/// The last `lines` lines of session `sid`'s retained output, without
/// moving its unread cursor (see [`Session::logs`]).
///
/// # Errors
///
/// As for [`Registry::logs`].
pub fn logs(sid: SessionId, lines: usize) -> Result<String> {
    Registry::global().logs(sid, lines)
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
