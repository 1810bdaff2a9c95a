//! Presenting output to a model: big outputs cut to a head and a tail
//! around an explicit "N bytes elided" marker (on character boundaries),
//! and line ranges of a kept output. Cleaning is the library's
//! ([`bgterm::clean_text`], [`bgterm::TextCleaner`]).

/// The smallest `max_output_bytes` the server accepts: room for the marker
/// and some text on either side.
pub const MIN_CUT_BYTES: usize = 256;

/// A text cut for the model.
#[derive(Debug, PartialEq, Eq)]
pub struct Cut {
    /// The text, or its head and tail around the marker line.
    pub text: String,
    /// Bytes of the input left out (0: `text` is the input).
    pub elided: usize,
    /// Where the left-out part was in the input: `[start, end)` in bytes.
    pub gap: Option<(usize, usize)>,
}

/// `text` as it is if it fits in `max_bytes`; otherwise its head and tail
/// around a marker line saying how many bytes were left out, the whole at
/// most `max_bytes` long (for `max_bytes` of at least [`MIN_CUT_BYTES`]).
/// Cuts fall on character boundaries, so the result is always valid text.
pub fn head_tail(text: &str, max_bytes: usize) -> Cut {
    if text.len() <= max_bytes {
        return Cut {
            text: text.to_string(),
            elided: 0,
            gap: None,
        };
    }
    // The marker's length depends on the count; the count's digits are at
    // most those of the whole length.
    let marker_len = marker(text.len()).len();
    let budget = max_bytes.saturating_sub(marker_len);
    // At line ends where there are some (a cut line looks like a line of
    // its own), else at characters.
    let head_end = text.floor_char_boundary(budget / 2);
    let head_end = text[..head_end].rfind('\n').map_or(head_end, |i| i + 1);
    let tail_start = text.ceil_char_boundary(text.len() - (budget - head_end));
    let tail_start = match text[tail_start..].find('\n') {
        Some(i)
            if tail_start > 0
                && text.as_bytes()[tail_start - 1] != b'\n'
                && tail_start + i + 1 < text.len() =>
        {
            tail_start + i + 1
        }
        _ => tail_start,
    };
    let elided = tail_start - head_end;
    let mut out = String::with_capacity(max_bytes);
    out.push_str(&text[..head_end]);
    out.push_str(&marker(elided));
    out.push_str(&text[tail_start..]);
    Cut {
        text: out,
        elided,
        gap: Some((head_end, tail_start)),
    }
}

/// The marker line that stands for `elided` bytes.
pub fn marker(elided: usize) -> String {
    format!("\n[... {elided} bytes elided ...]\n")
}

/// Number of lines of `text` (a last line without a newline counts).
pub fn line_count(text: &str) -> usize {
    text.split_inclusive('\n').count()
}

/// The 1-based number of the line holding byte `at` of `text`.
pub fn line_at(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The longest run of whole lines at the start of `text` within
/// `max_bytes` (at least its first line, however long).
pub fn whole_lines_within(text: &str, max_bytes: usize) -> &str {
    let mut end = 0;
    for line in text.split_inclusive('\n') {
        if end > 0 && end + line.len() > max_bytes {
            break;
        }
        end += line.len();
    }
    &text[..end]
}

/// Lines `from..from + count` of `text` (1-based), joined as they were.
pub fn lines(text: &str, from: usize, count: usize) -> String {
    text.split_inclusive('\n')
        .skip(from.saturating_sub(1))
        .take(count)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_tail_cuts_at_line_ends_where_there_are_some() {
        let text: String = (1..=1000).map(|i| format!("{i}\n")).collect();
        let cut = head_tail(&text, 300);
        let (a, b) = cut.gap.unwrap();
        assert!(
            text[..a].ends_with('\n') && text[..b].ends_with('\n'),
            "{:?}",
            cut.text
        );
        assert!(cut.text.len() <= 300);
        assert_eq!(cut.elided, b - a);
    }

    #[test]
    fn whole_lines_within_keeps_whole_lines() {
        assert_eq!(whole_lines_within("ab\ncd\nef\n", 6), "ab\ncd\n");
        assert_eq!(whole_lines_within("abcdef\ng\n", 3), "abcdef\n");
        assert_eq!(whole_lines_within("", 3), "");
    }

    #[test]
    fn head_tail_keeps_both_ends_and_says_how_much_is_gone() {
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let cut = head_tail(&text, 300);
        let (c, elided) = (&cut.text, cut.elided);
        assert!(c.len() <= 300, "{}", c.len());
        assert!(c.starts_with("line 0\nline 1\n"), "{c}");
        assert!(c.ends_with("line 999\n"), "{c}");
        assert!(c.contains(&format!("[... {elided} bytes elided ...]")), "{c}");
        assert_eq!(c.len() - marker(elided).len() + elided, text.len());
        let (a, b) = cut.gap.unwrap();
        assert_eq!(b - a, elided);
        assert_eq!(head_tail("short", 300).text, "short");
        assert_eq!(head_tail("short", 300).elided, 0);
    }

    #[test]
    fn head_tail_cuts_on_character_boundaries() {
        let text = "é".repeat(1000); // two bytes each
        for max in [256, 257, 300, 301, 999] {
            let cut = head_tail(&text, max);
            assert!(cut.text.len() <= max, "{max}: {}", cut.text.len());
            assert_eq!(cut.elided % 2, 0, "{max}");
            assert!(cut.text.starts_with('é') && cut.text.ends_with('é'), "{max}");
        }
    }

    #[test]
    fn lines_are_numbered_from_one() {
        let t = "a\nb\nc";
        assert_eq!(line_count(t), 3);
        assert_eq!(line_count("a\n"), 1);
        assert_eq!(line_count(""), 0);
        assert_eq!((line_at(t, 0), line_at(t, 2), line_at(t, 5)), (1, 2, 3));
        assert_eq!(lines(t, 2, 5), "b\nc");
        assert_eq!(lines(t, 1, 1), "a\n");
        assert_eq!(lines(t, 9, 1), "");
    }
}
