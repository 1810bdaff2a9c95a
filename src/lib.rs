//! Run interactive programs in the background on pseudo-terminals,
//! in-process: start once, send input later, wait a bounded time, read
//! exactly what arrived since the last read.
//!
//! This is a Rust port of the Python library
//! [bgterm](https://github.com/AnswerDotAI/bgterm): same control loop, same
//! function names, with typed errors and no way to hang.
//!
//! # The control loop
//!
//! ```
//! use std::time::Duration;
//!
//! // 1. Start a session once and get its id. A string runs through
//! //    `/bin/sh -c`; a list like ["python3", "-q"] is run directly.
//! let sid = bgterm::start_session("while read line; do echo \"got: $line\"; done")?;
//!
//! // 2. Send input later; wait up to 5 s for output; read what arrived.
//! let out = bgterm::write_stdin(sid, "hello\n", Duration::from_secs(5))?;
//! // The terminal echoes input ("hello\r\n"), then the program answers.
//! // Each call returns only what arrived since the last one.
//! let mut text = out.text;
//! for _ in 0..10 {
//!     if text.contains("got: hello") {
//!         break;
//!     }
//!     text += &bgterm::poll(sid, Duration::from_secs(5))?.text;
//! }
//! assert!(text.starts_with("hello\r\n") && text.contains("got: hello"));
//!
//! // 3. Close: kills the process group, reaps the child, frees everything.
//! bgterm::close(sid)?;
//! # Ok::<(), bgterm::Error>(())
//! ```
//!
//! The same operations exist as methods on an owned [`Session`] (closed
//! when its last clone drops), and on a [`Registry`] you create yourself
//! when one global set of ids is not what you want.
//!
//! # The unread cursor
//!
//! Each session has a reader (its *pump* thread) that copies everything the
//! child writes into a bounded buffer, whether or not anyone is reading.
//! Every [`write_stdin`], [`poll`] and [`read`] returns the next unread
//! chunk and moves the cursor past it, so output that arrives between calls
//! is returned by the next call and nothing is returned twice. Each
//! [`PollResult`] carries the absolute byte offsets of what it covers.
//!
//! # What `yield_time` means
//!
//! `yield_time` is a bounded wait, not a completion signal. If unread output
//! is already buffered the call returns at once; otherwise it returns the
//! moment output arrives or the child exits, or when the time is up. The
//! wait is event-driven: the pump wakes waiters as bytes land; nothing
//! sleeps and re-checks. The library cannot know that a REPL has finished a
//! command; wait for its prompt or a marker you print.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bgterm::Session;
//!
//! let s = Session::start("read answer; echo \"you said $answer\"")?;
//! // Nothing is buffered and nothing happens: the poll waits its full time.
//! let t = Instant::now();
//! assert_eq!(s.poll(Duration::from_millis(50))?.text, "");
//! assert!(t.elapsed() >= Duration::from_millis(50));
//! // Input makes output; the poll returns as soon as it is there. (`send`
//! // queues input without reading: `write_stdin` would return the echo.)
//! s.send("yes\n")?;
//! let mut text = String::new();
//! loop {
//!     let out = s.poll(Duration::from_secs(5))?;
//!     text += &out.text;
//!     // After the child exits, poll returns at once: stop on `running`.
//!     if text.contains("you said yes") || !out.running {
//!         break;
//!     }
//! }
//! assert!(text.contains("you said yes"));
//! # Ok::<(), bgterm::Error>(())
//! ```
//!
//! # When the buffer fills
//!
//! Memory is bounded by [`SessionBuilder::max_buffer_bytes`] (1 MiB by
//! default). A child is never slowed down because nobody reads: when unread
//! output would exceed the bound the oldest bytes are dropped and counted.
//! [`PollResult::dropped_bytes`] says how many were lost just before
//! [`PollResult::start_offset`], and `truncated` is set, so accounting is
//! exact: bytes returned + bytes dropped = bytes the child wrote.
//!
//! ```
//! use std::time::Duration;
//! use bgterm::SessionBuilder;
//!
//! let s = SessionBuilder::new("printf '%05d' $(seq 1 1000)").max_buffer_bytes(100).spawn()?;
//! s.wait(Some(Duration::from_secs(10)))?;
//! let out = s.read()?;
//! assert_eq!(out.dropped_bytes, 4900);
//! assert_eq!((out.start_offset, out.end_offset), (4900, 5000));
//! assert!(out.truncated && out.text.ends_with("01000"));
//! # Ok::<(), bgterm::Error>(())
//! ```
//!
//! # Text
//!
//! Output is decoded incrementally in the session's encoding (UTF-8 by
//! default, any [`encoding_rs`] encoding on request). A character split
//! across two reads, or cut by `max_output_bytes`, is held back and comes
//! out whole at the start of the next result. Invalid bytes become U+FFFD,
//! or with [`DecodeErrors::Strict`] an [`Error::Decode`] that names the
//! offset, after which the session goes on.
//!
//! A PTY behaves like a terminal: input is echoed, `"\n"` comes back as
//! `"\r\n"`, and in canonical (line) mode an unfinished line longer than
//! [`CANONICAL_LINE_LIMIT`] bytes would be cut silently by the kernel, so
//! such a write is refused with [`Error::LineTooLong`]. Children see
//! `TERM=xterm-256color` and a 24×80 terminal unless told otherwise;
//! inherited `COLUMNS`/`LINES` are removed.
//!
//! # Exit, close and drop
//!
//! A child that exits stays readable: its remaining output and exit status
//! are there until the session is closed, and output written just before
//! exit is never lost (the exit is published only after that output is
//! buffered). [`wait`] tells an exit code from a signal. The child leads
//! its own process group; [`terminate`] and [`kill`] signal the whole group,
//! and [`close`] kills the group (grandchildren too), reaps the child and
//! releases the pump thread and every descriptor. Dropping the last clone
//! of a [`Session`] does the same. A grandchild that keeps the terminal open
//! after the child exits delays neither [`wait`] nor [`close`].
//!
//! # Waiting for text instead of polling
//!
//! `yield_time` cannot know when a command is done; these can, and they are
//! event-driven too (woken by the pump, never by a timer):
//!
//! - [`Session::wait_for`] blocks until a literal or a [`Pattern::regex`]
//!   (or any of several [`Patterns`], reporting which) appears in output
//!   that arrives *after the call starts*, so a stale prompt never matches.
//!   [`Session::wait_for_from`] matches from an absolute offset instead:
//!   take [`Session::output_offset`] before sending, and the answer cannot
//!   be missed however fast it comes. A timeout or an exit before a match is
//!   a typed error ([`Error::WaitTimeout`], [`Error::ExitedBeforeMatch`])
//!   carrying the tail of what was seen.
//! - [`Session::run`] runs one command in a shell session and returns its
//!   output and exit code: the shell's own (invisible) prompt reports the
//!   status, so nothing is wrapped around the command, `$?` stays its
//!   status, big output keeps its head and tail with an exact count of
//!   what was left out, and a timeout can be resumed
//!   ([`Session::run_resume`]).
//! - [`Session::poll_quiet`] returns a whole burst: once output starts it
//!   keeps collecting until the output has been quiet for a given time.
//! - [`Session::subscribe`] returns a [`crossbeam_channel`] receiver of
//!   [`SessionEvent`]s (output with offsets, drops, resizes, exit) to
//!   `select!` over many sessions; a slow subscriber never slows the
//!   session and is told what it missed.
//!
//! ```
//! use std::time::Duration;
//! use bgterm::{Pattern, Session};
//!
//! let sh = Session::start(["sh"])?;
//! let t = Some(Duration::from_secs(10));
//! let r = sh.run("echo hello; exit_code_17() { return 17; }; exit_code_17", t)?;
//! assert_eq!((r.output.as_str(), r.exit_code), ("hello\n", 17));
//!
//! // `run` turned the shell's echo off, so only the answer comes back.
//! let at = sh.output_offset()?;
//! sh.send("echo $((6 * 7))\n")?;
//! let m = sh.wait_for_from(at, Pattern::regex(r"\d+\r\n")?, t)?;
//! assert_eq!(m.text, "42\r\n");
//! # Ok::<(), bgterm::Error>(())
//! ```
//!
//! Blocking calls share one vocabulary: `x(timeout: Option<Duration>)`
//! (`None` waits without limit), `x_deadline(Option<Instant>)` and, where
//! it makes sense, `try_x()` that never blocks — as in [`Session::wait`],
//! [`Session::wait_deadline`] and [`Session::try_wait`].
//!
//! # Recording, transcripts and managing sessions
//!
//! A session can be recorded as an asciicast v2 file ([`Recording`],
//! playable with asciinema) and teed byte for byte to a lossless
//! [`Transcript`] that is complete even when the in-memory buffer drops old
//! output. Both write on a thread of their own through a bounded buffer; a
//! writer that falls behind holds the child's output back instead of losing
//! it, and a writer that fails ends only that recording, with an error you
//! can read ([`SinkStatus`], [`Error::SinkFailed`]).
//!
//! Sessions can have unique names ([`SessionBuilder::name`], [`resolve`]);
//! [`list_details`] shows each one's id, name, pid, command, cwd,
//! start time and state; [`logs`] returns the last lines of output without
//! moving the unread cursor; [`stop`] asks with SIGTERM, waits a grace
//! period, then kills, and says which it took ([`StopOutcome`]).
//!
//! ```
//! use std::time::Duration;
//! use bgterm::{SessionBuilder, StopOutcome};
//!
//! let sid = SessionBuilder::new("echo serving; sleep 300").name("doc-server").start()?;
//! assert_eq!(bgterm::resolve("doc-server")?, sid);
//! bgterm::wait_for_from(sid, 0, "serving", Some(Duration::from_secs(10)))?;
//! assert!(bgterm::logs(sid, 1)?.contains("serving"));
//! let stopped = bgterm::stop(sid, Duration::from_secs(5))?;
//! assert_eq!(stopped.outcome, StopOutcome::Terminated);
//! bgterm::close(sid)?;
//! # Ok::<(), bgterm::Error>(())
//! ```
//!
//! # The terminal screen
//!
//! Besides the raw stream, every session can show its terminal as a person
//! would see it — what bgtmux gets from tmux, in-process. A screen model
//! (the [avt](https://docs.rs/avt) emulator) renders the output;
//! [`display`] gives the latest lines ending at the cursor line, so a short
//! exchange is not padded with blank rows; [`capture_range`] gives lines by
//! absolute number (0 is the oldest line of retained scrollback); a
//! viewport moves with [`scroll_to`] / [`scroll`] / [`view`]; [`info`]
//! reports the cursor, size, line count and whether a full-screen program
//! is on the alternate screen (then a capture is the whole screen);
//! [`send_keys`] takes tmux key names (`C-c`, `Up`, `Enter`, `F5`, ...;
//! see [`encode_keys`]), following the program's cursor-key mode;
//! [`search`] and [`search_sessions`] find lines by text or [`Pattern::regex`].
//!
//! ```
//! use std::time::Duration;
//! use bgterm::Session;
//!
//! let s = Session::start("seq 1 50; read x")?;       // 50 lines on a 24-row screen
//! s.wait_for_from(0, "50\r\n", Some(Duration::from_secs(10)))?; // all printed
//! assert_eq!(s.display(2)?.lines, ["50", ""]);       // ends at the cursor line
//! assert_eq!(s.capture_range(0, 3)?.lines, ["1", "2", "3"]); // scrolled off, still there
//! assert_eq!(s.info()?.line_count, 51);
//! s.send_keys(["C-c"], Duration::ZERO)?;               // interrupts `read`
//! # Ok::<(), bgterm::Error>(())
//! ```
//!
//! The screen costs nothing until used: it is activated by the first view
//! (starting from the output the buffer still holds) or from the start with
//! [`SessionBuilder::screen`]. Once active, the pump only copies output
//! aside (bounded like the buffer) and looks for terminal queries; the
//! parse runs on the caller's thread when a view is asked for, so
//! [`poll`]/[`read`] keep their speed. An active screen answers the queries
//! programs block on (cursor position, status, device attributes). Output
//! that outruns the views beyond the bound is skipped and counted
//! ([`SessionInfo::unrendered_bytes`]); [`Session::display`] says what the
//! screen shows then.
//!
//! # Differences from Python bgterm
//!
//! - Times are [`Duration`](std::time::Duration)s, not milliseconds.
//! - `max_output_bytes` variants are separate functions (`*_with_limit`).
//! - Errors are typed ([`Error`]) and name the session id, program, path,
//!   variable or size that was wrong.
//! - `close` returns the child's [`ExitStatus`]; `PollResult` also has
//!   `exit_status`, which keeps an exit code and a signal apart.
//! - Input that cannot be delivered whole (a too-long canonical line, a
//!   backlog past [`MAX_INPUT_BACKLOG`]) is refused instead of cut.
//! - Linux only (it uses pidfds and `poll(2)` directly).
#![warn(missing_docs)]

#[doc(hidden)]
pub mod __bench;
mod api;
mod engine;
mod error;
mod id;
mod record;
mod screen;
mod session;
mod status;
mod sys;
mod turn;
mod wait;

pub use api::global::{
    close, kill, list_sessions, poll, poll_quiet, poll_with_limit, read, read_with_limit, start_session,
    terminate, wait, wait_deadline, write_stdin, write_stdin_with_limit,
};
pub use api::registry::Registry;
pub use engine::decode::DecodeErrors;
pub use engine::result::PollResult;
pub use error::{Error, Result};
pub use id::SessionId;
pub use record::cast::{RepairReport, repair_cast};
pub use record::recording::{Recording, recording_status, start_recording, stop_recording};
pub use record::sink::{DEFAULT_MAX_PENDING_BYTES, SinkKind, SinkStatus};
pub use record::transcript::{Transcript, start_transcript, stop_transcript, transcript_status};
pub use screen::keys::{CursorKeys, encode_keys};
pub use screen::search::{SearchHit, search, search_sessions};
pub use screen::view::{
    Capture, SessionInfo, capture_range, display, info, interrupt, resize, scroll, scroll_to, send_keys, view,
};
pub use screen::{DEFAULT_SCROLLBACK_LINES, DEFAULT_VIEW_LINES, MAX_SCROLLBACK_LINES, MIN_SCREEN_BACKLOG};
pub use session::builder::{
    DEFAULT_COLS, DEFAULT_MAX_BUFFER_BYTES, DEFAULT_ROWS, DEFAULT_TERM, MAX_COLS, MAX_ROWS, SessionBuilder,
};
pub use session::command::Command;
pub use session::handle::{CANONICAL_LINE_LIMIT, DEFAULT_MAX_OUTPUT_BYTES, MAX_INPUT_BACKLOG, Session};
pub use session::manage::{RunState, SessionSummary, list_details, logs, summary};
pub use session::name::{MAX_NAME_LEN, resolve};
pub use session::stop::{STOP_KILL_WAIT, StopOutcome, Stopped, stop};
pub use status::ExitStatus;
pub use turn::run::{
    DEFAULT_RUN_HEAD_BYTES, DEFAULT_RUN_TAIL_BYTES, RunOptions, RunOutput, RunPartial, run, run_in_flight,
    run_interrupt, run_resume, run_with,
};
pub use wait::events::{DEFAULT_EVENT_CAPACITY, SessionEvent, subscribe};
pub use wait::pattern::{Pattern, Patterns};
pub use wait::wait_for::{Match, TAIL_CHARS, output_offset, wait_for, wait_for_deadline, wait_for_from};

/// Re-exported so callers can `select!` over event receivers.
pub use crossbeam_channel;
/// Re-exported so callers can name encodings without adding the crate.
pub use encoding_rs;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
