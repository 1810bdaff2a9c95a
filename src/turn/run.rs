//! Running one shell command to completion in a shell session.
//!
//! # How completion is detected: the prompt reports it
//!
//! Nothing is wrapped around the command. On the first `run` in a session,
//! one setup line (see [`setup_line`]) turns the shell into a well-behaved
//! command runner:
//!
//! - `PS1` becomes an invisible OSC sequence that carries the exit status
//!   and a per-session nonce, `ESC ] 133 ; D ; <status> ; aid=<nonce> BEL`
//!   (the "command finished" mark of the FinalTerm/OSC 133 shell
//!   integration that modern terminals understand). The shell itself
//!   expands `$?` (zsh: `%?`) in it each time it prompts, so the status is
//!   the command's own, and `$?` after a `run` is untouched: `run("false")`
//!   then `run("echo $?")` gives `1`, also after a Ctrl-C (`130`).
//! - `PS2` (the continuation prompt) becomes another invisible mark, with
//!   a nonce of its own. The shell prompts once for every line it reads,
//!   so after a command of `n` lines the `n`-th prompt ends it: `PS1`
//!   means done; `PS2` means the command is incomplete (an unclosed
//!   quote), which is cancelled with Ctrl-C and reported as
//!   [`Error::RunIncomplete`].
//! - The terminal's echo is switched off (`stty -echo`) and so is the line
//!   editor (bash's readline, zsh's zle), so the bytes after the command is
//!   sent are exactly its output: no echo to strip, no bracketed-paste
//!   switches, no redraws, and a tab is a tab (no completion). bash's
//!   history expansion is off (`set +H`; zsh: `bang_hist`), so `!` is
//!   typed as given, and so is job control (`set +m`), so no `[1]+ Done`
//!   notice of a job's end ever lands in an output (bash and mksh still
//!   print `[1] 12345` when a job is started with `&`: that is the
//!   starting command's output). bash gets a `PROMPT_COMMAND` that
//!   switches these two off again before every prompt; a command that
//!   turns the line editor back on (`set -o vi`) leaves the shell in a
//!   state that [`Session::run_abandon`] repairs. `PS0`, a
//!   `DEBUG` trap (bash), `precmd`/`preexec` hooks, `RPS1`, `PROMPT_SP`
//!   and `PROMPT_CR` (zsh) are cleared because they would print into the
//!   output.
//! - The setup line removes itself from the history (bash: `history -d`;
//!   zsh: `fc -p` starts a fresh history list), blanks the visible screen
//!   (`ESC [ H ESC [ J`, which unlike `ESC [ 2 J` pushes nothing into the
//!   scrollback) and ends by restoring `$?`. In zsh it also turns on
//!   `interactive_comments`, so `#` starts a comment as in a script.
//!
//! # An end that output cannot forge
//!
//! The nonces are kept in four shell variables, two halves each, which the
//! prompts join only when the shell expands them at prompt time
//! (`aid=${__bgterm_a}${__bgterm_b}`). So the bytes of a mark are in no
//! variable, argument, environment or file: printing `set`, `env`,
//! `declare -p`, `ps`, `/proc/*/cmdline`, or the prompts themselves
//! (`printf '%s' "$PS1"`) shows halves and an unexpanded prompt, never a
//! mark, and cannot end a command. A mark is found by its nonce, and its
//! body is read back from the last `ESC ] 133 ;` before it, so someone
//! else's OSC 133 in the output, cut off or ended by ST, cannot swallow
//! ours. (mksh and busybox sh do not expand `PS2`, so there its nonce is
//! written out and printing `PS2` shows a continuation mark; such a mark
//! while the shell waits for a command, which the kernel shows on Linux,
//! is not taken for a prompt.)
//!
//! Each OSC is ignored by terminals and by the screen model, so the screen
//! (`display`, `capture_range`) shows the commands' output and nothing
//! else; the history holds exactly the commands as given. The raw stream
//! (`read`, `logs`) holds the output and the prompt marks between commands.
//! A shell started by [`SessionBuilder::for_run`] has its echo off before
//! it reads anything, so even the one setup line is never echoed; a shell
//! started otherwise echoes that line once, before the first command: it
//! is then blanked from the screen (unless it scrolled into the
//! scrollback, on a screen that was already full), but stays in the raw
//! stream.
//!
//! # A way out of every state
//!
//! A command that does not return is [`Error::RunTimeout`]: resume it
//! ([`Session::run_resume`]) or stop it ([`Session::run_interrupt`], Ctrl-C).
//! When the shell can no longer show our prompt — the command ran `exec
//! sh`, set `PS1`, or started a program that ignores Ctrl-C —
//! [`Session::run_abandon`] gives the run up and sets the shell up again;
//! if the session no longer runs a shell (`exec python3`), that and every
//! later `run` is [`Error::UnsupportedShell`], never [`Error::RunBusy`].
//!
//! # Output: head, tail and an exact count between them, nothing missed
//!
//! The command's output is collected by the engine itself: a tap attached
//! to the session (under the same lock that takes the stream's end as the
//! command's start) is handed every output byte as it is published, before
//! any waiter is woken, including bytes the session's ring later drops. It
//! keeps the first `head_bytes` and the last `tail_bytes` of the output
//! (with `"\r\n"` turned back into `"\n"`) and counts what lies between.
//! Its memory is bounded, so it never falls behind and never holds the
//! child back: nothing is missed, whatever the ring's size or the load
//! (`missed_bytes` is always 0), and no thread is spent on a command.
//! Sizes are bytes of the decoded text (UTF-8); in a UTF-8 session (the
//! default) they are the bytes the command wrote, with each `"\r\n"` of
//! the terminal counted as its `"\n"`.
//!
//! # Supported shells
//!
//! Tested: `sh` and `dash` (dash 0.5), `bash` (5.0 or later: the setup
//! uses `history -d -1`), `zsh`, `mksh` and `busybox sh`. Accepted but
//! untested: `ksh`/`ksh93`, `lksh`, `pdksh`, `ash`, `yash`. The shell must be
//! interactive and waiting at its prompt. Other programs (fish, which
//! spells `$?` as `$status`; csh/tcsh; REPLs) are refused before anything
//! is typed with [`Error::UnsupportedShell`]; so is a shell that turns out
//! not to be interactive, or whose prompt does not expand `$?` (both found
//! by the setup line).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::engine::decode::{DecodeErrors, TextDecoder};
use crate::engine::tap::{Event, Tap};
use crate::error::{Error, Result, RunPartial};
use crate::limits::{DEFAULT_RUN_HEAD_BYTES, DEFAULT_RUN_TAIL_BYTES, TAIL_CHARS};
use crate::session::builder::RUN_WRAPPER_NAME;
use crate::session::command::Command;
use crate::session::handle::Session;
use crate::status::ExitStatus;
use crate::wait::pattern::Pattern;

/// Start of every prompt mark.
const MARK: &str = "\x1b]133;";
/// Longest mark body (between [`MARK`] and the `;aid=` of the nonce)
/// accepted: `P;k=s`, or `D;` and a status.
const MAX_MARK_BODY: usize = 48;
/// Programs that exec their arguments, so the shell they start is judged by
/// the process's current name.
const EXEC_WRAPPERS: &[&str] = &[
    "env", "nice", "nohup", "setsid", "stdbuf", "sudo", "doas", "unshare", "chroot",
];
/// What a [`SessionBuilder::for_run`] wrapper prints once echo is off: the
/// OSC 133 "prompt start" mark, invisible, and naming nothing.
pub(crate) const READY: &str = "\x1b]133;A\x07";
/// The status the setup line reports for a shell that is not interactive.
const NOT_INTERACTIVE: &str = "noninteractive";
/// How long [`Session::run_abandon`] lets a shell take its Ctrl-C, and
/// waits for a setup line's prompt before typing it again.
const ABANDON_SETTLE: Duration = Duration::from_secs(1);
/// How long a continuation mark in a shell that does not expand PS2 must
/// stay the last thing it printed to be taken for a prompt (see
/// `Session::run_step`).
const CONTINUATION_GRACE: Duration = Duration::from_millis(100);
/// How many times [`Session::run_abandon`] types the setup line.
const ABANDON_TRIES: u32 = 3;
/// Shells whose process name `run` accepts.
const SHELLS: &[&str] = &[
    "sh", "dash", "bash", "rbash", "zsh", "ksh", "ksh93", "mksh", "lksh", "pdksh", "ash", "busybox", "yash",
];

/// What [`Session::run`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunOutput {
    /// What the command printed (stdout and stderr share the terminal),
    /// with the terminal's `"\r\n"` line ends turned back into `"\n"`: its
    /// first [`head_bytes`](Self::head_bytes) bytes are the head, the rest
    /// the tail. Complete when [`elided_bytes`](Self::elided_bytes) is 0.
    pub output: String,
    /// The command's exit status (`$?`) as the shell's prompt reported it.
    pub exit_code: i32,
    /// Length of the head in `output`; `output[head_bytes..]` is the tail.
    pub head_bytes: usize,
    /// Bytes of output left out between the head and the tail: the
    /// output was `head + elided + tail`, so `output.len() + elided_bytes
    /// == total_bytes`.
    pub elided_bytes: u64,
    /// How many of `elided_bytes` were never seen: always 0, since the
    /// engine hands the collector every byte (see the module docs). Kept
    /// so that code written against earlier versions still compiles.
    pub missed_bytes: u64,
    /// Bytes of output in all.
    pub total_bytes: u64,
    /// Absolute stream offset where the command was sent.
    pub start_offset: u64,
    /// Absolute offset one past the prompt mark that ended the command;
    /// the unread cursor is moved here.
    pub end_offset: u64,
    /// The output as the terminal sent it, for `Repl`'s reply (only when
    /// asked for).
    pub(crate) raw: Option<String>,
}

impl RunOutput {
    /// True if the exit code is 0.
    #[must_use]
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    /// The head of the output (all of it if nothing was elided).
    #[must_use]
    pub fn head(&self) -> &str {
        &self.output[..self.head_bytes]
    }

    /// The tail of the output (empty if it all fit in the head).
    #[must_use]
    pub fn tail(&self) -> &str {
        &self.output[self.head_bytes..]
    }

    /// True if `output` is all of it.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.elided_bytes == 0
    }
}

/// Options for [`Session::run_with`].
///
/// ```
/// use std::time::Duration;
/// use bgterm::RunOptions;
/// let opts = RunOptions::new().timeout(Some(Duration::from_secs(30))).head_bytes(1000).tail_bytes(4000);
/// assert_eq!((opts.get_head_bytes(), opts.get_tail_bytes()), (1000, 4000));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct RunOptions {
    timeout: Option<Duration>,
    head_bytes: usize,
    tail_bytes: usize,
    /// Keep the output as the terminal sent it too (for `Repl`'s `raw`).
    pub(crate) keep_raw: bool,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions::new()
    }
}

impl RunOptions {
    /// No time limit, [`DEFAULT_RUN_HEAD_BYTES`] and
    /// [`DEFAULT_RUN_TAIL_BYTES`].
    pub fn new() -> RunOptions {
        RunOptions {
            timeout: None,
            head_bytes: DEFAULT_RUN_HEAD_BYTES,
            tail_bytes: DEFAULT_RUN_TAIL_BYTES,
            keep_raw: false,
        }
    }

    /// How long to wait for the command (`None`, the default: no limit).
    pub fn timeout(mut self, timeout: Option<Duration>) -> RunOptions {
        self.timeout = timeout;
        self
    }

    /// How many bytes of the start of the output to keep.
    pub fn head_bytes(mut self, bytes: usize) -> RunOptions {
        self.head_bytes = bytes;
        self
    }

    /// How many bytes of the end of the output to keep.
    pub fn tail_bytes(mut self, bytes: usize) -> RunOptions {
        self.tail_bytes = bytes;
        self
    }

    /// The time limit set (see [`timeout`](Self::timeout)).
    #[must_use]
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The head size.
    #[must_use]
    pub fn get_head_bytes(&self) -> usize {
        self.head_bytes
    }

    /// The tail size.
    #[must_use]
    pub fn get_tail_bytes(&self) -> usize {
        self.tail_bytes
    }
}

// ---- per-session state ------------------------------------------------------

/// Per-session state of `run`, kept in the session handle.
#[derive(Debug, Default)]
pub(crate) struct RunSlot(Mutex<Slot>);

#[derive(Debug, Default)]
struct Slot {
    /// The nonce of the installed prompt marks, once set up.
    nonce: Option<String>,
    /// The command in flight, or finished but not yet collected.
    flight: Option<Flight>,
    /// A thread is waiting for `flight` (or setting the shell up).
    waiting: Option<String>,
    /// The shell was set up once: its process has long been exec'd, so
    /// its current name tells what runs now.
    was_set_up: bool,
    /// The shell does not expand PS2, so its continuation mark is written
    /// out in it (see [`setup_line`]) and can be printed by a command.
    ps2_literal: bool,
}

/// One command being collected by its tap.
#[derive(Debug)]
struct Flight {
    command: String,
    shared: Arc<FlightShared>,
}

impl Drop for Flight {
    fn drop(&mut self) {
        // The tap lets go at its next event.
        self.shared.collector.lock().detached = true;
    }
}

/// A flight's collector, shared by the tap that feeds it (on whichever
/// thread publishes output) and the callers that wait for it.
#[derive(Debug)]
pub(crate) struct FlightShared {
    collector: Mutex<Collector>,
}

impl FlightShared {
    /// Whether the collector has ended or asks for attention: what a
    /// waiting `run` waits for. Called under the session's state lock (the
    /// tap takes the collector's lock under it too: state, then collector).
    pub(crate) fn ready(&self) -> bool {
        let c = self.collector.lock();
        c.end.is_some() || c.wants_cancel()
    }

    /// The session is closed: nothing more will come.
    pub(crate) fn close(&self) {
        let mut c = self.collector.lock();
        if c.end.is_none() {
            c.flush();
            c.end = Some(End::Closed);
        }
    }
}

/// Feeds a flight's collector from the session's event stream: every
/// output byte, in order, as it is published, under the state lock. The
/// collector is bounded (head, tail, a short carry), so it never falls
/// behind and never needs to hold the child back.
struct RunTap {
    shared: Arc<FlightShared>,
    decoder: TextDecoder,
}

impl Tap for RunTap {
    fn event(&mut self, event: &Event<'_>) -> bool {
        let mut c = self.shared.collector.lock();
        if c.end.is_some() || c.detached {
            return false;
        }
        match *event {
            Event::Output { offset, bytes } => {
                // Replace mode: never an error.
                let text = self.decoder.decode(bytes).unwrap_or_default();
                c.output(offset, offset + bytes.len() as u64, &text);
            }
            Event::Exit { status } => {
                c.flush();
                c.end = Some(End::Exited(status));
            }
            _ => {}
        }
        c.end.is_none()
    }
}

/// Clears `Slot::waiting` however the waiting call returns (a dropped
/// future too).
pub(crate) struct Waiting(Arc<RunSlot>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.0.lock().waiting = None;
    }
}

/// A `run` that has claimed its session (see `Session::run_claim`).
pub(crate) struct RunClaim {
    _waiting: Waiting,
    pub(crate) command: String,
    lines: Vec<String>,
    /// The prompt marks' nonce, once the shell is set up.
    pub(crate) nonce: Option<String>,
}

/// The shell set-up in progress (see `Session::set_up_begin`).
pub(crate) struct SetUp {
    flight: Flight,
    nonce: String,
    program: String,
    ps2_literal: bool,
}

impl SetUp {
    /// What to wait on.
    pub(crate) fn shared(&self) -> &FlightShared {
        &self.flight.shared
    }
}

// ---- the collector ----------------------------------------------------------

/// How a command ended, as the collector saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    /// The final prompt, with its status text.
    Prompt { status: String },
    /// The shell exited.
    Exited(ExitStatus),
    /// The session was closed.
    Closed,
}

/// Splits the output stream into the command's output and prompt marks,
/// and keeps the head, the tail and the counts. Pure: fed by events.
#[derive(Debug)]
struct Collector {
    /// What ends every main-prompt mark of ours: `;aid=`, the first half
    /// of the nonce, BEL.
    suffix: String,
    /// What ends every continuation mark: `;aid=`, the second half, BEL.
    more_suffix: String,
    /// The flight was dropped: the tap lets go.
    detached: bool,
    /// Lines sent: the shell prompts once per line it reads.
    lines: usize,
    prompts: usize,
    /// The last prompt was a continuation prompt.
    last_more: bool,
    /// Ctrl-C was sent when the stream was at this offset: the first
    /// main prompt after it ends the command.
    interrupted_at: Option<u64>,
    head_cap: usize,
    tail_cap: usize,
    head: String,
    tail: String,
    head_closed: bool,
    elided: u64,
    total: u64,
    /// Unclassified text that may be the start of a mark.
    carry: String,
    /// A "\r" held back in case "\n" follows.
    pending_cr: bool,
    end: Option<End>,
    /// Where the command was sent.
    start_offset: u64,
    /// One past the final mark, once seen.
    end_offset: u64,
    /// Cancelled because the shell asked for more input.
    incomplete: bool,
    /// All the output as it came (before line-end conversion), if kept.
    raw: Option<String>,
}

impl Collector {
    fn new(nonce: String, lines: usize, head_cap: usize, tail_cap: usize, start: u64) -> Collector {
        Collector {
            suffix: format!(";aid={}\x07", &nonce[..nonce.len() / 2]),
            more_suffix: format!(";aid={}\x07", &nonce[nonce.len() / 2..]),
            detached: false,
            lines,
            prompts: 0,
            last_more: false,
            interrupted_at: None,
            head_cap,
            tail_cap,
            head: String::new(),
            tail: String::new(),
            head_closed: false,
            elided: 0,
            total: 0,
            carry: String::new(),
            pending_cr: false,
            end: None,
            start_offset: start,
            end_offset: start,
            incomplete: false,
            raw: None,
        }
    }

    /// Every line was read and the shell still wants more, and nobody has
    /// cancelled it yet.
    fn wants_cancel(&self) -> bool {
        self.end.is_none() && self.prompts >= self.lines && self.last_more && self.interrupted_at.is_none()
    }

    /// Output text from `start` to `end` (absolute offsets of the event
    /// it came in). A mark of ours is `MARK`, a body, and the nonce's
    /// suffix; it is looked for by its suffix, which no other output
    /// holds, and the body is the text after the last `MARK` before it, so
    /// someone else's unfinished OSC 133 in the output (cut off, or ended
    /// by ST) cannot swallow it.
    fn output(&mut self, start: u64, end: u64, text: &str) {
        if self.end.is_some() {
            return;
        }
        let mut buf = std::mem::take(&mut self.carry);
        buf.push_str(text);
        let mut pos = 0;
        while self.end.is_none() {
            let found = [self.suffix.as_str(), self.more_suffix.as_str()]
                .into_iter()
                .filter_map(|suffix| Some((buf[pos..].find(suffix)?, suffix.len(), suffix == self.suffix)))
                .min();
            let Some((i, suffix_len, main)) = found else {
                // Hold back what may begin a mark: from the first ESC in
                // the last mark's length.
                let window = MARK.len() + MAX_MARK_BODY + self.suffix.len().max(self.more_suffix.len());
                let lo = buf.floor_char_boundary(buf.len().saturating_sub(window)).max(pos);
                let keep_from = buf[lo..].find('\x1b').map_or(buf.len(), |k| lo + k);
                self.emit(&buf[pos..keep_from]);
                self.carry = buf[keep_from..].to_string();
                return;
            };
            let at = pos + i;
            let after = at + suffix_len;
            let lo = buf
                .floor_char_boundary(at.saturating_sub(MARK.len() + MAX_MARK_BODY))
                .max(pos);
            let ours = buf[lo..at]
                .rfind(MARK)
                .map(|k| lo + k)
                .filter(|&k| is_mark_body(&buf[k + MARK.len()..at], main));
            match ours {
                Some(k) => {
                    self.emit(&buf[pos..k]);
                    self.mark(&buf[k + MARK.len()..at], start);
                    if self.end.is_some() {
                        // The offset one past the final mark: what followed
                        // it in this event is after it in the stream.
                        self.end_offset = end.saturating_sub((buf.len() - after) as u64);
                    }
                }
                // Not a mark of ours: output like any other.
                None => self.emit(&buf[pos..after]),
            }
            pos = after;
        }
    }

    /// Handles the body of a mark of ours (see [`is_mark_body`]).
    fn mark(&mut self, body: &str, event_start: u64) {
        let Some(status) = body.strip_prefix("D;") else {
            self.prompts += 1;
            self.last_more = true;
            return;
        };
        self.prompts += 1;
        self.last_more = false;
        let by_interrupt = self.interrupted_at.is_some_and(|at| event_start >= at);
        if self.prompts >= self.lines || by_interrupt {
            self.flush();
            self.end = Some(End::Prompt {
                status: status.to_string(),
            });
        }
    }

    /// Output text, before line-end conversion.
    fn emit(&mut self, mut s: &str) {
        if s.is_empty() {
            return;
        }
        if let Some(raw) = &mut self.raw {
            raw.push_str(s);
        }
        if std::mem::take(&mut self.pending_cr) && !s.starts_with('\n') {
            self.keep("\r");
        }
        if let Some(body) = s.strip_suffix('\r') {
            self.pending_cr = true;
            s = body;
        }
        if s.contains("\r\n") {
            self.keep(&s.replace("\r\n", "\n"));
        } else {
            self.keep(s);
        }
    }

    /// Ends the text stream: a held "\r" or partial mark is output.
    fn flush(&mut self) {
        let carry = std::mem::take(&mut self.carry);
        self.emit(&carry);
        if std::mem::take(&mut self.pending_cr) {
            self.keep("\r");
        }
    }

    /// Output text, converted: into the head, then the tail.
    fn keep(&mut self, mut s: &str) {
        self.total += s.len() as u64;
        if !self.head_closed {
            let room = self.head_cap - self.head.len();
            if s.len() <= room {
                self.head.push_str(s);
                return;
            }
            let cut = s.floor_char_boundary(room);
            self.head.push_str(&s[..cut]);
            self.head_closed = true;
            s = &s[cut..];
        }
        self.tail.push_str(s);
        if self.tail.len() > 2 * self.tail_cap + 4096 {
            self.trim_tail();
        }
    }

    fn trim_tail(&mut self) {
        if self.tail.len() > self.tail_cap {
            let cut = self.tail.ceil_char_boundary(self.tail.len() - self.tail_cap);
            self.elided += cut as u64;
            self.tail.drain(..cut);
        }
    }

    /// The output so far (a copy; the collector goes on).
    fn partial(&self) -> RunPartial {
        let mut tail = self.tail.as_str();
        let mut elided = self.elided;
        if tail.len() > self.tail_cap {
            let cut = tail.ceil_char_boundary(tail.len() - self.tail_cap);
            elided += cut as u64;
            tail = &tail[cut..];
        }
        RunPartial {
            output: format!("{}{tail}", self.head),
            head_bytes: self.head.len(),
            elided_bytes: elided,
            missed_bytes: 0,
            total_bytes: self.total,
            raw: self.raw.clone(),
        }
    }
}

/// Whether `body` (between [`MARK`] and the nonce) is one of our marks':
/// before the main half of the nonce, `D;` and a status without control
/// characters (the main prompt); before the other half, `P;k=s` (the
/// continuation prompt).
fn is_mark_body(body: &str, main: bool) -> bool {
    if main {
        body.strip_prefix("D;")
            .is_some_and(|status| !status.chars().any(char::is_control))
    } else {
        body == "P;k=s"
    }
}

// ---- the shell side -----------------------------------------------------------

/// The one line that installs the prompt marks (see the module docs). It
/// is POSIX sh; the bash and zsh parts run through `eval`, so other shells
/// never parse them.
///
/// The nonce is split in two shell variables that the prompts join when
/// they are expanded, so the mark's bytes are in no variable, no argument
/// and no environment: printing `set`, `env` or the prompts themselves
/// shows two halves and `${__bgterm_a}${__bgterm_b}`, never a mark.
fn setup_line(nonce: &str, ps2_expands: bool) -> String {
    let (main, more) = nonce.split_at(nonce.len() / 2);
    let (a, b) = main.split_at(main.len() / 2);
    // In shells that do not expand PS2 (mksh, busybox sh) its nonce half is
    // written out: printing PS2 there shows it (it can then look like a
    // continuation prompt, never like the end of a command).
    let ps2_nonce = if ps2_expands {
        "${__bgterm_c}${__bgterm_d}".to_string()
    } else {
        more.to_string()
    };
    let (c, d) = more.split_at(more.len() / 2);
    let zsh = "unsetopt zle prompt_sp prompt_cr bang_hist monitor notify 2>/dev/null; \
               setopt prompt_percent prompt_subst hist_ignore_space interactive_comments; fc -p; \
               RPS1=; RPS2=; precmd_functions=(); preexec_functions=(); \
               unfunction precmd preexec 2>/dev/null; __bgterm_st=\"%?\"";
    // (`set +o emacs` turns readline off; run through `eval` it would lose
    // the rest of this line, so it comes after, outside. The prompt command
    // turns history expansion and job control off again before each prompt
    // should a command turn them on; a command that turns the line editor
    // back on needs `run_abandon`.)
    let bash = "case $(history 1) in *__bgterm_rc=*) history -d -1;; esac; \
                unset PS0; trap - DEBUG; shopt -s promptvars; \
                PROMPT_COMMAND=\"set +H +m\"";
    format!(
        " __bgterm_rc=$?; stty -echo 2>/dev/null; __bgterm_st='$?'; __bgterm_a={a}; __bgterm_b={b}; __bgterm_c={c}; __bgterm_d={d}; \
         case $- in *i*) ;; *) printf '\\033]133;D;{NOT_INTERACTIVE};aid=%s%s\\007' \"$__bgterm_a\" \"$__bgterm_b\";; esac; \
         if [ -n \"${{ZSH_VERSION-}}\" ]; then eval '{zsh}'; \
         elif [ -n \"${{BASH_VERSION-}}\" ]; then eval '{bash}'; fi; \
         PS1=$(printf '\\033]133;D;%s;aid=${{__bgterm_a}}${{__bgterm_b}}\\007' \"$__bgterm_st\"); \
         PS2=$(printf '\\033]133;P;k=s;aid={ps2_nonce}\\007'); \
         printf '\\033[H\\033[J'; set +m 2>/dev/null; \
         [ -n \"${{BASH_VERSION-}}\" ] && set +o emacs +o vi +H; \
         [ -n \"${{KSH_VERSION-}}\" ] && set +o emacs +o gmacs +o vi 2>/dev/null; \
         eval \"unset __bgterm_rc __bgterm_st; (exit $__bgterm_rc)\"\n"
    )
}

/// Whether the shell expands parameters in PS2 (bash, zsh, dash do;
/// mksh and the other ksh, busybox sh and ash do not), judged by the
/// program's name and, for a `sh`, by the binary it runs.
fn ps2_expands(pid: u32, program: &str) -> bool {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let busybox = exe.is_some_and(|p| p.to_string_lossy().contains("busybox"));
    !busybox
        && !matches!(
            program,
            "busybox" | "ash" | "ksh" | "ksh93" | "mksh" | "lksh" | "pdksh" | "yash"
        )
}

/// Whether the kernel shows process `pid` blocked waiting for a child
/// (`wait4`, `waitid`, or `sigsuspend` as mksh waits): then it is running
/// a command, not showing a prompt. False where it cannot be told (no
/// `/proc`). A process on a CPU at this moment is looked at again, a
/// bounded number of times (it is between two system calls: about to
/// read its terminal, or to wait for the next command it started).
fn waits_for_a_child(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        for _ in 0..1000 {
            let Ok(syscall) = std::fs::read_to_string(format!("/proc/{pid}/syscall")) else {
                return false;
            };
            if syscall.starts_with("running") {
                std::thread::yield_now();
                continue;
            }
            let number = syscall
                .split(' ')
                .next()
                .and_then(|n| n.trim().parse::<libc::c_long>().ok());
            return matches!(number, Some(n) if n == libc::SYS_wait4 || n == libc::SYS_waitid || n == libc::SYS_rt_sigsuspend);
        }
        false
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        false
    }
}

/// A hard-to-guess, never-repeating nonce (hex).
fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // Mix pid, time and counter (splitmix64 finaliser) so concurrent
    // processes and calls never share a nonce.
    let mut x = t ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    format!("{x:016x}")
}

/// The command's lines as the terminal will deliver them, or why not.
fn command_lines(command: &str) -> Result<Vec<&str>> {
    if command
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(Error::InvalidRunCommand {
            command: command.to_string(),
            reason: "it contains a control character other than tab and newline",
        });
    }
    if command.contains('\r') {
        return Err(Error::InvalidRunCommand {
            command: command.to_string(),
            reason: "it contains a carriage return (the terminal would end the line there); use \"\\n\"",
        });
    }
    Ok(command.trim_end_matches('\n').split('\n').collect())
}

/// The session's current program, if it can be read.
fn program_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

impl Session {
    /// The state of `run` for this session (a session extension).
    fn run_slot(&self) -> Arc<RunSlot> {
        self.extension(RunSlot::default)
    }

    /// Runs `command` in this session's shell and returns its output and
    /// exit code once it has finished, for at most `timeout` (`None`: no
    /// limit). See [`run_with`](Self::run_with) for the head and tail sizes.
    ///
    /// The session must be an interactive POSIX shell at its prompt (see
    /// the supported shells below); start it with
    /// [`SessionBuilder::for_run`](crate::SessionBuilder::for_run) so that nothing of the setup is ever
    /// echoed. (A shell started otherwise echoes the setup line once; wait
    /// for its first prompt before the first `run`, or the line may be
    /// echoed twice, by the terminal and by the line editor, and scroll
    /// past the part of the screen the setup blanks.)
    ///
    /// The command runs in the shell itself, so `cd`, variables and `$?`
    /// persist from one `run` to the next. It may span several lines (all
    /// are typed at once; the shell prompts once per line it reads, and the
    /// prompt after the last line ends the run), and must not read from the
    /// terminal: input it reads would be the command's own later lines.
    ///
    /// How it works: the first `run` sets the shell's prompts to invisible
    /// marks that carry `$?`, and turns off echo and line editing; then the
    /// command is typed as given, and the next prompt reports its status.
    /// Nothing is wrapped around the command, so the history shows exactly
    /// it, the screen shows only its output, and `$?` is its status.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::SessionBuilder;
    ///
    /// let t = Some(Duration::from_secs(10));
    /// let sh = SessionBuilder::new(["sh"]).for_run().spawn()?;
    /// let r = sh.run("echo hello; ls /nonexistent-dir 2>/dev/null", t)?;
    /// assert_eq!((r.output.as_str(), r.exit_code), ("hello\n", 2));
    /// // `$?` is the previous command's status: nothing ran in between.
    /// assert_eq!(sh.run("echo $?", t)?.output, "2\n");
    /// let r = sh.run("printf 'no newline'", t)?;
    /// assert_eq!((r.output.as_str(), r.exit_code), ("no newline", 0));
    /// // Output past the head and tail sizes is counted, not silently cut.
    /// assert!(r.is_complete());
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// Supported shells: `sh`, `dash`, `bash` 5+, `zsh`, `mksh` and
    /// `busybox sh` (tested), `ksh93`, `ash`, `yash` (accepted, untested). Fish (which spells `$?` as `$status`), csh/tcsh and
    /// non-shell programs are refused before anything is typed
    /// ([`Error::UnsupportedShell`]).
    ///
    /// # Errors
    ///
    /// - [`Error::RunTimeout`] if the command has not finished in time: it
    ///   keeps running, the error holds its output so far, and
    ///   [`run_resume`](Self::run_resume) keeps waiting for it (or
    ///   [`run_interrupt`](Self::run_interrupt) stops it).
    /// - [`Error::RunBusy`] if an earlier `run` has not finished (nothing is
    ///   sent).
    /// - [`Error::RunShellExited`] if the shell exits (say the command was
    ///   `exit 3`), with the output and the shell's exit status.
    /// - [`Error::RunStatus`] if the prompt's status is not a number (none
    ///   is made up).
    /// - [`Error::RunIncomplete`] if the shell asks for more input after the
    ///   last line (an unclosed quote): it is cancelled with Ctrl-C.
    /// - [`Error::UnsupportedShell`] (see above), [`Error::InvalidRunCommand`]
    ///   for control characters, [`Error::WaitTimeout`] if the shell did not
    ///   show its prompt after the first-use setup in time, and the errors
    ///   of [`send`](Self::send) ([`Error::SessionExited`],
    ///   [`Error::LineTooLong`], ...).
    pub fn run(&self, command: &str, timeout: Option<Duration>) -> Result<RunOutput> {
        self.run_with(command, &RunOptions::new().timeout(timeout))
    }

    /// [`run`](Self::run) with options: the time limit and how much of the
    /// start and the end of the output to keep.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::{RunOptions, SessionBuilder};
    ///
    /// let sh = SessionBuilder::new(["sh"]).for_run().spawn()?;
    /// let opts = RunOptions::new().timeout(Some(Duration::from_secs(10))).head_bytes(4).tail_bytes(4);
    /// let r = sh.run_with("seq 1 1000", &opts)?;
    /// assert_eq!((r.head(), r.tail()), ("1\n2\n", "000\n"));
    /// assert_eq!(r.total_bytes, 3893); // what `seq 1 1000 | wc -c` says
    /// assert_eq!(r.output.len() as u64 + r.elided_bytes, r.total_bytes);
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`run`](Self::run).
    pub fn run_with(&self, command: &str, options: &RunOptions) -> Result<RunOutput> {
        let started = Instant::now();
        let deadline = deadline_after(options.timeout);
        let claim = self.run_claim(command)?;
        let nonce = match &claim.nonce {
            Some(n) => n.clone(),
            None => {
                if self.run_needs_ready() {
                    // Typed before the wrapper's `stty -echo` ran, the setup
                    // line would be echoed: wait for the wrapper's first
                    // (and only) output, printed once echo is off.
                    self.wait_for_from_deadline(0, READY, deadline)?;
                }
                let setup = self.set_up_begin()?;
                let ready = self.wait_flight(setup.shared(), deadline);
                self.set_up_end(setup, ready, started)?
            }
        };
        let shared = self.run_launch(&claim, &nonce, options)?;
        loop {
            let ready = self.wait_flight(&shared, deadline);
            if let Some(result) = self.run_step(&shared, &claim.command, started, !ready) {
                return result;
            }
        }
    }

    /// [`Error::RunBusy`] if another thread waits for this session's `run`.
    fn not_waited_for(&self, s: &Slot) -> Result<()> {
        match &s.waiting {
            Some(waiting) => Err(Error::RunBusy {
                id: self.id(),
                command: waiting.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Claims the session for one `run`: refuses a second one in flight
    /// ([`Error::RunBusy`]), checks the command, and says whether the shell
    /// is set up already.
    pub(crate) fn run_claim(&self, command: &str) -> Result<RunClaim> {
        let lines = command_lines(command)?;
        let slot = self.run_slot();
        let mut s = slot.0.lock();
        self.not_waited_for(&s)?;
        if let Some(f) = &s.flight {
            if f.shared.collector.lock().end.is_none() {
                return Err(Error::RunBusy {
                    id: self.id(),
                    command: f.command.clone(),
                });
            }
            // Finished and never collected: the shell is free again.
            s.flight = None;
        }
        s.waiting = Some(command.to_string());
        let nonce = s.nonce.clone();
        drop(s);
        Ok(RunClaim {
            _waiting: Waiting(slot),
            command: command.to_string(),
            lines: lines.into_iter().map(str::to_string).collect(),
            nonce,
        })
    }

    /// Whether the first `run` must wait for a [`SessionBuilder::for_run`]
    /// wrapper's ready mark before typing anything.
    ///
    /// [`SessionBuilder::for_run`]: crate::SessionBuilder::for_run
    pub(crate) fn run_needs_ready(&self) -> bool {
        self.is_for_run() && self.output_offset().is_ok_and(|at| at == 0)
    }

    /// Starts the command of `claim`: subscribes its collector, then types
    /// it. Returns what to wait on; [`run_step`](Self::run_step) makes the
    /// result.
    pub(crate) fn run_launch(
        &self,
        claim: &RunClaim,
        nonce: &str,
        options: &RunOptions,
    ) -> Result<Arc<FlightShared>> {
        let flight = self.launch(
            &claim.command,
            nonce,
            claim.lines.len(),
            options.head_bytes,
            options.tail_bytes,
            options.keep_raw,
        )?;
        let shared = Arc::clone(&flight.shared);
        // Attached (in `launch`) before sending, so no byte is missed.
        let mut text = claim.lines.join("\n");
        text.push('\n');
        self.send(&text)?;
        self.run_slot().0.lock().flight = Some(flight);
        Ok(shared)
    }

    /// Keeps waiting, for at most `timeout`, for the command of a `run`
    /// that timed out, and returns its whole result (its output includes
    /// what the timeout's [`RunPartial`] held). The result waits here until
    /// collected: a new [`run`](Self::run) after the command has finished
    /// discards it (while it has not finished, `run` is
    /// [`Error::RunBusy`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::{Error, SessionBuilder};
    ///
    /// let sh = SessionBuilder::new(["sh"]).for_run().spawn()?;
    /// let err = sh.run("echo started; read x; echo got $x", Some(Duration::from_millis(300))).unwrap_err();
    /// let Error::RunTimeout { partial, .. } = err else { panic!("{err}") };
    /// // (the output so far may still be on its way: it is kept either way)
    /// assert!("started\n".starts_with(partial.output.as_str()));
    /// # // `read` takes the next line typed: send it as input.
    /// sh.send("it\n")?;
    /// let r = sh.run_resume(Some(Duration::from_secs(10)))?;
    /// assert_eq!(r.output, "started\ngot it\n");
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NoPendingRun`] if no `run` is unfinished,
    /// [`Error::RunBusy`] if another thread is already waiting for it, and
    /// otherwise as for [`run`](Self::run).
    pub fn run_resume(&self, timeout: Option<Duration>) -> Result<RunOutput> {
        self.resume(timeout, false)
    }

    /// Interrupts the command of an unfinished `run` with Ctrl-C and waits,
    /// for at most `timeout`, for the shell's prompt; returns the command's
    /// output and status (130 for a command that SIGINT ended; bash, which
    /// `run` keeps without job control so that no job notice lands in an
    /// output, keeps an earlier `$?` of 128 or more instead: its own rule
    /// for a Ctrl-C it takes as its own). Lines of a multi-line command not
    /// yet read are discarded by the terminal.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::SessionBuilder;
    ///
    /// let t = Some(Duration::from_secs(10));
    /// let sh = SessionBuilder::new(["bash", "--norc"]).for_run().spawn()?;
    /// assert!(sh.run("sleep 30", Some(Duration::from_millis(200))).unwrap_err().is_timeout());
    /// assert_eq!(sh.run_interrupt(t)?.exit_code, 130);
    /// assert_eq!(sh.run("echo $?", t)?.output, "130\n");
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`run_resume`](Self::run_resume).
    pub fn run_interrupt(&self, timeout: Option<Duration>) -> Result<RunOutput> {
        self.resume(timeout, true)
    }

    /// Gives up the unfinished `run`, if any, and brings the shell back to
    /// a known state: the way out when [`run_interrupt`](Self::run_interrupt)
    /// cannot help (the command replaced the shell with `exec sh`, changed
    /// `PS1`, or started a program that ignores Ctrl-C).
    ///
    /// Sends Ctrl-C, then sets the shell up for `run` afresh (new prompt
    /// marks, echo and line editing off), waiting at most `timeout` for its
    /// prompt. Returns what the abandoned command printed. Afterwards the
    /// session is never [`Error::RunBusy`]: the next `run` works, or is a
    /// typed error that says why (say the command exec'd a program that is
    /// not a shell: [`Error::UnsupportedShell`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::SessionBuilder;
    ///
    /// let t = Some(Duration::from_secs(10));
    /// let sh = SessionBuilder::new(["sh"]).for_run().spawn()?;
    /// // A new shell without the marks: this run cannot see its end.
    /// assert!(sh.run("exec sh", Some(Duration::from_millis(300))).unwrap_err().is_timeout());
    /// sh.run_abandon(t)?;
    /// assert_eq!(sh.run("echo back", t)?.output, "back\n");
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::RunBusy`] if another thread is waiting for the run (nothing
    /// is done); otherwise the errors of setting the shell up, as for the
    /// first [`run`](Self::run): [`Error::UnsupportedShell`] (the program
    /// is no longer a shell), [`Error::WaitTimeout`] (no prompt in time),
    /// [`Error::ExitedBeforeMatch`], [`Error::SessionExited`]. After any of
    /// them the run is still given up.
    pub fn run_abandon(&self, timeout: Option<Duration>) -> Result<RunPartial> {
        let started = Instant::now();
        let deadline = deadline_after(timeout);
        let slot = self.run_slot();
        let mut s = slot.0.lock();
        self.not_waited_for(&s)?;
        let flight = s.flight.take();
        s.nonce = None;
        s.waiting = Some("(abandoning a run)".into());
        drop(s);
        let _waiting = Waiting(Arc::clone(&slot));
        let partial = flight
            .as_ref()
            .map(|f| f.shared.collector.lock().partial())
            .unwrap_or_default();
        drop(flight);
        let at = self.output_offset()?;
        self.send_bytes(b"\x03")?;
        // Let the shell take the Ctrl-C before the setup line comes: a
        // shell that reads the line before it handles the signal drops it.
        // Its answer is a prompt (any output); a shell that says nothing is
        // not waited for past a moment.
        let settle = Instant::now() + ABANDON_SETTLE;
        let any = Pattern::regex("(?s).")?;
        let _ = self.wait_for_from_deadline(at, any, Some(deadline.map_or(settle, |d| d.min(settle))));
        for attempt in 1..=ABANDON_TRIES {
            let setup = self.set_up_begin()?;
            let retry = Instant::now() + ABANDON_SETTLE;
            let until = match deadline {
                _ if attempt == ABANDON_TRIES => deadline,
                Some(d) => Some(d.min(retry)),
                None => Some(retry),
            };
            let ready = self.wait_flight(setup.shared(), until);
            if ready || attempt == ABANDON_TRIES || deadline.is_some_and(|d| Instant::now() >= d) {
                self.set_up_end(setup, ready, started)?;
                return Ok(partial);
            }
            // The shell dropped the setup line with the interrupted one.
        }
        unreachable!("the last attempt returns")
    }

    /// The command of an unfinished `run` (timed out and not yet resumed,
    /// or being waited for), if any.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn run_in_flight(&self) -> Result<Option<String>> {
        self.try_wait()?;
        let slot = self.run_slot();
        let s = slot.0.lock();
        if let Some(w) = &s.waiting {
            return Ok(Some(w.clone()));
        }
        Ok(s.flight
            .as_ref()
            .filter(|f| f.shared.collector.lock().end.is_none())
            .map(|f| f.command.clone()))
    }

    fn resume(&self, timeout: Option<Duration>, interrupt: bool) -> Result<RunOutput> {
        let started = Instant::now();
        let deadline = deadline_after(timeout);
        let (_waiting, command, shared) = self.resume_begin(interrupt)?;
        loop {
            let ready = self.wait_flight(&shared, deadline);
            if let Some(result) = self.run_step(&shared, &command, started, !ready) {
                return result;
            }
        }
    }

    /// Claims the unfinished run for one resume (and sends Ctrl-C for an
    /// interrupt); the caller waits (blocking or async) and steps it with
    /// [`run_step`](Self::run_step).
    pub(crate) fn resume_begin(&self, interrupt: bool) -> Result<(Waiting, String, Arc<FlightShared>)> {
        let slot = self.run_slot();
        let mut s = slot.0.lock();
        self.not_waited_for(&s)?;
        let Some(f) = &s.flight else {
            return Err(Error::NoPendingRun { id: self.id() });
        };
        let (command, shared) = (f.command.clone(), Arc::clone(&f.shared));
        s.waiting = Some(command.clone());
        drop(s);
        let waiting = Waiting(Arc::clone(&slot));
        if interrupt && shared.collector.lock().end.is_none() {
            self.interrupt_flight(&shared)?;
        }
        Ok((waiting, command, shared))
    }

    /// Sends Ctrl-C, after noting where the stream was, so that only a
    /// prompt after it counts as the end.
    fn interrupt_flight(&self, shared: &FlightShared) -> Result<()> {
        let at = self.output_offset()?;
        shared.collector.lock().interrupted_at = Some(at);
        self.send_bytes(b"\x03")
    }

    /// Attaches the collector of one command, which sees the output from
    /// the current end of the stream on (taken under the same lock, so
    /// nothing slips between them).
    fn launch(
        &self,
        command: &str,
        nonce: &str,
        lines: usize,
        head: usize,
        tail: usize,
        raw: bool,
    ) -> Result<Flight> {
        let encoding = self.encoding();
        let shared = self.with_state(|g| {
            let mut c = Collector::new(nonce.to_string(), lines, head, tail, g.end());
            c.raw = raw.then(String::new);
            if let Some(status) = g.exit() {
                c.end = Some(End::Exited(status));
            }
            let ended = c.end.is_some();
            let shared = Arc::new(FlightShared {
                collector: Mutex::new(c),
            });
            if !ended {
                g.add_tap(Box::new(RunTap {
                    shared: Arc::clone(&shared),
                    decoder: TextDecoder::new(encoding, DecodeErrors::Replace),
                }));
            }
            Ok(shared)
        })?;
        Ok(Flight {
            command: command.to_string(),
            shared,
        })
    }

    /// Waits until the flight has ended or asks for attention, or until
    /// `deadline`, on the session's own wait (woken as output is
    /// published, which the tap has seen by then). Returns whether it has.
    pub(crate) fn wait_flight(&self, shared: &FlightShared, deadline: Option<Instant>) -> bool {
        self.wait_flight_for(shared, deadline, FlightShared::ready)
    }

    /// Waits until `ready(shared)` or `deadline` (see [`wait_flight`](Self::wait_flight)).
    fn wait_flight_for(
        &self,
        shared: &FlightShared,
        deadline: Option<Instant>,
        ready: impl Fn(&FlightShared) -> bool,
    ) -> bool {
        let waited = self.core().and_then(|core| {
            core.lock()
                .and_then(|g| g.wait_until(deadline, |_| ready(shared)))
                .map(drop)
        });
        if waited.is_err() {
            // Closed, before or during the wait.
            shared.close();
        }
        ready(shared)
    }

    /// Turns the flight's state into the result, without waiting: `None`
    /// while the command runs and the wait has not `timed_out` (also after
    /// answering the collector's request to cancel an incomplete command),
    /// [`Error::RunTimeout`] if it has (the command stays pending).
    pub(crate) fn run_step(
        &self,
        shared: &FlightShared,
        command: &str,
        started: Instant,
        timed_out: bool,
    ) -> Option<Result<RunOutput>> {
        let id = self.id();
        let ps2_literal = self.run_slot().0.lock().ps2_literal;
        if ps2_literal && shared.ready() && shared.collector.lock().wants_cancel() {
            // Where PS2 is not expanded, printing it shows the mark: a
            // real continuation prompt leaves the shell reading its
            // terminal with nothing after the mark. A shell that waits for
            // a command is at no prompt; one that goes on to its main
            // prompt soon was not asking for more either.
            let forged = waits_for_a_child(self.pid())
                || self.wait_flight_for(shared, Some(Instant::now() + CONTINUATION_GRACE), |f| {
                    f.collector.lock().end.is_some()
                });
            let mut c = shared.collector.lock();
            if forged && c.end.is_none() {
                c.prompts -= 1;
                c.last_more = false;
                return None;
            }
        }
        let mut c = shared.collector.lock();
        if c.wants_cancel() {
            c.incomplete = true;
            drop(c);
            if let Err(e) = self.interrupt_flight(shared) {
                return Some(Err(e));
            }
            if program_name(self.pid()).as_deref() == Some("zsh") {
                // Without its line editor, zsh takes a Ctrl-C at its
                // continuation prompt only once the next line comes,
                // and then prompts once.
                if let Err(e) = self.send("\n") {
                    return Some(Err(e));
                }
            }
            return None;
        }
        let (end, c_partial, incomplete, start_offset, end_offset) = match c.end.clone() {
            Some(end) => (end, c.partial(), c.incomplete, c.start_offset, c.end_offset),
            None if timed_out => {
                return Some(Err(Error::RunTimeout {
                    id,
                    command: command.to_string(),
                    waited: started.elapsed(),
                    partial: Box::new(c.partial()),
                }));
            }
            None => return None,
        };
        drop(c);
        Some(self.run_result(command, end, c_partial, incomplete, start_offset, end_offset))
    }

    /// The result of a command that ended.
    fn run_result(
        &self,
        command: &str,
        end: End,
        c_partial: RunPartial,
        incomplete: bool,
        start_offset: u64,
        end_offset: u64,
    ) -> Result<RunOutput> {
        let id = self.id();
        // The command is over: free the slot (this joins the thread, which
        // has ended or is about to).
        let flight = self.run_slot().0.lock().flight.take();
        drop(flight);
        let partial = c_partial;
        match end {
            End::Closed => Err(Error::SessionClosed { id }),
            End::Exited(_) if matches!(self.try_wait(), Err(Error::SessionClosed { .. })) => {
                // The exit that a close's own SIGKILL caused.
                Err(Error::SessionClosed { id })
            }
            End::Exited(status) => {
                // The shell is gone; another would need setting up.
                self.run_slot().0.lock().nonce = None;
                Err(Error::RunShellExited {
                    id,
                    command: command.to_string(),
                    status,
                    output: Box::new(partial),
                })
            }
            End::Prompt { status } => {
                self.consume_to(end_offset);
                if incomplete {
                    return Err(Error::RunIncomplete {
                        id,
                        command: command.to_string(),
                        output: Box::new(partial),
                    });
                }
                let Ok(exit_code) = status.parse::<i32>() else {
                    return Err(Error::RunStatus {
                        id,
                        command: command.to_string(),
                        status,
                        output: Box::new(partial),
                    });
                };
                Ok(RunOutput {
                    output: partial.output,
                    exit_code,
                    head_bytes: partial.head_bytes,
                    elided_bytes: partial.elided_bytes,
                    missed_bytes: partial.missed_bytes,
                    total_bytes: partial.total_bytes,
                    start_offset,
                    end_offset,
                    raw: partial.raw,
                })
            }
        }
    }

    /// Moves the unread cursor to `offset` (one past the final prompt
    /// mark), as a read would have: the run has consumed its output. A
    /// zero-timeout wait for the BEL that ends the mark never blocks; the
    /// mark is the last thing the shell printed, so it is in the ring.
    fn consume_to(&self, offset: u64) {
        let _ = self.with_state(|g| {
            g.consume_to(offset);
            Ok(())
        });
    }

    /// Starts installing the prompt marks (first use): checks the program,
    /// then types the setup line. [`set_up_end`](Self::set_up_end) judges
    /// the prompt that answers it.
    pub(crate) fn set_up_begin(&self) -> Result<SetUp> {
        let id = self.id();
        // The program as started (an argv's program; the process's name for
        // a `sh -c` line), and the process's current name: both must be a
        // shell. A wrapper script (say a version manager's `python3` shim)
        // is a shell for a moment before it execs the real program, and a
        // shell that ran `exec python3` runs python now.
        let current = program_name(self.pid());
        let program = match self.started_program() {
            // A program that execs its arguments: what runs now tells.
            Some(p) if EXEC_WRAPPERS.contains(&p.as_str()) => current.clone().unwrap_or(p),
            Some(p) => p,
            None => current.clone().unwrap_or_default(),
        };
        let not_shell = |p: &str| !p.is_empty() && !SHELLS.contains(&p);
        // (Before the first set-up the child may not have exec'd yet: its
        // name is then its parent thread's.)
        let was_set_up = self.run_slot().0.lock().was_set_up;
        let refused = if not_shell(&program) {
            Some(program.clone())
        } else {
            current.filter(|c| was_set_up && not_shell(c))
        };
        if let Some(program) = refused {
            return Err(Error::UnsupportedShell {
                id,
                program,
                reason: "not a POSIX shell (supported: sh, dash, bash, zsh, ksh, mksh, ash, busybox, yash)",
            });
        }
        // Two nonces: one for the main prompt, one for the continuation.
        let nonce = nonce() + &nonce();
        let flight = self.launch("(bgterm shell setup)", &nonce, 1, 4096, 4096, false)?;
        let ps2_literal = !ps2_expands(self.pid(), &program);
        self.send(&setup_line(&nonce, !ps2_literal))?;
        Ok(SetUp {
            flight,
            nonce,
            program,
            ps2_literal,
        })
    }

    /// Judges the prompt that answered the setup line (`ready`: it came in
    /// time) and, if the marks work, remembers them.
    pub(crate) fn set_up_end(&self, setup: SetUp, ready: bool, started: Instant) -> Result<String> {
        let id = self.id();
        let SetUp {
            flight,
            nonce,
            program,
            ps2_literal,
        } = setup;
        let c = flight.shared.collector.lock();
        let result = match (&c.end, ready) {
            (Some(End::Prompt { status }), true) => {
                if status.parse::<i32>().is_ok() {
                    Ok(())
                } else if status == NOT_INTERACTIVE {
                    Err("the shell is not interactive, so it shows no prompt")
                } else {
                    Err("its prompt does not expand $? (the status of the last command)")
                }
            }
            (Some(End::Exited(status)), true) => {
                return Err(Error::ExitedBeforeMatch {
                    id,
                    status: *status,
                    patterns: "the shell's prompt after bgterm's setup line".into(),
                    waited: started.elapsed(),
                    tail: tail_chars(&c.partial().output),
                });
            }
            (Some(End::Closed), true) => return Err(Error::SessionClosed { id }),
            _ => {
                return Err(Error::WaitTimeout {
                    id,
                    patterns: "the shell's prompt after bgterm's setup line".into(),
                    waited: started.elapsed(),
                    tail: tail_chars(&c.partial().output),
                    arrived: c.partial().total_bytes,
                });
            }
        };
        let end_offset = c.end_offset;
        drop(c);
        drop(flight);
        match result {
            Ok(()) => {
                self.consume_to(end_offset);
                let slot = self.run_slot();
                let mut s = slot.0.lock();
                s.nonce = Some(nonce.clone());
                s.was_set_up = true;
                s.ps2_literal = ps2_literal;
                Ok(nonce)
            }
            Err(reason) => Err(Error::UnsupportedShell { id, program, reason }),
        }
    }
}

impl Session {
    /// The name of the program an argv session started (inside a
    /// [`SessionBuilder::for_run`] wrapper, the wrapped one).
    fn started_program(&self) -> Option<String> {
        let Command::Argv(v) = self.command() else {
            return None;
        };
        let program = v.get(if self.is_for_run() { 4 } else { 0 })?;
        Some(
            std::path::Path::new(program)
                .file_name()?
                .to_string_lossy()
                .into_owned(),
        )
    }

    /// Whether the session was started through [`SessionBuilder::for_run`].
    fn is_for_run(&self) -> bool {
        matches!(self.command(), Command::Argv(v) if v.get(3).is_some_and(|w| w == RUN_WRAPPER_NAME))
    }
}

/// The last [`TAIL_CHARS`](crate::TAIL_CHARS) characters of `s`.
fn tail_chars(s: &str) -> String {
    let n = s.chars().count();
    s.chars().skip(n.saturating_sub(TAIL_CHARS)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: &str = "aaaa1111";

    /// Feeds `text` as one event at `start`; true if the collector ended or
    /// wants attention.
    fn out(c: &mut Collector, start: u64, text: &str) -> bool {
        c.output(start, start + text.len() as u64, text);
        c.end.is_some() || c.wants_cancel()
    }

    fn ps1(status: &str) -> String {
        format!("\x1b]133;D;{status};aid=aaaa\x07")
    }

    fn ps2() -> String {
        "\x1b]133;P;k=s;aid=1111\x07".to_string()
    }

    /// Feeds `stream` split at every pair of positions, and checks each
    /// split gives the same result.
    fn feed_split(stream: &str, lines: usize, head: usize, tail: usize) -> (RunPartial, Option<End>, u64) {
        let whole = {
            let mut c = Collector::new(N.into(), lines, head, tail, 0);
            out(&mut c, 0, stream);
            (c.partial(), c.end.clone(), c.end_offset)
        };
        let bounds: Vec<usize> = (0..=stream.len())
            .filter(|&i| stream.is_char_boundary(i))
            .collect();
        for &a in &bounds {
            for &b in bounds.iter().filter(|&&b| b >= a) {
                let mut c = Collector::new(N.into(), lines, head, tail, 0);
                for (s, e) in [(0, a), (a, b), (b, stream.len())] {
                    if e > s {
                        out(&mut c, s as u64, &stream[s..e]);
                    }
                }
                assert_eq!(
                    (c.partial(), c.end.clone(), c.end_offset),
                    whole,
                    "split at {a}, {b}"
                );
            }
        }
        whole
    }

    #[test]
    fn marks_and_line_ends_split_anywhere() {
        let stream = format!("one\r\ntwo\r\n{}after", ps1("0"));
        let (p, end, end_offset) = feed_split(&stream, 1, 100, 100);
        assert_eq!(p.output, "one\ntwo\n");
        assert_eq!(p.total_bytes, 8);
        assert_eq!(end, Some(End::Prompt { status: "0".into() }));
        assert_eq!(end_offset, (stream.len() - "after".len()) as u64);
    }

    #[test]
    fn continuation_prompts_count_lines_and_are_not_output() {
        let stream = format!("{p2}{p2}1\r\n2\r\n{}", ps1("3"), p2 = ps2());
        let (p, end, _) = feed_split(&stream, 3, 100, 100);
        assert_eq!(
            (p.output.as_str(), end),
            ("1\n2\n", Some(End::Prompt { status: "3".into() }))
        );
        // An intermediate main prompt (a line that was a whole command)
        // does not end a two-line run.
        let stream = format!("a\r\n{}b\r\n{}", ps1("0"), ps1("1"));
        let (p, end, _) = feed_split(&stream, 2, 100, 100);
        assert_eq!(
            (p.output.as_str(), end),
            ("a\nb\n", Some(End::Prompt { status: "1".into() }))
        );
        // The last line's prompt a continuation: it wants cancelling.
        let mut c = Collector::new(N.into(), 1, 100, 100, 0);
        assert!(out(&mut c, 0, &ps2()));
        assert!(c.wants_cancel() && c.end.is_none());
    }

    #[test]
    fn foreign_marks_and_lone_carriage_returns_are_output() {
        let other = "\x1b]133;D;0;aid=someone-else\x07";
        let title = "\x1b]0;title\x07";
        let stream = format!("{other}{title}50%\r100%\r\n\x1b]13{}", ps1("0"));
        let (p, end, _) = feed_split(&stream, 1, 100, 100);
        assert_eq!(p.output, format!("{other}{title}50%\r100%\n\x1b]13"));
        assert!(end.is_some());
    }

    #[test]
    fn a_status_that_is_not_a_number_is_kept_as_text() {
        let (_, end, _) = feed_split(&ps1("$?"), 1, 10, 10);
        assert_eq!(end, Some(End::Prompt { status: "$?".into() }));
    }

    #[test]
    fn head_tail_and_elided_add_up() {
        let text: String = (0..1000).map(|i| format!("line {i}\r\n")).collect();
        let plain = text.replace("\r\n", "\n");
        let mut c = Collector::new(N.into(), 1, 100, 50, 0);
        for (i, chunk) in text.as_bytes().chunks(7).enumerate() {
            out(&mut c, i as u64 * 7, std::str::from_utf8(chunk).unwrap());
        }
        out(&mut c, text.len() as u64, &ps1("0"));
        let p = c.partial();
        assert_eq!(p.total_bytes, plain.len() as u64);
        assert_eq!(p.output.len() as u64 + p.elided_bytes, p.total_bytes);
        assert_eq!(&p.output[..p.head_bytes], &plain[..100]);
        assert_eq!(&p.output[p.head_bytes..], &plain[plain.len() - 50..]);
    }

    #[test]
    fn foreign_unfinished_osc_133_cannot_swallow_our_mark() {
        for junk in [
            "\x1b]133;",                    // cut off
            "\x1b]133;D;0\x1b\\",           // ended by ST
            "\x1b]133;D;0;aid=zzz\x07",     // someone else's nonce
            "\x1b]133;A\x07\x1b]133;B\x07", // other marks
            "\x1b]133;D;0;aid=aaa",         // a prefix of ours, cut off
        ] {
            let stream = format!("x{junk}y\r\n{}", ps1("0"));
            let (p, end, _) = feed_split(&stream, 1, 100, 100);
            assert_eq!(p.output, format!("x{junk}y\n"), "{junk:?}");
            assert_eq!(end, Some(End::Prompt { status: "0".into() }), "{junk:?}");
        }
    }

    #[test]
    fn the_prompt_variables_printed_are_not_marks() {
        // What `set`, `env` or `printf %s "$PS1"` show: the halves and the
        // unexpanded prompt, never the joined nonce.
        let shown =
            "PS1='\x1b]133;D;$?;aid=${__bgterm_a}${__bgterm_b}\x07'\r\n__bgterm_a=aa\r\n__bgterm_b=aa\r\n";
        let mut c = Collector::new(N.into(), 1, 1000, 1000, 0);
        assert!(!out(&mut c, 0, shown));
        assert!(c.end.is_none());
        // A status with a control character in it is not ours either.
        assert!(!out(&mut c, 100, &ps1("0\x1b[1m")));
        assert!(out(&mut c, 200, &ps1("0")));
    }

    #[test]
    fn exit_ends_the_collector_with_what_was_said() {
        let mut c = Collector::new(N.into(), 1, 100, 100, 0);
        out(&mut c, 0, "bye\r");
        c.flush();
        c.end = Some(End::Exited(ExitStatus::Exited(3)));
        assert_eq!(c.partial().output, "bye\r");
        assert_eq!(c.end, Some(End::Exited(ExitStatus::Exited(3))));
    }

    #[test]
    fn commands_with_control_characters_are_refused() {
        assert_eq!(command_lines("a\nb\n\n").unwrap(), ["a", "b"]);
        assert_eq!(command_lines("").unwrap(), [""]);
        assert_eq!(command_lines("\tx").unwrap(), ["\tx"]);
        for bad in ["\x03", "a\rb", "\x1b[A", "\x7f"] {
            assert!(
                matches!(command_lines(bad), Err(Error::InvalidRunCommand { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_setup_line_fits_the_terminal_line_limit() {
        let line = setup_line(&(nonce() + &nonce()), false);
        assert!(line.len() < crate::limits::CANONICAL_LINE_LIMIT);
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.starts_with(' ') && line.ends_with('\n'));
    }
}
