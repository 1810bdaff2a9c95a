//! Run interactive programs in the background on pseudo-terminals,
//! in-process: start once, send input later, wait a bounded time, read
//! exactly what arrived since the last read.
//!
//! A Rust port of the Python library
//! [bgterm](https://github.com/AnswerDotAI/bgterm) (same control loop, same
//! function names), with what its tmux sibling gets from tmux — a rendered
//! screen, scrollback by line, key names, search — in-process, plus
//! event-driven waiting, recording and named sessions. Typed errors, exact
//! byte accounting, and no way to hang. Unix only: Linux natively, other
//! unix systems through the portable backend ([`BACKEND`]; see the README's
//! Platforms section: it is tested on Linux only).
//!
//! # One answer per input: `Repl`
//!
//! For REPL-driven tests and agent tools, start with [`Repl`]: it runs
//! python3, ipython, node, sqlite3, bash, sh (or any program whose prompt
//! you name, [`ReplBuilder`]) with a unique prompt, sends each input line
//! by line, waits for the next prompt and returns a [`Reply`]: the answer
//! with the echo, the prompts and the control sequences removed, plus the
//! raw text. A timeout ([`Error::ReplTimeout`]) keeps the partial reply and
//! the turn: [`Repl::resume`] or [`Repl::interrupt`] it. An eval costs one
//! [`Session::send`] and one event-driven [`Session::wait_for_from`] per
//! line of input.
//!
//! ```
//! use std::time::Duration;
//! use bgterm::Repl;
//!
//! let t = Duration::from_secs(10);
//! let mut py = Repl::python()?;
//! assert_eq!(py.eval("sum(range(10))", t)?.text, "45\n");
//! assert_eq!(py.eval("for c in 'ab':\n    print(c)", t)?.text, "a\nb\n");
//! let mut sh = Repl::sh()?;
//! assert_eq!(sh.eval("echo $((6 * 7)); false", t)?.text, "42\n");
//! assert_eq!(sh.eval("echo $?", t)?.text, "1\n");
//! # Ok::<(), bgterm::Error>(())
//! ```
//!
//! [`clean_text`] (and [`TextCleaner`] for a stream, [`PollResult::clean_text`]
//! for one read) removes terminal control sequences from any text; where a
//! program redraws with cursor movement, the [screen](#the-screen)
//! is the faithful view.
//!
//!
//! # The model
//!
//! A *session* is a child process on its own PTY, with a pump thread that
//! copies everything the child writes into a bounded buffer whether or not
//! anyone reads. Every read ([`write_stdin`], [`poll`], [`read`]) returns
//! the next unread chunk and moves the *unread cursor* past it: output that
//! arrives between calls comes with the next call, nothing comes twice, and
//! each [`PollResult`] carries the absolute offsets of what it covers.
//!
//! ```
//! use std::time::Duration;
//!
//! // A string runs through `/bin/sh -c`; a list is an argv.
//! let sid = bgterm::start_session("read line; echo \"got: $line\"")?;
//! bgterm::send(sid, "hello\n")?;
//! // Wait for the answer (no race: matching starts at the unread cursor's
//! // offset, taken here as 0, the first byte), then read on from it.
//! let m = bgterm::wait_for_from(sid, 0, "got: hello", Some(Duration::from_secs(10)))?;
//! assert_eq!(m.before, "hello\r\n"); // the terminal's echo came first
//! bgterm::close(sid)?;                // kill the group, reap, free everything
//! # Ok::<(), bgterm::Error>(())
//! ```
//!
//! The same operations are methods on an owned [`Session`] (closed when its
//! last clone drops), by-id methods on a [`Registry`] you create yourself,
//! and free functions on the global registry, as above.
//!
//! # Waiting: `yield_time` is a bound, not a signal
//!
//! `yield_time` returns at once if output is buffered, else the moment
//! output arrives or the child exits, else when the time is up. It cannot
//! know that a program has finished answering. These can, and they too are
//! woken by the pump, never by a timer: [`Session::wait_for`] and its
//! `_from` / `_deadline` forms (a literal, a [`Pattern::regex`], or any of
//! several [`Patterns`]), [`Session::run`] (one shell command: output and
//! exit code), [`Session::poll_quiet`] (a whole burst), and
//! [`Session::subscribe`] (a channel of [`SessionEvent`]s to `select!`
//! over). Every blocking call comes as `x(timeout: Option<Duration>)` and
//! `x_deadline(Option<Instant>)`, and where it makes sense a `try_x()`.
//!
//! ```
//! use std::time::Duration;
//! use bgterm::{Pattern, Session};
//!
//! let sh = Session::start(["sh"])?;
//! let t = Some(Duration::from_secs(10));
//! let r = sh.run("echo hello; f() { return 17; }; f", t)?;
//! assert_eq!((r.output.as_str(), r.exit_code), ("hello\n", 17));
//!
//! let at = sh.output_offset()?; // take the offset before sending
//! sh.send("echo $((6 * 7))\n")?;
//! let m = sh.wait_for_from(at, Pattern::regex(r"\n(\d+)\r")?, t)?;
//! assert_eq!(m.text, "\n42\r");
//! # Ok::<(), bgterm::Error>(())
//! ```
//!
//! # When the buffer fills
//!
//! Memory is bounded by [`SessionBuilder::max_buffer_bytes`]. A child is
//! never slowed down because nobody reads: the oldest bytes are dropped and
//! counted, so bytes returned + bytes dropped = bytes written.
//!
//! ```
//! use std::time::Duration;
//! use bgterm::SessionBuilder;
//!
//! let s = SessionBuilder::new("printf '%05d' $(seq 1 1000)").max_buffer_bytes(100).spawn()?;
//! s.wait(Some(Duration::from_secs(10)))?;
//! let out = s.read()?;
//! assert_eq!((out.dropped_bytes, out.start_offset, out.end_offset), (4900, 4900, 5000));
//! assert!(out.truncated && out.text.ends_with("01000"));
//! # Ok::<(), bgterm::Error>(())
//! ```
//!
//! A [`Transcript`] keeps every byte anyway, and a [`Recording`] writes an
//! asciicast file; a writer that falls behind holds the child back like a
//! slow terminal instead of losing output.
//!
//! # Text, exit and drop
//!
//! Output is decoded incrementally in the session's encoding: a character
//! split across reads comes out whole. A PTY echoes input and turns `"\n"`
//! into `"\r\n"`; input that the kernel would cut silently (a canonical
//! line over [`CANONICAL_LINE_LIMIT`]) is refused with a typed error. A
//! child that exits stays readable until closed, and its last output is
//! never lost. [`close`] — or dropping the last [`Session`] clone — kills
//! the child's whole terminal session, reaps it and frees the thread and
//! descriptors; a grandchild holding the terminal delays nothing.
//!
//! # The screen
//!
//! Every session can show its terminal as a person would see it:
//! [`display`] (latest lines, ending at the cursor), [`capture_range`]
//! (lines by absolute number, scrollback included), a viewport, [`info`],
//! [`send_keys`] with tmux key names, [`search`]. The screen is parsed on
//! the caller's thread when a view is asked for, so reading the raw stream
//! keeps its speed.
//!
//! ```
//! use std::time::Duration;
//! use bgterm::Session;
//!
//! let s = Session::start("seq 1 50; read x")?;        // 50 lines on a 24-row screen
//! s.wait_for_from(0, "50\r\n", Some(Duration::from_secs(10)))?;
//! assert_eq!(s.display(2)?.lines, ["50", ""]);        // ends at the cursor line
//! assert_eq!(s.capture_range(0, 3)?.lines, ["1", "2", "3"]); // scrolled off, still there
//! s.send_keys(["C-c"], Duration::ZERO)?;
//! # Ok::<(), bgterm::Error>(())
//! ```
//!
//! # Map of the crate
//!
//! The modules form a stack; each uses only those below it (a test checks
//! this), so reading bottom-up explains the whole:
//!
//! | module | what it holds |
//! |---|---|
//! | `id`, `status`, `limits`, `error` | the vocabulary: [`SessionId`], [`ExitStatus`], every default and limit, [`Error`] |
//! | `sys` | every system call: the PTY, the child's set-up, pidfd, eventfd, epoll, signals; the backend (native Linux, or portable on portable-pty: `sys::backend`, `sys::portable`) |
//! | `engine` | one session's moving parts, knowing no feature: the ring, the decoder, the state and its invariants, the pump thread, and the *tap* interface features attach through |
//! | `session` | [`Session`], [`SessionBuilder`] (every option), [`Command`], names, summaries, logs, stop |
//! | `wait` | [`Pattern`]s, `wait_for`, `poll_quiet`, `run`, event streams |
//! | `screen` | the terminal model (avt), views, keys, query answers, search |
//! | `record` | the lossless sink pipeline, asciicast [`Recording`]s, [`Transcript`]s |
//! | `api` | starting sessions, the [`Registry`], and every by-id form declared once |
//!
//! # Differences from Python bgterm
//!
//! - Times are [`Duration`](std::time::Duration)s, not milliseconds;
//!   `max_output_bytes` variants are separate functions (`*_with_limit`).
//! - Errors are typed ([`Error`]) and name the session id, program, path,
//!   variable or size that was wrong.
//! - `close` returns the child's [`ExitStatus`]; `PollResult` also has
//!   `exit_status`, which keeps an exit code and a signal apart.
//! - Input that cannot be delivered whole (a too-long canonical line, a
//!   backlog past [`MAX_INPUT_BACKLOG`]) is refused instead of cut.
#![warn(missing_docs, unreachable_pub)]

// Windows has no PTYs of the unix kind; its ConPTY is not supported yet.
#[cfg(not(unix))]
compile_error!(
    "bgterm supports unix only: Linux (native backend) and other unix systems such as macOS \
     and the BSDs (portable backend). Windows (ConPTY) is not supported yet."
);

// The layers, bottom up: each module uses only those above it in this list.
mod id;
mod limits;
mod status;
mod error;
mod sys;
mod engine;
mod session;
mod wait;
mod screen;
mod record;
mod turn;
mod api;

pub use api::by_id::{
    capture_range, close, display, enable_screen, info, interrupt, is_running, kill, list_details,
    list_sessions, logs, output_offset, poll, poll_quiet, poll_quiet_with_limit, poll_with_limit, read,
    read_with_limit, recording_status, resize, resolve, run, scroll, scroll_to, search, search_sessions,
    send, send_bytes, send_keys, signal, size, start_recording, start_session, start_transcript, stop,
    stop_recording, stop_transcript, stop_with_signal, subscribe, subscribe_with_capacity, summary,
    sync_screen, terminate, transcript_status, try_wait, view, wait, wait_deadline, wait_for,
    wait_for_deadline, wait_for_from, wait_for_from_deadline, write_stdin, write_stdin_with_limit,
};
pub use api::registry::Registry;
pub use engine::decode::DecodeErrors;
pub use engine::result::PollResult;
pub use error::{Error, Result};
pub use id::{SessionId, SinkKind};
pub use limits::*;
pub use record::cast::{RepairReport, repair_cast};
pub use record::recording::Recording;
pub use record::sink::SinkStatus;
pub use record::transcript::Transcript;
pub use screen::keys::{CursorKeys, encode_keys};
pub use screen::search::SearchHit;
pub use screen::view::{Capture, SessionInfo};
pub use session::builder::SessionBuilder;
pub use session::command::Command;
pub use session::handle::Session;
pub use session::manage::{RunState, SessionSummary, StopOutcome, Stopped};
pub use status::ExitStatus;
pub use sys::backend::BACKEND;
pub use turn::clean::{TextCleaner, clean_text};
pub use turn::repl::{Repl, ReplBuilder, Reply};
pub use wait::events::SessionEvent;
pub use wait::pattern::{Pattern, Patterns};
pub use wait::run::RunOutput;
pub use wait::wait_for::Match;

/// Re-exported so callers can `select!` over event receivers.
pub use crossbeam_channel;
/// Re-exported so callers can name encodings without adding the crate.
pub use encoding_rs;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
