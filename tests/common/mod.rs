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
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the ")" that closes the command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
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

pub fn has(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}
