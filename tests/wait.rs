//! Waiting for text (`wait_for` and its forms), running commands to
//! completion (`run`), quiet-period polls and event streams — all
//! event-driven.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::{Duration, Instant};

use bgterm::crossbeam_channel::{RecvTimeoutError, never, select};
use bgterm::{
    Error, ExitStatus, Pattern, Patterns, Registry, Session, SessionBuilder, SessionEvent, SessionId,
};
use common::{LONG, expect};

const SHORT: Duration = Duration::from_millis(200);

// ---- wait_for ---------------------------------------------------------------

#[test]
fn output_already_there_is_not_matched_again() {
    let s = Session::start(["cat"]).unwrap();
    s.send("MARK\n").unwrap();
    expect(&s, "MARK\r\nMARK\r\n");
    // Output read before the wait does not match again (nor, with
    // `wait_for_new`, anything buffered before it).
    s.send("OLD\n").unwrap();
    expect(&s, "OLD\r\nOLD\r\n");
    let t = Instant::now();
    let err = s.wait_for_new("MARK", Some(SHORT)).unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    match err {
        Error::WaitTimeout {
            id, waited, patterns, ..
        } => {
            assert_eq!(id, s.id());
            assert!(waited >= SHORT);
            assert_eq!(patterns, Patterns::from("MARK").to_string());
            assert!(patterns.contains("MARK"), "{patterns}");
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
        // However quickly cat answered, the answer is found, and it is all
        // that came after `at` (the previous round's output had all arrived).
        let m = s
            .wait_for_from(at, format!("ping-{i}\r\nping-{i}\r\n"), Some(LONG))
            .unwrap();
        assert_eq!(m.match_start, at);
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
        Err(Error::ExitedBeforeMatch {
            status,
            tail,
            id,
            patterns,
            ..
        }) => {
            assert_eq!(status, ExitStatus::Exited(5));
            assert_eq!(id, s.id());
            assert_eq!(patterns, Patterns::from("never printed").to_string());
            // All the output since `at`: the echo of the input, the line.
            assert_eq!(tail, "\r\nthe end\r\n");
        }
        other => panic!("{other:?}"),
    }
    // The output is still readable, none of it consumed.
    assert_eq!(s.read().unwrap().text, "\r\nthe end\r\n");
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
        Err(Error::UnknownSession { id }) if id == ghost
    ));
    assert!(matches!(
        registry.run(ghost, "true", None),
        Err(Error::UnknownSession { id }) if id == ghost
    ));
}

#[test]
fn close_wakes_a_text_waiter() {
    let s = Session::start(["sleep", "300"]).unwrap();
    let waiter = {
        let s = s.clone();
        common::spawn_bounded(move || s.wait_for("x", None))
    };
    s.close().unwrap();
    match waiter.join(LONG) {
        Err(Error::SessionClosed { id }) => assert_eq!(id, s.id()),
        other => panic!("{other:?}"),
    }
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

/// `wait_for` matches text in the session's encoding, as `poll` shows it,
/// not the pattern's UTF-8 bytes.
#[test]
fn wait_for_matches_non_ascii_text_in_the_session_encoding() {
    let s = SessionBuilder::new(r"stty -echo; echo READY; read go; printf '\223\372\226\173\n'; read stop")
        .encoding(bgterm::encoding_rs::SHIFT_JIS)
        .spawn()
        .unwrap();
    // Echo is off once READY is out: nothing but the printf follows.
    expect(&s, "READY\r\n");
    let at = s.output_offset().unwrap();
    s.send("\n").unwrap();
    match s.wait_for_from(at, "日本", Some(LONG)) {
        Ok(m) => {
            assert_eq!((m.text.as_str(), m.before.as_str()), ("日本", ""));
            // Offsets count the session's bytes: two per character here.
            assert_eq!((m.match_start, m.match_end), (at, at + 4));
        }
        Err(e) => panic!("{e:?}; the output was {:?}", s.read().unwrap().text),
    }
}

/// A text waiter blocked when the session is closed ends with
/// `SessionClosed`, never with the exit that the close's kill caused.
#[test]
fn a_text_waiter_blocked_at_close_gets_session_closed_not_the_kill() {
    for _ in 0..5 {
        let s = Session::start(["sleep", "300"]).unwrap();
        let at = s.output_offset().unwrap();
        let (tx, rx) = bgterm::crossbeam_channel::bounded(1);
        let waiter = {
            let s = s.clone();
            common::spawn_bounded(move || {
                tx.send(()).unwrap();
                s.wait_for_from(at, "x", None)
            })
        };
        rx.recv().unwrap();
        s.close().unwrap();
        match waiter.join(LONG) {
            Err(Error::SessionClosed { id }) => assert_eq!(id, s.id()),
            other => panic!("{other:?}"),
        }
    }
}

/// Peak memory (VmHWM) of this process, in KiB.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

/// The window `wait_for` searches is bounded by what the ring retains: a
/// wait over 64 MiB of output through a 1 MiB ring raises the process's
/// peak memory by far less than the output.
#[test]
fn wait_for_over_a_flood_keeps_memory_bounded_by_the_ring() {
    const TOTAL: u64 = 64 << 20;
    let s = SessionBuilder::new(format!(
        "stty -echo; echo READY; read go; head -c {TOTAL} /dev/zero | tr '\\0' a; echo; read stop"
    ))
    .max_buffer_bytes(1 << 20)
    .spawn()
    .unwrap();
    // Echo is off once READY is out: only the 'a's and a line end follow.
    expect(&s, "READY\r\n");
    let at = s.output_offset().unwrap();
    let before = vm_hwm_kib();
    s.send("\n").unwrap();
    // Waits until the whole flood has gone by (the `echo` ends it).
    let m = s
        .wait_for_from(at, "a\r\n", Some(Duration::from_secs(120)))
        .unwrap();
    assert_eq!(
        (m.text.as_str(), m.match_start, m.match_end),
        ("a\r\n", at + TOTAL - 1, at + TOTAL + 2),
        "the match (its `before` is megabytes long)"
    );
    let grown_mib = (vm_hwm_kib() - before) / 1024;
    assert!(
        grown_mib < 32,
        "peak memory grew by {grown_mib} MiB during a wait on a 1 MiB ring"
    );
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
        // exactly how much of its output was lost.
        let sh = SessionBuilder::new(["sh"])
            .max_buffer_bytes(4096)
            .spawn()
            .unwrap();
        let r = sh
            .run("head -c 200000 /dev/zero | tr '\\0' y; echo", Some(LONG))
            .unwrap();
        assert_eq!(r.output.len() as u64 + r.elided_bytes, 200_001);
        assert_eq!((r.total_bytes, r.missed_bytes), (200_001, 0));
    }
}

// ---- run --------------------------------------------------------------------

// The full `run` suite is in tests/run.rs; these two check how it meets
// the ring and a terminal without ONLCR.

/// When the command prints more than the ring holds, `run` still sees every
/// byte: it keeps the head and the tail and counts what lies between.
#[test]
fn run_counts_the_output_the_ring_dropped() {
    let s = SessionBuilder::new(["sh"])
        .max_buffer_bytes(4096)
        .spawn()
        .unwrap();
    let r = s
        .run("head -c 100000 /dev/zero | tr '\\0' x", Some(LONG))
        .unwrap();
    assert_eq!(r.exit_code, 0);
    assert!(r.output.bytes().all(|b| b == b'x'), "{:?}", r.output);
    assert_eq!(
        (
            r.output.len() as u64 + r.elided_bytes,
            r.total_bytes,
            r.missed_bytes
        ),
        (100_000, 100_000, 0),
        "run returned {} of 100000 bytes, {} reported elided",
        r.output.len(),
        r.elided_bytes,
    );
}

/// `run` finds its markers whether or not the terminal turns "\n" into
/// "\r\n" (ONLCR off: `stty -onlcr`, or a program that left it raw).
#[test]
fn run_completes_with_onlcr_off() {
    let s = Session::start(["sh"]).unwrap();
    let r = s.run("stty -onlcr", Some(LONG)).unwrap();
    assert_eq!((r.output.as_str(), r.exit_code), ("", 0));
    let r = s.run("echo hi", Some(LONG)).unwrap();
    assert_eq!((r.output.as_str(), r.exit_code), ("hi\n", 0));
}

// ---- quiet-period poll ----------------------------------------------------

#[test]
fn quiet_poll_returns_a_multi_part_burst_in_one_result() {
    let script = "read go; for i in 1 2 3 4; do echo part$i; sleep 0.2; done; echo end; read stop";
    let s = Session::start(script).unwrap();
    s.send("\n").unwrap();
    let out = s.poll_quiet(LONG, Duration::from_secs(2)).unwrap();
    // The echo of the input, then every part, in one result.
    assert_eq!(out.text, "\r\npart1\r\npart2\r\npart3\r\npart4\r\nend\r\n");
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
    assert!(out.running);
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
        // The echo of the input, then the answer: every byte, once.
        assert_eq!(text[i], format!("go\r\ns{i}-go\r\n"));
        assert_eq!(statuses[i], Some(ExitStatus::Exited(i as i32)));
    }
    // Subscribing consumed nothing: the readers still get everything.
    assert_eq!(sessions[0].read().unwrap().text, "go\r\ns0-go\r\n");
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
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
    let events: Vec<SessionEvent> = slow.try_iter().collect();
    assert!(events.len() <= 4);
    assert_eq!(
        events.last(),
        Some(&SessionEvent::Exited {
            session: s.id(),
            status: ExitStatus::Exited(0)
        }),
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
    // The stream then ends (disconnects; it does not just go quiet).
    assert_eq!(slow.recv_timeout(LONG), Err(RecvTimeoutError::Disconnected));
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
    assert_eq!(rx.recv_timeout(LONG), Err(RecvTimeoutError::Disconnected));
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
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
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

/// The race in start-then-wait: the banner is printed (and buffered,
/// unread) before the wait starts. `wait_for` matches it; `wait_for_new`
/// does not, and its timeout says that nothing arrived meanwhile.
#[test]
fn wait_for_matches_buffered_output_and_wait_for_new_only_what_comes_after() {
    let s = Session::start(["cat"]).unwrap();
    let events = s.subscribe().unwrap();
    s.send("banner\n").unwrap();
    // Until both the echo and cat's copy are buffered, without reading them.
    let mut seen = String::new();
    while !seen.contains("banner\r\nbanner\r\n") {
        match events.recv_timeout(LONG) {
            Ok(bgterm::SessionEvent::Output { text, .. }) => seen += &text,
            other => panic!("{other:?}"),
        }
    }
    match s.wait_for_new("banner", Some(SHORT)).unwrap_err() {
        Error::WaitTimeout { arrived, id, .. } => assert_eq!((arrived, id), (0, s.id())),
        other => panic!("{other:?}"),
    }
    let m = s.wait_for("banner", Some(Duration::ZERO)).unwrap();
    assert_eq!((m.match_start, m.match_end, m.before.as_str()), (0, 6, ""));
    // The cursor moved past the first match only: the second is next.
    let m = s.wait_for("banner", Some(Duration::ZERO)).unwrap();
    assert_eq!((m.match_start, m.before.as_str()), (8, "\r\n"));
    // A timeout while output keeps coming says how much came.
    let ticker = Session::start("while :; do echo tick; sleep 0.01; done").unwrap();
    match ticker
        .wait_for_new("never", Some(Duration::from_secs(1)))
        .unwrap_err()
    {
        Error::WaitTimeout { arrived, tail, .. } => {
            assert!(arrived >= 6 && tail.contains("tick"), "{arrived} {tail:?}")
        }
        other => panic!("{other:?}"),
    }
}

/// `poll_until` / `write_stdin_until` with a pattern: one call, one whole
/// answer, whatever the fragments it arrived in.
#[test]
fn until_a_pattern_returns_the_whole_answer_in_one_call() {
    let sh = bgterm::SessionBuilder::new(["sh"])
        .env("PS1", "$ ")
        .spawn()
        .unwrap();
    let prompt = bgterm::ReadUntil::new().pattern("$ ");
    let first = sh.poll_until(LONG, &prompt).unwrap();
    assert_eq!((first.text.as_str(), first.matched), ("$ ", Some(0)));
    let out = sh
        .write_stdin_until("printf 'a'; sleep 0.1; printf 'b\\n'\n", LONG, &prompt)
        .unwrap();
    assert_eq!(out.text, "printf 'a'; sleep 0.1; printf 'b\\n'\r\nab\r\n$ ");
    assert_eq!((out.matched, out.remaining_bytes), (Some(0), 0));
    // Output already buffered counts: the answer is there before the call.
    let events = sh.subscribe().unwrap();
    sh.send("echo buffered\n").unwrap();
    let mut seen = String::new();
    while !seen.ends_with("$ ") {
        match events.recv_timeout(LONG) {
            Ok(SessionEvent::Output { text, .. }) => seen += &text,
            other => panic!("{other:?}"),
        }
    }
    let rest = sh.poll_until(Duration::ZERO, &prompt).unwrap();
    assert_eq!(
        (rest.text.as_str(), rest.matched),
        ("echo buffered\r\nbuffered\r\n$ ", Some(0))
    );
}

#[test]
fn until_a_pattern_is_still_bounded_by_the_yield_time_and_the_exit() {
    let s = Session::start("echo partial; read x; echo done").unwrap();
    let never = bgterm::ReadUntil::new().pattern("never");
    let t = Instant::now();
    let out = s.poll_until(SHORT, &never).unwrap();
    assert!(t.elapsed() >= SHORT);
    assert_eq!(
        (out.text.as_str(), out.matched, out.running),
        ("partial\r\n", None, true)
    );
    let out = s.write_stdin_until("\n", LONG, &never).unwrap();
    assert!(!out.running && out.matched.is_none(), "{out:?}");
    assert_eq!(out.text, "\r\ndone\r\n");
}

/// `settle`: a burst written in pieces comes back whole, and the call ends
/// once the output has paused, long before the yield time.
#[test]
fn settle_collects_a_burst_until_the_output_pauses() {
    let s = Session::start("read go; for i in 1 2 3; do echo part$i; sleep 0.05; done; read stop").unwrap();
    let settle = bgterm::ReadUntil::new().settle(Duration::from_millis(400));
    let t = Instant::now();
    let out = s
        .write_stdin_until("\n", Duration::from_secs(30), &settle)
        .unwrap();
    assert_eq!(out.text, "\r\npart1\r\npart2\r\npart3\r\n");
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert_eq!(out.matched, None);
}
