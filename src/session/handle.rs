//! The owned session handle.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Mutex, RwLock};

use crate::engine::decode::TextDecoder;
use crate::engine::ring::Ring;
use crate::engine::state::{Shared, State};
use crate::engine::tap::Event;
use crate::sys::{self, EventFd};
use crate::{Command, Error, ExitStatus, PollResult, Result, SessionBuilder, SessionId};

/// Default for `max_output_bytes`: the most bytes one read returns (as in
/// Python bgterm).
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 65536;

/// Canonical-mode line limit of the Linux terminal driver: an unfinished
/// line keeps at most this many bytes and the rest are discarded.
pub const CANONICAL_LINE_LIMIT: usize = 4095;

/// Most input bytes queued for a child that is not reading. A write that
/// would exceed it fails with [`Error::InputBacklog`] and queues nothing.
pub const MAX_INPUT_BACKLOG: usize = 64 << 20;

/// A running program on its own pseudo-terminal.
///
/// `Session` is a cheap handle: clones share one session, and every method
/// takes `&self`, so it can be used from many threads at once (it is `Send`
/// and `Sync`). Reads through any clone advance the same unread cursor.
///
/// # Dropping
///
/// When the last clone is dropped without [`close`](Self::close), the
/// session is closed: its process group gets SIGKILL, the pump thread is
/// joined, the child is reaped (no zombie) and its descriptors are closed.
/// Sessions kept in a [`Registry`](crate::Registry) live until closed there.
///
/// ```
/// use std::time::Duration;
/// use bgterm::Session;
///
/// let cat = Session::start(["cat"])?;
/// let out = cat.write_stdin("hello\n", Duration::from_secs(5))?;
/// assert!(out.text.starts_with("hello"));
/// let status = cat.close()?; // SIGKILL, reap, release
/// assert_eq!(status.signal(), Some(9));
/// # Ok::<(), bgterm::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Session {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: SessionId,
    pid: u32,
    command: Command,
    cwd: PathBuf,
    /// The unique name given at start, if any.
    name: Option<String>,
    /// When the session was started.
    started: SystemTime,
    /// The `TERM` the child was given, if any.
    term: Option<String>,
    encoding: &'static encoding_rs::Encoding,
    /// `None` once closed. Held for reading while a signal is sent, so that
    /// close (which takes it for writing) can never reap the child, freeing
    /// its pid for reuse, while a signal to that pid is in flight.
    shared: RwLock<Option<Arc<Shared>>>,
    pump: Mutex<Option<JoinHandle<()>>>,
    /// Shell integration and the command in flight for `run` (turn/run.rs).
    run: crate::turn::run::RunSlot,
}

impl Session {
    /// Starts `command` with default options: a string runs through
    /// `/bin/sh -c`, a list is an argv run directly. See [`SessionBuilder`]
    /// for every option.
    ///
    /// # Errors
    ///
    /// As for [`SessionBuilder::spawn`].
    pub fn start(command: impl Into<Command>) -> Result<Session> {
        SessionBuilder::new(command).spawn()
    }

    pub(crate) fn from_builder(b: SessionBuilder) -> Result<Session> {
        if let Some(name) = &b.name {
            crate::session::name::validate(name)?;
        }
        // Files for a recording or transcript asked for at start are created
        // before the child exists, so a bad path starts nothing.
        let early = crate::record::early::EarlySinks::open(&b)?;
        let started = SystemTime::now();
        let spawned = crate::sys::spawn::spawn(&b)?;
        let id = SessionId::next();
        let pid = spawned.pid;
        let kill_and_reap = |e: std::io::Error| {
            let _ = sys::signal_group(pid, libc::SIGKILL);
            let _ = sys::reap(pid);
            Error::Spawn {
                program: spawned.command.to_string(),
                source: e,
            }
        };
        let wake = EventFd::new().map_err(kill_and_reap)?;
        let shared = Arc::new(Shared {
            id,
            pid,
            state: parking_lot::Mutex::new(State {
                ring: Ring::new(b.max_buffer_bytes),
                decoder: TextDecoder::new(b.encoding, b.decode_errors),
                input: Default::default(),
                canon_line: 0,
                exit: None,
                output_ended: false,
                stop: false,
                closed: false,
                size: (b.rows, b.cols),
                taps: Default::default(),
                sinks: Default::default(),
                screen: crate::screen::Slot::new(b.scrollback_lines),
            }),
            changed: parking_lot::Condvar::new(),
            wake,
            master: spawned.master,
            pidfd: spawned.pidfd,
        });
        // Before the pump starts, so not one output byte is missed.
        early
            .attach(&shared, &spawned.command, spawned.term.as_deref())
            .map_err(kill_and_reap)?;
        if b.screen {
            // Before the pump starts, so the screen sees every byte.
            crate::screen::activate(&mut shared.state.lock());
        }
        let for_pump = Arc::clone(&shared);
        let pump = std::thread::Builder::new()
            .name(format!("bgterm-{id}"))
            .stack_size(256 * 1024)
            .spawn(move || crate::engine::pump::run(for_pump))
            .map_err(kill_and_reap)?;
        Ok(Session {
            inner: Arc::new(Inner {
                id,
                pid: pid as u32,
                command: spawned.command,
                cwd: spawned.cwd,
                name: b.name,
                started,
                term: spawned.term,
                encoding: b.encoding,
                shared: RwLock::new(Some(shared)),
                pump: Mutex::new(Some(pump)),
                run: Default::default(),
            }),
        })
    }

    /// This session's id (unique in the process, also when not registered).
    #[must_use]
    pub fn id(&self) -> SessionId {
        self.inner.id
    }

    /// The child's process id, which is also its process-group id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// The command as it was run (after applying
    /// [`SessionBuilder::shell`]).
    #[must_use]
    pub fn command(&self) -> &Command {
        &self.inner.command
    }

    /// The child's working directory at start.
    #[must_use]
    pub fn cwd(&self) -> &Path {
        &self.inner.cwd
    }

    /// The unique name given with [`SessionBuilder::name`], if any.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// When the session was started (wall-clock time, for display).
    #[must_use]
    pub fn started(&self) -> SystemTime {
        self.inner.started
    }

    /// The `TERM` the child was given, if any.
    pub(crate) fn term(&self) -> Option<&str> {
        self.inner.term.as_deref()
    }

    /// State of [`run`](Self::run) for this session.
    pub(crate) fn run_slot(&self) -> &crate::turn::run::RunSlot {
        &self.inner.run
    }

    /// The session's shared state, or [`Error::SessionClosed`].
    pub(crate) fn shared(&self) -> Result<Arc<Shared>> {
        self.inner
            .shared
            .read()
            .clone()
            .ok_or(Error::SessionClosed { id: self.inner.id })
    }

    /// Runs `f` on the locked state of the open session: how features built
    /// on the core (event streams, recording) attach their taps, deciding
    /// from the state's current contents with no event slipping in between.
    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let shared = self.shared()?;
        let mut st = shared.lock_open()?;
        f(&mut st)
    }

    /// The encoding of the session's output and input.
    pub(crate) fn encoding(&self) -> &'static encoding_rs::Encoding {
        self.inner.encoding
    }

    /// Sends `chars` to the child, then waits up to `yield_time` for output
    /// and returns the next unread chunk (at most
    /// [`DEFAULT_MAX_OUTPUT_BYTES`]). See [`poll`](Self::poll) for how the
    /// wait ends. An empty `chars` is valid and makes this a poll.
    ///
    /// The input goes to the terminal at once as far as it takes it without
    /// blocking; the rest is queued for the session's pump thread, so this
    /// never blocks on a child that is not reading. Text is encoded in the
    /// session's encoding. A PTY turns `"\n"` into Enter; echo is on unless
    /// the child turned it off, so the input usually comes back in `text`.
    ///
    /// # Errors
    ///
    /// [`Error::SessionExited`] if the child has exited,
    /// [`Error::Unencodable`] if the text has a character the session's
    /// encoding cannot represent (nothing is sent),
    /// [`Error::LineTooLong`] if the terminal is in canonical mode and the
    /// input would make an unfinished line longer than
    /// [`CANONICAL_LINE_LIMIT`] (nothing is sent), [`Error::InputBacklog`]
    /// if more than [`MAX_INPUT_BACKLOG`] bytes are already waiting,
    /// [`Error::SessionClosed`], and [`Error::Decode`] in strict mode.
    pub fn write_stdin(&self, chars: &str, yield_time: Duration) -> Result<PollResult> {
        self.write_stdin_with_limit(chars, yield_time, DEFAULT_MAX_OUTPUT_BYTES)
    }

    /// [`write_stdin`](Self::write_stdin) returning at most
    /// `max_output_bytes` bytes of output.
    ///
    /// # Errors
    ///
    /// As for [`write_stdin`](Self::write_stdin).
    pub fn write_stdin_with_limit(
        &self,
        chars: &str,
        yield_time: Duration,
        max_output_bytes: usize,
    ) -> Result<PollResult> {
        self.send(chars)?;
        self.poll_with_limit(yield_time, max_output_bytes)
    }

    /// Queues `text` for the child, encoded in the session's encoding, and
    /// returns at once without reading any output: the output (including
    /// the terminal's echo) stays unread for the next read. This is the
    /// input half of [`write_stdin`](Self::write_stdin), for callers that
    /// collect output separately.
    ///
    /// # Errors
    ///
    /// As for [`write_stdin`](Self::write_stdin), except decoding.
    pub fn send(&self, text: &str) -> Result<()> {
        let bytes = crate::engine::decode::encode(self.inner.encoding, text).map_err(|character| {
            Error::Unencodable {
                id: self.inner.id,
                encoding: self.inner.encoding.name(),
                character,
            }
        })?;
        self.send_bytes(&bytes)
    }

    /// Queues raw bytes for the child without reading any output (see
    /// [`send`](Self::send)); for control characters or input in another
    /// encoding.
    ///
    /// # Errors
    ///
    /// As for [`write_stdin`](Self::write_stdin), except decoding.
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        let shared = self.shared()?;
        let mut st = shared.lock_open()?;
        if let Some(status) = st.exit {
            return Err(Error::SessionExited {
                id: self.inner.id,
                status,
            });
        }
        if bytes.is_empty() {
            return Ok(());
        }
        if st.input.len() + bytes.len() > MAX_INPUT_BACKLOG {
            return Err(Error::InputBacklog {
                id: self.inner.id,
                pending: st.input.len(),
                limit: MAX_INPUT_BACKLOG,
            });
        }
        let canonical = sys::is_canonical(shared.master.as_fd()).map_err(|source| Error::Io {
            id: self.inner.id,
            op: "reading terminal attributes",
            source,
        })?;
        st.canon_line = if canonical {
            canonical_line_after(st.canon_line, bytes).map_err(|length| Error::LineTooLong {
                id: self.inner.id,
                length,
                limit: CANONICAL_LINE_LIMIT,
            })?
        } else {
            0
        };
        st.taps.emit(Event::Input { bytes });
        // Why write here rather than always hand over to the pump: a
        // round trip then costs one thread wake-up (output), not two. The
        // write never blocks (the master is non-blocking); whatever the
        // terminal does not take at once is queued for the pump, and
        // nothing is written directly while older input is queued, so the
        // order is kept (the pump writes under the same lock).
        let rest = if st.input.is_empty() {
            match sys::write(shared.master.as_fd(), bytes) {
                Ok(sys::Io::Done(n)) => &bytes[n..],
                // The pump sees the same condition and handles it.
                Ok(sys::Io::WouldBlock | sys::Io::Closed) | Err(_) => bytes,
            }
        } else {
            bytes
        };
        if !rest.is_empty() {
            st.input.extend(rest);
            drop(st);
            shared.wake.signal();
        }
        Ok(())
    }

    /// Waits up to `yield_time` for output and returns the next unread chunk
    /// (at most [`DEFAULT_MAX_OUTPUT_BYTES`]).
    ///
    /// `yield_time` is a bounded wait, not a completion signal: if unread
    /// output is already buffered the call returns at once; otherwise it
    /// returns the moment output arrives or the child exits, or when
    /// `yield_time` has passed (with empty text). It does not know whether
    /// the program has finished a command: wait for a prompt or a marker
    /// for that.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`] (also when another thread closes the session
    /// during the wait), and [`Error::Decode`] in strict mode.
    pub fn poll(&self, yield_time: Duration) -> Result<PollResult> {
        self.poll_with_limit(yield_time, DEFAULT_MAX_OUTPUT_BYTES)
    }

    /// [`poll`](Self::poll) returning at most `max_output_bytes` bytes.
    ///
    /// # Errors
    ///
    /// As for [`poll`](Self::poll).
    pub fn poll_with_limit(&self, yield_time: Duration, max_output_bytes: usize) -> Result<PollResult> {
        let deadline = Instant::now().checked_add(yield_time);
        let shared = self.shared()?;
        let st = shared.lock_open()?;
        let mut st = shared.wait_until(st, deadline, |s| s.ring.unread() > 0 || s.exit.is_some())?;
        st.take_result(self.inner.id, max_output_bytes)
    }

    /// Like [`poll`](Self::poll), but once output starts it keeps collecting
    /// until no new output has arrived for `idle` (or the child exits, or
    /// `max_wait` has passed since the call), so one call returns a whole
    /// burst rather than its first fragment. Returns at once with what is
    /// buffered if output is already waiting and then goes quiet.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::Session;
    ///
    /// // Three lines written with short pauses: one quiet poll gets them all.
    /// let s = Session::start("read go; for i in 1 2 3; do echo part$i; sleep 0.05; done; read stop")?;
    /// s.send("\n")?;
    /// let out = s.poll_quiet(Duration::from_secs(10), Duration::from_millis(500))?;
    /// assert!(out.text.contains("part1") && out.text.ends_with("part3\r\n"), "{:?}", out.text);
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`poll`](Self::poll).
    pub fn poll_quiet(&self, max_wait: Duration, idle: Duration) -> Result<PollResult> {
        self.poll_quiet_with_limit(max_wait, idle, DEFAULT_MAX_OUTPUT_BYTES)
    }

    /// [`poll_quiet`](Self::poll_quiet) returning at most
    /// `max_output_bytes` bytes (it also stops collecting once that much is
    /// buffered).
    ///
    /// # Errors
    ///
    /// As for [`poll`](Self::poll).
    pub fn poll_quiet_with_limit(
        &self,
        max_wait: Duration,
        idle: Duration,
        max_output_bytes: usize,
    ) -> Result<PollResult> {
        let deadline = Instant::now().checked_add(max_wait);
        let shared = self.shared()?;
        let st = shared.lock_open()?;
        let mut st = shared.wait_until(st, deadline, |s| s.ring.unread() > 0 || s.exit.is_some())?;
        while st.exit.is_none() && st.ring.unread() > 0 && st.ring.unread() < max_output_bytes {
            let end = st.ring.end();
            // Quiet until `idle` after the latest output, but never past the
            // caller's deadline.
            let quiet = Instant::now().checked_add(idle);
            let until = match (quiet, deadline) {
                (Some(q), Some(d)) => Some(q.min(d)),
                (q, d) => q.or(d),
            };
            st = shared.wait_until(st, until, |s| s.ring.end() != end || s.exit.is_some())?;
            if st.ring.end() == end && st.exit.is_none() {
                break; // quiet for `idle`, or out of time
            }
        }
        st.take_result(self.inner.id, max_output_bytes)
    }

    /// Returns the next unread chunk at once, without waiting.
    ///
    /// # Errors
    ///
    /// As for [`poll`](Self::poll).
    pub fn read(&self) -> Result<PollResult> {
        self.read_with_limit(DEFAULT_MAX_OUTPUT_BYTES)
    }

    /// [`read`](Self::read) returning at most `max_output_bytes` bytes.
    ///
    /// # Errors
    ///
    /// As for [`poll`](Self::poll).
    pub fn read_with_limit(&self, max_output_bytes: usize) -> Result<PollResult> {
        let shared = self.shared()?;
        let mut st = shared.lock_open()?;
        st.take_result(self.inner.id, max_output_bytes)
    }

    /// Waits for the child to exit: forever with `None`, else at most
    /// `timeout`. Returns `None` on timeout. When it returns an exit
    /// status, all output the child wrote before exiting is already
    /// readable.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn wait(&self, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
        self.wait_deadline(crate::engine::state::deadline_after(timeout))
    }

    /// Waits for the child to exit until `deadline` (`None`: no deadline).
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn wait_deadline(&self, deadline: Option<Instant>) -> Result<Option<ExitStatus>> {
        let shared = self.shared()?;
        let st = shared.lock_open()?;
        let st = shared.wait_until(st, deadline, |s| s.exit.is_some())?;
        Ok(st.exit)
    }

    /// The exit status if the child has exited, without waiting.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        Ok(self.shared()?.lock_open()?.exit)
    }

    /// Whether the child is still running.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn is_running(&self) -> Result<bool> {
        Ok(self.try_wait()?.is_none())
    }

    /// Sends SIGTERM to the child's process group (and to the terminal's
    /// foreground group, if a job-control shell moved a job there).
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`], or [`Error::Io`] if the signal cannot be
    /// sent.
    pub fn terminate(&self) -> Result<()> {
        self.signal(libc::SIGTERM)
    }

    /// Sends SIGKILL to every process of the child's terminal session: its
    /// process group, the terminal's foreground group, and the background
    /// jobs a job-control shell put in groups of their own (only a process
    /// that left the session with `setsid` escapes). The session stays open
    /// and readable: its exit status and remaining output are there until
    /// [`close`](Self::close).
    ///
    /// # Errors
    ///
    /// As for [`terminate`](Self::terminate).
    pub fn kill(&self) -> Result<()> {
        self.signal(libc::SIGKILL)?;
        let guard = self.inner.shared.read();
        if let Some(shared) = guard.as_ref() {
            // Under the read guard, so the child cannot be reaped meanwhile.
            sys::kill_session(shared.pid);
        }
        Ok(())
    }

    /// Sends `signal` to the child's process group and the terminal's
    /// foreground group.
    ///
    /// # Errors
    ///
    /// As for [`terminate`](Self::terminate); an invalid signal number is an
    /// [`Error::Io`].
    pub fn signal(&self, signal: i32) -> Result<()> {
        let guard = self.inner.shared.read();
        let shared = guard.as_ref().ok_or(Error::SessionClosed { id: self.inner.id })?;
        signal_groups(shared, signal).map_err(|source| Error::Io {
            id: self.inner.id,
            op: "sending a signal",
            source,
        })
    }

    /// Changes the terminal size; the child gets SIGWINCH, and the screen
    /// model (if active) follows at this point of the output stream.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSize`] for a zero dimension or one over
    /// [`MAX_ROWS`](crate::MAX_ROWS) / [`MAX_COLS`](crate::MAX_COLS),
    /// [`Error::SessionClosed`], or [`Error::Io`].
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        if !crate::session::builder::valid_size(rows, cols) {
            return Err(Error::InvalidSize { rows, cols });
        }
        let shared = self.shared()?;
        let mut st = shared.lock_open()?;
        sys::set_window_size(shared.master.as_fd(), rows, cols).map_err(|source| Error::Io {
            id: self.inner.id,
            op: "resizing the terminal",
            source,
        })?;
        st.size = (rows, cols);
        st.taps.emit(Event::Resize { rows, cols });
        Ok(())
    }

    /// The terminal size as (rows, cols).
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn size(&self) -> Result<(u16, u16)> {
        Ok(self.shared()?.lock_open()?.size)
    }

    /// Closes the session: SIGKILL to its process group and to every other
    /// process of its terminal session, such as a job-control shell's
    /// background jobs (only a process that left with `setsid` escapes),
    /// also reaching grandchildren that still hold the terminal; stops its
    /// pump thread, reaps the child and releases every descriptor. Returns
    /// how the child ended (its real status if it had already exited).
    /// Every other clone then fails with [`Error::SessionClosed`], and
    /// threads waiting on it wake with that error.
    ///
    /// To let the program exit cleanly, send it its quit command or
    /// [`terminate`](Self::terminate) and [`wait`](Self::wait) first.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`] if it was already closed; [`Error::Io`] if
    /// the child could not be reaped.
    pub fn close(&self) -> Result<ExitStatus> {
        self.inner.close()
    }
}

impl Inner {
    fn close(&self) -> Result<ExitStatus> {
        // Taking `shared` for writing waits out any signal in flight.
        let shared = self
            .shared
            .write()
            .take()
            .ok_or(Error::SessionClosed { id: self.id })?;
        // Closed before the kill: otherwise the pump could publish the exit
        // our own SIGKILL causes, and a waiter would report that exit
        // (`ExitedBeforeMatch`, a status) instead of the close.
        {
            let mut st = shared.state.lock();
            st.stop = true;
            st.closed = true;
        }
        shared.changed.notify_all();
        shared.wake.signal();
        // The child is unreaped until `reap` below, so its pid still names
        // our process group.
        let _ = signal_groups(&shared, libc::SIGKILL);
        // Background jobs of a job-control shell are in groups of their own.
        sys::kill_session(shared.pid);
        if let Some(pump) = self.pump.lock().take() {
            // The pump only ever blocks in poll, which `wake` interrupts.
            let _ = pump.join();
        }
        let status = sys::reap(shared.pid).map_err(|source| Error::Io {
            id: self.id,
            op: "reaping the child",
            source,
        })?;
        Ok(status)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.shared.get_mut().is_some() {
            let _ = self.close();
        }
    }
}

/// Signals the child's group, and the foreground group if different.
fn signal_groups(shared: &Shared, signal: i32) -> std::io::Result<()> {
    sys::signal_group(shared.pid, signal)?;
    if let Some(fg) = sys::foreground_group(shared.master.as_fd())
        && fg != shared.pid
    {
        sys::signal_group(fg, signal)?;
    }
    Ok(())
}

/// The unfinished-line length after sending `bytes` in canonical mode, or
/// the offending length if some line would exceed [`CANONICAL_LINE_LIMIT`].
/// Line ends reset the count: newline and carriage return (ICRNL), and the
/// EOF, interrupt and kill characters (^D, ^C, ^U), which also end or
/// discard the pending line.
fn canonical_line_after(mut line: usize, bytes: &[u8]) -> Result<usize, usize> {
    let is_end = |b: u8| matches!(b, b'\n' | b'\r' | 0x04 | 0x03 | 0x15);
    for (i, &b) in bytes.iter().enumerate() {
        if is_end(b) {
            line = 0;
            continue;
        }
        line += 1;
        if line > CANONICAL_LINE_LIMIT {
            // Report the whole offending line, up to its end in `bytes`.
            let rest = bytes[i + 1..].iter().take_while(|&&b| !is_end(b)).count();
            return Err(line + rest);
        }
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_line_accounting() {
        assert_eq!(canonical_line_after(0, b"abc"), Ok(3));
        assert_eq!(canonical_line_after(3, b"de\nfg"), Ok(2));
        assert_eq!(
            canonical_line_after(0, &[b'x'; CANONICAL_LINE_LIMIT]),
            Ok(CANONICAL_LINE_LIMIT)
        );
        let mut long = vec![b'x'; 5000];
        long.extend_from_slice(b"\nshort");
        assert_eq!(canonical_line_after(0, &long), Err(5000));
        assert!(canonical_line_after(CANONICAL_LINE_LIMIT, b"y").is_err());
        assert_eq!(canonical_line_after(CANONICAL_LINE_LIMIT, b"\r"), Ok(0));
        assert_eq!(canonical_line_after(10, b"\x03abc"), Ok(3));
    }
}
