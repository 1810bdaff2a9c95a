//! The core semantics, against real programs on real PTYs: start, send,
//! poll and read with the unread cursor and its offsets, bounded memory
//! and its accounting, decoding, exit, wait, close and kill.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bgterm::{DecodeErrors, Error, ExitStatus, Pattern, Registry, Session, SessionBuilder};
use common::{LONG, alive, expect, read_until};

const SHORT: Duration = Duration::from_millis(200);

#[test]
fn session_is_send_and_sync_and_clone() {
    fn check<T: Send + Sync>() {}
    fn clone<T: Clone>() {}
    check::<Session>();
    clone::<Session>();
    check::<Registry>();
}

// ---- the unread cursor -------------------------------------------------

#[test]
fn output_between_calls_is_returned_by_the_next_call_and_never_twice() {
    let s = Session::start("echo first; read x; echo second:$x; read y").unwrap();
    let a = expect(&s, "first\r\n");
    assert_eq!(a, "first\r\n");
    // Nothing new: an immediate read is empty, and offsets do not move.
    let empty = s.read().unwrap();
    assert_eq!(empty.text, "");
    assert_eq!(empty.start_offset, empty.end_offset);
    // Output produced while nobody reads is kept for the next call.
    s.send_bytes(b"go\n").unwrap();
    let b = expect(&s, "second:go\r\n");
    assert_eq!(b, "go\r\nsecond:go\r\n");
    assert_eq!(s.read().unwrap().text, "");
}

#[test]
fn offsets_are_contiguous_across_reads() {
    let s = Session::start("printf abcdefghij").unwrap();
    s.wait(Some(LONG)).unwrap().expect("exit");
    let mut next = 0;
    let mut all = String::new();
    loop {
        let r = s.read_with_limit(3).unwrap();
        assert_eq!(r.start_offset, next);
        assert_eq!(r.end_offset - r.start_offset, r.text.len() as u64);
        next = r.end_offset;
        all += &r.text;
        if r.remaining_bytes == 0 {
            assert!(!r.truncated);
            break;
        }
        assert!(r.truncated, "a partial read is truncated");
    }
    assert_eq!(all, "abcdefghij");
}

#[test]
fn empty_write_stdin_acts_as_a_poll() {
    let s = Session::start("echo hello; read x").unwrap();
    let out = s.write_stdin("", LONG).unwrap();
    // It returned with output (at least the word; the line end may follow
    // in a second piece), and nothing else was sent.
    assert!(
        out.text.starts_with("hello") && "hello\r\n".starts_with(&out.text),
        "{out:?}"
    );
    let mut text = out.text;
    if text != "hello\r\n" {
        text += &read_until(&s, LONG, |t| t.ends_with('\n'));
    }
    assert_eq!(text, "hello\r\n");
}

// ---- yield_time ---------------------------------------------------------

#[test]
fn poll_returns_at_once_when_output_is_buffered() {
    let s = Session::start("echo ready; read x").unwrap();
    assert_eq!(expect(&s, "ready\r\n"), "ready\r\n"); // consume the whole line
    s.send_bytes(b"\n").unwrap();
    // The echoed newline is now (or soon) buffered; a 60 s yield must not be
    // spent once it is there.
    let t = Instant::now();
    let out = s.poll(Duration::from_secs(60)).unwrap();
    assert_eq!(out.text, "\r\n", "the echoed newline");
    assert!(t.elapsed() < LONG, "took {:?}", t.elapsed());
}

#[test]
fn poll_wakes_when_output_arrives_not_at_the_deadline() {
    let s = Session::start("read x; echo got-$x; read y").unwrap();
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            // Write only once the main thread is (very likely) blocked in poll;
            // correctness does not depend on it, the timing bound does.
            s.send_bytes(b"it\n").unwrap();
        })
    };
    let t = Instant::now();
    let text = read_until(&s, Duration::from_secs(60), |t| t.contains("got-it\r\n"));
    writer.join().unwrap();
    // The echo of the input, then the answer; nothing else.
    assert_eq!(text, "it\r\ngot-it\r\n");
    assert!(t.elapsed() < LONG, "took {:?}", t.elapsed());
}

#[test]
fn poll_wakes_when_the_child_exits() {
    let s = Session::start(["sleep", "300"]).unwrap();
    let killer = {
        let s = s.clone();
        std::thread::spawn(move || s.kill().unwrap())
    };
    let t = Instant::now();
    let out = s.poll(Duration::from_secs(60)).unwrap();
    killer.join().unwrap();
    // The kill may land before or during the poll; either way the poll ends
    // on exit, long before its 60 s.
    let out = if out.running {
        s.poll(Duration::from_secs(60)).unwrap()
    } else {
        out
    };
    assert!(!out.running);
    assert_eq!(out.exit_status, Some(ExitStatus::Signaled(9)));
    assert_eq!(out.exit_code, Some(-9));
    assert!(t.elapsed() < LONG);
}

#[test]
fn poll_times_out_with_empty_text_when_nothing_happens() {
    let s = Session::start(["sleep", "300"]).unwrap();
    let t = Instant::now();
    let out = s.poll(SHORT).unwrap();
    let took = t.elapsed();
    assert_eq!(out.text, "");
    assert!(out.running);
    assert!(took >= SHORT, "returned before its yield time: {took:?}");
}

// ---- bounded memory -----------------------------------------------------

#[test]
fn overflow_drops_oldest_and_accounting_is_exact() {
    let total = 200_000u64;
    let s = SessionBuilder::new(format!("head -c {total} /dev/zero | tr '\\0' x; echo; echo END"))
        .max_buffer_bytes(1000)
        .spawn()
        .unwrap();
    // Nobody reads while it writes: the child must still finish.
    let status = s.wait(Some(LONG)).unwrap();
    assert_eq!(status, Some(ExitStatus::Exited(0)));
    let mut returned = 0u64;
    let mut dropped = 0u64;
    let mut text = String::new();
    let mut next = 0;
    loop {
        let r = s.read_with_limit(300).unwrap();
        assert_eq!(r.start_offset, next + r.dropped_bytes, "gap equals dropped");
        returned += r.end_offset - r.start_offset;
        dropped += r.dropped_bytes;
        next = r.end_offset;
        text += &r.text;
        if r.remaining_bytes == 0 {
            break;
        }
    }
    // "x"*total + "\r\n" + "END\r\n"
    let written = total + 2 + 5;
    assert_eq!(returned + dropped, written);
    assert!(dropped >= written - 1000, "kept at most max_buffer_bytes");
    assert_eq!(text.len() as u64, returned);
    // The retained tail: only 'x's, then the two last lines.
    let xs = text
        .strip_suffix("\r\nEND\r\n")
        .unwrap_or_else(|| panic!("{text:?}"));
    assert!(!xs.is_empty() && xs.bytes().all(|b| b == b'x'), "{text:?}");
}

// ---- decoding -------------------------------------------------------------

#[test]
fn character_split_across_child_writes_comes_out_whole() {
    // The euro sign is e2 82 ac; the child writes two bytes, waits, then one.
    // Echo off, so the echoed newline does not land between the halves.
    let s = Session::start(r"stty -echo; printf 'a\342\202'; read x; printf '\254b'; read y").unwrap();
    let first = read_until(&s, LONG, |t| t == "a");
    assert_eq!(first, "a");
    // The two bytes arrive (the offsets say so) but are held back.
    let wait_bytes = Instant::now() + LONG;
    loop {
        let r = s.read().unwrap();
        assert_eq!(r.text, "", "nothing decodes from half a character");
        if r.end_offset == 3 {
            break;
        }
        assert!(Instant::now() < wait_bytes, "the two bytes never arrived: {r:?}");
        assert_eq!(s.poll(SHORT).unwrap().text, "");
    }
    s.send_bytes(b"\n").unwrap();
    let rest = read_until(&s, LONG, |t| t.contains('b'));
    assert_eq!(rest, "€b");
}

#[test]
fn character_cut_by_max_output_bytes_comes_out_whole() {
    let text = "aé€𝄞z";
    let s = Session::start(["printf", text]).unwrap();
    s.wait(Some(LONG)).unwrap();
    for limit in 1..=5 {
        // Re-read the same output at several limits through fresh sessions.
        let s2 = Session::start(["printf", text]).unwrap();
        s2.wait(Some(LONG)).unwrap();
        let mut got = String::new();
        loop {
            let r = s2.read_with_limit(limit).unwrap();
            got += &r.text;
            if r.remaining_bytes == 0 {
                break;
            }
        }
        assert_eq!(got, text, "limit {limit}");
    }
    assert_eq!(s.read().unwrap().text, text);
}

#[test]
fn invalid_bytes_are_replaced_by_default() {
    let s = Session::start(r"printf 'a\377b\n'").unwrap();
    s.wait(Some(LONG)).unwrap();
    assert_eq!(s.read().unwrap().text, "a\u{fffd}b\r\n");
}

/// In replace mode, an incomplete character at the very end of the output
/// reads as one U+FFFD once the child has exited: every byte is consumed,
/// and the text says so.
#[test]
fn an_incomplete_character_at_exit_reads_as_a_replacement() {
    let s = Session::start(r"printf 'ok\342'").unwrap();
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
    let r = s.read().unwrap();
    assert_eq!((r.remaining_bytes, r.end_offset), (0, 3));
    let mut text = r.text;
    text += &s.read().unwrap().text;
    assert_eq!(text, "ok\u{fffd}");
}

/// The same when the child ends while a waiter is blocked on it (reading
/// the terminal itself): the hang-up it sees ends the output at once.
#[test]
fn the_output_ends_at_exit_while_a_waiter_is_blocked() {
    for round in 0..10 {
        let s = Session::start(r"read x; printf 'ok\342'").unwrap();
        s.send("\n").unwrap();
        assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
        let mut text = String::new();
        loop {
            let r = s.read().unwrap();
            text += &r.text;
            if r.remaining_bytes == 0 {
                break;
            }
        }
        assert_eq!(text, "\r\nok\u{fffd}", "round {round}");
    }
}

#[test]
fn strict_decoding_reports_a_typed_error_and_keeps_working() {
    let s = SessionBuilder::new(r"printf 'ok\377more\n'; read x; echo after-$x")
        .decode_errors(DecodeErrors::Strict)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + LONG;
    // Clean text that polls returned before the error.
    let mut before = String::new();
    let err = loop {
        match s.poll(LONG) {
            Err(e) => break e,
            Ok(r) => {
                before += &r.text;
                assert!(Instant::now() < deadline && "ok".starts_with(&before), "{r:?}");
            }
        }
    };
    match err {
        Error::Decode {
            id,
            offset,
            ref text,
            encoding,
        } => {
            assert_eq!((id, offset, encoding), (s.id(), 2, "UTF-8"));
            // Together with what came before, the clean text is "ok".
            assert_eq!(before + text, "ok");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    let rest = read_until(&s, LONG, |t| t.contains("more\r\n"));
    assert_eq!(rest, "more\r\n");
    s.send_bytes(b"yes\n").unwrap();
    assert_eq!(
        read_until(&s, LONG, |t| t.contains("after-yes\r\n")),
        "yes\r\nafter-yes\r\n"
    );
}

/// In strict mode, a read that finds both dropped bytes and a malformed
/// sequence reports the decode error and still reports the dropped bytes:
/// returned + dropped is every byte written.
#[test]
fn strict_decode_error_still_reports_the_dropped_bytes() {
    // 100 zeros, a malformed byte, "tail\r\n": 107 bytes through a 16-byte ring.
    let s = SessionBuilder::new(r"printf '%0100d\377tail\n' 0")
        .max_buffer_bytes(16)
        .decode_errors(DecodeErrors::Strict)
        .spawn()
        .unwrap();
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
    let written = s.output_offset().unwrap();
    assert_eq!(written, 107);
    let mut dropped = 0;
    let mut returned = 0;
    let mut decode_errors = 0;
    // What the reads gave, with the malformed byte shown as U+FFFD.
    let mut seen = String::new();
    loop {
        match s.read() {
            Ok(r) => {
                dropped += r.dropped_bytes;
                returned += r.end_offset - r.start_offset;
                seen += &r.text;
                if r.remaining_bytes == 0 {
                    break;
                }
            }
            Err(Error::Decode {
                id,
                offset,
                encoding,
                text,
            }) => {
                decode_errors += 1;
                assert_eq!((id, offset, encoding), (s.id(), 100, "UTF-8"));
                // The clean text before the malformed byte, and that byte.
                returned += text.len() as u64 + 1;
                seen += &text;
                seen.push('\u{fffd}');
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(decode_errors, 1, "{seen:?}");
    assert!(dropped > 0, "the ring dropped the head");
    assert_eq!(returned + dropped, written, "dropped reported: {dropped}");
    // The kept tail: some of the zeros, the malformed byte, the last line.
    let zeros = seen
        .strip_suffix("\u{fffd}tail\r\n")
        .unwrap_or_else(|| panic!("{seen:?}"));
    assert!(zeros.bytes().all(|b| b == b'0'), "{seen:?}");
}

#[test]
fn other_encodings_decode_and_encode() {
    // Shift_JIS: "日本" is 93 fa 96 7b.
    // Echo off: the terminal would echo the C1 byte 0x96 as "^V".
    let s = SessionBuilder::new(r"stty -echo; printf '\223\372\226\173\n'; cat")
        .encoding(bgterm::encoding_rs::SHIFT_JIS)
        .spawn()
        .unwrap();
    assert_eq!(expect(&s, "日本\r\n"), "日本\r\n");
    // Input is encoded too: cat echoes the same bytes back.
    s.send("本\n").unwrap();
    assert_eq!(expect(&s, "本\r\n"), "本\r\n");
}

// ---- exit -----------------------------------------------------------------

#[test]
fn output_written_just_before_exit_is_never_lost() {
    for i in 0..25 {
        let s = Session::start(format!("printf x{i}; exit 3")).unwrap();
        assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(3)));
        let r = s.read().unwrap();
        assert_eq!(r.text, format!("x{i}"));
        assert!(!r.running);
        assert_eq!(r.exit_code, Some(3));
    }
}

/// A waiter blocked for output reads the terminal itself; input another
/// thread queues meanwhile (more than the terminal takes at once) must
/// still be written, and the output the child writes afterwards found.
#[test]
fn input_queued_while_a_waiter_is_blocked_still_reaches_the_child() {
    const LINES: usize = 3000;
    let s = Arc::new(
        Session::start(format!(
            "stty -echo; echo ready; head -n {LINES} >/dev/null; echo END-$((6*7))"
        ))
        .unwrap(),
    );
    expect(&s, "ready");
    let waiter = {
        let s = Arc::clone(&s);
        std::thread::spawn(move || s.wait_for("END-42", Some(LONG)))
    };
    let line = format!("{}\n", "i".repeat(99));
    let input: String = std::iter::repeat_n(line.as_str(), LINES).collect();
    s.send(&input).unwrap();
    let m = waiter
        .join()
        .unwrap()
        .expect("the queued input reached the child");
    assert_eq!(m.text, "END-42");
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
}

/// When the child exits with input still queued (writes to the terminal
/// may then fail), the pump goes on reading to the end: every byte the
/// child wrote arrives.
#[test]
fn output_before_exit_arrives_whole_while_input_is_still_queued() {
    const TOTAL: u64 = 300_000;
    for round in 0..5 {
        let s = Session::start(format!("read go; head -c {TOTAL} /dev/zero | tr '\\0' y; exit 0")).unwrap();
        s.send("\n").unwrap();
        // Input the shell never reads: more than the terminal can queue, so
        // the pump still holds some of it when the child exits.
        let line = format!("{}\n", "i".repeat(99));
        for _ in 0..2000 {
            match s.send(&line) {
                Ok(()) => {}
                // The child may finish first; then input is refused, typed.
                Err(Error::SessionExited { id, status }) => {
                    assert_eq!((id, status), (s.id(), ExitStatus::Exited(0)));
                    break;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
        let end = s.output_offset().unwrap();
        // The output: the echo of "\n", then TOTAL 'y's, plus whatever of
        // the queued input the terminal echoed; the echo has no 'y'.
        let mut ys = 0u64;
        loop {
            let r = s.read_with_limit(1 << 20).unwrap();
            ys += r.text.bytes().filter(|&b| b == b'y').count() as u64;
            if r.remaining_bytes == 0 {
                break;
            }
        }
        assert_eq!(
            ys, TOTAL,
            "round {round}: {ys} of {TOTAL} bytes arrived (output end {end})"
        );
    }
}

#[test]
fn exited_session_stays_readable_until_closed() {
    let s = Session::start("echo bye").unwrap();
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
    assert!(!s.is_running().unwrap());
    assert_eq!(s.read().unwrap().text, "bye\r\n");
    assert_eq!(s.read().unwrap().exit_status, Some(ExitStatus::Exited(0)));
    assert_eq!(s.close().unwrap(), ExitStatus::Exited(0));
    assert!(matches!(s.read(), Err(Error::SessionClosed { id }) if id == s.id()));
}

#[test]
fn writing_to_an_exited_session_is_a_typed_error() {
    let s = Session::start("exit 4").unwrap();
    s.wait(Some(LONG)).unwrap();
    match s.write_stdin("hello\n", LONG) {
        Err(Error::SessionExited { id, status }) => {
            assert_eq!(id, s.id());
            assert_eq!(status, ExitStatus::Exited(4));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wait_tells_code_and_signal_apart_and_times_out() {
    let s = Session::start(["sleep", "300"]).unwrap();
    assert_eq!(s.wait(Some(SHORT)).unwrap(), None);
    assert_eq!(s.try_wait().unwrap(), None);
    s.terminate().unwrap();
    assert_eq!(
        s.wait(Some(LONG)).unwrap(),
        Some(ExitStatus::Signaled(libc::SIGTERM))
    );
    let s = Session::start("exit 17").unwrap();
    let st = common::within(LONG, move || s.wait(None)).unwrap().unwrap();
    assert_eq!((st.code(), st.signal()), (Some(17), None));
}

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
    let waiter = s.clone();
    assert_eq!(
        common::within(LONG, move || waiter.wait(None)).unwrap(),
        Some(ExitStatus::Signaled(9))
    );
    killer.join().unwrap().unwrap();
    let waiter = s.clone();
    assert_eq!(
        common::within(LONG, move || waiter.wait_deadline(None)).unwrap(),
        Some(ExitStatus::Signaled(9))
    );
}

// ---- process groups ---------------------------------------------------------

/// Starts `sh` with two background sleepers and returns their pids.
fn with_sleepers(s: &Session) -> Vec<u32> {
    let text = read_until(s, LONG, |t| t.matches("pid:").count() == 2 && t.ends_with('\n'));
    text.split("pid:")
        .skip(1)
        .map(|p| {
            p.trim_end()
                .trim_end_matches("\r\n")
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn kill_reaches_the_whole_process_group() {
    let s = Session::start("sleep 300 & echo pid:$!; sleep 301 & echo pid:$!; wait").unwrap();
    let pids = with_sleepers(&s);
    assert!(pids.iter().all(|&p| alive(p)));
    s.kill().unwrap();
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Signaled(9)));
    for p in pids {
        assert!(common::gone_within(p, LONG), "sleeper {p} survived kill");
    }
}

/// Waits for `regex` (with one run of digits in it) from offset 0 and
/// returns the number.
fn wait_number(s: &Session, regex: &str) -> u32 {
    let m = s
        .wait_for_from(0, Pattern::regex(regex).unwrap(), Some(LONG))
        .unwrap();
    m.text
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// A job-control shell (any interactive shell on a terminal) puts a
/// background job in a process group of its own; close still ends it, as
/// it signals every process of the terminal's session.
fn check_close_ends_a_background_job(shell: &[&str]) {
    let s = Session::start(shell.to_vec()).unwrap();
    // The echo of the typed line shows `$!`, never digits.
    s.send("sleep 1234 & echo BGPID=$!\n").unwrap();
    let pid = wait_number(&s, r"BGPID=\d+\r\n");
    assert!(alive(pid));
    assert_eq!(s.close().unwrap(), ExitStatus::Signaled(libc::SIGKILL));
    let gone = common::gone_within(pid, LONG);
    if !gone {
        // Clean up what the library left behind before failing.
        // SAFETY: plain system call.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    assert!(gone, "{shell:?}: background job {pid} survived close");
}

#[test]
fn close_ends_a_background_job_of_interactive_sh() {
    check_close_ends_a_background_job(&["sh", "-i"]);
}

#[test]
fn close_ends_a_background_job_of_bash() {
    if !common::require("bash") {
        return;
    }
    // bash on a terminal is interactive with job control, no -i needed.
    check_close_ends_a_background_job(&["bash", "--norc", "--noprofile"]);
}

/// Kill, like close, reaches a background job in its own process group.
#[test]
fn kill_ends_a_background_job_of_an_interactive_shell() {
    let s = Session::start(["sh", "-i"]).unwrap();
    s.send("sleep 4321 & echo job:$!\n").unwrap();
    // The echoed command line says "job:$!"; the job's pid follows the last "job:".
    let text = read_until(&s, LONG, |t| {
        t.matches("job:").count() == 2 && t.rsplit("job:").next().is_some_and(|r| r.contains("\r\n"))
    });
    let pid: u32 = text
        .rsplit("job:")
        .next()
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(alive(pid));
    s.kill().unwrap();
    assert!(
        common::gone_within(pid, LONG),
        "background job {pid} survived kill"
    );
    assert_eq!(
        s.wait(Some(LONG)).unwrap(),
        Some(ExitStatus::Signaled(libc::SIGKILL))
    );
}

#[test]
fn grandchild_holding_the_pty_does_not_delay_wait_or_close() {
    // The sleeper inherits "ignore SIGHUP" (set before the fork, so there is
    // no race), so the SIGHUP the kernel sends the foreground group when `sh`,
    // the session leader, exits does not end it: it keeps the PTY open.
    let s = Session::start("trap '' HUP; sleep 300 & echo pid:$!; echo hi").unwrap();
    let t = Instant::now();
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "wait took {:?}",
        t.elapsed()
    );
    let text = s.read().unwrap().text;
    let sleeper: u32 = text
        .split("pid:")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(text, format!("pid:{sleeper}\r\nhi\r\n"));
    assert!(alive(sleeper));
    let t = Instant::now();
    assert_eq!(s.close().unwrap(), ExitStatus::Exited(0));
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "close took {:?}",
        t.elapsed()
    );
    assert!(
        common::gone_within(sleeper, LONG),
        "close left the sleeper running"
    );
}

#[test]
fn drop_kills_and_reaps_the_child() {
    let s = Session::start(["sleep", "300"]).unwrap();
    let pid = s.pid();
    let clone = s.clone();
    drop(s);
    assert!(alive(pid), "dropping one clone must not close the session");
    drop(clone);
    // Drop reaped it: not even a zombie remains.
    assert!(common::reaped(pid), "{pid} is still a child of ours");
    assert!(!common::zombie(pid), "{pid} is a zombie");
    assert!(!alive(pid));
}

#[test]
fn close_wakes_a_waiter_in_another_thread() {
    let s = Session::start(["sleep", "300"]).unwrap();
    let waiter = {
        let s = s.clone();
        common::spawn_bounded(move || s.wait(None))
    };
    // Whether the waiter is already blocked or not, it must end with the
    // session-closed error (or, had it not started, find it closed).
    assert_eq!(s.close().unwrap(), ExitStatus::Signaled(9));
    match waiter.join(LONG) {
        Err(Error::SessionClosed { id }) => assert_eq!(id, s.id()),
        other => panic!("{other:?}"),
    }
    assert!(matches!(s.close(), Err(Error::SessionClosed { id }) if id == s.id()));
}

// ---- input ----------------------------------------------------------------

#[test]
fn child_that_never_reads_does_not_block_write_stdin() {
    let s = Session::start(["sleep", "300"]).unwrap();
    let line = format!("{}\n", "y".repeat(1023));
    let mib = line.repeat(1024);
    assert_eq!(mib.len(), 1 << 20);
    let t = Instant::now();
    let out = s.write_stdin(&mib, SHORT).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "write_stdin took {:?}",
        t.elapsed()
    );
    assert!(out.running);
    // The session still answers everything.
    s.poll(Duration::from_millis(10)).unwrap();
    s.kill().unwrap();
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Signaled(9)));
    assert_eq!(s.close().unwrap(), ExitStatus::Signaled(9));
}

#[test]
fn too_long_canonical_line_is_refused_whole() {
    let s = Session::start(["cat"]).unwrap();
    let long = "z".repeat(5000) + "\n";
    match s.write_stdin(&long, Duration::ZERO) {
        Err(Error::LineTooLong { id, length, limit }) => {
            assert_eq!((id, length, limit), (s.id(), 5000, bgterm::CANONICAL_LINE_LIMIT));
        }
        other => panic!("{other:?}"),
    }
    // Nothing was sent: the next line comes back alone.
    s.send("ok\n").unwrap();
    let text = expect(&s, "ok\r\nok\r\n");
    assert_eq!(text, "ok\r\nok\r\n");
    // A line at the limit is fine.
    let max = "w".repeat(bgterm::CANONICAL_LINE_LIMIT) + "\n";
    s.send(&max).unwrap();
    let text = read_until(&s, LONG, |t| {
        t.matches('w').count() == 2 * bgterm::CANONICAL_LINE_LIMIT && t.ends_with('\n')
    });
    // The echo, then cat's copy: the whole line twice, and nothing else.
    let line = "w".repeat(bgterm::CANONICAL_LINE_LIMIT) + "\r\n";
    assert!(text == line.repeat(2), "{} bytes, not the line twice", text.len());
}

#[test]
fn long_lines_pass_in_raw_mode() {
    let s = Session::start("stty raw -echo; echo READY; head -c 6000 | wc -c").unwrap();
    // Raw mode turns output processing off too: "\n" stays "\n".
    assert_eq!(expect(&s, "READY\n"), "READY\n");
    s.send(&"r".repeat(6000)).unwrap();
    assert_eq!(read_until(&s, LONG, |t| t.ends_with('\n')), "6000\n");
}

// ---- concurrency ------------------------------------------------------------

#[test]
fn many_threads_on_one_session_lose_nothing() {
    let s = SessionBuilder::new("stty -echo; echo READY; cat")
        .spawn()
        .unwrap();
    expect(&s, "READY");
    let threads = 6;
    let lines = 40;
    // Each read's text with its offsets: the threads' reads are taken in
    // turn under the session's lock, but their pushes here may land in
    // any order, so the text is put back in stream order by offset.
    let collected = Arc::new(parking_lot::Mutex::new(Vec::<(u64, u64, String)>::new()));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let s = s.clone();
            let collected = Arc::clone(&collected);
            std::thread::spawn(move || {
                for l in 0..lines {
                    let out = s
                        .write_stdin(&format!("t{t}-l{l}\n"), Duration::from_millis(5))
                        .unwrap();
                    collected
                        .lock()
                        .push((out.start_offset, out.end_offset, out.text));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let expected = threads * lines;
    let count = |c: &[(u64, u64, String)]| c.iter().map(|(_, _, t)| t.matches('\n').count()).sum::<usize>();
    let deadline = Instant::now() + LONG;
    while count(&collected.lock()) < expected && Instant::now() < deadline {
        let out = s.poll(SHORT).unwrap();
        collected
            .lock()
            .push((out.start_offset, out.end_offset, out.text));
    }
    let mut reads = collected.lock().clone();
    // By start, then end: an empty read (a timeout) at an offset comes
    // before the read that starts there, whatever order they were pushed in.
    reads.sort_by_key(|(start, end, _)| (*start, *end));
    // The reads tile the stream exactly: no gap, no overlap, nothing dropped.
    let mut at = reads[0].0;
    for (start, end, _) in &reads {
        assert_eq!(*start, at, "reads must tile the stream");
        at = *end;
    }
    let text: String = reads.into_iter().map(|(_, _, t)| t).collect();
    assert_eq!(text.matches('\n').count(), expected, "{text:?}");
    for t in 0..threads {
        for l in 0..lines {
            assert_eq!(
                text.matches(&format!("t{t}-l{l}\r\n")).count(),
                1,
                "t{t}-l{l} in {text:?}"
            );
        }
    }
}

#[test]
fn many_sessions_at_once() {
    let registry = Arc::new(Registry::new());
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let registry = Arc::clone(&registry);
            std::thread::spawn(move || {
                let id = registry.start(["cat"]).unwrap();
                let s = registry.get(id).unwrap();
                s.send(&format!("session-{i}\n")).unwrap();
                let line = format!("session-{i}\r\n");
                let text = read_until(&s, LONG, |t| t.matches(&line).count() == 2);
                // The echo and cat's copy of this session's line, and
                // nothing from any other session.
                assert_eq!(text, line.repeat(2));
                id
            })
        })
        .collect();
    let ids: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(registry.list().len(), 16);
    for id in ids {
        registry.close(id).unwrap();
    }
    assert!(registry.list().is_empty());
}

// ---- options --------------------------------------------------------------

#[test]
fn argv_runs_without_a_shell() {
    let s = Session::start(["printf", "%s|", "a b", "$HOME", "*"]).unwrap();
    s.wait(Some(LONG)).unwrap();
    assert_eq!(s.read().unwrap().text, "a b|$HOME|*|");
}

#[test]
fn shell_can_be_forced_either_way() {
    let s = SessionBuilder::new(["echo", "$((6*7))"])
        .shell(true)
        .spawn()
        .unwrap();
    s.wait(Some(LONG)).unwrap();
    assert_eq!(s.read().unwrap().text, "42\r\n");
    // shell(false): a string is a program name, not a command line.
    let err = SessionBuilder::new("echo hi").shell(false).spawn().unwrap_err();
    assert!(
        matches!(err, Error::ProgramNotFound { ref program, .. } if program == "echo hi"),
        "{err}"
    );
}

#[test]
fn environment_size_and_term() {
    let s = SessionBuilder::new("echo $FOO/${BAR-unset}/$TERM/${COLUMNS-none}; stty size")
        .env("FOO", "foo")
        .env("BAR", "bar")
        .env_remove("BAR")
        .size(30, 100)
        .spawn()
        .unwrap();
    s.wait(Some(LONG)).unwrap();
    assert_eq!(
        s.read().unwrap().text,
        "foo/unset/xterm-256color/none\r\n30 100\r\n"
    );

    let s = SessionBuilder::new("echo ${HOME-nohome}:$ONLY")
        .env_clear()
        .env("ONLY", "1")
        .spawn()
        .unwrap();
    s.wait(Some(LONG)).unwrap();
    assert_eq!(s.read().unwrap().text, "nohome:1\r\n");
}

#[test]
fn cwd_is_used_and_defaults_to_ours() {
    let s = SessionBuilder::new("pwd").cwd("/tmp").spawn().unwrap();
    s.wait(Some(LONG)).unwrap();
    assert_eq!(s.read().unwrap().text, "/tmp\r\n");
    let here = std::env::current_dir().unwrap();
    let s = Session::start("pwd").unwrap();
    s.wait(Some(LONG)).unwrap();
    assert_eq!(s.read().unwrap().text.trim_end(), here.to_str().unwrap());
}

#[test]
fn resize_reaches_the_child() {
    let s = Session::start(["sh"]).unwrap();
    s.resize(40, 120).unwrap();
    s.send("stty size\n").unwrap();
    expect(&s, "40 120");
    assert!(matches!(
        s.resize(0, 10),
        Err(Error::InvalidSize { rows: 0, cols: 10 })
    ));
}

#[test]
fn python_repl_round_trip() {
    if !common::require("python3") {
        return;
    }
    let s = SessionBuilder::new(["python3", "-q", "-i"])
        .term(Some("dumb"))
        .spawn()
        .unwrap();
    expect(&s, ">>> ");
    s.send("6 * 7\n").unwrap();
    let text = expect(&s, ">>> ");
    assert_eq!(text, "6 * 7\r\n42\r\n>>> ");
}
