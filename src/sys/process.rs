//! The child process: its pidfd, its exit status, signals, and the other
//! members of its terminal session.
//!
//! Everything here goes through the child's pidfd, taken with the child
//! itself (see [`crate::sys::spawn`]), never through a bare pid that may
//! have been freed and reused:
//!
//! - its exit is looked at and reaped with `waitid(P_PIDFD)`;
//! - its process group is signalled with `pidfd_send_signal` and
//!   `PIDFD_SIGNAL_PROCESS_GROUP` (Linux 6.9+), which names the group by
//!   the kernel's pid object, not by number: after a reap the group is
//!   either still ours or empty, never a stranger's;
//! - any other process (the terminal's foreground group, background jobs)
//!   is pinned by a pidfd of its own, checked to be in the child's
//!   session, and signalled only if the child is *then* still unreaped:
//!   while it is, its pid, which is the session id, cannot belong to
//!   anyone else, so every process in that session is ours. Once someone
//!   else reaped the child (a host that ignores SIGCHLD, or reaps in a
//!   handler), the session id is a bare number that may be reused, and
//!   those other processes are left alone: callers therefore signal them
//!   *before* the child itself.
//! - the exit status comes from `waitid` while the child is unreaped; if
//!   someone else reaped it, from the pidfd (Linux 6.15+ keeps it there),
//!   else it is [`ExitStatus::Unknown`]. Never made up.

// The portable backend uses only the session scan (on Linux) and
// `is_executable`; elsewhere there is no pidfd at all.
#![cfg_attr(bgterm_portable, allow(dead_code))]
#![cfg_attr(not(target_os = "linux"), allow(unused_imports))]

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

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

/// `waitid(P_PIDFD, pidfd, options | WEXITED)`, retrying EINTR.
/// `Ok(None)`: no exit to report yet (with `WNOHANG`); `Err(ECHILD)`: the
/// child was reaped by someone else.
#[cfg(target_os = "linux")]
fn waitid(pidfd: BorrowedFd<'_>, options: libc::c_int) -> io::Result<Option<ExitStatus>> {
    wait_on(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, options)
}

/// `waitid(idtype, id, options | WEXITED)`, retrying EINTR, as a status:
/// `Ok(None)` when there is no exit to report yet (with `WNOHANG`). Both
/// backends wait through this (by pidfd, or by pid where there is none).
pub(crate) fn wait_on(
    idtype: libc::idtype_t,
    id: libc::id_t,
    options: libc::c_int,
) -> io::Result<Option<ExitStatus>> {
    loop {
        // SAFETY: zeroed siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: plain system call; `info` outlives it.
        let r = unsafe { libc::waitid(idtype, id, &mut info, options | libc::WEXITED) };
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

/// Reports how the child ended if it has, *without reaping it*.
///
/// Why not reap here: while the child is an unreaped zombie its pid (and
/// so its process-group and session id) cannot be reused, which is what
/// makes signalling its session later safe. Reaping happens once, in
/// [`reap`].
///
/// If someone else reaped it (a host that ignores SIGCHLD or reaps), the
/// status the kernel kept for the pidfd, or [`ExitStatus::Unknown`].
#[cfg(target_os = "linux")]
pub(crate) fn peek_exit(pidfd: BorrowedFd<'_>) -> io::Result<Option<ExitStatus>> {
    match waitid(pidfd, libc::WNOWAIT | libc::WNOHANG) {
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Ok(Some(reaped_elsewhere(pidfd))),
        other => other,
    }
}

/// Waits for the child to end and reaps it. Call once per child. If
/// someone else reaped it, the status the kernel kept for the pidfd, or
/// [`ExitStatus::Unknown`]: never an error.
#[cfg(target_os = "linux")]
pub(crate) fn reap(pidfd: BorrowedFd<'_>) -> io::Result<ExitStatus> {
    match waitid(pidfd, 0) {
        Ok(Some(status)) => Ok(status),
        // Without WNOHANG, waitid returns only once there is an exit.
        Ok(None) => Ok(reaped_elsewhere(pidfd)),
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Ok(reaped_elsewhere(pidfd)),
        Err(e) => Err(e),
    }
}

/// Whether the child is still unreaped (running, or a zombie): while it
/// is, its pid is its own.
#[cfg(target_os = "linux")]
pub(crate) fn unreaped(pidfd: BorrowedFd<'_>) -> bool {
    waitid(pidfd, libc::WNOWAIT | libc::WNOHANG).is_ok()
}

/// The status of a child someone else reaped: Linux 6.15+ keeps it for the
/// pidfd (`PIDFD_GET_INFO` with `PIDFD_INFO_EXIT`), from the moment the
/// reap completes. Older kernels, or none kept: [`ExitStatus::Unknown`].
#[cfg(target_os = "linux")]
fn reaped_elsewhere(pidfd: BorrowedFd<'_>) -> ExitStatus {
    // A reap in progress elsewhere: waitid already says ECHILD while the
    // exit information is not stored yet (microseconds). Bounded.
    const SETTLE: Duration = Duration::from_secs(1);
    let deadline = Instant::now() + SETTLE;
    loop {
        // SAFETY: a zeroed pidfd_info is a valid in/out argument.
        let mut info: libc::pidfd_info = unsafe { std::mem::zeroed() };
        info.mask = libc::PIDFD_INFO_EXIT as u64;
        // SAFETY: PIDFD_GET_INFO reads and writes a pidfd_info of the size
        // the request number encodes.
        let r = unsafe { libc::ioctl(pidfd.as_raw_fd(), libc::PIDFD_GET_INFO, &mut info) };
        if r == -1 {
            // ENOTTY / EINVAL: a kernel without the ioctl; ESRCH: gone, and
            // no exit information kept.
            return ExitStatus::Unknown;
        }
        if info.mask & libc::PIDFD_INFO_EXIT as u64 != 0 {
            let status = info.exit_code;
            return if libc::WIFEXITED(status) {
                ExitStatus::Exited(libc::WEXITSTATUS(status))
            } else if libc::WIFSIGNALED(status) {
                ExitStatus::Signaled(libc::WTERMSIG(status))
            } else {
                ExitStatus::Unknown
            };
        }
        // The process is still there (the reap is under way) or this
        // kernel keeps no exit information (then the deadline ends it).
        if Instant::now() >= deadline {
            return ExitStatus::Unknown;
        }
        std::thread::yield_now();
    }
}

/// `pidfd_send_signal(pidfd, signal, NULL, flags)`. ESRCH (nobody left to
/// signal) is not an error.
#[cfg(target_os = "linux")]
fn send(pidfd: BorrowedFd<'_>, signal: libc::c_int, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: no memory is passed (info = NULL).
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            flags,
        )
    };
    if r == -1 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ESRCH) {
            return Err(err);
        }
    }
    Ok(())
}

/// Stops the process behind `pidfd` (SIGSTOP, which cannot be caught):
/// while stopped it cannot exit, so its pid, group and session stay ours
/// until it is killed. Used just before a kill of its whole session, so
/// that the status it reports is the kill's, not an exit the killing of
/// its children let it reach first.
#[cfg(target_os = "linux")]
pub(crate) fn freeze(pidfd: BorrowedFd<'_>) -> io::Result<()> {
    send(pidfd, libc::SIGSTOP, 0)
}

/// Whether `signal` is a signal number (0 included, which checks only).
#[cfg(target_os = "linux")]
fn valid_signal(signal: libc::c_int) -> io::Result<()> {
    if (0..65).contains(&signal) {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(libc::EINVAL))
    }
}

/// Sends `signal` to the process group the child leads (`leader` is its
/// pidfd, `pgid` its pid), by the kernel's pid object: never to a group a
/// reused number names.
#[cfg(target_os = "linux")]
pub(crate) fn signal_own_group(
    leader: BorrowedFd<'_>,
    pgid: libc::pid_t,
    signal: libc::c_int,
) -> io::Result<()> {
    valid_signal(signal)?;
    match send(leader, signal, libc::PIDFD_SIGNAL_PROCESS_GROUP) {
        // EINVAL for a valid signal: a kernel before 6.9, without the flag.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            signal_members(leader, pgid, signal, |p| process_group_of(p) == Some(pgid))
        }
        other => other,
    }
}

/// Sends `signal` to process group `pgid` of the child's session (`sid`,
/// the child's pid; `leader` its pidfd), if that is provably still ours:
/// see the module docs. The terminal's foreground group, when a
/// job-control shell put a job there.
#[cfg(target_os = "linux")]
pub(crate) fn signal_session_group(
    leader: BorrowedFd<'_>,
    sid: libc::pid_t,
    pgid: libc::pid_t,
    signal: libc::c_int,
) -> io::Result<()> {
    valid_signal(signal)?;
    // The usual case: the group's leader is alive; pin it, check it, and
    // signal its group by pid object.
    if let Ok(fd) = pidfd_open(pgid)
        && process_group_of(pgid) == Some(pgid)
        && session_of(pgid) == Some(sid)
        && unreaped(leader)
    {
        match send(fd.as_fd(), signal, libc::PIDFD_SIGNAL_PROCESS_GROUP) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            other => return other,
        }
    }
    // Its leader is gone (or the kernel is older): each member on its own.
    signal_members(leader, sid, signal, |p| process_group_of(p) == Some(pgid))
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
/// Why rounds: a member may fork between the scan and its death; the next
/// scan finds the new process. A process with SIGKILL pending cannot fork,
/// so a round that finds nobody new ends it.
#[cfg(target_os = "linux")]
pub(crate) fn kill_session(leader: BorrowedFd<'_>, sid: libc::pid_t) {
    kill_session_while(sid, || unreaped(leader));
}

/// [`kill_session`] for a child known by pid only (the portable backend
/// on Linux): `ours` says whether the child is still provably unreaped,
/// checked after each scan, before anyone is signalled.
#[cfg(target_os = "linux")]
pub(crate) fn kill_session_while(sid: libc::pid_t, ours: impl Fn() -> bool) {
    const MAX_ROUNDS: usize = 16;
    let mut signalled: Vec<libc::pid_t> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let fresh = pin(sid, |p| p != sid && !signalled.contains(&p));
        if fresh.is_empty() {
            return;
        }
        signalled.extend(fresh.iter().map(|(p, _)| *p));
        if !ours() {
            // The session id may be a stranger's by now: signal nobody.
            return;
        }
        for (_, fd) in &fresh {
            let _ = send(fd.as_fd(), libc::SIGKILL, 0);
        }
    }
}

/// Signals, one by one, the processes of session `sid` that `member`
/// accepts, each pinned by a pidfd and checked after pinning, and only if
/// the child (`leader`) is still unreaped after the checks.
#[cfg(target_os = "linux")]
fn signal_members(
    leader: BorrowedFd<'_>,
    sid: libc::pid_t,
    signal: libc::c_int,
    member: impl Fn(libc::pid_t) -> bool,
) -> io::Result<()> {
    let pinned = pin(sid, &member);
    if !unreaped(leader) {
        return Ok(());
    }
    // Every one of them, even if one refuses (a set-uid member): the first
    // refusal is reported.
    let mut first = Ok(());
    for (_, fd) in &pinned {
        let sent = send(fd.as_fd(), signal, 0);
        if first.is_ok() {
            first = sent;
        }
    }
    first
}

/// The processes of session `sid` that `want` accepts, each pinned by a
/// pidfd opened *before* its session and `want` are checked: a signal to
/// that pidfd reaches the process that passed the checks or nobody (if it
/// died, and its number went to someone else, the checks may have looked
/// at the stranger, but the pidfd still names the dead process).
#[cfg(target_os = "linux")]
fn pin(sid: libc::pid_t, want: impl Fn(libc::pid_t) -> bool) -> Vec<(libc::pid_t, OwnedFd)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|&pid| session_of(pid) == Some(sid) && want(pid))
        .filter_map(|pid| {
            let fd = pidfd_open(pid).ok()?;
            (session_of(pid) == Some(sid) && want(pid)).then_some((pid, fd))
        })
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

/// The process-group id of `pid`, if it exists.
#[cfg(target_os = "linux")]
fn process_group_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    // SAFETY: getpgid has no memory-safety preconditions.
    let pg = unsafe { libc::getpgid(pid) };
    (pg > 0).then_some(pg)
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

#[cfg(all(test, not(bgterm_portable)))]
mod tests {
    use std::ffi::OsString;
    use std::time::Duration;

    use super::*;
    use crate::sys::fd::{self, Epoll, Io, Mode};
    use crate::sys::spawn::{self, Child, Spec};

    /// Whether `fd` becomes readable within `timeout`.
    fn readable_within(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
        let epoll = Epoll::new().expect("epoll");
        epoll.add(fd, 0, Mode::Read).expect("watch");
        let mut ready = Vec::new();
        epoll.wait(&mut ready, Some(timeout)).expect("wait");
        !ready.is_empty()
    }

    /// `sh -c script` on a PTY, and its output up to the first newline.
    fn start(script: &str) -> (Child, String) {
        let argv: Vec<OsString> = vec!["sh".into(), "-c".into(), script.into()];
        let env = vec![(OsString::from("PATH"), OsString::from("/usr/bin:/bin"))];
        let cwd = std::path::PathBuf::from("/");
        let child = spawn::spawn(&Spec {
            program: std::path::Path::new("/bin/sh"),
            argv: &argv,
            env: &env,
            cwd: &cwd,
            rows: 24,
            cols: 80,
        })
        .expect("spawn");
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        let deadline = Instant::now() + Duration::from_secs(20);
        while !out.contains(&b'\n') {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no line from the child: {out:?}");
            readable_within(child.master.as_fd(), left);
            if let Ok(Io::Done(n)) = fd::read(child.master.as_fd(), &mut buf) {
                out.extend_from_slice(&buf[..n]);
            }
        }
        (child, String::from_utf8_lossy(&out).into_owned())
    }

    /// Whether the process behind `pidfd` ends within a generous bound.
    fn ends(pidfd: BorrowedFd<'_>) -> bool {
        readable_within(pidfd, Duration::from_secs(20))
    }

    /// The fallback for kernels without `PIDFD_SIGNAL_PROCESS_GROUP` (this
    /// machine's kernel may never take it): every member of the group,
    /// pinned one by one, gets the signal.
    #[test]
    fn the_per_member_fallback_reaches_the_whole_group() {
        let (child, _) = start("sleep 100 & sleep 100 & echo started; wait");
        let members = pin(child.pid, |p| process_group_of(p) == Some(child.pid));
        assert_eq!(members.len(), 3, "sh and two sleeps");
        signal_members(child.pidfd.as_fd(), child.pid, libc::SIGKILL, |p| {
            process_group_of(p) == Some(child.pid)
        })
        .expect("signal");
        for (pid, fd) in &members {
            assert!(ends(fd.as_fd()), "{pid} survived");
        }
        assert_eq!(
            reap(child.pidfd.as_fd()).expect("reap"),
            ExitStatus::Signaled(libc::SIGKILL)
        );
    }

    /// With the child reaped by someone else, nothing but its own group
    /// (by pid object) is signalled: the session's other members are left
    /// alone, since its id can no longer be proven the child's.
    #[test]
    fn after_a_foreign_reap_the_session_is_not_proven_ours() {
        // A background job in a group of its own (as a job-control shell
        // makes), then the child exits.
        let (child, line) = start("set -m; sleep 100 & echo $!");
        let job: libc::pid_t = line.trim().parse().expect("job pid");
        let job_fd = pidfd_open(job).expect("pin the job");
        assert!(ends(child.pidfd.as_fd()));
        // A reap behind the crate's back.
        // SAFETY: reaps our own exited child by pid.
        assert_eq!(
            unsafe { libc::waitpid(child.pid, std::ptr::null_mut(), 0) },
            child.pid
        );
        assert!(!unreaped(child.pidfd.as_fd()));
        let status = peek_exit(child.pidfd.as_fd()).expect("peek").expect("ended");
        // Linux before 6.15 keeps no status for the pidfd.
        assert!(
            matches!(status, ExitStatus::Exited(0) | ExitStatus::Unknown),
            "{status:?}"
        );
        kill_session(child.pidfd.as_fd(), child.pid);
        signal_own_group(child.pidfd.as_fd(), child.pid, libc::SIGKILL).expect("own group");
        // A SIGKILL would end it within moments; this bounded wait is the
        // thing under test (no end is the expected outcome).
        assert!(
            !readable_within(job_fd.as_fd(), Duration::from_millis(500)),
            "the job was signalled"
        );
        send(job_fd.as_fd(), libc::SIGKILL, 0).expect("clean up");
        assert!(ends(job_fd.as_fd()));
    }
}
