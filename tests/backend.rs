//! The backend: which one the build chose, and what the portable backend
//! must not inherit from portable-pty. Every test here runs on both
//! backends (`cargo test` and `cargo test --features portable-backend`);
//! those that check something only one backend has say so.

mod common;

use std::collections::BTreeSet;

use bgterm::{ExitStatus, Session, SessionBuilder};
use common::LONG;

/// Held by every test here: one test fills the descriptor table, which
/// would fail the others' starts.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn the_build_chose_its_backend() {
    let want = if cfg!(feature = "portable-backend") || !cfg!(target_os = "linux") {
        "portable"
    } else {
        "native"
    };
    assert_eq!(bgterm::BACKEND, want);
}

/// portable-pty's spawn adds `SHELL` to a cleared environment; ours gives
/// the child exactly what was asked for (and the `TERM` the builder sets).
#[test]
fn a_cleared_environment_gets_nothing_added() {
    let _alone = alone();
    let s = SessionBuilder::new(["/usr/bin/env"])
        .env_clear()
        .env("ONLY", "this")
        .spawn()
        .unwrap();
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
    let text = s.read().unwrap().text;
    let names: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .filter(|k| *k != "TERM")
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["ONLY"]),
        "the child's environment: {text:?}"
    );
}

/// The exit is seen without reaping (a pidfd natively, a `WNOWAIT` waiter
/// on the portable backend): the child stays an unreaped zombie of ours, so
/// its pid and group cannot be reused while signals still go out, until
/// close reaps it and returns its real status.
#[test]
fn the_exit_is_seen_without_reaping_until_close() {
    let _alone = alone();
    let s = Session::start("exit 3").unwrap();
    let pid = s.pid();
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(3)));
    assert!(common::zombie(pid), "{pid} was reaped before close");
    assert!(!common::reaped(pid));
    // Signalling the exited group is harmless and still allowed.
    s.terminate().unwrap();
    assert_eq!(s.close().unwrap(), ExitStatus::Exited(3));
    assert!(common::reaped(pid), "{pid} is still a child of ours");
}

/// Output written just before the exit is all there when the exit is
/// published, on a burst larger than one read (the portable backend reads
/// the master dry before it lets go of the slave it holds, since macOS
/// would discard what is unread when the last slave descriptor closes).
#[test]
fn a_burst_written_just_before_the_exit_is_kept_whole() {
    let _alone = alone();
    for _ in 0..5 {
        let s = Session::start("head -c 100000 /dev/zero | tr '\\0' x; exit 4").unwrap();
        assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(4)));
        let mut n = 0;
        loop {
            let r = s.read().unwrap();
            assert_eq!(r.dropped_bytes, 0);
            n += r.text.matches('x').count();
            if r.remaining_bytes == 0 {
                break;
            }
        }
        assert_eq!(n, 100_000);
        s.close().unwrap();
    }
}

/// Backend-specific (`cfg(bgterm_select)`: the portable backend's reactor
/// on systems without epoll; on Linux with `BGTERM_SELECT=1`): a session
/// whose descriptors `select(2)` could not watch (at or past
/// `FD_SETSIZE`) fails to start with a typed error, before any child
/// starts, instead of starting unserved.
#[cfg(bgterm_select)]
#[test]
fn a_session_select_could_not_watch_fails_to_start() {
    use std::os::fd::AsRawFd;
    let _alone = alone();
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-parameter.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let want = 1200;
    if lim.rlim_max < want {
        common::skip("the hard RLIMIT_NOFILE is below 1200");
        return;
    }
    if lim.rlim_cur < want {
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: a valid rlimit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) }, 0);
    }
    // Fill every descriptor up to 1030: the session's come after.
    let null = std::fs::File::open("/dev/null").unwrap();
    let mut held = Vec::new();
    loop {
        let f = null.try_clone().unwrap();
        let fd = f.as_raw_fd();
        held.push(f);
        if fd >= 1030 {
            break;
        }
    }
    let err = Session::start(["true"]).unwrap_err();
    drop(held);
    match &err {
        bgterm::Error::Spawn { source, .. } => {
            assert_eq!(source.raw_os_error(), Some(libc::EMFILE), "{err}")
        }
        other => panic!("not a spawn error: {other:?}"),
    }
    // Nothing was left behind, and the next start works.
    let s = Session::start("exit 5").unwrap();
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(5)));
    assert_eq!(s.close().unwrap(), ExitStatus::Exited(5));
    if lim.rlim_cur < want {
        // SAFETY: a valid rlimit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
}
