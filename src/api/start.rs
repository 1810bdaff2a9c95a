//! Starting sessions: every entry point, and the features asked for at
//! start, attached before the pump runs so they see every byte.

use crate::api::registry::Registry;
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::record::recording::Recording;
use crate::record::transcript::Transcript;
use crate::screen;
use crate::session::builder::SessionBuilder;
use crate::session::command::Command;
use crate::session::handle::Session;

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
}

impl Registry {
    /// Starts `command` with default options and registers it.
    ///
    /// # Errors
    ///
    /// As for [`SessionBuilder::spawn`].
    pub fn start(&self, command: impl Into<Command>) -> Result<SessionId> {
        SessionBuilder::new(command).start_in(self)
    }
}

impl SessionBuilder {
    /// Starts the session in the global registry and returns its id.
    ///
    /// # Errors
    ///
    /// Any invalid option, a program that cannot be found or executed, a bad
    /// working directory, or an operating-system failure; each is a distinct
    /// [`Error`] variant naming the bad value.
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
            return Err(Error::DuplicateName {
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
        // An existing file is refused before the child exists; files are
        // created only by the start below, so a failed spawn leaves none.
        let if_exists = self.if_exists;
        let recording = self
            .record
            .as_ref()
            .map(|p| Recording::open(p, if_exists))
            .transpose()?;
        let transcript = self
            .transcript
            .as_ref()
            .map(|p| Transcript::open(p, if_exists))
            .transpose()?;
        let starting = Session::prepare(&self)?;
        let session = starting.session();
        // Before the pump starts: not one output byte is missed.
        screen::configure(session, self.scrollback_lines, self.screen)?;
        if let Some(recording) = recording {
            session.start_recording(recording)?;
        }
        if let Some(transcript) = transcript {
            session.start_transcript(transcript)?;
        }
        starting.run()
    }
}
