//! Session names: optional, unique within a registry, validated.

use crate::error::{Error, Result};
use crate::limits::MAX_NAME_LEN;

/// The Unicode format characters (general category Cf) as inclusive
/// ranges, from the Unicode Character Database of Unicode 15.1 (the same
/// in 16.0): zero-width spaces and joiners, direction marks, embeddings,
/// overrides and isolates, the byte-order mark, tags, and the like. They
/// are invisible or reorder the text around them, so a name with one can
/// pass for another in a listing.
const FORMAT_CHARACTERS: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// Whether `c` is a Unicode format character (general category Cf).
fn is_format(c: char) -> bool {
    let c = c as u32;
    FORMAT_CHARACTERS.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Checks a session name: not empty, at most [`MAX_NAME_LEN`] bytes, no
/// control characters (which would corrupt a listing on a terminal), no
/// format characters or line and paragraph separators (invisible, or
/// reordering the text, so a name could pass for another), and no path
/// separators (so a name can safely become part of a file name).
pub(crate) fn validate(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("it is longer than 64 bytes")
    } else if name.chars().any(char::is_control) {
        Some("it contains a control character")
    } else if name.chars().any(is_format) {
        Some("it contains an invisible format character (Unicode category Cf)")
    } else if name.contains(['\u{2028}', '\u{2029}']) {
        Some("it contains a line or paragraph separator")
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

    const FORMAT: &str = "it contains an invisible format character (Unicode category Cf)";

    #[test]
    fn the_format_ranges_are_sorted_disjoint_and_exclude_their_neighbours() {
        for w in FORMAT_CHARACTERS.windows(2) {
            assert!(w[0].0 <= w[0].1 && w[0].1 + 1 < w[1].0, "{w:?}");
        }
        // Neighbours that are not format characters: letters, spaces, marks.
        for ok in [
            '\u{AC}',
            '\u{AE}',
            '\u{2010}',
            '\u{2065}',
            '\u{FFFC}',
            'a',
            ' ',
            'é',
            '\u{E0080}',
        ] {
            assert!(!is_format(ok), "{ok:?}");
        }
        let count: u32 = FORMAT_CHARACTERS.iter().map(|(lo, hi)| hi - lo + 1).sum();
        assert_eq!(count, 170, "Unicode 15.1 has 170 Cf code points");
    }

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
            ("evil\u{202E}txt", FORMAT),
            ("zero\u{200B}width", FORMAT),
            ("\u{FEFF}bom", FORMAT),
            ("soft\u{AD}hyphen", FORMAT),
            ("isolate\u{2066}", FORMAT),
            ("tag\u{E0041}", FORMAT),
            ("hiero\u{1343F}", FORMAT),
            ("line\u{2028}sep", "it contains a line or paragraph separator"),
        ];
        for (name, reason) in bad {
            match validate(name) {
                Err(Error::InvalidName { name: n, reason: r }) => assert_eq!((n.as_str(), r), (name, reason)),
                other => panic!("{name:?}: {other:?}"),
            }
        }
    }
}
