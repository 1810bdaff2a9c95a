//! Session names: optional, unique within a registry, validated.

use crate::error::{Error, Result};
use crate::limits::MAX_NAME_LEN;

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
