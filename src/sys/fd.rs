//! Descriptors the pump waits on: non-blocking reads and writes,
//! `poll(2)`, and the eventfd that wakes it.

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

/// An epoll instance watching one descriptor edge-triggered: it becomes
/// readable (for [`poll`]) only when something *new* happens on that
/// descriptor. Why: a PTY master whose slave side nobody holds reports
/// POLLHUP to every `poll`, so polling it directly would spin; this
/// reports the hang-up once, then wakes again only when the terminal
/// changes (a reopened slave writes, or closes again).
#[derive(Debug)]
pub(crate) struct EdgeWatch(OwnedFd);

impl EdgeWatch {
    /// Watches `fd` for input and hang-ups, edge-triggered. Whatever is
    /// pending at this moment counts as the first edge.
    pub(crate) fn new(fd: BorrowedFd<'_>) -> io::Result<EdgeWatch> {
        // SAFETY: epoll_create1 returns a new descriptor that we own.
        let ep = unsafe { OwnedFd::from_raw_fd(check(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: 0,
        };
        // SAFETY: registers a valid descriptor with a valid event struct.
        check(unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut ev) })?;
        Ok(EdgeWatch(ep))
    }

    /// The descriptor to [`poll`] for readability.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    /// Takes the pending edge, if any, so that the next one wakes `poll`
    /// again. Never blocks.
    pub(crate) fn clear(&self) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: room for one event; timeout 0 never blocks.
        unsafe { libc::epoll_wait(self.0.as_raw_fd(), &mut ev, 1, 0) };
    }
}
