//! `Repl`: a session that knows its prompt, one reply per input.
//!
//! How a turn works: the input is split into lines, and each line is sent
//! only once the program has shown a prompt for it, as a person types. The
//! output offset is taken before each line is sent and the next prompt is
//! awaited with [`Session::wait_for_from_deadline`], so however fast the
//! program answers, nothing is missed and no stale prompt is matched. The
//! text between a line's echo and the next prompt is that line's reply;
//! the turn's reply is those joined, cleaned with [`clean_text`]. Only the
//! public API of [`Session`] is used.
//!
//! The prompts are made unique where the program allows it (as pexpect's
//! `replwrap` does): each preset sets a primary and a continuation prompt
//! that carry a random nonce, so neither an echo nor ordinary output can be
//! mistaken for a prompt. The Python, IPython, Node.js and sqlite3 presets
//! never write a prompt's bytes into an argv, an environment variable or a
//! file (they build it at run time from pieces, or type it escaped), so
//! output that shows the program's own command line or environment (`ps`,
//! `/proc/self/cmdline`) cannot forge one either.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::limits::{CANONICAL_LINE_LIMIT, DEFAULT_REPL_START_TIMEOUT};
use crate::session::builder::SessionBuilder;
use crate::session::command::Command;
use crate::session::handle::Session;
use crate::status::ExitStatus;
use crate::turn::clean::clean_text;
use crate::turn::run::{RunOptions, RunOutput};
use crate::wait::pattern::Pattern;
use crate::wait::wait_for::Match;

/// How long the Python presets wait before repeating a Ctrl-C that CPython
/// may have missed (see [`ReplBuilder::interrupt_retry`]).
const PYTHON_INTERRUPT_RETRY: Duration = Duration::from_millis(500);

/// The answer to one [`Repl::eval`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply {
    /// The reply as text: the echo of the input and every prompt removed,
    /// control sequences removed (see [`clean_text`]), line ends `"\n"`.
    /// A reply that does not end with a newline (Python's
    /// `print("x", end="")`) does not get one.
    pub text: String,
    /// Everything the terminal showed during the turn, as it came: the
    /// echo, continuation prompts, control sequences and `"\r\n"` line
    /// ends; up to (not including) the final prompt.
    pub raw: String,
    /// Output that arrived after the previous turn's prompt and before
    /// this input was sent (a background job's, say), raw. Usually empty;
    /// never part of `text`.
    pub stray: String,
    /// Absolute output offset where the turn begins (see
    /// [`Session::output_offset`]).
    pub start_offset: u64,
    /// Absolute offset of the final prompt, one past the reply.
    pub end_offset: u64,
    /// Output bytes the session's buffer dropped during the turn because
    /// the program printed more than
    /// [`max_buffer_bytes`](crate::SessionBuilder::max_buffer_bytes)
    /// between two looks: `raw` and `text` then lack that many bytes.
    /// Zero when the reply is complete.
    pub dropped_bytes: u64,
    /// The exit status of the input's last command (`$?`), for the shell
    /// presets ([`Repl::sh`], [`Repl::bash`]); `None` for other programs.
    pub exit_code: Option<i32>,
}

/// A program with a prompt, driven one input at a time: a Python, IPython,
/// Node.js or SQLite shell, bash or sh, or any program whose prompt you
/// name.
///
/// [`eval`](Self::eval) sends one input (several lines are fine: a
/// function definition, a loop, several statements) and returns the
/// [`Reply`] once the program shows its prompt again: the answer with the
/// echo, the prompts and the control sequences removed, plus the raw text.
///
/// ```
/// use std::time::Duration;
/// use bgterm::Repl;
///
/// let mut py = Repl::python()?;
/// let t = Duration::from_secs(10);
/// assert_eq!(py.eval("6 * 7", t)?.text, "42\n");
/// assert_eq!(py.eval("def greet(name):\n    return 'hi ' + name", t)?.text, "");
/// assert_eq!(py.eval("print(greet('bob'), end='')", t)?.text, "hi bob");
/// assert_eq!(
///     py.eval("1 / 0", t)?.text.lines().last(),
///     Some("ZeroDivisionError: division by zero")
/// );
/// # Ok::<(), bgterm::Error>(())
/// ```
///
/// # What an eval costs
///
/// For each line of input: one [`Session::send`] and one event-driven
/// [`Session::wait_for_from_deadline`] for the next prompt (woken by the
/// session's reader as output lands; nothing polls or sleeps), then a
/// clean pass over the reply's text. A one-line eval is one round trip
/// through the program, within a few tens of microseconds of doing the
/// same by hand (the `repl` row of `cargo bench --bench compare`).
///
/// # When a turn does not end
///
/// A timeout is [`Error::ReplTimeout`] with the reply so far; the turn
/// stays open: [`resume`](Self::resume) keeps waiting for the same turn,
/// [`interrupt`](Self::interrupt) sends Ctrl-C and waits for the prompt.
/// A program that exits during a turn is [`Error::ReplExited`] with its
/// output and exit status. Input the program takes as unfinished (an
/// unclosed bracket, a missing `;` in SQL) is [`Error::ReplIncomplete`].
///
/// # Ownership
///
/// A `Repl` owns its [`Session`]; [`session`](Self::session) lends it for
/// everything else (the screen, [`Session::send_keys`], recording). Reading
/// from that session during a turn takes output away from the reply.
/// Dropping the `Repl` closes the session (the last clone, as usual).
#[derive(Debug)]
pub struct Repl {
    session: Session,
    spec: Spec,
    /// Offset up to which output belongs to earlier turns (the end of the
    /// last prompt matched).
    mark: u64,
    /// The turn in progress after a timeout.
    turn: Option<Turn>,
    banner: String,
}

/// What a `Repl` knows about its program.
#[derive(Clone, Debug)]
struct Spec {
    prompt: String,
    continuation: Option<String>,
    blank_line_ends_block: bool,
    cancel_incomplete: bool,
    echo: bool,
    /// Send Ctrl-C once more if the prompt has not come this long after a
    /// Ctrl-C sent at a prompt (see `ReplBuilder::interrupt_retry`).
    interrupt_retry: Option<Duration>,
    /// The program reads its input in canonical mode: a line over the
    /// limit is refused before anything is sent (see
    /// `ReplBuilder::canonical_input`).
    canonical_input: bool,
    /// A POSIX shell driven by [`Session::run`]: its prompts are the run's
    /// unforgeable marks, and a turn is a run.
    shell: bool,
}

/// A turn that has not seen its final prompt yet.
#[derive(Debug)]
pub(crate) struct Turn {
    /// The input as given (for [`Error::ReplIncomplete`]).
    input: String,
    /// Lines not sent yet.
    lines: VecDeque<String>,
    /// The blank line that ends a Python block has been sent.
    blank_sent: bool,
    /// Ctrl-C was sent: only the primary prompt ends the turn now.
    interrupted: bool,
    /// The program is at a prompt: no line is in flight.
    at_prompt: bool,
    /// When to send Ctrl-C again if the prompt has not come.
    retry_at: Option<Instant>,
    /// The current segment starts with the echo of a line.
    echo_pending: bool,
    /// Where to look for the next prompt.
    from: u64,
    /// The current segment's raw text read so far (after a timeout).
    seg: String,
    /// How far reads after a timeout took the output.
    consumed: Option<u64>,
    raw: String,
    text: String,
    stray: String,
    start_offset: u64,
    dropped: u64,
    started: Instant,
    /// The input was incomplete and Ctrl-C was sent to cancel it: the
    /// prompt that answers ends the turn as [`Error::ReplIncomplete`].
    cancelling: Option<String>,
}

/// What follows one step of a turn.
pub(crate) enum Next {
    /// Wait for the next prompt.
    Wait(Turn),
    /// The turn is over.
    Done(Result<Reply>),
}

impl Turn {
    /// The text so far, for a timeout's `partial`.
    fn partial(&self, spec: &Spec) -> String {
        self.text.clone() + &spec.segment_text(&self.seg, self.echo_pending)
    }
}

impl Spec {
    /// One segment's reply text: cleaned, the echo removed (everything up
    /// to the first line end: the program reads a line only once Enter has
    /// been echoed), and any prompt text removed.
    fn segment_text(&self, raw: &str, echo: bool) -> String {
        let mut text = clean_text(raw);
        if echo && self.echo {
            text = match text.find('\n') {
                Some(i) => text[i + 1..].to_string(),
                None => String::new(),
            };
        }
        for p in [Some(&self.prompt), self.continuation.as_ref()]
            .into_iter()
            .flatten()
        {
            let p = clean_text(p);
            if !p.is_empty() && text.contains(&p) {
                text = text.replace(&p, "");
            }
        }
        text
    }
}

impl Repl {
    /// Python 3 (`python3`), through its plain interactive interpreter with
    /// unique prompts. See [`ReplBuilder::python`].
    ///
    /// # Errors
    ///
    /// As for [`ReplBuilder::spawn`].
    pub fn python() -> Result<Repl> {
        ReplBuilder::python().spawn()
    }

    /// IPython (`ipython`) with a simple prompt. See
    /// [`ReplBuilder::ipython`].
    ///
    /// # Errors
    ///
    /// As for [`ReplBuilder::spawn`].
    pub fn ipython() -> Result<Repl> {
        ReplBuilder::ipython().spawn()
    }

    /// The Node.js REPL (`node`). See [`ReplBuilder::node`].
    ///
    /// # Errors
    ///
    /// As for [`ReplBuilder::spawn`].
    pub fn node() -> Result<Repl> {
        ReplBuilder::node().spawn()
    }

    /// The SQLite shell (`sqlite3`) on an in-memory database. See
    /// [`ReplBuilder::sqlite3`].
    ///
    /// # Errors
    ///
    /// As for [`ReplBuilder::spawn`].
    pub fn sqlite3() -> Result<Repl> {
        ReplBuilder::sqlite3().spawn()
    }

    /// An interactive bash without startup files. See
    /// [`ReplBuilder::bash`].
    ///
    /// # Errors
    ///
    /// As for [`ReplBuilder::spawn`].
    pub fn bash() -> Result<Repl> {
        ReplBuilder::bash().spawn()
    }

    /// An interactive POSIX `sh`. See [`ReplBuilder::sh`].
    ///
    /// # Errors
    ///
    /// As for [`ReplBuilder::spawn`].
    pub fn sh() -> Result<Repl> {
        ReplBuilder::sh().spawn()
    }

    /// Any program that prints `prompt` when it is ready for input, and
    /// `continuation` (if it has one) when it waits for the rest of an
    /// unfinished input. Both are matched literally in the raw output, as
    /// the program prints them. Pick a program setting that makes them
    /// unusual (see [`ReplBuilder`]): a prompt that also appears in
    /// ordinary output ends a turn early.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::Repl;
    ///
    /// // A tiny line-oriented program with its own prompt.
    /// let prog = "while printf 'calc> ' && read -r x; do echo $((x * 2)); done";
    /// let mut calc = Repl::new(prog, "calc> ", None)?;
    /// assert_eq!(calc.eval("21", Duration::from_secs(10))?.text, "42\n");
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`ReplBuilder::spawn`].
    pub fn new(command: impl Into<Command>, prompt: &str, continuation: Option<&str>) -> Result<Repl> {
        let mut b = ReplBuilder::new(command, prompt);
        if let Some(c) = continuation {
            b = b.continuation(c);
        }
        b.spawn()
    }

    /// The session the program runs in, for everything else: its screen,
    /// keys, recording, logs, signals.
    #[must_use]
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The primary prompt this `Repl` waits for.
    #[must_use]
    pub fn prompt(&self) -> &str {
        &self.spec.prompt
    }

    /// The continuation prompt, if the program has one.
    #[must_use]
    pub fn continuation(&self) -> Option<&str> {
        self.spec.continuation.as_deref()
    }

    /// What the program printed before its first prompt (a version
    /// banner), cleaned.
    #[must_use]
    pub fn banner(&self) -> &str {
        &self.banner
    }

    /// Whether a turn is still open after a timeout (see
    /// [`resume`](Self::resume)).
    #[must_use]
    pub fn is_busy(&self) -> bool {
        if self.spec.shell {
            return self.session.run_in_flight().ok().flatten().is_some();
        }
        self.turn.is_some()
    }

    /// Sends `input` and returns the program's reply once it shows its
    /// prompt again, waiting at most `timeout` for the whole turn.
    ///
    /// `input` may have several lines (a trailing newline is optional):
    /// each is sent when the program prompts for it, exactly as typed, so
    /// the program's own rules apply. In Python that means a blank line
    /// ends a block, as when typing: put one between a block and the
    /// statement after it (`"def f():\n    return 1\n\nf()"`), and none
    /// inside a block. An empty input sends one empty line. When the last
    /// line leaves the program at its
    /// continuation prompt, a program whose blocks end with a blank line
    /// (Python, IPython) gets one; otherwise the input is unfinished:
    /// [`Error::ReplIncomplete`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::Repl;
    ///
    /// let mut sh = Repl::sh()?;
    /// let t = Duration::from_secs(10);
    /// let r = sh.eval("for i in 1 2 3; do\n  echo \"line $i\"\ndone", t)?;
    /// assert_eq!(r.text, "line 1\nline 2\nline 3\n");
    /// assert!(r.raw.contains("\r\n")); // the terminal's text, as it came
    /// assert_eq!(sh.eval("false", t)?.text, "");
    /// assert_eq!(sh.eval("echo $?", t)?.text, "1\n");
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::ReplTimeout`] when `timeout` passes first, with the reply
    ///   so far; the turn stays open for [`resume`](Self::resume) or
    ///   [`interrupt`](Self::interrupt).
    /// - [`Error::ReplExited`] if the program exits during the turn, with
    ///   its output and exit status.
    /// - [`Error::ReplIncomplete`] if the program still waits for more
    ///   input after the last line.
    /// - [`Error::ReplBusy`] while an earlier turn is still open.
    /// - [`Error::InvalidInput`] for a byte that would not arrive as typed
    ///   text: a `\r` not followed by `\n` (the terminal would end the
    ///   line there and the turns would fall out of step), or a control
    ///   character other than tab and newline (Ctrl-C, Ctrl-D, Ctrl-U,
    ///   escape, DEL, ...). Nothing is sent; the next eval works as usual.
    ///   Send keys with [`Session::send_keys`] instead.
    /// - [`Error::LineTooLong`] for a line longer than
    ///   [`CANONICAL_LINE_LIMIT`](crate::CANONICAL_LINE_LIMIT) when the
    ///   program reads in canonical mode: before anything is sent with
    ///   [`ReplBuilder::canonical_input`] (IPython), otherwise when that
    ///   line is due (lines before it were sent). Never cut silently.
    /// - The errors of [`Session::send`] ([`Error::SessionExited`] if the
    ///   program had already exited, ...).
    pub fn eval(&mut self, input: &str, timeout: Duration) -> Result<Reply> {
        if self.spec.shell {
            let (command, stray, from) = self.begin_shell_turn(input)?;
            let r = self.session.run_with(&command, &shell_options(timeout));
            return self.shell_reply(r, stray, from, &command);
        }
        let deadline = Instant::now().checked_add(timeout);
        let turn = self.begin_eval(input)?;
        self.drive(turn, deadline)
    }

    /// Starts a turn for `input`: refuses a second one, takes stray output,
    /// sends the first line. [`drive`](Self::drive) (or its async form)
    /// waits for the rest.
    pub(crate) fn begin_eval(&mut self, input: &str) -> Result<Turn> {
        if self.turn.is_some() {
            return Err(Error::ReplBusy {
                id: self.session.id(),
            });
        }
        check_input(self.session.id(), input)?;
        let (stray, from) = self.drain()?;
        let normalized = input.replace("\r\n", "\n");
        let body = normalized.strip_suffix('\n').unwrap_or(&normalized);
        let mut lines: VecDeque<String> = body.split('\n').map(str::to_string).collect();
        let too_long = lines.iter().map(String::len).find(|&n| n > CANONICAL_LINE_LIMIT);
        if let Some(length) = too_long.filter(|_| self.spec.canonical_input) {
            return Err(Error::LineTooLong {
                id: self.session.id(),
                length,
                limit: CANONICAL_LINE_LIMIT,
            });
        }
        let first = lines.pop_front().unwrap_or_default();
        let mut turn = Turn {
            input: input.to_string(),
            lines,
            blank_sent: false,
            interrupted: false,
            at_prompt: false,
            retry_at: None,
            echo_pending: true,
            from,
            seg: String::new(),
            consumed: None,
            raw: String::new(),
            text: String::new(),
            stray,
            start_offset: from,
            dropped: 0,
            started: Instant::now(),
            cancelling: None,
        };
        self.send_line(&mut turn, &first)?;
        Ok(turn)
    }

    /// Keeps waiting, at most `timeout` more, for the turn that an earlier
    /// call left open with [`Error::ReplTimeout`]; returns its whole reply
    /// (from the start of the turn) once the prompt comes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::{Error, Repl};
    ///
    /// let mut sh = Repl::sh()?;
    /// let err = sh.eval("echo start; sleep 0.5; echo end", Duration::from_millis(100)).unwrap_err();
    /// assert!(matches!(&err, Error::ReplTimeout { .. }));
    /// let r = sh.resume(Duration::from_secs(10))?;
    /// assert_eq!(r.text, "start\nend\n");
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ReplIdle`] if no turn is open; otherwise as for
    /// [`eval`](Self::eval).
    pub fn resume(&mut self, timeout: Duration) -> Result<Reply> {
        if self.spec.shell {
            let from = self.session.output_offset()?;
            let r = self.session.run_resume(Some(timeout));
            return self.shell_reply(r, String::new(), from, "");
        }
        let turn = self.take_turn()?;
        self.drive(turn, Instant::now().checked_add(timeout))
    }

    /// The turn a timeout left open.
    pub(crate) fn take_turn(&mut self) -> Result<Turn> {
        self.turn.take().ok_or(Error::ReplIdle {
            id: self.session.id(),
        })
    }

    /// Keeps `turn` open (an await in progress, or a timeout).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn park(&mut self, turn: Turn) {
        self.turn = Some(turn);
    }

    /// Sends Ctrl-C (the terminal's interrupt character, which the
    /// terminal turns into SIGINT for the running command, or which a line
    /// editor takes as "cancel this line") and waits at most `timeout` for
    /// the primary prompt. Returns the open turn's reply, including what
    /// the interrupt printed (Python's `KeyboardInterrupt` traceback, the
    /// terminal's `^C`); with no turn open, what the program printed for
    /// the interrupt. Lines of the input not sent yet are dropped.
    ///
    /// Note that Node.js exits on a second Ctrl-C at an empty prompt, and
    /// that sqlite3 ignores Ctrl-C at its continuation prompt.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::Repl;
    ///
    /// let mut py = Repl::python()?;
    /// let err = py.eval("import time; time.sleep(60)", Duration::from_millis(200)).unwrap_err();
    /// assert!(err.is_timeout());
    /// let r = py.interrupt(Duration::from_secs(10))?;
    /// assert!(r.text.ends_with("KeyboardInterrupt\n"), "{:?}", r.text);
    /// assert_eq!(py.eval("1 + 1", Duration::from_secs(10))?.text, "2\n");
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`eval`](Self::eval) (a timeout leaves the interrupted turn
    /// open for [`resume`](Self::resume)).
    pub fn interrupt(&mut self, timeout: Duration) -> Result<Reply> {
        if self.spec.shell {
            let from = self.session.output_offset()?;
            if self.session.run_in_flight()?.is_none() {
                // A shell at its prompt: nothing to interrupt.
                return Ok(Reply::empty(from));
            }
            let r = self.session.run_interrupt(Some(timeout));
            return self.shell_reply(r, String::new(), from, "");
        }
        let deadline = Instant::now().checked_add(timeout);
        let turn = self.begin_interrupt()?;
        self.drive(turn, deadline)
    }

    /// Sends Ctrl-C to the open turn (or a new, empty one).
    pub(crate) fn begin_interrupt(&mut self) -> Result<Turn> {
        let mut turn = match self.turn.take() {
            Some(t) => t,
            None => {
                let (stray, from) = self.drain()?;
                Turn {
                    input: String::new(),
                    lines: VecDeque::new(),
                    blank_sent: false,
                    interrupted: false,
                    at_prompt: true,
                    retry_at: None,
                    echo_pending: false,
                    from,
                    seg: String::new(),
                    consumed: None,
                    raw: String::new(),
                    text: String::new(),
                    stray,
                    start_offset: from,
                    dropped: 0,
                    started: Instant::now(),
                    cancelling: None,
                }
            }
        };
        turn.lines.clear();
        if let Err(e) = self.send_interrupt(&mut turn) {
            self.turn = Some(turn);
            return Err(e);
        }
        Ok(turn)
    }

    /// Closes the session (see [`Session::close`]) and returns how the
    /// program ended.
    ///
    /// # Errors
    ///
    /// As for [`Session::close`].
    pub fn close(self) -> Result<ExitStatus> {
        self.session.close()
    }

    /// Whether this is a shell preset, whose turns are `run`s.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn is_shell(&self) -> bool {
        self.spec.shell
    }

    /// Starts a shell preset's turn: checks the input and that no turn is
    /// open, takes stray output. Returns the command to run, the stray
    /// output and where the turn begins.
    pub(crate) fn begin_shell_turn(&mut self, input: &str) -> Result<(String, String, u64)> {
        let id = self.session.id();
        check_input(id, input)?;
        if self.session.run_in_flight()?.is_some() {
            return Err(Error::ReplBusy { id });
        }
        let (stray, from) = self.drain()?;
        Ok((input.replace("\r\n", "\n"), stray, from))
    }

    /// A shell preset's turn result as a reply, or the `Repl` error that
    /// says the same.
    pub(crate) fn shell_reply(
        &mut self,
        result: Result<RunOutput>,
        stray: String,
        from: u64,
        input: &str,
    ) -> Result<Reply> {
        let id = self.session.id();
        match result {
            Ok(r) => {
                self.mark = r.end_offset;
                Ok(Reply {
                    raw: r.raw.unwrap_or_else(|| r.output.clone()),
                    text: r.output,
                    stray,
                    start_offset: from.min(r.start_offset),
                    end_offset: r.end_offset,
                    dropped_bytes: 0,
                    exit_code: Some(r.exit_code),
                })
            }
            Err(Error::RunTimeout { waited, partial, .. }) => Err(Error::ReplTimeout {
                id,
                waited,
                raw: partial.raw.clone().unwrap_or_else(|| partial.output.clone()),
                partial: partial.output,
            }),
            Err(Error::RunShellExited { status, output, .. }) => Err(Error::ReplExited {
                id,
                status,
                raw: output.raw.clone().unwrap_or_else(|| output.output.clone()),
                output: output.output,
            }),
            Err(Error::RunIncomplete { output, .. }) => Err(Error::ReplIncomplete {
                id,
                input: input.to_string(),
                output: output.output,
                cancelled: true,
            }),
            Err(Error::RunBusy { .. }) => Err(Error::ReplBusy { id }),
            Err(Error::NoPendingRun { .. }) => Err(Error::ReplIdle { id }),
            Err(e) => Err(e),
        }
    }

    /// Takes any unread output before a turn: it is the turn's `stray`.
    fn drain(&mut self) -> Result<(String, u64)> {
        let mut stray = String::new();
        let mut end = self.mark;
        loop {
            let r = self.session.read()?;
            stray += &r.text;
            end = end.max(r.end_offset);
            if r.remaining_bytes == 0 {
                break;
            }
        }
        self.mark = end;
        Ok((stray, end))
    }

    /// Sends Ctrl-C; from now on only the primary prompt ends the turn.
    fn send_interrupt(&mut self, turn: &mut Turn) -> Result<()> {
        self.session.send_bytes(b"\x03")?;
        turn.interrupted = true;
        // Why a retry: CPython's readline loop misses a SIGINT that lands
        // after it printed its prompt and before it blocks in select()
        // (the signal only sets a flag), and a Ctrl-C sent the moment a
        // prompt appears can land there. A second Ctrl-C then finds it
        // blocked. Only at a prompt: a running command gets the first.
        turn.retry_at = match self.spec.interrupt_retry {
            Some(d) if turn.at_prompt => Instant::now().checked_add(d),
            _ => None,
        };
        Ok(())
    }

    /// Sends one line; the next segment starts where the output is now.
    fn send_line(&mut self, turn: &mut Turn, line: &str) -> Result<()> {
        turn.from = self.session.output_offset()?.max(turn.from);
        turn.echo_pending = true;
        turn.at_prompt = false;
        self.session.send(&format!("{line}\n"))
    }

    /// Runs the turn until its final prompt, a timeout or an exit.
    fn drive(&mut self, mut turn: Turn, deadline: Option<Instant>) -> Result<Reply> {
        loop {
            let (from, patterns, until) = self.wait_spec(&turn, deadline);
            let waited = self.session.wait_for_from_deadline(from, patterns, until);
            match self.after_wait(turn, waited, deadline) {
                Next::Wait(t) => turn = t,
                Next::Done(result) => return result,
            }
        }
    }

    /// What the turn waits for next: from where, which prompts, until when.
    pub(crate) fn wait_spec(
        &self,
        turn: &Turn,
        deadline: Option<Instant>,
    ) -> (u64, Vec<Pattern>, Option<Instant>) {
        let mut patterns = vec![Pattern::literal(self.spec.prompt.as_str())];
        if let Some(c) = &self.spec.continuation {
            patterns.push(Pattern::literal(c.as_str()));
        }
        let until = match (turn.retry_at, deadline) {
            (Some(r), Some(d)) => Some(r.min(d)),
            (r, d) => r.or(d),
        };
        (turn.from, patterns, until)
    }

    /// One step of a turn: what the wait for a prompt returned, and what
    /// follows (wait again, or the turn's end).
    pub(crate) fn after_wait(
        &mut self,
        mut turn: Turn,
        waited: Result<Match>,
        deadline: Option<Instant>,
    ) -> Next {
        let id = self.session.id();
        let m = match waited {
            Ok(m) => m,
            Err(Error::WaitTimeout { .. })
                if turn.retry_at.is_some() && deadline.is_none_or(|d| Instant::now() < d) =>
            {
                turn.retry_at = None;
                if let Err(e) = self.session.send_bytes(b"\x03") {
                    self.turn = Some(turn);
                    return Next::Done(Err(e));
                }
                return Next::Wait(turn);
            }
            Err(Error::WaitTimeout { .. }) => {
                if let Err(e) = self.collect(&mut turn) {
                    return Next::Done(Err(e));
                }
                let partial = turn.partial(&self.spec);
                if let Some(input) = turn.cancelling.take() {
                    // The prompt has not come back yet; the turn is open
                    // (`resume` waits for it).
                    self.turn = Some(turn);
                    return Next::Done(Err(Error::ReplIncomplete {
                        id,
                        input,
                        output: partial,
                        cancelled: false,
                    }));
                }
                let err = Error::ReplTimeout {
                    id,
                    waited: turn.started.elapsed(),
                    partial,
                    raw: turn.raw.clone() + &turn.seg,
                };
                self.turn = Some(turn);
                return Next::Done(Err(err));
            }
            Err(Error::ExitedBeforeMatch { status, .. }) => {
                if let Err(e) = self.collect(&mut turn) {
                    return Next::Done(Err(e));
                }
                return Next::Done(Err(Error::ReplExited {
                    id,
                    status,
                    output: turn.partial(&self.spec),
                    raw: turn.raw + &turn.seg,
                }));
            }
            Err(e) => {
                self.turn = Some(turn);
                return Next::Done(Err(e));
            }
        };
        let seg = segment(&mut turn, &m);
        turn.dropped += m.dropped_bytes;
        turn.text += &self.spec.segment_text(&seg, turn.echo_pending);
        turn.raw += &seg;
        turn.from = m.match_end;
        self.mark = m.match_end;
        let primary = m.index == 0;
        if primary && (turn.lines.is_empty() || turn.interrupted) {
            if let Some(input) = turn.cancelling {
                return Next::Done(Err(Error::ReplIncomplete {
                    id,
                    input,
                    output: turn.text,
                    cancelled: true,
                }));
            }
            return Next::Done(Ok(Reply {
                text: turn.text,
                raw: turn.raw,
                stray: turn.stray,
                start_offset: turn.start_offset,
                end_offset: m.match_start,
                dropped_bytes: turn.dropped,
                exit_code: None,
            }));
        }
        // A prompt in the middle of the turn is part of what the terminal
        // showed.
        turn.raw += &m.text;
        turn.echo_pending = false;
        turn.at_prompt = true;
        if turn.interrupted {
            return Next::Wait(turn);
        }
        if let Some(line) = turn.lines.pop_front() {
            return match self.send_line(&mut turn, &line) {
                Ok(()) => Next::Wait(turn),
                Err(e) => Next::Done(Err(e)),
            };
        }
        // The last line left the program waiting for more.
        if self.spec.blank_line_ends_block && !turn.blank_sent {
            turn.blank_sent = true;
            return match self.send_line(&mut turn, "") {
                Ok(()) => Next::Wait(turn),
                Err(e) => Next::Done(Err(e)),
            };
        }
        let input = turn.input.clone();
        if self.spec.cancel_incomplete {
            if let Err(e) = self.send_interrupt(&mut turn) {
                return Next::Done(Err(e));
            }
            turn.cancelling = Some(input);
            return Next::Wait(turn);
        }
        Next::Done(Err(Error::ReplIncomplete {
            id,
            input,
            output: turn.text,
            cancelled: false,
        }))
    }

    /// Reads what has arrived of the current segment (after a timeout or
    /// an exit), so the partial reply can be shown.
    fn collect(&mut self, turn: &mut Turn) -> Result<()> {
        loop {
            let r = self.session.read()?;
            turn.seg += &r.text;
            turn.dropped += r.dropped_bytes;
            turn.consumed = Some(r.end_offset);
            if r.remaining_bytes == 0 {
                return Ok(());
            }
        }
    }
}

/// The raw text of the segment that `m`'s prompt ends: what reads after a
/// timeout collected, plus the unread text up to the prompt.
fn segment(turn: &mut Turn, m: &Match) -> String {
    let mut seg = std::mem::take(&mut turn.seg);
    match turn.consumed.take() {
        // A read after a timeout took the prompt (or its start) too: cut
        // it off. Prompts are ASCII, so its bytes are its characters.
        Some(consumed) if consumed > m.match_start => {
            let over = usize::try_from(consumed.min(m.match_end) - m.match_start).unwrap_or(usize::MAX);
            let mut keep = seg.len().saturating_sub(over);
            while !seg.is_char_boundary(keep) {
                keep -= 1;
            }
            seg.truncate(keep);
        }
        _ => seg += &m.before,
    }
    seg
}

/// Refuses an input with a byte that would not arrive as typed text
/// ([`Error::InvalidInput`]): a `\r` without a `\n` after it, and every
/// other control character but tab and newline. In canonical mode the
/// terminal acts on many of them (the `stty` characters: signals, end of
/// file, erasing, quoting, flow control, ...), and a line editor in raw
/// mode binds the rest (and escape, which starts a key sequence).
fn check_input(id: crate::id::SessionId, input: &str) -> Result<()> {
    let bytes = input.as_bytes();
    for (position, &byte) in bytes.iter().enumerate() {
        let reason = match byte {
            b'\n' | b'\t' => continue,
            b'\r' if bytes.get(position + 1) == Some(&b'\n') => continue,
            b'\r' => "a carriage return without a line feed after it: the terminal ends the line there",
            0x03 => "Ctrl-C: the terminal raises SIGINT (a line editor drops the line)",
            0x04 => "Ctrl-D: end of file (the line goes to the program unfinished)",
            0x1a => "Ctrl-Z: the terminal raises SIGTSTP",
            0x1c => "Ctrl-\\: the terminal raises SIGQUIT",
            0x15 => "Ctrl-U: the terminal erases the line",
            0x17 => "Ctrl-W: the terminal erases a word",
            0x16 => "Ctrl-V: the terminal takes the next byte literally",
            0x12 => "Ctrl-R: the terminal reprints the line (a line editor searches its history)",
            0x7f => "DEL: the terminal erases a character",
            0x08 => "Ctrl-H: a line editor erases a character",
            0x11 | 0x13 => "Ctrl-Q/Ctrl-S: flow control, the terminal resumes or stops its output",
            0x0f => "Ctrl-O: the terminal discards output (a line editor runs the line and fetches the next)",
            0x1b => "escape: a line editor starts a key sequence",
            0x00 => "NUL: a line editor takes it as a key, and C programs end a string there",
            0x01..=0x1f => "a control character: a line editor takes it as a key",
            _ => continue,
        };
        return Err(Error::InvalidInput {
            id,
            input: input.to_string(),
            byte,
            position,
            reason,
        });
    }
    Ok(())
}

/// A fresh random nonce for a unique prompt (10 hex digits).
fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // `RandomState` is seeded randomly per process; the counter keeps two
    // `Repl`s of one process apart.
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{:010x}", h.finish() & 0xff_ffff_ffff)
}

/// A preset's unique prompts, and the code that builds each at run time.
struct Built {
    prompt: String,
    continuation: String,
    /// `'[bg:' + '<half>' + '<half>' + ']> '`: Python or JavaScript.
    prompt_expr: String,
    continuation_expr: String,
}

/// `[` as an octal escape, which sqlite3 resolves in a double-quoted
/// dot-command argument: the prompt's bytes are then not in its argv.
fn sqlite_escaped(prompt: &str) -> String {
    prompt.replacen('[', "\\133", 1)
}

/// A file that exists while this value does.
#[derive(Debug)]
struct TempFile(PathBuf);

impl TempFile {
    /// Creates `path` (which must not exist yet), readable only by this
    /// user, holding `text`.
    fn create(path: PathBuf, text: &str, command: &Command) -> Result<TempFile> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(&path).and_then(|mut f| {
            let file = TempFile(path.clone());
            f.write_all(text.as_bytes())?;
            Ok(file)
        });
        written.map_err(|source| Error::Spawn {
            program: format!("{command} (its readline init file {})", path.display()),
            source,
        })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What [`Repl::prompt`] says for the shell presets: their prompt is the
/// invisible mark [`Session::run`] installs (its nonce is private).
const SHELL_PROMPT: &str = "\x1b]133;D;";
/// What [`Repl::continuation`] says for the shell presets.
const SHELL_CONTINUATION: &str = "\x1b]133;P;";

/// The options of a shell preset's turn: the whole reply kept (as the
/// other presets keep it), raw text too.
pub(crate) fn shell_options(timeout: Duration) -> RunOptions {
    let mut o = RunOptions::new()
        .timeout(Some(timeout))
        .head_bytes(usize::MAX / 4)
        .tail_bytes(0);
    o.keep_raw = true;
    o
}

impl Reply {
    /// An empty reply at `offset` (nothing ran: no status).
    fn empty(offset: u64) -> Reply {
        Reply {
            text: String::new(),
            raw: String::new(),
            stray: String::new(),
            start_offset: offset,
            end_offset: offset,
            dropped_bytes: 0,
            exit_code: None,
        }
    }
}

/// A change to the session builder, applied at spawn.
type Configure = Box<dyn FnOnce(SessionBuilder) -> SessionBuilder + Send>;

/// Configures and starts a [`Repl`]: the program, its prompts, and how it
/// takes input.
///
/// The presets ([`python`](Self::python), [`ipython`](Self::ipython),
/// [`node`](Self::node), [`sqlite3`](Self::sqlite3), [`bash`](Self::bash),
/// [`sh`](Self::sh)) set a unique prompt and continuation prompt (each
/// carries a random nonce, like `[bg:5f0c2a91d3]> `), so that no echo and
/// no ordinary output can be mistaken for one; they start the program with
/// `TERM=dumb` (no colours, no cursor movement, no bracketed paste) and
/// without the user's startup files. Everything else can be added:
/// [`arg`](Self::arg), [`env`](Self::env), and any [`SessionBuilder`]
/// option through [`session`](Self::session).
///
/// What the Python, IPython, Node.js and sqlite3 presets guarantee:
///
/// - **The prompts are secret to the program.** Their bytes are in no
///   argv, no environment variable and no file (no history file either):
///   Python, IPython and Node.js build them at run time from two halves of
///   the nonce (`'[bg:' + '5f0c2' + 'a91d3' + ']> '`), sqlite3 gets them
///   typed once at start, with `[` as an octal escape it resolves itself.
///   Output of `ps`, `/proc/self/cmdline` or `/proc/self/environ` is a
///   reply like any other. (Only output that the program computes from
///   its own prompt, `print(sys.ps1)`, can end a turn early.)
/// - **Input arrives as written.** A tab is a character (no line editor
///   completes on it: Python's readline and sqlite3's have completion
///   turned off, Node.js never completes, IPython's simple prompt has no
///   line editor), and so is every other printable character and UTF-8.
///   [`Repl::eval`] refuses control characters other than tab and
///   newline, and a `\r` not followed by `\n`, with
///   [`Error::InvalidInput`] before sending anything.
/// - **Long lines.** Python, Node.js and sqlite3 read through a line
///   editor in raw mode: a line longer than
///   [`CANONICAL_LINE_LIMIT`](crate::CANONICAL_LINE_LIMIT) arrives whole.
///   IPython reads in canonical mode, where the kernel would cut it: such
///   an input is refused with [`Error::LineTooLong`] before any of its
///   lines is sent (see [`canonical_input`](Self::canonical_input)).
///
/// For another program, give its prompt ([`new`](Self::new)); if it can
/// be told to use a unique one with typed input (a shell's `PS1=...`), do
/// so with [`setup`](Self::setup).
///
/// ```
/// use std::time::Duration;
/// use bgterm::ReplBuilder;
///
/// // sh with its usual prompt, switched to a unique one by typed input.
/// let mut sh = ReplBuilder::new(["sh", "-i"], "MY-PROMPT> ")
///     .env("PS1", "$ ")
///     .setup("$ ", "PS1='MY-PROMPT> '")
///     .spawn()?;
/// assert_eq!(sh.eval("echo hi", Duration::from_secs(10))?.text, "hi\n");
/// # Ok::<(), bgterm::Error>(())
/// ```
#[must_use = "a builder does nothing until spawn()"]
pub struct ReplBuilder {
    command: Command,
    spec: Spec,
    setup: Option<(String, String)>,
    /// A private readline init file to write before the program starts
    /// and to remove once it has shown its first prompt (readline reads
    /// it before the first one): where, and what it says.
    inputrc: Option<(PathBuf, &'static str)>,
    configure: Vec<Configure>,
    start_timeout: Duration,
}

impl fmt::Debug for ReplBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplBuilder")
            .field("command", &self.command)
            .field("prompt", &self.spec.prompt)
            .field("continuation", &self.spec.continuation)
            .field("setup", &self.setup)
            .field("start_timeout", &self.start_timeout)
            .finish_non_exhaustive()
    }
}

impl ReplBuilder {
    /// A REPL for `command` (a string runs through `/bin/sh -c`, a list is
    /// an argv) that prints `prompt` when it is ready for input. Defaults:
    /// no continuation prompt, input is echoed, an unfinished input is
    /// cancelled with Ctrl-C, [`DEFAULT_REPL_START_TIMEOUT`].
    pub fn new(command: impl Into<Command>, prompt: impl Into<String>) -> ReplBuilder {
        ReplBuilder {
            command: command.into(),
            spec: Spec {
                prompt: prompt.into(),
                continuation: None,
                blank_line_ends_block: false,
                cancel_incomplete: true,
                echo: true,
                interrupt_retry: None,
                shell: false,
                canonical_input: false,
            },
            setup: None,
            inputrc: None,
            configure: Vec::new(),
            start_timeout: DEFAULT_REPL_START_TIMEOUT,
        }
    }

    /// A preset: `program` with `args`, TERM=dumb, the unique prompts.
    fn preset(argv: Vec<String>, prompt: String, continuation: String) -> ReplBuilder {
        ReplBuilder::new(
            Command::Argv(argv.into_iter().map(OsString::from).collect()),
            prompt,
        )
        .continuation(continuation)
        .env("TERM", "dumb")
        .env("NO_COLOR", "1")
        // GNU readline without the user's key bindings.
        .env("INPUTRC", "/dev/null")
    }

    /// Fresh unique prompts, and for each an expression (in Python or
    /// JavaScript: string literals joined with `+`) that builds it at run
    /// time. The nonce is split between two literals, so the prompt's
    /// bytes are in neither the expression nor an argv that carries it,
    /// and output that shows the program's command line (`ps`,
    /// `/proc/<pid>/cmdline`) cannot contain the prompt.
    fn unique_built() -> Built {
        let n = nonce();
        let (head, tail) = n.split_at(n.len() / 2);
        let expr = |end: &str| format!("'[bg:' + '{head}' + '{tail}' + '{end}'");
        Built {
            prompt: format!("[bg:{n}]> "),
            continuation: format!("[bg:{n}]. "),
            prompt_expr: expr("]> "),
            continuation_expr: expr("]. "),
        }
    }

    /// Python 3: `python3 -q -i -c <set-up code>`, the plain interpreter
    /// (`PYTHON_BASIC_REPL=1` for Python 3.13's new one), without
    /// `PYTHONSTARTUP`. The set-up code builds `sys.ps1` and `sys.ps2` from
    /// pieces at run time (so the prompts are in no argv), replaces
    /// `sys.__interactivehook__` (so `~/.python_history` is neither read
    /// nor written and no completer is installed), imports `readline`
    /// itself with completion disabled (a tab is typed; lines may be
    /// longer than the canonical limit) and leaves no name behind. A
    /// Python without `readline` reads in canonical mode instead. A blank
    /// line ends a block, and is sent for you when the input ends inside
    /// one.
    pub fn python() -> ReplBuilder {
        let b = ReplBuilder::unique_built();
        // In a function, so the session's namespace gets no new names.
        let code = format!(
            "def _bgterm_setup():\n    \
             import sys\n    \
             sys.__interactivehook__ = lambda: None\n    \
             sys.ps1 = {p}\n    \
             sys.ps2 = {c}\n    \
             try:\n        \
             import readline\n    \
             except ImportError:\n        \
             return\n    \
             if 'libedit' in (readline.__doc__ or ''):\n        \
             readline.parse_and_bind('bind ^I ed-insert')\n    \
             else:\n        \
             readline.parse_and_bind('set disable-completion on')\n\
             _bgterm_setup()\n\
             del _bgterm_setup\n",
            p = b.prompt_expr,
            c = b.continuation_expr,
        );
        ReplBuilder::preset(
            vec!["python3".into(), "-q".into(), "-i".into(), "-c".into(), code],
            b.prompt,
            b.continuation,
        )
        .env("PYTHON_BASIC_REPL", "1")
        .env("PYTHON_COLORS", "0")
        .env_remove("PYTHONSTARTUP")
        .blank_line_ends_block(true)
        .interrupt_retry(Some(PYTHON_INTERRUPT_RETRY))
    }

    /// IPython: `ipython --simple-prompt --colors=NoColor --no-banner`, no
    /// history file, no blank lines between cells, and a prompts class
    /// (installed with `-i -c`) whose input and continuation prompts are
    /// unique (built from pieces at run time, so they are in no argv) and
    /// whose output prompt is empty, so `1 + 1` replies `2` rather than
    /// `Out[1]: 2`. A blank line ends a block, as in Python. The simple
    /// prompt reads with `input()` in canonical mode, with no line editor
    /// (a tab is typed as is): a line longer than
    /// [`CANONICAL_LINE_LIMIT`](crate::CANONICAL_LINE_LIMIT) is refused
    /// ([`canonical_input`](Self::canonical_input)).
    pub fn ipython() -> ReplBuilder {
        let b = ReplBuilder::unique_built();
        // In a function, so the session's namespace gets no new names.
        let code = format!(
            "def _bgterm_prompts():\n    \
             from IPython.terminal.prompts import Prompts, Token\n    \
             p, c = {p}, {c}\n    \
             class P(Prompts):\n        \
             def in_prompt_tokens(self, *a, **k): return [(Token.Prompt, p)]\n        \
             def continuation_prompt_tokens(self, *a, **k): return [(Token.Prompt, c)]\n        \
             def out_prompt_tokens(self, *a, **k): return []\n    \
             get_ipython().prompts = P(get_ipython())\n\
             _bgterm_prompts()\n\
             del _bgterm_prompts\n",
            p = b.prompt_expr,
            c = b.continuation_expr,
        );
        let argv = [
            "ipython",
            "--simple-prompt",
            "--colors=NoColor",
            "--no-banner",
            "--no-confirm-exit",
            "--no-autoindent",
            "--HistoryManager.enabled=False",
            "--InteractiveShell.separate_in=",
            "--InteractiveShell.separate_out=",
            "--InteractiveShell.separate_out2=",
            "-i",
            "-c",
        ];
        let mut argv: Vec<String> = argv.iter().map(|s| (*s).to_string()).collect();
        argv.push(code);
        ReplBuilder::preset(argv, b.prompt, b.continuation)
            .canonical_input(true)
            .blank_line_ends_block(true)
            .interrupt_retry(Some(PYTHON_INTERRUPT_RETRY))
    }

    /// Node.js: `node -e` starting `repl.start` with the unique prompt
    /// (built from pieces at run time, so it is in no argv), no colours,
    /// `undefined` results not printed (so `let x = 1` replies nothing),
    /// and Ctrl-C able to stop running code (`breakEvalOnSigint`). Node's
    /// continuation prompt (`... `) is replaced by the unique one. Tab
    /// completion is off (Node's readline only completes on a tab that
    /// ends a read, which a long line split by the terminal could make
    /// happen), so a tab is typed as is.
    pub fn node() -> ReplBuilder {
        let b = ReplBuilder::unique_built();
        let js = format!(
            "const repl = require('repl');\n\
             const P = {p}, C = {c};\n\
             const r = repl.start({{ prompt: P, useColors: false, ignoreUndefined: true, breakEvalOnSigint: true }});\n\
             Object.defineProperty(r, 'isCompletionEnabled', {{ get() {{ return false; }}, set(_) {{}} }});\n\
             const setRaw = Object.getPrototypeOf(repl.REPLServer.prototype).setPrompt;\n\
             const show = r.prompt;\n\
             r.prompt = function (preserveCursor) {{\n  \
               if (this.getPrompt() !== P) setRaw.call(this, C);\n  \
               return show.call(this, preserveCursor);\n\
             }};\n",
            p = b.prompt_expr,
            c = b.continuation_expr,
        );
        ReplBuilder::preset(vec!["node".into(), "-e".into(), js], b.prompt, b.continuation)
            .env_remove("NODE_REPL_EXTERNAL_MODULE")
    }

    /// The SQLite shell: `sqlite3 -interactive` on an in-memory database
    /// (add a file name with [`arg`](Self::arg)). It starts with a fixed
    /// set-up prompt (`-cmd`), and the unique prompts are set by typing
    /// `.prompt "\133bg:..." "\133bg:..."`: sqlite3 resolves the octal
    /// escape for `[` itself, and it rewrites a `-cmd` argument in place
    /// (so `/proc/<pid>/cmdline` would show the resolved prompt): typed,
    /// the prompts are in no argv, no echo and no environment.
    /// `SQLITE_HISTORY` is `/dev/null`, so no history file is read or
    /// written. Its readline gets a private init file with
    /// `set disable-completion on` (a tab is typed as is), created only
    /// for this user in the temporary directory and removed once sqlite3
    /// has prompted. sqlite3 ignores Ctrl-C while a statement is
    /// unfinished, so an unfinished statement (no `;`) is not cancelled:
    /// the next eval continues it ([`Error::ReplIncomplete`] says
    /// `cancelled: false`).
    pub fn sqlite3() -> ReplBuilder {
        let b = ReplBuilder::unique_built();
        let setup = format!(
            ".prompt \"{}\" \"{}\"",
            sqlite_escaped(&b.prompt),
            sqlite_escaped(&b.continuation)
        );
        let argv = ["sqlite3", "-interactive", "-cmd", ".prompt 'bgterm-setup> '"];
        ReplBuilder::preset(
            argv.iter().map(|s| (*s).to_string()).collect(),
            b.prompt,
            b.continuation,
        )
        .env("SQLITE_HISTORY", "/dev/null")
        .setup("bgterm-setup> ", setup)
        .cancel_incomplete(false)
        .private_inputrc("set disable-completion on\n")
    }

    /// Points `INPUTRC` at a private readline init file with `text`: a
    /// fresh name in the temporary directory, created (only for this
    /// user) when the program starts and removed once it has shown its
    /// first prompt.
    fn private_inputrc(mut self, text: &'static str) -> ReplBuilder {
        let name = format!("bgterm-inputrc-{}-{}", std::process::id(), nonce());
        let path = std::env::temp_dir().join(name);
        self.inputrc = Some((path.clone(), text));
        self.env("INPUTRC", path)
    }

    /// bash: `bash --norc --noprofile -i`, no history file, driven by
    /// the shell runner: each turn is a [`Session::run`], so its end is the
    /// run's prompt mark, which no output can forge (printing `env`, `set`
    /// or the prompts ends nothing), input arrives as written (no history
    /// expansion, no completion: echo and line editing are off), no job
    /// notice lands in a reply, and [`Reply::exit_code`] is the status.
    /// [`Repl::prompt`] and [`Repl::continuation`] name the start of the
    /// invisible marks.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::Repl;
    ///
    /// let t = Duration::from_secs(10);
    /// let mut bash = Repl::bash()?;
    /// let r = bash.eval("env | grep -c . >/dev/null; echo \"a!b\"; false", t)?;
    /// assert_eq!((r.text.as_str(), r.exit_code), ("a!b\n", Some(1)));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    pub fn bash() -> ReplBuilder {
        ReplBuilder::shell(&["bash", "--norc", "--noprofile", "-i"])
    }

    /// `sh -i` (whatever `/bin/sh` is: dash, bash, busybox) without the
    /// `ENV` startup file, driven by the shell runner as
    /// [`bash`](Self::bash) is.
    pub fn sh() -> ReplBuilder {
        ReplBuilder::shell(&["sh", "-i"])
    }

    fn shell(argv: &[&str]) -> ReplBuilder {
        let argv = argv.iter().map(|a| (*a).to_string()).collect();
        let mut b = ReplBuilder::preset(argv, SHELL_PROMPT.into(), SHELL_CONTINUATION.into())
            .env("HISTFILE", "")
            .env_remove("PROMPT_COMMAND")
            .env_remove("PS0")
            .env_remove("ENV")
            .session(SessionBuilder::for_run);
        b.spec.shell = true;
        b
    }

    /// The prompt the program prints when it waits for the rest of an
    /// unfinished input (Python's `... `). Without one, every line of a
    /// multi-line input must get a primary prompt.
    pub fn continuation(mut self, prompt: impl Into<String>) -> ReplBuilder {
        self.spec.continuation = Some(prompt.into());
        self
    }

    /// Input typed once at start to make the program use the unique
    /// prompt: the builder waits for `initial_prompt` (the program's own),
    /// sends `input` and a newline, then waits for the [`prompt`](Self::new)
    /// after the echo (the echo may contain the prompt's text: those
    /// occurrences are skipped).
    pub fn setup(mut self, initial_prompt: impl Into<String>, input: impl Into<String>) -> ReplBuilder {
        self.setup = Some((initial_prompt.into(), input.into()));
        self
    }

    /// Whether a blank line ends a block, as in Python: when the last line
    /// of an input leaves the program at its continuation prompt, a blank
    /// line is sent once (default `false`; `true` for the Python presets).
    pub fn blank_line_ends_block(mut self, yes: bool) -> ReplBuilder {
        self.spec.blank_line_ends_block = yes;
        self
    }

    /// Whether an unfinished input is cancelled with Ctrl-C, back to the
    /// primary prompt (default `true`; `false` for sqlite3, which ignores
    /// it). Either way the eval fails with [`Error::ReplIncomplete`].
    pub fn cancel_incomplete(mut self, yes: bool) -> ReplBuilder {
        self.spec.cancel_incomplete = yes;
        self
    }

    /// Whether the program echoes input, so that each line's reply starts
    /// after the first line end (default `true`, as on any terminal;
    /// `false` for a program that turned echo off).
    pub fn echo(mut self, yes: bool) -> ReplBuilder {
        self.spec.echo = yes;
        self
    }

    /// If the primary prompt has not come `after` a Ctrl-C that was sent
    /// while the program sat at a prompt (an idle
    /// [`Repl::interrupt`], or cancelling an unfinished input), send one
    /// more (default `None`; 500 ms for the Python presets). CPython's
    /// readline loop misses a SIGINT that arrives between printing its
    /// prompt and waiting for input, which is exactly when an automated
    /// Ctrl-C tends to arrive. Leave it off for programs where a second
    /// Ctrl-C does something else (Node.js exits).
    pub fn interrupt_retry(mut self, after: Option<Duration>) -> ReplBuilder {
        self.spec.interrupt_retry = after;
        self
    }

    /// Whether the program reads its input in the terminal's canonical
    /// mode, without a line editor (default `false`; `true` for IPython,
    /// whose simple prompt reads with `input()`). The kernel keeps at most
    /// [`CANONICAL_LINE_LIMIT`](crate::CANONICAL_LINE_LIMIT) bytes of a
    /// line there, so [`Repl::eval`] refuses an input with a longer line
    /// with [`Error::LineTooLong`] before sending anything. Without it,
    /// [`Session::send`] refuses such a line when it is its turn to be
    /// sent (the terminal is in canonical mode then): nothing is sent if
    /// it is the first line, but the lines before it were.
    pub fn canonical_input(mut self, yes: bool) -> ReplBuilder {
        self.spec.canonical_input = yes;
        self
    }

    /// Appends an argument: to the argv, or, for a shell command line, a
    /// space and `arg` as typed.
    pub fn arg(mut self, arg: impl Into<OsString>) -> ReplBuilder {
        let arg = arg.into();
        self.command = match self.command {
            Command::Argv(mut v) => {
                v.push(arg);
                Command::Argv(v)
            }
            Command::Shell(line) => Command::Shell(format!("{line} {}", arg.to_string_lossy())),
        };
        self
    }

    /// Sets an environment variable for the program (see
    /// [`SessionBuilder::env`]).
    pub fn env(self, key: impl Into<OsString>, value: impl Into<OsString>) -> ReplBuilder {
        let (key, value) = (key.into(), value.into());
        self.session(move |b| b.env(key, value))
    }

    /// Removes an environment variable (see [`SessionBuilder::env_remove`]).
    pub fn env_remove(self, key: impl Into<OsString>) -> ReplBuilder {
        let key = key.into();
        self.session(move |b| b.env_remove(key))
    }

    /// Any other session option: `f` gets the [`SessionBuilder`] (after the
    /// preset's own settings and earlier calls) and returns it changed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::ReplBuilder;
    ///
    /// let mut sh = ReplBuilder::sh().session(|b| b.cwd("/").size(40, 120)).spawn()?;
    /// assert_eq!(sh.eval("pwd", Duration::from_secs(10))?.text, "/\n");
    /// assert_eq!(sh.session().size()?, (40, 120));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    pub fn session(
        mut self,
        f: impl FnOnce(SessionBuilder) -> SessionBuilder + Send + 'static,
    ) -> ReplBuilder {
        self.configure.push(Box::new(f));
        self
    }

    /// How long [`spawn`](Self::spawn) waits for the first prompt (default
    /// [`DEFAULT_REPL_START_TIMEOUT`]).
    pub fn start_timeout(mut self, timeout: Duration) -> ReplBuilder {
        self.start_timeout = timeout;
        self
    }

    /// Starts the program and waits for its first prompt (after the setup
    /// input, if any). What came before it is [`Repl::banner`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPrompt`] for an empty prompt or a continuation
    /// prompt equal to the prompt; the errors of [`SessionBuilder::spawn`]
    /// (say [`Error::ProgramNotFound`]); [`Error::WaitTimeout`] if the
    /// prompt does not come within the start timeout and
    /// [`Error::ExitedBeforeMatch`] if the program exits first (both with
    /// the output's tail); the session is closed then.
    pub fn spawn(self) -> Result<Repl> {
        let mut start = self.prepare()?;
        if start.spec.shell {
            start.session.run_with("", &start.shell_set_up())?;
            return Ok(start.finish_shell());
        }
        let deadline = start.deadline;
        let session = start.session.clone();
        let mut from = 0;
        if let Some((initial, _)) = &start.setup {
            let m = session.wait_for_from_deadline(from, initial.as_str(), deadline)?;
            from = start.sent_setup(&m)?;
            for _ in 0..start.prompts_in_setup() {
                from = session
                    .wait_for_from_deadline(from, start.prompt(), deadline)?
                    .match_end;
            }
        }
        let m = session.wait_for_from_deadline(from, start.prompt(), deadline)?;
        Ok(start.finish(&m))
    }

    /// Checks the prompts and starts the program; the waits for its
    /// first prompt are the caller's (blocking or async).
    pub(crate) fn prepare(self) -> Result<ReplStart> {
        let spec = self.spec;
        if spec.prompt.is_empty() {
            return Err(Error::InvalidPrompt {
                prompt: spec.prompt,
                reason: "a prompt cannot be empty",
            });
        }
        if let Some(c) = &spec.continuation {
            if c.is_empty() {
                return Err(Error::InvalidPrompt {
                    prompt: c.clone(),
                    reason: "a continuation prompt cannot be empty",
                });
            }
            if c.contains(&spec.prompt) || spec.prompt.contains(c.as_str()) {
                return Err(Error::InvalidPrompt {
                    prompt: c.clone(),
                    reason: "the continuation prompt and the prompt must not contain one another",
                });
            }
        }
        let inputrc = match &self.inputrc {
            Some((path, text)) => Some(TempFile::create(path.clone(), text, &self.command)?),
            None => None,
        };
        let mut b = SessionBuilder::new(self.command);
        for f in self.configure {
            b = f(b);
        }
        let session = b.spawn()?;
        Ok(ReplStart {
            session,
            spec,
            setup: self.setup,
            _inputrc: inputrc,
            deadline: Instant::now().checked_add(self.start_timeout),
            banner: String::new(),
        })
    }
}

/// A REPL whose program runs but has not shown its first prompt yet.
pub(crate) struct ReplStart {
    pub(crate) session: Session,
    spec: Spec,
    pub(crate) setup: Option<(String, String)>,
    /// Removed when the start is over (the REPL is made or the start
    /// failed).
    _inputrc: Option<TempFile>,
    pub(crate) deadline: Option<Instant>,
    banner: String,
}

impl ReplStart {
    /// Whether this is a shell preset (see [`finish_shell`](Self::finish_shell)).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn is_shell(&self) -> bool {
        self.spec.shell
    }

    /// The options of the empty `run` that sets a shell preset up (its
    /// first prompt, within the start timeout).
    pub(crate) fn shell_set_up(&self) -> RunOptions {
        let left = self.deadline.map(|d| d.saturating_duration_since(Instant::now()));
        RunOptions::new().timeout(left)
    }

    /// The shell preset's `Repl`, once its set-up `run` has answered.
    pub(crate) fn finish_shell(self) -> Repl {
        let mark = self.session.output_offset().unwrap_or(0);
        Repl {
            session: self.session,
            spec: self.spec,
            mark,
            turn: None,
            banner: String::new(),
        }
    }

    /// The primary prompt.
    pub(crate) fn prompt(&self) -> &str {
        &self.spec.prompt
    }

    /// After the setup's initial prompt `m`: sends the setup input, and
    /// returns where to look for the next prompt.
    pub(crate) fn sent_setup(&mut self, m: &Match) -> Result<u64> {
        self.banner += &m.before;
        let from = self.session.output_offset()?;
        if let Some((_, input)) = &self.setup {
            self.session.send(&format!("{input}\n"))?;
        }
        Ok(from)
    }

    /// How many times the echo of the setup input shows the prompt's text
    /// (to be skipped).
    pub(crate) fn prompts_in_setup(&self) -> usize {
        self.setup
            .as_ref()
            .map_or(0, |(_, input)| input.matches(self.spec.prompt.as_str()).count())
    }

    /// The REPL, once its first prompt `m` has come.
    pub(crate) fn finish(mut self, m: &Match) -> Repl {
        if self.setup.is_none() {
            self.banner += &m.before;
        }
        Repl {
            session: self.session,
            spec: self.spec,
            mark: m.match_end,
            turn: None,
            banner: clean_text(&self.banner),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn() -> Turn {
        Turn {
            input: String::new(),
            lines: VecDeque::new(),
            blank_sent: false,
            interrupted: false,
            at_prompt: false,
            retry_at: None,
            echo_pending: true,
            from: 0,
            seg: String::new(),
            consumed: None,
            raw: String::new(),
            text: String::new(),
            stray: String::new(),
            start_offset: 0,
            dropped: 0,
            started: Instant::now(),
            cancelling: None,
        }
    }

    fn prompt_match(start: u64, before: &str) -> Match {
        Match {
            index: 0,
            text: "P> ".into(),
            before: before.into(),
            start_offset: 0,
            match_start: start,
            match_end: start + 3,
            dropped_bytes: 0,
            invalid_at: None,
        }
    }

    #[test]
    fn segment_joins_what_a_timeout_read_with_the_rest() {
        let mut t = turn();
        t.seg = "echo é\r\n".into(); // 9 bytes, offsets 0..9
        t.consumed = Some(9);
        assert_eq!(segment(&mut t, &prompt_match(12, "out")), "echo é\r\nout");
        assert!(t.seg.is_empty() && t.consumed.is_none());
    }

    #[test]
    fn segment_cuts_a_prompt_the_timeout_read_took() {
        // The read after the timeout took the output and the whole prompt.
        let mut t = turn();
        t.seg = "echo é\r\nout\nP> ".into(); // output 0..13, prompt 13..16
        t.consumed = Some(16);
        assert_eq!(segment(&mut t, &prompt_match(13, "")), "echo é\r\nout\n");
        // ... or only the prompt's first byte.
        let mut t = turn();
        t.seg = "out\nP".into();
        t.consumed = Some(5);
        assert_eq!(segment(&mut t, &prompt_match(4, "")), "out\n");
    }

    #[test]
    fn segment_text_strips_echo_and_prompts() {
        let spec = Spec {
            prompt: "P> ".into(),
            continuation: Some("C> ".into()),
            blank_line_ends_block: false,
            cancel_incomplete: true,
            echo: true,
            interrupt_retry: None,
            canonical_input: false,
            shell: false,
        };
        assert_eq!(spec.segment_text("1+1\r\n\x1b[33m2\x1b[0m\r\n", true), "2\n");
        assert_eq!(spec.segment_text("no newline yet", true), "");
        assert_eq!(
            spec.segment_text("KeyboardInterrupt\r\nC> ", false),
            "KeyboardInterrupt\n"
        );
        let quiet = Spec { echo: false, ..spec };
        assert_eq!(quiet.segment_text("2\r\n", true), "2\n");
    }

    #[test]
    fn built_prompts_are_not_in_their_code() {
        let b = ReplBuilder::unique_built();
        for code in [&b.prompt_expr, &b.continuation_expr, &sqlite_escaped(&b.prompt)] {
            assert!(
                !code.contains(&b.prompt) && !code.contains(&b.continuation),
                "{code}"
            );
        }
        assert_eq!(sqlite_escaped(&b.prompt), format!("\\133{}", &b.prompt[1..]));
        // What Python or JavaScript makes of the expression.
        let joined: String = b.prompt_expr.split(" + ").map(|s| s.trim_matches('\'')).collect();
        assert_eq!(joined, b.prompt);
    }

    #[test]
    fn nonces_differ() {
        let (a, b) = (nonce(), nonce());
        assert_ne!(a, b);
        assert_eq!(a.len(), 10);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
