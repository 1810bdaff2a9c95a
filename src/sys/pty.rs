//! The pseudo-terminal: opening one, its attributes and its window size.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::sys::check;

/// Opens a new PTY of `rows` × `cols` with the kernel's default terminal
/// settings. Returns (master, slave); the master is non-blocking, and both
/// are close-on-exec from the start, so a child spawned concurrently by
/// another thread can never inherit them.
#[cfg(target_os = "linux")]
#[cfg_attr(bgterm_portable, allow(dead_code))]
pub(crate) fn openpty(rows: u16, cols: u16) -> io::Result<(OwnedFd, OwnedFd)> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: posix_openpt returns a new descriptor that we own at once.
    let master = unsafe { OwnedFd::from_raw_fd(check(libc::posix_openpt(flags | libc::O_NONBLOCK))?) };
    // SAFETY: grantpt and unlockpt on a valid PTY master.
    check(unsafe { libc::grantpt(master.as_raw_fd()) })?;
    check(unsafe { libc::unlockpt(master.as_raw_fd()) })?;
    // Why TIOCGPTPEER rather than opening ptsname(): no path lookup, and
    // the slave is the peer of this very master (Linux 4.13+).
    // SAFETY: TIOCGPTPEER takes open flags and returns a new descriptor.
    let slave =
        unsafe { OwnedFd::from_raw_fd(check(libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags))?) };
    use std::os::fd::AsFd;
    set_window_size(master.as_fd(), rows, cols)?;
    Ok((master, slave))
}

/// The terminal's foreground process group, if it has one.
pub(crate) fn foreground_group(master: BorrowedFd<'_>) -> Option<libc::pid_t> {
    // SAFETY: tcgetpgrp on a valid descriptor.
    let pg = unsafe { libc::tcgetpgrp(master.as_raw_fd()) };
    (pg > 0).then_some(pg)
}

/// Whether the terminal is in canonical (line-editing) mode.
pub(crate) fn is_canonical(master: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: zeroed termios is a valid out-parameter for tcgetattr.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    check(unsafe { libc::tcgetattr(master.as_raw_fd(), &mut t) })?;
    Ok(t.c_lflag & libc::ICANON != 0)
}

/// Sets the terminal window size; the kernel sends SIGWINCH to the
/// foreground process group.
pub(crate) fn set_window_size(master: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) })?;
    Ok(())
}

/// The terminal window size as (rows, cols), as either side last set it.
pub(crate) fn window_size(master: BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    // SAFETY: zeroed winsize is a valid out-parameter for TIOCGWINSZ.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize to a valid pointer.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) })?;
    Ok((ws.ws_row, ws.ws_col))
}
