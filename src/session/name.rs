//! Session names: optional, unique within a registry, validated.

use crate::{Error, Registry, Result, SessionBuilder, SessionId};

/// Longest session name allowed, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a session name: not empty, at most [`MAX_NAME_LEN`] bytes, no
/// control characters (which would corrupt a listing on a terminal) and no
/// path separators (so a name can safely become part of a file name).
pub(crate) fn validate(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("it is longer than 64 bytes")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else if name.contains(['/', '\\']) {
        Some("it contains a path separator")
    } else if name.trim() != name {
        Some("it starts or ends with white space")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

impl SessionBuilder {
    /// Gives the session a name, unique within the registry it is started
    /// in; look it up with [`Registry::resolve`] (or [`resolve`] for the
    /// global registry). A name must not be empty, longer than
    /// [`MAX_NAME_LEN`] bytes, start or end with white space, or contain
    /// control characters or path separators (`/`, `\`).
    ///
    /// Starting fails with [`Error::InvalidName`] for a bad name and with
    /// [`Error::DuplicateName`] if the registry already has a session of
    /// that name (before any child is started).
    ///
    /// By default, a session has no name.
    ///
    /// ```
    /// use bgterm::{Error, Registry, SessionBuilder};
    ///
    /// let registry = Registry::new();
    /// let id = SessionBuilder::new(["cat"]).name("worker").start_in(&registry)?;
    /// assert_eq!(registry.resolve("worker")?, id);
    /// let again = SessionBuilder::new(["cat"]).name("worker").start_in(&registry);
    /// assert!(matches!(again, Err(Error::DuplicateName { ref name, id: first }) if name == "worker" && first == id));
    /// let bad = SessionBuilder::new(["cat"]).name("a/b").start_in(&registry);
    /// assert!(matches!(bad, Err(Error::InvalidName { .. })));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> SessionBuilder {
        self.name = Some(name.into());
        self
    }
}

impl Registry {
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
}

/// The id of the session named `name` in the global registry.
///
/// ```
/// let sid = bgterm::SessionBuilder::new(["cat"]).name("doc-resolve").start()?;
/// assert_eq!(bgterm::resolve("doc-resolve")?, sid);
/// bgterm::close(sid)?;
/// assert!(matches!(bgterm::resolve("doc-resolve"), Err(bgterm::Error::UnknownName { .. })));
/// # Ok::<(), bgterm::Error>(())
/// ```
///
/// # Errors
///
/// As for [`Registry::resolve`].
pub fn resolve(name: &str) -> Result<SessionId> {
    Registry::global().resolve(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        let long = "x".repeat(MAX_NAME_LEN + 1);
        let max = "y".repeat(MAX_NAME_LEN);
        for ok in ["dev", "my worker 2", "ünïcødé", "a.b-c_d", max.as_str()] {
            assert!(validate(ok).is_ok(), "{ok:?}");
        }
        // Table: name, expected reason
        let bad = [
            ("", "it is empty"),
            (long.as_str(), "it is longer than 64 bytes"),
            ("a\nb", "it contains a control character"),
            ("tab\there", "it contains a control character"),
            ("nul\0", "it contains a control character"),
            ("esc\u{1b}[31m", "it contains a control character"),
            ("a/b", "it contains a path separator"),
            ("a\\b", "it contains a path separator"),
            (" padded", "it starts or ends with white space"),
        ];
        for (name, reason) in bad {
            match validate(name) {
                Err(Error::InvalidName { name: n, reason: r }) => assert_eq!((n.as_str(), r), (name, reason)),
                other => panic!("{name:?}: {other:?}"),
            }
        }
    }
}
