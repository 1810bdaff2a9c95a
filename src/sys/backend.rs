//! Which backend runs the sessions, and the one interface the engine sees.
//!
//! A started child is a [`Child`]: the PTY master as a non-blocking
//! descriptor the reactor watches, an *exit descriptor* that becomes
//! readable once the child has exited (a pidfd on the native backend; the
//! read end of a pipe whose writer, a waiter thread, closes it on the
//! portable one), its pid, and a [`Backend`] value holding whatever else
//! the backend keeps alive for the session. The engine is the same for
//! both: the same pump, the same reactor, the same state.
//!
//! - **native** (Linux, the default there): `posix_openpt` +
//!   `TIOCGPTPEER`, a pidfd, no thread of its own ([`crate::sys::spawn`]).
//! - **portable** (every other unix; on Linux with the `portable-backend`
//!   feature, so that it is tested here): see [`crate::sys::portable`].

use std::io;

use crate::sys::spawn::{Child, Spec};

#[cfg(bgterm_portable)]
pub(crate) use crate::sys::portable::Backend;

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
pub(crate) fn spawn(spec: &Spec<'_>) -> io::Result<Child> {
    #[cfg(bgterm_portable)]
    return crate::sys::portable::spawn(spec);
    #[cfg(not(bgterm_portable))]
    return crate::sys::spawn::spawn(spec);
}

/// What the native backend keeps beyond a [`Child`]'s descriptors:
/// nothing.
#[cfg(not(bgterm_portable))]
#[derive(Debug)]
pub(crate) struct Backend;

#[cfg(not(bgterm_portable))]
impl Backend {
    /// Sets the window size on the master.
    pub(crate) fn resize(&self, master: std::os::fd::BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
        crate::sys::pty::set_window_size(master, rows, cols)
    }

    /// Whether the backend holds a slave descriptor that must be released
    /// once the exit's output is drained (never, natively).
    pub(crate) fn holds_slave(&self) -> bool {
        false
    }

    /// Releases the held slave descriptor (nothing to do natively).
    pub(crate) fn release_slave(&self) {}

    /// Called once the child is dead and before it is reaped (nothing to
    /// do natively: the pidfd needs no one to stop).
    pub(crate) fn before_reap(&self) {}
}
