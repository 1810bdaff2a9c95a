//! Clean text from real sessions: `clean_text`, `TextCleaner` across reads
//! that cut escape sequences apart, `PollResult::clean_text`, and where the
//! screen is the faithful view instead.

use std::io::Write as _;
use std::time::Duration;

use bgterm::{Session, SessionBuilder, TextCleaner, clean_text};

const T: Option<Duration> = Some(Duration::from_secs(30));

fn no_controls(s: &str) -> bool {
    s.chars().all(|c| !c.is_control() || c == '\n' || c == '\t')
}

/// A program printing colours, a title, cursor moves and bracketed-paste
/// switches, read 5 bytes at a time so that nearly every sequence is split
/// between two reads: the cleaner removes each whole.
#[test]
fn cleaner_over_small_reads_matches_cleaning_the_whole() {
    let script = r"for i in 1 2 3 4 5 6 7 8 9 10; do printf '\033[1;3%dmline %d\033[0m\033]0;title %d\007\033[?2004h\033[2K\033(B é\r\n' $i $i $i; done";
    let s = Session::start(script).expect("start");
    s.wait(T).expect("wait");
    let (mut raw, mut cleaned, mut reads) = (String::new(), String::new(), 0);
    let mut cleaner = TextCleaner::new();
    loop {
        let out = s.read_with_limit(5).expect("read");
        raw += &out.text;
        cleaned += &cleaner.push(&out.text);
        reads += 1;
        if out.remaining_bytes == 0 && !out.running {
            break;
        }
    }
    assert!(reads > 50, "only {reads} reads: the sequences were not split");
    assert!(raw.contains("\x1b[1;31m") && raw.contains("\x1b]0;title 1\x07"));
    let want: String = (1..=10).map(|i| format!("line {i} é\n")).collect();
    assert_eq!(cleaned, want);
    assert_eq!(clean_text(&raw), want);
}

/// Each read cleaned on its own (`PollResult::clean_text`).
#[test]
fn poll_result_clean_text() {
    let s = Session::start("printf '\\033[32mok\\033[0m\\n'").expect("start");
    s.wait(T).expect("wait");
    let out = s.read().expect("read");
    assert_eq!(out.text, "\x1b[32mok\x1b[0m\r\n");
    assert_eq!(out.clean_text(), "ok\n");
}

/// An interactive bash with the default TERM wraps its prompt in
/// bracketed-paste switches; the clean text has none of it.
#[test]
fn bash_prompt_switches_are_removed() {
    if !std::path::Path::new("/bin/bash").exists() && !std::path::Path::new("/usr/bin/bash").exists() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: bash_prompt_switches_are_removed: no bash"
        );
        return;
    }
    let s = SessionBuilder::new(["bash", "--norc", "--noprofile", "-i"])
        .env("PS1", "P$ ")
        .env("INPUTRC", "/dev/null")
        .spawn()
        .expect("bash");
    s.wait_for_from(0, "P$ ", T).expect("prompt");
    let at = s.output_offset().expect("offset");
    s.send("echo $((40 + 2))\n").expect("send");
    let m = s.wait_for_from(at, "P$ ", T).expect("next prompt");
    let raw = m.before + &m.text;
    assert!(
        raw.contains("\x1b[?2004"),
        "no bracketed paste to remove: {raw:?}"
    );
    let clean = clean_text(&raw);
    assert_eq!(clean, "echo $((40 + 2))\n42\nP$ ");
    assert!(no_controls(&clean));
}

/// Where cursor movement rewrites a line, the stream's text keeps both
/// versions; the screen shows what a person would see.
#[test]
fn the_screen_is_the_faithful_view_of_rewritten_lines() {
    let s = Session::start("printf 'loading 10%%\\rloading 100%%\\n'; read x").expect("start");
    let m = s.wait_for_from(0, "100%\r\n", T).expect("output");
    assert_eq!(clean_text(&(m.before + &m.text)), "loading 10%loading 100%\n");
    assert_eq!(s.display(2).expect("display").lines[0], "loading 100%");
}
