//! Session management: names, details, logs and graceful stop.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bgterm::{
    Command, Error, ExitStatus, MAX_NAME_LEN, Registry, RunState, Session, SessionBuilder, SessionId,
    StopOutcome,
};
use common::{LONG, alive, expect};

// ---- names ----------------------------------------------------------------

#[test]
fn a_named_session_is_found_by_name_until_closed() {
    let r = Registry::new();
    let id = SessionBuilder::new(["cat"]).name("worker").start_in(&r).unwrap();
    let other = SessionBuilder::new(["cat"]).name("other").start_in(&r).unwrap();
    assert_eq!(r.resolve("worker").unwrap(), id);
    assert_eq!(r.resolve("other").unwrap(), other);
    assert_eq!(r.get(id).unwrap().name(), Some("worker"));
    // Names are per registry.
    assert!(
        matches!(Registry::new().resolve("worker"), Err(Error::UnknownName { name }) if name == "worker")
    );
    // The resolved id works with every sid-taking operation.
    let out = r.write_stdin(r.resolve("worker").unwrap(), "hi\n", LONG).unwrap();
    // The echo, and perhaps already (some of) cat's copy.
    assert!(
        out.text.starts_with("hi") && "hi\r\nhi\r\n".starts_with(&out.text),
        "{out:?}"
    );
    // Closing frees the name.
    r.close(id).unwrap();
    assert!(matches!(r.resolve("worker"), Err(Error::UnknownName { name }) if name == "worker"));
    let again = SessionBuilder::new(["cat"]).name("worker").start_in(&r).unwrap();
    assert_ne!(again, id);
    assert_eq!(r.resolve("worker").unwrap(), again);
}

#[test]
fn a_duplicate_name_is_a_typed_error_and_starts_nothing() {
    let r = Registry::new();
    let first = SessionBuilder::new(["cat"]).name("dup").start_in(&r).unwrap();
    let before = r.list();
    let err = SessionBuilder::new(["definitely-not-a-program-bgterm"])
        .name("dup")
        .start_in(&r)
        .unwrap_err();
    // The name is checked before the program: nothing was spawned.
    assert!(
        matches!(&err, Error::DuplicateName { name, id } if name == "dup" && *id == first),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("session name \"dup\" is already taken by session {first}")
    );
    assert_eq!(r.list(), before);
    // Inserting an owned session with a taken name fails too, and the
    // rejected session is closed (its last handle was given away).
    let owned = SessionBuilder::new(["cat"]).name("dup").spawn().unwrap();
    let pid = owned.pid();
    let probe = owned.clone();
    assert!(matches!(
        r.insert(owned),
        Err(Error::DuplicateName { name, id }) if name == "dup" && id == first
    ));
    assert!(probe.is_running().unwrap(), "a clone keeps it open");
    drop(probe);
    // The rejected session was closed and reaped: not even a zombie.
    assert!(common::reaped(pid), "{pid} is still a child of ours");
    assert!(!common::zombie(pid), "{pid} is a zombie");
    assert!(!alive(pid));
    // A session with no name never conflicts.
    r.start(["cat"]).unwrap();
    r.start(["cat"]).unwrap();
}

#[test]
fn only_one_of_several_racing_starts_gets_a_name() {
    let r = Arc::new(Registry::new());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let r = Arc::clone(&r);
            std::thread::spawn(move || SessionBuilder::new(["cat"]).name("race").start_in(&r))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let winner = *winners[0];
    // Every other start names the name and the session that got it.
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(e, Error::DuplicateName { name, id } if name == "race" && *id == winner),
            "{e:?}"
        );
    }
    assert_eq!(r.list(), [winner]);
    assert_eq!(r.resolve("race").unwrap(), winner);
}

#[test]
fn invalid_names_are_typed_errors_naming_the_name() {
    let long = "n".repeat(MAX_NAME_LEN + 1);
    for bad in [
        "",
        "a/b",
        "a\\b",
        "bell\x07",
        "line\nbreak",
        " lead",
        long.as_str(),
    ] {
        match SessionBuilder::new(["cat"]).name(bad).spawn() {
            Err(Error::InvalidName { name, reason }) => {
                assert_eq!(name, bad);
                assert!(!reason.is_empty());
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    let r = Registry::new();
    assert!(matches!(
        SessionBuilder::new(["cat"]).name("x/y").start_in(&r),
        Err(Error::InvalidName { name, .. }) if name == "x/y"
    ));
    assert!(r.list().is_empty());
}

#[test]
fn the_global_resolver_finds_named_sessions() {
    let sid = SessionBuilder::new(["cat"])
        .name("global-manage-test")
        .start()
        .unwrap();
    assert_eq!(bgterm::resolve("global-manage-test").unwrap(), sid);
    bgterm::close(sid).unwrap();
    assert!(matches!(
        bgterm::resolve("global-manage-test"),
        Err(Error::UnknownName { name }) if name == "global-manage-test"
    ));
}

// ---- details ----------------------------------------------------------------

#[test]
fn list_details_gives_every_detail() {
    let r = Registry::new();
    let before = SystemTime::now();
    let a = SessionBuilder::new("echo hi; read x")
        .name("a")
        .cwd("/tmp")
        .start_in(&r)
        .unwrap();
    let b = r.start(["sh", "-c", "exit 4"]).unwrap();
    let c = r.start(["cat"]).unwrap();
    let after = SystemTime::now();
    r.wait(b, Some(LONG)).unwrap().expect("b exits");
    let hc = r.get(c).unwrap();
    hc.close().unwrap(); // closed through a handle: it leaves the registry

    let list = r.list_details();
    assert_eq!(list.iter().map(|i| i.id).collect::<Vec<_>>(), vec![a, b]);
    assert_eq!(hc.summary().state, RunState::Closed, "a kept handle says so");
    let ia = &list[0];
    assert_eq!(ia.name.as_deref(), Some("a"));
    assert_eq!(ia.pid, r.get(a).unwrap().pid());
    assert!(alive(ia.pid));
    assert_eq!(ia.command, Command::from("echo hi; read x"));
    assert_eq!(ia.cwd, std::path::Path::new("/tmp"));
    assert!(ia.started >= before && ia.started <= after);
    assert_eq!(ia.state, RunState::Running);
    assert_eq!(list[1].name, None);
    assert_eq!(list[1].state, RunState::Exited(ExitStatus::Exited(4)));
    assert_eq!(r.summary(a).unwrap(), list[0]);
    let ghost = SessionId::from_u64(u64::MAX);
    assert!(matches!(r.summary(ghost), Err(Error::UnknownSession { id }) if id == ghost));

    let sid = bgterm::start_session(["cat"]).unwrap();
    assert!(bgterm::list_details().iter().any(|i| i.id == sid));
    assert_eq!(bgterm::summary(sid).unwrap().state, RunState::Running);
    bgterm::close(sid).unwrap();
}

// ---- logs -------------------------------------------------------------------

#[test]
fn logs_show_the_last_lines_without_moving_the_cursor() {
    let s = Session::start("for i in 1 2 3 4 5; do echo line$i; done; read x").unwrap();
    let seen = expect(&s, "line5\r\n");
    assert_eq!(s.logs(2).unwrap(), "line4\r\nline5\r\n");
    assert_eq!(s.logs(100).unwrap(), seen, "fewer lines than asked: all of them");
    assert_eq!(s.logs(0).unwrap(), "");
    // A partial last line counts as a line.
    s.send("typed").unwrap();
    expect(&s, "typed");
    assert_eq!(s.logs(2).unwrap(), "line5\r\ntyped");
    // The cursor did not move: unread output is still unread.
    s.send("\n").unwrap();
    let r0 = s.logs(1).unwrap();
    let unread = expect(&s, "\r\n");
    assert_eq!(unread, "\r\n");
    assert!(r0 == "typed" || r0 == "typed\r\n");
    assert_eq!(s.read().unwrap().text, "");
}

#[test]
fn logs_cover_only_retained_output_and_never_split_a_character() {
    // 200 lines of "€€€€\r\n" (14 bytes each) in a 100-byte buffer: the
    // retained bytes start mid-character.
    let s = SessionBuilder::new("for i in $(seq 1 200); do printf '\\342\\202\\254\\342\\202\\254\\342\\202\\254\\342\\202\\254\\n'; done")
        .max_buffer_bytes(100)
        .env("LC_ALL", "C")
        .spawn()
        .unwrap();
    s.wait(Some(LONG)).unwrap().expect("exit");
    let all = s.logs(1000).unwrap();
    assert!(!all.contains('\u{fffd}'), "{all:?}");
    assert!(all.len() <= 100);
    assert_eq!(s.logs(2).unwrap(), "€€€€\r\n€€€€\r\n");
}

#[test]
fn logs_errors_are_typed() {
    let r = Registry::new();
    let unknown = SessionId::from_u64(u64::MAX - 1);
    assert!(matches!(r.logs(unknown, 5), Err(Error::UnknownSession { id }) if id == unknown));
    assert!(matches!(
        bgterm::logs(unknown, 5),
        Err(Error::UnknownSession { id }) if id == unknown
    ));
    let s = Session::start(["cat"]).unwrap();
    s.close().unwrap();
    assert!(matches!(s.logs(5), Err(Error::SessionClosed { id }) if id == s.id()));
}

// ---- graceful stop --------------------------------------------------------

#[test]
fn stop_terminates_a_program_that_honours_sigterm_without_waiting_the_grace() {
    let s = Session::start(["sleep", "300"]).unwrap();
    let t = Instant::now();
    let stopped = s.stop(Duration::from_secs(60)).unwrap();
    assert_eq!(stopped.outcome, StopOutcome::Terminated);
    assert_eq!(stopped.status, ExitStatus::Signaled(libc::SIGTERM));
    assert!(
        t.elapsed() < LONG,
        "event-driven, not the 60 s grace: {:?}",
        t.elapsed()
    );
    // The session stays open and readable until closed.
    assert_eq!(s.try_wait().unwrap(), Some(stopped.status));
    s.close().unwrap();
}

#[test]
fn stop_lets_a_trap_exit_cleanly_and_keeps_its_last_output() {
    let s = Session::start("trap 'echo cleaning up; exit 0' TERM; echo ready; while :; do sleep 1; done")
        .unwrap();
    expect(&s, "ready");
    let stopped = s.stop(LONG).unwrap();
    assert_eq!(stopped.outcome, StopOutcome::Terminated);
    assert_eq!(stopped.status, ExitStatus::Exited(0));
    assert_eq!(s.logs(1).unwrap(), "cleaning up\r\n");
}

#[test]
fn stop_kills_a_program_that_ignores_sigterm_after_the_grace() {
    let s = Session::start("trap '' TERM; echo ready; while :; do sleep 1; done").unwrap();
    expect(&s, "ready");
    let grace = Duration::from_millis(300);
    let t = Instant::now();
    let stopped = s.stop(grace).unwrap();
    // The grace is what is tested: it must have been waited out.
    assert!(t.elapsed() >= grace);
    assert_eq!(stopped.outcome, StopOutcome::Killed);
    assert_eq!(stopped.status, ExitStatus::Signaled(libc::SIGKILL));
}

#[test]
fn stop_reports_an_exit_that_already_happened() {
    let s = Session::start("exit 7").unwrap();
    s.wait(Some(LONG)).unwrap().expect("exit");
    let stopped = s.stop(Duration::from_secs(1)).unwrap();
    assert_eq!(stopped.outcome, StopOutcome::AlreadyExited);
    assert_eq!(stopped.status, ExitStatus::Exited(7));
}

#[test]
fn stop_with_another_signal_and_through_the_registries() {
    let r = Registry::new();
    let id = SessionBuilder::new("trap 'exit 3' INT; echo ready; while :; do sleep 1; done")
        .name("svc")
        .start_in(&r)
        .unwrap();
    expect(&r.get(id).unwrap(), "ready");
    let stopped = r
        .stop_with_signal(r.resolve("svc").unwrap(), libc::SIGINT, LONG)
        .unwrap();
    assert_eq!(
        (stopped.outcome, stopped.status),
        (StopOutcome::Terminated, ExitStatus::Exited(3))
    );
    let ghost = SessionId::from_u64(u64::MAX);
    assert!(matches!(r.stop(ghost, LONG), Err(Error::UnknownSession { id }) if id == ghost));

    let sid = bgterm::start_session(["sleep", "300"]).unwrap();
    let stopped = bgterm::stop(sid, LONG).unwrap();
    assert_eq!(
        (stopped.outcome, stopped.status),
        (StopOutcome::Terminated, ExitStatus::Signaled(libc::SIGTERM))
    );
    bgterm::close(sid).unwrap();
}
