//! The adversarial matrix for the shell turn layer (`Session::run` and the
//! shell presets of `Repl`): commands that print the prompt variables, the
//! environment, foreign OSC 133 marks, history-expansion characters, tabs,
//! job-control notices; commands that replace the shell or its prompt; a
//! command that never returns, a shell that exits; commands refused before
//! anything is typed; and big output under CPU load.
//!
//! Every attack must leave the turn boundaries where they are: the run's
//! output is exactly what the shell printed for it (where that can be known
//! exactly, the same command's output is also written to a file in the same
//! command line and compared), and the NEXT `run("echo second")` returns
//! exactly `"second\n"` with exit code 0.
//!
//! Shells: sh, dash, bash, zsh, mksh and busybox sh, each started for `run`
//! (`SessionBuilder::for_run`), and for some attacks also a bash started
//! plainly (`bash --norc --noprofile -i`, after its first prompt). A missing
//! shell is reported as `SKIPPED:` on stderr, and fails the test when `CI`
//! is set.
//!
//! No test sleeps to synchronise: every wait is a `run` (or `eval`) bounded
//! by the generous [`LONG`]; a short timeout is used only where the timeout
//! itself is what is tested.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report
#![allow(clippy::field_reassign_with_default)] // RunPartial is non_exhaustive

mod common;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bgterm::{Error, ExitStatus, Repl, RunOptions, RunOutput, Session, SessionBuilder};
use common::{LONG, has};

const T: Option<Duration> = Some(LONG);

/// The timeout of a run whose timing out is what is tested.
const SHORT: Duration = Duration::from_millis(500);

/// Keeps every byte of any output these tests make.
const KEEP_ALL: usize = 20 << 20;

// ---- the shells ---------------------------------------------------------------

/// One shell of the matrix and how it is started.
#[derive(Clone, Debug)]
struct Shell {
    argv: Vec<&'static str>,
    /// Started plainly (its own prompt, echo and line editor on), not
    /// through `for_run`.
    plain: bool,
}

impl Shell {
    fn name(&self) -> String {
        let how = if self.plain { "plain" } else { "for_run" };
        format!("{how} {}", self.argv.join(" "))
    }

    /// The shell's program: "sh", "bash", "zsh", "busybox", ...
    fn program(&self) -> &str {
        self.argv[0]
    }

    fn start(&self) -> Session {
        let b = SessionBuilder::new(self.argv.clone()).env("HISTFILE", "/dev/null");
        if self.plain {
            let s = b.spawn().unwrap();
            // As the docs say for a shell not started for `run`: wait for
            // its first prompt before the first run.
            s.wait_for_from(0, bgterm::Pattern::regex(r"[#$] $").unwrap(), T)
                .unwrap_or_else(|e| panic!("{}: no first prompt: {e}", self.name()));
            s
        } else {
            b.for_run().spawn().unwrap()
        }
    }
}

/// Every installed shell of the matrix, started for `run`.
fn shells() -> Vec<Shell> {
    common::run_shells()
        .into_iter()
        .map(|argv| Shell { argv, plain: false })
        .collect()
}

/// The bash started plainly, if bash is installed.
fn plain_bash() -> Option<Shell> {
    has("bash").then(|| Shell {
        argv: vec!["bash", "--norc", "--noprofile", "-i"],
        plain: true,
    })
}

/// [`shells`] and the plain bash.
fn shells_and_plain_bash() -> Vec<Shell> {
    let mut all = shells();
    all.extend(plain_bash());
    all
}

/// Only the installed ones of `programs` (by `argv[0]`) from [`shells`],
/// and the plain bash too if `with_plain` and "bash" is among them.
fn only(programs: &[&str], with_plain: bool) -> Vec<Shell> {
    let mut out: Vec<Shell> = shells()
        .into_iter()
        .filter(|s| programs.contains(&s.program()))
        .collect();
    if with_plain && programs.contains(&"bash") {
        out.extend(plain_bash());
    }
    out
}

/// Runs `body` in each shell, all of them even when some fail, then fails
/// the test naming every shell that failed (each one's panic is printed
/// above as it happens).
fn each(shells: Vec<Shell>, body: impl Fn(&Shell)) {
    let mut failed = Vec::new();
    for sh in shells {
        if let Some(why) = failure(|| body(&sh)) {
            failed.push(format!("{}: {why}", sh.name()));
        }
    }
    assert!(
        failed.is_empty(),
        "failed in {} shell(s):\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Runs `body` for each of `cases` in a session of `sh`, all of them even
/// when some fail (the case after a failed one gets a fresh session), then
/// fails naming each case that failed.
fn each_case<C: std::fmt::Debug>(sh: &Shell, cases: Vec<C>, body: impl Fn(&Session, &C)) {
    let mut s = sh.start();
    let mut failed = Vec::new();
    for c in &cases {
        if let Some(why) = failure(|| body(&s, c)) {
            failed.push(format!(
                "case {c:?}: {}",
                why.chars().take(300).collect::<String>()
            ));
            s = sh.start();
        }
    }
    assert!(
        failed.is_empty(),
        "{} case(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// The panic message of `f`, if it panics (cut to a readable length).
fn failure(f: impl FnOnce()) -> Option<String> {
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).err()?;
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "(a panic without a message)".into());
    Some(msg.chars().take(2000).collect())
}

/// Says on stderr that an optional part does not run (never a failure:
/// for programs that are not shells of the matrix).
fn skip_optional(reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {}: {reason}", common::test_name());
}

// ---- running and checking -----------------------------------------------------

fn keep_all() -> RunOptions {
    RunOptions::new()
        .timeout(T)
        .head_bytes(KEEP_ALL)
        .tail_bytes(KEEP_ALL)
}

/// Runs `cmd` keeping all of its output; it must finish in time.
fn run(s: &Session, sh: &Shell, cmd: &str) -> RunOutput {
    match s.run_with(cmd, &keep_all()) {
        Ok(r) => {
            assert!(r.is_complete(), "{}: {cmd:?}: output elided: {r:?}", sh.name());
            r
        }
        Err(e) => panic!("{}: {cmd:?}: {e:?}", sh.name()),
    }
}

/// Runs `cmd` and checks its output and exit code exactly.
fn exact(s: &Session, sh: &Shell, cmd: &str, output: &str, code: i32) {
    let r = run(s, sh, cmd);
    assert_eq!(
        (r.output.as_str(), r.exit_code),
        (output, code),
        "{}: {cmd:?}",
        sh.name()
    );
}

/// The turn after an attack: exactly its own output and status.
fn second(s: &Session, sh: &Shell, after: &str) {
    match s.run("echo second", T) {
        Ok(r) => assert_eq!(
            (r.output.as_str(), r.exit_code),
            ("second\n", 0),
            "{}: the run after {after:?} was shifted",
            sh.name()
        ),
        Err(e) => panic!("{}: the run after {after:?}: {e:?}", sh.name()),
    }
}

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bgterm-turns-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// The path of `name` in the directory, quoted for a shell.
    fn q(&self, name: &str) -> String {
        let p = self.0.join(name);
        let p = p.to_str().unwrap();
        assert!(!p.contains('\''), "{p}");
        format!("'{p}'")
    }

    /// The contents of `name`, decoded as the session decodes output.
    fn read(&self, name: &str) -> String {
        String::from_utf8_lossy(&std::fs::read(self.0.join(name)).unwrap()).into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Checks `got` (a dump the terminal showed) against `before` and `after`,
/// the same dump written to files just before and just after it in the
/// same command line. Lines that differ between the two files hold
/// volatile values (`$_`, `RANDOM`, `SECONDS`: each is the same before
/// and after only if it was the same in between); every other line must
/// be exactly the file's, and there must be as many lines.
fn same_dump(what: &str, got: &str, before: &str, after: &str) {
    let (b, a): (Vec<&str>, Vec<&str>) = (before.split('\n').collect(), after.split('\n').collect());
    assert_eq!(
        b.len(),
        a.len(),
        "{what}: the reference dumps differ in length; the test cannot judge: {before:?} vs {after:?}"
    );
    let g: Vec<&str> = got.split('\n').collect();
    assert_eq!(
        g.len(),
        b.len(),
        "{what}: the run's output has {} lines, the dump {}: got {got:?}, want {before:?}",
        g.len(),
        b.len()
    );
    for (i, ((g, b), a)) in g.iter().zip(&b).zip(&a).enumerate() {
        if b == a {
            assert_eq!(g, b, "{what}: line {i} differs; got {got:?}");
        }
    }
}

/// What a shell shows of a text that holds its PS2: mksh and busybox sh do
/// not expand PS2, so its continuation mark is written out in it, and a
/// run takes that mark for the shell's own (the run goes on; the mark's
/// bytes are not in its output). Other shells: `text` as it is.
fn as_shown(sh: &Shell, text: &str) -> String {
    if matches!(sh.program(), "mksh" | "busybox") {
        let mark = regex::Regex::new("\x1b\\]133;P;k=s;aid=[0-9a-f]+\x07").unwrap();
        mark.replace_all(text, "").into_owned()
    } else {
        text.to_string()
    }
}

/// `text` without CSI sequences (`ESC [ ... letter`).
fn without_csi(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after
            .find(|c: char| c.is_ascii_alphabetic() || c == '~')
            .map_or(after.len(), |j| j + 1);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Whether `a == b`, with the first difference in the panic message
/// otherwise (the texts may be megabytes).
fn assert_same_text(what: &str, got: &str, want: &str) {
    if got == want {
        return;
    }
    let at = got
        .bytes()
        .zip(want.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(got.len().min(want.len()));
    let from = at.saturating_sub(40);
    let near = |s: &str| {
        String::from_utf8_lossy(&s.as_bytes()[from.min(s.len())..(at + 40).min(s.len())]).into_owned()
    };
    panic!(
        "{what}: {} bytes, want {}; first difference at byte {at}: got {:?}, want {:?}",
        got.len(),
        want.len(),
        near(got),
        near(want)
    );
}

// ---- 1, 2: dumps of the environment and the shell's variables ------------------

/// The dump commands to try in `sh`.
fn dumps(sh: &Shell) -> Vec<&'static str> {
    let mut d = vec!["env", "set"];
    match sh.program() {
        "bash" => d.extend(["typeset -p", "declare -p"]),
        "zsh" | "mksh" => d.push("typeset -p"),
        _ => {}
    }
    d
}

#[test]
fn dumping_env_set_and_typeset_never_ends_a_turn_early() {
    each(shells_and_plain_bash(), |sh| {
        each_case(sh, dumps(sh), |s, dump| {
            let dir = TempDir::new();
            let (a, b) = (dir.q("before"), dir.q("after"));
            let cmd = format!("{dump} > {a}; {dump}; {dump} > {b}; sleep 0.3; echo END");
            let r = run(s, sh, &cmd);
            let what = format!("{}: {dump:?}", sh.name());
            assert_eq!(r.exit_code, 0, "{what}: {r:?}");
            let Some(got) = r.output.strip_suffix("END\n") else {
                panic!("{what}: the output does not end with END: {:?}", r.output);
            };
            let (before, after) = (
                as_shown(sh, &dir.read("before")),
                as_shown(sh, &dir.read("after")),
            );
            same_dump(&what, got, &before, &after);
            second(s, sh, &cmd);
        });
    });
}

#[test]
fn grepping_the_prompt_out_of_set_keeps_the_turn_and_its_status() {
    each(shells_and_plain_bash(), |sh| {
        let s = sh.start();
        let dir = TempDir::new();
        let f = dir.q("ps1");
        let cmd = format!("set | grep PS1 > {f}; set | grep PS1; sleep 0.5; echo after; false");
        let r = run(&s, sh, &cmd);
        assert_eq!(
            (r.output.as_str(), r.exit_code),
            (format!("{}after\n", dir.read("ps1")).as_str(), 1),
            "{}",
            sh.name()
        );
        second(&s, sh, &cmd);
    });
}

// ---- 3: process listings, command lines and environments ------------------------

#[test]
fn process_listings_and_proc_files_never_end_a_turn() {
    let ps = has("ps");
    if !ps {
        skip_optional("ps is not installed; `ps -eo args` is not tried");
    }
    each(shells(), |sh| {
        let s = sh.start();
        let dir = TempDir::new();
        // Exactly known: the shell's own command line and environment.
        let f = dir.q("self");
        let mine = r"cat /proc/$$/cmdline /proc/$$/environ | tr '\0' '\n'";
        let cmd = format!("{mine} > {f}; {mine}; echo END");
        let r = run(&s, sh, &cmd);
        assert_eq!(r.exit_code, 0, "{}: {r:?}", sh.name());
        assert_same_text(
            &format!("{}: {cmd:?}", sh.name()),
            &r.output,
            &format!("{}END\n", dir.read("self")),
        );
        second(&s, sh, &cmd);
        // Changing by the moment: all the command lines of the host (other
        // tests' shells among them), and ps.
        let mut listings = vec![r"cat /proc/*/cmdline 2>/dev/null | tr '\0' '\n' | head -c 100000; echo END"];
        if ps {
            listings.push("ps -eo args; echo END");
        }
        for cmd in listings {
            let r = run(&s, sh, cmd);
            assert_eq!(r.exit_code, 0, "{}: {cmd:?}: {r:?}", sh.name());
            assert!(
                r.output.ends_with("END\n") && r.output.len() > 4,
                "{}: {cmd:?}: {:?}",
                sh.name(),
                r.output
            );
            second(&s, sh, cmd);
        }
    });
}

// ---- 4: the prompt variables, printed ------------------------------------------

#[test]
fn printing_the_prompt_variables_is_output_like_any_other() {
    each(shells_and_plain_bash(), |sh| {
        let s = sh.start();
        let dir = TempDir::new();
        let f = dir.q("prompts");
        let cmd =
            format!("printf '%s' \"$PS1\" > {f}; printf '%s' \"$PS2\" >> {f}; cat {f}; echo; echo done");
        let r = run(&s, sh, &cmd);
        assert_eq!(r.exit_code, 0, "{}: {r:?}", sh.name());
        assert_eq!(
            r.output,
            as_shown(sh, &format!("{}\ndone\n", dir.read("prompts"))),
            "{}",
            sh.name()
        );
        second(&s, sh, &cmd);
    });
}

// ---- 5: foreign OSC 133 sequences -------------------------------------------------

#[test]
fn foreign_osc_133_sequences_are_output_and_never_end_or_stall_a_turn() {
    let cases = vec![
        // ST-terminated, with a status
        (r"printf '\033]133;D;0\033\\'; echo x", "x\n"),
        // cut off: no terminator at all
        (r"printf '\033]133;'; echo y", "y\n"),
        // someone else's mark, with an aid
        (r"printf '\033]133;D;0;aid=zzz\007'; echo z", "z\n"),
        // prompt-start and command-start marks
        (r"printf '\033]133;A\007\033]133;B\007'; echo w", "w\n"),
        // nothing but those marks ("" stands for: no text but them)
        (r"printf '\033]133;A\007\033]133;B\007'", ""),
    ];
    each(shells_and_plain_bash(), |sh| {
        each_case(sh, cases.clone(), |s, &(cmd, last)| {
            // Within the generous timeout: `run_interrupt` is never needed.
            let r = match s.run_with(cmd, &keep_all()) {
                Ok(r) => r,
                Err(e) => panic!("{}: {cmd:?}: {e:?}", sh.name()),
            };
            assert_eq!(r.exit_code, 0, "{}: {cmd:?}: {r:?}", sh.name());
            // The foreign sequence may stay in the output as text.
            if last.is_empty() {
                let text = r
                    .output
                    .replace("\x1b]133;A\x07", "")
                    .replace("\x1b]133;B\x07", "");
                assert_eq!(text, "", "{}: {cmd:?}: {:?}", sh.name(), r.output);
            } else {
                assert!(r.output.ends_with(last), "{}: {cmd:?}: {:?}", sh.name(), r.output);
            }
            second(s, sh, cmd);
        });
    });
}

// ---- 6: history expansion ---------------------------------------------------------

#[test]
fn exclamation_marks_are_never_history_expanded() {
    each(only(&["bash", "zsh"], true), |sh| {
        let s = sh.start();
        exact(&s, sh, "echo secret-one", "secret-one\n", 0);
        exact(&s, sh, "echo \"value!e\"", "value!e\n", 0);
        exact(&s, sh, "false", "", 1);
        exact(&s, sh, "echo \"a!b\"", "a!b\n", 0);
        exact(&s, sh, "echo !!", "!!\n", 0);
        exact(&s, sh, "echo !-1 !$ ^x^y", "!-1 !$ ^x^y\n", 0);
        second(&s, sh, "echo !!");
    });
}

// ---- 7: tabs -------------------------------------------------------------------------

/// The tab checks; each command holds a literal TAB byte.
fn check_tabs(s: &Session, sh: &Shell) {
    exact(s, sh, "printf 'a\tb\\n'", "a\tb\n", 0);
    exact(s, sh, "x='a\tb'; printf '%s\\n' \"$x\"", "a\tb\n", 0);
    exact(s, sh, "cat <<'EOF'\n\tindented\nEOF", "\tindented\n", 0);
    exact(s, sh, "\techo leading-tab", "leading-tab\n", 0);
    second(s, sh, "tabs");
}

#[test]
fn tabs_are_typed_as_tabs_never_completed() {
    each(shells_and_plain_bash(), |sh| {
        let s = sh.start();
        check_tabs(&s, sh);
    });
}

// ---- 8: job-control notices ---------------------------------------------------------

#[test]
fn background_jobs_leave_no_notices_in_any_output() {
    each(shells_and_plain_bash(), |sh| {
        let s = sh.start();
        // bash and mksh say "[1] 12345" when the job starts: that is the
        // starting command's own output (a terminal shows it too), and the
        // only line it may have...
        let r = run(&s, sh, "sleep 0.1 &");
        let started = regex::Regex::new(r"^(\[1\] [0-9]+\n)?$").unwrap();
        assert!(started.is_match(&r.output), "{}: {r:?}", sh.name());
        assert_eq!(r.exit_code, 0, "{}", sh.name());
        // ...and no "[1]+ Done" when it ends, in this turn or a later one.
        exact(&s, sh, "sleep 0.5; echo next", "next\n", 0);
        exact(&s, sh, "echo clean", "clean\n", 0);
        exact(&s, sh, "wait; echo waited", "waited\n", 0);
        exact(&s, sh, "echo clean", "clean\n", 0);
        second(&s, sh, "wait");
    });
}

// ---- 9: a command that replaces the shell or its prompt --------------------------------

/// A run that must time out.
fn times_out(s: &Session, sh: &Shell, cmd: &str) {
    match s.run(cmd, Some(SHORT)) {
        Err(Error::RunTimeout { .. }) => {}
        other => panic!("{}: {cmd:?} should time out: {other:?}", sh.name()),
    }
}

/// `run_abandon` must bring the shell back.
fn abandon(s: &Session, sh: &Shell, after: &str) {
    if let Err(e) = s.run_abandon(T) {
        panic!("{}: run_abandon after {after:?}: {e:?}", sh.name());
    }
}

#[test]
fn exec_of_another_shell_is_abandoned_and_the_new_shell_set_up() {
    each(shells(), |sh| {
        let s = sh.start();
        exact(&s, sh, "echo first", "first\n", 0);
        // The new shell's prompt is its own, not a mark.
        times_out(&s, sh, "exec sh");
        abandon(&s, sh, "exec sh");
        exact(&s, sh, "echo back", "back\n", 0);
        exact(&s, sh, "false", "", 1);
        second(&s, sh, "exec sh");
    });
}

#[test]
fn exec_of_a_different_shell_is_abandoned_and_that_shell_set_up() {
    // From bash into dash: another shell than the one started.
    each(only(&["bash"], false), |sh| {
        if !has("dash") {
            return; // reported by shells()
        }
        let s = sh.start();
        exact(&s, sh, "echo first", "first\n", 0);
        times_out(&s, sh, "exec dash");
        abandon(&s, sh, "exec dash");
        exact(&s, sh, "echo back", "back\n", 0);
        second(&s, sh, "exec dash");
    });
}

#[test]
fn exec_of_a_program_that_is_not_a_shell_is_then_refused_not_busy() {
    if !has("python3") {
        skip_optional("python3 is not installed");
        return;
    }
    each(only(&["sh", "bash"], false), |sh| {
        let s = sh.start();
        exact(&s, sh, "echo first", "first\n", 0);
        times_out(&s, sh, "exec python3");
        // Whether run_abandon itself reports an error is not tested here;
        // it must return, and leave no run pending.
        let _ = s.run_abandon(T);
        match s.run("echo x", T) {
            Err(Error::UnsupportedShell { .. }) => {}
            other => panic!(
                "{}: after exec python3: want UnsupportedShell, got {other:?}",
                sh.name()
            ),
        }
    });
}

#[test]
fn a_prompt_replaced_by_the_command_is_abandoned_and_set_up_again() {
    each(shells(), |sh| {
        let s = sh.start();
        exact(&s, sh, "echo first", "first\n", 0);
        times_out(&s, sh, "PS1='$ '");
        abandon(&s, sh, "PS1='$ '");
        exact(&s, sh, "echo back", "back\n", 0);
        second(&s, sh, "PS1='$ '");
    });
}

#[test]
fn turning_the_line_editor_back_on_is_repaired_by_abandon() {
    each(only(&["bash"], true), |sh| {
        let s = sh.start();
        // Turning readline on may print its own switches (bracketed
        // paste): only those, and no text. Later commands then go through
        // readline (which draws around them) until `run_abandon` sets the
        // shell up again.
        let r = run(&s, sh, "set -o vi");
        assert_eq!(r.exit_code, 0, "{}: {r:?}", sh.name());
        assert_eq!(without_csi(&r.output), "", "{}: set -o vi", sh.name());
        abandon(&s, sh, "set -o vi");
        check_tabs(&s, sh);
        exact(&s, sh, "echo \"a!b\"", "a!b\n", 0);
        exact(&s, sh, "echo !!", "!!\n", 0);
        let r = run(&s, sh, "set -o emacs");
        assert_eq!(r.exit_code, 0, "{}: {r:?}", sh.name());
        assert_eq!(without_csi(&r.output), "", "{}: set -o emacs", sh.name());
        abandon(&s, sh, "set -o emacs");
        check_tabs(&s, sh);
        exact(&s, sh, "echo \"a!b\"", "a!b\n", 0);
        second(&s, sh, "set -o emacs");
    });
}

// ---- 10: never returns; the shell exits -------------------------------------------------

#[test]
fn a_command_that_never_returns_is_interrupted_and_the_next_turn_is_clean() {
    each(shells(), |sh| {
        let s = sh.start();
        exact(&s, sh, "echo first", "first\n", 0);
        times_out(&s, sh, "sleep 1000");
        let r = s
            .run_interrupt(T)
            .unwrap_or_else(|e| panic!("{}: run_interrupt: {e:?}", sh.name()));
        assert_eq!(r.exit_code, 130, "{}: {r:?}", sh.name());
        assert_eq!(s.run_in_flight().unwrap(), None, "{}", sh.name());
        second(&s, sh, "sleep 1000");
    });
}

#[test]
fn a_shell_that_exits_is_a_typed_error_and_so_is_every_later_run() {
    each(shells(), |sh| {
        let s = sh.start();
        exact(&s, sh, "echo first", "first\n", 0);
        let (name, s2) = (sh.name(), s.clone());
        let (exited, later) =
            common::within(LONG * 3, move || (s2.run("exit 3", T), s2.run("echo after", T)));
        match exited {
            Err(Error::RunShellExited { status, .. }) => {
                assert_eq!(status, ExitStatus::Exited(3), "{name}");
            }
            other => panic!("{name}: exit 3: {other:?}"),
        }
        match later {
            Err(Error::SessionExited { .. } | Error::RunShellExited { .. } | Error::SessionClosed { .. }) => {
            }
            other => panic!("{name}: a run after the shell exited: {other:?}"),
        }
    });
}

// ---- 11: refused before anything is typed --------------------------------------------------

#[test]
fn lone_carriage_returns_and_overlong_lines_are_refused_and_nothing_is_sent() {
    each(shells(), |sh| {
        let s = sh.start();
        exact(&s, sh, "echo first", "first\n", 0);
        for cmd in ["echo a\rb", "echo a\r", "\r", "echo a\r\recho b"] {
            match s.run(cmd, T) {
                Err(Error::InvalidRunCommand { command, .. }) => assert_eq!(command, cmd),
                other => panic!("{}: {cmd:?}: {other:?}", sh.name()),
            }
            assert_eq!(s.run_in_flight().unwrap(), None, "{}", sh.name());
        }
        second(&s, sh, "a lone CR");
        let long = format!("echo {}", "x".repeat(4995));
        assert_eq!(long.len(), 5000);
        match s.run(&long, T) {
            Err(Error::LineTooLong { .. }) => {}
            other => panic!("{}: a 5000-byte line: {other:?}", sh.name()),
        }
        assert_eq!(s.run_in_flight().unwrap(), None, "{}", sh.name());
        second(&s, sh, "a 5000-byte line");
    });
}

// ---- 12: lossless under load ----------------------------------------------------------------

/// Threads that spin on every core until dropped.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl Load {
    fn new(n: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut spins = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        spins = spins.wrapping_add(1);
                        std::hint::spin_loop();
                    }
                    spins
                })
            })
            .collect();
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn big_output_under_cpu_load_is_kept_whole() {
    let want: String = (1..=2_000_000u32).map(|n| format!("{n}\n")).collect();
    // Generous: 15 MB through a terminal on 2 loaded cores.
    let options = RunOptions::new()
        .timeout(Some(LONG * 6))
        .head_bytes(KEEP_ALL)
        .tail_bytes(KEEP_ALL);
    let sh = Shell {
        argv: vec!["sh"],
        plain: false,
    };
    for ring in [None, Some(4096)] {
        let mut b = SessionBuilder::new(["sh"]).env("HISTFILE", "/dev/null").for_run();
        if let Some(bytes) = ring {
            b = b.max_buffer_bytes(bytes);
        }
        let s = b.spawn().unwrap();
        exact(&s, &sh, "echo first", "first\n", 0);
        let load = Load::new(2);
        let r = s.run_with("seq 1 2000000", &options);
        drop(load);
        let r = r.unwrap_or_else(|e| panic!("ring {ring:?}: {e:?}"));
        let what = format!("ring {ring:?}");
        assert_eq!(r.exit_code, 0, "{what}");
        assert_eq!((r.missed_bytes, r.elided_bytes), (0, 0), "{what}: lost output");
        assert_eq!(r.total_bytes, want.len() as u64, "{what}");
        assert_same_text(&what, &r.output, &want);
        second(&s, &sh, "seq 1 2000000");
    }
}

// ---- 13: the shell presets of Repl ------------------------------------------------------------

#[test]
fn repl_shells_survive_dumps_of_their_prompts() {
    type Start = fn() -> bgterm::Result<Repl>;
    let mut repls: Vec<(&str, Start)> = vec![("sh", Repl::sh)];
    if common::require("bash") {
        repls.push(("bash", Repl::bash));
    }
    let mut failed = Vec::new();
    for (name, start) in repls {
        let why = failure(|| {
            let mut repl = start().unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let dir = TempDir::new();
            let mut eval = |input: &str| {
                repl.eval(input, LONG)
                    .unwrap_or_else(|e| panic!("{name}: {input:?}: {e:?}"))
                    .text
            };
            let (a, b) = (dir.q("env"), dir.q("env-after"));
            let input = format!("env > {a}; env; env > {b}; sleep 0.3; echo END");
            let text = eval(&input);
            let Some(got) = text.strip_suffix("END\n") else {
                panic!("{name}: {input:?}: the reply does not end with END: {text:?}");
            };
            // (`$_` in the environment changes from one command to the
            // next: lines that differ between the two files are skipped.)
            same_dump(
                &format!("{name}: {input:?}"),
                got,
                &dir.read("env"),
                &dir.read("env-after"),
            );
            assert_eq!(eval("echo second"), "second\n", "{name}: after {input:?}");

            let f = dir.q("ps2");
            let input = format!("set | grep PS2 > {f}; set | grep PS2; echo after");
            let text = eval(&input);
            assert!(text.ends_with("after\n"), "{name}: {input:?}: {text:?}");
            assert_eq!(text, format!("{}after\n", dir.read("ps2")), "{name}: {input:?}");
            assert_eq!(eval("echo second"), "second\n", "{name}: after {input:?}");

            let f = dir.q("ps1");
            let input = format!("set | grep PS1 > {f}; set | grep PS1; echo after; false");
            let text = eval(&input);
            assert_eq!(text, format!("{}after\n", dir.read("ps1")), "{name}: {input:?}");
            assert_eq!(eval("echo second"), "second\n", "{name}: after {input:?}");
        });
        failed.extend(why.map(|w| format!("Repl::{name}: {w}")));
    }
    assert!(failed.is_empty(), "failed:\n{}", failed.join("\n"));
}
