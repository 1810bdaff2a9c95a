//! Every option for starting a session, with its default.

use std::ffi::OsString;
use std::path::PathBuf;

use encoding_rs::Encoding;

use crate::engine::decode::DecodeErrors;
use crate::id::IfExists;
use crate::limits::{
    DEFAULT_COLS, DEFAULT_MAX_BUFFER_BYTES, DEFAULT_ROWS, DEFAULT_SCROLLBACK_LINES, DEFAULT_TERM, MAX_COLS,
    MAX_ROWS,
};
use crate::session::command::Command;

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
/// (a [`SessionId`](crate::SessionId) in the global registry), [`start_in`](Self::start_in)
/// (an id in your own [`Registry`](crate::Registry)) or [`spawn`](Self::spawn) (an owned
/// [`Session`](crate::Session)).
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
    pub(crate) name: Option<String>,
    pub(crate) record: Option<PathBuf>,
    pub(crate) transcript: Option<PathBuf>,
    pub(crate) if_exists: IfExists,
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
            if_exists: IfExists::Refuse,
            screen: false,
            scrollback_lines: DEFAULT_SCROLLBACK_LINES,
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

    /// The environment preset for automation: plain output from the start,
    /// for agents and tests that read text rather than watch a terminal.
    /// Sets `TERM=dumb` (see [`term`](Self::term)), `NO_COLOR=1`,
    /// `PAGER=cat` and `GIT_PAGER=cat` (no pager waiting for a key), and
    /// `LANG=C.UTF-8` / `LC_ALL=C.UTF-8` (UTF-8 output whatever the host's
    /// locale). What Codex sets for its non-interactive commands. Later
    /// [`env`](Self::env) / [`term`](Self::term) calls override any of it.
    ///
    /// By default, off: the child inherits the environment, with
    /// `TERM=xterm-256color`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::SessionBuilder;
    ///
    /// let s = SessionBuilder::new("echo $TERM $NO_COLOR $PAGER $GIT_PAGER $LC_ALL")
    ///     .automation_env()
    ///     .spawn()?;
    /// s.wait(Some(Duration::from_secs(10)))?;
    /// assert_eq!(s.read()?.text, "dumb 1 cat cat C.UTF-8\r\n");
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    pub fn automation_env(self) -> SessionBuilder {
        self.term(Some("dumb"))
            .env("NO_COLOR", "1")
            .env("PAGER", "cat")
            .env("GIT_PAGER", "cat")
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
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

    /// Gives the session a name, unique within the registry it is started
    /// in; look it up with [`Registry::resolve`](crate::Registry::resolve) (or [`resolve`](crate::resolve) for the
    /// global registry). A name must not be empty, longer than
    /// [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes, start or end with white space, or contain
    /// control characters, invisible format characters (Unicode category
    /// Cf, such as U+200B or the direction override U+202E), line or
    /// paragraph separators, or path separators (`/`, `\`).
    ///
    /// Starting fails with [`Error::InvalidName`](crate::Error::InvalidName) for a bad name and with
    /// [`Error::DuplicateName`](crate::Error::DuplicateName) if the registry already has a session of
    /// that name (before any child is started).
    ///
    /// By default, a session has no name.
    ///
    /// ```
    /// use bgterm::{Error, Registry, SessionBuilder};
    ///
    /// let registry = Registry::new();
    /// let id = SessionBuilder::new(["cat"]).name("worker").start_in(&registry)?;
    /// assert_eq!(registry.resolve("worker")?, id);
    /// let again = SessionBuilder::new(["cat"]).name("worker").start_in(&registry);
    /// assert!(matches!(again, Err(Error::DuplicateName { ref name, id: first }) if name == "worker" && first == id));
    /// let bad = SessionBuilder::new(["cat"]).name("a/b").start_in(&registry);
    /// assert!(matches!(bad, Err(Error::InvalidName { .. })));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> SessionBuilder {
        self.name = Some(name.into());
        self
    }

    /// Records the session as an asciicast v2 file at `path` from its very
    /// first output byte, with [`Recording`](crate::Recording)'s defaults. An existing file
    /// with content is refused with [`Error::FileExists`](crate::Error::FileExists) before any
    /// child starts, unless [`if_exists`](Self::if_exists) says otherwise; the
    /// file is created only once the child has started, so a start that
    /// fails leaves no file. Use [`Session::start_recording`](crate::Session::start_recording)
    /// for other options or targets.
    ///
    /// By default, nothing is recorded.
    pub fn record(mut self, path: impl Into<PathBuf>) -> SessionBuilder {
        self.record = Some(path.into());
        self
    }

    /// Tees every output byte to the file at `path`, from the child's very
    /// first byte (a [`Transcript`](crate::Transcript) with its defaults, attached before the
    /// child's output is read). Existing files are treated as for
    /// [`record`](Self::record). Use
    /// [`Session::start_transcript`](crate::Session::start_transcript) for input or other targets.
    ///
    /// By default, there is no transcript.
    pub fn transcript(mut self, path: impl Into<PathBuf>) -> SessionBuilder {
        self.transcript = Some(path.into());
        self
    }

    /// What happens to an existing [`record`](Self::record) or
    /// [`transcript`](Self::transcript) file that has content (see
    /// [`IfExists`](crate::IfExists)).
    ///
    /// By default, [`IfExists::Refuse`](crate::IfExists::Refuse): such a file is refused with
    /// [`Error::FileExists`](crate::Error::FileExists), as asciinema does.
    pub fn if_exists(mut self, if_exists: IfExists) -> SessionBuilder {
        self.if_exists = if_exists;
        self
    }

    /// Activates the screen model from the start, so it sees every byte
    /// and answers terminal queries (cursor position, device attributes)
    /// from the first one: use it for programs that ask at startup.
    ///
    /// Without it the screen is activated by the first view
    /// ([`Session::display`](crate::Session::display) and friends), starting from the output the
    /// buffer still holds. Either way the raw output path
    /// ([`Session::poll`](crate::Session::poll), [`Session::read`](crate::Session::read)) keeps its speed: the screen
    /// only copies output aside, and parses it when a view is asked for.
    ///
    /// By default, off.
    pub fn screen(mut self, on: bool) -> SessionBuilder {
        self.screen = on;
        self
    }

    /// Lines of history the screen keeps above the visible rows, at most
    /// [`MAX_SCROLLBACK_LINES`](crate::MAX_SCROLLBACK_LINES) (else starting
    /// fails with [`Error::InvalidScrollback`](crate::Error::InvalidScrollback)). Older lines are dropped
    /// and the numbering moves up with them: line 0 is always the oldest
    /// line retained.
    ///
    /// By default, [`DEFAULT_SCROLLBACK_LINES`](crate::DEFAULT_SCROLLBACK_LINES) (2000).
    pub fn scrollback_lines(mut self, lines: usize) -> SessionBuilder {
        self.scrollback_lines = lines;
        self
    }

    /// Prepares the session for [`Session::run`](crate::Session::run): the terminal's echo is
    /// turned off before the program starts (by running it through
    /// `/bin/sh -c 'stty -echo; exec "$@"'`), so the setup line that the
    /// first `run` types is never echoed, and for `zsh` the line editor is
    /// turned off (`+Z`), because zle echoes typed input itself (for the
    /// ksh family: `+o emacs +o vi`). The
    /// session's [`command`](crate::Session::command) shows that wrapper.
    ///
    /// Call it after [`shell`](Self::shell), if at all.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::SessionBuilder;
    ///
    /// let t = Some(Duration::from_secs(10));
    /// // (No history file, so that the history is this session's alone.)
    /// let bash = SessionBuilder::new(["bash", "--norc"]).env("HISTFILE", "/dev/null").for_run().spawn()?;
    /// assert_eq!(bash.run("echo hi; false", t)?.exit_code, 1);
    /// assert_eq!(bash.run("history", t)?.output, "    1  echo hi; false\n    2  history\n");
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    pub fn for_run(mut self) -> SessionBuilder {
        let command = match self.shell.take() {
            Some(true) => self.command.clone().into_shell(),
            Some(false) => self.command.clone().into_argv(),
            None => self.command.clone(),
        };
        let mut argv: Vec<std::ffi::OsString> = vec![
            "/bin/sh".into(),
            "-c".into(),
            "stty -echo 2>/dev/null; printf '\\033]133;A\\007'; exec \"$@\"".into(),
            RUN_WRAPPER_NAME.into(),
        ];
        match command {
            Command::Shell(line) => argv.extend(["/bin/sh".into(), "-c".into(), line.into()]),
            Command::Argv(words) => {
                let name = words
                    .first()
                    .and_then(|p| std::path::Path::new(p).file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut words = words.into_iter();
                argv.extend(words.next());
                // Line editors that echo typed input themselves, whatever
                // the terminal's echo flag says.
                match name.as_str() {
                    "zsh" => argv.push("+Z".into()),
                    "ksh" | "ksh93" | "mksh" | "lksh" | "pdksh" => {
                        argv.extend(["+o".into(), "emacs".into(), "+o".into(), "vi".into()]);
                    }
                    _ => {}
                }
                argv.extend(words);
            }
        }
        self.command = Command::Argv(argv);
        self.shell = Some(false);
        self
    }
}

/// The `$0` of the wrapper [`SessionBuilder::for_run`] starts the shell
/// through, by which `run` recognises it.
pub(crate) const RUN_WRAPPER_NAME: &str = "bgterm-run";

/// Whether `rows` x `cols` is a size a session may have.
pub(crate) fn valid_size(rows: u16, cols: u16) -> bool {
    (1..=MAX_ROWS).contains(&rows) && (1..=MAX_COLS).contains(&cols)
}
