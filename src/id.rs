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

/// What to do with a recording's or transcript's file that already exists
/// and is not empty.
///
/// An empty file, and one that is not a regular file (a FIFO, a device such
/// as `/dev/null`), is always taken as it is. A missing file is created
/// whatever this says.
///
/// ```
/// use bgterm::{Error, IfExists, Recording};
///
/// let path = std::env::temp_dir().join(format!("bgterm-doc-exists-{}.cast", std::process::id()));
/// std::fs::write(&path, "precious\n")?;
/// let refused = Recording::create(&path).unwrap_err();
/// assert!(matches!(&refused, Error::FileExists { path: p } if *p == path));
/// assert_eq!(std::fs::read_to_string(&path)?, "precious\n"); // untouched
/// let _replace = Recording::open(&path, IfExists::Overwrite)?; // asked for explicitly
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IfExists {
    /// Refuse it with [`Error::FileExists`](crate::Error::FileExists) (asciinema's default).
    #[default]
    Refuse,
    /// Replace its content (asciinema's `--overwrite`). It is truncated
    /// only once the sink has started.
    Overwrite,
    /// Add to it (asciinema's `--append`). A recording appends events to
    /// an existing asciicast v2 file, continuing its clock from the file's
    /// last event, so the whole file still plays; a transcript appends
    /// bytes.
    Append,
}
