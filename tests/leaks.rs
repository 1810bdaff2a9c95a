//! Descriptors, threads and children do not leak across many sessions, and
//! recordings and transcripts leave no thread or descriptor behind.
//!
//! The counts are of the whole process, so this file is a test binary of its
//! own (other files' sessions cannot disturb them), and its tests run one
//! at a time (each holds [`alone`]). Threads are compared as sets of thread
//! ids: a thread that appears during a test and is still there at its end
//! is a leak, while libtest's threads for the other tests, already there or
//! gone, do not count. (libtest starts one thread per test up front when
//! the tests are no more than its test threads, and one after another
//! otherwise; so no thread of its own appears during a test while this
//! file has at most two tests. A third one should get a binary of its own.)

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bgterm::{Recording, Registry, Session, SessionBuilder, Transcript};
use common::{LONG, expect, fds, threads};

/// Held by each test for its whole run.
fn alone() -> MutexGuard<'static, ()> {
    static ALONE: Mutex<()> = Mutex::new(());
    // A failed test poisons it; the next one still runs on its own.
    ALONE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Threads that exist now and did not at `before`.
fn new_threads(before: &BTreeSet<u64>) -> Vec<u64> {
    threads().difference(before).copied().collect()
}

/// Children of this process that are zombies (exited, unreaped).
fn zombies() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let mut f = rest.split_whitespace();
            f.next() == Some("Z") && f.next() == Some(me.as_str())
        })
        .count()
}

#[test]
fn start_close_cycles_leave_nothing_behind() {
    let _alone = alone();
    // Warm up lazily created globals (the global registry, std's caches).
    let s = Session::start(["true"]).unwrap();
    s.wait(Some(LONG)).unwrap();
    s.close().unwrap();

    let fds_before = fds();
    let threads_before = threads();
    let registry = Registry::new();
    for i in 0..40 {
        // Every way a session can end: closed after exit, closed while
        // running, killed, dropped, and dropped with a registry.
        match i % 5 {
            0 => {
                let s = Session::start("echo hi").unwrap();
                s.wait(Some(LONG)).unwrap();
                s.close().unwrap();
            }
            1 => {
                Session::start(["cat"]).unwrap().close().unwrap();
            }
            2 => {
                let s = Session::start(["sleep", "300"]).unwrap();
                s.kill().unwrap();
                s.wait(Some(LONG)).unwrap();
                drop(s);
            }
            3 => {
                let s = Session::start("trap '' HUP; sleep 300 & echo hi").unwrap();
                s.wait(Some(LONG)).unwrap();
                drop(s);
            }
            _ => {
                let id = registry.start(["cat"]).unwrap();
                registry.write_stdin(id, "x\n", Duration::from_millis(1)).unwrap();
                registry.close(id).unwrap();
            }
        }
    }
    {
        let scoped = Registry::new();
        for _ in 0..5 {
            scoped.start(["sleep", "300"]).unwrap();
        }
        // Backend-specific: the native backend serves every open session
        // from the one reactor thread; the portable one adds a waiter
        // thread per session (it has no pidfd).
        let waiters = if bgterm::BACKEND == "portable" { 5 } else { 0 };
        assert_eq!(
            new_threads(&threads_before).len(),
            1 + waiters,
            "the reactor thread, plus a waiter per session on the {} backend",
            bgterm::BACKEND
        );
    } // dropping the registry closes its sessions
    // A joined thread's `/proc/self/task` entry can outlive the join by a
    // moment (the kernel clears the tid that `join` waits for before it
    // releases the task): wait, bounded, for the count to settle.
    settles_to(&threads_before, fds_before);
    assert_eq!(fds(), fds_before, "descriptors leaked");
    assert_eq!(new_threads(&threads_before), Vec::<u64>::new(), "threads leaked");
    assert_eq!(zombies(), 0, "unreaped children");
}

/// Waits until no thread is left that `before` did not have and the
/// descriptors are back to `fds_before`. Sink threads left running at close
/// finish on their own schedule, which nothing exposes to wait on, hence
/// the re-check (each yields).
fn settles_to(before: &BTreeSet<u64>, fds_before: usize) -> bool {
    let deadline = Instant::now() + LONG;
    while !new_threads(before).is_empty() || fds() != fds_before {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

#[test]
fn sinks_leave_nothing_behind() {
    let _alone = alone();
    let dir = std::env::temp_dir().join(format!("bgterm-sink-leaks-{}", std::process::id()));
    // Fresh: an earlier run's process with the same pid may have left it.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Warm up lazily created globals.
    Session::start(["true"]).unwrap().close().unwrap();

    let fds_before = fds();
    let threads_before = threads();
    for i in 0..30 {
        let cast = dir.join(format!("{i}.cast"));
        let log = dir.join(format!("{i}.log"));
        match i % 3 {
            // Stopped explicitly: stop joins the threads.
            0 => {
                let s = Session::start(["cat"]).unwrap();
                s.start_recording(Recording::create(&cast).unwrap()).unwrap();
                s.start_transcript(Transcript::create(&log).unwrap()).unwrap();
                s.send("x\n").unwrap();
                expect(&s, "x\r\nx\r\n");
                s.stop_recording().unwrap();
                s.stop_transcript().unwrap();
                s.close().unwrap();
            }
            // Ended by the child's exit, collected after.
            1 => {
                let s = SessionBuilder::new("echo hi")
                    .record(&cast)
                    .transcript(&log)
                    .spawn()
                    .unwrap();
                s.wait(Some(LONG)).unwrap().expect("exit");
                s.stop_recording().unwrap();
                s.stop_transcript().unwrap();
                drop(s);
            }
            // Never stopped: closing the session ends them.
            _ => {
                let s = SessionBuilder::new(["cat"]).transcript(&log).spawn().unwrap();
                s.start_recording(Recording::create(&cast).unwrap()).unwrap();
                s.close().unwrap();
            }
        }
    }
    assert!(
        settles_to(&threads_before, fds_before),
        "threads {:?} are new, fds {} (was {fds_before})",
        new_threads(&threads_before),
        fds()
    );
    assert_eq!(zombies(), 0, "unreaped children");
    std::fs::remove_dir_all(&dir).unwrap();
}
