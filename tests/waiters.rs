//! Issue 4: waiting for text, running commands to completion, quiet-period
//! polls and event streams — all event-driven.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::{Duration, Instant};

use bgterm::crossbeam_channel::{never, select};
use bgterm::{Error, ExitStatus, Pattern, Registry, Session, SessionBuilder, SessionEvent, SessionId};
use common::{LONG, expect};

const SHORT: Duration = Duration::from_millis(200);

// ---- wait_for ---------------------------------------------------------------

#[test]
fn output_already_there_is_not_matched_again() {
    let s = Session::start(["cat"]).unwrap();
    s.send("MARK\n").unwrap();
    expect(&s, "MARK\r\nMARK\r\n");
    // Also unread-but-old output must not match: send, let it arrive, then wait.
    s.send("OLD\n").unwrap();
    expect(&s, "OLD\r\nOLD\r\n");
    let t = Instant::now();
    let err = s.wait_for("MARK", Some(SHORT)).unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    match err {
        Error::WaitTimeout { waited, patterns, .. } => {
            assert!(waited >= SHORT);
            assert!(patterns.contains("MARK"));
        }
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() >= SHORT);
    // New output does match. The waiter thread may start before or after a
    // given line arrives, so keep producing lines until it reports.
    let (tx, rx) = bgterm::crossbeam_channel::bounded(1);
    {
        let s = s.clone();
        std::thread::spawn(move || tx.send(s.wait_for("MARK", Some(LONG))));
    }
    let deadline = Instant::now() + LONG;
    let m = loop {
        s.send("MARK again\n").unwrap();
        if let Ok(result) = rx.recv_timeout(Duration::from_millis(50)) {
            break result.unwrap();
        }
        assert!(Instant::now() < deadline, "the waiter never saw new output");
    };
    assert_eq!(m.text, "MARK");
}

#[test]
fn write_then_wait_from_an_offset_never_misses_a_fast_echo() {
    let s = Session::start(["cat"]).unwrap();
    for i in 0..50 {
        let at = s.output_offset().unwrap();
        s.send(&format!("ping-{i}\n")).unwrap();
        // However quickly cat answered, the answer is at or after `at`.
        let m = s
            .wait_for_from(at, format!("ping-{i}\r\nping-{i}\r\n"), Some(LONG))
            .unwrap();
        assert!(m.match_start >= at);
    }
}

#[test]
fn match_reports_text_before_offsets_and_moves_the_cursor() {
    let s = Session::start("read x; printf 'alpha beta gamma delta'; read y").unwrap();
    let at = s.output_offset().unwrap();
    s.send("\n").unwrap();
    let m = s
        .wait_for_from(at, Pattern::regex(r"g\w+").unwrap(), Some(LONG))
        .unwrap();
    assert_eq!(m.text, "gamma");
    assert_eq!(m.before, "\r\nalpha beta ");
    assert_eq!(m.match_end - m.match_start, 5);
    assert_eq!(m.start_offset + m.before.len() as u64, m.match_start);
    // The cursor is past the match: the next read starts right after it.
    let rest = s.read().unwrap();
    assert_eq!(rest.start_offset, m.match_end);
    assert_eq!(rest.text, " delta");
}

#[test]
fn several_patterns_report_which_matched() {
    let s = Session::start(["cat"]).unwrap();
    let at = s.output_offset().unwrap();
    s.send("result: failure\n").unwrap();
    let m = s
        .wait_for_from(
            at,
            vec![Pattern::literal("success"), Pattern::regex("fail(ure)?").unwrap()],
            Some(LONG),
        )
        .unwrap();
    assert_eq!((m.index, m.text.as_str()), (1, "failure"));
}

#[test]
fn exit_before_a_match_is_a_typed_error_with_the_tail() {
    let s = Session::start("read x; echo the end; exit 5").unwrap();
    // From an offset taken before the input, so the waiter's window holds
    // the last line however late its thread starts.
    let at = s.output_offset().unwrap();
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || s.wait_for_from(at, "never printed", Some(LONG)))
    };
    s.send("\n").unwrap();
    match waiter.join().unwrap() {
        Err(Error::ExitedBeforeMatch { status, tail, id, .. }) => {
            assert_eq!(status, ExitStatus::Exited(5));
            assert_eq!(id, s.id());
            assert!(tail.ends_with("the end\r\n"), "{tail:?}");
        }
        other => panic!("{other:?}"),
    }
    // The output is still readable.
    assert!(s.read().unwrap().text.contains("the end"));
}

#[test]
fn zero_timeout_checks_once_without_blocking() {
    let s = Session::start(["cat"]).unwrap();
    let at = s.output_offset().unwrap();
    s.send("hello\n").unwrap();
    expect(&s, "hello\r\nhello\r\n");
    // Already there since `at`: matches at once.
    let m = s.wait_for_from(at, "hello", Some(Duration::ZERO)).unwrap();
    assert_eq!(m.match_start, at);
    // Nothing new since the call: immediate timeout.
    let t = Instant::now();
    assert!(
        s.wait_for("hello", Some(Duration::ZERO))
            .unwrap_err()
            .is_timeout()
    );
    assert!(t.elapsed() < LONG);
}

#[test]
fn invalid_regex_and_unknown_session_are_typed() {
    assert!(
        matches!(Pattern::regex("[z-a]"), Err(Error::InvalidPattern { ref pattern, .. }) if pattern == "[z-a]")
    );
    let registry = Registry::new();
    let ghost = SessionId::from_u64(u64::MAX - 1);
    assert!(matches!(
        registry.subscribe(ghost),
        Err(Error::UnknownSession { .. })
    ));
    assert!(matches!(
        registry.run(ghost, "true", None),
        Err(Error::UnknownSession { .. })
    ));
}

#[test]
fn close_wakes_a_text_waiter() {
    let s = Session::start(["sleep", "300"]).unwrap();
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || s.wait_for("x", None))
    };
    s.close().unwrap();
    assert!(matches!(waiter.join().unwrap(), Err(Error::SessionClosed { .. })));
}

#[test]
fn split_multibyte_match_across_chunks() {
    // "é" arrives in two writes; the literal still matches, whole.
    let s =
        Session::start(r"stty -echo; echo READY; read x; printf 'caf\303'; read y; printf '\251!'; read z")
            .unwrap();
    expect(&s, "READY");
    let at = s.output_offset().unwrap();
    s.send("\n").unwrap();
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || s.wait_for_from(at, "café!", Some(LONG)))
    };
    // Let the first half (with half of the é) arrive before the rest.
    s.wait_for_from(at, "caf", Some(LONG)).unwrap();
    s.send("\n").unwrap();
    let m = waiter.join().unwrap().unwrap();
    assert_eq!(m.text, "café!");
}

// `run` is tested in tests/run.rs.

// ---- quiet-period poll ----------------------------------------------------

#[test]
fn quiet_poll_returns_a_multi_part_burst_in_one_result() {
    let script = "read go; for i in 1 2 3 4; do echo part$i; sleep 0.2; done; echo end; read stop";
    let s = Session::start(script).unwrap();
    s.send("\n").unwrap();
    let out = s.poll_quiet(LONG, Duration::from_secs(2)).unwrap();
    for part in ["part1", "part2", "part3", "part4", "end"] {
        assert!(out.text.contains(part), "{part} missing from {:?}", out.text);
    }
    // A plain poll on the same output would have returned the first piece
    // alone: check by replaying the burst.
    let s = Session::start(script).unwrap();
    s.send("\n").unwrap();
    let first = s.poll(LONG).unwrap();
    assert!(!first.text.contains("end"), "{:?}", first.text);
}

#[test]
fn quiet_poll_waits_its_full_time_when_nothing_comes() {
    let s = Session::start(["sleep", "300"]).unwrap();
    let t = Instant::now();
    let out = s.poll_quiet(SHORT, Duration::from_millis(50)).unwrap();
    assert_eq!(out.text, "");
    assert!(t.elapsed() >= SHORT);
}

// ---- event streams -------------------------------------------------------

#[test]
fn subscribers_select_over_several_sessions() {
    let sessions: Vec<Session> = (0..3)
        .map(|i| Session::start(format!("read x; echo s{i}-$x; exit {i}")).unwrap())
        .collect();
    let mut rx: Vec<_> = sessions.iter().map(|s| s.subscribe().unwrap()).collect();
    for s in &sessions {
        s.send("go\n").unwrap();
    }
    let mut text = vec![String::new(); 3];
    let mut next_offset = [0u64; 3];
    let mut statuses = [None; 3];
    let deadline = Instant::now() + LONG;
    while statuses.iter().any(Option::is_none) {
        assert!(Instant::now() < deadline, "events stalled: {text:?}");
        let (i, event) = select! {
            recv(rx[0]) -> e => (0, e),
            recv(rx[1]) -> e => (1, e),
            recv(rx[2]) -> e => (2, e),
            default(LONG) => panic!("no event within {LONG:?}"),
        };
        match event.unwrap() {
            SessionEvent::Output {
                session,
                start,
                end,
                text: t,
            } => {
                assert_eq!(session, sessions[i].id());
                assert_eq!(start, next_offset[i], "offsets are contiguous");
                next_offset[i] = end;
                text[i] += &t;
            }
            SessionEvent::Exited { status, .. } => {
                statuses[i] = Some(status);
                rx[i] = never();
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for i in 0..3 {
        assert!(text[i].contains(&format!("s{i}-go")), "{:?}", text[i]);
        assert_eq!(statuses[i], Some(ExitStatus::Exited(i as i32)));
    }
    // Subscribing consumed nothing: the readers still get everything.
    assert!(sessions[0].read().unwrap().text.contains("s0-go"));
}

#[test]
fn a_slow_subscriber_is_told_what_it_missed_and_blocks_nobody() {
    // 300 kB: a PTY hands over at most 4 KiB per read, so this is at least
    // 70 output events for a subscriber with room for 4.
    let s = Session::start("read go; head -c 300000 /dev/zero | tr '\\0' z; echo; echo THE-END").unwrap();
    let slow = s.subscribe_with_capacity(4).unwrap();
    let at = s.output_offset().unwrap();
    s.send("\n").unwrap();
    // Nobody reads `slow`; the session and other waiters are unaffected.
    s.wait_for_from(at, "THE-END", Some(LONG)).unwrap();
    assert!(s.wait(Some(LONG)).unwrap().is_some());
    let events: Vec<SessionEvent> = slow.try_iter().collect();
    assert!(events.len() <= 4);
    assert!(
        matches!(events.last(), Some(SessionEvent::Exited { .. })),
        "{events:?}"
    );
    let missed: u64 = events
        .iter()
        .map(|e| {
            if let SessionEvent::Missed { output_bytes, .. } = e {
                *output_bytes
            } else {
                0
            }
        })
        .sum();
    let delivered: u64 = events
        .iter()
        .map(|e| {
            if let SessionEvent::Output { start, end, .. } = e {
                end - start
            } else {
                0
            }
        })
        .sum();
    assert!(missed > 0, "nothing missed in {} events", events.len());
    // Every output byte is either delivered or counted as missed.
    assert_eq!(delivered + missed, s.output_offset().unwrap());
    // The stream then ends.
    assert!(slow.recv_timeout(LONG).is_err());
}

#[test]
fn subscribing_after_exit_yields_the_exit_and_ends() {
    let s = Session::start("exit 9").unwrap();
    s.wait(Some(LONG)).unwrap();
    let rx = s.subscribe().unwrap();
    assert_eq!(
        rx.recv_timeout(LONG).unwrap(),
        SessionEvent::Exited {
            session: s.id(),
            status: ExitStatus::Exited(9)
        }
    );
    assert!(rx.recv_timeout(LONG).is_err());
}

#[test]
fn resize_is_an_event() {
    let s = Session::start(["sleep", "300"]).unwrap();
    let rx = s.subscribe().unwrap();
    s.resize(10, 20).unwrap();
    assert_eq!(
        rx.recv_timeout(LONG).unwrap(),
        SessionEvent::Resized {
            session: s.id(),
            rows: 10,
            cols: 20
        }
    );
}

#[test]
fn dropped_bytes_are_an_event() {
    let s = bgterm::SessionBuilder::new("read x; head -c 5000 /dev/zero | tr '\\0' z")
        .max_buffer_bytes(100)
        .spawn()
        .unwrap();
    let rx = s.subscribe().unwrap();
    s.send("\n").unwrap();
    s.wait(Some(LONG)).unwrap();
    let dropped: u64 = rx
        .try_iter()
        .map(|e| {
            if let SessionEvent::Dropped { bytes, .. } = e {
                bytes
            } else {
                0
            }
        })
        .sum();
    assert_eq!(dropped, s.read().unwrap().dropped_bytes);
    assert!(dropped > 0);
}

// ---- the wait family --------------------------------------------------------

#[test]
fn wait_in_every_blocking_form() {
    let s = Session::start(["sleep", "300"]).unwrap();
    assert_eq!(s.try_wait().unwrap(), None);
    assert_eq!(s.wait(Some(Duration::ZERO)).unwrap(), None);
    assert_eq!(
        s.wait_deadline(Some(Instant::now() + Duration::from_millis(20)))
            .unwrap(),
        None
    );
    let killer = {
        let s = s.clone();
        std::thread::spawn(move || s.kill())
    };
    assert_eq!(s.wait(None).unwrap(), Some(ExitStatus::Signaled(9)));
    killer.join().unwrap().unwrap();
    assert_eq!(s.wait_deadline(None).unwrap(), Some(ExitStatus::Signaled(9)));
}

#[test]
fn a_match_is_found_even_after_the_ring_evicted_it() {
    // The marker is followed at once by 50 times more output than the ring
    // keeps, so it is usually evicted before the waiter thread gets to look.
    // The waiter's tap sees every byte as it arrives, so the match is found.
    // (Output evicted before a wait even starts cannot be matched by it: so
    // the waiter is started first, and the input that triggers the burst is
    // sent once its thread is running; the child then needs milliseconds to
    // react, while attaching takes microseconds.)
    fn burst_then_wait(pattern: Pattern, want: &str) {
        let s = SessionBuilder::new(format!(
            "read go; echo {want}; head -c 200000 /dev/zero | tr '\\0' z; echo; echo END"
        ))
        .max_buffer_bytes(4096)
        .spawn()
        .unwrap();
        let at = s.output_offset().unwrap();
        let (ready_tx, ready_rx) = bgterm::crossbeam_channel::bounded(1);
        let waiter = {
            let s = s.clone();
            std::thread::spawn(move || {
                ready_tx.send(()).unwrap();
                s.wait_for_from(at, pattern, Some(LONG))
            })
        };
        ready_rx.recv().unwrap();
        s.send("\n").unwrap();
        let m = waiter.join().unwrap().unwrap();
        assert_eq!(m.text, want);
        // The burst was ~50 times the ring: the marker was evicted at some
        // point, and nothing but the tap could have kept it.
        s.wait(Some(LONG)).unwrap();
        assert!(s.output_offset().unwrap() > m.match_end + 40 * 4096);
    }
    for _ in 0..5 {
        burst_then_wait("MARK-1".into(), "MARK-1");
        burst_then_wait(Pattern::regex(r"NUM=\d+").unwrap(), "NUM=42");
        // And `run` on a flood through a tiny ring still completes, and says
        // exactly how much of its output it left out.
        let sh = SessionBuilder::new(["sh"])
            .max_buffer_bytes(4096)
            .spawn()
            .unwrap();
        let r = sh
            .run("head -c 200000 /dev/zero | tr '\\0' y; echo", Some(LONG))
            .unwrap();
        assert_eq!(r.output.len() as u64 + r.elided_bytes, 200_001);
    }
}
