//! The owned session handle: what a caller holds, and the core operations
//! on it (send, poll, read, wait, signals, resize, close). Features add
//! their methods in their own modules, through the engine's interface.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Mutex, RwLock};

use crate::engine::core::{Core, Guard};
use crate::engine::decode;
use crate::engine::pump::Pump;
use crate::engine::reactor::{self, Served};
use crate::engine::result::PollResult;
use crate::engine::state::Config;
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::limits::DEFAULT_MAX_OUTPUT_BYTES;
use crate::session::builder::{SessionBuilder, valid_size};
use crate::session::command::Command;
use crate::session::{launch, name};
use crate::status::ExitStatus;
use crate::sys::fd::EventFd;

/// A running program on its own pseudo-terminal.
///
/// `Session` is a cheap handle: clones share one session, and every method
/// takes `&self`, so it can be used from many threads at once (it is `Send`
/// and `Sync`). Reads through any clone advance the same unread cursor.
///
/// # Dropping
///
/// When the last clone is dropped without [`close`](Self::close), the
/// session is closed: its process group gets SIGKILL, the reactor lets go
/// of it, the child is reaped (no zombie) and its descriptors are closed.
/// Sessions kept in a [`Registry`](crate::Registry) live until closed there.
///
/// # Forked hosts
///
/// A session belongs to the process that started it. If the host forks,
/// handles copied into the fork child are inert there: dropping them does
/// nothing at all to the session (no signal, no join, no reap; the
/// parent's session goes on untouched), and [`close`](Self::close) fails
/// with [`Error::SessionClosed`] without touching it. The fork child's
/// copies of the descriptors are left open; they are close-on-exec, so an
/// `exec` in the fork child releases them.
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
    /// The process that started the session: only it may end it (a handle
    /// inherited by a `fork` child is inert there).
    owner: u32,
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
    core: RwLock<Option<Arc<Core>>>,
    /// The reactor serving this session's pump, once started.
    served: Mutex<Option<Served>>,
    /// What features keep per session (see [`Session::extension`]).
    extensions: Mutex<Vec<Arc<dyn Any + Send + Sync>>>,
    /// Run once by the close, however it comes (see [`Session::on_close`]).
    on_close: Mutex<CloseHooks>,
}

/// What the close runs (see [`Session::on_close`]).
#[derive(Default)]
struct CloseHooks(Vec<Box<dyn FnOnce() + Send>>);

impl std::fmt::Debug for CloseHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CloseHooks({})", self.0.len())
    }
}

/// A session whose child runs but whose pump has not started: features
/// asked for at start attach here, so they see every byte. Dropping it
/// closes the session.
pub(crate) struct Starting {
    session: Session,
    pump: Pump,
}

impl Starting {
    /// The session, for attaching features.
    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    /// Starts the pump and hands the session over.
    pub(crate) fn run(self) -> Result<Session> {
        let Starting { session, pump } = self;
        let served = reactor::serve(pump).map_err(|source| Error::Spawn {
            program: session.command().to_string(),
            source,
        })?;
        *session.inner.served.lock() = Some(served);
        Ok(session)
    }
}

impl Session {
    /// Validates `b`, starts its child and the session's core; the pump is
    /// started by [`Starting::run`].
    pub(crate) fn prepare(b: &SessionBuilder) -> Result<Starting> {
        if let Some(name) = &b.name {
            name::validate(name)?;
        }
        let started = SystemTime::now();
        // Made before the child, so that nothing can fail once it exists.
        let wake = EventFd::new().map_err(|source| Error::Spawn {
            program: b.command.to_string(),
            source,
        })?;
        let spawned = launch::spawn(b)?;
        let id = SessionId::next();
        let pid = spawned.child.pid;
        let config = Config {
            max_buffer_bytes: b.max_buffer_bytes,
            encoding: b.encoding,
            decode_errors: b.decode_errors,
            size: (b.rows, b.cols),
        };
        let core = Arc::new(Core::new(id, spawned.child, config, wake));
        let session = Session {
            inner: Arc::new(Inner {
                id,
                pid: pid as u32,
                owner: std::process::id(),
                command: spawned.command,
                cwd: spawned.cwd,
                name: b.name.clone(),
                started,
                term: spawned.term,
                encoding: b.encoding,
                core: RwLock::new(Some(Arc::clone(&core))),
                served: Mutex::new(None),
                extensions: Mutex::new(Vec::new()),
                on_close: Mutex::new(CloseHooks::default()),
            }),
        };
        Ok(Starting {
            session,
            pump: Pump::new(core),
        })
    }

    /// This session's id (unique in the process, also when not registered).
    #[must_use]
    pub fn id(&self) -> SessionId {
        self.inner.id
    }

    /// The child's process id, which is also its process-group id. The
    /// crate itself never signals by this number (see "Hosts that reap
    /// children" in the crate docs): if the host reaped the child, the
    /// number may already belong to another process.
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

    /// The encoding of the session's output and input.
    pub(crate) fn encoding(&self) -> &'static encoding_rs::Encoding {
        self.inner.encoding
    }

    /// The session's core, or [`Error::SessionClosed`].
    pub(crate) fn core(&self) -> Result<Arc<Core>> {
        self.inner
            .core
            .read()
            .clone()
            .ok_or(Error::SessionClosed { id: self.inner.id })
    }

    /// Runs `f` on the locked state of the open session: how features
    /// attach their taps, deciding from the state's current contents with
    /// no event slipping in between.
    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&mut Guard<'_>) -> Result<T>) -> Result<T> {
        let core = self.core()?;
        let mut guard = core.lock()?;
        f(&mut guard)
    }

    /// The value of type `T` this session keeps for a feature, created by
    /// `init` on first use. The session layer stores it without knowing
    /// what it is: this is how features keep per-session state (the
    /// screen, the sinks) without the core naming them.
    pub(crate) fn extension<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let mut all = self.inner.extensions.lock();
        if let Some(found) = all.iter().find_map(|e| Arc::clone(e).downcast::<T>().ok()) {
            return found;
        }
        let made = Arc::new(init());
        all.push(Arc::clone(&made) as Arc<dyn Any + Send + Sync>);
        made
    }

    /// Runs `f` when the session is closed, through any handle or by the
    /// last handle's drop (at once if it already is), with no lock of the
    /// session held: how a registry learns that a session left it.
    pub(crate) fn on_close(&self, f: Box<dyn FnOnce() + Send>) {
        let mut hooks = self.inner.on_close.lock();
        if self.inner.core.read().is_some() {
            hooks.0.push(f);
        } else {
            drop(hooks);
            f();
        }
    }

    /// Sends `chars` to the child, then waits up to `yield_time` for output
    /// and returns the next unread chunk (at most
    /// [`DEFAULT_MAX_OUTPUT_BYTES`]). See [`poll`](Self::poll) for how the
    /// wait ends. An empty `chars` is valid and makes this a poll.
    ///
    /// The input goes to the terminal at once as far as it takes it without
    /// blocking; the rest is queued for the session's pump, so this
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
    /// [`CANONICAL_LINE_LIMIT`](crate::CANONICAL_LINE_LIMIT) (nothing is
    /// sent), [`Error::InputBacklog`] if more than
    /// [`MAX_INPUT_BACKLOG`](crate::MAX_INPUT_BACKLOG) bytes are already
    /// waiting, [`Error::SessionClosed`], and [`Error::Decode`] in strict
    /// mode.
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
        let bytes = decode::encode(self.inner.encoding, text).map_err(|character| Error::Unencodable {
            id: self.inner.id,
            encoding: self.inner.encoding.name(),
            character,
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
        self.core()?.send(bytes)
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
        self.core()?
            .poll(deadline_after(Some(yield_time)), max_output_bytes)
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
        self.with_state(|g| g.take(max_output_bytes))
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
        self.wait_deadline(deadline_after(timeout))
    }

    /// Waits for the child to exit until `deadline` (`None`: no deadline).
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn wait_deadline(&self, deadline: Option<Instant>) -> Result<Option<ExitStatus>> {
        self.core()?.wait_exit(deadline)
    }

    /// The exit status if the child has exited, without waiting.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        self.with_state(|g| Ok(g.exit()))
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
        {
            let guard = self.inner.core.read();
            let core = guard.as_ref().ok_or(Error::SessionClosed { id: self.inner.id })?;
            // Before the child dies: the other members of its session are
            // provably ours only while it is unreaped (see `close`).
            core.kill_session();
        }
        self.signal(libc::SIGKILL)
    }

    /// Sends `signal` to the child's process group and the terminal's
    /// foreground group.
    ///
    /// # Errors
    ///
    /// As for [`terminate`](Self::terminate); an invalid signal number is an
    /// [`Error::Io`].
    pub fn signal(&self, signal: i32) -> Result<()> {
        let guard = self.inner.core.read();
        let core = guard.as_ref().ok_or(Error::SessionClosed { id: self.inner.id })?;
        core.signal_groups(signal).map_err(|source| Error::Io {
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
        if !valid_size(rows, cols) {
            return Err(Error::InvalidSize { rows, cols });
        }
        self.core()?.resize(rows, cols)
    }

    /// The terminal size as (rows, cols).
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`].
    pub fn size(&self) -> Result<(u16, u16)> {
        self.with_state(|g| Ok(g.current_size()))
    }

    /// Closes the session: SIGKILL to its process group and to every other
    /// process of its terminal session, such as a job-control shell's
    /// background jobs (only a process that left with `setsid` escapes),
    /// also reaching grandchildren that still hold the terminal; stops its
    /// pump, reaps the child and releases every descriptor. Returns
    /// how the child ended (its real status if it had already exited).
    /// Every other clone then fails with [`Error::SessionClosed`], and
    /// threads waiting on it wake with that error.
    ///
    /// To let the program exit cleanly, send it its quit command or
    /// [`terminate`](Self::terminate) and [`wait`](Self::wait) first.
    ///
    /// If something other than this crate reaped the child (see "Hosts
    /// that reap children" in the crate docs), close still succeeds, with
    /// the status the kernel kept or [`ExitStatus::Unknown`].
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`] if it was already closed, or if called in a
    /// process other than the one that started the session (a fork child:
    /// see [Forked hosts](Self#forked-hosts)); [`Error::Io`] if waiting for
    /// the child failed.
    pub fn close(&self) -> Result<ExitStatus> {
        self.inner.close()
    }
}

impl Inner {
    /// Whether this process is the one that started the session.
    fn owned_here(&self) -> bool {
        std::process::id() == self.owner
    }

    fn close(&self) -> Result<ExitStatus> {
        if !self.owned_here() {
            return Err(Error::SessionClosed { id: self.id });
        }
        // Taking `core` for writing waits out any signal in flight.
        let core = self
            .core
            .write()
            .take()
            .ok_or(Error::SessionClosed { id: self.id })?;
        for hook in std::mem::take(&mut self.on_close.lock().0) {
            hook();
        }
        core.close();
        // The rest of the terminal session first (background jobs of a
        // job-control shell are in groups of their own): they can be
        // proven ours only while the child is unreaped, so before the
        // child is killed (a host that reaps could take it at once).
        core.kill_session();
        // The child's own group goes by its pidfd: never a stranger's.
        let _ = core.signal_groups(libc::SIGKILL);
        if let Some(served) = self.served.lock().take() {
            // The reactor lets go of the pump at the close's wake-up.
            served.finish();
        }
        core.reap()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.owned_here() {
            // A fork child's copy: the session, its reactor and its child
            // are the parent's. Touch nothing: no signal, no wait for the
            // reactor (its thread does not exist here), no reap (the child
            // is not ours here), not even the features' state, whose drop
            // may wait for threads that exist only in the parent. The
            // copied memory is the fork child's to lose.
            std::mem::forget(self.core.get_mut().take());
            std::mem::forget(self.served.get_mut().take());
            std::mem::forget(std::mem::take(self.extensions.get_mut()));
            return;
        }
        if self.core.get_mut().is_some() {
            let _ = self.close();
        }
    }
}

/// The deadline `timeout` from now; `None` for no timeout, and for one so
/// large the clock cannot represent it (as good as none).
pub(crate) fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}
