//! Sessions by id: the global registry behind the free functions, and
//! registries a program or test can keep for itself. The by-id forms of
//! every operation are declared in [`crate::api::by_id`].

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use parking_lot::RwLock;

use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::screen::search::SearchHit;
use crate::session::handle::Session;
use crate::session::manage::SessionSummary;
use crate::status::ExitStatus;
use crate::wait::pattern::Pattern;

/// A set of sessions addressed by [`SessionId`].
///
/// # Which sessions a registry sees
///
/// Exactly those started in it ([`SessionBuilder::start`](crate::SessionBuilder::start) and
/// [`start_session`](crate::start_session) for the global one,
/// [`SessionBuilder::start_in`](crate::SessionBuilder::start_in) and [`Registry::start`] for
/// yours) or [`insert`](Self::insert)ed, until they are closed. An owned
/// session from [`SessionBuilder::spawn`](crate::SessionBuilder::spawn) or [`Session::start`] is in
/// no registry: its name is not resolved anywhere, and the free functions
/// do not know its id. A session leaves its registry however it is closed:
/// by id here, or through any [`Session`] handle to it
/// ([`Session::close`]); its name is then free again and its id unknown.
///
/// To get a handle from an id, use [`get`](Self::get) (for the global
/// registry, `Registry::global().get(id)`): the handle reaches every
/// method, including those without a by-id form.
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
    /// Shared with the close hooks of its sessions (weakly: a session never
    /// keeps its registry alive).
    sessions: Arc<RwLock<HashMap<SessionId, Session>>>,
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

    /// Adds an owned session and returns its id. The registry keeps a clone;
    /// the session stays open until closed here (or the registry drops).
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateName`] if the session has a
    /// [name](crate::SessionBuilder::name) that a session here already has; the
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
        sessions.insert(id, session.clone());
        drop(sessions);
        // However the session is closed, it leaves this registry. Weak: a
        // dropped registry has closed its sessions already.
        let map = Arc::downgrade(&self.sessions);
        session.on_close(Box::new(move || {
            if let Some(map) = map.upgrade() {
                // Dropped after the lock is released (`let` ends the guard).
                let removed = map.write().remove(&id);
                drop(removed);
            }
        }));
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

    /// The id of the session named `name` here.
    ///
    /// Names are a look-up layer over ids: resolve once, then use the id
    /// with any operation.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownName`] if no session here has that name.
    pub fn resolve(&self, name: &str) -> Result<SessionId> {
        self.find_name(name).ok_or_else(|| Error::UnknownName {
            name: name.to_string(),
        })
    }

    /// [`Session::summary`] for session `id`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSession`].
    pub fn summary(&self, id: SessionId) -> Result<SessionSummary> {
        Ok(self.get(id)?.summary())
    }

    /// Details of every session here, oldest first.
    ///
    /// ```
    /// use bgterm::{Registry, RunState, SessionBuilder};
    ///
    /// let registry = Registry::new();
    /// let a = SessionBuilder::new(["cat"]).name("a").start_in(&registry)?;
    /// let b = registry.start("cat")?;
    /// let list = registry.list_details();
    /// assert_eq!(list.iter().map(|i| i.id).collect::<Vec<_>>(), vec![a, b]);
    /// assert_eq!(list[0].name.as_deref(), Some("a"));
    /// assert!(list.iter().all(|i| i.state == RunState::Running && i.pid > 0));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    #[must_use]
    pub fn list_details(&self) -> Vec<SessionSummary> {
        self.list()
            .into_iter()
            .filter_map(|id| self.get(id).ok())
            .map(|s| s.summary())
            .collect()
    }

    /// Searches every session in this registry (see [`Session::search`]);
    /// hits are ordered by session id, then line. A session closed while
    /// the search runs is skipped.
    ///
    /// # Errors
    ///
    /// None so far; the `Result` leaves room for errors a future pattern
    /// kind could have.
    pub fn search_sessions(&self, pattern: impl Into<Pattern>) -> Result<Vec<SearchHit>> {
        let pattern = pattern.into();
        let mut hits = Vec::new();
        for id in self.list() {
            match self.search(id, &pattern) {
                Ok(found) => hits.extend(found),
                Err(Error::UnknownSession { .. } | Error::SessionClosed { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(hits)
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
