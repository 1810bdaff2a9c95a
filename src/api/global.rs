//! Python bgterm's functional API: free functions over
//! [`Registry::global`].

use std::time::{Duration, Instant};

use crate::{Command, ExitStatus, PollResult, Registry, Result, SessionId};

/// Starts a session in the global registry and returns its id.
///
/// A string runs through `/bin/sh -c`; a list such as `["python3", "-q"]`
/// is an argv run directly. Use [`SessionBuilder`](crate::SessionBuilder)
/// for cwd, env, size, encoding and buffer options.
///
/// ```
/// use std::time::Duration;
/// let sid = bgterm::start_session("echo ready; cat")?;
/// let out = bgterm::poll(sid, Duration::from_secs(5))?;
/// assert!(out.text.starts_with("ready"));
/// bgterm::close(sid)?;
/// # Ok::<(), bgterm::Error>(())
/// ```
///
/// # Errors
///
/// As for [`SessionBuilder::spawn`](crate::SessionBuilder::spawn).
pub fn start_session(command: impl Into<Command>) -> Result<SessionId> {
    Registry::global().start(command)
}

/// Sends input, waits up to `yield_time`, returns the next unread output.
/// See [`Session::write_stdin`](crate::Session::write_stdin).
///
/// # Errors
///
/// [`Error::UnknownSession`](crate::Error::UnknownSession), or as for
/// [`Session::write_stdin`](crate::Session::write_stdin).
pub fn write_stdin(sid: SessionId, chars: &str, yield_time: Duration) -> Result<PollResult> {
    Registry::global().write_stdin(sid, chars, yield_time)
}

/// [`write_stdin`] returning at most `max_output_bytes` bytes.
///
/// # Errors
///
/// As for [`write_stdin`].
pub fn write_stdin_with_limit(
    sid: SessionId,
    chars: &str,
    yield_time: Duration,
    max_output_bytes: usize,
) -> Result<PollResult> {
    Registry::global().write_stdin_with_limit(sid, chars, yield_time, max_output_bytes)
}

/// Waits up to `yield_time` for output; returns the next unread chunk.
/// See [`Session::poll`](crate::Session::poll).
///
/// # Errors
///
/// [`Error::UnknownSession`](crate::Error::UnknownSession), or as for
/// [`Session::poll`](crate::Session::poll).
pub fn poll(sid: SessionId, yield_time: Duration) -> Result<PollResult> {
    Registry::global().poll(sid, yield_time)
}

/// [`poll`] returning at most `max_output_bytes` bytes.
///
/// # Errors
///
/// As for [`poll`].
pub fn poll_with_limit(sid: SessionId, yield_time: Duration, max_output_bytes: usize) -> Result<PollResult> {
    Registry::global().poll_with_limit(sid, yield_time, max_output_bytes)
}

/// Returns the next unread chunk at once.
///
/// # Errors
///
/// As for [`poll`].
pub fn read(sid: SessionId) -> Result<PollResult> {
    Registry::global().read(sid)
}

/// [`Session::poll_quiet`](crate::Session::poll_quiet) on a session in the
/// global registry: once output starts, collects until it has been quiet
/// for `idle`.
///
/// # Errors
///
/// As for [`poll`].
pub fn poll_quiet(sid: SessionId, max_wait: Duration, idle: Duration) -> Result<PollResult> {
    Registry::global().poll_quiet(sid, max_wait, idle)
}

/// [`read`] returning at most `max_output_bytes` bytes.
///
/// # Errors
///
/// As for [`poll`].
pub fn read_with_limit(sid: SessionId, max_output_bytes: usize) -> Result<PollResult> {
    Registry::global().read_with_limit(sid, max_output_bytes)
}

/// Waits for exit (forever with `None`); `Ok(None)` on timeout.
///
/// # Errors
///
/// [`Error::UnknownSession`](crate::Error::UnknownSession) or
/// [`Error::SessionClosed`](crate::Error::SessionClosed).
pub fn wait(sid: SessionId, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
    Registry::global().wait(sid, timeout)
}

/// Waits for exit until `deadline` (`None`: forever); `Ok(None)` if it
/// passes first.
///
/// # Errors
///
/// As for [`wait`].
pub fn wait_deadline(sid: SessionId, deadline: Option<Instant>) -> Result<Option<ExitStatus>> {
    Registry::global().wait_deadline(sid, deadline)
}

/// Closes the session: kills its process group, reaps the child, frees
/// everything, and returns how the child ended.
///
/// # Errors
///
/// [`Error::UnknownSession`](crate::Error::UnknownSession), or as for
/// [`Session::close`](crate::Session::close).
pub fn close(sid: SessionId) -> Result<ExitStatus> {
    Registry::global().close(sid)
}

/// Sends SIGTERM to the session's process group.
///
/// # Errors
///
/// As for [`Session::terminate`](crate::Session::terminate).
pub fn terminate(sid: SessionId) -> Result<()> {
    Registry::global().terminate(sid)
}

/// Sends SIGKILL to the session's process group; the session stays
/// readable until closed.
///
/// # Errors
///
/// As for [`Session::kill`](crate::Session::kill).
pub fn kill(sid: SessionId) -> Result<()> {
    Registry::global().kill(sid)
}

/// The ids of the open sessions in the global registry, oldest first.
#[must_use]
pub fn list_sessions() -> Vec<SessionId> {
    Registry::global().list()
}
