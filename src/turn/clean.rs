//! Terminal text without its control sequences.
//!
//! The escape sequences are recognised by the [`vte`] crate's parser (the
//! state machine of Paul Williams' DEC ANSI parser, as used by Alacritty),
//! not by patterns written here: whatever a terminal would take as one
//! sequence is removed as one, however long it is and whichever byte ends
//! it.

use std::fmt;

use crate::engine::result::PollResult;

/// Removes terminal control sequences from `text`, keeping the printable
/// text, tabs and newlines.
///
/// Removed: CSI sequences (colours and other SGR attributes, cursor moves,
/// erases, modes such as bracketed paste `ESC[?2004h` / `ESC[?2004l`), OSC
/// strings (window titles, hyperlinks; ended by BEL or ST), DCS, SOS, PM
/// and APC strings, charset switches (`ESC ( B` ...) and every other
/// `ESC` sequence, C0 control characters other than `\t` and `\n`
/// (backspace, bell, `\r` ...), DEL, and C1 control characters
/// (U+0080–U+009F; their 8-bit sequence parameters are not parsed).
///
/// Line ends: `"\r\n"` (and the `"\r\r\n"` some programs produce) become
/// `"\n"`. A lone `"\r"`, which on a terminal returns the cursor to the
/// start of the line so that the text after it overwrites the text before
/// it (progress bars), is simply removed: both texts stay, joined. A
/// backspace is removed the same way, so `"ab\x08c"` gives `"abc"`.
///
/// This is the *byte stream's* text. Where a program paints the screen
/// with cursor movement (a progress bar redrawn in place, a line editor
/// re-rendering its input, a full-screen program), the stream is
/// misleading and the faithful text is the rendered screen:
/// [`Session::display`](crate::Session::display) and
/// [`Session::capture_range`](crate::Session::capture_range).
///
/// A sequence cut off at the end of `text` is dropped. To clean a stream
/// that arrives in pieces, where a sequence can be split between two
/// reads, use a [`TextCleaner`].
///
/// ```
/// // sqlite3's prompt in bracketed-paste switches, a coloured value, a
/// // window title and the terminal's line ends:
/// let raw = "\x1b[?2004hsqlite> \x1b[?2004l\r\x1b[1;32m42\x1b[0m\r\n\x1b]0;title\x07done\r\n";
/// assert_eq!(bgterm::clean_text(raw), "sqlite> 42\ndone\n");
/// // node's prompt, drawn with cursor moves:
/// assert_eq!(bgterm::clean_text("\r\n\x1b[1G\x1b[0J> \x1b[3G"), "\n> ");
/// // Text without control sequences is returned unchanged.
/// assert_eq!(bgterm::clean_text("tab\tand café\n"), "tab\tand café\n");
/// ```
#[must_use]
pub fn clean_text(text: &str) -> String {
    TextCleaner::new().push(text)
}

/// The incremental form of [`clean_text`]: feed a stream's text piece by
/// piece, and a control sequence split between two pieces is still removed
/// whole (the cleaner remembers the part it has seen).
///
/// Cleaning pieces gives exactly what cleaning their concatenation gives.
///
/// ```
/// use std::time::Duration;
/// use bgterm::{Session, TextCleaner};
///
/// let mut cleaner = TextCleaner::new();
/// // A colour sequence split between two reads:
/// assert_eq!(cleaner.push("red: \x1b[3"), "red: ");
/// assert_eq!(cleaner.push("1mALERT\x1b[0m\r\n"), "ALERT\n");
///
/// // Each read of a session, cleaned as it comes:
/// let s = Session::start("printf '\\033[1mbold\\033[0m plain\\n'")?;
/// s.wait(Some(Duration::from_secs(10)))?;
/// let mut cleaner = TextCleaner::new();
/// let mut text = String::new();
/// loop {
///     let out = s.read()?;
///     text += &cleaner.push(&out.text);
///     if out.remaining_bytes == 0 {
///         break;
///     }
/// }
/// assert_eq!(text, "bold plain\n");
/// # Ok::<(), bgterm::Error>(())
/// ```
#[derive(Default)]
pub struct TextCleaner {
    parser: vte::Parser,
}

impl TextCleaner {
    /// A cleaner at the start of a stream.
    #[must_use]
    pub fn new() -> TextCleaner {
        TextCleaner::default()
    }

    /// Cleans the next piece of the stream (see [`clean_text`] for what is
    /// removed). The unfinished end of a control sequence is kept inside
    /// the cleaner, and its rest is removed from the next piece.
    #[must_use]
    pub fn push(&mut self, text: &str) -> String {
        let mut out = Keep(String::with_capacity(text.len()));
        self.parser.advance(&mut out, text.as_bytes());
        out.0
    }
}

impl fmt::Debug for TextCleaner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextCleaner").finish_non_exhaustive()
    }
}

/// Collects what the parser reports as text; every control action is
/// dropped.
struct Keep(String);

impl vte::Perform for Keep {
    fn print(&mut self, c: char) {
        // DEL reaches `print`; C0 and C1 controls reach `execute`.
        if !c.is_control() {
            self.0.push(c);
        }
    }

    fn execute(&mut self, byte: u8) {
        if matches!(byte, b'\n' | b'\t') {
            self.0.push(byte as char);
        }
    }
}

impl PollResult {
    /// This read's [`text`](Self::text) without terminal control sequences
    /// (see [`clean_text`]).
    ///
    /// Each result is cleaned on its own: a sequence split between this
    /// read and the next would leave its second half in the next result's
    /// text. To clean a stream of reads, push each one's `text` through
    /// one [`TextCleaner`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use bgterm::Session;
    ///
    /// let s = Session::start("printf '\\033[31merror\\033[0m\\r\\n'")?;
    /// s.wait(Some(Duration::from_secs(10)))?;
    /// let out = s.read()?;
    /// assert_eq!(out.text, "\x1b[31merror\x1b[0m\r\r\n"); // ONLCR adds a \r
    /// assert_eq!(out.clean_text(), "error\n");
    /// # Ok::<(), bgterm::Error>(())
    /// ```
    #[must_use]
    pub fn clean_text(&self) -> String {
        clean_text(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        // Table: raw, cleaned
        let cases = [
            ("", ""),
            ("plain", "plain"),
            ("a\r\nb\r\n", "a\nb\n"),
            ("a\r\r\nb", "a\nb"),
            ("10%\r20%\r100%\n", "10%20%100%\n"),
            ("ab\x08c", "abc"),
            ("bell\x07!", "bell!"),
            ("\x1b[1;31mred\x1b[0m", "red"),
            ("\x1b[38;2;255;0;0mrgb\x1b[m", "rgb"),
            ("\x1b[?2004h$ \x1b[?2004l\r", "$ "),
            ("\x1b[200~pasted\x1b[201~", "pasted"),
            ("\x1b]0;window title\x07text", "text"),
            ("\x1b]8;;http://x.y\x1b\\link\x1b]8;;\x1b\\", "link"),
            ("\x1bP1$r0m\x1b\\after", "after"),
            ("\x1b_apc payload\x1b\\x", "x"),
            ("\x1b^pm payload\x1b\\x", "x"),
            ("\x1bXsos payload\x1b\\x", "x"),
            ("\x1b(Bascii\x1b(0q\x1b(B", "asciiq"),
            ("\x1b7saved\x1b8", "saved"),
            ("\x1b=keypad\x1b>", "keypad"),
            ("\x1bc", ""),
            ("\x1b[2J\x1b[H\x1b[Ktop", "top"),
            ("\r\n\x1b[1G\x1b[0J> \x1b[3G", "\n> "),
            ("tab\there", "tab\there"),
            ("del\x7f", "del"),
            ("c1\u{9b}", "c1"),
            ("nul\0x", "nulx"),
            ("unicode é 日本 🎉", "unicode é 日本 🎉"),
            // Cut off at the end: dropped.
            ("text\x1b[3", "text"),
            ("text\x1b]0;unterminated", "text"),
            ("text\x1b", "text"),
        ];
        for (raw, want) in cases {
            assert_eq!(clean_text(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn split_sequences_are_removed_whole() {
        let mut c = TextCleaner::new();
        assert_eq!(c.push("a\x1b"), "a");
        assert_eq!(c.push("[1"), "");
        assert_eq!(c.push(";31mb\x1b]0;ti"), "b");
        assert_eq!(c.push("tle\x07c\r"), "c");
        assert_eq!(c.push("\n"), "\n");
    }

    #[test]
    fn poll_result_form() {
        let r = PollResult {
            text: "\x1b[32mok\x1b[0m\r\n".into(),
            ..PollResult::default()
        };
        assert_eq!(r.clean_text(), "ok\n");
    }

    /// Text mixing printable characters, controls and pieces of escape
    /// sequences, so that random strings hit every parser state.
    fn terminalish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            any::<char>().prop_map(String::from),
            "[a-z0-9;?:]{0,4}",
            Just("\x1b".to_string()),
            Just("\x1b[".to_string()),
            Just("\x1b]".to_string()),
            Just("\x1bP".to_string()),
            Just("\x1b_".to_string()),
            Just("\x1b(".to_string()),
            Just("\x07".to_string()),
            Just("\x1b\\".to_string()),
            Just("\r".to_string()),
            Just("\n".to_string()),
            Just("\u{9c}".to_string()),
            (0u8..0x20).prop_map(|b| (b as char).to_string()),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    /// Text with no ESC and no control character but tab and newline.
    fn plain() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                any::<char>().prop_filter("no controls", |c| !c.is_control()),
                Just('\t'),
                Just('\n'),
            ],
            0..80,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn never_leaves_an_escape_or_a_control(s in terminalish()) {
            let out = clean_text(&s);
            prop_assert!(!out.contains('\x1b'), "{:?} -> {:?}", s, out);
            prop_assert!(
                out.chars().all(|c| !c.is_control() || c == '\t' || c == '\n'),
                "{:?} -> {:?}", s, out
            );
        }

        #[test]
        fn plain_text_is_unchanged(s in plain()) {
            prop_assert_eq!(clean_text(&s), s);
        }

        #[test]
        fn idempotent(s in terminalish()) {
            let once = clean_text(&s);
            prop_assert_eq!(clean_text(&once), once.clone());
        }

        #[test]
        fn pieces_clean_like_the_whole(s in terminalish(), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..5)) {
            // Cut at character boundaries (a &str cannot be cut elsewhere).
            let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
            let mut at: Vec<usize> = cuts.iter().map(|i| bounds[i.index(bounds.len())]).collect();
            at.sort_unstable();
            let mut c = TextCleaner::new();
            let (mut out, mut prev) = (String::new(), 0);
            for i in at.into_iter().chain([s.len()]) {
                out += &c.push(&s[prev..i]);
                prev = i;
            }
            prop_assert_eq!(out, clean_text(&s));
        }
    }
}
