//! Issue 10, the API's holes: a stalled sink writer (4), the subscriber's
//! last event on close (5), strict decoding and matches (6), recordings
//! and transcripts that destroyed files (7), registries that kept closed
//! sessions (8), invisible characters in names (10).
//!
//! Some tests count the whole process's descriptors and threads, so every
//! test of this file holds [`alone`] for its whole run.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bgterm::{
    DecodeErrors, Error, IfExists, Recording, Registry, Session, SessionBuilder, SessionEvent, SinkKind,
    Transcript,
};
use common::{LONG, fds, within};

fn alone() -> MutexGuard<'static, ()> {
    static ALONE: Mutex<()> = Mutex::new(());
    ALONE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|n| n.trim_end().to_string())
        .collect()
}

/// A fresh path in the temp directory (removed first if a failed run left
/// it behind).
fn temp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("bgterm-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

// ---- 4: a stalled sink writer ----

/// A writer whose first write says so on `entered`, then blocks until
/// `release` is sent to or dropped; says `dropped` when it is dropped.
struct Stall {
    entered: mpsc::Sender<()>,
    release: mpsc::Receiver<()>,
    dropped: mpsc::Sender<()>,
}

impl Write for Stall {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let _ = self.entered.send(());
        let _ = self.release.recv();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Stall {
    fn drop(&mut self) {
        let _ = self.dropped.send(());
    }
}

struct StallControl {
    entered: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
    dropped: mpsc::Receiver<()>,
}

fn stall() -> (Stall, StallControl) {
    let (etx, erx) = mpsc::channel();
    let (rtx, rrx) = mpsc::channel();
    let (dtx, drx) = mpsc::channel();
    (
        Stall {
            entered: etx,
            release: rrx,
            dropped: dtx,
        },
        StallControl {
            entered: erx,
            release: rtx,
            dropped: drx,
        },
    )
}

fn warm_up() {
    let s = Session::start(["true"]).unwrap();
    s.wait(Some(LONG)).unwrap();
    s.close().unwrap();
}

#[test]
fn a_stalled_writer_cannot_hang_stop_transcript_and_the_session_goes_on() {
    let _alone = alone();
    warm_up();
    let (writer, control) = stall();
    // Far more output than the sink may hold: the pump is held back.
    let s = Session::start("seq 1 100000; echo END").unwrap();
    s.start_transcript(Transcript::to_writer(writer).max_pending_bytes(10))
        .unwrap();
    control.entered.recv_timeout(LONG).unwrap();
    // The plain form gives up after SINK_STOP_WAIT with a typed error.
    let s2 = s.clone();
    let started = Instant::now();
    let err = within(bgterm::SINK_STOP_WAIT + LONG, move || s2.stop_transcript()).unwrap_err();
    assert!(
        started.elapsed() >= bgterm::SINK_STOP_WAIT,
        "{:?}",
        started.elapsed()
    );
    match &err {
        Error::SinkStopTimedOut {
            id,
            kind,
            target,
            waited,
        } => {
            assert_eq!(
                (*id, *kind, target.as_str()),
                (s.id(), SinkKind::Transcript, "writer")
            );
            assert!(*waited >= bgterm::SINK_STOP_WAIT);
        }
        other => panic!("{other:?}"),
    }
    // The sink ended: the child's output flows again to the end.
    let m = s.wait_for_from(0, "END", Some(LONG)).unwrap();
    assert!(
        m.before.ends_with("100000\r\n"),
        "{:?}",
        &m.before[m.before.len() - 20..]
    );
    assert!(s.wait(Some(LONG)).unwrap().is_some());
    assert!(
        matches!(s.stop_transcript(), Err(Error::NoSink { .. })),
        "collected"
    );
    s.close().unwrap();
    control.release.send(()).unwrap();
    control.dropped.recv_timeout(LONG).unwrap();
}

#[test]
fn close_frees_the_sessions_descriptors_and_thread_while_a_writer_is_stuck() {
    let _alone = alone();
    warm_up();
    let fds_before = fds();
    let (writer, control) = stall();
    let s = Session::start("seq 1 100000").unwrap();
    let pump = format!("bgterm-{}", s.id());
    s.start_transcript(Transcript::to_writer(writer).max_pending_bytes(10))
        .unwrap();
    control.entered.recv_timeout(LONG).unwrap();
    // A stop with a deadline of its own.
    let s2 = s.clone();
    let err = within(LONG, move || {
        s2.stop_transcript_deadline(Some(Instant::now() + Duration::from_millis(200)))
    })
    .unwrap_err();
    assert!(matches!(err, Error::SinkStopTimedOut { .. }), "{err:?}");
    // A second, stuck sink: the recording's writer blocks too.
    let (writer2, control2) = stall();
    s.start_recording(Recording::to_writer(writer2)).unwrap();
    control2.entered.recv_timeout(LONG).unwrap();
    // Closing neither waits for a writer nor keeps a descriptor.
    let s2 = s.clone();
    within(LONG, move || s2.close()).unwrap();
    drop(s);
    assert_eq!(fds(), fds_before, "the master, pidfd and eventfd are closed");
    assert!(!thread_names().contains(&pump), "the pump is gone");
    // Only the writers' own threads wait, in the writers; released, they
    // finish and drop the writers.
    control.release.send(()).unwrap();
    control2.release.send(()).unwrap();
    control.dropped.recv_timeout(LONG).unwrap();
    control2.dropped.recv_timeout(LONG).unwrap();
}

/// A FIFO at `path`.
fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {path:?}");
}

#[test]
fn a_fifo_nobody_reads_holds_no_thread_of_ours_for_good() {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let _alone = alone();
    let fifo = temp("stalled.fifo");
    mkfifo(&fifo);
    // No reader at all: refused at once, never a start blocked in open.
    let s = Session::start("seq 1 100000").unwrap();
    let err = within(LONG, {
        let (s, fifo) = (s.clone(), fifo.clone());
        move || s.start_transcript(Transcript::create(&fifo).unwrap())
    })
    .unwrap_err();
    assert!(
        matches!(&err, Error::File { path, op: "opening", source } if *path == fifo && source.raw_os_error() == Some(libc::ENXIO)),
        "{err:?}"
    );
    // A reader that never reads: the pipe fills and the writer waits.
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    // One page of pipe: once more than that was taken, the writer blocks
    // (a sink takes every byte the session publishes).
    // SAFETY: fcntl on a descriptor we own.
    assert_eq!(
        unsafe { libc::fcntl(reader.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) },
        4096
    );
    s.start_transcript(Transcript::create(&fifo).unwrap().max_pending_bytes(10))
        .unwrap();
    // Lines 1 to 842 are 4102 bytes: more than the pipe holds, and no more
    // than the pump publishes before the held-back writer stops it (the
    // pipe's 4096 plus at least the sink's limit of 10).
    let m = s.wait_for_from(0, "\n842\r\n", Some(LONG)).unwrap();
    assert_eq!(m.match_end, 4102);
    let err = within(LONG, {
        let s = s.clone();
        move || s.stop_transcript_deadline(Some(Instant::now() + Duration::from_millis(200)))
    })
    .unwrap_err();
    assert!(matches!(err, Error::SinkStopTimedOut { .. }), "{err:?}");
    s.close().unwrap();
    // SINK_STOP_WAIT without progress after the end, the writer gives up
    // and closes its end of the FIFO: the reader sees the hang-up (poll
    // with no events reports only that).
    let started = Instant::now();
    let mut p = libc::pollfd {
        fd: reader.as_raw_fd(),
        events: 0,
        revents: 0,
    };
    let wait = (bgterm::SINK_STOP_WAIT + LONG).as_millis() as libc::c_int;
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, wait) };
    assert!(
        r == 1 && p.revents & libc::POLLHUP != 0,
        "the writer never let go: {r} {:x}",
        p.revents
    );
    assert!(started.elapsed() < bgterm::SINK_STOP_WAIT + LONG);
    std::fs::remove_file(&fifo).unwrap();
}

// ---- 5: a subscriber's last event ----

#[test]
fn every_way_of_closing_ends_a_subscription_with_closed() {
    let _alone = alone();
    // Closed through the handle.
    let s = Session::start(["cat"]).unwrap();
    let rx = s.subscribe().unwrap();
    s.close().unwrap();
    assert_eq!(
        rx.recv_timeout(LONG),
        Ok(SessionEvent::Closed { session: s.id() })
    );
    assert!(rx.recv_timeout(LONG).is_err(), "then it disconnects");

    // By dropping the last handle.
    let s = Session::start(["cat"]).unwrap();
    let id = s.id();
    let rx = s.subscribe().unwrap();
    drop(s);
    assert_eq!(rx.recv_timeout(LONG), Ok(SessionEvent::Closed { session: id }));

    // By its registry, after output, with a full channel: the output that
    // fitted, the count of what did not, then Closed.
    let registry = Registry::new();
    let id = registry
        .start("printf 'a\\n'; sleep 0.05; printf 'b\\n'; exec cat")
        .unwrap();
    let rx = registry.subscribe_with_capacity(id, 3).unwrap();
    registry.wait_for_from(id, 0, "b", Some(LONG)).unwrap();
    registry.close(id).unwrap();
    let events: Vec<SessionEvent> = rx.iter().collect();
    assert_eq!(
        events.last(),
        Some(&SessionEvent::Closed { session: id }),
        "{events:?}"
    );
    assert!(events.len() <= 3, "{events:?}");

    // A child that exits: Exited, and no Closed after it.
    let s = Session::start(["cat"]).unwrap();
    let rx = s.subscribe().unwrap();
    s.send("\x04").unwrap();
    s.wait(Some(LONG)).unwrap().unwrap();
    s.close().unwrap();
    let last: Vec<SessionEvent> = rx.iter().collect();
    assert!(
        matches!(last.last(), Some(SessionEvent::Exited { .. })),
        "{last:?}"
    );
}

#[test]
fn the_subscribe_example_ends_when_another_thread_closes_the_sessions() {
    use bgterm::crossbeam_channel::{never, select};
    let _alone = alone();
    let a = Session::start(["cat"]).unwrap();
    let b = Session::start(["cat"]).unwrap();
    let (mut ea, mut eb) = (a.subscribe().unwrap(), b.subscribe().unwrap());
    let closer = std::thread::spawn(move || {
        a.close().unwrap();
        b.close().unwrap();
    });
    let mut running = 2;
    let deadline = Instant::now() + LONG;
    while running > 0 {
        let (event, which) = select! {
            recv(ea) -> e => (e, 0),
            recv(eb) -> e => (e, 1),
            default(deadline.saturating_duration_since(Instant::now())) => panic!("no final event"),
        };
        match event {
            Ok(SessionEvent::Exited { .. } | SessionEvent::Closed { .. }) => {
                running -= 1;
                if which == 0 { ea = never() } else { eb = never() }
            }
            Ok(_) => {}
            Err(_) => panic!("stream {which} disconnected without a final event"),
        }
    }
    closer.join().unwrap();
}

// ---- 6: strict decoding keeps the match ----

#[test]
fn strict_decoding_delivers_the_match_and_reports_the_bad_bytes() {
    let _alone = alone();
    let s = SessionBuilder::new("printf 'a\\377b READY\\n'; cat")
        .decode_errors(DecodeErrors::Strict)
        .spawn()
        .unwrap();
    let m = s.wait_for_from(0, "READY", Some(LONG)).unwrap();
    assert_eq!(m.text, "READY");
    assert_eq!(m.before, "a\u{FFFD}b ");
    assert_eq!((m.start_offset, m.match_start, m.match_end), (0, 4, 9));
    assert_eq!(m.invalid_at, Some(1), "the malformed byte's offset");
    // The cursor is past the match: the rest reads cleanly.
    let rest = s.wait_for_from(m.match_end, "\n", Some(LONG)).unwrap();
    assert_eq!((rest.before.as_str(), rest.invalid_at), ("\r", None));
    // Clean output reports nothing.
    s.send("ok\n").unwrap();
    let m = s.wait_for_from(m.match_end, "ok\r\nok", Some(LONG)).unwrap();
    assert_eq!(m.invalid_at, None);
}

// ---- 7: files are never destroyed ----

#[test]
fn an_existing_file_is_refused_naming_it_and_left_untouched() {
    let _alone = alone();
    let p = temp("precious.cast");
    std::fs::write(&p, "precious\n").unwrap();
    let exists = |r: Result<(), Error>| match r {
        Err(Error::FileExists { path }) => assert_eq!(path, p),
        other => panic!("{other:?}"),
    };
    exists(Recording::create(&p).map(drop));
    exists(Transcript::create(&p).map(drop));
    exists(Transcript::to_writer(std::io::sink()).input_file(&p).map(drop));
    exists(SessionBuilder::new(["cat"]).record(&p).spawn().map(drop));
    exists(SessionBuilder::new(["cat"]).transcript(&p).spawn().map(drop));
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "precious\n");
    let err = Recording::create(&p).unwrap_err().to_string();
    assert!(
        err.contains(&format!("{p:?}")) && err.contains("IfExists::Overwrite"),
        "{err}"
    );

    // An empty file and a device are taken as they are (asciinema's rule).
    let empty = temp("empty.log");
    std::fs::write(&empty, "").unwrap();
    let s = Session::start("echo hi").unwrap();
    s.start_transcript(Transcript::create(&empty).unwrap()).unwrap();
    s.start_recording(Recording::create("/dev/null").unwrap())
        .unwrap();
    s.wait(Some(LONG)).unwrap();
    s.stop_transcript().unwrap();
    s.stop_recording().unwrap();
    assert_eq!(std::fs::read(&empty).unwrap(), b"hi\r\n");

    // Asked for explicitly, it is replaced.
    let s = SessionBuilder::new("echo new")
        .record(&p)
        .if_exists(IfExists::Overwrite)
        .spawn()
        .unwrap();
    s.wait(Some(LONG)).unwrap();
    s.stop_recording().unwrap();
    let cast = std::fs::read_to_string(&p).unwrap();
    assert!(
        cast.starts_with("{\"version\": 2,") && cast.contains("new\\r\\n"),
        "{cast}"
    );
    for f in [&p, &empty] {
        std::fs::remove_file(f).unwrap();
    }
}

#[test]
fn a_start_that_fails_creates_no_file() {
    let _alone = alone();
    let cast = temp("never.cast");
    let log = temp("never.log");
    let err = SessionBuilder::new(["/nonexistent/program"])
        .record(&cast)
        .transcript(&log)
        .spawn()
        .unwrap_err();
    assert!(matches!(err, Error::ProgramNotFound { .. }), "{err:?}");
    assert!(
        !cast.exists() && !log.exists(),
        "no file for a session that never started"
    );
    // A sink refused at start (one of that kind is attached) creates none.
    let s = Session::start(["cat"]).unwrap();
    s.start_recording(Recording::to_writer(std::io::sink())).unwrap();
    let r = Recording::create(&cast).unwrap();
    assert!(matches!(s.start_recording(r), Err(Error::SinkActive { .. })));
    assert!(!cast.exists());
    // Nor one refused because the file is in use, for the input file.
    let t = Transcript::create(&log).unwrap().input_file(&log).unwrap();
    assert!(matches!(s.start_transcript(t), Err(Error::FileInUse { .. })));
    assert!(
        !log.exists(),
        "created for the output, removed when the input was refused"
    );
}

#[test]
fn a_file_written_by_a_sink_is_refused_to_every_other_sink_under_any_name() {
    let _alone = alone();
    let p = temp("live.cast");
    let a = Session::start(["cat"]).unwrap();
    a.start_recording(Recording::create(&p).unwrap()).unwrap();
    a.send("from a\n").unwrap();
    a.wait_for_from(0, "from a\r\nfrom a", Some(LONG)).unwrap();
    let b = Session::start(["cat"]).unwrap();
    let other_name = p.parent().unwrap().join(".").join(p.file_name().unwrap());
    let link = temp("live-link.cast");
    std::os::unix::fs::symlink(&p, &link).unwrap();
    for path in [&p, &other_name, &link] {
        for if_exists in [IfExists::Overwrite, IfExists::Append] {
            let in_use = |r: Result<(), Error>| match r {
                Err(Error::FileInUse { path: named }) => assert_eq!(&named, path),
                other => panic!("{path:?} {if_exists:?}: {other:?}"),
            };
            in_use(b.start_recording(Recording::open(path, if_exists).unwrap()));
            in_use(
                b.start_transcript(Transcript::open(path, if_exists).unwrap())
                    .map(drop),
            );
        }
    }
    // The live recording was not disturbed: a whole cast, no NUL bytes.
    let status = a.stop_recording().unwrap();
    let bytes = std::fs::read(&p).unwrap();
    assert_eq!(bytes.len() as u64, status.bytes_written);
    assert!(!bytes.contains(&0));
    let report = bgterm::repair_cast(&p).unwrap();
    assert!(!report.changed && report.events >= 1, "{report:?}");
    // Stopped, the file is free again (asked for explicitly).
    b.start_recording(Recording::open(&p, IfExists::Overwrite).unwrap())
        .unwrap();
    b.stop_recording().unwrap();
    for f in [&p, &link] {
        std::fs::remove_file(f).unwrap();
    }
}

/// Records `command` from its first byte (the recording is attached before
/// the child's output can arrive, so nothing of it can be missed).
fn record_to(path: &Path, if_exists: IfExists, command: &str) {
    let s = SessionBuilder::new(command)
        .record(path)
        .if_exists(if_exists)
        .spawn()
        .unwrap();
    s.wait(Some(LONG)).unwrap();
    s.stop_recording().unwrap();
}

#[test]
fn append_continues_a_cast_so_that_asciinema_plays_the_whole() {
    let _alone = alone();
    let p = temp("appended.cast");
    record_to(&p, IfExists::Append, "sleep 0.2; echo first-part"); // missing: created
    record_to(&p, IfExists::Append, "echo second-part");
    let text = std::fs::read_to_string(&p).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.iter().filter(|l| l.starts_with('{')).count(), 1, "{text}");
    let times: Vec<f64> = lines[1..].iter().map(|l| serde_json_time(l)).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(
        times.last().unwrap() >= &0.2,
        "the clock went on from the first part: {times:?}"
    );
    let report = bgterm::repair_cast(&p).unwrap();
    assert!(!report.changed, "{report:?}");
    if common::require("asciinema") {
        let out = std::process::Command::new("asciinema")
            .arg("cat")
            .arg(&p)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let played = String::from_utf8_lossy(&out.stdout);
        assert!(played.contains("first-part\r\nsecond-part\r\n"), "{played:?}");
    }
    // Appending to something that is not a whole cast is refused, and the
    // file is left as it was.
    std::fs::write(&p, "not a cast\n").unwrap();
    let s = Session::start(["cat"]).unwrap();
    let err = s
        .start_recording(Recording::open(&p, IfExists::Append).unwrap())
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotACast { path, .. } if *path == p),
        "{err:?}"
    );
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "not a cast\n");
    // A transcript appends bytes.
    let log = temp("appended.log");
    std::fs::write(&log, "before\n").unwrap();
    let s = Session::start("echo after").unwrap();
    s.start_transcript(Transcript::open(&log, IfExists::Append).unwrap())
        .unwrap();
    s.wait(Some(LONG)).unwrap();
    s.stop_transcript().unwrap();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "before\nafter\r\n");
    for f in [&p, &log] {
        std::fs::remove_file(f).unwrap();
    }
}

/// The time of an asciicast event line `[time, "o", "..."]`.
fn serde_json_time(line: &str) -> f64 {
    line.strip_prefix('[')
        .and_then(|l| l.split(',').next())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("not an event line: {line:?}"))
}

// ---- 8: a closed session leaves its registry ----

#[test]
fn a_session_closed_through_its_handle_leaves_its_registry() {
    let _alone = alone();
    let name = format!("work-{}", std::process::id());
    let sid = SessionBuilder::new(["cat"]).name(&name).start().unwrap();
    assert_eq!(bgterm::resolve(&name).unwrap(), sid);
    Registry::global().get(sid).unwrap().close().unwrap();
    assert!(!bgterm::list_sessions().contains(&sid));
    assert!(matches!(bgterm::resolve(&name), Err(Error::UnknownName { .. })));
    assert!(matches!(bgterm::close(sid), Err(Error::UnknownSession { id }) if id == sid));
    assert!(matches!(
        bgterm::poll(sid, Duration::ZERO),
        Err(Error::UnknownSession { .. })
    ));
    // The name is free again.
    let again = SessionBuilder::new(["cat"]).name(&name).start().unwrap();
    bgterm::close(again).unwrap();

    // A registry of one's own, a handle kept from before, and a session
    // that was closed before it was inserted.
    let registry = Registry::new();
    let id = registry.start(["cat"]).unwrap();
    let handle = registry.get(id).unwrap();
    handle.close().unwrap();
    assert!(registry.list().is_empty());
    let closed = Session::start(["cat"]).unwrap();
    closed.close().unwrap();
    let closed_id = registry.insert(closed).unwrap();
    assert!(matches!(
        registry.get(closed_id),
        Err(Error::UnknownSession { .. })
    ));
    assert!(registry.list().is_empty());
}

// ---- 10: names with invisible characters ----

#[test]
fn names_with_format_characters_are_refused() {
    let _alone = alone();
    for name in [
        "evil\u{202E}txt",
        "zero\u{200B}width",
        "\u{FEFF}bom",
        "join\u{2060}er",
    ] {
        match SessionBuilder::new(["true"]).name(name).spawn() {
            Err(Error::InvalidName { name: n, reason }) => {
                assert_eq!(n, name);
                assert!(reason.contains("format character"), "{reason}");
            }
            other => panic!("{name:?}: {other:?}"),
        }
    }
}
