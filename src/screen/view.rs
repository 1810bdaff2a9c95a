//! The terminal view, as bgtmux gives it with tmux: snapshots of the screen,
//! scrollback by absolute line number, a viewport, session info, key names
//! and resizing, on [`Session`], [`Registry`] and as free functions.

use std::time::{Duration, Instant};

use crate::engine::result::PollResult;
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::screen::attach;
use crate::screen::keys::{CursorKeys, encode_keys};
use crate::screen::model::{Model, Render, Viewport};
use crate::session::command::Command;
use crate::session::handle::{Session, deadline_after};
use crate::status::ExitStatus;
use crate::wait::pattern::Patterns;

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

/// How [`Session::capture_range_with`] renders lines, as tmux's
/// `capture-pane` flags do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct CaptureOptions {
    render: Render,
}

impl CaptureOptions {
    /// Plain lines, one per row: what [`Session::capture_range`] returns.
    pub fn new() -> CaptureOptions {
        CaptureOptions::default()
    }

    /// Join a row that soft-wraps with the rows it continues onto, so a
    /// long line comes back whole (tmux's `-J`). [`Capture::lines`] then
    /// has one entry per logical line; `start_line`/`end_line` still count
    /// rows.
    ///
    /// By default, off.
    pub fn join_wrapped(mut self, join: bool) -> CaptureOptions {
        self.render.join = join;
        self
    }

    /// Keep colours and attributes (bold, underline, inverse, ...) as SGR
    /// escape sequences (tmux's `-e`): each run of one style starts with
    /// its full SGR, a styled line ends with a reset.
    ///
    /// By default, off.
    pub fn styled(mut self, styled: bool) -> CaptureOptions {
        self.render.styled = styled;
        self
    }
}

/// A matching screen line: (pattern index, absolute line, text).
pub(crate) type ScreenLine = (usize, usize, String);

impl ScreenMatch {
    pub(crate) fn new(
        index: usize,
        line: usize,
        text: String,
        already_there: bool,
        waited: Duration,
    ) -> ScreenMatch {
        ScreenMatch {
            index,
            line,
            text,
            already_there,
            waited,
        }
    }
}

/// Where [`Session::wait_for_screen`] found its pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScreenMatch {
    /// Which pattern matched (its position in the [`Patterns`]).
    pub index: usize,
    /// The absolute line it is on (as [`Capture`] numbers lines).
    pub line: usize,
    /// That whole line.
    pub text: String,
    /// Whether the screen already showed it when the call began.
    pub already_there: bool,
    /// How long the call waited.
    pub waited: Duration,
}

/// Lines `start..end` clamped to the transcript (`start` to `end`).
fn capture(model: &Model, exit: Option<ExitStatus>, start: usize, end: usize) -> Capture {
    capture_as(model, exit, start, end, Render::default())
}

/// [`capture`] rendered as asked.
fn capture_as(model: &Model, exit: Option<ExitStatus>, start: usize, end: usize, how: Render) -> Capture {
    let end = end.min(model.line_count());
    let start = start.min(end);
    let lines = model.render(start, end, how);
    Capture {
        text: lines.join("\n"),
        start_line: start,
        end_line: end,
        lines,
        line_count: model.line_count(),
        cursor_line: model.cursor_line(),
        running: exit.is_none(),
        exit_code: exit.and_then(ExitStatus::python_returncode),
        exit_status: exit,
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
    /// Runs `f` on the screen model, activated and up to date, with the
    /// child's exit status. `f` must not touch the session's state (lock
    /// order: state, then model).
    fn with_screen<T>(&self, f: impl FnOnce(&mut Model, Option<ExitStatus>) -> Result<T>) -> Result<T> {
        let screen = attach::activate(self)?;
        // The child may have resized its terminal itself (`stty`): the
        // screen follows from this point of the output.
        self.with_state(|g| {
            g.current_size();
            Ok(())
        })?;
        // The exit is read before the parse, and is published only after
        // the child's output is in: so the model below includes all of it.
        let exit = self.try_wait()?;
        let mut model = screen.sync();
        f(&mut model, exit)
    }

    /// Activates the screen model now if it is not already (see
    /// [`SessionBuilder::screen`](crate::SessionBuilder::screen)), starting
    /// from the output the buffer still holds. From then on it answers
    /// terminal queries. Parses nothing.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn enable_screen(&self) -> Result<()> {
        attach::activate(self).map(drop)
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
        self.with_screen(|model, exit| {
            model.viewport = Viewport::Latest { lines };
            let start = latest_start(model, lines);
            Ok(capture(model, exit, start, start + lines))
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
        self.with_screen(|model, exit| Ok(capture(model, exit, start, end)))
    }

    /// [`capture_range`](Self::capture_range) rendered as `options` say:
    /// wrapped rows joined, colours kept as SGR.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::{CaptureOptions, SessionBuilder};
    ///
    /// let s = SessionBuilder::new("printf '\\033[1mbold\\033[0m %s\\n' 0123456789; read x")
    ///     .size(24, 10)
    ///     .spawn()?;
    /// s.wait_for("789", Some(Duration::from_secs(10)))?;
    /// assert_eq!(s.capture_range(0, 2)?.lines, ["bold 01234", "56789"]);
    /// let joined = s.capture_range_with(0, 2, CaptureOptions::new().join_wrapped(true))?;
    /// assert_eq!(joined.lines, ["bold 0123456789"]);
    /// let styled = s.capture_range_with(0, 1, CaptureOptions::new().styled(true))?;
    /// assert_eq!(styled.lines, ["\x1b[0;1mbold\x1b[0m 01234"]);
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`capture_range`](Self::capture_range).
    pub fn capture_range_with(&self, start: usize, end: usize, options: CaptureOptions) -> Result<Capture> {
        if start > end {
            return Err(Error::InvalidRange {
                id: self.id(),
                start,
                end,
            });
        }
        self.with_screen(|model, exit| Ok(capture_as(model, exit, start, end, options.render)))
    }

    /// Waits until the rendered screen — the rows a person sees now, on the
    /// alternate screen too — shows one of `patterns` on one of its lines,
    /// for at most `timeout` (`None`: no limit). Reports whether it was
    /// already there when the call began. Woken by the session's output,
    /// never by a timer; the screen is parsed on this thread.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::Session;
    ///
    /// let s = Session::start("printf 'loading\\r'; sleep 0.2; printf 'ready  \\n'; read x")?;
    /// // `loading` is overwritten in place: the byte stream has both, the
    /// // screen ends up with one.
    /// let m = s.wait_for_screen("ready", Some(Duration::from_secs(10)))?;
    /// assert_eq!((m.text.as_str(), m.line), ("ready", 0));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::WaitTimeout`] (its tail is the screen's text) when time
    /// runs out, [`Error::ExitedBeforeMatch`] if the child exits and its
    /// final screen does not match, [`Error::SessionClosed`].
    pub fn wait_for_screen(
        &self,
        patterns: impl Into<Patterns>,
        timeout: Option<Duration>,
    ) -> Result<ScreenMatch> {
        let patterns = patterns.into();
        let started = Instant::now();
        let deadline = deadline_after(timeout);
        let core = self.core()?;
        let mut first = true;
        loop {
            // The end is read before the parse, so any output after it
            // wakes the wait below.
            let (seen_end, exit) = {
                let g = core.lock()?;
                (g.end(), g.exit())
            };
            let (found, screen) = self.screen_find(&patterns)?;
            if let Some((index, line, text)) = found {
                return Ok(ScreenMatch::new(index, line, text, first, started.elapsed()));
            }
            first = false;
            if let Some(status) = exit {
                return Err(Error::ExitedBeforeMatch {
                    id: self.id(),
                    status,
                    patterns: patterns.to_string(),
                    waited: started.elapsed(),
                    tail: screen,
                });
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let arrived = core.lock()?.end() - seen_end;
                return Err(Error::WaitTimeout {
                    id: self.id(),
                    patterns: patterns.to_string(),
                    waited: started.elapsed(),
                    tail: screen,
                    arrived,
                });
            }
            let g = core.lock()?;
            drop(g.wait_until(deadline, |s| s.end() != seen_end || s.exit().is_some())?);
        }
    }

    /// The first line of the rendered screen that matches `patterns`
    /// (pattern index, absolute line, text), and the screen's text.
    pub(crate) fn screen_find(&self, patterns: &Patterns) -> Result<(Option<ScreenLine>, String)> {
        self.with_screen(|model, _| {
            let (rows, _) = model.size();
            let start = model.line_count().saturating_sub(rows);
            let lines = model.lines(start, model.line_count());
            let found = lines.iter().enumerate().find_map(|(i, text)| {
                patterns
                    .find(text.as_bytes(), 0)
                    .map(|(index, _, _)| (index, start + i, text.clone()))
            });
            Ok((found, lines.join("\n")))
        })
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
        self.with_screen(|model, exit| {
            let (start, lines) = viewport_start(model);
            Ok(capture(model, exit, start, start + lines))
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
        self.with_screen(|model, exit| {
            let start = start.min(latest_start(model, lines));
            model.viewport = Viewport::Pinned {
                first: model.evicted() + start as u64,
                lines,
            };
            Ok(capture(model, exit, start, start + lines))
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
        self.with_screen(|model, exit| {
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
            Ok(capture(model, exit, start, start + lines))
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
        self.with_screen(|model, exit| {
            let (rows, cols) = model.size();
            Ok(SessionInfo {
                id: self.id(),
                command: self.command().clone(),
                pid: self.pid(),
                running: exit.is_none(),
                exit_code: exit.and_then(ExitStatus::python_returncode),
                exit_status: exit,
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
