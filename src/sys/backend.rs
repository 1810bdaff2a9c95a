//! Which backend runs the sessions, and the one interface the engine sees.
//!
//! A started child is a [`Child`]: the PTY master as a non-blocking
//! descriptor the reactor watches, an *exit descriptor* that becomes
//! readable once the child has exited (a pidfd on the native backend; the
//! read end of a pipe whose writer, a waiter thread, closes it on the
//! portable one), its pid, and a [`Backend`] value holding whatever else
//! the backend keeps alive for the session. The engine is the same for
//! both: the same pump, the same reactor, the same state. Everything the
//! engine does to the child itself (look at its exit, signal it, kill its
//! session, reap it) goes through [`Backend`]: the native one through the
//! pidfd, the portable one by pid, only while its waiter has not seen the
//! child reaped by someone else.
//!
//! - **native** (Linux, the default there): `posix_openpt` +
//!   `TIOCGPTPEER`, our own `clone` with its pidfd, no thread of its own
//!   ([`crate::sys::spawn`], [`crate::sys::process`]).
//! - **portable** (every other unix; on Linux with the `portable-backend`
//!   feature, so that it is tested here): see [`crate::sys::portable`].

#[cfg(not(bgterm_portable))]
use std::io;
#[cfg(not(bgterm_portable))]
use std::os::fd::BorrowedFd;

use crate::sys::spawn::{Child, SpawnError, Spec};

#[cfg(bgterm_portable)]
pub(crate) use crate::sys::portable::Backend;

#[cfg(not(bgterm_portable))]
use crate::status::ExitStatus;
#[cfg(not(bgterm_portable))]
use crate::sys::process;

/// The backend the crate was built with: `"native"` (Linux's own PTY and
/// pidfd code) or `"portable"` (portable-pty's PTY and a waiter thread per
/// session; every unix but Linux, and Linux with the `portable-backend`
/// feature).
pub const BACKEND: &str = if cfg!(bgterm_portable) {
    "portable"
} else {
    "native"
};

/// Opens a PTY and starts `spec` on it with the crate's backend.
pub(crate) fn spawn(spec: &Spec<'_>) -> Result<Child, SpawnError> {
    #[cfg(bgterm_portable)]
    return crate::sys::portable::spawn(spec);
    #[cfg(not(bgterm_portable))]
    return crate::sys::spawn::spawn(spec);
}

/// What the native backend keeps beyond a [`Child`]'s descriptors:
/// nothing. Its methods are [`crate::sys::process`]'s, on the pidfd
/// (`exit`).
#[cfg(not(bgterm_portable))]
#[derive(Debug)]
pub(crate) struct Backend;

#[cfg(not(bgterm_portable))]
impl Backend {
    /// Sets the window size on the master.
    pub(crate) fn resize(&self, master: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
        crate::sys::pty::set_window_size(master, rows, cols)
    }

    /// Whether the backend holds a slave descriptor that must be released
    /// once the exit's output is drained (never, natively).
    pub(crate) fn holds_slave(&self) -> bool {
        false
    }

    /// Releases the held slave descriptor (nothing to do natively).
    pub(crate) fn release_slave(&self) {}

    /// How the child ended, without reaping it ([`process::peek_exit`]).
    pub(crate) fn peek_exit(&self, exit: BorrowedFd<'_>) -> io::Result<Option<ExitStatus>> {
        process::peek_exit(exit)
    }

    /// Reaps the child ([`process::reap`]).
    pub(crate) fn reap(&self, exit: BorrowedFd<'_>) -> io::Result<ExitStatus> {
        process::reap(exit)
    }

    /// Signals the child's own process group ([`process::signal_own_group`]).
    pub(crate) fn signal_own_group(
        &self,
        exit: BorrowedFd<'_>,
        pid: libc::pid_t,
        signal: libc::c_int,
    ) -> io::Result<()> {
        process::signal_own_group(exit, pid, signal)
    }

    /// Signals group `pgid` of the child's session, if provably ours
    /// ([`process::signal_session_group`]).
    pub(crate) fn signal_session_group(
        &self,
        exit: BorrowedFd<'_>,
        pid: libc::pid_t,
        pgid: libc::pid_t,
        signal: libc::c_int,
    ) -> io::Result<()> {
        process::signal_session_group(exit, pid, pgid, signal)
    }

    /// Stops the child before its session is killed ([`process::freeze`]).
    pub(crate) fn freeze(&self, exit: BorrowedFd<'_>) -> io::Result<()> {
        process::freeze(exit)
    }

    /// SIGKILL to the rest of the child's session ([`process::kill_session`]).
    pub(crate) fn kill_session(&self, exit: BorrowedFd<'_>, pid: libc::pid_t) {
        process::kill_session(exit, pid);
    }
}
