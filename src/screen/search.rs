//! Searching the transcripts of one session or of all of them, line by
//! line, for plain text or a regular expression.

use crate::error::Result;
use crate::id::SessionId;
use crate::session::handle::Session;
use crate::wait::pattern::Pattern;

/// One matching line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchHit {
    /// The session it is in.
    pub session: SessionId,
    /// Its absolute line number (as in [`Capture`](crate::Capture)).
    pub line: usize,
    /// The whole line.
    pub text: String,
}

impl Session {
    /// The transcript lines (retained scrollback and screen, as
    /// [`capture_range`](Self::capture_range) numbers them) that match
    /// `pattern`, oldest first. A string is plain text; use
    /// [`Pattern::regex`] for a regular expression.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::{Pattern, Session};
    ///
    /// let s = Session::start("echo alpha; echo beta; echo gamma; read x")?;
    /// s.wait_for_from(0, "gamma\r\n", Some(Duration::from_secs(10)))?;
    /// let hits = s.search(Pattern::regex("^(alpha|gamma)$")?)?;
    /// let found: Vec<_> = hits.iter().map(|h| (h.line, h.text.as_str())).collect();
    /// assert_eq!(found, [(0, "alpha"), (2, "gamma")]);
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`](crate::Error::SessionClosed).
    pub fn search(&self, pattern: impl Into<Pattern>) -> Result<Vec<SearchHit>> {
        let pattern = pattern.into();
        let capture = self.capture_range(0, usize::MAX)?;
        Ok(capture
            .lines
            .into_iter()
            .enumerate()
            .filter(|(_, text)| pattern.is_match(text))
            .map(|(i, text)| SearchHit {
                session: self.id(),
                line: capture.start_line + i,
                text,
            })
            .collect())
    }
}
