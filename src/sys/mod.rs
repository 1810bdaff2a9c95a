//! Every system call the crate makes, in one place.
//!
//! Everything else in the crate is safe Rust; this module wraps the few
//! Linux calls that `std` does not expose: opening a PTY, the child's
//! `clone` (with its pidfd) and set-up up to the exec, non-blocking reads
//! and writes on the PTY master, `poll(2)` over the master and an
//! edge-triggered epoll for a terminal nobody holds, the pidfd and an
//! eventfd, `waitid(2)` on the pidfd without reaping, signals through
//! pidfds, terminal attributes and the window size. [`backend`] says which
//! of the two backends runs sessions: this native Linux code, or
//! `portable` (portable-pty's PTY, std's `Command`, a waiter thread,
//! `select(2)` where there is no epoll) on every other unix and with the
//! `portable-backend` feature.

pub(crate) mod backend;
pub(crate) mod fd;
#[cfg(bgterm_portable)]
pub(crate) mod portable;
pub(crate) mod process;
pub(crate) mod pty;
pub(crate) mod spawn;

use std::io;

/// Converts a `-1` return into the current `errno` as an `io::Error`.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
