//! Helpers shared by the integration tests. Every wait here is event-driven
//! (a `poll` that wakes on output or exit) and bounded by a generous
//! deadline; none of them sleeps.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use bgterm::Session;

/// Generous bound for anything that should happen "promptly" on a loaded
/// 2-core machine.
pub const LONG: Duration = Duration::from_secs(20);

/// Polls until the accumulated text satisfies `done` or `timeout` passes;
/// returns everything read. Panics with what was seen on timeout.
pub fn read_until(s: &Session, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    let mut seen = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let out = s.poll(left).expect("poll");
        seen.push_str(&out.text);
        if done(&seen) {
            return seen;
        }
        if left.is_zero() {
            panic!("timed out after {timeout:?}; saw {seen:?}");
        }
        if !out.running && out.remaining_bytes == 0 && out.text.is_empty() {
            panic!(
                "child exited ({:?}) before the condition held; saw {seen:?}",
                out.exit_status
            );
        }
    }
}

/// Reads until `marker` appears.
pub fn expect(s: &Session, marker: &str) -> String {
    read_until(s, LONG, |t| t.contains(marker))
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    state(pid).is_some_and(|s| s != 'Z')
}

/// Whether `pid` exists at all (a zombie counts).
pub fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits until `pid` is no longer alive, for at most `timeout`. Event-driven:
/// a pidfd (which works for any process, not only our children) becomes
/// readable when the process exits.
pub fn gone_within(pid: u32, timeout: Duration) -> bool {
    // SAFETY: pidfd_open takes (pid, flags) and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return !alive(pid); // ESRCH: already gone (and reaped)
    }
    let fd = fd as libc::c_int;
    let deadline = Instant::now() + timeout;
    let mut exited = false;
    while !exited {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe {
            libc::poll(
                &mut p,
                1,
                left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int,
            )
        };
        exited = r > 0 && p.revents & libc::POLLIN != 0;
    }
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    exited || !alive(pid)
}

/// Whether `program` is an executable file in a `PATH` directory.
pub fn has(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            std::fs::metadata(d.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// The running test's name: libtest names each test's thread after its
/// test.
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed test thread>")
        .to_string()
}

/// Says that the running test (or a part of it) does not run, and why:
/// writes `SKIPPED: <test name>: <reason>` to stderr. Through
/// [`std::io::stderr`] with [`Write`](std::io::Write), not `eprintln!`:
/// libtest captures only the print macros, so this line shows in the
/// output of a passing `cargo test`.
///
/// When the environment variable `CI` is set, panics instead: CI installs
/// everything the suite needs, so there a skip is a failure.
pub fn skip(reason: &str) {
    use std::io::Write as _;
    let line = format!("SKIPPED: {}: {reason}", test_name());
    if std::env::var_os("CI").is_some() {
        panic!("{line} (CI is set, and CI must provide everything the tests need)");
    }
    // Nothing better to do if stderr itself is gone.
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Whether the optional `program` is installed. When it is not, reports
/// the skip with [`skip`] (which panics under CI) and returns false; the
/// caller then returns (or leaves out the part that needs the program).
pub fn require(program: &str) -> bool {
    if has(program) {
        return true;
    }
    skip(&format!("{program} is not installed"));
    false
}

/// The state letter of `pid` in `/proc/<pid>/stat` (`R`, `S`, `Z`, ...),
/// or `None` if there is no such process.
pub fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state letter follows the ")" that closes the command name.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Whether `pid` is a zombie: exited, but not yet reaped by its parent.
pub fn zombie(pid: u32) -> bool {
    state(pid) == Some('Z')
}

/// Whether this process has no child `pid` any more, running or exited:
/// `waitid` says ECHILD. It only looks (`WNOWAIT`), so it never reaps a
/// child that the library, or another test, is about to reap.
pub fn reaped(pid: u32) -> bool {
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: plain system call; `info` outlives it.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if r == 0 {
            return false; // our child, still running or an unreaped zombie
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ECHILD) => return true,
            other => panic!("waitid({pid}) failed: {other:?}"),
        }
    }
}

/// A thread whose result is awaited for a bounded time: see
/// [`spawn_bounded`].
pub struct Bounded<T>(std::sync::mpsc::Receiver<T>);

/// Runs `f` on a thread of its own, for calls that are unbounded by design
/// (`wait(None)`, a waiter that only a close should end): [`Bounded::join`]
/// then fails the test if it does not return in time, instead of hanging
/// the suite. (On that failure the thread is left behind.)
pub fn spawn_bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Bounded<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // The receiver is gone only if the test already failed.
        let _ = tx.send(f());
    });
    Bounded(rx)
}

impl<T> Bounded<T> {
    /// The thread's result, or a panic if it takes longer than `timeout`
    /// or panicked itself.
    pub fn join(self, timeout: Duration) -> T {
        match self.0.recv_timeout(timeout) {
            Ok(v) => v,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("the call did not return within {timeout:?}")
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                panic!("the thread panicked (its message is above)")
            }
        }
    }
}

/// Runs `f` on a thread of its own and returns its result, failing the
/// test if that takes longer than `timeout` (see [`spawn_bounded`]).
pub fn within<T: Send + 'static>(timeout: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    spawn_bounded(f).join(timeout)
}

/// Open descriptors of this process.
pub fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

/// Ids of this process's threads.
pub fn threads() -> std::collections::BTreeSet<u64> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .map(|e| {
            let name = e.expect("a task").file_name();
            name.to_str().and_then(|n| n.parse().ok()).expect("a thread id")
        })
        .collect()
}

/// The shells `run` is tested in, each as a user would start it (bash and
/// zsh without rc files, so the host's dotfiles do not matter).
pub const RUN_SHELLS: &[&[&str]] = &[
    &["sh"],
    &["dash"],
    &["bash", "--norc", "--noprofile"],
    &["zsh", "-f"],
    &["mksh"],
    &["busybox", "sh"],
];

/// Those of [`RUN_SHELLS`] that are installed. Each missing one is
/// reported through [`skip`]: a visible `SKIPPED:` line, and a failure
/// when `CI` is set (CI installs them all).
pub fn run_shells() -> Vec<Vec<&'static str>> {
    RUN_SHELLS
        .iter()
        .filter(|argv| {
            let found = has(argv[0]);
            if !found {
                skip(&format!("{} is not installed; not tested in it", argv[0]));
            }
            found
        })
        .map(|argv| argv.to_vec())
        .collect()
}
