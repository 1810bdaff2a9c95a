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
//!   `Command` (the native backend's own `clone` is Linux's) with an
//!   async-signal-safe set-up of its own in `pre_exec` ([`child_setup`]:
//!   the native one's steps, in plain POSIX), on a slave we open by name.
//!   The set-up changes to the cwd itself and reports which step failed
//!   through a pipe, so that set-up, cwd and exec failures are the same
//!   typed errors as natively.
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
//!   costs (the native backend has none). If `waitid` says ECHILD instead,
//!   someone else (a host that ignores SIGCHLD, or reaps in a handler)
//!   reaped the child: the waiter records it, and from then on nothing is
//!   signalled by that pid, and the status is [`ExitStatus::Unknown`].
//! - **Signals** go by pid (there is no pidfd), and only while the child is
//!   provably unreaped: its waiter has not seen it reaped, and a
//!   `waitid(WNOWAIT | WNOHANG)` just before the signal still finds it
//!   (running or a zombie), so its pid, group and session id are its own.
//!   (Without a pidfd, a foreign reap between that check and the signal
//!   cannot be ruled out; the native backend has no such window.) The
//!   terminal's foreground group is signalled only if its leader is in the
//!   child's session. On Linux, close kills the rest of the session with
//!   the native scan ([`process::kill_session_while`]), under the same
//!   check.
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

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use parking_lot::Mutex;
use portable_pty::{MasterPty, PtySize, SlavePty};

use crate::status::ExitStatus;
use crate::sys::check;
#[cfg(target_os = "linux")]
use crate::sys::process;
use crate::sys::spawn::{Child, SpawnError, Spec, Stage};

/// What the portable backend keeps for a session beyond its descriptors.
pub(crate) struct Backend {
    /// portable-pty's master (sizes); its descriptor is also the one we
    /// dup'd for the engine.
    master: Mutex<Box<dyn MasterPty + Send>>,
    /// portable-pty's slave, held until the exit's output is drained.
    slave: Mutex<Option<Box<dyn SlavePty + Send>>>,
    /// The waiter thread, joined before the reap.
    waiter: Mutex<Option<JoinHandle<()>>>,
    /// The child's pid (its process-group and session id while unreaped).
    pid: libc::pid_t,
    /// Set by the waiter when `waitid` found no such child: someone else
    /// reaped it, and its pid may be anyone's now.
    reaped_elsewhere: Arc<AtomicBool>,
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

    /// Joins the waiter thread and lets go of the slave. Called after the
    /// child was killed (or has exited) and before it is reaped: the
    /// thread returns once the child is dead, and must not be waiting on a
    /// pid that a reap made free for reuse.
    fn before_reap(&self) {
        if let Some(waiter) = self.waiter.lock().take() {
            let _ = waiter.join();
        }
        self.release_slave();
    }

    /// Whether the child is provably still unreaped (running, or a zombie
    /// nobody reaped): its waiter has not seen it reaped, and `waitid`
    /// still finds it.
    fn ours(&self) -> bool {
        !self.reaped_elsewhere.load(Ordering::Acquire)
            && !matches!(waitid(self.pid, libc::WNOWAIT | libc::WNOHANG), Err(e) if e.raw_os_error() == Some(libc::ECHILD))
    }

    /// How the child ended if it has, without reaping it. Someone else
    /// reaped it: [`ExitStatus::Unknown`] (never made up).
    pub(crate) fn peek_exit(&self, _exit: BorrowedFd<'_>) -> io::Result<Option<ExitStatus>> {
        if self.reaped_elsewhere.load(Ordering::Acquire) {
            return Ok(Some(ExitStatus::Unknown));
        }
        match waitid(self.pid, libc::WNOWAIT | libc::WNOHANG) {
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Ok(Some(ExitStatus::Unknown)),
            other => other,
        }
    }

    /// Joins the waiter, then waits for the child and reaps it. Call once,
    /// after the kill. A child someone else reaped is not an error: its
    /// status is [`ExitStatus::Unknown`], and its pid, which may be
    /// anyone's now, is not waited for.
    pub(crate) fn reap(&self, _exit: BorrowedFd<'_>) -> io::Result<ExitStatus> {
        self.before_reap();
        if self.reaped_elsewhere.load(Ordering::Acquire) {
            return Ok(ExitStatus::Unknown);
        }
        match waitid(self.pid, 0) {
            Ok(Some(status)) => Ok(status),
            Ok(None) => Ok(ExitStatus::Unknown),
            Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Ok(ExitStatus::Unknown),
            Err(e) => Err(e),
        }
    }

    /// Sends `signal` to the process group the child leads, if it is
    /// provably still unreaped (see the module docs).
    pub(crate) fn signal_own_group(
        &self,
        _exit: BorrowedFd<'_>,
        pid: libc::pid_t,
        signal: libc::c_int,
    ) -> io::Result<()> {
        valid_signal(signal)?;
        if !self.ours() {
            return Ok(());
        }
        killpg(pid, signal)
    }

    /// Sends `signal` to group `pgid` of the child's session (`sid`, the
    /// child's pid), if the child is provably unreaped and the group's
    /// leader is in its session.
    pub(crate) fn signal_session_group(
        &self,
        _exit: BorrowedFd<'_>,
        sid: libc::pid_t,
        pgid: libc::pid_t,
        signal: libc::c_int,
    ) -> io::Result<()> {
        valid_signal(signal)?;
        // SAFETY: getpgid and getsid have no memory-safety preconditions.
        let (group, session) = unsafe { (libc::getpgid(pgid), libc::getsid(pgid)) };
        if group != pgid || session != sid || !self.ours() {
            return Ok(());
        }
        killpg(pgid, signal)
    }

    /// Stops the child (SIGSTOP) before its session is killed, as the
    /// native backend does, if it is provably unreaped.
    pub(crate) fn freeze(&self, _exit: BorrowedFd<'_>) -> io::Result<()> {
        if !self.ours() {
            return Ok(());
        }
        // SAFETY: kill has no memory-safety preconditions.
        check(unsafe { libc::kill(self.pid, libc::SIGSTOP) })
            .map(drop)
            .or_else(not_found)
    }

    /// SIGKILL to every other process of the child's session: on Linux the
    /// native scan, each member checked while the child is provably
    /// unreaped; elsewhere nothing beyond the groups
    /// [`signal_own_group`](Self::signal_own_group) and
    /// [`signal_session_group`](Self::signal_session_group) reach (finding
    /// the members safely needs Linux's pidfds and `/proc`).
    pub(crate) fn kill_session(&self, _exit: BorrowedFd<'_>, sid: libc::pid_t) {
        #[cfg(target_os = "linux")]
        process::kill_session_while(sid, || self.ours());
        #[cfg(not(target_os = "linux"))]
        let _ = sid;
    }
}

/// ESRCH (nobody left to signal) is not an error.
fn not_found(e: io::Error) -> io::Result<()> {
    if e.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(e)
    }
}

/// `killpg(pgid, signal)`; ESRCH is not an error.
fn killpg(pgid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: killpg has no memory-safety preconditions.
    check(unsafe { libc::killpg(pgid, signal) })
        .map(drop)
        .or_else(not_found)
}

/// Whether `signal` is a signal number (0 included, which checks only).
fn valid_signal(signal: libc::c_int) -> io::Result<()> {
    if (0..65).contains(&signal) {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(libc::EINVAL))
    }
}

/// `waitid(P_PID, pid, options | WEXITED)`, retrying EINTR. `Ok(None)`: no
/// exit to report yet (with `WNOHANG`); `Err(ECHILD)`: no such child (it
/// was reaped, by someone else).
fn waitid(pid: libc::pid_t, options: libc::c_int) -> io::Result<Option<ExitStatus>> {
    crate::sys::process::wait_on(libc::P_PID, pid as libc::id_t, options)
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

/// Blocks until `pid` has exited, without reaping it. Returns false if
/// there is no such child: someone else reaped it.
fn wait_exited(pid: libc::pid_t) -> bool {
    // Anything else than ECHILD (should not happen) means there is nothing
    // to wait for either: the pump asks `peek_exit` itself.
    !matches!(waitid(pid, libc::WNOWAIT), Err(e) if e.raw_os_error() == Some(libc::ECHILD))
}

/// The stages the set-up reports through its pipe (one byte).
const STAGE_SETUP: u8 = 1;
const STAGE_CWD: u8 = 2;

/// The child's set-up between std's fork and the exec (std has put the
/// slave on fds 0, 1 and 2), in the native set-up's order: default
/// dispositions for every caught signal and for the signals a caller may
/// have ignored, an empty signal mask, a new session, the slave as
/// controlling terminal, close-on-exec on every descriptor above stderr;
/// then the change to `cwd`. A failed step writes its stage to `report`
/// (close-on-exec: an exec that succeeds closes it unwritten) before the
/// error goes back to std.
///
/// # Safety
///
/// Call only in the forked child (it is async-signal-safe: plain system
/// calls on values prepared before the fork, no allocation, no locks).
unsafe fn child_setup(cwd: &CString, report: RawFd) -> io::Result<()> {
    let failed = |stage: u8, e: io::Error| {
        // SAFETY: writes one byte from a valid location.
        unsafe { libc::write(report, (&stage as *const u8).cast(), 1) };
        e
    };
    // SAFETY (whole block): only async-signal-safe system calls on values
    // owned by this function or prepared before the fork.
    unsafe {
        crate::sys::spawn::default_signals();
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        check(libc::setsid()).map_err(|e| failed(STAGE_SETUP, e))?;
        // `as _`: the request is a c_ulong on Linux and the BSDs, a c_uint on macOS.
        check(libc::ioctl(0, libc::TIOCSCTTY as _, 0)).map_err(|e| failed(STAGE_SETUP, e))?;
        crate::sys::spawn::cloexec_above_stderr();
        check(libc::chdir(cwd.as_ptr())).map_err(|e| failed(STAGE_CWD, e))?;
    }
    Ok(())
}

/// Opens a PTY with portable-pty and starts `spec` on it, leading its own
/// session with the PTY as controlling terminal; starts its waiter.
/// Set-up, `chdir` and exec failures are reported with their stage.
pub(crate) fn spawn(spec: &Spec<'_>) -> Result<Child, SpawnError> {
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
        return Err(io::Error::from_raw_os_error(libc::EMFILE).into());
    }
    let cwd = CString::new(spec.cwd.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let (report_read, report_write) = wake::pipe()?;
    let mut cmd = std::process::Command::new(spec.program);
    cmd.arg0(&spec.argv[0])
        .args(&spec.argv[1..])
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave));
    let report = report_write.as_raw_fd();
    // SAFETY: `child_setup` is async-signal-safe, runs after std has put
    // the slave on fd 0, and uses only `cwd` and `report`, both alive
    // until `spawn` returns.
    unsafe {
        cmd.pre_exec(move || child_setup(&cwd, report));
    }
    let spawned = cmd.spawn();
    // The Command's copies of the slave go now; portable-pty's stays held.
    drop(cmd);
    drop(report_write);
    let child = match spawned {
        Ok(child) => child,
        Err(source) => {
            // std returns once the child has exec'd or exited: a failed
            // step's byte is in the pipe already; none means the exec.
            let mut stage = 0u8;
            // SAFETY: reads one byte into a valid location.
            let n = unsafe { libc::read(report_read.as_raw_fd(), (&mut stage as *mut u8).cast(), 1) };
            let stage = match (n, stage) {
                (1, STAGE_SETUP) => Stage::Setup,
                (1, STAGE_CWD) => Stage::Cwd,
                _ => Stage::Exec,
            };
            return Err(SpawnError { stage, source });
        }
    };
    let pid = child.id() as libc::pid_t;
    drop(child);
    let reaped_elsewhere = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&reaped_elsewhere);
    let waiter = std::thread::Builder::new()
        .name("bgterm-waiter".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            if !wait_exited(pid) {
                seen.store(true, Ordering::Release);
            }
            // Closing the write end makes the read end readable: the exit.
            drop(exit_write);
        });
    let waiter = match waiter {
        Ok(w) => w,
        Err(e) => {
            // Signalled and reaped only while still found unreaped.
            let gone = |e: &io::Error| e.raw_os_error() == Some(libc::ECHILD);
            if !matches!(waitid(pid, libc::WNOWAIT | libc::WNOHANG), Err(e) if gone(&e)) {
                let _ = killpg(pid, libc::SIGKILL);
                let _ = waitid(pid, 0);
            }
            return Err(e.into());
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
            pid,
            reaped_elsewhere,
        },
    })
}
