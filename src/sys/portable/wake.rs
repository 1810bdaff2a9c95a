//! Pipes: the portable backend's exit notice on every unix, and the pump's
//! wake-up where there is no eventfd (every unix but Linux).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::sys::check;

/// A new pipe (read end, write end), both close-on-exec and non-blocking.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    #[cfg(not(target_os = "macos"))]
    {
        // SAFETY: `fds` is a valid out-array of two descriptors.
        check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    }
    // macOS has no pipe2: the flags are set just after. A child forked by
    // another thread in between could inherit the pair; our own children
    // cannot (their set-up marks every descriptor above 2 close-on-exec).
    #[cfg(target_os = "macos")]
    {
        // SAFETY: `fds` is a valid out-array of two descriptors.
        check(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
    }
    // SAFETY: both were just created and are owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    #[cfg(target_os = "macos")]
    for fd in [&r, &w] {
        // SAFETY: fcntl on a descriptor we own.
        check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
        check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) })?;
    }
    Ok((r, w))
}

/// A wake-up another thread can signal, on a pipe: the same interface as
/// the Linux `EventFd` (readable from the first signal until cleared).
#[derive(Debug)]
pub(crate) struct Wake {
    read: OwnedFd,
    write: OwnedFd,
}

#[cfg_attr(not(bgterm_select), allow(dead_code))]
impl Wake {
    /// # Errors
    ///
    /// As `pipe(2)`, and `EMFILE` when the read end is past what
    /// `select(2)` can watch (`FD_SETSIZE`): refused here, so that a
    /// session whose wake-up could not be watched fails to start.
    pub(crate) fn new() -> io::Result<Wake> {
        let (read, write) = pipe()?;
        if !crate::sys::portable::select::selectable(read.as_raw_fd()) {
            return Err(io::Error::from_raw_os_error(libc::EMFILE));
        }
        Ok(Wake { read, write })
    }

    /// The descriptor to poll for reading.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Makes the read end readable. Never blocks: a full pipe (EAGAIN) is
    /// readable already.
    pub(crate) fn signal(&self) {
        let one = 1u8;
        // SAFETY: writes one byte from a valid location.
        unsafe { libc::write(self.write.as_raw_fd(), (&one as *const u8).cast(), 1) };
    }

    /// Empties the pipe, so that it polls unreadable until the next signal.
    pub(crate) fn clear(&self) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reads into a valid buffer of its length.
            let n = unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < buf.len() as isize {
                // Empty (EAGAIN), short, or interrupted: a signal that raced
                // the clear left a byte, which only means one more wake-up.
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: BorrowedFd<'_>) -> bool {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no wait.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        assert!(n >= 0, "poll failed");
        p.revents & (libc::POLLIN | libc::POLLHUP) != 0
    }

    #[test]
    fn a_wake_is_readable_from_the_signal_until_cleared() {
        let w = Wake::new().unwrap();
        assert!(!readable(w.fd()));
        w.signal();
        w.signal();
        assert!(readable(w.fd()));
        w.clear();
        assert!(!readable(w.fd()), "cleared: both bytes read");
        for _ in 0..100_000 {
            w.signal(); // fills the pipe without blocking
        }
        assert!(readable(w.fd()));
        w.clear();
        assert!(!readable(w.fd()));
    }

    #[test]
    fn closing_the_write_end_makes_the_read_end_readable() {
        let (r, w) = pipe().unwrap();
        assert!(!readable(r.as_fd()));
        drop(w);
        assert!(readable(r.as_fd()));
    }
}
