//! Sessions by id: the global registry behind the free functions, and
//! registries a program or test can keep for itself.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use crate::{Command, Error, ExitStatus, PollResult, Result, Session, SessionBuilder, SessionId};

/// A set of sessions addressed by [`SessionId`].
///
/// The free functions ([`start_session`](crate::start_session),
/// [`poll`](crate::poll), ...) use [`Registry::global`]. Create your own
/// with [`Registry::new`] to keep a set of sessions apart: a test, or one
/// agent among several. A registry only locks its map to look an id up, so
/// a long wait on one session never delays another.
///
/// Dropping a registry closes every session still in it (see
/// [`Session`]'s drop). The global registry is never dropped; its children
/// get SIGHUP from the kernel when this process exits and their terminals
/// close.
///
/// ```
/// use std::time::Duration;
/// use bgterm::Registry;
///
/// let registry = Registry::new();
/// let id = registry.start(["cat"])?;
/// assert_eq!(registry.list(), vec![id]);
/// let out = registry.write_stdin(id, "ping\n", Duration::from_secs(5))?;
/// assert!(out.text.starts_with("ping"));
/// registry.close(id)?;
/// assert!(registry.list().is_empty());
/// # Ok::<(), bgterm::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Registry {
    sessions: RwLock<HashMap<SessionId, Session>>,
}

static GLOBAL: LazyLock<Registry> = LazyLock::new(Registry::new);

impl Registry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The process-wide registry the free functions use.
    #[must_use]
    pub fn global() -> &'static Registry {
        &GLOBAL
    }

    /// Starts `command` with default options and registers it.
    ///
    /// # Errors
    ///
    /// As for [`SessionBuilder::spawn`].
    pub fn start(&self, command: impl Into<Command>) -> Result<SessionId> {
        SessionBuilder::new(command).start_in(self)
    }

    /// Adds an owned session and returns its id. The registry keeps a clone;
    /// the session stays open until closed here (or the registry drops).
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateName`] if the session has a
    /// [name](SessionBuilder::name) that a session here already has; the
    /// session is not added (and is closed if this was its last handle).
    pub fn insert(&self, session: Session) -> Result<SessionId> {
        let id = session.id();
        let mut sessions = self.sessions.write();
        // Names are unique per registry; checked under the write lock so
        // two threads cannot both take one.
        if let Some(name) = session.name()
            && let Some(other) = sessions.values().find(|s| s.name() == Some(name))
        {
            let err = Error::DuplicateName {
                name: name.to_string(),
                id: other.id(),
            };
            drop(sessions); // close `session` (on return) outside the lock
            return Err(err);
        }
        sessions.insert(id, session);
        Ok(id)
    }

    /// The id of the session named `name`, if any. A linear scan: names
    /// are for people, and a registry holds tens of sessions, not millions.
    pub(crate) fn find_name(&self, name: &str) -> Option<SessionId> {
        self.sessions
            .read()
            .values()
            .find(|s| s.name() == Some(name))
            .map(Session::id)
    }

    /// A handle to session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`] if no open session has that id here.
    pub fn get(&self, id: SessionId) -> Result<Session> {
        self.sessions
            .read()
            .get(&id)
            .cloned()
            .ok_or(Error::UnknownSession { id })
    }

    /// The open sessions' ids, oldest first.
    #[must_use]
    pub fn list(&self) -> Vec<SessionId> {
        let mut ids: Vec<SessionId> = self.sessions.read().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// [`Session::write_stdin`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::write_stdin`].
    pub fn write_stdin(&self, id: SessionId, chars: &str, yield_time: Duration) -> Result<PollResult> {
        self.get(id)?.write_stdin(chars, yield_time)
    }

    /// [`Session::write_stdin_with_limit`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::write_stdin`].
    pub fn write_stdin_with_limit(
        &self,
        id: SessionId,
        chars: &str,
        yield_time: Duration,
        max_output_bytes: usize,
    ) -> Result<PollResult> {
        self.get(id)?
            .write_stdin_with_limit(chars, yield_time, max_output_bytes)
    }

    /// [`Session::poll`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::poll`].
    pub fn poll(&self, id: SessionId, yield_time: Duration) -> Result<PollResult> {
        self.get(id)?.poll(yield_time)
    }

    /// [`Session::poll_with_limit`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::poll`].
    pub fn poll_with_limit(
        &self,
        id: SessionId,
        yield_time: Duration,
        max_output_bytes: usize,
    ) -> Result<PollResult> {
        self.get(id)?.poll_with_limit(yield_time, max_output_bytes)
    }

    /// [`Session::poll_quiet`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::poll`].
    pub fn poll_quiet(&self, id: SessionId, max_wait: Duration, idle: Duration) -> Result<PollResult> {
        self.get(id)?.poll_quiet(max_wait, idle)
    }

    /// [`Session::read`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::read`].
    pub fn read(&self, id: SessionId) -> Result<PollResult> {
        self.get(id)?.read()
    }

    /// [`Session::read_with_limit`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::read`].
    pub fn read_with_limit(&self, id: SessionId, max_output_bytes: usize) -> Result<PollResult> {
        self.get(id)?.read_with_limit(max_output_bytes)
    }

    /// [`Session::wait`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::wait`].
    pub fn wait(&self, id: SessionId, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
        self.get(id)?.wait(timeout)
    }

    /// [`Session::wait_deadline`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::wait`].
    pub fn wait_deadline(&self, id: SessionId, deadline: Option<Instant>) -> Result<Option<ExitStatus>> {
        self.get(id)?.wait_deadline(deadline)
    }

    /// [`Session::terminate`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::terminate`].
    pub fn terminate(&self, id: SessionId) -> Result<()> {
        self.get(id)?.terminate()
    }

    /// [`Session::kill`] on session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::kill`].
    pub fn kill(&self, id: SessionId) -> Result<()> {
        self.get(id)?.kill()
    }

    /// Removes session `id` and closes it (see [`Session::close`]).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`], or as for [`Session::close`].
    pub fn close(&self, id: SessionId) -> Result<ExitStatus> {
        let session = self
            .sessions
            .write()
            .remove(&id)
            .ok_or(Error::UnknownSession { id })?;
        session.close()
    }
}
