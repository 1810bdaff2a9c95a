//! Every default and limit, in one place. Each is re-exported at the crate
//! root; the option or operation it belongs to links here.

use std::time::Duration;

// The terminal and the buffer.

/// Default for [`SessionBuilder::max_buffer_bytes`](crate::SessionBuilder::max_buffer_bytes): 1 MiB.
pub const DEFAULT_MAX_BUFFER_BYTES: usize = 1 << 20;

/// Default terminal height in rows.
pub const DEFAULT_ROWS: u16 = 24;

/// Default terminal width in columns.
pub const DEFAULT_COLS: u16 = 80;

/// Most rows a terminal may have: larger sizes are refused with
/// [`Error::InvalidSize`](crate::Error::InvalidSize), because the screen
/// model would hold every cell in memory.
pub const MAX_ROWS: u16 = 1000;

/// Most columns a terminal may have (see [`MAX_ROWS`]).
pub const MAX_COLS: u16 = 1000;

/// Default `TERM` given to the child.
pub const DEFAULT_TERM: &str = "xterm-256color";

// Input.

/// Canonical-mode line limit of the Linux terminal driver: an unfinished
/// line keeps at most this many bytes and the rest are discarded.
pub const CANONICAL_LINE_LIMIT: usize = 4095;

/// Most input bytes queued for a child that is not reading. A write that
/// would exceed it fails with [`Error::InputBacklog`](crate::Error::InputBacklog) and queues nothing.
pub const MAX_INPUT_BACKLOG: usize = 64 << 20;

// Reading and waiting.

/// Default for `max_output_bytes`: the most bytes one read returns (as in
/// Python bgterm).
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 65536;

/// Characters of output kept in the `tail` of a wait error.
pub const TAIL_CHARS: usize = 512;

/// Default channel capacity of [`Session::subscribe`](crate::Session::subscribe).
pub const DEFAULT_EVENT_CAPACITY: usize = 1024;

// Names.

/// Longest session name allowed, in bytes.
pub const MAX_NAME_LEN: usize = 64;

// The screen.

/// Default for [`SessionBuilder::scrollback_lines`](crate::SessionBuilder::scrollback_lines):
/// lines of history kept above the screen, as tmux's default
/// `history-limit`.
pub const DEFAULT_SCROLLBACK_LINES: usize = 2000;

/// Most lines of scrollback a session may keep.
pub const MAX_SCROLLBACK_LINES: usize = 1_000_000;

/// Least output the screen holds unparsed before it skips the oldest (see
/// the gap rules on [`Session::display`](crate::Session::display)): it must
/// exceed one read of the pump, so a query is never skipped before it is
/// answered.
pub const MIN_SCREEN_BACKLOG: usize = 64 * 1024;

/// Default height of a session's viewport until `display` or `scroll_to`
/// sets one, as bgtmux's default.
pub const DEFAULT_VIEW_LINES: usize = 80;

// Recording.

/// Default for the `max_pending_bytes` of recordings and transcripts: 1 MiB
/// of events waiting to be written before the child's output is held back.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 1 << 20;

/// How long [`Session::stop_recording`](crate::Session::stop_recording)
/// and [`Session::stop_transcript`](crate::Session::stop_transcript) wait
/// for the sink's writer to write what it took, before giving up with
/// [`Error::SinkStopTimedOut`](crate::Error::SinkStopTimedOut). The
/// `_deadline` forms take any deadline.
pub const SINK_STOP_WAIT: Duration = Duration::from_secs(10);

// Stopping.

/// How long [`Session::stop`](crate::Session::stop) waits for the child to be gone after SIGKILL
/// before giving up with [`Error::StopTimedOut`](crate::Error::StopTimedOut). SIGKILL cannot be caught,
/// so only a process stuck in the kernel, or output held back by a stalled
/// [`Transcript`](crate::Transcript) writer, takes this long.
pub const STOP_KILL_WAIT: Duration = Duration::from_secs(10);

// Turns.

/// How long [`ReplBuilder::spawn`](crate::ReplBuilder::spawn) waits for the
/// first prompt unless told otherwise
/// ([`ReplBuilder::start_timeout`](crate::ReplBuilder::start_timeout)).
pub const DEFAULT_REPL_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Default [`RunOptions::head_bytes`](crate::RunOptions::head_bytes): 64 KiB.
pub const DEFAULT_RUN_HEAD_BYTES: usize = 64 * 1024;

/// Default [`RunOptions::tail_bytes`](crate::RunOptions::tail_bytes): 64 KiB.
pub const DEFAULT_RUN_TAIL_BYTES: usize = 64 * 1024;
