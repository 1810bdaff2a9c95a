//! What [`Session::wait_for`](crate::Session::wait_for) looks for: plain
//! text or a regular expression, one or several at once.

use std::fmt;

use memchr::memmem;

use crate::error::{Error, Result};

/// Text to wait for in a session's output.
///
/// A `&str` or `String` converts into a literal pattern; build a regular
/// expression with [`Pattern::regex`] (the [`regex`] crate's syntax, matched
/// against the output's bytes as UTF-8, so `.` matches one character).
///
/// In a session with another [encoding](crate::SessionBuilder::encoding), a
/// literal is searched for in that encoding; a regular expression still
/// matches the raw bytes as UTF-8, so only its ASCII parts are reliable
/// there (and none in UTF-16).
///
/// ```
/// use bgterm::Pattern;
/// let prompt: Pattern = ">>> ".into();
/// let number = Pattern::regex(r"\d+")?;
/// assert_eq!(prompt.to_string(), ">>> ");
/// assert!(Pattern::regex("(unclosed").is_err());
/// # Ok::<(), bgterm::Error>(())
/// ```
#[derive(Clone)]
pub struct Pattern(Kind);

#[derive(Clone)]
enum Kind {
    /// The text, and the bytes searched for: its UTF-8 unless re-encoded
    /// for a session with [`Patterns::encoded`].
    Literal(String, Vec<u8>),
    Regex(regex::bytes::Regex),
}

impl Pattern {
    /// A literal pattern: matches exactly this text.
    pub fn literal(text: impl Into<String>) -> Pattern {
        let text = text.into();
        let bytes = text.as_bytes().to_vec();
        Pattern(Kind::Literal(text, bytes))
    }

    /// A regular-expression pattern.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPattern`] naming the pattern and saying what is wrong.
    pub fn regex(pattern: &str) -> Result<Pattern> {
        regex::bytes::Regex::new(pattern)
            .map(|r| Pattern(Kind::Regex(r)))
            .map_err(|source| Error::InvalidPattern {
                pattern: pattern.to_string(),
                source,
            })
    }

    /// Whether `text` contains a match (how [`search`](crate::search) tests
    /// a line).
    ///
    /// ```
    /// use bgterm::Pattern;
    /// let plain: Pattern = "a.c".into(); // matches only the text "a.c"
    /// assert!(plain.is_match("xa.cx") && !plain.is_match("abc"));
    /// assert!(Pattern::regex(r"^error: \w+")?.is_match("error: disk full"));
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    #[must_use]
    pub fn is_match(&self, text: &str) -> bool {
        self.find(text.as_bytes(), 0).is_some()
    }

    /// The byte range of the first match in `haystack` that starts at or
    /// after `from` (an index into `haystack`).
    pub(crate) fn find(&self, haystack: &[u8], from: usize) -> Option<(usize, usize)> {
        match &self.0 {
            Kind::Literal(_, needle) => {
                if needle.is_empty() {
                    return Some((from, from));
                }
                memmem::find(&haystack[from..], needle).map(|i| (from + i, from + i + needle.len()))
            }
            Kind::Regex(re) => re.find_at(haystack, from).map(|m| (m.start(), m.end())),
        }
    }

    /// How far back from the end of an already-searched haystack a new match
    /// could start once more bytes are appended: for a literal, one byte
    /// less than its length; for a regex, anywhere (`None`).
    pub(crate) fn overlap(&self) -> Option<usize> {
        match &self.0 {
            Kind::Literal(_, bytes) => Some(bytes.len().saturating_sub(1)),
            Kind::Regex(_) => None,
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Literal(t, _) => f.write_str(t),
            Kind::Regex(r) => f.write_str(r.as_str()),
        }
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Literal(t, _) => write!(f, "Pattern::literal({t:?})"),
            Kind::Regex(r) => write!(f, "Pattern::regex({:?})", r.as_str()),
        }
    }
}

impl From<&str> for Pattern {
    fn from(text: &str) -> Pattern {
        Pattern::literal(text)
    }
}

impl From<String> for Pattern {
    fn from(text: String) -> Pattern {
        Pattern::literal(text)
    }
}

impl From<&Pattern> for Pattern {
    fn from(p: &Pattern) -> Pattern {
        p.clone()
    }
}

impl From<&String> for Pattern {
    fn from(text: &String) -> Pattern {
        Pattern::literal(text.clone())
    }
}

/// One or more patterns to wait for at once; the first to match wins (the
/// one whose match starts earliest; on a tie, the one listed first), and
/// [`Match::index`](crate::Match::index) says which it was.
///
/// Converts from a single pattern or string, or from an array, slice or
/// `Vec` of them:
///
/// ```
/// use bgterm::{Pattern, Patterns};
/// let one: Patterns = "$ ".into();
/// let several: Patterns = ["ok", "error"].into();
/// let mixed: Patterns = vec![Pattern::literal("done"), Pattern::regex(r"exit \d+")?].into();
/// assert_eq!((one.len(), several.len(), mixed.len()), (1, 2, 2));
/// # Ok::<(), bgterm::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Patterns(Vec<Pattern>);

impl Patterns {
    /// How many patterns there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are none (such a wait can never match).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The patterns, in order.
    #[must_use]
    pub fn as_slice(&self) -> &[Pattern] {
        &self.0
    }

    /// The earliest match at or after `from`: (pattern index, start, end).
    pub(crate) fn find(&self, haystack: &[u8], from: usize) -> Option<(usize, usize, usize)> {
        let mut best: Option<(usize, usize, usize)> = None;
        for (i, p) in self.0.iter().enumerate() {
            if let Some((s, e)) = p.find(haystack, from)
                && best.is_none_or(|(_, bs, _)| s < bs)
            {
                best = Some((i, s, e));
            }
        }
        best
    }

    /// These patterns for output in `encoding`: literals are searched for
    /// as their bytes in that encoding (regular expressions always match
    /// the raw bytes as UTF-8). Fails with the first character a literal
    /// has that `encoding` cannot represent.
    pub(crate) fn encoded(&self, encoding: &'static encoding_rs::Encoding) -> Result<Patterns, char> {
        if encoding == encoding_rs::UTF_8 {
            return Ok(self.clone());
        }
        self.0
            .iter()
            .map(|p| match &p.0 {
                Kind::Literal(text, _) => {
                    let bytes = crate::engine::decode::encode(encoding, text)?.into_owned();
                    Ok(Pattern(Kind::Literal(text.clone(), bytes)))
                }
                Kind::Regex(_) => Ok(p.clone()),
            })
            .collect::<Result<Vec<_>, char>>()
            .map(Patterns)
    }

    /// The largest overlap any pattern needs (`None`: rescan everything).
    pub(crate) fn overlap(&self) -> Option<usize> {
        self.0
            .iter()
            .try_fold(0, |acc, p| p.overlap().map(|o| acc.max(o)))
    }
}

impl fmt::Display for Patterns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|p| format!("{p:?}")).collect();
        f.write_str(&parts.join(" | "))
    }
}

impl<T: Into<Pattern>> From<T> for Patterns {
    fn from(p: T) -> Patterns {
        Patterns(vec![p.into()])
    }
}

impl<T: Into<Pattern>, const N: usize> From<[T; N]> for Patterns {
    fn from(ps: [T; N]) -> Patterns {
        Patterns(ps.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Pattern>> From<Vec<T>> for Patterns {
    fn from(ps: Vec<T>) -> Patterns {
        Patterns(ps.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Pattern> + Clone> From<&[T]> for Patterns {
    fn from(ps: &[T]) -> Patterns {
        Patterns(ps.iter().cloned().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_match_wins_then_list_order() {
        // Table: patterns, haystack, from, expected (index, start, end)
        type Case<'a> = (Patterns, &'a str, usize, Option<(usize, usize, usize)>);
        let cases: Vec<Case> = vec![
            (["b", "a"].into(), "xab", 0, Some((1, 1, 2))),
            (["ab", "a"].into(), "xab", 0, Some((0, 1, 3))),
            (["a"].into(), "aXa", 1, Some((0, 2, 3))),
            (["z"].into(), "abc", 0, None),
            (
                vec![Pattern::regex(r"\d+").unwrap()].into(),
                "ab123c",
                0,
                Some((0, 2, 5)),
            ),
            (
                vec![Pattern::regex("é.").unwrap()].into(),
                "aébc",
                0,
                Some((0, 1, 4)),
            ),
            (Patterns(vec![]), "abc", 0, None),
        ];
        for (ps, hay, from, want) in cases {
            assert_eq!(ps.find(hay.as_bytes(), from), want, "{ps} in {hay:?}");
        }
    }

    #[test]
    fn overlap_is_literal_length_minus_one_or_everything() {
        let lit: Patterns = ["abc", "de"].into();
        assert_eq!(lit.overlap(), Some(2));
        let re: Patterns = vec![Pattern::literal("abc"), Pattern::regex("x").unwrap()].into();
        assert_eq!(re.overlap(), None);
    }

    #[test]
    fn invalid_regex_is_named() {
        match Pattern::regex("a(") {
            Err(Error::InvalidPattern { pattern, source }) => {
                assert_eq!(pattern, "a(");
                assert!(!source.to_string().is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
}
