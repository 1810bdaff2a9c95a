//! What names a session, and the sinks on one.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Identifies a session, like the integer id Python bgterm returns.
///
/// Ids are unique within the process across every [`Registry`](crate::Registry)
/// and never reused, so a stale id can never reach a newer session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(u64);

static NEXT: AtomicU64 = AtomicU64::new(1);

impl SessionId {
    /// The next unused id.
    pub(crate) fn next() -> SessionId {
        SessionId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number (for logging or an external protocol).
    #[must_use]
    pub fn get(self) -> u64 {
        self.0
    }

    /// Rebuilds an id from [`get`](SessionId::get). An id that was never
    /// handed out simply names no session: operations on it return
    /// [`Error::UnknownSession`](crate::Error::UnknownSession).
    #[must_use]
    pub fn from_u64(n: u64) -> SessionId {
        SessionId(n)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which kind of sink: a session has at most one of each at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SinkKind {
    /// An asciicast recording ([`Recording`](crate::Recording)).
    Recording,
    /// A lossless transcript ([`Transcript`](crate::Transcript)).
    Transcript,
}

impl fmt::Display for SinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SinkKind::Recording => "recording",
            SinkKind::Transcript => "transcript",
        })
    }
}
