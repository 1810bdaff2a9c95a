//! The async API (feature `tokio`): the core semantics through
//! `AsyncSession`, many sessions awaited at once on one thread, and
//! cancellation safety (dropped futures, `select!` with timers).
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bgterm::{AsyncSession, Error, Pattern, Session, SessionBuilder, SessionEvent};
use common::LONG;

const SHORT: Duration = Duration::from_millis(200);

fn is_send<T: Send>(_: &T) {}

/// Awaits `f`, which the session must wake (its output or exit), not its
/// `LONG` deadline: a wait woken only by its timer still finds what it
/// waited for, but late, so the time is what tells the two apart.
async fn woken<T>(f: impl Future<Output = T>) -> T {
    let t = Instant::now();
    let out = f.await;
    assert!(t.elapsed() < LONG / 2, "woken only after {:?}", t.elapsed());
    out
}

#[test]
fn the_handle_is_send_sync_clone_and_its_futures_are_send() {
    fn check<T: Send + Sync + Clone>() {}
    check::<AsyncSession>();
    let s = AsyncSession::from(Session::start(["cat"]).unwrap());
    // Never polled: only their types are checked (tokio::spawn needs Send).
    is_send(&s.poll(SHORT));
    is_send(&s.wait(None));
    is_send(&s.wait_for("x", None));
    is_send(&s.run("true", None));
    is_send(&s.events().unwrap());
}

// ---- the unread cursor, bounded waits, early return ----------------------

#[tokio::test]
async fn output_between_calls_comes_with_the_next_call_and_never_twice() {
    let s = AsyncSession::start("echo first; read x; echo second:$x; read y").unwrap();
    let m = woken(s.wait_for_from(0, "first\r\n", Some(LONG))).await.unwrap();
    assert_eq!((m.before.as_str(), m.match_start, m.match_end), ("", 0, 7));
    let empty = s.read().unwrap();
    assert_eq!(
        (empty.text.as_str(), empty.start_offset, empty.end_offset),
        ("", 7, 7)
    );
    // Output that arrives while nobody reads is kept for the next call.
    let at = s.output_offset().unwrap();
    s.send("go\n").unwrap();
    woken(s.wait_for_from(at, "second:go\r\n", Some(LONG)))
        .await
        .unwrap();
    let r = s.poll(Duration::ZERO).await.unwrap();
    assert_eq!(r.text, "", "the match was consumed, nothing after it yet");
    s.send("\n").unwrap();
    assert_eq!(woken(s.wait(Some(LONG))).await.unwrap().unwrap().code(), Some(0));
    let rest = s.read().unwrap();
    assert_eq!(rest.text, "\r\n", "the echo of the last line, once");
    assert_eq!(s.read().unwrap().text, "");
}

#[tokio::test]
async fn poll_waits_its_yield_time_when_nothing_comes() {
    let s = AsyncSession::start(["cat"]).unwrap();
    let t = Instant::now();
    let r = s.poll(SHORT).await.unwrap();
    let waited = t.elapsed();
    assert_eq!(r.text, "");
    assert!(r.running);
    assert!(waited >= SHORT, "returned after {waited:?}");
    assert!(waited < LONG, "returned after {waited:?}");
    let t = Instant::now();
    assert_eq!(s.wait(Some(SHORT)).await.unwrap(), None, "still running");
    assert!(t.elapsed() >= SHORT);
}

#[tokio::test]
async fn poll_returns_as_soon_as_output_arrives() {
    let s = AsyncSession::start("read x; echo got-$x; read y").unwrap();
    let t = Instant::now();
    // The poll is pending first (join polls in order), then the input goes.
    let (r, sent) = tokio::join!(s.poll(LONG), async { s.send("1\n") });
    sent.unwrap();
    let r = r.unwrap();
    assert!(t.elapsed() < LONG / 2, "took {:?}", t.elapsed());
    assert!(r.text.starts_with('1'), "{:?}", r.text);
    // The same through write_stdin.
    let r = woken(s.write_stdin("2\n", LONG)).await.unwrap();
    assert!(!r.text.is_empty());
}

#[tokio::test]
async fn waits_return_as_soon_as_the_child_exits() {
    let s = AsyncSession::start("read x; exit 7").unwrap();
    let t = Instant::now();
    let (status, sent) = tokio::join!(s.wait(Some(LONG)), async { s.send("\n") });
    sent.unwrap();
    assert_eq!(status.unwrap().unwrap().code(), Some(7));
    assert!(t.elapsed() < LONG / 2, "took {:?}", t.elapsed());
    // A poll after the exit returns at once, with the rest of the output.
    let t = Instant::now();
    let r = s.poll(LONG).await.unwrap();
    assert!(!r.running && r.exit_code == Some(7));
    assert!(t.elapsed() < LONG / 2);
    assert_eq!(s.poll(LONG).await.unwrap().text, "", "exited: no wait");
}

#[tokio::test]
async fn bytes_returned_plus_bytes_dropped_equal_bytes_written() {
    let s: AsyncSession = SessionBuilder::new("printf '%05d' $(seq 1 1000)")
        .max_buffer_bytes(100)
        .spawn()
        .unwrap()
        .into();
    woken(s.wait(Some(LONG))).await.unwrap().unwrap();
    let mut got = String::new();
    let mut dropped = 0;
    loop {
        let r = s.poll_with_limit(Duration::ZERO, 30).await.unwrap();
        dropped += r.dropped_bytes;
        got += &r.text;
        if r.remaining_bytes == 0 {
            assert_eq!(r.end_offset, 5000);
            break;
        }
    }
    assert_eq!((dropped, got.len() as u64), (4900, 100));
    assert!(got.ends_with("01000"));
}

#[tokio::test]
async fn wait_for_reports_timeouts_exits_and_regex_matches() {
    let s = AsyncSession::start(["cat"]).unwrap();
    let e = s.wait_for("never", Some(Duration::ZERO)).await.unwrap_err();
    assert!(matches!(e, Error::WaitTimeout { .. }), "{e}");
    let at = s.output_offset().unwrap();
    s.send("answer 42\n").unwrap();
    let regex = Pattern::regex(r"answer (\d+)").unwrap();
    let m = woken(s.wait_for_from(at, regex, Some(LONG))).await.unwrap();
    assert_eq!((m.text.as_str(), m.match_start), ("answer 42", at));

    let quits = AsyncSession::start("echo bye").unwrap();
    let e = woken(quits.wait_for("never", Some(LONG))).await.unwrap_err();
    assert!(matches!(e, Error::ExitedBeforeMatch { .. }), "{e}");
}

#[tokio::test]
async fn run_returns_the_output_and_the_exit_code() {
    if !common::require("sh") {
        return;
    }
    let sh = AsyncSession::start(["sh"]).unwrap();
    let r = woken(sh.run("echo hello; printf 'x\\ny'; f() { return 17; }; f", Some(LONG)))
        .await
        .unwrap();
    assert_eq!((r.output.as_str(), r.exit_code), ("hello\nx\ny", 17));
    // The cursor is past the whole exchange, as after the blocking form.
    let r2 = sh.session().run("echo again", Some(LONG)).unwrap();
    assert_eq!(r2.output, "again\n");
    // What is left is at most the next prompt: no marker, no output.
    let rest = sh.poll(Duration::ZERO).await.unwrap().text;
    assert!(!rest.contains("BGTERM") && !rest.contains("again"), "{rest:?}");
}

#[tokio::test]
async fn conversions_share_one_session_and_one_cursor() {
    let sync = Session::start("echo one; read x; echo two; read y").unwrap();
    let a = AsyncSession::from(sync.clone());
    woken(a.wait_for_from(0, "one\r\n", Some(LONG))).await.unwrap();
    let back: Session = a.clone().into();
    assert_eq!(back.id(), sync.id());
    let at = back.output_offset().unwrap();
    back.send("\n").unwrap();
    woken(a.wait_for_from(at, "two\r\n", Some(LONG))).await.unwrap();
    assert_eq!(sync.read().unwrap().text, "", "the async wait consumed it");
}

#[tokio::test]
async fn closing_the_session_ends_a_pending_wait() {
    let s = AsyncSession::start(["cat"]).unwrap();
    let closer = s.clone();
    let waiting = s.wait_for("never", None);
    let both = async { tokio::join!(waiting, async { closer.close() }) };
    let (r, closed) = woken(tokio::time::timeout(LONG, both))
        .await
        .expect("the close woke the wait");
    closed.unwrap();
    assert!(matches!(r, Err(Error::SessionClosed { .. })), "{r:?}");
    assert!(matches!(s.poll(LONG).await, Err(Error::SessionClosed { .. })));
}

// ---- many sessions on one thread ---------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn two_hundred_sessions_awaited_at_once_on_one_thread_all_progress() {
    const N: usize = 200;
    let sessions: Vec<AsyncSession> = (0..N).map(|_| AsyncSession::start(["cat"]).unwrap()).collect();
    let waiting = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, s) in sessions.iter().enumerate() {
        let (s, waiting) = (s.clone(), Arc::clone(&waiting));
        tasks.spawn(async move {
            // Counted in the same poll that starts the wait, so once all
            // are counted all are waiting. A wait that blocked the thread
            // would stop everything here, the sends below included.
            waiting.fetch_add(1, Ordering::SeqCst);
            let m = s.wait_for(format!("ping-{i}\r\n"), Some(LONG)).await;
            (i, m)
        });
    }
    let deadline = Instant::now() + LONG;
    while waiting.load(Ordering::SeqCst) < N {
        assert!(Instant::now() < deadline, "the tasks did not all start");
        tokio::task::yield_now().await;
    }
    let t = Instant::now();
    // Answered in reverse order of waiting.
    for (i, s) in sessions.iter().enumerate().rev() {
        s.send(&format!("ping-{i}\n")).unwrap();
    }
    let mut done = [false; N];
    while let Some(joined) = woken(tasks.join_next()).await {
        let (i, m) = joined.unwrap();
        let m = m.unwrap_or_else(|e| panic!("session {i}: {e}"));
        assert_eq!(m.text, format!("ping-{i}\r\n"));
        done[i] = true;
    }
    assert!(done.iter().all(|d| *d));
    eprintln!("{N} waits answered in {:?}", t.elapsed());
    for s in &sessions {
        s.close().unwrap();
    }
}

// ---- cancellation ------------------------------------------------------

#[tokio::test]
async fn a_dropped_wait_for_loses_no_output_and_leaves_the_cursor() {
    let s = AsyncSession::start("printf 'first\\n'; read x; printf 'second %s\\n' \"$x\"; read y").unwrap();
    let mut events = s.events().unwrap();
    let mut seen = String::new();
    {
        // The wait sees output arrive (and its tap collects it) but never
        // matches; the other branch, which only watches events, wins, and
        // the wait is dropped mid-flight.
        let waiting = s.wait_for_from(0, "never printed", Some(LONG));
        let watching = async {
            s.send("go\n").unwrap();
            while let Some(e) = events.recv().await {
                if let SessionEvent::Output { text, .. } = e {
                    seen += &text;
                    if seen.contains("second go\r\n") {
                        return;
                    }
                }
            }
        };
        tokio::select! {
            r = waiting => panic!("the wait ended: {r:?}"),
            () = watching => {}
            () = tokio::time::sleep(LONG / 2) => panic!("no output in {:?}: {seen:?}", LONG / 2),
        }
    }
    let r = s.read().unwrap();
    assert_eq!(r.start_offset, 0, "the cursor did not move");
    // (The terminal's echo of "go" may come before or after "first".)
    assert!(
        r.text.contains("first\r\n") && r.text.contains("go\r\n"),
        "{:?}",
        r.text
    );
    assert!(
        r.text.ends_with(&seen),
        "the bytes the events carried, and any before"
    );
    assert!(r.text.ends_with("second go\r\n"), "{:?}", r.text);
    assert_eq!(r.end_offset, s.output_offset().unwrap(), "every byte");
}

#[tokio::test]
async fn select_between_wait_for_and_a_timer_is_safe_either_way() {
    let s = AsyncSession::start(["cat"]).unwrap();
    // The timer wins: the wait is dropped.
    let timer_won = tokio::select! {
        r = s.wait_for("never", None) => panic!("matched: {r:?}"),
        () = tokio::time::sleep(SHORT) => true,
    };
    assert!(timer_won);
    // The same through tokio::time::timeout.
    assert!(tokio::time::timeout(SHORT, s.poll(LONG)).await.is_err());
    // The wait wins: it consumed exactly through the match.
    let at = s.output_offset().unwrap();
    s.send("hello\n").unwrap();
    let m = tokio::select! {
        r = s.wait_for_from(at, "hello", None) => r.unwrap(),
        () = tokio::time::sleep(LONG / 2) => panic!("no match in {:?}", LONG / 2),
    };
    assert_eq!((m.match_start, m.match_end), (at, at + 5));
    let rest = woken(s.wait_for_from(m.match_end, "hello\r\n", Some(LONG)))
        .await
        .unwrap();
    assert_eq!(rest.before, "\r\n", "the echo's line end, then cat's copy");
}

// ---- event streams -----------------------------------------------------

#[tokio::test]
async fn the_event_stream_ends_with_the_final_event() {
    let s = AsyncSession::start("read x; echo a-$x; echo b; exit 3").unwrap();
    let mut events = s.events().unwrap();
    s.send("1\n").unwrap();
    let mut all = Vec::new();
    let collect = async {
        while let Some(e) = events.recv().await {
            all.push(e);
        }
    };
    woken(tokio::time::timeout(LONG, collect))
        .await
        .expect("the stream ended");
    let text: String = all
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Output { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(text.contains("a-1\r\nb\r\n"), "{text:?}");
    match all.last() {
        Some(SessionEvent::Exited { status, session }) => {
            assert_eq!((status.code(), *session), (Some(3), s.id()));
        }
        other => panic!("last event {other:?}"),
    }
    assert_eq!(
        all.iter()
            .filter(|e| matches!(e, SessionEvent::Exited { .. }))
            .count(),
        1
    );
    assert!(events.recv().await.is_none(), "ended for good");
    // Reading the events did not consume the output.
    assert!(s.read().unwrap().text.contains("a-1"));
}

#[tokio::test]
async fn the_event_stream_wakes_for_resizes_and_ends_when_the_session_closes() {
    let s = AsyncSession::start(["cat"]).unwrap();
    let mut events = s.events().unwrap();
    let (e, resized) = woken(tokio::time::timeout(LONG, async {
        tokio::join!(events.recv(), async { s.resize(30, 100) })
    }))
    .await
    .expect("the resize woke the stream");
    resized.unwrap();
    assert!(
        matches!(
            e,
            Some(SessionEvent::Resized {
                rows: 30,
                cols: 100,
                ..
            })
        ),
        "{e:?}"
    );
    let (e, closed) = woken(tokio::time::timeout(LONG, async {
        tokio::join!(events.recv(), async { s.close() })
    }))
    .await
    .expect("the close ended the stream");
    closed.unwrap();
    assert!(matches!(e, Some(SessionEvent::Closed { .. })), "{e:?}");
    assert_eq!(events.recv().await, None, "nothing after the final event");
}

#[tokio::test]
async fn a_dropped_run_consumes_nothing_and_its_command_keeps_running() {
    if !common::require("sh") {
        return;
    }
    let sh = AsyncSession::start(["sh"]).unwrap();
    // Set the shell up first, so the dropped run below is past its set-up.
    assert_eq!(woken(sh.run("true", Some(LONG))).await.unwrap().exit_code, 0);
    let before = sh.output_offset().unwrap();
    // The timer is what is under test: it fires long before the command
    // can finish, and `biased` checks it first.
    tokio::select! {
        biased;
        () = tokio::time::sleep(SHORT) => {}
        r = sh.run("sleep 1; echo late", Some(LONG)) => panic!("finished: {r:?}"),
    }
    // The command runs on, nothing of its output was consumed, and it can
    // be collected whole.
    let session = sh.session();
    assert_eq!(
        session.run_in_flight().unwrap().as_deref(),
        Some("sleep 1; echo late")
    );
    let r = session.run_resume(Some(LONG)).unwrap();
    assert_eq!((r.output.as_str(), r.exit_code), ("late\n", 0));
    assert!(r.start_offset >= before, "{} {before}", r.start_offset);
    assert!(sh.run("echo again", Some(LONG)).await.unwrap().output == "again\n");
}

/// `run` and `wait_for_screen` never block the runtime's thread: a ticker
/// on the same current-thread runtime keeps ticking while a first `run`
/// (which also sets the shell up) waits for its command.
#[tokio::test]
async fn run_and_screen_waits_leave_the_runtime_thread_free() {
    if !common::require("sh") {
        return;
    }
    let sh = AsyncSession::start(["sh"]).unwrap();
    let ticks = std::cell::Cell::new(0u32);
    let ticker = async {
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            ticks.set(ticks.get() + 1);
        }
    };
    let r = tokio::select! {
        r = sh.run("sleep 0.5; echo done", Some(LONG)) => r.unwrap(),
        () = ticker => unreachable!("the ticker never ends"),
    };
    assert_eq!((r.output.as_str(), r.exit_code), ("done\n", 0));
    assert!(ticks.get() >= 10, "only {} ticks during a 0.5 s run", ticks.get());

    let progress =
        AsyncSession::start("printf 'loading\\r'; sleep 0.3; printf 'ready  \\n'; read x").unwrap();
    let m = woken(progress.wait_for_screen("ready", Some(LONG)))
        .await
        .unwrap();
    assert_eq!((m.text.as_str(), m.already_there), ("ready", false));
    let again = progress
        .wait_for_screen("ready", Some(Duration::ZERO))
        .await
        .unwrap();
    assert!(again.already_there);
}
