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
//! python3, ipython, node, sqlite3 (or any program whose prompt you name,
//! [`ReplBuilder`]) with a unique prompt that is in no argument,
//! environment variable or file, sends each input line by line, waits for
//! the next prompt and returns a [`Reply`]: the answer with the echo, the
//! prompts and the control sequences removed, plus the raw text. Input
//! arrives byte for byte (tabs are typed, never completed); a byte the
//! terminal would act on instead is refused ([`Error::InvalidInput`]). A
//! timeout ([`Error::ReplTimeout`]) keeps the partial reply and the turn:
//! [`Repl::resume`] or [`Repl::interrupt`] it. `Repl::sh` and `Repl::bash`
//! are shells driven by [`Session::run`] (below): the same turn engine as
//! `run` and bgterm-mcp's `run_command`, whose end no output can forge,
//! with the status in [`Reply::exit_code`].
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
//! A *session* is a child process on its own PTY whose output is copied
//! into a bounded buffer whether or not anyone reads (one reactor thread
//! does this for every session in the process: a session costs no thread;
//! a caller blocked waiting for output reads the terminal itself, so it is
//! woken straight from the kernel). Every read ([`write_stdin`], [`poll`], [`read`]) returns
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
//! A registry sees exactly the sessions started in it (or
//! [inserted](Registry::insert)), until they are closed, by id or through
//! any handle: [`start_session`] and [`SessionBuilder::start`] use the
//! global one, while [`Session::start`] and [`SessionBuilder::spawn`] give
//! an owned session in no registry (its name resolves nowhere). To get a
//! handle from an id, ask its registry: `Registry::global().get(sid)`.
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
//! assert_eq!(sh.run("echo $?", t)?.output, "17\n"); // `$?` is the command's
//!
//! let at = sh.output_offset()?; // take the offset before sending
//! sh.send("echo $((6 * 7))\n")?;
//! // (`run` turned the shell's echo off, so only the answer comes back.)
//! let m = sh.wait_for_from(at, Pattern::regex(r"\d+\r\n")?, t)?;
//! assert_eq!(m.text, "42\r\n");
//! # Ok::<(), bgterm::Error>(())
//! ```
//!
//! # Async programs (feature `tokio`)
//!
//! With the cargo feature `tokio` (off by default; without it no async
//! runtime is compiled in), `AsyncSession` is the same session with
//! awaitable waits: `poll`, `write_stdin`, `wait`, `wait_for` and its
//! forms, `run`, and `Events`, a `futures_core::Stream` of
//! [`SessionEvent`]s. They never block a runtime thread and spawn none: the
//! pump wakes each future through its waker, as it notifies blocked
//! waiters, so hundreds of sessions can be awaited at once on a
//! current-thread runtime. Every one is cancellation-safe: a future dropped
//! before it completes (a `select!` branch that lost, a
//! `tokio::time::timeout`) has consumed no output and left the unread
//! cursor where it was. `AsyncSession::from(session)` and
//! `Session::from(async_session)` convert both ways.
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # mod example {
//! use std::time::Duration;
//! use bgterm::AsyncSession;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # pub async fn main() -> bgterm::Result<()> {
//! let t = Some(Duration::from_secs(10));
//! let (a, b) = (AsyncSession::start(["sh"])?, AsyncSession::start(["cat"])?);
//! let at = b.output_offset()?;
//! b.send("ping\n")?;
//! // Both at once, on one thread.
//! let (r, m) = tokio::join!(a.run("echo $((6 * 7))", t), b.wait_for_from(at, "ping", t));
//! let (r, m) = (r?, m?);
//! assert_eq!((r.output.as_str(), m.match_start), ("42\n", at));
//! // A wait that loses a race is dropped; nothing it saw is lost.
//! tokio::select! {
//!     _ = b.wait_for("never printed", None) => unreachable!(),
//!     () = tokio::time::sleep(Duration::from_millis(50)) => {}
//! }
//! // After the match, all is still unread: the echo's line end, cat's copy.
//! let next = b.wait_for_from(m.match_end, "ping\r\n", t).await?;
//! assert_eq!(next.before, "\r\n");
//! # Ok(())
//! # }
//! # }
//! # fn main() {
//! # #[cfg(feature = "tokio")]
//! # example::main().unwrap();
//! # }
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
//! slow terminal instead of losing output. Neither replaces an existing
//! file unless asked to ([`IfExists`]).
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
//! # Hosts that reap children, fork, or let go of the terminal
//!
//! Each child is created with its pidfd (`clone` with `CLONE_PIDFD`), and
//! is waited for, reaped and signalled through that pidfd only, never by a
//! bare pid. So a host may set SIGCHLD to `SIG_IGN`, or reap in a SIGCHLD
//! handler (the `waitpid(-1, WNOHANG)` loop of many servers), and still:
//!
//! - start sessions (its reaping never makes a start fail);
//! - get real exit statuses: read from the child while it is unreaped,
//!   else, if the host reaped it first, from the pidfd (Linux 6.15 and
//!   later keep it there); where neither has it, [`ExitStatus::Unknown`],
//!   never a made-up status;
//! - [`close`] without an error, and without a signal reaching anyone but
//!   the session: the child's process group is signalled by its pidfd
//!   (`PIDFD_SIGNAL_PROCESS_GROUP`, Linux 6.9+), so a pid the host's reap
//!   freed and the system gave to another process is never hit.
//!
//! What such a host cannot expect: once it has reaped the child, the other
//! process groups of the child's terminal session (a job-control shell's
//! background jobs, or a job it moved to the foreground) can no longer be
//! proven to be the session's (their session id is then a number anyone
//! may get), so [`close`] and [`kill`](Session::kill) leave them alone.
//! While the child lives they are reached, before the child itself, so
//! the usual close of a running session still ends them. A host that calls
//! `waitpid` on the child's pid itself takes its status from the session.
//!
//! The portable backend ([`BACKEND`] `"portable"`) has no pidfd: its
//! waiter thread records a reap by someone else, after which nothing is
//! signalled by that pid and the status is [`ExitStatus::Unknown`];
//! before, a signal goes out only once `waitid(WNOWAIT)` still finds the
//! child, which leaves a small window a pidfd does not (see the README's
//! Platforms section).
//!
//! A host that forks: handles copied into the fork child are inert there
//! (see [`Session`]'s "Forked hosts"). A child that closes every
//! descriptor on its terminal and later opens `/dev/tty` again is still
//! read (the pump waits for the terminal to change instead of polling its
//! hang-up), and a size the child sets itself (`stty rows 30 cols 100`) is
//! the size [`size`](Session::size), [`info`] and the screen report.
//!
//! # Map of the crate
//!
//! The modules form a stack; each uses only those below it (a test checks
//! this), so reading bottom-up explains the whole:
//!
//! | module | what it holds |
//! |---|---|
//! | `id`, `status`, `limits`, `error` | the vocabulary: [`SessionId`], [`ExitStatus`], every default and limit, [`Error`] |
//! | `sys` | every system call: the PTY, the child's set-up, pidfd, eventfd, epoll, `poll(2)`, signals; the backend (native Linux, or portable on portable-pty: `sys::backend`, `sys::portable`) |
//! | `engine` | one session's moving parts, knowing no feature: the ring, the decoder, the state and its invariants, the pump (a step machine per session) and the one reactor thread that drives every pump, and the *tap* interface features attach through |
//! | `session` | [`Session`], [`SessionBuilder`] (every option), [`Command`], names, summaries, logs, stop |
//! | `wait` | [`Pattern`]s, `wait_for`, `poll_quiet`, event streams |
//! | `screen` | the terminal model (avt), views, keys, query answers, search |
//! | `record` | the lossless sink pipeline, asciicast [`Recording`]s, [`Transcript`]s |
//! | `turn` | turns: [`Session::run`] (the shell runner: its marks, its engine-fed collector, `run_abandon`), [`Repl`], [`clean_text`] |
//! | `api` | starting sessions, the [`Registry`], and every by-id form declared once |
//! | `asyncs` | (feature `tokio`) `AsyncSession` and its event stream, on the engine's wakers |
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
#[cfg(feature = "tokio")]
mod asyncs;

// Python bgterm's functional API: every by-id operation as a free function
// on the global registry (declared once, with its `Registry` method).
pub use api::by_id::*;
pub use api::registry::Registry;
#[cfg(feature = "tokio")]
pub use asyncs::events::Events;
#[cfg(feature = "tokio")]
pub use asyncs::repl::AsyncRepl;
#[cfg(feature = "tokio")]
pub use asyncs::session::AsyncSession;
pub use engine::decode::DecodeErrors;
pub use engine::result::PollResult;
pub use error::{Error, Result, RunPartial};
pub use id::{IfExists, SessionId, SinkKind};
pub use limits::*;
pub use record::cast::{RepairReport, repair_cast};
pub use record::recording::Recording;
pub use record::sink::SinkStatus;
pub use record::transcript::Transcript;
pub use screen::keys::{CursorKeys, encode_keys};
pub use screen::search::SearchHit;
pub use screen::view::{Capture, CaptureOptions, ScreenMatch, SessionInfo};
pub use session::builder::SessionBuilder;
pub use session::command::Command;
pub use session::handle::Session;
pub use session::manage::{RunState, SessionSummary, StopOutcome, Stopped};
pub use status::ExitStatus;
pub use sys::backend::BACKEND;
pub use turn::clean::{TextCleaner, clean_text};
pub use turn::repl::{Repl, ReplBuilder, Reply};
pub use turn::run::{RunOptions, RunOutput};
pub use wait::events::SessionEvent;
pub use wait::pattern::{Pattern, Patterns};
pub use wait::until::ReadUntil;
pub use wait::wait_for::Match;

/// Re-exported so callers can `select!` over event receivers.
pub use crossbeam_channel;
/// Re-exported so callers can name encodings without adding the crate.
pub use encoding_rs;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
