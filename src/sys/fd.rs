//! Descriptors the reactor waits on: non-blocking reads and writes,
//! `epoll(7)`, the eventfds that wake it, and `poll(2)` for a sink's
//! writer.

// With select(2), only `Io`, `read`, `write` and `Readiness` are used here.
#![cfg_attr(bgterm_select, allow(unused_imports))]

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use crate::sys::check;

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

/// Reads once from a non-blocking descriptor, retrying `EINTR`. A
/// zero-length read is [`Io::Closed`].
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Io> {
    transfer(|| {
        // SAFETY: `buf` is a valid writable slice of `buf.len()` bytes.
        unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) }
    })
    .map(|io| if io == Io::Done(0) { Io::Closed } else { io })
}

/// Writes once to a non-blocking descriptor, retrying `EINTR`.
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<Io> {
    transfer(|| {
        // SAFETY: `buf` is a valid readable slice of `buf.len()` bytes.
        unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) }
    })
}

/// Runs one `read(2)`/`write(2)` until it is not interrupted, and sorts
/// its outcome.
fn transfer(mut call: impl FnMut() -> isize) -> io::Result<Io> {
    loop {
        let n = call();
        if n >= 0 {
            return Ok(Io::Done(n as usize));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(Io::WouldBlock),
            // Why EIO is not an error: Linux reports "every slave descriptor
            // is closed" on a PTY master as EIO, after the last byte.
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
#[cfg(not(bgterm_select))]
#[derive(Debug)]
pub(crate) struct EventFd(OwnedFd);

#[cfg(not(bgterm_select))]
impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd returns a new descriptor that we own.
        let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: freshly created, owned by nobody else.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
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

/// An epoll instance: one wait over every session's descriptors.
#[cfg(not(bgterm_select))]
#[derive(Debug)]
pub(crate) struct Epoll(OwnedFd);

// No eventfd or epoll elsewhere: a pipe and select(2), same interfaces
// (see build.rs for testing them on Linux).
#[cfg(bgterm_select)]
pub(crate) use crate::sys::portable::{select::Select as Epoll, wake::Wake as EventFd};

/// How [`Epoll`] watches a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Level-triggered, for reading (or a hang-up).
    Read,
    /// Edge-triggered where the wait has edges (epoll), for reading and,
    /// with `write`, writing: a streaming PTY master. The user reads until
    /// a read comes back short and writes until one would block, or comes
    /// back by itself; it is not told again about what it left.
    ///
    /// Why edges for a PTY: on Linux, a check that finds a PTY's input
    /// empty (a `read` or a level-triggered wait re-polling it) blocks
    /// until the terminal's flush work has run. One thread serving many
    /// streaming PTYs would wait for each one's kernel worker in turn;
    /// edge-triggered, it is only told once bytes are there, and waits for
    /// nobody. `Select` (`sys::portable::select`) has no
    /// edges and watches it level-triggered, which the same user handles.
    Stream { write: bool },
    /// Edge-triggered, for input and hang-ups: reported once per change.
    /// Why: a PTY master whose slave side nobody holds reports a hang-up to
    /// every level-triggered wait, which would spin; edge-triggered, it is
    /// reported once, then again only when the terminal changes (a reopened
    /// slave writes, or closes again).
    Edge,
}

/// One readiness report from [`Epoll::wait`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Readiness {
    /// The token the descriptor was registered with.
    pub(crate) token: u64,
    /// Readable, hung up, or in error (a read will say which).
    pub(crate) readable: bool,
    /// Writable, or in error.
    pub(crate) writable: bool,
    /// Hung up or in error: a read will end (edge-triggered, this is said
    /// once; `Select` (`sys::portable::select`) never says
    /// it, and reports the descriptor readable until it is read to its end).
    pub(crate) hangup: bool,
}

#[cfg(not(bgterm_select))]
impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 returns a new descriptor that we own.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: freshly created, owned by nobody else.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn ctl(&self, op: libc::c_int, fd: BorrowedFd<'_>, token: u64, mode: Mode) -> io::Result<()> {
        let events = match mode {
            Mode::Read => libc::EPOLLIN,
            Mode::Stream { write: false } => libc::EPOLLIN | libc::EPOLLET,
            Mode::Stream { write: true } => libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLET,
            Mode::Edge => libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET,
        } as u32;
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event; both descriptors are open.
        check(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), op, fd.as_raw_fd(), &mut ev) })?;
        Ok(())
    }

    /// Watches `fd` as `mode` says.
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, token: u64, mode: Mode) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, mode)
    }

    /// Changes how `fd` is watched.
    pub(crate) fn modify(&self, fd: BorrowedFd<'_>, token: u64, mode: Mode) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, mode)
    }

    /// Stops watching `fd`.
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        // SAFETY: a null event is allowed for EPOLL_CTL_DEL since Linux 2.6.9.
        check(unsafe {
            libc::epoll_ctl(
                self.0.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd.as_raw_fd(),
                std::ptr::null_mut(),
            )
        })?;
        Ok(())
    }

    /// Waits until a watched descriptor is ready or `timeout` passes
    /// (`None`: no limit), retrying `EINTR`; appends what is ready to `out`.
    pub(crate) fn wait(&self, out: &mut Vec<Readiness>, timeout: Option<Duration>) -> io::Result<()> {
        const BATCH: usize = 256;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
        let ms: libc::c_int = match timeout {
            None => -1,
            Some(t) => t.as_micros().div_ceil(1000).min(libc::c_int::MAX as u128) as libc::c_int,
        };
        let n = loop {
            // SAFETY: `events` is a valid buffer of BATCH epoll_events.
            let r = unsafe {
                libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), BATCH as libc::c_int, ms)
            };
            if r >= 0 {
                break r as usize;
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(err);
            }
        };
        let read_bits = (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        let write_bits = (libc::EPOLLOUT | libc::EPOLLERR) as u32;
        let hangup_bits = (libc::EPOLLHUP | libc::EPOLLRDHUP | libc::EPOLLERR) as u32;
        out.extend(events[..n].iter().map(|e| Readiness {
            token: e.u64,
            readable: e.events & read_bits != 0,
            writable: e.events & write_bits != 0,
            hangup: e.events & hangup_bits != 0,
        }));
        Ok(())
    }
}
