//! Recording and transcripts: asciicast v2 casts checked against
//! the real asciinema, repair of a cut cast, lossless transcripts past ring
//! overflow, backpressure from a slow writer, and failing writers.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgterm::{Error, Recording, Session, SessionBuilder, SinkKind, Transcript};
use common::{LONG, expect, has, read_until};
use parking_lot::{Condvar, Mutex};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bgterm-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A fresh path: a process of an earlier run with the same pid may have
    // left this file behind, and recordings refuse to overwrite a file.
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// Parses a cast with our own JSON reader: the header and the events.
fn parse_cast(path: &Path) -> (serde_json::Value, Vec<(f64, String, String)>) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n'), "every line is complete");
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let events = lines
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
            (
                v[0].as_f64().unwrap(),
                v[1].as_str().unwrap().to_string(),
                v[2].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (header, events)
}

/// Whether the real asciinema is there to replay casts; if not, the
/// replay checks are reported as skipped (a failure under CI). `.ci/run`
/// installs it with `pip install asciinema==2.4.0`.
fn have_asciinema() -> bool {
    common::require("asciinema")
}

/// `asciinema cat`'s replay of `path`.
fn asciinema_cat(path: &Path) -> std::process::Output {
    // setsid: no controlling terminal, so `cat` leaves the test's tty alone.
    let mut cmd = if has("setsid") {
        let mut c = std::process::Command::new("setsid");
        c.arg("asciinema");
        c
    } else {
        std::process::Command::new("asciinema")
    };
    cmd.arg("cat")
        .arg(path)
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_shell_session_with_input_output_and_resize_replays_through_asciinema() {
    let path = temp("shell.cast");
    let s = SessionBuilder::new(["sh"])
        .env("PS1", "READY> ")
        .env("LC_ALL", "C.UTF-8")
        .spawn()
        .unwrap();
    let mut printed = String::new();
    // From the first byte: start, then read everything the session prints.
    s.start_recording(Recording::create(&path).unwrap().input(true).title("demo"))
        .unwrap();
    printed += &expect(&s, "READY> ");
    s.send("echo hello; printf '\\342\\202\\254uro\\n'\n").unwrap();
    printed += &read_until(&s, LONG, |t| t.contains("€uro\r\nREADY> "));
    s.resize(30, 100).unwrap();
    s.send("stty size\n").unwrap();
    printed += &read_until(&s, LONG, |t| t.contains("30 100\r\nREADY> "));
    s.send("exit\n").unwrap();
    s.wait(Some(LONG)).unwrap().expect("the shell exits");
    printed += &s.read().unwrap().text;

    // The recording ended by itself when the child exited.
    assert!(!s.recording_status().unwrap().unwrap().active);
    let status = s.stop_recording().unwrap();
    assert!(status.error.is_none());
    assert_eq!(status.bytes_written, std::fs::metadata(&path).unwrap().len());

    let (header, events) = parse_cast(&path);
    assert_eq!(header["version"], 2);
    assert_eq!(
        (header["width"].as_u64(), header["height"].as_u64()),
        (Some(80), Some(24))
    );
    assert_eq!(header["command"], "sh");
    assert_eq!(header["title"], "demo");
    assert_eq!(header["env"]["TERM"], "xterm-256color");
    assert!(header["timestamp"].as_u64().unwrap() > 1_600_000_000);
    // Monotonic times.
    assert!(events.windows(2).all(|w| w[0].0 <= w[1].0), "{events:?}");
    // Input events, in order, exactly as sent.
    let input: String = events
        .iter()
        .filter(|e| e.1 == "i")
        .map(|e| e.2.as_str())
        .collect();
    assert_eq!(
        input,
        "echo hello; printf '\\342\\202\\254uro\\n'\nstty size\nexit\n"
    );
    // The resize, as COLSxROWS, between the two commands' input.
    let codes: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    let r = codes.iter().position(|c| *c == "r").expect("a resize event");
    assert_eq!(events[r].2, "100x30");
    assert_eq!(codes.iter().filter(|c| **c == "r").count(), 1);
    let stty_input = events
        .iter()
        .position(|e| e.1 == "i" && e.2.starts_with("stty"))
        .unwrap();
    assert!(r < stty_input);
    // Our own reading of the output events is what the session printed
    // from where the recording started (the shell may have printed its
    // first prompt before start_recording ran: spawn returns after exec).
    let output: String = events
        .iter()
        .filter(|e| e.1 == "o")
        .map(|e| e.2.as_str())
        .collect();
    assert_eq!(output, printed[status.output_start as usize..]);

    // And so is the real asciinema's replay.
    if have_asciinema() {
        let out = asciinema_cat(&path);
        assert!(
            out.status.success(),
            "asciinema cat failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8(out.stdout).unwrap(), output);
    }
}

#[test]
fn a_recording_from_the_builder_starts_at_the_first_byte() {
    let path = temp("builder.cast");
    let s = SessionBuilder::new("printf 'first line\\n'; exit 0")
        .record(&path)
        .spawn()
        .unwrap();
    s.wait(Some(LONG)).unwrap().expect("exit");
    let printed = s.read().unwrap().text;
    s.stop_recording().unwrap();
    let (_, events) = parse_cast(&path);
    let output: String = events.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(output, printed);
    assert_eq!(printed, "first line\r\n");
}

#[test]
fn a_truncated_cast_is_repaired_to_its_last_complete_event() {
    let path = temp("cut.cast");
    let s = Session::start("for i in 1 2 3 4 5; do echo line$i; read x; done").unwrap();
    s.start_recording(Recording::create(&path).unwrap()).unwrap();
    let mut printed = String::new();
    for i in 1..=5 {
        printed += &expect(&s, &format!("line{i}\r\n"));
        s.send("\n").unwrap();
    }
    s.wait(Some(LONG)).unwrap().expect("exit");
    printed += &s.read().unwrap().text;
    // The recording starts when start_recording runs, which may be after
    // the first line (spawn returns after exec): compare from there.
    let printed = printed[s.stop_recording().unwrap().output_start as usize..].to_string();
    let (_, events) = parse_cast(&path);
    assert!(events.len() >= 2);
    let output: String = events.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(output, printed, "the cast holds what the session printed");
    let replay = have_asciinema();
    if replay {
        // asciinema replays the whole file, so its refusal below is about
        // the cut.
        let out = asciinema_cat(&path);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), printed);
    }

    // Cut the file in the middle of its last line, as a crash would.
    let full = std::fs::read(&path).unwrap();
    let cut = full.len() - 4;
    std::fs::write(&path, &full[..cut]).unwrap();
    if replay {
        assert!(
            !asciinema_cat(&path).status.success(),
            "asciinema rejects the cut file"
        );
    }

    let report = bgterm::repair_cast(&path).unwrap();
    assert!(report.changed);
    assert_eq!(report.events as usize, events.len() - 1);
    let last_line_len = full[..full.len() - 1]
        .iter()
        .rev()
        .take_while(|&&b| b != b'\n')
        .count()
        + 1;
    assert_eq!(report.removed_bytes as usize, last_line_len - 4);
    let repaired = std::fs::read(&path).unwrap();
    assert_eq!(repaired, &full[..full.len() - last_line_len]);
    let (_, kept) = parse_cast(&path);
    assert_eq!(kept, events[..events.len() - 1]);

    // A valid file is left alone.
    let again = bgterm::repair_cast(&path).unwrap();
    assert!(!again.changed);
    assert_eq!(again.removed_bytes, 0);

    let expected: String = kept.iter().map(|e| e.2.as_str()).collect();
    assert!(printed.starts_with(&expected));
    if replay {
        let out = asciinema_cat(&path);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    }
}

#[test]
fn repair_errors_are_typed() {
    let missing = temp("does-not-exist.cast");
    match bgterm::repair_cast(&missing) {
        Err(Error::File { path, op, .. }) => assert_eq!((path, op), (missing, "opening")),
        other => panic!("{other:?}"),
    }
    let not_cast = temp("not.cast");
    std::fs::write(&not_cast, "hello\n").unwrap();
    assert!(matches!(bgterm::repair_cast(&not_cast), Err(Error::NotACast { path, .. }) if path == not_cast));
}

#[test]
fn recording_errors_are_typed_and_leave_the_session_alone() {
    // Unwritable path: named in the error, nothing started.
    let bad = Path::new("/nonexistent-bgterm-dir/x.cast");
    match Recording::create(bad) {
        Err(Error::File { path, op, .. }) => assert_eq!((path.as_path(), op), (bad, "creating")),
        other => panic!("{other:?}"),
    }
    match SessionBuilder::new(["cat"]).record(bad).spawn() {
        Err(Error::File { path, op, .. }) => assert_eq!((path.as_path(), op), (bad, "creating")),
        other => panic!("{other:?}"),
    }
    match SessionBuilder::new(["cat"]).transcript(bad).spawn() {
        Err(Error::File { path, op, .. }) => assert_eq!((path.as_path(), op), (bad, "creating")),
        other => panic!("{other:?}"),
    }

    let s = Session::start(["cat"]).unwrap();
    let id = s.id();
    // Stop or status with nothing attached.
    assert!(matches!(
        s.stop_recording(),
        Err(Error::NoSink {
            id: i,
            kind: SinkKind::Recording,
        }) if i == id
    ));
    assert!(s.recording_status().unwrap().is_none());
    // Started twice.
    s.start_recording(Recording::to_writer(io::sink())).unwrap();
    let err = s.start_recording(Recording::to_writer(io::sink())).unwrap_err();
    assert!(matches!(err, Error::SinkActive { id: i, kind: SinkKind::Recording } if i == id));
    assert_eq!(
        err.to_string(),
        format!("session {id} already has a recording; stop it first")
    );
    // A transcript is a separate slot.
    s.start_transcript(Transcript::to_writer(io::sink())).unwrap();
    assert!(matches!(
        s.start_transcript(Transcript::to_writer(io::sink())),
        Err(Error::SinkActive {
            id: i,
            kind: SinkKind::Transcript,
        }) if i == id
    ));
    // The session still works.
    s.send("still here\n").unwrap();
    assert_eq!(
        expect(&s, "still here\r\nstill here\r\n"),
        "still here\r\nstill here\r\n"
    );
    s.stop_recording().unwrap();
    s.stop_transcript().unwrap();
    // Stopped: it can start again.
    s.start_recording(Recording::to_writer(io::sink())).unwrap();
    s.close().unwrap();
    assert!(matches!(s.stop_recording(), Err(Error::SessionClosed { id: i }) if i == id));
}

#[test]
fn a_full_disk_ends_the_recording_with_an_error_not_the_session() {
    if !Path::new("/dev/full").exists() {
        common::skip("there is no /dev/full");
        return;
    }
    let s = Session::start(["cat"]).unwrap();
    s.start_recording(Recording::create("/dev/full").unwrap())
        .unwrap();
    s.send("abc\n").unwrap();
    let out = expect(&s, "abc\r\nabc\r\n");
    assert_eq!(out, "abc\r\nabc\r\n");
    match s.stop_recording() {
        Err(Error::SinkFailed {
            kind: SinkKind::Recording,
            target,
            source,
            ..
        }) => {
            assert_eq!(target, "/dev/full");
            assert_eq!(source.raw_os_error(), Some(libc::ENOSPC));
        }
        other => panic!("{other:?}"),
    }
    // The session goes on.
    s.send("def\n").unwrap();
    expect(&s, "def\r\ndef\r\n");
}

/// A writer that blocks while its gate is closed and can be told to fail.
#[derive(Clone, Default)]
struct Gated {
    inner: Arc<(Mutex<GateState>, Condvar)>,
}

#[derive(Default)]
struct GateState {
    open: bool,
    fail: bool,
    data: Vec<u8>,
}

impl Gated {
    fn closed() -> Gated {
        Gated::default()
    }
    fn open(&self, fail: bool) {
        let mut g = self.inner.0.lock();
        g.open = true;
        g.fail = fail;
        drop(g);
        self.inner.1.notify_all();
    }
    fn data(&self) -> Vec<u8> {
        self.inner.0.lock().data.clone()
    }
}

impl Write for Gated {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut g = self.inner.0.lock();
        while !g.open {
            self.inner.1.wait(&mut g);
        }
        if g.fail {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "reader went away"));
        }
        g.data.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn seq_output(n: u32) -> Vec<u8> {
    (1..=n)
        .map(|i| format!("{i}\r\n"))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn a_transcript_keeps_every_byte_after_the_ring_dropped_data() {
    let out = temp("seq.log");
    let s = SessionBuilder::new("seq 1 30000")
        .max_buffer_bytes(64)
        .transcript(&out)
        .spawn()
        .unwrap();
    s.wait(Some(LONG)).unwrap().expect("exit");
    let r = s.read().unwrap();
    assert!(r.dropped_bytes > 100_000, "the ring dropped data: {r:?}");
    let status = s.stop_transcript().unwrap();
    let expected = seq_output(30000);
    assert_eq!(
        (status.output_start, status.output_end),
        (0, expected.len() as u64)
    );
    assert!(
        std::fs::read(&out).unwrap() == expected,
        "the transcript differs from seq's output"
    );
}

#[test]
fn a_transcript_started_later_begins_with_the_retained_output_and_tees_input() {
    let (out, input) = (temp("late.log"), temp("late-input.log"));
    let s = Session::start("echo started; cat").unwrap();
    expect(&s, "started\r\n"); // read: still retained in memory
    let start = s
        .start_transcript(Transcript::create(&out).unwrap().input_file(&input).unwrap())
        .unwrap();
    assert_eq!(start, 0, "nothing was dropped yet");
    s.send("one\n").unwrap();
    expect(&s, "one\r\none\r\n"); // the echo, then cat's copy
    s.send_bytes(b"two\x01\n").unwrap();
    expect(&s, "two\x01\r\n");
    let status = s.stop_transcript().unwrap();
    assert_eq!(std::fs::read_to_string(&input).unwrap(), "one\ntwo\x01\n");
    let text = std::fs::read(&out).unwrap();
    // The retained output, then each line's echo (^A echoed as "^A") and
    // cat's copy.
    assert_eq!(
        String::from_utf8_lossy(&text),
        "started\r\none\r\none\r\ntwo^A\r\ntwo\x01\r\n"
    );
    assert_eq!(status.output_end, text.len() as u64);
    // Stopped: nothing more is written.
    s.send("three\n").unwrap();
    expect(&s, "three\r\nthree\r\n");
    assert_eq!(std::fs::read(&out).unwrap(), text);
}

#[test]
fn a_slow_transcript_writer_holds_the_child_back_without_losing_a_byte() {
    const LIMIT: usize = 4096;
    let writer = Gated::closed();
    let s = SessionBuilder::new("seq 1 50000; echo done")
        .max_buffer_bytes(256)
        .spawn()
        .unwrap();
    let start = s
        .start_transcript(Transcript::to_writer(writer.clone()).max_pending_bytes(LIMIT))
        .unwrap();
    // The writer is stuck: the child cannot finish its 290 KB of output.
    // (A timeout is what is tested here: the child must still be blocked.)
    assert_eq!(s.wait(Some(Duration::from_millis(300))).unwrap(), None);
    let status = s.transcript_status().unwrap().unwrap();
    assert!(status.active);
    assert!(
        status.pending_bytes <= LIMIT + 16 * 1024,
        "the buffer stays bounded: {status:?}"
    );
    // Callers are not held up meanwhile: reads, input and info work.
    let t = Instant::now();
    s.read().unwrap();
    assert!(s.logs(1).is_ok());
    assert!(s.is_running().unwrap());
    assert!(t.elapsed() < Duration::from_secs(5));
    // Let the writer go: everything arrives.
    writer.open(false);
    s.wait(Some(LONG)).unwrap().expect("the child finishes");
    let status = s.stop_transcript().unwrap();
    let mut expected = seq_output(50000);
    expected.extend_from_slice(b"done\r\n");
    let got = writer.data();
    assert_eq!(got.len() as u64, status.output_end - start);
    assert!(
        got == expected[start as usize..],
        "the transcript differs from seq's output"
    );
}

#[test]
fn a_writer_that_fails_while_holding_output_back_lets_it_go() {
    let writer = Gated::closed();
    let s = SessionBuilder::new("seq 1 50000; echo done").spawn().unwrap();
    s.start_transcript(Transcript::to_writer(writer.clone()).max_pending_bytes(1024))
        .unwrap();
    assert_eq!(s.wait(Some(Duration::from_millis(200))).unwrap(), None);
    writer.open(true);
    // Output flows again and none of it is lost from the session.
    let mut text = String::new();
    let mut lost = 0;
    loop {
        let r = s.poll(LONG).unwrap();
        text += &r.text;
        lost += r.dropped_bytes;
        if !r.running && r.remaining_bytes == 0 {
            break;
        }
    }
    assert_eq!(lost, 0);
    assert!(text.ends_with("49999\r\n50000\r\ndone\r\n"));
    let expected = String::from_utf8(seq_output(50000)).unwrap() + "done\r\n";
    assert!(text == expected, "the session's output differs from seq's");
    match s.stop_transcript() {
        Err(Error::SinkFailed {
            kind, source, target, ..
        }) => {
            assert_eq!((kind, target.as_str()), (SinkKind::Transcript, "writer"));
            assert_eq!(source.kind(), io::ErrorKind::BrokenPipe);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn close_is_not_held_up_by_a_stuck_writer() {
    let writer = Gated::closed();
    let s = SessionBuilder::new("yes").spawn().unwrap();
    s.start_recording(Recording::to_writer(writer.clone()).max_pending_bytes(1024))
        .unwrap();
    s.start_transcript(Transcript::to_writer(writer.clone()).max_pending_bytes(1024))
        .unwrap();
    read_until(&s, LONG, |t| t.len() > 10);
    let t = Instant::now();
    s.close().unwrap();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    writer.open(true); // let the detached sink threads finish
}
