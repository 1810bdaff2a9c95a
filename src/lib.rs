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
//! let mut text = out.text;
//! while !text.contains("got: hello") {
//!     text += &bgterm::poll(sid, Duration::from_secs(5))?.text;
//! }
//! assert!(text.starts_with("hello\r\n"));
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
//! // Input makes output; the poll returns as soon as it is there.
//! s.write_stdin("yes\n", Duration::ZERO)?;
//! let mut text = String::new();
//! while !text.contains("you said yes") {
//!     text += &s.poll(Duration::from_secs(5))?.text;
//! }
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
mod builder;
mod command;
mod decode;
mod error;
mod global;
mod id;
mod pump;
mod registry;
mod result;
mod ring;
mod session;
mod shared;
mod spawn;
mod status;
mod sys;
mod tap;

pub use builder::{DEFAULT_COLS, DEFAULT_MAX_BUFFER_BYTES, DEFAULT_ROWS, DEFAULT_TERM, SessionBuilder};
pub use command::Command;
pub use decode::DecodeErrors;
pub use error::{Error, Result};
pub use global::{
    close, kill, list_sessions, poll, poll_with_limit, read, read_with_limit, start_session, terminate, wait,
    wait_deadline, write_stdin, write_stdin_with_limit,
};
pub use id::SessionId;
pub use registry::Registry;
pub use result::PollResult;
pub use session::{CANONICAL_LINE_LIMIT, DEFAULT_MAX_OUTPUT_BYTES, MAX_INPUT_BACKLOG, Session};
pub use status::ExitStatus;

/// Re-exported so callers can name encodings without adding the crate.
pub use encoding_rs;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
