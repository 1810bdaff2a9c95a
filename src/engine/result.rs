//! What a read returns.

use crate::status::ExitStatus;

/// The output one `write_stdin` / `poll` / `read` call returned, and the
/// session's state at that moment. The fields mirror Python bgterm's.
///
/// Offsets are absolute byte positions in the child's output stream (the
/// first byte it ever wrote is 0), so a caller can account for every byte:
/// `start_offset - previous end_offset == dropped_bytes`, and the bytes this
/// result covers are `start_offset..end_offset`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollResult {
    /// The output, decoded. A character whose bytes are not all here yet
    /// (split by the child's writes or by `max_output_bytes`) is held back
    /// and starts the next result's text instead, so it is never broken
    /// into U+FFFD.
    pub text: String,
    /// Whether the child was still running when this result was made.
    pub running: bool,
    /// The exit code once the child has exited, in Python's convention
    /// (minus the signal number if a signal killed it); `None` while
    /// running, and when the status is [`ExitStatus::Unknown`]. [`exit_status`](Self::exit_status) keeps code and signal
    /// apart.
    pub exit_code: Option<i32>,
    /// How the child ended, once it has.
    pub exit_status: Option<ExitStatus>,
    /// Unread bytes still buffered after this call (a later read returns
    /// them).
    pub remaining_bytes: usize,
    /// Unread bytes the buffer dropped since the previous result, because
    /// output outgrew `max_buffer_bytes`. They came just before
    /// `start_offset`.
    pub dropped_bytes: u64,
    /// True if this is not everything: output was dropped before it, or
    /// more remains after it.
    pub truncated: bool,
    /// Absolute offset of the first byte this result covers.
    pub start_offset: u64,
    /// Absolute offset one past the last byte this result covers.
    pub end_offset: u64,
    /// Which `until` pattern was found, for a read that waited for one
    /// ([`Session::poll_until`](crate::Session::poll_until)); `None` for
    /// every other read, and when the wait ended some other way.
    pub matched: Option<usize>,
}
