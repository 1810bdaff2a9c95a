//! The child process: its pidfd, its exit status, signals, and the other
//! members of its terminal session.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::status::ExitStatus;

/// Opens a pidfd for `pid`: readable once the process has exited.
#[cfg(target_os = "linux")]
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
#[cfg(target_os = "linux")]
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

/// Elsewhere (the portable backend on macOS, the BSDs) there is neither a
/// pidfd nor a `/proc` to find the session's members safely, so nothing
/// is signalled beyond the groups [`signal_group`] reaches: a job-control
/// shell's background jobs may survive close there.
#[cfg(not(target_os = "linux"))]
pub(crate) fn kill_session(_sid: libc::pid_t) {}

/// The processes whose session id is `sid` (zombies included: signalling
/// one is harmless).
#[cfg(target_os = "linux")]
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
#[cfg(target_os = "linux")]
fn session_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    // SAFETY: getsid has no memory-safety preconditions. Linux answers for
    // processes of other sessions too (it never returns EPERM).
    let sid = unsafe { libc::getsid(pid) };
    (sid > 0).then_some(sid)
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
