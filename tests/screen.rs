//! The terminal view, against real programs on real PTYs:
//! snapshots, line ranges, the viewport, full-screen programs, keys,
//! resize, search, terminal queries and the failure cases.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::time::{Duration, Instant};

use bgterm::{Capture, Error, ExitStatus, Pattern, Registry, Session, SessionBuilder};
use common::{LONG, expect, read_until};

/// Waits (on output events, never sleeping) until the latest `lines`
/// lines satisfy `done`; returns that capture. Panics with the last
/// capture on timeout or if the child exits first.
fn wait_display(s: &Session, lines: usize, done: impl Fn(&Capture) -> bool) -> Capture {
    let deadline = Instant::now() + LONG;
    loop {
        let cap = s.display(lines).unwrap();
        if done(&cap) {
            return cap;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out; screen shows:\n{}", cap.text);
        let out = s.poll(left).unwrap();
        if !out.running && out.text.is_empty() && out.remaining_bytes == 0 {
            let cap = s.display(lines).unwrap();
            assert!(done(&cap), "child exited first; screen shows:\n{}", cap.text);
            return cap;
        }
    }
}

fn shows(text: &'static str) -> impl Fn(&Capture) -> bool {
    move |c| c.text.contains(text)
}

/// Waits until the terminal's foreground process group, as seen from
/// `pid`'s /proc entry, is no longer `pid`'s own (a job was started).
/// Nothing signals this, so it re-reads /proc under a deadline, yielding
/// the CPU between reads.
fn foreground_leaves(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the ")" closing the command name: state ppid pgrp
        // session tty_nr tpgid ...
        let tpgid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(5))
            .and_then(|f| f.parse::<i64>().ok());
        if tpgid.is_some_and(|g| g > 0 && g != i64::from(pid)) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::yield_now();
    }
}

/// A POSIX shell with a fixed prompt.
fn shell() -> Session {
    let s = SessionBuilder::new(["sh"])
        .env("PS1", "$ ")
        .env("ENV", "")
        .spawn()
        .unwrap();
    wait_display(&s, 5, |c| c.text.ends_with("$"));
    s
}

// ---- snapshots --------------------------------------------------------

#[test]
fn display_ends_at_the_cursor_line_not_the_bottom_of_the_screen() {
    let s = Session::start("printf 'one\\ntwo\\n'; read x").unwrap();
    let cap = wait_display(&s, 80, shows("two"));
    // A fresh 24-row screen: three transcript lines, not 24.
    assert_eq!(cap.lines, ["one", "two", ""]);
    assert_eq!(cap.text, "one\ntwo\n");
    assert_eq!(
        (cap.start_line, cap.end_line, cap.line_count, cap.cursor_line),
        (0, 3, 3, 2)
    );
    assert!(cap.running && cap.exit_code.is_none());
    // Fewer lines asked: the latest ones, still ending at the cursor.
    assert_eq!(s.display(2).unwrap().lines, ["two", ""]);
}

#[test]
fn python_repl_snapshot() {
    if !common::require("python3") {
        return;
    }
    let s = Session::start(["python3", "-q"]).unwrap();
    wait_display(&s, 10, |c| c.text.ends_with(">>>"));
    s.send("2 + 2\n").unwrap();
    // Done when the new prompt is drawn and the cursor sits after ">>> ".
    let cap = wait_display(&s, 10, |c| {
        c.text.ends_with("\n4\n>>>") && s.info().unwrap().cursor.1 == 4
    });
    let n = cap.lines.len();
    assert_eq!(cap.lines[n - 3..], [">>> 2 + 2", "4", ">>>"]);
    assert_eq!(
        cap.cursor_line,
        cap.end_line - 1,
        "the prompt is the cursor's line"
    );
}

#[test]
fn a_finished_program_stays_viewable() {
    let s = Session::start("echo done; exit 3").unwrap();
    s.wait(Some(LONG)).unwrap().expect("exit");
    let cap = s.display(5).unwrap();
    assert_eq!(cap.lines, ["done", ""]);
    assert!(!cap.running);
    assert_eq!(cap.exit_code, Some(3));
    assert_eq!(cap.exit_status, Some(ExitStatus::Exited(3)));
    let info = s.info().unwrap();
    assert!(!info.running && info.exit_code == Some(3));
}

#[test]
fn wide_and_accented_characters_render_once() {
    let s = Session::start("printf 'caf\\303\\251 \\346\\274\\242\\345\\255\\227!\\n'; read x").unwrap();
    let cap = wait_display(&s, 5, shows("!"));
    assert_eq!(cap.lines[0], "café 漢字!");
}

// ---- line ranges and the viewport ---------------------------------------

/// `seq 1 100` on a 24-row screen: lines 0..100 are "1".."100", line 100
/// is the (empty) cursor line.
fn hundred_lines() -> Session {
    let s = Session::start("seq 1 100; read x").unwrap();
    wait_display(&s, 5, shows("100"));
    s
}

#[test]
fn absolute_ranges_reach_back_past_one_screen() {
    let s = hundred_lines();
    let info = s.info().unwrap();
    assert_eq!(
        (info.line_count, info.cursor_line, info.history_lines),
        (101, 100, 77)
    );
    assert_eq!((info.cursor, info.size), ((23, 0), (24, 80)));

    let cap = s.capture_range(0, 5).unwrap();
    assert_eq!(cap.lines, ["1", "2", "3", "4", "5"]);
    assert_eq!((cap.start_line, cap.end_line, cap.line_count), (0, 5, 101));
    let cap = s.capture_range(50, 53).unwrap();
    assert_eq!(cap.lines, ["51", "52", "53"]);
    assert_eq!(s.display(3).unwrap().lines, ["99", "100", ""]);
}

#[test]
fn ranges_past_the_end_are_clamped_and_backwards_ones_refused() {
    let s = hundred_lines();
    let cap = s.capture_range(98, 10_000).unwrap();
    assert_eq!(cap.lines, ["99", "100", ""]);
    assert_eq!((cap.start_line, cap.end_line), (98, 101));
    let cap = s.capture_range(500, 600).unwrap();
    assert!(cap.lines.is_empty() && cap.text.is_empty());
    assert_eq!((cap.start_line, cap.end_line), (101, 101));
    assert!(s.capture_range(7, 7).unwrap().lines.is_empty());

    match s.capture_range(10, 5) {
        Err(Error::InvalidRange {
            id,
            start: 10,
            end: 5,
        }) => assert_eq!(id, s.id()),
        other => panic!("{other:?}"),
    }
    assert!(matches!(s.display(0), Err(Error::InvalidLines { lines: 0 })));
    assert!(matches!(s.scroll_to(3, 0), Err(Error::InvalidLines { lines: 0 })));
    // The session still works after refused requests.
    assert_eq!(s.capture_range(0, 1).unwrap().lines, ["1"]);
    s.send("\n").unwrap();
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
}

#[test]
fn viewport_scrolls_and_follows() {
    // Until set, the viewport follows the latest DEFAULT_VIEW_LINES lines.
    let fresh = Session::start("seq 1 100; read x").unwrap();
    read_until(&fresh, LONG, |t| t.contains("100\r\n"));
    let v = fresh.view().unwrap();
    assert_eq!(
        (v.start_line, v.end_line),
        (101 - bgterm::DEFAULT_VIEW_LINES, 101)
    );

    let s = hundred_lines();
    // `display(5)` (in hundred_lines) set the viewport to the latest 5.
    let v = s.view().unwrap();
    assert_eq!((v.start_line, v.end_line), (96, 101));

    let v = s.scroll_to(10, 3).unwrap();
    assert_eq!(v.start_line, 10);
    assert_eq!(v.lines, ["11", "12", "13"]);
    assert_eq!(s.view().unwrap().lines, ["11", "12", "13"]);
    assert_eq!(s.scroll(-4).unwrap().lines, ["7", "8", "9"]);
    assert_eq!(s.scroll(2).unwrap().lines, ["9", "10", "11"]);
    assert_eq!(s.scroll(-1000).unwrap().start_line, 0, "stops at the top");
    // A clone shares the viewport.
    assert_eq!(s.clone().view().unwrap().start_line, 0);
    // Past the end: the latest lines, following again.
    let v = s.scroll(1000).unwrap();
    assert_eq!(v.lines, ["99", "100", ""]);
    s.send("\n").unwrap();
    s.wait(Some(LONG)).unwrap().expect("exit");
    // Following: the view now ends at the new cursor line.
    assert_eq!(s.view().unwrap().lines, ["100", "", ""]);

    // scroll_to too late a start shows the last lines, pinned.
    let v = s.scroll_to(1000, 2).unwrap();
    assert_eq!(v.start_line, 100);
    assert_eq!(v.lines, ["", ""]);
}

#[test]
fn a_pinned_viewport_stays_on_its_text_as_history_is_evicted() {
    let s = SessionBuilder::new("seq 1 100; read x; seq 101 105; read y")
        .scrollback_lines(50)
        .spawn()
        .unwrap();
    wait_display(&s, 3, shows("100"));
    // 101 lines, 24 on screen, 50 in history: "1".."27" were evicted.
    assert_eq!(s.capture_range(0, 1).unwrap().lines, ["28"]);
    assert_eq!(s.scroll_to(10, 3).unwrap().lines, ["38", "39", "40"]);
    s.send("\n").unwrap();
    // Wait on the raw output: a display would reset the viewport.
    read_until(&s, LONG, |t| t.contains("105\r\n"));
    let v = s.view().unwrap();
    assert_eq!(v.lines, ["38", "39", "40"]);
    assert!(
        v.start_line < 10,
        "numbers shifted as lines were evicted: {}",
        v.start_line
    );
}

// ---- full-screen programs ---------------------------------------------------

fn numbered_file(name: &str, n: usize) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("bgterm-screen-{}-{name}.txt", std::process::id()));
    let text: String = (1..=n).map(|i| format!("row {i}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn less_on_the_alternate_screen_shows_what_a_person_sees() {
    if !common::require("less") {
        return;
    }
    let file = numbered_file("less", 200);
    let s = SessionBuilder::new(["less", file.to_str().unwrap()])
        .env("LESS", "")
        .env("LESSHISTFILE", "-")
        .spawn()
        .unwrap();
    let cap = wait_display(&s, 24, |c| {
        c.text.contains("row 23") && s.info().unwrap().alternate_screen
    });
    // The whole screen: 23 rows of the file and less's prompt line.
    assert_eq!(cap.lines.len(), 24);
    assert_eq!(cap.lines[0], "row 1");
    assert_eq!(cap.lines[22], "row 23");
    let info = s.info().unwrap();
    assert!(info.alternate_screen);
    assert!(
        info.application_cursor,
        "less turns on keypad/cursor application mode"
    );

    // Keys: Down in application mode scrolls one line; Space one page.
    s.send_keys(["Down"], Duration::ZERO).unwrap();
    wait_display(&s, 24, |c| c.lines[0] == "row 2");
    s.send_keys(["Space"], Duration::ZERO).unwrap();
    wait_display(&s, 24, |c| c.lines[0] == "row 25");
    s.send_keys(["q"], Duration::ZERO).unwrap();
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
    assert!(!s.info().unwrap().alternate_screen);
    let _ = std::fs::remove_file(file);
}

#[test]
fn vi_snapshot() {
    if !common::require("vi") {
        return;
    }
    let file = numbered_file("vi", 5);
    let s = SessionBuilder::new([
        "vi",
        "-u",
        "NONE",
        "-N",
        "-n",
        "-i",
        "NONE",
        file.to_str().unwrap(),
    ])
    .spawn()
    .unwrap();
    let cap = wait_display(&s, 24, |c| {
        c.lines.len() == 24 && c.lines[4] == "row 5" && c.lines[5] == "~"
    });
    // The file, tildes below it, the status line at the bottom; the cursor
    // is on the first line, yet the capture is the whole screen.
    assert_eq!(cap.lines[0], "row 1");
    // vi's file message: the quoted name, then its line count.
    let name = format!("\"{}\"", file.display());
    assert!(
        cap.lines[23].starts_with(&name) && cap.lines[23].contains("5L"),
        "status line: {:?}",
        cap.lines[23]
    );
    assert_eq!(s.info().unwrap().cursor, (0, 0));
    s.send_keys(["Escape", ":q!", "Enter"], Duration::ZERO).unwrap();
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
    let _ = std::fs::remove_file(file);
}

#[test]
fn top_snapshot() {
    if !common::require("top") {
        return;
    }
    let s = SessionBuilder::new(["top", "-d", "60"]).spawn().unwrap();
    // top paints all 24 rows of the normal screen: header, then processes
    // down to the last row.
    let cap = wait_display(&s, 24, |c| {
        c.lines.len() == 24
            && c.lines[0].starts_with("top - ")
            && c.text.contains("PID")
            && c.lines[23].trim_start().starts_with(char::is_numeric)
    });
    assert!(cap.lines.iter().any(|l| l.starts_with("Tasks:")), "{}", cap.text);
    s.send_keys(["q"], Duration::ZERO).unwrap();
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
}

// ---- keys -------------------------------------------------------------------

#[test]
fn ctrl_c_interrupts_sleep() {
    let s = shell();
    s.send("sleep 100; echo after-sleep\n").unwrap();
    // A ^C typed before the shell has handed the terminal to `sleep` would
    // go to the shell (as for a person typing impossibly fast): wait until
    // `sleep` is the terminal's foreground process group.
    assert!(
        foreground_leaves(s.pid(), LONG),
        "sleep never became the foreground job"
    );
    let t = Instant::now();
    s.send_keys(["C-c"], Duration::ZERO).unwrap();
    // The shell's prompt comes back; the `echo` never ran.
    let cap = wait_display(&s, 3, |c| c.text.ends_with("$"));
    assert!(!cap.lines.iter().any(|l| l == "after-sleep"), "{}", cap.text);
    assert!(t.elapsed() < Duration::from_secs(60));
    assert!(s.is_running().unwrap(), "the shell survives, only the sleep died");

    // `interrupt` does the same to a program that is the session itself.
    // (After "ready": a ^C written before the child has made the terminal
    // its controlling terminal would reach no process group.)
    let s = Session::start("echo ready; exec sleep 100").unwrap();
    expect(&s, "ready");
    s.interrupt().unwrap();
    const SIGINT: i32 = 2;
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Signaled(SIGINT)));
}

#[test]
fn arrow_keys_recall_bash_history() {
    if !common::require("bash") {
        return;
    }
    let s = SessionBuilder::new(["bash", "--norc", "--noprofile"])
        .env("PS1", "$ ")
        .env("HISTFILE", "/dev/null")
        .spawn()
        .unwrap();
    wait_display(&s, 3, |c| c.text.ends_with("$"));
    s.send("echo first-$((40+2))\n").unwrap();
    wait_display(&s, 3, shows("first-42\n$"));
    s.send("echo second-$((1+1))\n").unwrap();
    wait_display(&s, 3, shows("second-2\n$"));
    // Up twice: the first command again.
    s.send_keys(["Up", "Up"], Duration::ZERO).unwrap();
    wait_display(&s, 1, |c| c.text == "$ echo first-$((40+2))");
    s.send_keys(["Down", "Enter"], Duration::ZERO).unwrap();
    let cap = wait_display(&s, 3, |c| c.text.ends_with("second-2\n$"));
    assert_eq!(cap.lines, ["$ echo second-$((1+1))", "second-2", "$"]);
    let hits = s.search("second-2").unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
}

/// A program that turns on application cursor keys and prints the bytes
/// of the next key it reads, raw.
const SHOW_KEY: &str = "import os,sys,tty\n\
tty.setraw(0)\n\
sys.stdout.write(sys.argv[1] + 'ready\\r\\n'); sys.stdout.flush()\n\
print(repr(os.read(0, 16)), end='\\r\\n', flush=True)\n";

#[test]
fn cursor_keys_follow_the_programs_cursor_key_mode() {
    if !common::require("python3") {
        return;
    }
    for (mode, want) in [("", "'\\x1b[A'"), ("\x1b[?1h", "'\\x1bOA'")] {
        let s = Session::start(["python3", "-c", SHOW_KEY, mode]).unwrap();
        wait_display(&s, 3, shows("ready"));
        assert_eq!(s.info().unwrap().application_cursor, !mode.is_empty());
        s.send_keys(["Up"], Duration::ZERO).unwrap();
        let cap = wait_display(&s, 3, shows("'"));
        // The mode sequence is invisible; the key's bytes are the next line.
        assert_eq!(
            cap.lines[..2],
            ["ready".to_string(), format!("b{want}")],
            "{}",
            cap.text
        );
    }
}

#[test]
fn an_unknown_key_name_is_an_error_and_sends_nothing() {
    let s = Session::start(["cat"]).unwrap();
    match s.send_keys(["a", "Enter", "Entr"], Duration::ZERO) {
        Err(Error::UnknownKey { key }) => assert_eq!(key, "Entr"),
        other => panic!("{other:?}"),
    }
    let err = bgterm::encode_keys(["C-nope"], bgterm::CursorKeys::Normal).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownKey { key } if key == "C-nope"),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"C-nope\""), "{err}");
    // Nothing of the failed call reached cat: the first output is "ok".
    // (send_keys returns what already came back: part of it, maybe.)
    let first = s.send_keys(["ok", "Enter"], Duration::ZERO).unwrap().text;
    let out = first.clone() + &read_until(&s, LONG, |t| (first.clone() + t).contains("ok\r\nok\r\n"));
    assert_eq!(out, "ok\r\nok\r\n");
}

// ---- resize -----------------------------------------------------------------

#[test]
fn resize_reaches_the_child_and_the_screen() {
    let s = shell();
    s.send("stty size\n").unwrap();
    wait_display(&s, 3, shows("24 80"));
    s.resize(30, 100).unwrap();
    s.send("stty size; printf '%090d\\n' 7\n").unwrap();
    let cap = wait_display(&s, 3, |c| c.text.contains("30 100") && c.text.contains("0007"));
    // 90 columns fit on one 100-column line.
    assert!(
        cap.lines.iter().any(|l| l.len() == 90 && l.ends_with("07")),
        "{:?}",
        cap.lines
    );
    let info = s.info().unwrap();
    assert_eq!((info.size, s.size().unwrap()), ((30, 100), (30, 100)));

    // Zero and absurd sizes are refused and change nothing.
    assert!(matches!(
        s.resize(0, 80),
        Err(Error::InvalidSize { rows: 0, cols: 80 })
    ));
    let err = s.resize(24, 60_000).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidSize {
            rows: 24,
            cols: 60_000
        }
    ));
    assert!(err.to_string().contains("60000"), "{err}");
    assert_eq!(s.info().unwrap().size, (30, 100));
    assert!(matches!(
        SessionBuilder::new("true").size(2000, 80).spawn(),
        Err(Error::InvalidSize { rows: 2000, cols: 80 })
    ));
}

#[test]
fn resize_by_id_and_a_full_screen_program_redraws() {
    let sid = bgterm::start_session(["sh"]).unwrap();
    bgterm::resize(sid, 10, 40).unwrap();
    bgterm::write_stdin(sid, "stty size\n", Duration::ZERO).unwrap();
    let s = Registry::global().get(sid).unwrap();
    wait_display(&s, 3, shows("10 40"));
    assert_eq!(bgterm::info(sid).unwrap().size, (10, 40));
    bgterm::close(sid).unwrap();
}

// ---- search -------------------------------------------------------------------

#[test]
fn search_one_session_plain_and_regex() {
    let s = Session::start("printf 'alpha 1\\nbeta 22\\nalpha 333\\na.c\\n'; read x").unwrap();
    wait_display(&s, 5, shows("a.c"));
    let hits = s.search("alpha").unwrap();
    let got: Vec<_> = hits
        .iter()
        .map(|h| (h.session, h.line, h.text.as_str()))
        .collect();
    assert_eq!(got, [(s.id(), 0, "alpha 1"), (s.id(), 2, "alpha 333")]);
    // Plain text is not a regex: "a.c" matches only itself.
    let hits = s.search("a.c").unwrap();
    let got: Vec<_> = hits.iter().map(|h| (h.line, h.text.as_str())).collect();
    assert_eq!(got, [(3, "a.c")]);
    let hits = s.search(Pattern::regex(r"^\w+ \d{2,}$").unwrap()).unwrap();
    let lines: Vec<_> = hits.iter().map(|h| h.line).collect();
    assert_eq!(lines, [1, 2]);
    assert!(s.search("nowhere").unwrap().is_empty());
    // The line numbers are capture_range's.
    assert_eq!(s.capture_range(2, 3).unwrap().lines, ["alpha 333"]);
}

#[test]
fn an_invalid_regex_is_a_typed_error_naming_it() {
    let err = Pattern::regex("(unclosed").unwrap_err();
    match &err {
        Error::InvalidPattern { pattern, .. } => assert_eq!(pattern, "(unclosed"),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("(unclosed"));
    let source = std::error::Error::source(&err).expect("the regex error");
    assert!(source.is::<regex::Error>(), "{source:?}");
}

#[test]
fn search_across_sessions() {
    let registry = Registry::new();
    let a = registry.start("echo needle in a; read x").unwrap();
    let b = registry.start("echo hay; echo needle in b; read x").unwrap();
    let c = registry.start("echo nothing; read x").unwrap();
    // Each session's last line is on its screen (b's "hay" alone is not
    // enough: its second line is a separate write).
    for (id, last) in [(a, "needle in a"), (b, "needle in b"), (c, "nothing")] {
        wait_display(&registry.get(id).unwrap(), 3, shows(last));
    }
    let hits = registry.search_sessions("needle").unwrap();
    let got: Vec<_> = hits
        .iter()
        .map(|h| (h.session, h.line, h.text.as_str()))
        .collect();
    assert_eq!(got, [(a, 0, "needle in a"), (b, 1, "needle in b")]);
    let hits = registry
        .search_sessions(Pattern::regex("needle in [b-z]").unwrap())
        .unwrap();
    let got: Vec<_> = hits
        .iter()
        .map(|h| (h.session, h.line, h.text.as_str()))
        .collect();
    assert_eq!(got, [(b, 1, "needle in b")]);
    // A closed session is no longer searched.
    registry.close(b).unwrap();
    let hits = registry.search_sessions("needle").unwrap();
    let got: Vec<_> = hits
        .iter()
        .map(|h| (h.session, h.line, h.text.as_str()))
        .collect();
    assert_eq!(got, [(a, 0, "needle in a")]);
}

#[test]
fn search_sessions_in_the_global_registry() {
    let marker = format!("global-marker-{}", std::process::id());
    let sid = bgterm::start_session(format!("echo {marker}; read x").as_str()).unwrap();
    let s = Registry::global().get(sid).unwrap();
    wait_display(&s, 3, |c| c.text.contains(&marker));
    let hits = bgterm::search_sessions(marker.as_str()).unwrap();
    assert!(
        hits.iter().any(|h| h.session == sid && h.text == marker),
        "{hits:?}"
    );
    let hits = bgterm::search(sid, marker.as_str()).unwrap();
    let got: Vec<_> = hits
        .iter()
        .map(|h| (h.session, h.line, h.text.as_str()))
        .collect();
    assert_eq!(got, [(sid, 0, marker.as_str())]);
    bgterm::close(sid).unwrap();
}

// ---- terminal queries -----------------------------------------------------------

/// Writes `query` in raw mode and prints the answer's bytes (or "no
/// answer" if none comes within `wait` seconds).
const ASK: &str = "import os,select,sys,tty\n\
tty.setraw(0)\n\
os.write(1, b'abc' + sys.argv[1].encode())\n\
r, _, _ = select.select([0], [], [], float(sys.argv[2]))\n\
ans = os.read(0, 64) if r else b'no answer'\n\
os.write(1, b'\\r\\nanswer=' + repr(ans).encode() + b'\\r\\n')\n";

fn ask(builder: SessionBuilder) -> String {
    let s = builder.spawn().unwrap();
    let cap = wait_display(&s, 5, shows("answer="));
    cap.lines.into_iter().find(|l| l.starts_with("answer=")).unwrap()
}

#[test]
fn terminal_queries_are_answered_when_the_screen_is_active() {
    if !common::require("python3") {
        return;
    }
    let cases = [
        // The cursor is after "abc" on the first row.
        ("\x1b[6n", "answer=b'\\x1b[1;4R'"),
        ("\x1b[5n", "answer=b'\\x1b[0n'"),
        ("\x1b[c", "answer=b'\\x1b[?1;2c'"),
        ("\x1b[>c", "answer=b'\\x1b[>1;10;0c'"),
    ];
    for (query, want) in cases {
        let answer = ask(SessionBuilder::new(["python3", "-c", ASK, query, "60"]).screen(true));
        assert_eq!(answer, want, "query {query:?}");
    }
}

#[test]
fn an_activated_screen_answers_later_queries() {
    if !common::require("python3") {
        return;
    }
    // Activated after start (no builder option): it answers from then on.
    let script = "import os,select,sys,tty\ntty.setraw(0)\nos.write(1, b'ready\\r\\n')\nos.read(0, 1)\n"
        .to_string()
        + ASK.split_once('\n').unwrap().1;
    let s = Session::start(["python3", "-c", &script, "\x1b[6n", "60"]).unwrap();
    expect(&s, "ready");
    s.enable_screen().unwrap();
    s.send("x").unwrap(); // go: the program asks now
    let cap = wait_display(&s, 5, shows("answer="));
    // "abc" on the second row, after "ready".
    let answer = cap.lines.iter().find(|l| l.starts_with("answer="));
    assert_eq!(
        answer.map(String::as_str),
        Some("answer=b'\\x1b[2;4R'"),
        "{}",
        cap.text
    );
}

#[test]
fn without_the_screen_a_query_goes_unanswered() {
    if !common::require("python3") {
        return;
    }
    // A timeout is what is tested: the program gives up after 0.3 s.
    let s = Session::start(["python3", "-c", ASK, "\x1b[6n", "0.3"]).unwrap();
    let out = read_until(&s, LONG, |t| t.ends_with("'\r\n"));
    // The raw stream: "abc", the query as written, and no answer.
    assert_eq!(out, "abc\x1b[6n\r\nanswer=b'no answer'\r\n");
}

// ---- the raw stream and gaps -------------------------------------------------------

#[test]
fn the_raw_stream_is_unchanged_with_the_screen_active() {
    let s = SessionBuilder::new("seq 1 20000").screen(true).spawn().unwrap();
    s.wait(Some(LONG)).unwrap().expect("exit");
    let mut text = String::new();
    loop {
        let out = s.read().unwrap();
        text += &out.text;
        if out.remaining_bytes == 0 {
            break;
        }
    }
    let want: String = (1..=20000).map(|i| format!("{i}\r\n")).collect();
    assert_eq!(text, want);
    assert_eq!(s.display(2).unwrap().lines, ["20000", ""]);
    assert_eq!(s.info().unwrap().unrendered_bytes, 0);
}

#[test]
fn output_beyond_the_backlog_is_skipped_and_the_screen_resyncs() {
    // ~590 KB unviewed, more than the screen's 64 KiB backlog: the oldest
    // is skipped; the end of the output is rendered right.
    let s = SessionBuilder::new("seq 1 100000; echo END")
        .screen(true)
        .max_buffer_bytes(1000)
        .spawn()
        .unwrap();
    s.wait(Some(LONG)).unwrap().expect("exit");
    let cap = s.display(3).unwrap();
    assert_eq!(cap.lines, ["100000", "END", ""]);
    let info = s.info().unwrap();
    assert!(info.unrendered_bytes > 400_000, "{}", info.unrendered_bytes);
    // Everything retained after the gap is whole lines of seq's output
    // (the first one after the gap may be a tail).
    let all = s.capture_range(0, usize::MAX).unwrap();
    let n = all.lines.len();
    for pair in all.lines[n - 100..n - 3].windows(2) {
        let (a, b): (u64, u64) = (pair[0].parse().unwrap(), pair[1].parse().unwrap());
        assert_eq!(b, a + 1);
    }
}

#[test]
fn a_screen_activated_late_starts_from_what_the_buffer_retained() {
    let s = SessionBuilder::new("seq 1 2000")
        .max_buffer_bytes(1000)
        .spawn()
        .unwrap();
    s.wait(Some(LONG)).unwrap().expect("exit");
    let cap = s.display(3).unwrap();
    assert_eq!(cap.lines, ["1999", "2000", ""]);
    // What the screen never saw is exactly what the buffer had dropped.
    let unrendered = s.info().unwrap().unrendered_bytes;
    let dropped = s.read().unwrap().dropped_bytes;
    assert_eq!(unrendered, dropped);
    assert!(unrendered >= 8000, "{unrendered}");
}

// ---- lifecycle and errors ------------------------------------------------------------

#[test]
fn info_reports_the_session() {
    let s = SessionBuilder::new(["sh", "-c", "read x"])
        .size(20, 70)
        .spawn()
        .unwrap();
    let info = s.info().unwrap();
    assert_eq!(info.id, s.id());
    assert_eq!(info.pid, s.pid());
    assert_eq!(info.command, *s.command());
    assert_eq!(info.size, (20, 70));
    assert!(info.running && info.exit_code.is_none() && !info.alternate_screen);
    assert_eq!((info.cursor, info.line_count, info.cursor_line), ((0, 0), 1, 0));
}

#[test]
fn views_of_a_closed_or_unknown_session_are_typed_errors() {
    let s = Session::start(["cat"]).unwrap();
    let other = s.clone();
    s.close().unwrap();
    let id = s.id();
    assert!(matches!(other.display(5), Err(Error::SessionClosed { id: i }) if i == id));
    assert!(matches!(other.info(), Err(Error::SessionClosed { id: i }) if i == id));
    assert!(matches!(other.search("x"), Err(Error::SessionClosed { id: i }) if i == id));
    let gone = bgterm::SessionId::from_u64(987_654_321);
    assert!(matches!(
        bgterm::display(gone, 5),
        Err(Error::UnknownSession { id }) if id == gone
    ));
    assert!(matches!(
        bgterm::send_keys(gone, ["Enter"], Duration::ZERO),
        Err(Error::UnknownSession { id }) if id == gone
    ));
    assert!(matches!(
        bgterm::interrupt(gone),
        Err(Error::UnknownSession { id }) if id == gone
    ));
}

#[test]
fn scrollback_size_is_validated() {
    let err = SessionBuilder::new("true")
        .scrollback_lines(bgterm::MAX_SCROLLBACK_LINES + 1)
        .spawn()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidScrollback { lines } if lines == bgterm::MAX_SCROLLBACK_LINES + 1));
    let s = SessionBuilder::new("seq 1 50; read x")
        .scrollback_lines(0)
        .spawn()
        .unwrap();
    let cap = wait_display(&s, 100, shows("50"));
    assert_eq!(cap.start_line, 0);
    assert_eq!(cap.lines[0], "28", "only the 24 screen rows are kept");
}

// ---- waiting on the screen, joined and styled captures ------------------------

#[test]
fn wait_for_screen_sees_vi_on_the_alternate_screen() {
    if !common::require("vi") {
        return;
    }
    let file = numbered_file("vi-wait", 3);
    let s = SessionBuilder::new([
        "vi",
        "-u",
        "NONE",
        "-N",
        "-n",
        "-i",
        "NONE",
        file.to_str().unwrap(),
    ])
    .spawn()
    .unwrap();
    let m = s.wait_for_screen("row 3", Some(LONG)).unwrap();
    assert_eq!((m.text.as_str(), m.index), ("row 3", 0));
    assert!(
        s.info().unwrap().alternate_screen,
        "vi runs on the alternate screen"
    );
    let again = s
        .wait_for_screen(["nope", "row 3"], Some(Duration::ZERO))
        .unwrap();
    assert!(again.already_there && again.index == 1);
    s.send_keys(["G", "o", "typed here", "Escape"], Duration::ZERO)
        .unwrap();
    let typed = s.wait_for_screen("typed here", Some(LONG)).unwrap();
    assert_eq!((typed.text.as_str(), typed.line), ("typed here", m.line + 1));
    s.send_keys(["Escape", ":q!", "Enter"], Duration::ZERO).unwrap();
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
    let _ = std::fs::remove_file(file);
}

#[test]
fn wait_for_screen_sees_top_repaint_its_header() {
    if !common::require("top") {
        return;
    }
    let s = SessionBuilder::new(["top", "-d", "60"]).spawn().unwrap();
    let m = s
        .wait_for_screen(Pattern::regex(r"^top - \d").unwrap(), Some(LONG))
        .unwrap();
    assert_eq!(
        m.line,
        s.info().unwrap().history_lines,
        "the header is the screen's first row"
    );
    s.send_keys(["q"], Duration::ZERO).unwrap();
    assert_eq!(s.wait(Some(LONG)).unwrap(), Some(ExitStatus::Exited(0)));
}

#[test]
fn wait_for_screen_sees_what_the_byte_stream_hides() {
    // Each progress update overwrites the last in place: the stream holds
    // all of them, the screen only the latest.
    let s = Session::start(
        "for i in 1 2 3; do printf '\\r%s%%' $((i * 33)); sleep 0.05; done; printf '\\rdone\\n'; read x",
    )
    .unwrap();
    let m = s.wait_for_screen("done", Some(LONG)).unwrap();
    assert_eq!(m.text, "done", "it overwrote '99%'");
    let err = s
        .wait_for_screen("33%", Some(Duration::from_millis(200)))
        .unwrap_err();
    match err {
        Error::WaitTimeout { tail, arrived, .. } => assert_eq!((tail.as_str(), arrived), ("done\n", 0)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wait_for_screen_ends_at_an_exit_without_a_match() {
    let s = Session::start("echo bye").unwrap();
    match s.wait_for_screen("never", Some(LONG)).unwrap_err() {
        Error::ExitedBeforeMatch { status, tail, .. } => {
            assert_eq!((status, tail.as_str()), (ExitStatus::Exited(0), "bye\n"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn captures_join_wrapped_lines_and_keep_colours_as_sgr() {
    let s = SessionBuilder::new(
        "printf 'a long line that wraps at twenty columns\\n\\033[32mgreen\\033[0m and \\033[4;1munder\\033[0m\\n'; read x",
    )
    .size(24, 20)
    .spawn()
    .unwrap();
    s.wait_for_screen("under", Some(LONG)).unwrap();
    let plain = s.capture_range(0, 4).unwrap();
    assert_eq!(
        plain.lines,
        [
            "a long line that wra",
            "ps at twenty columns",
            "green and under",
            ""
        ]
    );
    let joined = s
        .capture_range_with(0, 4, bgterm::CaptureOptions::new().join_wrapped(true))
        .unwrap();
    assert_eq!(
        joined.lines,
        ["a long line that wraps at twenty columns", "green and under", ""]
    );
    assert_eq!((joined.start_line, joined.end_line), (0, 4));
    let styled = s
        .capture_range_with(2, 3, bgterm::CaptureOptions::new().styled(true))
        .unwrap();
    assert_eq!(
        styled.lines,
        ["\x1b[0;32mgreen\x1b[0m and \x1b[0;1;4munder\x1b[0m"]
    );
}
