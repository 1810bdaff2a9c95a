//! Every system call the crate makes, in one place.
//!
//! Everything else in the crate is safe Rust; this module wraps the few
//! Linux calls that `std` does not expose: opening a PTY, the child's
//! set-up between fork and exec, non-blocking reads and writes on the PTY
//! master, `poll(2)` over the master, a pidfd and an eventfd, `waitid(2)`
//! without reaping, process-group signals, terminal attributes and the
//! window size.

pub(crate) mod spawn;

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::status::ExitStatus;

/// Converts a `-1` return into the current `errno` as an `io::Error`.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Opens a new PTY of `rows` × `cols` with the kernel's default terminal
/// settings. Returns (master, slave); the master is non-blocking, and both
/// are close-on-exec from the start, so a child spawned concurrently by
/// another thread can never inherit them.
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

/// The child's set-up between fork and exec, in this order: default
/// dispositions for the signals a caller may have caught or ignored, an
/// empty signal mask, a new session (so the child leads its own process
/// group), the PTY on stdin as controlling terminal, and close-on-exec on
/// every descriptor above stderr (so nothing the parent left inheritable
/// leaks into the program, while std's exec-error pipe still works).
///
/// # Safety
///
/// Call only in the child after `fork` (it is async-signal-safe: plain
/// system calls, no allocation, no locks), with the slave PTY on fd 0.
pub(crate) unsafe fn child_setup() -> io::Result<()> {
    // SAFETY (whole block): only async-signal-safe system calls on values
    // owned by this function.
    unsafe {
        for sig in [
            libc::SIGCHLD,
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGTERM,
            libc::SIGALRM,
        ] {
            libc::signal(sig, libc::SIG_DFL);
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        check(libc::setsid())?;
        check(libc::ioctl(0, libc::TIOCSCTTY, 0))?;
        let closed = libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
        if closed == -1 {
            // Kernels before 5.11: mark them one by one.
            let mut lim: libc::rlimit = std::mem::zeroed();
            let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                lim.rlim_cur.min(1 << 20) as libc::c_int
            } else {
                1024
            };
            for fd in 3..max {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
    }
    Ok(())
}

/// Outcome of one non-blocking read or write.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Io {
    /// This many bytes were transferred.
    Done(usize),
    /// Nothing can be transferred right now (`EAGAIN`).
    WouldBlock,
    /// The other side is gone: `EIO` on a Linux PTY master once every slave
    /// descriptor is closed, or a zero-length read.
    Closed,
}

/// Reads once from a non-blocking descriptor, retrying `EINTR`.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Io> {
    loop {
        // SAFETY: `buf` is a valid writable slice of `buf.len()` bytes.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            return Ok(Io::Done(n as usize));
        }
        if n == 0 {
            return Ok(Io::Closed);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(Io::WouldBlock),
            // Why EIO is not an error: Linux reports "every slave descriptor
            // is closed" on a PTY master read as EIO, after the last byte.
            Some(libc::EIO) => return Ok(Io::Closed),
            _ => return Err(err),
        }
    }
}

/// Writes once to a non-blocking descriptor, retrying `EINTR`.
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<Io> {
    loop {
        // SAFETY: `buf` is a valid readable slice of `buf.len()` bytes.
        let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(Io::Done(n as usize));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(Io::WouldBlock),
            Some(libc::EIO) => return Ok(Io::Closed),
            _ => return Err(err),
        }
    }
}

/// One descriptor to watch in [`poll`]; laid out as a `libc::pollfd`, so a
/// slice of them is passed to the kernel as is.
#[repr(transparent)]
pub(crate) struct PollFd {
    raw: libc::pollfd,
}

impl PollFd {
    /// Watches `fd` for readability, and for writability too if `write`.
    pub(crate) fn new(fd: BorrowedFd<'_>, write: bool) -> PollFd {
        let mut events = libc::POLLIN;
        if write {
            events |= libc::POLLOUT;
        }
        PollFd {
            raw: libc::pollfd {
                fd: fd.as_raw_fd(),
                events,
                revents: 0,
            },
        }
    }

    /// Readable, or hung up / in error (a read will tell which).
    pub(crate) fn readable(&self) -> bool {
        self.raw.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
    }

    /// Writable (or in error: a write will tell).
    pub(crate) fn writable(&self) -> bool {
        self.raw.revents & (libc::POLLOUT | libc::POLLERR) != 0
    }
}

/// Waits until one of `fds` is ready or `timeout` passes (`None` = forever).
/// Retries `EINTR`. The descriptors must stay open for the call.
pub(crate) fn poll(fds: &mut [PollFd], timeout: Option<Duration>) -> io::Result<()> {
    let ms: libc::c_int = match timeout {
        None => -1,
        // Round up so a short remaining grace does not become a busy loop.
        Some(t) => t.as_micros().div_ceil(1000).min(libc::c_int::MAX as u128) as libc::c_int,
    };
    loop {
        // SAFETY: `PollFd` is a transparent `libc::pollfd`, so `fds` is a
        // valid array of `fds.len()` pollfd structs for the kernel to fill.
        let r = unsafe { libc::poll(fds.as_mut_ptr().cast(), fds.len() as libc::nfds_t, ms) };
        if r >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// A wake-up counter another thread can signal (`eventfd(2)`).
#[derive(Debug)]
pub(crate) struct EventFd(OwnedFd);

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd returns a new descriptor that we own.
        let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: freshly created, owned by nobody else.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.0.as_fd()
    }

    /// Adds one to the counter, waking a poller. Never blocks.
    pub(crate) fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64. The only possible failure
        // is EAGAIN when the counter is saturated, which still means "woken".
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets the counter to zero.
    pub(crate) fn clear(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64; EAGAIN (already zero) is fine.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    }
}

/// Opens a pidfd for `pid`: readable once the process has exited.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: the syscall takes (pid, flags) and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: freshly created, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Reports how `pid` ended if it has, *without reaping it*.
///
/// Why not reap here: while the child is an unreaped zombie its pid (and so
/// its process-group id) cannot be reused, which is what makes signalling
/// the group later safe. Reaping happens once, in [`reap`].
pub(crate) fn peek_exit(pid: libc::pid_t) -> io::Result<Option<ExitStatus>> {
    loop {
        // SAFETY: zeroed siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT | libc::WNOHANG,
            )
        };
        if r == -1 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        // SAFETY: waitid filled `info`; with WNOHANG and no exited child,
        // si_pid is left zero.
        let (child, status) = unsafe { (info.si_pid(), info.si_status()) };
        if child == 0 {
            return Ok(None);
        }
        return Ok(Some(match info.si_code {
            libc::CLD_EXITED => ExitStatus::Exited(status),
            _ => ExitStatus::Signaled(status),
        }));
    }
}

/// Waits for `pid` to end and reaps it. Call exactly once per child.
pub(crate) fn reap(pid: libc::pid_t) -> io::Result<ExitStatus> {
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid out-parameter.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
    Ok(if libc::WIFEXITED(status) {
        ExitStatus::Exited(libc::WEXITSTATUS(status))
    } else {
        ExitStatus::Signaled(libc::WTERMSIG(status))
    })
}

/// Sends `signal` to process group `pgid`. A group that no longer exists
/// (`ESRCH`) is not an error: there is nobody left to signal.
pub(crate) fn signal_group(pgid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: killpg has no memory-safety preconditions.
    if unsafe { libc::killpg(pgid, signal) } == -1 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ESRCH) {
            return Err(err);
        }
    }
    Ok(())
}

/// Sends SIGKILL to every live process in terminal session `sid` (the
/// child's pid: it is the session leader) other than the leader itself.
///
/// Why the process group is not enough: a job-control shell (any
/// interactive shell on a terminal) runs each job in a process group of
/// its own, and only the foreground one is reachable through the
/// terminal. Background jobs would survive close, reparented to init.
/// Every process of the session, whatever its group, keeps the session id
/// unless it calls `setsid(2)` itself (a deliberate daemon).
///
/// Why pidfds: a pid read from `/proc` may belong to a process that exits
/// and whose pid is reused before we signal it. A pidfd pins the process:
/// we check the session through `/proc` *after* opening it, and the signal
/// goes to the pinned process or nowhere.
///
/// Why rounds: a member may fork between the scan and its death; the next
/// scan finds the new process. A process with SIGKILL pending cannot fork,
/// so a round that finds nobody new ends it.
pub(crate) fn kill_session(sid: libc::pid_t) {
    const MAX_ROUNDS: usize = 16;
    let mut signalled: Vec<libc::pid_t> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let fresh: Vec<libc::pid_t> = session_members(sid)
            .into_iter()
            .filter(|&p| p != sid && !signalled.contains(&p))
            .collect();
        if fresh.is_empty() {
            return;
        }
        for pid in fresh {
            if let Ok(fd) = pidfd_open(pid)
                && session_of(pid) == Some(sid)
            {
                // SAFETY: pidfd_send_signal(fd, sig, info = NULL, flags = 0)
                // on a pidfd we own; no memory is passed.
                unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        fd.as_raw_fd(),
                        libc::SIGKILL,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    )
                };
            }
            signalled.push(pid);
        }
    }
}

/// The processes whose session id is `sid` (zombies included: signalling
/// one is harmless).
fn session_members(sid: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|&pid| session_of(pid) == Some(sid))
        .collect()
}

/// The session id of `pid`, if it exists. Why `getsid(2)` rather than
/// reading `/proc/<pid>/stat`: one system call instead of an open, a read
/// and a close per process, and the scan covers every process on the
/// machine on every close.
fn session_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    // SAFETY: getsid has no memory-safety preconditions. Linux answers for
    // processes of other sessions too (it never returns EPERM).
    let sid = unsafe { libc::getsid(pid) };
    (sid > 0).then_some(sid)
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

/// Whether `path` is executable by this process (`access(X_OK)`).
pub(crate) fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated string.
    unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
}
