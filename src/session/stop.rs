//! Graceful stop: ask the program to end, then insist.

use std::time::{Duration, Instant};

use crate::{Error, ExitStatus, Registry, Result, Session, SessionId};

/// How long [`Session::stop`] waits for the child to be gone after SIGKILL
/// before giving up with [`Error::StopTimedOut`]. SIGKILL cannot be caught,
/// so only a process stuck in the kernel, or output held back by a stalled
/// [`Transcript`](crate::Transcript) writer, takes this long.
pub const STOP_KILL_WAIT: Duration = Duration::from_secs(10);

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
        if let Some(status) = self.wait_deadline(Instant::now().checked_add(grace))? {
            return Ok(Stopped {
                status,
                outcome: StopOutcome::Terminated,
            });
        }
        self.kill()?;
        match self.wait_deadline(Instant::now().checked_add(STOP_KILL_WAIT))? {
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

impl Registry {
    /// [`Session::stop`] on session `id`; the session stays registered.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::stop`].
    pub fn stop(&self, id: SessionId, grace: Duration) -> Result<Stopped> {
        self.get(id)?.stop(grace)
    }

    /// [`Session::stop_with_signal`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::stop`].
    pub fn stop_with_signal(&self, id: SessionId, signal: i32, grace: Duration) -> Result<Stopped> {
        self.get(id)?.stop_with_signal(signal, grace)
    }
}

/// Stops session `sid` of the global registry gracefully: SIGTERM, up to
/// `grace`, then SIGKILL (see [`Session::stop`]). The session stays open
/// until [`close`](crate::close).
///
/// # Errors
///
/// As for [`Registry::stop`].
pub fn stop(sid: SessionId, grace: Duration) -> Result<Stopped> {
    Registry::global().stop(sid, grace)
}
