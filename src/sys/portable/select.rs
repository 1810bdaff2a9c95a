//! The reactor's wait where there is no epoll (every unix but Linux):
//! `select(2)`, with the same interface as the Linux `Epoll`.
//!
//! Why `select` rather than `poll(2)` or kqueue: `poll(2)` does not work
//! on tty devices on macOS (it reports them invalid), and kqueue's support
//! for ttys varies between systems and releases; `select(2)` works on
//! ttys, pipes and everything else on macOS and the BSDs alike (tmux, on
//! macOS, makes libevent use `select(2)` for the same reason), and this
//! code is plain POSIX, so it is compiled and tested on Linux too. The
//! price: descriptors must be below `FD_SETSIZE` (1024), checked at
//! [`add`](Select::add) (the portable spawn checks the session's
//! descriptors first, so a session that cannot be watched fails to start
//! instead of hanging), and each wait costs a pass over every registered
//! descriptor.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use parking_lot::Mutex;

use crate::sys::fd::{Mode, Readiness};

/// One registered descriptor.
#[derive(Clone, Copy, Debug)]
struct Entry {
    fd: RawFd,
    token: u64,
    /// Watched for writing too.
    write: bool,
    /// [`Mode::Edge`]: reported once, then left out of the wait until the
    /// next [`modify`](Select::modify) re-arms it.
    edge: bool,
    /// An edge entry's report is still due.
    armed: bool,
}

impl Entry {
    fn new(fd: RawFd, token: u64, mode: Mode) -> Entry {
        Entry {
            fd,
            token,
            write: mode == Mode::Stream { write: true },
            edge: mode == Mode::Edge,
            armed: true,
        }
    }
}

/// Registered descriptors. Level-triggered, like the epoll it stands in
/// for (and for [`Mode::Stream`] too, which its users handle), except
/// [`Mode::Edge`]: `select(2)` has no edges, so an edge entry
/// is reported once per [`add`](Select::add) or [`modify`](Select::modify)
/// (a hung-up master would otherwise wake every wait at once, for ever).
/// Why that is enough: the pump watches edge-triggered only while nobody
/// holds the terminal and the child lives, which the portable backend's
/// held slave rules out (see [`crate::sys::portable`]).
#[derive(Debug, Default)]
pub(crate) struct Select {
    watched: Mutex<Vec<Entry>>,
}

/// Whether `fd` can go into an `fd_set`.
pub(crate) fn selectable(fd: RawFd) -> bool {
    (0..libc::FD_SETSIZE as RawFd).contains(&fd)
}

#[cfg_attr(not(bgterm_select), allow(dead_code))]
impl Select {
    pub(crate) fn new() -> io::Result<Select> {
        Ok(Select::default())
    }

    /// Watches `fd` as `mode` says.
    ///
    /// # Errors
    ///
    /// `EINVAL` for a descriptor at or above `FD_SETSIZE`, `EEXIST` if it
    /// is watched already.
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, token: u64, mode: Mode) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        if !selectable(fd) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut w = self.watched.lock();
        if w.iter().any(|e| e.fd == fd) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        w.push(Entry::new(fd, token, mode));
        Ok(())
    }

    /// Changes how `fd` is watched (`ENOENT` if it is not watched); re-arms
    /// an edge entry.
    pub(crate) fn modify(&self, fd: BorrowedFd<'_>, token: u64, mode: Mode) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        let mut w = self.watched.lock();
        let e = w
            .iter_mut()
            .find(|e| e.fd == fd)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        *e = Entry::new(fd, token, mode);
        Ok(())
    }

    /// Stops watching `fd` (`ENOENT` if it is not watched).
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let fd = fd.as_raw_fd();
        let mut w = self.watched.lock();
        let i = w
            .iter()
            .position(|e| e.fd == fd)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        w.swap_remove(i);
        Ok(())
    }

    /// Waits until a watched descriptor is ready or `timeout` passes
    /// (`None`: no limit), retrying `EINTR` with the time left; appends
    /// what is ready to `out`.
    pub(crate) fn wait(&self, out: &mut Vec<Readiness>, timeout: Option<Duration>) -> io::Result<()> {
        let watched: Vec<Entry> = self
            .watched
            .lock()
            .iter()
            .filter(|e| !e.edge || e.armed)
            .copied()
            .collect();
        let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        loop {
            // SAFETY: zeroed fd_sets are valid, and FD_ZERO/FD_SET are given
            // descriptors below FD_SETSIZE (checked at `add`).
            let (mut rd, mut wr): (libc::fd_set, libc::fd_set) = unsafe { std::mem::zeroed() };
            let mut max = -1;
            unsafe {
                libc::FD_ZERO(&mut rd);
                libc::FD_ZERO(&mut wr);
                for e in &watched {
                    libc::FD_SET(e.fd, &mut rd);
                    if e.write {
                        libc::FD_SET(e.fd, &mut wr);
                    }
                    max = max.max(e.fd);
                }
            }
            let mut tv = deadline.map(|d| {
                // Rounded up to a microsecond, so that a wait never ends
                // before its time.
                let left = d.saturating_duration_since(std::time::Instant::now());
                let micros = left.as_nanos().div_ceil(1000).min(i32::MAX as u128 * 1_000_000);
                libc::timeval {
                    tv_sec: (micros / 1_000_000) as libc::time_t,
                    tv_usec: (micros % 1_000_000) as libc::suseconds_t,
                }
            });
            let tvp = tv
                .as_mut()
                .map_or(std::ptr::null_mut(), |t| t as *mut libc::timeval);
            // SAFETY: valid fd_sets and an optional valid timeval.
            let n = unsafe { libc::select(max + 1, &mut rd, &mut wr, std::ptr::null_mut(), tvp) };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(err);
            }
            if n > 0 {
                let mut fired = Vec::new();
                for e in &watched {
                    // SAFETY: as above.
                    let (readable, writable) =
                        unsafe { (libc::FD_ISSET(e.fd, &rd), e.write && libc::FD_ISSET(e.fd, &wr)) };
                    if readable || writable {
                        out.push(Readiness {
                            token: e.token,
                            readable,
                            writable,
                            hangup: false,
                        });
                        if e.edge {
                            fired.push((e.fd, e.token));
                        }
                    }
                }
                if !fired.is_empty() {
                    // Disarmed unless re-registered meanwhile.
                    for e in self.watched.lock().iter_mut() {
                        if e.edge && fired.contains(&(e.fd, e.token)) {
                            e.armed = false;
                        }
                    }
                }
            }
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::portable::wake::{Wake, pipe};
    use std::os::fd::AsFd;
    use std::time::Instant;

    #[test]
    fn select_reports_what_epoll_would() {
        let s = Select::new().unwrap();
        let a = Wake::new().unwrap();
        let (r, w) = pipe().unwrap();
        s.add(a.fd(), 7, Mode::Read).unwrap();
        s.add(r.as_fd(), 8, Mode::Read).unwrap();
        assert_eq!(
            s.add(a.fd(), 9, Mode::Read).unwrap_err().raw_os_error(),
            Some(libc::EEXIST)
        );

        let mut out = Vec::new();
        let t0 = Instant::now();
        s.wait(&mut out, Some(Duration::from_millis(30))).unwrap();
        assert!(out.is_empty(), "nothing ready: {out:?}");
        assert!(
            t0.elapsed() >= Duration::from_millis(30),
            "waited the whole timeout"
        );

        a.signal();
        s.wait(&mut out, None).unwrap();
        assert_eq!(
            out.iter().map(|r| (r.token, r.readable)).collect::<Vec<_>>(),
            [(7, true)]
        );
        out.clear();
        s.wait(&mut out, None).unwrap();
        assert_eq!(out.len(), 1, "level-triggered: still ready until cleared");
        a.clear();

        // The write end watched for writing: writable at once.
        s.add(w.as_fd(), 10, Mode::Stream { write: true }).unwrap();
        out.clear();
        s.wait(&mut out, Some(Duration::ZERO)).unwrap();
        assert_eq!(
            out.iter().map(|r| (r.token, r.writable)).collect::<Vec<_>>(),
            [(10, true)]
        );
        s.modify(w.as_fd(), 11, Mode::Read).unwrap();
        out.clear();
        s.wait(&mut out, Some(Duration::ZERO)).unwrap();
        assert!(out.is_empty(), "no longer watched for writing: {out:?}");

        // A hang-up (the write end closed) reads as readable.
        s.delete(w.as_fd()).unwrap();
        assert_eq!(
            s.delete(w.as_fd()).unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
        drop(w);
        out.clear();
        s.wait(&mut out, Some(Duration::ZERO)).unwrap();
        assert_eq!(out.iter().map(|r| r.token).collect::<Vec<_>>(), [8]);

        // Edge-triggered: the hang-up is reported once, then not until the
        // entry is re-armed.
        s.modify(r.as_fd(), 12, Mode::Edge).unwrap();
        out.clear();
        s.wait(&mut out, Some(Duration::ZERO)).unwrap();
        assert_eq!(out.iter().map(|r| r.token).collect::<Vec<_>>(), [12]);
        out.clear();
        s.wait(&mut out, Some(Duration::from_millis(30))).unwrap();
        assert!(out.is_empty(), "reported once: {out:?}");
        s.modify(r.as_fd(), 13, Mode::Edge).unwrap();
        s.wait(&mut out, Some(Duration::ZERO)).unwrap();
        assert_eq!(out.iter().map(|r| r.token).collect::<Vec<_>>(), [13], "re-armed");
    }

    #[test]
    fn a_descriptor_past_fd_setsize_is_refused() {
        assert!(selectable(0) && selectable(1023));
        assert!(!selectable(libc::FD_SETSIZE as RawFd) && !selectable(-1));
    }
}
