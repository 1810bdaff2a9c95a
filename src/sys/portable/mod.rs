//! The portable backend: portable-pty's PTY, our own child set-up, and a
//! waiter thread per session instead of a pidfd.
//!
//! It is the only backend on a unix other than Linux (macOS, the BSDs), and
//! selectable on Linux with the `portable-backend` feature, where the whole
//! test suite runs on it. What it does, and why:
//!
//! - **The PTY** comes from portable-pty (`native_pty_system().openpty`,
//!   i.e. `openpty(3)`: no `TIOCGPTPEER` needed, and the slave's name comes
//!   from `ttyname_r`, never from `ptsname`, which is not thread-safe).
//!   Its `MasterPty` is kept for [`resize`](Backend::resize). The master
//!   is a real descriptor on unix: we `dup` it (close-on-exec,
//!   non-blocking) so that the engine reads and writes it unchanged.
//!   portable-pty's reader and writer are never used (its writer sends
//!   `"\n"` and EOF when dropped).
//! - **The child** is spawned by us, never by portable-pty's
//!   `spawn_command` (which allocates between fork and exec, falls back to
//!   `$HOME` for a bad cwd and adds `SHELL` to a cleared environment): std's
//!   `Command` with the same async-signal-safe set-up as the native backend
//!   (`sys::spawn::child_setup`), on a slave we open by name. Exec
//!   failures and bad cwds are the same typed errors.
//! - **A slave descriptor is held** (portable-pty's own) until the child's
//!   exit has been noticed and the output read up to that moment, then
//!   released so that the master reports EOF once nobody else holds the
//!   terminal. Why: macOS discards output not yet read when the last slave
//!   descriptor closes, which the child's exit would otherwise do.
//! - **No pidfd** outside Linux: a waiter thread per session blocks in
//!   `waitid(P_PID, pid, WEXITED | WNOWAIT)` (it never reaps: close reaps,
//!   so the pid stays ours while signals go out), then closes the write end
//!   of a pipe whose read end the reactor watches in place of the pidfd.
//!   The thread ends when the child does and is joined at close, before
//!   the reap. This is the one thread per session the portable backend
//!   costs (the native backend has none).
//! - **Waiting on descriptors**: on Linux the reactor's epoll watches the
//!   master, as natively. Elsewhere there is no epoll, and `poll(2)` does
//!   not work on ttys on macOS: the reactor waits in `select(2)`
//!   ([`select`]), and the pump's wake-ups are pipes ([`wake`]), where
//!   Linux has eventfds (`cfg(bgterm_select)`; on Linux, `BGTERM_SELECT=1`
//!   with the feature builds the same, so that it is tested here).
//!
//! What differs from the native backend: portable-pty's `openpty` sets
//! close-on-exec just after opening (a program another thread starts in
//! that instant could inherit the PTY; our own children cannot); a thread
//! per session (the waiter); on a unix other than Linux, the watched
//! descriptors must be below `FD_SETSIZE` (1024; at 7 per running session,
//! about 140 at once), and close kills the child's process group and the
//! terminal's foreground group but not the background jobs a job-control
//! shell put in groups of their own (finding them safely needs Linux's
//! pidfds and `/proc`). Everything else (the unread cursor, event-driven
//! bounded waits, exact accounting, output at exit, a grandchild holding
//! the terminal) is the shared engine's.

pub(crate) mod select;
pub(crate) mod wake;

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use portable_pty::{MasterPty, PtySize, SlavePty};

use crate::sys::check;
use crate::sys::process;
use crate::sys::spawn::{Child, Spec, child_setup};

/// What the portable backend keeps for a session beyond its descriptors.
pub(crate) struct Backend {
    /// portable-pty's master (sizes); its descriptor is also the one we
    /// dup'd for the engine.
    master: Mutex<Box<dyn MasterPty + Send>>,
    /// portable-pty's slave, held until the exit's output is drained.
    slave: Mutex<Option<Box<dyn SlavePty + Send>>>,
    /// The waiter thread, joined before the reap.
    waiter: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("holds_slave", &self.holds_slave())
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// Sets the window size through portable-pty's master (the kernel
    /// sends SIGWINCH to the foreground group).
    pub(crate) fn resize(&self, _master: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
        self.master.lock().resize(size(rows, cols)).map_err(other)
    }

    /// Whether the slave descriptor is still held.
    pub(crate) fn holds_slave(&self) -> bool {
        self.slave.lock().is_some()
    }

    /// Releases the held slave descriptor: call once the child has exited
    /// and the master has been read until it had nothing more, so that
    /// nothing unread is lost when the terminal's last holder goes.
    pub(crate) fn release_slave(&self) {
        drop(self.slave.lock().take());
    }

    /// Joins the waiter thread. Call after the child was killed (or has
    /// exited) and before it is reaped: the thread returns once the child
    /// is dead, and must not be waiting on a pid that a reap made free for
    /// reuse.
    pub(crate) fn before_reap(&self) {
        if let Some(waiter) = self.waiter.lock().take() {
            let _ = waiter.join();
        }
        self.release_slave();
    }
}

fn size(rows: u16, cols: u16) -> PtySize {
    PtySize {
        rows,
        cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

/// portable-pty's errors (anyhow) as an `io::Error`, keeping an OS error
/// where there is one.
fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// A close-on-exec, non-blocking duplicate of `fd`.
fn dup_nonblocking(fd: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor that we own.
    let dup = unsafe { OwnedFd::from_raw_fd(check(libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3))?) };
    // SAFETY: fcntl on a descriptor we own. O_NONBLOCK is a property of the
    // open file, so portable-pty's descriptor is non-blocking too; we never
    // use its reader or writer.
    let flags = check(unsafe { libc::fcntl(dup.as_raw_fd(), libc::F_GETFL) })?;
    check(unsafe { libc::fcntl(dup.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(dup)
}

/// Opens the terminal device `path` (the slave) for the child's stdio.
fn open_slave(path: &std::path::Path) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `c` is a valid NUL-terminated path; open returns a new
    // descriptor that we own.
    let fd = check(unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) })?;
    // SAFETY: freshly opened, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Blocks until `pid` has exited, without reaping it.
fn wait_exited(pid: libc::pid_t) {
    loop {
        // SAFETY: zeroed siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        // EINTR: again. Anything else (ECHILD) means there is nothing to
        // wait for: tell the pump, which asks `peek_exit` itself.
        if r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// Opens a PTY with portable-pty and starts `spec` on it, leading its own
/// session with the PTY as controlling terminal; starts its waiter.
pub(crate) fn spawn(spec: &Spec<'_>) -> io::Result<Child> {
    let pair = portable_pty::native_pty_system()
        .openpty(size(spec.rows, spec.cols))
        .map_err(other)?;
    let raw = pair
        .master
        .as_raw_fd()
        .ok_or_else(|| io::Error::other("portable-pty's master has no descriptor"))?;
    let master = dup_nonblocking(raw)?;
    let name = pair
        .master
        .tty_name()
        .ok_or_else(|| io::Error::other("portable-pty's PTY has no slave name"))?;
    let slave = open_slave(&name)?;
    let (exit_read, exit_write) = wake::pipe()?;
    // Where the reactor waits in select(2), a descriptor it cannot watch
    // would leave the session unserved: refuse it (EMFILE, as for a full
    // descriptor table) before the child starts.
    #[cfg(bgterm_select)]
    if ![master.as_raw_fd(), exit_read.as_raw_fd()]
        .into_iter()
        .all(select::selectable)
    {
        return Err(io::Error::from_raw_os_error(libc::EMFILE));
    }
    let mut cmd = std::process::Command::new(spec.program);
    cmd.arg0(&spec.argv[0])
        .args(&spec.argv[1..])
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(spec.cwd)
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave));
    // SAFETY: `child_setup` is async-signal-safe and runs after std has
    // put the slave on fd 0.
    unsafe {
        cmd.pre_exec(|| child_setup());
    }
    let child = cmd.spawn()?;
    // The Command's copies of the slave go now; portable-pty's stays held.
    drop(cmd);
    let pid = child.id() as libc::pid_t;
    drop(child);
    let waiter = std::thread::Builder::new()
        .name("bgterm-waiter".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            wait_exited(pid);
            // Closing the write end makes the read end readable: the exit.
            drop(exit_write);
        });
    let waiter = match waiter {
        Ok(w) => w,
        Err(e) => {
            let _ = process::signal_group(pid, libc::SIGKILL);
            let _ = process::reap(pid);
            return Err(e);
        }
    };
    Ok(Child {
        master,
        pidfd: exit_read,
        pid,
        backend: Backend {
            master: Mutex::new(pair.master),
            slave: Mutex::new(Some(pair.slave)),
            waiter: Mutex::new(Some(waiter)),
        },
    })
}
