//! Recordings and transcripts leave no thread or descriptor behind, whether
//! stopped, ended by the child's exit, or left running when the session
//! closes. Alone in its own test binary so other tests do not disturb the
//! counts.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::Instant;

use bgterm::{Recording, Session, SessionBuilder, Transcript};
use common::{LONG, expect};

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// Waits until `/proc/self/task` and `/proc/self/fd` are back to the given
/// counts. Sink threads left running at close finish on their own schedule,
/// which nothing exposes to wait on, hence the re-check (each yields).
fn settles_to(threads: usize, fds: usize) -> bool {
    let deadline = Instant::now() + LONG;
    while count("/proc/self/task") != threads || count("/proc/self/fd") != fds {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

#[test]
fn sinks_leave_nothing_behind() {
    let dir = std::env::temp_dir().join(format!("bgterm-sink-leaks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Warm up lazily created globals.
    Session::start(["true"]).unwrap().close().unwrap();

    let fds = count("/proc/self/fd");
    let threads = count("/proc/self/task");
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
        settles_to(threads, fds),
        "threads {} (was {threads}), fds {} (was {fds})",
        count("/proc/self/task"),
        count("/proc/self/fd")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
