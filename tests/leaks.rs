//! Descriptors, threads and children do not leak across many sessions.
//! Alone in its own test binary so other tests' sessions do not disturb the
//! counts.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::Duration;

use bgterm::{Registry, Session};
use common::LONG;

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
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
    // Warm up lazily created globals (the global registry, std's caches).
    let s = Session::start(["true"]).unwrap();
    s.wait(Some(LONG)).unwrap();
    s.close().unwrap();

    let fds = count("/proc/self/fd");
    let threads = count("/proc/self/task");
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
        assert_eq!(
            count("/proc/self/task"),
            threads + 5,
            "one thread per open session"
        );
    } // dropping the registry closes its sessions
    assert_eq!(count("/proc/self/fd"), fds, "descriptors leaked");
    assert_eq!(count("/proc/self/task"), threads, "threads leaked");
    assert_eq!(zombies(), 0, "unreaped children");
}
