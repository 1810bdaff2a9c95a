//! Every option for starting a session, with its default.

use std::ffi::OsString;
use std::path::PathBuf;

use encoding_rs::Encoding;

use crate::{Command, DecodeErrors, Registry, Result, Session, SessionId};

/// Default for [`SessionBuilder::max_buffer_bytes`]: 1 MiB.
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

/// One change to the child's environment, applied in order.
#[derive(Clone, Debug)]
pub(crate) enum EnvOp {
    Set(OsString, OsString),
    Remove(OsString),
    Clear,
}

/// Configures and starts a session.
///
/// Every setter documents its default. Finish with [`start`](Self::start)
/// (a [`SessionId`] in the global registry), [`start_in`](Self::start_in)
/// (an id in your own [`Registry`]) or [`spawn`](Self::spawn) (an owned
/// [`Session`]).
///
/// ```
/// use std::time::Duration;
/// use bgterm::SessionBuilder;
///
/// let session = SessionBuilder::new("echo $GREETING from $(pwd)")
///     .cwd("/")
///     .env("GREETING", "hello")
///     .size(30, 100)
///     .spawn()?;
/// session.wait(Some(Duration::from_secs(10)))?;
/// assert_eq!(session.read()?.text, "hello from /\r\n");
/// # Ok::<(), bgterm::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until start(), start_in() or spawn()"]
pub struct SessionBuilder {
    pub(crate) command: Command,
    pub(crate) shell: Option<bool>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) env: Vec<EnvOp>,
    pub(crate) rows: u16,
    pub(crate) cols: u16,
    pub(crate) term: Option<String>,
    pub(crate) encoding: &'static Encoding,
    pub(crate) decode_errors: DecodeErrors,
    pub(crate) max_buffer_bytes: usize,
    /// Set by `name` (see `name.rs`).
    pub(crate) name: Option<String>,
    /// Set by `record` / `transcript` (see `early.rs`).
    pub(crate) record: Option<PathBuf>,
    pub(crate) transcript: Option<PathBuf>,
    /// Screen options (see `screen.rs`).
    pub(crate) screen: bool,
    pub(crate) scrollback_lines: usize,
}

impl SessionBuilder {
    /// A builder for `command`: a string runs through `/bin/sh -c`, a list
    /// is an argv run directly (see [`Command`]).
    pub fn new(command: impl Into<Command>) -> SessionBuilder {
        SessionBuilder {
            command: command.into(),
            shell: None,
            cwd: None,
            env: Vec::new(),
            rows: DEFAULT_ROWS,
            cols: DEFAULT_COLS,
            term: Some(DEFAULT_TERM.to_string()),
            encoding: encoding_rs::UTF_8,
            decode_errors: DecodeErrors::Replace,
            max_buffer_bytes: DEFAULT_MAX_BUFFER_BYTES,
            name: None,
            record: None,
            transcript: None,
            screen: false,
            scrollback_lines: crate::DEFAULT_SCROLLBACK_LINES,
        }
    }

    /// Forces the command through the shell (`true`: the words of an argv
    /// are joined with spaces into one `sh -c` line, unquoted, so the shell
    /// expands them) or not (`false`: a string is taken as a program
    /// name, as Python's `Popen(str, shell=False)` does).
    ///
    /// By default, strings use the shell and argv lists do not.
    pub fn shell(mut self, shell: bool) -> SessionBuilder {
        self.shell = Some(shell);
        self
    }

    /// Working directory of the child. It must exist; otherwise starting
    /// fails with [`Error::BadCwd`](crate::Error::BadCwd).
    ///
    /// By default, the current directory of this process.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> SessionBuilder {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets an environment variable for the child.
    ///
    /// By default, the child inherits this process's environment, minus
    /// `COLUMNS` and `LINES` (which would contradict the terminal's real
    /// size) and with `TERM` set as [`term`](Self::term) says. Variables set
    /// here win over both.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> SessionBuilder {
        self.env.push(EnvOp::Set(key.into(), value.into()));
        self
    }

    /// Removes an inherited (or earlier set) environment variable.
    ///
    /// By default, only `COLUMNS` and `LINES` are removed.
    pub fn env_remove(mut self, key: impl Into<OsString>) -> SessionBuilder {
        self.env.push(EnvOp::Remove(key.into()));
        self
    }

    /// Starts the child from an empty environment (plus later
    /// [`env`](Self::env) calls and `TERM`).
    ///
    /// By default, the environment is inherited.
    pub fn env_clear(mut self) -> SessionBuilder {
        self.env.push(EnvOp::Clear);
        self
    }

    /// Terminal size in rows and columns: 1 to [`MAX_ROWS`] rows and 1 to
    /// [`MAX_COLS`] columns, else starting fails with
    /// [`Error::InvalidSize`](crate::Error::InvalidSize).
    ///
    /// By default, 24 rows by 80 columns.
    pub fn size(mut self, rows: u16, cols: u16) -> SessionBuilder {
        self.rows = rows;
        self.cols = cols;
        self
    }

    /// The `TERM` the child sees; `None` leaves whatever the environment
    /// has.
    ///
    /// By default, `xterm-256color`, so full-screen programs work. Use
    /// `Some("dumb")` for programs that should emit as few escape sequences
    /// as possible.
    pub fn term(mut self, term: Option<&str>) -> SessionBuilder {
        self.term = term.map(str::to_string);
        self
    }

    /// Encoding of the child's output and of the text you send it; any
    /// [`encoding_rs`] encoding.
    ///
    /// By default, UTF-8.
    pub fn encoding(mut self, encoding: &'static Encoding) -> SessionBuilder {
        self.encoding = encoding;
        self
    }

    /// What happens to output bytes that are invalid in the encoding.
    ///
    /// By default, [`DecodeErrors::Replace`].
    pub fn decode_errors(mut self, errors: DecodeErrors) -> SessionBuilder {
        self.decode_errors = errors;
        self
    }

    /// Most output bytes retained in memory. When unread output would
    /// exceed it, the oldest bytes are dropped and counted in
    /// [`PollResult::dropped_bytes`](crate::PollResult::dropped_bytes); the
    /// child is never slowed down. Must be at least 1, else starting fails
    /// with [`Error::InvalidBufferSize`](crate::Error::InvalidBufferSize).
    ///
    /// By default, [`DEFAULT_MAX_BUFFER_BYTES`] (1 MiB).
    pub fn max_buffer_bytes(mut self, bytes: usize) -> SessionBuilder {
        self.max_buffer_bytes = bytes;
        self
    }

    /// Starts the session in the global registry and returns its id.
    ///
    /// # Errors
    ///
    /// Any invalid option, a program that cannot be found or executed, a bad
    /// working directory, or an operating-system failure; each is a distinct
    /// [`Error`](crate::Error) variant naming the bad value.
    pub fn start(self) -> Result<SessionId> {
        self.start_in(Registry::global())
    }

    /// Starts the session in `registry` and returns its id.
    ///
    /// # Errors
    ///
    /// As for [`start`](Self::start).
    pub fn start_in(self, registry: &Registry) -> Result<SessionId> {
        // A taken name fails before any child starts; `insert` checks again
        // atomically in case another thread took it meanwhile.
        if let Some(name) = &self.name
            && let Some(id) = registry.find_name(name)
        {
            return Err(crate::Error::DuplicateName {
                name: name.clone(),
                id,
            });
        }
        registry.insert(self.spawn()?)
    }

    /// Starts the session as an owned [`Session`] in no registry.
    ///
    /// # Errors
    ///
    /// As for [`start`](Self::start).
    pub fn spawn(self) -> Result<Session> {
        Session::from_builder(self)
    }
}

/// Whether `rows` x `cols` is a size a session may have.
pub(crate) fn valid_size(rows: u16, cols: u16) -> bool {
    (1..=MAX_ROWS).contains(&rows) && (1..=MAX_COLS).contains(&cols)
}
