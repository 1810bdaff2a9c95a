//! Recordings and transcripts asked for in the [`SessionBuilder`]: their
//! files are created before the child starts (a bad path starts nothing),
//! and they are attached before the pump starts (not one byte is missed).

use std::io;
use std::sync::Arc;

use crate::engine::state::Shared;
use crate::{Command, Recording, Result, SessionBuilder, Transcript};

/// The sinks a builder asked for, opened but not yet attached.
pub(crate) struct EarlySinks {
    recording: Option<Recording>,
    transcript: Option<Transcript>,
}

impl EarlySinks {
    /// Creates the files.
    pub(crate) fn open(b: &SessionBuilder) -> Result<EarlySinks> {
        Ok(EarlySinks {
            recording: b.record.as_ref().map(Recording::create).transpose()?,
            transcript: b.transcript.as_ref().map(Transcript::create).transpose()?,
        })
    }

    /// Attaches them to a session whose pump has not started yet.
    pub(crate) fn attach(
        self,
        shared: &Arc<Shared>,
        command: &Command,
        term: Option<&str>,
    ) -> io::Result<()> {
        if self.recording.is_none() && self.transcript.is_none() {
            return Ok(());
        }
        let mut st = shared.state.lock();
        if let Some(r) = self.recording {
            r.attach(shared, &mut st, command, term)?;
        }
        if let Some(t) = self.transcript {
            t.attach(shared, &mut st)?;
        }
        Ok(())
    }
}
