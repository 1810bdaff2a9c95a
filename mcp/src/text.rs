//! Output fit for a model: terminal control sequences removed (on the `vte`
//! escape-sequence parser), and big outputs cut to a head and a tail with an
//! explicit "N bytes elided" marker, on character boundaries.
//!
//! Kept in one module so it can later be swapped for a library version.

/// Removes control sequences from a terminal's output stream, chunk by
/// chunk: the parser's state carries over between chunks, so a sequence
/// split across two reads is still removed whole.
///
/// What is kept: printable text, `\n` and `\t`. A `\r\n` line end becomes
/// `\n`; a lone `\r` (a progress bar redrawing its line) drops what the
/// chunk wrote on that line before it, and a backspace removes the
/// character before it, so the text is what the line finally showed.
/// Colours, cursor movement, titles (OSC) and the like are dropped.
pub struct Cleaner {
    parser: vte::Parser,
    /// A `\r` was the last control seen: the next printable character
    /// starts the line afresh.
    cr: bool,
}

impl Default for Cleaner {
    fn default() -> Self {
        Cleaner {
            parser: vte::Parser::new(),
            cr: false,
        }
    }
}

impl Cleaner {
    /// The clean text of the next chunk of output.
    pub fn clean(&mut self, raw: &str) -> String {
        let mut out = Out {
            buf: String::with_capacity(raw.len()),
            line_start: 0,
            cr: self.cr,
        };
        self.parser.advance(&mut out, raw.as_bytes());
        self.cr = out.cr;
        out.buf
    }
}

/// [`Cleaner::clean`] of one complete text.
pub fn clean(raw: &str) -> String {
    Cleaner::default().clean(raw)
}

struct Out {
    buf: String,
    /// Where the current line starts in `buf` (a `\r` cannot erase text
    /// returned by an earlier chunk).
    line_start: usize,
    cr: bool,
}

impl Out {
    fn put(&mut self, c: char) {
        if self.cr {
            self.buf.truncate(self.line_start);
            self.cr = false;
        }
        self.buf.push(c);
    }
}

impl vte::Perform for Out {
    fn print(&mut self, c: char) {
        self.put(c);
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            b'\n' => {
                self.buf.push('\n');
                self.line_start = self.buf.len();
                self.cr = false;
            }
            b'\r' => self.cr = true,
            b'\t' => self.put('\t'),
            0x08 if self.buf.len() > self.line_start => {
                self.buf.pop();
            }
            _ => {}
        }
    }
}

/// `text` as it is if it fits in `max_bytes`; otherwise its head and tail
/// around a marker line saying how many bytes were left out, the whole at
/// most `max_bytes` long (for `max_bytes` of at least [`MIN_CUT_BYTES`]).
/// Returns the text and the number of bytes elided. Cuts fall on character
/// boundaries, so the result is always valid text.
pub fn head_tail(text: &str, max_bytes: usize) -> (String, usize) {
    if text.len() <= max_bytes {
        return (text.to_string(), 0);
    }
    // The marker's length depends on the count; the count's digits are at
    // most those of the whole length.
    let marker_len = marker(text.len()).len();
    let budget = max_bytes.saturating_sub(marker_len);
    let head_end = text.floor_char_boundary(budget / 2);
    let tail_start = text.ceil_char_boundary(text.len() - (budget - head_end));
    let elided = tail_start - head_end;
    let mut out = String::with_capacity(max_bytes);
    out.push_str(&text[..head_end]);
    out.push_str(&marker(elided));
    out.push_str(&text[tail_start..]);
    (out, elided)
}

/// Output collected while a command runs, held in bounded memory: past
/// [`HELD_HEAD`] + [`HELD_TAIL`] bytes (plus some slack) the middle is
/// dropped and counted, so a command printing without end (`yes`) cannot
/// fill the server's memory during a long wait.
#[derive(Debug, Default)]
pub struct Held {
    text: String,
    /// Where the dropped middle was, once something was dropped.
    cut: Option<usize>,
    elided: usize,
}

/// Bytes of a command's output [`Held`] keeps from its start.
pub const HELD_HEAD: usize = 2 << 20;
/// Bytes of a command's output [`Held`] keeps from its end.
pub const HELD_TAIL: usize = 2 << 20;

impl Held {
    /// Appends `s`, dropping from the middle what exceeds the bound.
    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        if self.text.len() <= HELD_HEAD + HELD_TAIL + (1 << 20) {
            return;
        }
        let head = *self
            .cut
            .get_or_insert_with(|| self.text.floor_char_boundary(HELD_HEAD));
        let end = self.text.ceil_char_boundary(self.text.len() - HELD_TAIL);
        if end > head {
            self.text.drain(head..end);
            self.elided += end - head;
        }
    }

    /// The text kept so far (without a marker where the middle went).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The text cut as [`head_tail`] cuts it, counting the middle already
    /// dropped: at most `max_bytes` long, one "N bytes elided" line, and N
    /// every byte left out. Returns the text and N.
    pub fn cut(self, max_bytes: usize) -> (String, usize) {
        let Some(at) = self.cut else {
            return head_tail(&self.text, max_bytes);
        };
        let (head, tail) = self.text.split_at(at);
        let whole = head.len() + self.elided + tail.len();
        if head.len() + marker(self.elided).len() + tail.len() <= max_bytes {
            return (format!("{head}{}{tail}", marker(self.elided)), self.elided);
        }
        let budget = max_bytes.saturating_sub(marker(whole).len());
        let h = head.floor_char_boundary((budget / 2).min(head.len()));
        let t = tail.ceil_char_boundary(tail.len().saturating_sub(budget - h));
        let elided = (head.len() - h) + self.elided + t;
        (format!("{}{}{}", &head[..h], marker(elided), &tail[t..]), elided)
    }
}

/// The smallest `max_output_bytes` the server accepts: room for the marker
/// and some text on either side.
pub const MIN_CUT_BYTES: usize = 256;

fn marker(elided: usize) -> String {
    format!("\n[... {elided} bytes elided ...]\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_colours_titles_and_cursor_moves() {
        assert_eq!(
            clean("\x1b[1;31mred\x1b[0m \x1b]0;title\x07plain\x1b[2K\r\n"),
            "red plain\n"
        );
    }

    #[test]
    fn keeps_tabs_and_resolves_carriage_returns_and_backspaces() {
        assert_eq!(clean("a\tb\r\n10%\r20%\r30%\ndone"), "a\tb\n30%\ndone");
        assert_eq!(clean("abx\x08c"), "abc");
    }

    #[test]
    fn a_sequence_split_across_chunks_is_removed_whole() {
        let mut c = Cleaner::default();
        let a = c.clean("one \x1b[3");
        let b = c.clean("1mtwo\r");
        let d = c.clean("\nthree");
        assert_eq!(format!("{a}{b}{d}"), "one two\nthree");
    }

    #[test]
    fn head_tail_keeps_both_ends_and_says_how_much_is_gone() {
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let (cut, elided) = head_tail(&text, 300);
        assert!(cut.len() <= 300, "{}", cut.len());
        assert!(cut.starts_with("line 0\nline 1\n"), "{cut}");
        assert!(cut.ends_with("line 999\n"), "{cut}");
        assert!(cut.contains(&format!("[... {elided} bytes elided ...]")), "{cut}");
        assert_eq!(cut.len() - marker(elided).len() + elided, text.len());
        assert_eq!(head_tail("short", 300), ("short".to_string(), 0));
    }

    #[test]
    fn held_output_stays_bounded_and_counts_what_it_dropped() {
        let mut h = Held::default();
        let line = "0123456789abcdé\n"; // 17 bytes, one of them two-byte
        let n = 1_000_000;
        for _ in 0..n {
            h.push(line);
        }
        assert!(h.as_str().len() <= HELD_HEAD + HELD_TAIL + (1 << 20) + line.len());
        for max in [300, 5000, 10 << 20] {
            let copy = Held {
                text: h.text.clone(),
                cut: h.cut,
                elided: h.elided,
            };
            let (text, elided) = copy.cut(max);
            assert!(text.len() <= max, "{max}");
            assert!(text.starts_with("0123456789") && text.ends_with(line), "{max}");
            let m = marker(elided);
            assert_eq!(text.matches("bytes elided").count(), 1, "{max}");
            assert!(text.contains(&m), "{max}");
            assert_eq!(
                text.len() - m.len() + elided,
                line.len() * n,
                "{max}: every byte accounted for"
            );
        }
        let mut small = Held::default();
        small.push("short");
        assert_eq!(small.cut(300), ("short".to_string(), 0));
    }

    #[test]
    fn head_tail_cuts_on_character_boundaries() {
        let text = "é".repeat(1000); // two bytes each
        for max in [256, 257, 300, 301, 999] {
            let (cut, elided) = head_tail(&text, max);
            assert!(cut.len() <= max, "{max}: {}", cut.len());
            assert_eq!(elided % 2, 0, "{max}");
            assert!(cut.starts_with('é') && cut.ends_with('é'), "{max}");
        }
    }
}
