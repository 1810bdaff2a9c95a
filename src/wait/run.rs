//! Running one shell command to completion in a shell session.
//!
//! How completion is detected: the command is sent, quoted for `eval`, on
//! one line between two `printf` calls that print a begin and an end marker, the end marker
//! carrying `$?`. Each marker is assembled by `printf` from separate words
//! (`printf '%s_%s\n' __BGTERM_B 7f3a...`), so the terminal's echo of the
//! typed line (which shows the words apart) can never match the printed
//! marker (which joins them), and a fresh random nonce per call keeps old
//! markers from matching. The output is exactly the bytes between the end of
//! the begin-marker line and the start of the end marker: no echo, no
//! prompt, and a missing trailing newline stays missing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::Result;
use crate::session::handle::{Session, deadline_after};
use crate::wait::pattern::Patterns;
use crate::wait::wait_for::Match;

/// What [`Session::run`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunOutput {
    /// Everything the command printed (stdout and stderr share the
    /// terminal), with the terminal's `"\r\n"` line ends turned back into
    /// `"\n"`.
    pub output: String,
    /// The command's exit code (`$?`).
    pub exit_code: i32,
    /// Output bytes the session's buffer dropped before they could be
    /// collected (the command printed more than
    /// [`max_buffer_bytes`](crate::SessionBuilder::max_buffer_bytes) faster
    /// than the wait copied it): `output` then lacks that many bytes at its
    /// start. Zero when `output` is complete.
    pub dropped_bytes: u64,
    /// Absolute offset where the command's output begins.
    pub start_offset: u64,
    /// Absolute offset one past it.
    pub end_offset: u64,
}

impl RunOutput {
    /// True if the exit code is 0.
    #[must_use]
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }
}

impl Session {
    /// Runs `command` in this session's shell and returns its output and
    /// exit code once it has finished, for at most `timeout` (`None`: no
    /// limit).
    ///
    /// The session must be a POSIX shell waiting at its prompt: `sh`,
    /// `bash`, `dash`, `ksh`, `zsh` (interactive or not). Fish, csh and
    /// non-shell programs are not supported (fish spells `$?` as `$status`).
    /// The command runs in the shell itself, so `cd` and variables persist;
    /// it may span several lines. It must not read from the terminal.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::Session;
    ///
    /// let sh = Session::start(["sh"])?;
    /// let r = sh.run("echo hello; ls /nonexistent-dir 2>/dev/null", Some(Duration::from_secs(10)))?;
    /// assert_eq!(r.output, "hello\n");
    /// assert_ne!(r.exit_code, 0);
    /// let r = sh.run("printf 'no newline'", Some(Duration::from_secs(10)))?;
    /// assert_eq!((r.output.as_str(), r.exit_code), ("no newline", 0));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::WaitTimeout`](crate::Error::WaitTimeout) if the command has not finished in time (it
    /// keeps running; interrupt it or wait again with
    /// [`wait_for`](Self::wait_for)), [`Error::ExitedBeforeMatch`](crate::Error::ExitedBeforeMatch) if the
    /// shell exits (say the command was `exit 3`), and the errors of
    /// [`send`](Self::send).
    pub fn run(&self, command: &str, timeout: Option<Duration>) -> Result<RunOutput> {
        let deadline = deadline_after(timeout);
        let script = Script::new(command);
        let from = self.output_offset()?;
        self.send(&script.line)?;
        // Literal markers: the waiter's tap matches them as the bytes arrive,
        // so a flood of output cannot push them out of the buffer unseen.
        let b = self.wait_for_from_deadline(from, script.begin(), deadline)?;
        let e = self.wait_for_from_deadline(b.match_end, script.end(), deadline)?;
        let code = self.wait_for_from_deadline(e.match_end, Script::code_end(), deadline)?;
        Ok(Script::output(&b, &e, &code))
    }
}

/// One `run`: the line sent to the shell and the markers around its
/// output, shared by the blocking and the async form.
pub(crate) struct Script {
    /// The line to send.
    pub(crate) line: String,
    begin: String,
    end: String,
}

impl Script {
    pub(crate) fn new(command: &str) -> Script {
        let nonce = nonce();
        // One logical line, so an interactive shell prints no prompt and no
        // echo between the markers; `eval` keeps a multi-line command (and
        // a trailing `#` comment) from swallowing the end marker.
        let quoted = command.replace('\'', r"'\''");
        let line = format!(
            "printf '%s_%s\\n' __BGTERM_B {nonce}; eval '{quoted}'; printf '%s_%s_%s\\n' __BGTERM_E {nonce} \"$?\"\n",
        );
        Script {
            line,
            begin: format!("__BGTERM_B_{nonce}"),
            end: format!("__BGTERM_E_{nonce}_"),
        }
    }

    /// The begin marker with its line end, which is part of the marker, not
    /// the output; "\r" only if the terminal translates newlines (ONLCR,
    /// the default).
    pub(crate) fn begin(&self) -> Patterns {
        Patterns::from([format!("{}\r\n", self.begin), format!("{}\n", self.begin)])
    }

    /// The end marker; the exit code follows it.
    pub(crate) fn end(&self) -> Patterns {
        Patterns::from(self.end.as_str())
    }

    /// What ends the exit code: `$?` follows the end marker on the same
    /// line (0..=255, at most three digits).
    pub(crate) fn code_end() -> Patterns {
        Patterns::from("\n")
    }

    /// The result, from the three matches.
    pub(crate) fn output(b: &Match, e: &Match, code: &Match) -> RunOutput {
        let exit_code = code.before.trim_end().parse().unwrap_or_default();
        RunOutput {
            output: e.before.replace("\r\n", "\n"),
            exit_code,
            // Exactly the part of the command's output that was lost: what
            // lies between the begin marker and where `output` starts.
            dropped_bytes: e.start_offset.saturating_sub(b.match_end),
            start_offset: b.match_end,
            end_offset: e.match_start,
        }
    }
}

/// A hard-to-guess, never-repeating marker nonce (hex).
fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // Mix pid, time and counter (splitmix64 finaliser) so concurrent
    // processes and calls never share a marker.
    let mut x = t ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    format!("{x:016x}")
}
