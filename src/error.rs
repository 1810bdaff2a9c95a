//! The crate's error type.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::id::{SessionId, SinkKind};
use crate::status::ExitStatus;

/// Everything that can go wrong, each variant naming the offending value.
///
/// A failed operation on one session never affects another session.
///
/// ```
/// use bgterm::{Error, SessionId};
/// let err = bgterm::read(SessionId::from_u64(999_999)).unwrap_err();
/// assert!(matches!(err, Error::UnknownSession { id } if id.get() == 999_999));
/// assert_eq!(err.to_string(), "no open session with id 999999 (never started, or already closed)");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No open session has this id in the registry asked.
    #[error("no open session with id {id} (never started, or already closed)")]
    UnknownSession {
        /// The id that was asked for.
        id: SessionId,
    },

    /// The session was closed through this or another handle.
    #[error("session {id} is closed")]
    SessionClosed {
        /// The closed session.
        id: SessionId,
    },

    /// Input was sent to a session whose child has already exited.
    #[error("session {id} has exited ({status}); it takes no more input")]
    SessionExited {
        /// The session.
        id: SessionId,
        /// How its child ended.
        status: ExitStatus,
    },

    /// The command was empty (an empty string or an empty argv).
    #[error("empty command: give a program to run")]
    EmptyCommand,

    /// The program was not found: not on `PATH`, or no file at that path.
    #[error("program not found: {program:?}{}", searched.as_ref().map(|p| format!(" (searched PATH={p:?})")).unwrap_or_default())]
    ProgramNotFound {
        /// The program as given.
        program: String,
        /// The `PATH` that was searched, when the name had no slash.
        searched: Option<String>,
    },

    /// The program exists but cannot be executed (no permission, or a
    /// directory).
    #[error("program is not executable: {path:?}")]
    NotExecutable {
        /// The file that was found.
        path: PathBuf,
    },

    /// The working directory does not exist or is not a directory.
    #[error("bad working directory {cwd:?}: {source}")]
    BadCwd {
        /// The directory asked for.
        cwd: PathBuf,
        /// Why it cannot be used.
        #[source]
        source: io::Error,
    },

    /// An environment variable cannot be passed to a process.
    #[error("invalid environment variable {key:?}: {reason}")]
    InvalidEnv {
        /// The variable's name as given.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A command-line argument contains a NUL byte.
    #[error("invalid argument {arg:?}: contains a NUL byte")]
    InvalidArgument {
        /// The argument as given.
        arg: String,
    },

    /// A terminal size with zero rows or columns, or more than
    /// [`MAX_ROWS`](crate::MAX_ROWS) rows or [`MAX_COLS`](crate::MAX_COLS)
    /// columns.
    #[error(
        "invalid terminal size {rows}x{cols}: rows must be 1 to {max_rows} and columns 1 to {max_cols}",
        max_rows = crate::limits::MAX_ROWS,
        max_cols = crate::limits::MAX_COLS
    )]
    InvalidSize {
        /// Rows asked for.
        rows: u16,
        /// Columns asked for.
        cols: u16,
    },

    /// A `max_buffer_bytes` of zero, which could hold no output at all.
    #[error("invalid max_buffer_bytes {bytes}: must be at least 1")]
    InvalidBufferSize {
        /// The size asked for.
        bytes: usize,
    },

    /// The operating system refused to create the terminal or the process.
    #[error("could not start {program:?}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// A line longer than the terminal's canonical-mode limit.
    ///
    /// In canonical (cooked) mode the kernel keeps at most `limit` bytes of
    /// an unfinished line and silently discards the rest, so such input is
    /// refused whole and nothing is sent. Switch the terminal to raw mode
    /// (`stty -icanon`) or send shorter lines.
    #[error(
        "session {id}: a line of {length} bytes exceeds the terminal's canonical-mode limit of {limit} bytes; nothing was sent"
    )]
    LineTooLong {
        /// The session.
        id: SessionId,
        /// Length of the unfinished line the write would have produced.
        length: usize,
        /// The kernel's limit.
        limit: usize,
    },

    /// More input is queued for the child than the backlog allows: the child
    /// is not reading its input. Nothing of this write was queued.
    #[error(
        "session {id}: {pending} bytes of input are still queued (limit {limit}); the child is not reading"
    )]
    InputBacklog {
        /// The session.
        id: SessionId,
        /// Bytes already queued.
        pending: usize,
        /// The limit.
        limit: usize,
    },

    /// Input text has a character that the session's encoding cannot
    /// represent. Nothing of this write was sent (send raw bytes with
    /// [`Session::send_bytes`](crate::Session::send_bytes) if you mean it).
    #[error("session {id}: {character:?} cannot be encoded in {encoding}; nothing was sent")]
    Unencodable {
        /// The session.
        id: SessionId,
        /// The session's encoding.
        encoding: &'static str,
        /// The first character it cannot represent.
        character: char,
    },

    /// The child's output is not valid in the session's encoding and the
    /// session was started with [`DecodeErrors::Strict`](crate::DecodeErrors::Strict).
    ///
    /// The unread cursor has moved past the bad bytes, so the next read
    /// continues after them; `text` holds what decoded cleanly before them.
    #[error("session {id}: output at byte offset {offset} is not valid {encoding}")]
    Decode {
        /// The session.
        id: SessionId,
        /// Absolute byte offset of the malformed sequence.
        offset: u64,
        /// The session's encoding.
        encoding: &'static str,
        /// Text that decoded cleanly before the malformed bytes.
        text: String,
    },

    /// [`Session::wait_for`](crate::Session::wait_for) (or `run`) saw no
    /// match before its deadline. The session is unaffected; nothing was
    /// consumed.
    #[error(
        "session {id}: no match for {patterns} after {waited:?} ({arrived} bytes arrived meanwhile); last output: {tail:?}"
    )]
    WaitTimeout {
        /// The session.
        id: SessionId,
        /// The patterns waited for.
        patterns: String,
        /// How long the call waited.
        waited: std::time::Duration,
        /// The end of the output searched (at most [`TAIL_CHARS`](crate::TAIL_CHARS)
        /// characters).
        tail: String,
        /// Output bytes that arrived during the wait (0: the program said
        /// nothing at all).
        arrived: u64,
    },

    /// The child exited before any pattern matched. Its output is still
    /// readable.
    #[error(
        "session {id} exited ({status}) with no match for {patterns} after {waited:?}; last output: {tail:?}"
    )]
    ExitedBeforeMatch {
        /// The session.
        id: SessionId,
        /// How the child ended.
        status: ExitStatus,
        /// The patterns waited for.
        patterns: String,
        /// How long the call waited.
        waited: std::time::Duration,
        /// The end of the output searched.
        tail: String,
    },

    /// A key name that [`encode_keys`](crate::encode_keys) does not know
    /// (its docs list the names). Nothing was sent.
    #[error(
        "unknown key name {key:?}: expected a tmux key name such as Enter, C-c, M-x, Up or F5 (send plain text with send or write_stdin); nothing was sent"
    )]
    UnknownKey {
        /// The element that is not a key.
        key: String,
    },

    /// A search pattern that is not a valid regular expression.
    #[error("invalid regular expression {pattern:?}: {source}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// Why it does not compile.
        #[source]
        source: regex::Error,
    },

    /// A line range whose start is after its end.
    #[error("session {id}: invalid line range {start}..{end}: the start is after the end")]
    InvalidRange {
        /// The session.
        id: SessionId,
        /// First line asked for.
        start: usize,
        /// Line one past the last asked for.
        end: usize,
    },

    /// A view of zero lines.
    #[error("invalid number of lines {lines}: a view needs at least 1 line")]
    InvalidLines {
        /// The number asked for.
        lines: usize,
    },

    /// A scrollback size over [`MAX_SCROLLBACK_LINES`](crate::MAX_SCROLLBACK_LINES).
    #[error("invalid scrollback_lines {lines}: at most {max} lines", max = crate::limits::MAX_SCROLLBACK_LINES)]
    InvalidScrollback {
        /// The size asked for.
        lines: usize,
    },

    /// A system call on the session's terminal failed.
    #[error("session {id}: {op} failed: {source}")]
    Io {
        /// The session.
        id: SessionId,
        /// What was being done.
        op: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// A recording or transcript was started while one of that kind is
    /// already attached (running, or ended but not yet stopped).
    #[error("session {id} already has a {kind}; stop it first")]
    SinkActive {
        /// The session.
        id: SessionId,
        /// Which kind of sink.
        kind: SinkKind,
    },
    /// A recording or transcript was stopped or queried, but none is
    /// attached.
    #[error("session {id} has no {kind}")]
    NoSink {
        /// The session.
        id: SessionId,
        /// Which kind of sink.
        kind: SinkKind,
    },

    /// Writing a recording or transcript failed (a full disk, a closed
    /// writer). The sink ended at that point; the session went on and its
    /// in-memory output is intact.
    #[error("session {id}: writing the {kind} to {target} failed: {source}")]
    SinkFailed {
        /// The session.
        id: SessionId,
        /// Which kind of sink.
        kind: SinkKind,
        /// The file path, or `"writer"`.
        target: String,
        /// The write error.
        #[source]
        source: Arc<io::Error>,
    },

    /// A file could not be created, opened, read or changed.
    #[error("{op} {path:?} failed: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was being done ("creating", "reading", ...).
        op: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },

    /// A recording's or transcript's file already exists and has content:
    /// it is neither replaced nor added to unless that is asked for with
    /// [`IfExists::Overwrite`](crate::IfExists::Overwrite) or
    /// [`IfExists::Append`](crate::IfExists::Append) (asciinema's
    /// `--overwrite` and `--append`). The file was not touched.
    #[error(
        "{path:?} already exists and is not empty; ask for IfExists::Overwrite or IfExists::Append to replace or extend it"
    )]
    FileExists {
        /// The file.
        path: PathBuf,
    },

    /// A recording's or transcript's file is being written by another
    /// recording or transcript of this process (the same file under any
    /// name). The file was not touched.
    #[error("{path:?} is already being written by a recording or transcript of this process")]
    FileInUse {
        /// The file.
        path: PathBuf,
    },

    /// Stopping a recording or transcript gave up waiting for its writer
    /// (a writer blocked in `write`, such as a pipe nobody reads). The sink
    /// has ended and takes no more events, the session goes on, and the
    /// sink's thread finishes on its own if the writer ever returns; until
    /// then it keeps the writer (and a file's claim, see
    /// [`Error::FileInUse`]).
    #[error(
        "session {id}: the {kind} to {target} did not finish writing within {waited:?}; it was abandoned"
    )]
    SinkStopTimedOut {
        /// The session.
        id: SessionId,
        /// Which kind of sink.
        kind: SinkKind,
        /// The file path, or `"writer"`.
        target: String,
        /// How long the stop waited.
        waited: Duration,
    },

    /// A file given to [`repair_cast`](crate::repair_cast) does not start
    /// with an asciicast v2 header, so there is nothing to keep.
    #[error("{path:?} is not an asciicast v2 file: {reason}")]
    NotACast {
        /// The file.
        path: PathBuf,
        /// What is wrong with its first line.
        reason: &'static str,
    },

    /// A session name that is not allowed.
    #[error("invalid session name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A session name already taken in the registry.
    #[error("session name {name:?} is already taken by session {id}")]
    DuplicateName {
        /// The name.
        name: String,
        /// The session that has it.
        id: SessionId,
    },

    /// No session in the registry has this name.
    #[error("no session named {name:?}")]
    UnknownName {
        /// The name that was asked for.
        name: String,
    },

    /// A graceful stop sent SIGKILL, and the child still had not exited
    /// after `waited` (a process stuck in the kernel, or output held back
    /// by a stalled transcript writer).
    #[error("session {id}: the child did not exit within {waited:?} of SIGKILL")]
    StopTimedOut {
        /// The session.
        id: SessionId,
        /// How long it waited after SIGKILL.
        waited: Duration,
    },

    /// A [`Repl`](crate::Repl) turn did not reach the program's prompt in
    /// time. The turn stays open: [`Repl::resume`](crate::Repl::resume)
    /// keeps waiting for it, [`Repl::interrupt`](crate::Repl::interrupt)
    /// sends Ctrl-C. Nothing of the reply is lost: the final reply starts
    /// with `partial`.
    #[error(
        "session {id}: no prompt after {waited:?}; the turn is still open (resume or interrupt it); reply so far: {partial:?}"
    )]
    ReplTimeout {
        /// The session.
        id: SessionId,
        /// How long the turn has waited in all.
        waited: Duration,
        /// The reply so far, cleaned like [`Reply::text`](crate::Reply::text).
        partial: String,
        /// The turn's raw text so far.
        raw: String,
    },

    /// The program of a [`Repl`](crate::Repl) exited during a turn (the
    /// input was `exit()`, say, or it crashed).
    #[error("session {id} exited ({status}) during the turn; its output: {output:?}")]
    ReplExited {
        /// The session.
        id: SessionId,
        /// How the program ended.
        status: ExitStatus,
        /// The turn's output, cleaned like [`Reply::text`](crate::Reply::text).
        output: String,
        /// The turn's raw text.
        raw: String,
    },

    /// A [`Repl`](crate::Repl) input left the program waiting for more
    /// (an unclosed bracket or block, SQL without its `;`).
    #[error(
        "session {id}: the input is unfinished (the program shows its continuation prompt); {}: {input:?}",
        if *cancelled { "cancelled with Ctrl-C" } else { "not cancelled, the program waits for the rest" }
    )]
    ReplIncomplete {
        /// The session.
        id: SessionId,
        /// The input as given.
        input: String,
        /// What the program printed for it, cleaned.
        output: String,
        /// True if Ctrl-C brought the program back to its primary prompt;
        /// false if the program still waits for the rest of the input (the
        /// next eval continues it) or, when a turn is still open, has not
        /// shown its prompt yet.
        cancelled: bool,
    },

    /// [`Repl::eval`](crate::Repl::eval) while an earlier turn is still
    /// open after a timeout. Nothing was sent.
    #[error(
        "session {id}: a turn is still open after a timeout; resume or interrupt it first; nothing was sent"
    )]
    ReplBusy {
        /// The session.
        id: SessionId,
    },

    /// [`Repl::resume`](crate::Repl::resume) with no open turn.
    #[error("session {id}: no turn is open, nothing to resume")]
    ReplIdle {
        /// The session.
        id: SessionId,
    },

    /// An input to [`Repl::eval`](crate::Repl::eval) with a byte that the
    /// terminal or the program's line editor would not take as text: a
    /// carriage return not followed by a line feed (the terminal ends the
    /// line there), or a control character other than tab and newline
    /// (Ctrl-C raises SIGINT, Ctrl-D is end of file, Ctrl-U erases the
    /// line, escape starts a key sequence, ...). Nothing was sent; the
    /// next eval works as usual. Keys are sent with
    /// [`Session::send_keys`](crate::Session::send_keys) (see
    /// [`Repl::session`](crate::Repl::session)).
    #[error(
        "session {id}: input byte {byte:#04x} at byte {position} cannot be typed: {reason}; nothing was sent"
    )]
    InvalidInput {
        /// The session.
        id: SessionId,
        /// The input as given.
        input: String,
        /// The refused byte.
        byte: u8,
        /// Its offset in `input`, in bytes.
        position: usize,
        /// What the terminal or a line editor would do with it.
        reason: &'static str,
    },

    /// A [`ReplBuilder`](crate::ReplBuilder) prompt that cannot work.
    #[error("invalid prompt {prompt:?}: {reason}")]
    InvalidPrompt {
        /// The prompt as given.
        prompt: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// [`Session::run`](crate::Session::run) was called while an earlier
    /// `run` on the same session is still in flight (or another thread is
    /// waiting for one). Nothing was sent: input is never typed ahead into a
    /// busy shell. Finish the earlier command with
    /// [`run_resume`](crate::Session::run_resume) or
    /// [`run_interrupt`](crate::Session::run_interrupt).
    #[error("session {id}: a run is still in flight ({command:?}); nothing was sent")]
    RunBusy {
        /// The session.
        id: SessionId,
        /// The command in flight.
        command: String,
    },

    /// A `run` did not finish before its deadline. The command keeps
    /// running; `partial` holds its output so far, and
    /// [`run_resume`](crate::Session::run_resume) keeps waiting for the same
    /// command (its result includes this output again: nothing is lost).
    #[error(
        "session {id}: {command:?} still running after {waited:?} ({} bytes of output so far); run_resume keeps waiting",
        partial.total_bytes
    )]
    RunTimeout {
        /// The session.
        id: SessionId,
        /// The command.
        command: String,
        /// How long this call waited.
        waited: Duration,
        /// The output so far.
        partial: Box<RunPartial>,
    },

    /// The shell exited while running the command (say `exit 3`, or
    /// `set -e; false`).
    #[error("session {id}: the shell exited ({status}) while running {command:?}")]
    RunShellExited {
        /// The session.
        id: SessionId,
        /// The command.
        command: String,
        /// How the shell ended.
        status: ExitStatus,
        /// What the command printed before the shell ended.
        output: Box<RunPartial>,
    },

    /// The prompt that ended a command reported an exit status that is not
    /// a number, so none is made up.
    #[error(
        "session {id}: the prompt after {command:?} reported the exit status {status:?}, which is not a number"
    )]
    RunStatus {
        /// The session.
        id: SessionId,
        /// The command.
        command: String,
        /// The status text as the prompt showed it.
        status: String,
        /// What the command printed.
        output: Box<RunPartial>,
    },

    /// The command was incomplete (an unclosed quote or block: the shell
    /// asked for more input after its last line). It was cancelled with
    /// Ctrl-C, and the shell is back at its prompt.
    #[error("session {id}: {command:?} is incomplete (the shell asked for more input); it was cancelled")]
    RunIncomplete {
        /// The session.
        id: SessionId,
        /// The command.
        command: String,
        /// What the shell printed (usually nothing).
        output: Box<RunPartial>,
    },

    /// [`run_resume`](crate::Session::run_resume) or
    /// [`run_interrupt`](crate::Session::run_interrupt) with no `run` left
    /// to finish.
    #[error("session {id}: no run is pending")]
    NoPendingRun {
        /// The session.
        id: SessionId,
    },

    /// The session's program cannot be driven by `run`: not a POSIX shell,
    /// not interactive, or a prompt that does not expand `$?`.
    #[error("session {id}: run cannot use {program:?}: {reason}")]
    UnsupportedShell {
        /// The session.
        id: SessionId,
        /// The program (its process name).
        program: String,
        /// Why.
        reason: &'static str,
    },

    /// A command given to `run` that the terminal would not deliver as
    /// typed: a control character other than tab and newline (Ctrl-C,
    /// Ctrl-D, escape, ...). Nothing was sent.
    #[error("invalid run command {command:?}: {reason}; nothing was sent")]
    InvalidRunCommand {
        /// The command as given.
        command: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl Error {
    /// True for [`Error::WaitTimeout`], [`Error::ReplTimeout`] and
    /// [`Error::RunTimeout`]: the wait ran out of time, and waiting again
    /// may succeed.
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Error::WaitTimeout { .. } | Error::ReplTimeout { .. } | Error::RunTimeout { .. }
        )
    }

    /// The session this error is about, if it is about one: every variant
    /// that carries a session id.
    #[must_use]
    pub fn session(&self) -> Option<SessionId> {
        // No wildcard: a new variant must be sorted into one of these arms.
        match self {
            Error::UnknownSession { id, .. }
            | Error::SessionClosed { id, .. }
            | Error::SessionExited { id, .. }
            | Error::LineTooLong { id, .. }
            | Error::InputBacklog { id, .. }
            | Error::Unencodable { id, .. }
            | Error::Decode { id, .. }
            | Error::WaitTimeout { id, .. }
            | Error::ExitedBeforeMatch { id, .. }
            | Error::InvalidRange { id, .. }
            | Error::Io { id, .. }
            | Error::SinkActive { id, .. }
            | Error::NoSink { id, .. }
            | Error::SinkFailed { id, .. }
            | Error::SinkStopTimedOut { id, .. }
            | Error::DuplicateName { id, .. }
            | Error::StopTimedOut { id, .. }
            | Error::ReplTimeout { id, .. }
            | Error::ReplExited { id, .. }
            | Error::ReplIncomplete { id, .. }
            | Error::ReplBusy { id, .. }
            | Error::ReplIdle { id, .. }
            | Error::InvalidInput { id, .. }
            | Error::RunBusy { id, .. }
            | Error::RunTimeout { id, .. }
            | Error::RunShellExited { id, .. }
            | Error::RunStatus { id, .. }
            | Error::RunIncomplete { id, .. }
            | Error::NoPendingRun { id, .. }
            | Error::UnsupportedShell { id, .. } => Some(*id),
            Error::EmptyCommand
            | Error::ProgramNotFound { .. }
            | Error::NotExecutable { .. }
            | Error::BadCwd { .. }
            | Error::InvalidEnv { .. }
            | Error::InvalidArgument { .. }
            | Error::InvalidSize { .. }
            | Error::InvalidBufferSize { .. }
            | Error::Spawn { .. }
            | Error::UnknownKey { .. }
            | Error::InvalidPattern { .. }
            | Error::InvalidLines { .. }
            | Error::InvalidScrollback { .. }
            | Error::File { .. }
            | Error::FileExists { .. }
            | Error::FileInUse { .. }
            | Error::NotACast { .. }
            | Error::InvalidName { .. }
            | Error::UnknownName { .. }
            | Error::InvalidPrompt { .. }
            | Error::InvalidRunCommand { .. } => None,
        }
    }
}

/// The output of a command that has not finished (or that ended its
/// shell), as carried by [`Error::RunTimeout`] and its siblings; the fields
/// mean what they mean in [`RunOutput`](crate::RunOutput).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunPartial {
    /// The head and the tail of the output so far.
    pub output: String,
    /// Length of the head in `output`.
    pub head_bytes: usize,
    /// Bytes left out between the head and the tail.
    pub elided_bytes: u64,
    /// How many of `elided_bytes` were never seen.
    pub missed_bytes: u64,
    /// Bytes of output in all so far.
    pub total_bytes: u64,
    /// The output as the terminal sent it, for `Repl`'s errors (only when
    /// asked for).
    pub(crate) raw: Option<String>,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant declared with an `id: SessionId` field, read from this
    /// file's source, must be one that `session()` answers for.
    #[test]
    fn session_covers_every_variant_with_an_id() {
        let source = include_str!("error.rs");
        let body = &source[source.find("pub enum Error {").expect("the enum")
            ..source.find("\nimpl Error").expect("its impl")];
        let method = &source[source.find("pub fn session(&self)").expect("the method")..];
        let some_arm = &method[..method.find("=> Some(*id)").expect("the Some arm")];
        let mut variant = None;
        let mut with_id = Vec::new();
        for line in body.lines() {
            if let Some(name) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(" {"))
                && name.chars().all(char::is_alphanumeric)
            {
                variant = Some(name);
            }
            if line.trim() == "id: SessionId," {
                with_id.push(variant.expect("a field belongs to a variant"));
            }
        }
        assert!(with_id.len() >= 15, "found too few: {with_id:?}");
        for name in with_id {
            assert!(
                some_arm.contains(&format!("Error::{name} {{ id, .. }}")),
                "Error::session() does not report the id of Error::{name}"
            );
        }
    }

    #[test]
    fn session_reports_the_id() {
        let id = SessionId::from_u64(42);
        let cases = [
            Error::SessionClosed { id },
            Error::InvalidRange { id, start: 2, end: 1 },
            Error::NoSink {
                id,
                kind: SinkKind::Recording,
            },
            Error::StopTimedOut {
                id,
                waited: Duration::ZERO,
            },
        ];
        for e in cases {
            assert_eq!(e.session(), Some(id), "{e}");
        }
        assert_eq!(Error::EmptyCommand.session(), None);
    }
}
