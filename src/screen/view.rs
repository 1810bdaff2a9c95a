//! The terminal view, as bgtmux gives it with tmux: snapshots of the screen,
//! scrollback by absolute line number, a viewport, session info, key names
//! and resizing, on [`Session`], [`Registry`] and as free functions.

use std::time::Duration;

use crate::screen::keys::{CursorKeys, encode_keys};
use crate::screen::{self, Model, Viewport};
use crate::{Command, Error, ExitStatus, PollResult, Registry, Result, Session, SessionBuilder, SessionId};

/// A slice of a session's transcript: the lines a person would read on its
/// terminal, numbered from 0 at the top of the retained scrollback.
///
/// The transcript ends at the cursor line while the program uses the normal
/// screen, so blank rows below the cursor are not part of it (a short
/// exchange with a REPL is not padded to the screen's height); text a
/// program wrote below the cursor (a progress display that moved the
/// cursor up, or `top`, which paints the normal screen) extends it to the
/// last such row. While a full-screen program uses the alternate screen,
/// the transcript ends at the bottom of the screen: the program owns it
/// all. Trailing blanks are removed from each line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capture {
    /// The lines joined with `"\n"` (no trailing newline).
    pub text: String,
    /// The lines `start_line..end_line`.
    pub lines: Vec<String>,
    /// Absolute number of the first line.
    pub start_line: usize,
    /// Absolute number one past the last line (exclusive).
    pub end_line: usize,
    /// Lines in the transcript now (see [`Capture`]).
    pub line_count: usize,
    /// Absolute line the cursor is on.
    pub cursor_line: usize,
    /// Whether the child was running when the capture was made.
    pub running: bool,
    /// Exit code once the child has exited, as in
    /// [`PollResult::exit_code`].
    pub exit_code: Option<i32>,
    /// How the child ended, once it has.
    pub exit_status: Option<ExitStatus>,
}

/// What [`Session::info`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session's id.
    pub id: SessionId,
    /// The command it was started with.
    pub command: Command,
    /// The child's process id (also its process-group id).
    pub pid: u32,
    /// Whether the child is running.
    pub running: bool,
    /// Exit code once the child has exited, as in
    /// [`PollResult::exit_code`].
    pub exit_code: Option<i32>,
    /// How the child ended, once it has.
    pub exit_status: Option<ExitStatus>,
    /// Cursor position on the screen, 0-based (row, column).
    pub cursor: (usize, usize),
    /// Screen size (rows, columns).
    pub size: (u16, u16),
    /// Lines in the transcript (see [`Capture`]).
    pub line_count: usize,
    /// Absolute line the cursor is on.
    pub cursor_line: usize,
    /// Lines of scrollback above the screen.
    pub history_lines: usize,
    /// Whether a full-screen program switched to the alternate screen.
    pub alternate_screen: bool,
    /// Whether the program turned on application cursor keys (DECCKM);
    /// [`Session::send_keys`] follows it.
    pub application_cursor: bool,
    /// Output bytes the screen never rendered because they were skipped
    /// (see [`Session::display`]); 0 when the screen saw everything.
    pub unrendered_bytes: u64,
}

impl SessionBuilder {
    /// Activates the screen model from the start, so it sees every byte
    /// and answers terminal queries (cursor position, device attributes)
    /// from the first one: use it for programs that ask at startup.
    ///
    /// Without it the screen is activated by the first view
    /// ([`Session::display`] and friends), starting from the output the
    /// buffer still holds. Either way the raw output path
    /// ([`Session::poll`], [`Session::read`]) keeps its speed: the screen
    /// only copies output aside, and parses it when a view is asked for.
    ///
    /// By default, off.
    pub fn screen(mut self, on: bool) -> SessionBuilder {
        self.screen = on;
        self
    }

    /// Lines of history the screen keeps above the visible rows, at most
    /// [`MAX_SCROLLBACK_LINES`](crate::MAX_SCROLLBACK_LINES) (else starting
    /// fails with [`Error::InvalidScrollback`]). Older lines are dropped
    /// and the numbering moves up with them: line 0 is always the oldest
    /// line retained.
    ///
    /// By default, [`DEFAULT_SCROLLBACK_LINES`](crate::DEFAULT_SCROLLBACK_LINES) (2000).
    pub fn scrollback_lines(mut self, lines: usize) -> SessionBuilder {
        self.scrollback_lines = lines;
        self
    }
}

/// Everything a view reports besides its lines.
struct Status {
    exit: Option<ExitStatus>,
}

/// Lines `start..end` clamped to the transcript (`start` to `end`).
fn capture(model: &Model, status: &Status, start: usize, end: usize) -> Capture {
    let end = end.min(model.line_count());
    let start = start.min(end);
    let lines = model.lines(start, end);
    Capture {
        text: lines.join("\n"),
        start_line: start,
        end_line: start + lines.len(),
        lines,
        line_count: model.line_count(),
        cursor_line: model.cursor_line(),
        running: status.exit.is_none(),
        exit_code: status.exit.map(ExitStatus::python_returncode),
        exit_status: status.exit,
    }
}

fn check_lines(lines: usize) -> Result<()> {
    if lines == 0 {
        return Err(Error::InvalidLines { lines });
    }
    Ok(())
}

/// The first line of the latest `lines` lines.
fn latest_start(model: &Model, lines: usize) -> usize {
    model.line_count().saturating_sub(lines)
}

impl Session {
    /// Runs `f` on the screen model, activated and up to date. `f` must not
    /// touch the session's state (lock order: state, then model).
    fn with_screen<T>(&self, f: impl FnOnce(&mut Model, &Status) -> Result<T>) -> Result<T> {
        let shared = self.shared()?;
        let (core, exit) = {
            let mut st = shared.lock_open()?;
            (screen::activate(&mut st), st.exit)
        };
        // The exit was read first, and is published only after the child's
        // output is in: so the model below includes all of it.
        let mut model = core.sync();
        f(&mut model, &Status { exit })
    }

    /// Activates the screen model now if it is not already (see
    /// [`SessionBuilder::screen`]), starting from the output the buffer
    /// still holds. From then on it answers terminal queries. Parses
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn enable_screen(&self) -> Result<()> {
        let shared = self.shared()?;
        screen::activate(&mut *shared.lock_open()?);
        Ok(())
    }

    /// Activates the screen model if needed and parses all output received
    /// so far, so the next view costs nothing to bring up to date. Views
    /// do this themselves; this is for measuring the parse, or for paying
    /// it at a time of your choosing.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn sync_screen(&self) -> Result<()> {
        self.with_screen(|_, _| Ok(()))
    }

    /// The latest `lines` lines of the transcript, ending at the cursor
    /// line rather than the bottom of the screen, so a short exchange with
    /// a shell or REPL is not padded with blank rows (see [`Capture`] for
    /// text below the cursor and for full-screen programs). Resets the viewport
    /// to follow the latest output with this height (see
    /// [`view`](Self::view)). Fewer lines come back when fewer exist.
    ///
    /// The screen is parsed here, on the caller's thread, from output the
    /// session set aside since the last view. When more output arrived
    /// than the session's `max_buffer_bytes` (at least
    /// [`MIN_SCREEN_BACKLOG`](crate::MIN_SCREEN_BACKLOG)), the oldest of
    /// it was skipped unrendered ([`SessionInfo::unrendered_bytes`]
    /// counts it): the view then continues on a fresh line with the output
    /// that was kept, on top of the screen as it was. Full-screen programs
    /// are right again after their next redraw.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::Session;
    ///
    /// let sh = Session::start("printf 'one\\ntwo\\n'; read x")?;
    /// sh.wait_for_from(0, "two\r\n", Some(Duration::from_secs(10)))?; // wait for output
    /// let snap = sh.display(10)?;
    /// assert_eq!(snap.lines, ["one", "two", ""]); // the cursor's line is last
    /// assert_eq!((snap.start_line, snap.end_line, snap.cursor_line), (0, 3, 2));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLines`] for `lines == 0`, [`Error::SessionClosed`].
    pub fn display(&self, lines: usize) -> Result<Capture> {
        check_lines(lines)?;
        self.with_screen(|model, status| {
            model.viewport = Viewport::Latest { lines };
            let start = latest_start(model, lines);
            Ok(capture(model, status, start, start + lines))
        })
    }

    /// Exactly the lines `start..end` of the transcript (0 is the oldest
    /// line retained; `end` is exclusive), without moving the viewport.
    /// `end` is clamped to [`Capture::line_count`] and `start` to `end`, so
    /// a range past the end returns no lines; `start_line`/`end_line` say
    /// what was returned.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRange`] if `start > end`, [`Error::SessionClosed`].
    pub fn capture_range(&self, start: usize, end: usize) -> Result<Capture> {
        if start > end {
            return Err(Error::InvalidRange {
                id: self.id(),
                start,
                end,
            });
        }
        self.with_screen(|model, status| Ok(capture(model, status, start, end)))
    }

    /// The lines in the session's viewport: the latest ones (as
    /// [`display`](Self::display)) until [`scroll_to`](Self::scroll_to) or
    /// [`scroll`](Self::scroll) pins it to a place in the history. A
    /// pinned viewport stays on the same text while new output arrives and
    /// old history is evicted (its line numbers shift down then). The
    /// viewport belongs to the session: every clone and the registry share
    /// it. Until set, it follows the latest
    /// [`DEFAULT_VIEW_LINES`](crate::DEFAULT_VIEW_LINES) lines.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn view(&self) -> Result<Capture> {
        self.with_screen(|model, status| {
            let (start, lines) = viewport_start(model);
            Ok(capture(model, status, start, start + lines))
        })
    }

    /// Pins the viewport to `lines` lines starting at line `start` and
    /// returns them. A start too late to show `lines` lines is moved back
    /// so the view ends at the last line.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLines`] for `lines == 0`, [`Error::SessionClosed`].
    pub fn scroll_to(&self, start: usize, lines: usize) -> Result<Capture> {
        check_lines(lines)?;
        self.with_screen(|model, status| {
            let start = start.min(latest_start(model, lines));
            model.viewport = Viewport::Pinned {
                first: model.evicted() + start as u64,
                lines,
            };
            Ok(capture(model, status, start, start + lines))
        })
    }

    /// Moves the viewport by `delta` lines (positive: towards newer output,
    /// negative: older) and returns it. It stops at the first line, and at
    /// the last: reaching the latest lines makes it follow new output again,
    /// as after [`display`](Self::display).
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn scroll(&self, delta: isize) -> Result<Capture> {
        self.with_screen(|model, status| {
            let (current, lines) = viewport_start(model);
            let last = latest_start(model, lines);
            let start = current.saturating_add_signed(delta).min(last);
            model.viewport = if start == last {
                Viewport::Latest { lines }
            } else {
                Viewport::Pinned {
                    first: model.evicted() + start as u64,
                    lines,
                }
            };
            Ok(capture(model, status, start, start + lines))
        })
    }

    /// The session's state and its screen's: running, exit status, pid,
    /// command, cursor, size, line count, alternate screen and cursor-key
    /// mode.
    ///
    /// ```
    /// use bgterm::SessionBuilder;
    ///
    /// let s = SessionBuilder::new(["cat"]).size(30, 100).spawn()?;
    /// let info = s.info()?;
    /// assert!(info.running && !info.alternate_screen);
    /// assert_eq!((info.size, info.pid), ((30, 100), s.pid()));
    /// assert_eq!(info.command.to_string(), "cat");
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn info(&self) -> Result<SessionInfo> {
        self.with_screen(|model, status| {
            let (rows, cols) = model.size();
            Ok(SessionInfo {
                id: self.id(),
                command: self.command().clone(),
                pid: self.pid(),
                running: status.exit.is_none(),
                exit_code: status.exit.map(ExitStatus::python_returncode),
                exit_status: status.exit,
                cursor: model.cursor(),
                size: (
                    u16::try_from(rows).unwrap_or(u16::MAX),
                    u16::try_from(cols).unwrap_or(u16::MAX),
                ),
                line_count: model.line_count(),
                cursor_line: model.cursor_line(),
                history_lines: model.history(),
                alternate_screen: model.alternate(),
                application_cursor: model.application_cursor(),
                unrendered_bytes: model.unrendered,
            })
        })
    }

    /// Sends key presses given by tmux key names (`Enter`, `C-c`, `Up`,
    /// `M-x`, `F5`, ... and literal text; see [`encode_keys`] for the
    /// names), then waits up to `yield_time` for output and returns the
    /// next unread chunk, as [`write_stdin`](Self::write_stdin) does.
    /// Cursor keys follow the program's cursor-key mode, read from the
    /// screen model (which this activates).
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::Session;
    ///
    /// let s = Session::start(["cat"])?;
    /// s.send_keys(["hi", "Enter"], Duration::ZERO)?;
    /// s.wait_for_from(0, "hi\r\nhi\r\n", Some(Duration::from_secs(10)))?; // echo, then cat
    /// assert!(matches!(s.send_keys(["Entr"], Duration::ZERO), Err(bgterm::Error::UnknownKey { .. })));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UnknownKey`] naming the first element that is not a key
    /// (nothing is sent), or as for [`write_stdin`](Self::write_stdin).
    pub fn send_keys<I, S>(&self, keys: I, yield_time: Duration) -> Result<PollResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mode = self.with_screen(|model, _| {
            Ok(if model.application_cursor() {
                CursorKeys::Application
            } else {
                CursorKeys::Normal
            })
        })?;
        let text = encode_keys(keys, mode)?;
        self.send(&text)?;
        self.poll(yield_time)
    }

    /// Sends Ctrl-C, which the terminal turns into SIGINT for the
    /// foreground program (unless the program reads raw input, in which
    /// case it gets the character). Returns without waiting.
    ///
    /// # Errors
    ///
    /// As for [`send`](Self::send).
    pub fn interrupt(&self) -> Result<()> {
        self.send_bytes(b"\x03")
    }
}

/// The viewport's current first line and height.
fn viewport_start(model: &Model) -> (usize, usize) {
    match model.viewport {
        Viewport::Latest { lines } => (latest_start(model, lines), lines),
        Viewport::Pinned { first, lines } => {
            let start = usize::try_from(first.saturating_sub(model.evicted())).unwrap_or(usize::MAX);
            (start.min(model.line_count().saturating_sub(1)), lines)
        }
    }
}

impl Registry {
    /// [`Session::display`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::display`].
    pub fn display(&self, id: SessionId, lines: usize) -> Result<Capture> {
        self.get(id)?.display(lines)
    }

    /// [`Session::capture_range`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::capture_range`].
    pub fn capture_range(&self, id: SessionId, start: usize, end: usize) -> Result<Capture> {
        self.get(id)?.capture_range(start, end)
    }

    /// [`Session::view`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::view`].
    pub fn view(&self, id: SessionId) -> Result<Capture> {
        self.get(id)?.view()
    }

    /// [`Session::scroll_to`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::scroll_to`].
    pub fn scroll_to(&self, id: SessionId, start: usize, lines: usize) -> Result<Capture> {
        self.get(id)?.scroll_to(start, lines)
    }

    /// [`Session::scroll`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::scroll`].
    pub fn scroll(&self, id: SessionId, delta: isize) -> Result<Capture> {
        self.get(id)?.scroll(delta)
    }

    /// [`Session::info`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::info`].
    pub fn info(&self, id: SessionId) -> Result<SessionInfo> {
        self.get(id)?.info()
    }

    /// [`Session::send_keys`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::send_keys`].
    pub fn send_keys<I, S>(&self, id: SessionId, keys: I, yield_time: Duration) -> Result<PollResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.get(id)?.send_keys(keys, yield_time)
    }

    /// [`Session::interrupt`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::interrupt`].
    pub fn interrupt(&self, id: SessionId) -> Result<()> {
        self.get(id)?.interrupt()
    }

    /// [`Session::resize`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::resize`].
    pub fn resize(&self, id: SessionId, rows: u16, cols: u16) -> Result<()> {
        self.get(id)?.resize(rows, cols)
    }
}

/// The latest `lines` lines, ending at the cursor line; resets the
/// viewport. See [`Session::display`].
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
///
/// # Errors
///
/// [`Error::UnknownSession`], or as for [`Session::display`].
pub fn display(sid: SessionId, lines: usize) -> Result<Capture> {
    Registry::global().display(sid, lines)
}

/// Exactly the lines `start..end` (end exclusive, clamped). See
/// [`Session::capture_range`].
///
/// # Errors
///
/// [`Error::UnknownSession`], or as for [`Session::capture_range`].
pub fn capture_range(sid: SessionId, start: usize, end: usize) -> Result<Capture> {
    Registry::global().capture_range(sid, start, end)
}

/// The session's viewport. See [`Session::view`].
///
/// # Errors
///
/// [`Error::UnknownSession`], or as for [`Session::view`].
pub fn view(sid: SessionId) -> Result<Capture> {
    Registry::global().view(sid)
}

/// Pins the viewport at `start`. See [`Session::scroll_to`].
///
/// # Errors
///
/// [`Error::UnknownSession`], or as for [`Session::scroll_to`].
pub fn scroll_to(sid: SessionId, start: usize, lines: usize) -> Result<Capture> {
    Registry::global().scroll_to(sid, start, lines)
}

/// Moves the viewport (positive: newer). See [`Session::scroll`].
///
/// # Errors
///
/// [`Error::UnknownSession`], or as for [`Session::scroll`].
pub fn scroll(sid: SessionId, delta: isize) -> Result<Capture> {
    Registry::global().scroll(sid, delta)
}

/// Session and screen state. See [`Session::info`].
///
/// # Errors
///
/// [`Error::UnknownSession`], or as for [`Session::info`].
pub fn info(sid: SessionId) -> Result<SessionInfo> {
    Registry::global().info(sid)
}

/// Sends tmux-named keys, waits up to `yield_time`, returns the next
/// unread output. See [`Session::send_keys`].
///
/// # Errors
///
/// [`Error::UnknownKey`] (nothing sent), [`Error::UnknownSession`], or as
/// for [`Session::send_keys`].
pub fn send_keys<I, S>(sid: SessionId, keys: I, yield_time: Duration) -> Result<PollResult>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    Registry::global().send_keys(sid, keys, yield_time)
}

/// Sends Ctrl-C. See [`Session::interrupt`].
///
/// # Errors
///
/// [`Error::UnknownSession`], or as for [`Session::interrupt`].
pub fn interrupt(sid: SessionId) -> Result<()> {
    Registry::global().interrupt(sid)
}

/// Resizes the terminal; the child gets SIGWINCH and the screen follows.
/// See [`Session::resize`].
///
/// # Errors
///
/// [`Error::UnknownSession`], or as for [`Session::resize`].
pub fn resize(sid: SessionId, rows: u16, cols: u16) -> Result<()> {
    Registry::global().resize(sid, rows, cols)
}
