//! Every operation on a session by id, declared once.
//!
//! Each entry of [`by_id!`] names a [`Session`] method and its arguments;
//! the macro emits the [`Registry`] method (look the id up, call the
//! session) and the free function on [`Registry::global`], Python bgterm's
//! functional API. A test checks that every public `Session` method has its
//! by-id forms, or is listed as one that does not need them.

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::api::registry::Registry;
use crate::engine::result::PollResult;
use crate::error::{Result, RunPartial};
use crate::id::SessionId;
use crate::record::recording::Recording;
use crate::record::sink::SinkStatus;
use crate::record::transcript::Transcript;
use crate::screen::search::SearchHit;
use crate::screen::view::{Capture, CaptureOptions, ScreenMatch, SessionInfo};
use crate::session::command::Command;
use crate::session::manage::{SessionSummary, Stopped};
use crate::status::ExitStatus;
use crate::turn::run::{RunOptions, RunOutput};
use crate::wait::events::SessionEvent;
use crate::wait::pattern::{Pattern, Patterns};
use crate::wait::until::ReadUntil;
use crate::wait::wait_for::Match;

/// Declares operations by id: for each `fn name(args) -> T;`, a
/// `Registry::name(&self, id, args) -> Result<T>` and a free
/// `name(sid, args) -> Result<T>`, both forwarding to `Session::name`.
/// Doc lines before an entry document the free function.
macro_rules! by_id {
    ($(
        $(#[doc = $doc:expr])*
        fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;
    )*) => {
        impl Registry {
            $(
                #[doc = concat!("[`Session::", stringify!($name), "`](crate::Session::", stringify!($name), ") on session `id`.")]
                #[doc = ""]
                #[doc = "# Errors"]
                #[doc = ""]
                #[doc = concat!(
                    "[`Error::UnknownSession`](crate::Error::UnknownSession), or as for [`Session::",
                    stringify!($name),
                    "`](crate::Session::", stringify!($name), ")."
                )]
                pub fn $name(&self, id: SessionId, $($arg: $ty),*) -> Result<$ret> {
                    self.get(id)?.$name($($arg),*)
                }
            )*
        }

        $(
            $(#[doc = $doc])*
            #[doc = ""]
            #[doc = concat!(
                "On a session of the global registry: [`Registry::", stringify!($name),
                "`](crate::Registry::", stringify!($name), ")."
            )]
            #[doc = ""]
            #[doc = "# Errors"]
            #[doc = ""]
            #[doc = concat!("As for [`Registry::", stringify!($name), "`](crate::Registry::", stringify!($name), ").")]
            pub fn $name(sid: SessionId, $($arg: $ty),*) -> Result<$ret> {
                Registry::global().$name(sid, $($arg),*)
            }
        )*

        /// The operations declared here, for the completeness test.
        #[cfg(test)]
        pub(crate) const DECLARED: &[&str] = &[$(stringify!($name)),*];
    };
}

by_id! {
    // ---- Input and output (session/handle.rs) ----

    /// Sends input, waits up to `yield_time`, returns the next unread output.
    fn write_stdin(chars: &str, yield_time: Duration) -> PollResult;
    /// [`write_stdin`] returning at most `max_output_bytes` bytes.
    fn write_stdin_with_limit(chars: &str, yield_time: Duration, max_output_bytes: usize) -> PollResult;
    /// Queues input without reading output.
    fn send(text: &str) -> ();
    /// Queues raw bytes without reading output.
    fn send_bytes(bytes: &[u8]) -> ();
    /// Waits up to `yield_time` for output; returns the next unread chunk.
    fn poll(yield_time: Duration) -> PollResult;
    /// [`poll`] returning at most `max_output_bytes` bytes.
    fn poll_with_limit(yield_time: Duration, max_output_bytes: usize) -> PollResult;
    /// Returns the next unread chunk at once.
    fn read() -> PollResult;
    /// [`read`] returning at most `max_output_bytes` bytes.
    fn read_with_limit(max_output_bytes: usize) -> PollResult;

    // ---- Exit, signals, size (session/handle.rs) ----

    /// Waits for exit (forever with `None`); `Ok(None)` on timeout.
    fn wait(timeout: Option<Duration>) -> Option<ExitStatus>;
    /// Waits for exit until `deadline` (`None`: forever); `Ok(None)` if it
    /// passes first.
    fn wait_deadline(deadline: Option<Instant>) -> Option<ExitStatus>;
    /// The exit status if the child has exited, without waiting.
    fn try_wait() -> Option<ExitStatus>;
    /// Whether the child is still running.
    fn is_running() -> bool;
    /// Sends SIGTERM to the session's process group.
    fn terminate() -> ();
    /// Sends SIGKILL to every process of the session's terminal; the session
    /// stays readable until closed.
    fn kill() -> ();
    /// Sends `signal` to the session's process group.
    fn signal(signal: i32) -> ();
    /// Resizes the terminal; the child gets SIGWINCH and the screen follows.
    fn resize(rows: u16, cols: u16) -> ();
    /// The terminal size as (rows, cols).
    fn size() -> (u16, u16);

    // ---- Waiting (wait/) ----

    /// The absolute offset the next output byte will have.
    fn output_offset() -> u64;
    /// Waits for text in the output from the unread cursor on (buffered
    /// output counts).
    ///
    /// ```
    /// use std::time::Duration;
    /// let sid = bgterm::start_session(["cat"])?;
    /// let at = bgterm::output_offset(sid)?;
    /// bgterm::write_stdin(sid, "hello\n", Duration::ZERO)?;
    /// // From `at`: the echo may already have been returned by write_stdin, but
    /// // matching goes by offsets, not by what was read.
    /// let m = bgterm::wait_for_from(sid, at, "hello", Some(Duration::from_secs(10)))?;
    /// assert_eq!(m.match_start, at);
    /// bgterm::close(sid)?;
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    fn wait_for(patterns: impl Into<Patterns>, timeout: Option<Duration>) -> Match;
    /// [`wait_for`] until `deadline`.
    fn wait_for_deadline(patterns: impl Into<Patterns>, deadline: Option<Instant>) -> Match;
    /// Waits for text in output that arrives after the call starts.
    fn wait_for_new(patterns: impl Into<Patterns>, timeout: Option<Duration>) -> Match;
    /// [`wait_for_new`] until `deadline`.
    fn wait_for_new_deadline(patterns: impl Into<Patterns>, deadline: Option<Instant>) -> Match;
    /// Waits for text in output from absolute offset `offset` on.
    fn wait_for_from(offset: u64, patterns: impl Into<Patterns>, timeout: Option<Duration>) -> Match;
    /// [`wait_for_from`] until `deadline`.
    fn wait_for_from_deadline(offset: u64, patterns: impl Into<Patterns>, deadline: Option<Instant>) -> Match;
    /// Once output starts, collects until it has been quiet for `idle`.
    fn poll_quiet(max_wait: Duration, idle: Duration) -> PollResult;
    /// [`poll_quiet`] returning at most `max_output_bytes` bytes.
    fn poll_quiet_with_limit(max_wait: Duration, idle: Duration, max_output_bytes: usize) -> PollResult;
    /// Waits up to `yield_time`, returning early when `until` says so.
    fn poll_until(yield_time: Duration, until: &ReadUntil) -> PollResult;
    /// Sends input, then [`poll_until`].
    fn write_stdin_until(chars: &str, yield_time: Duration, until: &ReadUntil) -> PollResult;
    /// Runs one command in a shell session: its output and exit code.
    fn run(command: &str, timeout: Option<Duration>) -> RunOutput;
    /// [`run`] with options (head and tail sizes, timeout).
    fn run_with(command: &str, options: &RunOptions) -> RunOutput;
    /// Keeps waiting for the command a timed-out `run` left running.
    fn run_resume(timeout: Option<Duration>) -> RunOutput;
    /// Interrupts the command in flight (Ctrl-C) and collects it.
    fn run_interrupt(timeout: Option<Duration>) -> RunOutput;
    /// Gives up the run in flight and sets the shell up again.
    fn run_abandon(timeout: Option<Duration>) -> RunPartial;
    /// The command `run` has in flight, if any.
    fn run_in_flight() -> Option<String>;
    /// A receiver of the session's events from now on.
    fn subscribe() -> Receiver<SessionEvent>;
    /// [`subscribe`] with room for `capacity` undelivered events.
    fn subscribe_with_capacity(capacity: usize) -> Receiver<SessionEvent>;

    // ---- The screen (screen/) ----

    /// The latest `lines` lines, ending at the cursor line; resets the
    /// viewport.
    ///
    /// ```
    /// use std::time::Duration;
    /// let sid = bgterm::start_session(["python3", "-q"])?;
    /// bgterm::write_stdin(sid, "6 * 7\n", Duration::ZERO)?;
    /// bgterm::wait_for_from(sid, 0, "42\r\n>>> ", Some(Duration::from_secs(10)))?;
    /// let snap = bgterm::display(sid, 5)?;
    /// assert!(snap.lines.contains(&">>> 6 * 7".to_string()));
    /// bgterm::close(sid)?;
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    fn display(lines: usize) -> Capture;
    /// Exactly the lines `start..end` (end exclusive, clamped).
    fn capture_range(start: usize, end: usize) -> Capture;
    /// Lines `start..end` rendered as `options` say (wrapped rows joined,
    /// colours as SGR).
    fn capture_range_with(start: usize, end: usize, options: CaptureOptions) -> Capture;
    /// Waits until the rendered screen shows one of `patterns`.
    fn wait_for_screen(patterns: impl Into<Patterns>, timeout: Option<Duration>) -> ScreenMatch;
    /// The session's viewport.
    fn view() -> Capture;
    /// Pins the viewport at `start`.
    fn scroll_to(start: usize, lines: usize) -> Capture;
    /// Moves the viewport (positive: newer).
    fn scroll(delta: isize) -> Capture;
    /// Session and screen state.
    fn info() -> SessionInfo;
    /// Activates the screen model now.
    fn enable_screen() -> ();
    /// Activates the screen model and parses all output so far.
    fn sync_screen() -> ();
    /// Sends tmux-named keys, waits up to `yield_time`, returns the next
    /// unread output.
    fn send_keys(keys: impl IntoIterator<Item = impl AsRef<str>>, yield_time: Duration) -> PollResult;
    /// Sends Ctrl-C.
    fn interrupt() -> ();
    /// Lines of the session's screen and scrollback that match `pattern`.
    fn search(pattern: impl Into<Pattern>) -> Vec<SearchHit>;

    // ---- Recording (record/) ----

    /// Starts recording the session as an asciicast v2 file.
    fn start_recording(recording: Recording) -> ();
    /// Stops the recording and returns its final status.
    fn stop_recording() -> SinkStatus;
    /// [`stop_recording`] waiting for the writer until `deadline`.
    fn stop_recording_deadline(deadline: Option<Instant>) -> SinkStatus;
    /// The recording's status, if there is one.
    fn recording_status() -> Option<SinkStatus>;
    /// Starts a lossless transcript; returns the offset of its first byte.
    fn start_transcript(transcript: Transcript) -> u64;
    /// Stops the transcript and returns its final status.
    fn stop_transcript() -> SinkStatus;
    /// [`stop_transcript`] waiting for the writer until `deadline`.
    fn stop_transcript_deadline(deadline: Option<Instant>) -> SinkStatus;
    /// The transcript's status, if there is one.
    fn transcript_status() -> Option<SinkStatus>;

    // ---- Managing (session/manage.rs) ----

    /// The last `lines` lines of output, without moving the unread cursor.
    fn logs(lines: usize) -> String;
    /// SIGTERM, up to `grace` to exit, then SIGKILL; says which it took.
    fn stop(grace: Duration) -> Stopped;
    /// [`stop`] asking with `signal` instead of SIGTERM.
    fn stop_with_signal(signal: i32, grace: Duration) -> Stopped;
}

// ---- The forms that are not plain forwarders ----

/// Starts a session in the global registry and returns its id.
///
/// A string runs through `/bin/sh -c`; a list such as `["python3", "-q"]`
/// is an argv run directly. Use [`SessionBuilder`](crate::SessionBuilder)
/// for cwd, env, size, encoding and buffer options.
///
/// ```
/// use std::time::Duration;
/// let sid = bgterm::start_session("echo ready; cat")?;
/// let out = bgterm::poll(sid, Duration::from_secs(5))?;
/// assert!(out.text.starts_with("ready"));
/// bgterm::close(sid)?;
/// # Ok::<(), bgterm::Error>(())
/// ```
///
/// # Errors
///
/// As for [`SessionBuilder::spawn`](crate::SessionBuilder::spawn).
pub fn start_session(command: impl Into<Command>) -> Result<SessionId> {
    Registry::global().start(command)
}

/// Closes the session and removes it from the global registry: kills its
/// process group, reaps the child, frees everything, and returns how the
/// child ended.
///
/// # Errors
///
/// As for [`Registry::close`].
pub fn close(sid: SessionId) -> Result<ExitStatus> {
    Registry::global().close(sid)
}

/// The ids of the open sessions in the global registry, oldest first.
#[must_use]
pub fn list_sessions() -> Vec<SessionId> {
    Registry::global().list()
}

/// Details of a session in the global registry.
///
/// # Errors
///
/// As for [`Registry::summary`].
pub fn summary(sid: SessionId) -> Result<SessionSummary> {
    Registry::global().summary(sid)
}

/// Details of every session in the global registry, oldest first.
#[must_use]
pub fn list_details() -> Vec<SessionSummary> {
    Registry::global().list_details()
}

/// The id of the session named `name` in the global registry.
///
/// ```
/// let sid = bgterm::SessionBuilder::new(["cat"]).name("doc-resolve").start()?;
/// assert_eq!(bgterm::resolve("doc-resolve")?, sid);
/// bgterm::close(sid)?;
/// assert!(matches!(bgterm::resolve("doc-resolve"), Err(bgterm::Error::UnknownName { .. })));
/// # Ok::<(), bgterm::Error>(())
/// ```
///
/// # Errors
///
/// As for [`Registry::resolve`].
pub fn resolve(name: &str) -> Result<SessionId> {
    Registry::global().resolve(name)
}

/// Searches every session in the global registry.
///
/// # Errors
///
/// As for [`Registry::search_sessions`].
pub fn search_sessions(pattern: impl Into<Pattern>) -> Result<Vec<SearchHit>> {
    Registry::global().search_sessions(pattern)
}

#[cfg(test)]
mod tests {
    use super::DECLARED;

    /// Public `Session` methods that need no by-id form, and why.
    const NOT_BY_ID: &[(&str, &str)] = &[
        ("id", "the id is what the by-id forms take"),
        ("pid", "metadata: in `summary`"),
        ("command", "metadata: in `summary`"),
        ("cwd", "metadata: in `summary`"),
        ("name", "metadata: in `summary`"),
        ("started", "metadata: in `summary`"),
        (
            "close",
            "by hand: closing by id also removes the session from its registry",
        ),
        ("summary", "by hand: infallible on a session, fallible by id"),
        ("start", "an associated function, not an operation on a session"),
    ];

    /// Every `pub fn name(&self` inside an `impl Session` block under src/.
    fn session_methods() -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("src is readable") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("source is UTF-8");
                let mut in_session = false;
                for line in text.lines() {
                    if line.starts_with("impl Session {") {
                        in_session = true;
                    } else if line == "}" {
                        in_session = false;
                    } else if in_session && let Some(rest) = line.trim_start().strip_prefix("pub fn ") {
                        let name: String = rest
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        found.push(name);
                    }
                }
            }
        }
        found.sort();
        found.dedup();
        found
    }

    #[test]
    fn every_session_method_has_its_by_id_forms() {
        let methods = session_methods();
        assert!(methods.len() > 40, "the scan found too few methods: {methods:?}");
        let missing: Vec<&String> = methods
            .iter()
            .filter(|m| !DECLARED.contains(&m.as_str()) && !NOT_BY_ID.iter().any(|(n, _)| n == m))
            .collect();
        assert!(
            missing.is_empty(),
            "Session methods without by-id forms: {missing:?}"
        );
        let stale: Vec<&&str> = DECLARED
            .iter()
            .filter(|d| !methods.iter().any(|m| m == *d))
            .collect();
        assert!(stale.is_empty(), "by-id forms of no Session method: {stale:?}");
    }

    #[test]
    fn the_hand_written_forms_exist() {
        use crate::api::by_id;
        use crate::api::registry::Registry;
        use crate::error::Result;
        use crate::id::SessionId;
        use crate::session::manage::SessionSummary;
        use crate::status::ExitStatus;
        let _: fn(&Registry, SessionId) -> Result<ExitStatus> = Registry::close;
        let _: fn(SessionId) -> Result<ExitStatus> = by_id::close;
        let _: fn(&Registry, SessionId) -> Result<SessionSummary> = Registry::summary;
        let _: fn(SessionId) -> Result<SessionSummary> = by_id::summary;
    }
}
