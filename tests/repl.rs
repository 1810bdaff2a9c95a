//! `Repl` against the real programs: python3, ipython, node, sqlite3, bash
//! and sh. Each gets 100 consecutive evals, every one checked for exactly
//! the expected reply; a program that is not installed is reported on
//! stderr as SKIPPED (`.ci/run` installs what it can).
//!
//! No test sleeps: every wait is a bounded, event-driven `eval`, `resume`
//! or `interrupt` (a timeout is only provoked where the timeout itself is
//! under test).

use std::io::Write as _;
use std::time::Duration;

use bgterm::{Error, Repl, ReplBuilder, Reply, SessionEvent};

/// Generous bound for one turn on a loaded 2-core machine.
const T: Duration = Duration::from_secs(30);

/// Whether `program` is on PATH; if not, says so on stderr.
fn have(program: &str, test: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()));
    if !found {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {test}: `{program}` is not installed (.ci/run installs it)"
        );
    }
    found
}

/// The reply has no control sequence and no control character but `\n`
/// and `\t`.
fn assert_clean(r: &Reply, input: &str) {
    assert!(
        r.text.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'),
        "control character in the reply to {input:?}: {:?}",
        r.text
    );
}

/// Runs `cases` round-robin for 100 evals; case `k` of round `i` is built
/// by `case(i, k)` as (input, expected reply).
fn hundred(repl: &mut Repl, kinds: usize, case: impl Fn(usize, usize) -> (String, String)) {
    for n in 0..100 {
        let (i, k) = (n / kinds, n % kinds);
        let (input, want) = case(i, k);
        let r = repl
            .eval(&input, T)
            .unwrap_or_else(|e| panic!("eval {n} ({input:?}) failed: {e}"));
        assert_eq!(r.text, want, "eval {n}: {input:?}; raw {:?}", r.raw);
        assert_clean(&r, &input);
        assert!(r.end_offset >= r.start_offset);
        assert_eq!(r.dropped_bytes, 0);
    }
}

#[test]
fn python_hundred_evals() {
    if !have("python3", "python_hundred_evals") {
        return;
    }
    let mut py = Repl::python().expect("python3");
    assert!(py.prompt().starts_with("[bg:") && py.prompt().len() <= 19);
    hundred(&mut py, 8, |i, k| match k {
        0 => (format!("{i} * 7 + 3"), format!("{}\n", i * 7 + 3)),
        1 => (
            format!("def f{i}(x):\n    y = x + {i}\n    return y * 2"),
            String::new(),
        ),
        2 => (format!("f{i}(1)"), format!("{}\n", (1 + i) * 2)),
        3 => (
            format!("raise ValueError('bad {i}')"),
            format!(
                "Traceback (most recent call last):\n  File \"<stdin>\", line 1, in <module>\nValueError: bad {i}\n"
            ),
        ),
        4 => (format!("x{i} = {i}"), String::new()),
        5 => (format!("print('no-nl-{i}', end='')"), format!("no-nl-{i}")),
        6 => (
            format!("print('héllo 日本 {i} 🎉')"),
            format!("héllo 日本 {i} 🎉\n"),
        ),
        // Several statements and a class with a blank line at the end.
        _ => (
            format!("class C{i}:\n    def m(self):\n        return {i}\n\nc = C{i}()\nc.m() + x{i}\n"),
            format!("{}\n", 2 * i),
        ),
    });
}

#[test]
fn ipython_hundred_evals() {
    if !have("ipython", "ipython_hundred_evals") {
        return;
    }
    let mut ip = Repl::ipython().expect("ipython");
    hundred(&mut ip, 7, |i, k| {
        // IPython numbers the cells it runs: eval n is cell n + 1.
        let cell = i * 7 + k + 1;
        match k {
            0 => (format!("{i} * 7 + 3"), format!("{}\n", i * 7 + 3)),
            1 => (
                format!("def f{i}(x):\n    y = x + {i}\n    return y * 2"),
                String::new(),
            ),
            2 => (format!("f{i}(1)"), format!("{}\n", (1 + i) * 2)),
            3 => (
                format!("raise ValueError('bad {i}')"),
                format!(
                    "{dashes}\nValueError{pad}Traceback (most recent call last)\nCell In[{cell}], line 1\n----> 1 raise ValueError('bad {i}')\n\nValueError: bad {i}\n",
                    dashes = "-".repeat(75),
                    pad = " ".repeat(32),
                ),
            ),
            4 => (format!("x{i} = {i}"), String::new()),
            5 => (format!("print('no-nl-{i}', end='')"), format!("no-nl-{i}")),
            _ => (
                format!("print('héllo 日本 {i} 🎉')"),
                format!("héllo 日本 {i} 🎉\n"),
            ),
        }
    });
}

#[test]
fn node_hundred_evals() {
    if !have("node", "node_hundred_evals") {
        return;
    }
    let mut node = Repl::node().expect("node");
    hundred(&mut node, 8, |i, k| match k {
        0 => (format!("{i} * 7 + 3"), format!("{}\n", i * 7 + 3)),
        1 => (
            format!(
                "function f{i}(x) {{\n  const y = x + {i};\n  if (y > 0) {{\n    return y * 2;\n  }}\n  return 0;\n}}"
            ),
            String::new(),
        ),
        2 => (format!("f{i}(1)"), format!("{}\n", (1 + i) * 2)),
        3 => (
            format!("throw new Error('bad {i}')"),
            format!("Uncaught Error: bad {i}\n"),
        ),
        4 => (format!("let x{i} = {i}"), String::new()),
        5 => (
            format!("process.stdout.write('no-nl-{i}'); undefined"),
            format!("no-nl-{i}"),
        ),
        6 => (
            format!("console.log('héllo 日本 {i} 🎉')"),
            format!("héllo 日本 {i} 🎉\n"),
        ),
        _ => (format!("'s' + 'é{i}'"), format!("'sé{i}'\n")),
    });
}

#[test]
fn sqlite3_hundred_evals() {
    if !have("sqlite3", "sqlite3_hundred_evals") {
        return;
    }
    let mut db = Repl::sqlite3().expect("sqlite3");
    assert!(db.banner().starts_with("SQLite version"), "{:?}", db.banner());
    hundred(&mut db, 6, |i, k| match k {
        0 => (format!("select {i} * 7 + 3;"), format!("{}\n", i * 7 + 3)),
        1 => (
            format!(
                "create table t{i}(a, b);\ninsert into t{i} values ({i}, 'x');\nselect a, b\n  from t{i};"
            ),
            format!("{i}|x\n"),
        ),
        2 => (
            format!("selec {i};"),
            format!("Parse error: near \"selec\": syntax error\n  selec {i};\n  ^--- error here\n"),
        ),
        3 => (format!("create table u{i}(a);"), String::new()),
        4 => (format!(".system printf no-nl-{i}"), format!("no-nl-{i}")),
        _ => (
            format!("select 'héllo 日本 {i} 🎉';"),
            format!("héllo 日本 {i} 🎉\n"),
        ),
    });
}

/// The cases for a POSIX shell.
fn shell_case(i: usize, k: usize) -> (String, String) {
    match k {
        0 => (format!("echo $(( {i} * 7 + 3 ))"), format!("{}\n", i * 7 + 3)),
        1 => (format!("f{i}() {{\n  echo \"f $1 {i}\"\n}}"), String::new()),
        2 => (format!("f{i} x"), format!("f x {i}\n")),
        3 => (
            format!("LC_ALL=C ls /nonexistent-{i}"),
            format!("ls: cannot access '/nonexistent-{i}': No such file or directory\n"),
        ),
        4 => (format!("x{i}={i}"), String::new()),
        5 => (format!("printf 'no-nl-%s' $x{i}"), format!("no-nl-{i}")),
        6 => (
            format!("echo 'héllo 日本 {i} 🎉'"),
            format!("héllo 日本 {i} 🎉\n"),
        ),
        // `$?` is the previous command's status: nothing is injected.
        _ => ("false\necho \"status $?\"".to_string(), "status 1\n".to_string()),
    }
}

#[test]
fn bash_hundred_evals() {
    if !have("bash", "bash_hundred_evals") {
        return;
    }
    let mut bash = Repl::bash().expect("bash");
    hundred(&mut bash, 8, shell_case);
}

#[test]
fn sh_hundred_evals() {
    if !have("sh", "sh_hundred_evals") {
        return;
    }
    let mut sh = Repl::sh().expect("sh");
    hundred(&mut sh, 8, shell_case);
}

#[test]
fn timeout_keeps_the_partial_reply_and_resume_finishes_the_turn() {
    let mut sh = Repl::sh().expect("sh");
    // The turn prints, then blocks on `read` until we let it go.
    let err = sh
        .eval(
            "echo before; read go; echo \"after $go\"",
            Duration::from_millis(300),
        )
        .unwrap_err();
    let Error::ReplTimeout { partial, raw, id, .. } = &err else {
        panic!("expected ReplTimeout, got {err:?}");
    };
    assert_eq!(partial, "before\n");
    assert!(raw.contains("before"), "{raw:?}");
    assert_eq!(*id, sh.session().id());
    assert_eq!(err.session(), Some(sh.session().id()));
    assert!(err.is_timeout() && sh.is_busy());
    // While the turn is open, a new eval is refused and sends nothing.
    assert!(matches!(sh.eval("echo no", T), Err(Error::ReplBusy { .. })));
    // Still not finished: a second timeout, same turn, same partial.
    match sh.resume(Duration::from_millis(100)) {
        Err(Error::ReplTimeout { partial, .. }) => assert_eq!(partial, "before\n"),
        other => panic!("expected a second timeout, got {other:?}"),
    }
    sh.session().send("yes\n").expect("send");
    let r = sh.resume(T).expect("resume");
    // The whole turn's reply: what came before the timeout and the rest.
    // (The shell presets run with the terminal's echo off, so the input
    // typed meanwhile is not in the reply.)
    assert_eq!(r.text, "before\nafter yes\n");
    assert!(!sh.is_busy());
    assert!(matches!(sh.resume(T), Err(Error::ReplIdle { .. })));
    assert_eq!(sh.eval("echo next", T).expect("next").text, "next\n");
}

#[test]
fn resume_after_input_typed_during_the_turn() {
    // The turn waits for a line of input that the caller types through
    // the session meanwhile; the reply has it all, in order.
    if !have("python3", "resume_after_input_typed_during_the_turn") {
        return;
    }
    let mut py = Repl::python().expect("python3");
    let err = py
        .eval("print('start', flush=True); input()", Duration::from_millis(500))
        .unwrap_err();
    assert!(
        matches!(&err, Error::ReplTimeout { partial, .. } if partial == "start\n"),
        "{err:?}"
    );
    py.session().send("typed\n").expect("send");
    let r = py.resume(T).expect("resume");
    assert_eq!(r.text, "start\ntyped\n'typed'\n");
    assert_eq!(py.eval("2 + 2", T).expect("eval").text, "4\n");
}

#[test]
fn interrupt_python_bash_node() {
    if have("python3", "interrupt_python_bash_node (python3)") {
        let mut py = Repl::python().expect("python3");
        let err = py
            .eval("import time; time.sleep(600)", Duration::from_millis(300))
            .unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        let r = py.interrupt(T).expect("interrupt");
        assert!(
            r.text.starts_with("^CTraceback (most recent call last):\n")
                && r.text.ends_with("KeyboardInterrupt\n"),
            "{:?}",
            r.text
        );
        assert_eq!(py.eval("'still here'", T).expect("eval").text, "'still here'\n");
        // With no turn open: the program's answer to Ctrl-C at its prompt.
        assert_eq!(
            py.interrupt(T).expect("idle interrupt").text,
            "\nKeyboardInterrupt\n"
        );
        assert_eq!(py.eval("1", T).expect("eval").text, "1\n");
    }
    if have("bash", "interrupt_python_bash_node (bash)") {
        let mut bash = Repl::bash().expect("bash");
        let err = bash.eval("sleep 600", Duration::from_millis(300)).unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        let r = bash.interrupt(T).expect("interrupt");
        // Echo is off in the shell presets: no `^C` is drawn; bash ends
        // the interrupted line.
        assert_eq!(r.text, "\n");
        assert_eq!(r.exit_code, Some(130));
        assert_eq!(bash.eval("echo $?", T).expect("status").text, "130\n");
    }
    if have("node", "interrupt_python_bash_node (node)") {
        let mut node = Repl::node().expect("node");
        assert!(
            node.eval("while (true) {}", Duration::from_millis(300))
                .unwrap_err()
                .is_timeout()
        );
        let r = node.interrupt(T).expect("interrupt");
        assert!(
            r.text.contains("Script execution was interrupted by `SIGINT`"),
            "{:?}",
            r.text
        );
        assert_eq!(node.eval("1 + 1", T).expect("eval").text, "2\n");
    }
}

#[test]
fn exit_during_a_turn_is_a_typed_error_with_output_and_status() {
    // sh is always there (POSIX); `exit` in dash prints nothing.
    let mut sh = Repl::sh().expect("sh");
    let err = sh.eval("echo bye; exit 3", T).unwrap_err();
    match &err {
        Error::ReplExited { status, output, .. } => {
            assert_eq!(status.code(), Some(3));
            assert!(output.starts_with("bye\n"), "{output:?}");
        }
        other => panic!("expected ReplExited, got {other:?}"),
    }
    if !have("bash", "exit_during_a_turn (bash)") {
        return;
    }
    let mut bash = Repl::bash().expect("bash");
    let err = bash.eval("echo bye; exit 3", T).unwrap_err();
    match &err {
        Error::ReplExited {
            status, output, id, ..
        } => {
            assert_eq!(status.code(), Some(3));
            assert_eq!(output, "bye\nexit\n");
            assert_eq!(*id, bash.session().id());
        }
        other => panic!("expected ReplExited, got {other:?}"),
    }
    assert_eq!(err.session(), Some(bash.session().id()));
    // The program is gone: the next eval cannot send.
    assert!(matches!(bash.eval("echo", T), Err(Error::SessionExited { .. })));
    if have("python3", "exit_during_a_turn (python3)") {
        let mut py = Repl::python().expect("python3");
        match py.eval("print('last words'); raise SystemExit(7)", T) {
            Err(Error::ReplExited { status, output, .. }) => {
                assert_eq!(status.code(), Some(7));
                assert_eq!(output, "last words\n");
            }
            other => panic!("expected ReplExited, got {other:?}"),
        }
    }
}

#[test]
fn unfinished_input_is_cancelled_or_left_to_continue() {
    if have("python3", "unfinished_input (python3)") {
        let mut py = Repl::python().expect("python3");
        match py.eval("print((1 +", T) {
            Err(Error::ReplIncomplete { input, cancelled, .. }) => {
                assert_eq!(input, "print((1 +");
                assert!(cancelled);
            }
            other => panic!("expected ReplIncomplete, got {other:?}"),
        }
        assert_eq!(py.eval("3 + 4", T).expect("after").text, "7\n");
    }
    let mut sh = Repl::sh().expect("sh");
    assert!(matches!(
        sh.eval("if true; then", T),
        Err(Error::ReplIncomplete { cancelled: true, .. })
    ));
    assert_eq!(sh.eval("echo fine", T).expect("after").text, "fine\n");
    if have("sqlite3", "unfinished_input (sqlite3)") {
        let mut db = Repl::sqlite3().expect("sqlite3");
        // sqlite3 ignores Ctrl-C here: the statement waits for its `;`.
        assert!(matches!(
            db.eval("select 40 + 2", T),
            Err(Error::ReplIncomplete { cancelled: false, .. })
        ));
        assert_eq!(db.eval(";", T).expect("rest").text, "42\n");
    }
}

#[test]
fn custom_programs_by_prompt_and_by_setup() {
    let prog = "while printf 'calc> ' && read -r x; do echo $((x * 2)); done";
    let mut calc = Repl::new(prog, "calc> ", None).expect("calc");
    for n in 0..20 {
        assert_eq!(
            calc.eval(&n.to_string(), T).expect("calc").text,
            format!("{}\n", n * 2)
        );
    }
    assert_eq!(calc.continuation(), None);
    // An empty input is one empty line: the program prompts again.
    assert_eq!(calc.eval("", T).expect("empty").text, "0\n");

    // The setup input mentions the new prompt; its echo must be skipped.
    let mut sh = ReplBuilder::new(["sh", "-i"], "NEW> ")
        .env("PS1", "old$ ")
        .env_remove("ENV")
        .setup("old$ ", "PS1='NEW> '; PS2='MORE> '")
        .continuation("MORE> ")
        .spawn()
        .expect("setup");
    assert_eq!(sh.eval("echo a\necho b", T).expect("two lines").text, "a\nb\n");
    assert_eq!(
        sh.eval("if true; then\necho c\nfi", T).expect("block").text,
        "c\n"
    );
}

#[test]
fn stray_output_between_turns_is_kept_apart() {
    let mut sh = Repl::sh().expect("sh");
    // Bypass the Repl: a command whose output arrives between turns. Wait
    // for it (and the prompt after it) on an event stream, which does not
    // move the unread cursor.
    let events = sh.session().subscribe().expect("subscribe");
    sh.session().send("echo between\n").expect("send");
    let mut seen = String::new();
    while !seen.contains(&format!("between\r\n{}", sh.prompt())) {
        match events.recv_timeout(T).expect("event") {
            SessionEvent::Output { text, .. } => seen += &text,
            other => panic!("unexpected {other:?}"),
        }
    }
    let r = sh.eval("echo mine", T).expect("eval");
    assert_eq!(r.text, "mine\n");
    assert!(r.stray.contains("between"), "{:?}", r.stray);
}

#[test]
fn bad_prompts_and_a_program_that_never_prompts() {
    let err = ReplBuilder::new(["cat"], "").spawn().unwrap_err();
    assert!(
        matches!(&err, Error::InvalidPrompt { prompt, .. } if prompt.is_empty()),
        "{err:?}"
    );
    let err = ReplBuilder::new(["cat"], "> ")
        .continuation(">")
        .spawn()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidPrompt { prompt, .. } if prompt == ">"),
        "{err:?}"
    );
    let err = ReplBuilder::new(["cat"], "never> ")
        .start_timeout(Duration::from_millis(200))
        .spawn()
        .unwrap_err();
    assert!(
        matches!(&err, Error::WaitTimeout { patterns, .. } if patterns.contains("never> ")),
        "{err:?}"
    );
    let err = ReplBuilder::new("echo no prompt here", "never> ")
        .spawn()
        .unwrap_err();
    assert!(
        matches!(&err, Error::ExitedBeforeMatch { tail, .. } if tail.contains("no prompt here")),
        "{err:?}"
    );
    let err = ReplBuilder::new(["no-such-program-bgterm"], "> ")
        .spawn()
        .unwrap_err();
    assert!(matches!(err, Error::ProgramNotFound { .. }), "{err:?}");
}

/// With a real terminal type the programs draw with control sequences
/// (bash's bracketed-paste switches, node's cursor moves and colours): the
/// replies are still exact and clean; the raw text keeps the sequences.
#[test]
fn replies_are_clean_with_a_colour_terminal_too() {
    let mut bash = ReplBuilder::bash()
        .env("TERM", "xterm-256color")
        .spawn()
        .expect("bash");
    for i in 0..20 {
        let (input, want) = shell_case(i / 8, i % 8);
        let r = bash.eval(&input, T).expect("bash eval");
        assert_eq!(r.text, want, "{input:?}; raw {:?}", r.raw);
        assert_clean(&r, &input);
        // The shell presets run bash without its line editor: nothing is
        // drawn around the output at all.
        assert!(!r.raw.contains("\x1b[?2004"), "{:?}", r.raw);
    }
    if have("node", "replies_are_clean_with_a_colour_terminal_too (node)") {
        let mut node = ReplBuilder::node()
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .spawn()
            .expect("node");
        for i in 0..20 {
            let r = node.eval(&format!("{i} * 3"), T).expect("node eval");
            assert_eq!(r.text, format!("{}\n", i * 3), "raw {:?}", r.raw);
            assert_clean(&r, "node");
            assert!(r.raw.contains('\x1b'), "node drew no sequences: {:?}", r.raw);
        }
    }
}

/// `/proc/<pid>/<file>` of the REPL's own process, NULs as line ends: what
/// the program prints when asked for its own command line or environment.
fn proc_lines(repl: &Repl, file: &str) -> String {
    let pid = repl.session().pid();
    let bytes = std::fs::read(format!("/proc/{pid}/{file}")).expect("read /proc");
    String::from_utf8(bytes).expect("utf-8").replace('\0', "\n")
}

/// Output that shows the program's own command line and environment (and,
/// for Python, every process's arguments) is a reply like any other: the
/// prompt is in none of them, so the turn ends at the real prompt and the
/// next eval gets exactly its own answer.
#[test]
fn own_command_line_and_environment_cannot_forge_the_prompt() {
    if have("python3", "own_command_line (python3)") {
        let mut py = Repl::python().expect("python3");
        for file in ["cmdline", "environ"] {
            let input = format!("print(open('/proc/self/{file}').read().replace(chr(0), chr(10)), end='')");
            let want = proc_lines(&py, file);
            assert_eq!(py.eval(&input, T).expect(file).text, want, "{file}");
            assert_eq!(py.eval("1+1", T).expect("next").text, "2\n");
        }
        if have("ps", "own_command_line (ps)") {
            let r = py
                .eval(
                    "import subprocess; print(subprocess.run(['ps', '-eo', 'args'], capture_output=True, text=True).stdout, end='')",
                    T,
                )
                .expect("ps");
            assert!(r.text.starts_with("COMMAND\n"), "{:?}", r.text);
            assert!(r.text.contains("python3 -q -i -c"), "{:?}", r.text);
            assert_eq!(py.eval("1+1", T).expect("after ps").text, "2\n");
        }
    }
    if have("ipython", "own_command_line (ipython)") {
        let mut ip = Repl::ipython().expect("ipython");
        for file in ["cmdline", "environ"] {
            let input = format!("print(open('/proc/self/{file}').read().replace(chr(0), chr(10)), end='')");
            let want = proc_lines(&ip, file);
            assert_eq!(ip.eval(&input, T).expect(file).text, want, "{file}");
            assert_eq!(ip.eval("1+1", T).expect("next").text, "2\n");
        }
    }
    if have("node", "own_command_line (node)") {
        let mut node = Repl::node().expect("node");
        for file in ["cmdline", "environ"] {
            let input = format!(
                "process.stdout.write(require('fs').readFileSync('/proc/self/{file}', 'utf8').split('\\0').join('\\n'))"
            );
            let want = proc_lines(&node, file);
            // `write` returns true, which the REPL prints.
            assert_eq!(node.eval(&input, T).expect(file).text, want + "true\n", "{file}");
            assert_eq!(node.eval("1+1", T).expect("next").text, "2\n");
        }
    }
    if have("sqlite3", "own_command_line (sqlite3)") {
        let mut db = Repl::sqlite3().expect("sqlite3");
        for file in ["cmdline", "environ"] {
            // The shell that `.shell` starts is the sqlite3 process's
            // child. The reply drops the NULs (control characters).
            let input = format!(".shell cat /proc/$PPID/{file}");
            let want = proc_lines(&db, file).replace('\n', "");
            assert_eq!(db.eval(&input, T).expect(file).text, want, "{file}");
            assert_eq!(db.eval("select 1+1;", T).expect("next").text, "2\n");
        }
    }
}

/// Every printable ASCII character, tabs, and some UTF-8: what a line of
/// input carries. Returned raw, and escaped for a double-quoted Python or
/// JavaScript string literal.
fn every_byte() -> (String, String) {
    let raw: String = (0x20u8..=0x7e)
        .map(char::from)
        .chain("\ttab\t!\\'\"héllo 日本 🎉\t".chars())
        .collect();
    let escaped = raw.replace('\\', "\\\\").replace('"', "\\\"");
    (raw, escaped)
}

/// A tab is a character like any other (no line editor completes on it),
/// and every other printable byte arrives as written.
#[test]
fn tabs_and_every_printable_byte_arrive_as_written() {
    let (raw, escaped) = every_byte();
    for (name, make) in [
        ("python3", Repl::python as fn() -> bgterm::Result<Repl>),
        ("ipython", Repl::ipython),
    ] {
        if !have(name, "tabs_and_every_printable_byte") {
            continue;
        }
        let mut py = make().expect(name);
        assert_eq!(py.eval("print('a\tb')", T).expect("tab").text, "a\tb\n", "{name}");
        assert_eq!(py.eval("x = '''a\tb'''", T).expect("assign").text, "", "{name}");
        assert_eq!(
            py.eval("print(repr(x))", T).expect("repr").text,
            "'a\\tb'\n",
            "{name}"
        );
        // A tab where a line editor would complete a name.
        assert_eq!(
            py.eval("len(x)\t+ 1", T).expect("after a name").text,
            "4\n",
            "{name}"
        );
        let r = py.eval(&format!("print(\"{escaped}\")"), T).expect("every byte");
        assert_eq!(r.text, format!("{raw}\n"), "{name}");
        assert_eq!(py.eval("1+1", T).expect("next").text, "2\n", "{name}");
    }
    if have("node", "tabs_and_every_printable_byte (node)") {
        let mut node = Repl::node().expect("node");
        assert_eq!(node.eval("console.log('a\tb')", T).expect("tab").text, "a\tb\n");
        assert_eq!(node.eval("let x = 'a\tb'", T).expect("assign").text, "");
        assert_eq!(node.eval("x.length\t+ 1", T).expect("after a name").text, "4\n");
        assert_eq!(node.eval("\tx.length", T).expect("leading tab").text, "3\n");
        let r = node
            .eval(&format!("console.log(\"{escaped}\")"), T)
            .expect("every byte");
        assert_eq!(r.text, format!("{raw}\n"));
        assert_eq!(node.eval("1+1", T).expect("next").text, "2\n");
    }
    if have("sqlite3", "tabs_and_every_printable_byte (sqlite3)") {
        let mut db = Repl::sqlite3().expect("sqlite3");
        // Its readline init file is private and gone once it prompted.
        let env = proc_lines(&db, "environ");
        let inputrc = env
            .lines()
            .find_map(|l| l.strip_prefix("INPUTRC="))
            .expect("INPUTRC");
        assert!(inputrc.contains("bgterm-inputrc-"), "{inputrc}");
        assert!(!std::path::Path::new(inputrc).exists(), "{inputrc} is left");
        assert_eq!(db.eval("select 'a\tb';", T).expect("tab").text, "a\tb\n");
        assert_eq!(
            db.eval("select\tlength('a\tb');", T)
                .expect("after a keyword")
                .text,
            "3\n"
        );
        let r = db
            .eval(&format!("select '{}';", raw.replace('\'', "''")), T)
            .expect("every byte");
        assert_eq!(r.text, format!("{raw}\n"));
        assert_eq!(db.eval("select 1+1;", T).expect("next").text, "2\n");
    }
}

/// A lone `\r` (the terminal would end the line there) and the control
/// characters a terminal or a line editor acts on are refused, naming the
/// byte and where it is; nothing is sent, and the turns stay in step.
#[test]
fn control_characters_in_input_are_refused_and_nothing_is_sent() {
    if !have("python3", "control_characters_in_input") {
        return;
    }
    let mut py = Repl::python().expect("python3");
    match py.eval("1\r2", T) {
        Err(Error::InvalidInput {
            input,
            byte,
            position,
            ..
        }) => {
            assert_eq!((input.as_str(), byte, position), ("1\r2", b'\r', 1));
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    let r = py.eval("3", T).expect("next");
    assert_eq!((r.text.as_str(), r.stray.as_str()), ("3\n", ""));
    // `\r\n` is a line end like `\n`.
    assert_eq!(py.eval("x = 4\r\nx + 1\r\n", T).expect("crlf").text, "5\n");
    for byte in [
        0x00u8, 0x03, 0x04, 0x08, 0x0f, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x1a, 0x1b, 0x1c, 0x7f,
    ] {
        let input = format!("print('ok')\nprint('{}')", char::from(byte));
        let err = py.eval(&input, T).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { byte: b, position: 19, .. } if *b == byte),
            "{byte:#04x}: {err:?}"
        );
        assert!(err.to_string().contains("nothing was sent"), "{err}");
        let r = py.eval("6 * 7", T).expect("after a refusal");
        assert_eq!((r.text.as_str(), r.stray.as_str()), ("42\n", ""), "{byte:#04x}");
    }
}

/// A line longer than the terminal's canonical-mode limit: the programs
/// that read through a line editor (raw mode: Python, Node.js, sqlite3)
/// take it whole; IPython reads in canonical mode, where the kernel would
/// cut it, so it is refused before any line of the input is sent.
#[test]
fn lines_longer_than_the_canonical_limit_work_or_are_refused_whole() {
    let long = "y".repeat(5000);
    assert!(long.len() > bgterm::CANONICAL_LINE_LIMIT);
    if have("python3", "long_lines (python3)") {
        let mut py = Repl::python().expect("python3");
        assert_eq!(py.eval(&format!("x = '{long}'"), T).expect("long").text, "");
        assert_eq!(py.eval("len(x)", T).expect("len").text, "5000\n");
        let input = format!("z = 1\nx = '{long}z'\nlen(x) + z");
        assert_eq!(py.eval(&input, T).expect("second line").text, "5002\n");
    }
    if have("ipython", "long_lines (ipython)") {
        let mut ip = Repl::ipython().expect("ipython");
        for input in [format!("x = '{long}'"), format!("z = 1\nx = '{long}'")] {
            match ip.eval(&input, T) {
                Err(Error::LineTooLong { length, limit, .. }) => {
                    assert_eq!((length, limit), (5006, bgterm::CANONICAL_LINE_LIMIT));
                }
                other => panic!("expected LineTooLong, got {other:?}"),
            }
            let r = ip.eval("print('x' in dir(), 'z' in dir())", T).expect("after");
            assert_eq!((r.text.as_str(), r.stray.as_str()), ("False False\n", ""));
        }
    }
    if have("node", "long_lines (node)") {
        let mut node = Repl::node().expect("node");
        assert_eq!(node.eval(&format!("let x = '{long}'"), T).expect("long").text, "");
        assert_eq!(node.eval("x.length", T).expect("len").text, "5000\n");
    }
    if have("sqlite3", "long_lines (sqlite3)") {
        let mut db = Repl::sqlite3().expect("sqlite3");
        let r = db.eval(&format!("select length('{long}');"), T).expect("long");
        assert_eq!(r.text, "5000\n");
        assert_eq!(db.eval("select 1+1;", T).expect("next").text, "2\n");
    }
}

/// The async form takes the same turn steps: the typed sqlite3 set-up, the
/// private init file, the refused bytes and the long-line check.
#[cfg(feature = "tokio")]
#[tokio::test(flavor = "current_thread")]
async fn async_repl_keeps_the_preset_guarantees() {
    use bgterm::AsyncRepl;
    if have("sqlite3", "async_repl (sqlite3)") {
        let mut db = AsyncRepl::spawn(ReplBuilder::sqlite3()).await.expect("sqlite3");
        let r = db.eval("select 'a\tb';", T).await.expect("tab");
        assert_eq!(r.text, "a\tb\n");
        let err = db.eval("select 1;\x15", T).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    byte: 0x15,
                    position: 9,
                    ..
                }
            ),
            "{err:?}"
        );
        let r = db
            .eval(".shell cat /proc/$PPID/cmdline", T)
            .await
            .expect("cmdline");
        assert!(r.text.starts_with("sqlite3"), "{:?}", r.text);
        assert_eq!(db.eval("select 1+1;", T).await.expect("next").text, "2\n");
    }
    if have("ipython", "async_repl (ipython)") {
        let mut ip = AsyncRepl::spawn(ReplBuilder::ipython()).await.expect("ipython");
        let long = format!("z = 1\nx = '{}'", "y".repeat(5000));
        let err = ip.eval(&long, T).await.unwrap_err();
        assert!(matches!(err, Error::LineTooLong { .. }), "{err:?}");
        let r = ip.eval("print('z' in dir(), 'a\tb')", T).await.expect("after");
        assert_eq!(r.text, "False a\tb\n");
    }
}

/// The shell presets run on the shell runner: printing the environment,
/// `set` or the prompts never ends a turn, `!` and tabs arrive as typed,
/// the reply carries the status, and no job notice lands in a reply.
#[test]
fn shell_presets_cannot_be_forged_and_take_input_as_written() {
    let mut shells = vec![("sh", Repl::sh().expect("sh"))];
    if have("bash", "shell_presets_cannot_be_forged (bash)") {
        shells.push(("bash", Repl::bash().expect("bash")));
    }
    for (name, mut sh) in shells {
        for attack in [
            "env; sleep 0.3; echo END",
            "set; sleep 0.3; echo END",
            "set | grep PS2; echo END",
            "printf '%s\\n' \"$PS1\" \"$PS2\"; echo END",
            "printf '\\033]133;'; echo END",
        ] {
            let r = sh.eval(attack, T).expect(attack);
            assert!(r.text.ends_with("END\n"), "{name}: {attack:?}: {:?}", r.text);
            assert_eq!(r.exit_code, Some(0), "{name}: {attack:?}");
            let next = sh.eval("echo second", T).expect("next");
            assert_eq!(next.text, "second\n", "{name}: after {attack:?}");
        }
        let r = sh
            .eval("echo one; echo \"a!b\" !!; printf 'x\\ty\\n'; false", T)
            .expect("bytes");
        assert_eq!(
            (r.text.as_str(), r.exit_code),
            ("one\na!b !!\nx\ty\n", Some(1)),
            "{name}"
        );
        sh.eval("sleep 0.1 &", T).expect("job");
        let r = sh.eval("sleep 0.3; echo clean", T).expect("after job");
        assert_eq!(r.text, "clean\n", "{name}");
        assert_eq!(sh.eval("echo clean", T).expect("clean").text, "clean\n", "{name}");
    }
}
