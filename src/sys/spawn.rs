//! Starting a child on a new PTY: the fork, the child's set-up, the exec.
// The portable backend uses this module's `Spec`, `Child` and set-up only.
#![cfg_attr(bgterm_portable, allow(unused_imports))]

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::sys::{check, process, pty};

/// What to start: every value already validated by the caller.
pub(crate) struct Spec<'a> {
    /// The absolute path of the program (the child changes to `cwd` before
    /// it execs, so a relative path would be looked up there).
    pub(crate) program: &'a Path,
    /// The argv, `argv[0]` included.
    pub(crate) argv: &'a [OsString],
    /// The child's whole environment.
    pub(crate) env: &'a [(OsString, OsString)],
    pub(crate) cwd: &'a PathBuf,
    pub(crate) rows: u16,
    pub(crate) cols: u16,
}

/// A started child and the descriptors that watch it.
pub(crate) struct Child {
    /// Our own non-blocking, close-on-exec descriptor for the PTY master.
    pub(crate) master: OwnedFd,
    /// Readable once the child has exited.
    pub(crate) pidfd: OwnedFd,
    /// The child's pid, which is also its process-group and session id.
    pub(crate) pid: libc::pid_t,
    /// What the backend keeps for the session (see [`crate::sys::backend`]).
    pub(crate) backend: crate::sys::backend::Backend,
}

/// Opens a PTY and starts `spec` on it, leading its own session with the
/// PTY as controlling terminal. Exec failures are reported here.
#[cfg(not(bgterm_portable))]
pub(crate) fn spawn(spec: &Spec<'_>) -> io::Result<Child> {
    let (master, slave) = pty::openpty(spec.rows, spec.cols)?;
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
    // Why std's Command rather than a PTY crate's spawn: it forks without
    // allocating in the child, reports exec failure as an error, and
    // copies the environment once.
    let child = cmd.spawn()?;
    // The Command holds the parent's copies of the slave: close them now,
    // so the master reports EOF once every holder in the child is gone.
    drop(cmd);
    let pid = child.id() as libc::pid_t;
    // std's Child does not wait or kill on drop; we reap by pid ourselves.
    drop(child);
    let pidfd = match process::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = process::signal_group(pid, libc::SIGKILL);
            let _ = process::reap(pid);
            return Err(e);
        }
    };
    Ok(Child {
        master,
        pidfd,
        pid,
        backend: crate::sys::backend::Backend,
    })
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
        // `as _`: the request is a c_ulong on Linux and the BSDs, a c_uint on macOS.
        check(libc::ioctl(0, libc::TIOCSCTTY as _, 0))?;
        #[cfg(target_os = "linux")]
        let closed = libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
        // Elsewhere: the loop below (no close_range with CLOEXEC).
        #[cfg(not(target_os = "linux"))]
        let closed = -1;
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
