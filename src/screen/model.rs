//! The parsed terminal: avt behind every view, fed from the output the
//! screen's tap set aside (see [`crate::screen`] for when and why).

use std::collections::VecDeque;

use parking_lot::Mutex;

use crate::engine::decode::{DecodeErrors, TextDecoder};
use crate::limits::DEFAULT_VIEW_LINES;

/// Output not parsed yet, appended by the tap.
pub(crate) struct Pending {
    pub(crate) bytes: VecDeque<u8>,
    /// Absolute output offset of `bytes[0]`.
    pub(crate) start: u64,
    /// Resizes not applied yet: (offset in the stream, rows, cols).
    pub(crate) resizes: VecDeque<(u64, u16, u16)>,
    /// Most bytes held.
    pub(crate) cap: usize,
}

impl Pending {
    pub(crate) fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    /// Appends output, skipping the oldest pending bytes past the cap.
    pub(crate) fn push(&mut self, mut data: &[u8]) {
        if data.len() > self.cap {
            let cut = data.len() - self.cap;
            self.skip(self.bytes.len());
            self.start += cut as u64;
            data = &data[cut..];
        }
        let over = (self.bytes.len() + data.len()).saturating_sub(self.cap);
        self.skip(over);
        self.bytes.extend(data);
    }

    fn skip(&mut self, n: usize) {
        self.bytes.drain(..n);
        self.start += n as u64;
    }
}

/// Counts history lines the scrollback limit evicts.
#[derive(Default)]
struct Evictions(u64);

impl avt::Observer for Evictions {
    type Output = ();

    fn evicted(&mut self, _: &mut avt::Observation<'_>, _: &avt::Line) {
        self.0 += 1;
    }

    fn end(&mut self, _: &mut avt::Observation<'_>) {}
}

/// Where the session's viewport is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Viewport {
    /// The latest `lines` lines, ending at the cursor line.
    Latest { lines: usize },
    /// Pinned to a line, counted from the first line ever (evicted
    /// included), so it stays on the same text as history is evicted.
    Pinned { first: u64, lines: usize },
}

/// The parsed terminal.
pub(crate) struct Model {
    term: avt::Terminal,
    decoder: TextDecoder,
    /// Output offset up to which everything has been parsed (or skipped).
    parsed_to: u64,
    evictions: Evictions,
    /// Output bytes never parsed because of gaps.
    pub(crate) unrendered: u64,
    pub(crate) viewport: Viewport,
}

impl Model {
    pub(crate) fn new(
        rows: u16,
        cols: u16,
        scrollback: usize,
        encoding: &'static encoding_rs::Encoding,
    ) -> Model {
        let term = avt::Terminal::with_scrollback(
            usize::from(cols.max(1)),
            usize::from(rows.max(1)),
            Some(scrollback),
        )
        .unwrap_or_else(|_| unreachable!("both dimensions are at least 1"));
        Model {
            term,
            decoder: TextDecoder::new(encoding, DecodeErrors::Replace),
            parsed_to: 0,
            evictions: Evictions::default(),
            unrendered: 0,
            viewport: Viewport::Latest {
                lines: DEFAULT_VIEW_LINES,
            },
        }
    }

    /// Parses pending output up to `until` (absolute offset; `None`: all of
    /// it), applying resizes at their place in the stream.
    pub(crate) fn catch_up(&mut self, pending: &Mutex<Pending>, until: Option<u64>) {
        // Take what is due under the pending lock, parse outside it.
        let (start, bytes, resizes) = {
            let mut f = pending.lock();
            let limit = until.map_or(f.end(), |u| u.clamp(f.start, f.end()));
            let n = (limit - f.start) as usize;
            let start = f.start;
            let bytes: Vec<u8> = if n == f.bytes.len() {
                Vec::from(std::mem::take(&mut f.bytes))
            } else {
                let taken = f.bytes.range(..n).copied().collect();
                f.bytes.drain(..n);
                taken
            };
            f.start = limit;
            let mut resizes = Vec::new();
            while let Some(&(at, rows, cols)) = f.resizes.front() {
                if at > limit {
                    break;
                }
                resizes.push((at, rows, cols));
                f.resizes.pop_front();
            }
            (start, bytes, resizes)
        };
        // The pending output skipped bytes (it overflowed, or the ring had dropped
        // them before the screen was activated).
        if start > self.parsed_to {
            self.unrendered += start - self.parsed_to;
            self.gap();
        }
        let mut done = 0usize;
        for (at, rows, cols) in resizes {
            let upto = (at.saturating_sub(start) as usize).min(bytes.len());
            if upto > done {
                self.feed(&bytes[done..upto]);
                done = upto;
            }
            self.term
                .resize_with(usize::from(cols), usize::from(rows), &mut self.evictions);
        }
        self.feed(&bytes[done..]);
        self.parsed_to = start + bytes.len() as u64;
    }

    fn feed(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        // Replace mode never fails.
        let text = self.decoder.decode(bytes).unwrap_or_else(|bad| bad.text);
        self.term.feed_with(text.as_str(), &mut self.evictions);
    }

    /// Resynchronises after skipped output (see the module docs).
    fn gap(&mut self) {
        let _ = self.decoder.break_stream();
        self.term.feed_with("\x18", &mut self.evictions);
        if self.term.cursor().col != 0 {
            self.term.feed_with("\r\n", &mut self.evictions);
        }
    }

    /// The cursor on the active screen, 0-based (row, col), clamped to the
    /// screen (a cursor past the last column, waiting to wrap, reports the
    /// last column as a terminal does).
    pub(crate) fn cursor(&self) -> (usize, usize) {
        let c = self.term.cursor();
        let (cols, _) = self.term.size();
        (c.row, c.col.min(cols.saturating_sub(1)))
    }

    /// Screen size as (rows, cols).
    pub(crate) fn size(&self) -> (usize, usize) {
        let (cols, rows) = self.term.size();
        (rows, cols)
    }

    pub(crate) fn alternate(&self) -> bool {
        self.term.active_screen_kind() == avt::ScreenKind::Alternate
    }

    pub(crate) fn application_cursor(&self) -> bool {
        self.term.cursor_key_app_mode()
    }

    /// History lines evicted over the session's life.
    pub(crate) fn evicted(&self) -> u64 {
        self.evictions.0
    }

    /// Lines of history above the screen.
    pub(crate) fn history(&self) -> usize {
        let (_, rows) = self.term.size();
        self.term
            .primary_screen()
            .all_lines()
            .count()
            .saturating_sub(rows)
    }

    /// The cursor's absolute line.
    pub(crate) fn cursor_line(&self) -> usize {
        self.history() + self.term.cursor().row
    }

    /// Lines in the transcript: on the primary screen, up to the cursor
    /// line or the last non-blank row below it (a program that moved the
    /// cursor up, or paints the screen without the alternate buffer, as
    /// `top` does), never blank rows; on the alternate screen, the whole
    /// screen, which a full-screen program owns.
    pub(crate) fn line_count(&self) -> usize {
        let (_, rows) = self.term.size();
        if self.alternate() {
            return self.history() + rows;
        }
        let cursor_row = self.term.cursor().row;
        let last_used = self
            .term
            .screen()
            .visible_lines()
            .enumerate()
            .skip(cursor_row + 1)
            .filter(|(_, line)| line.chars().any(|c| c != ' '))
            .map(|(row, _)| row)
            .last()
            .unwrap_or(cursor_row);
        self.history() + last_used + 1
    }

    /// The text of transcript lines `start..end` (clamped to the retained
    /// lines), trailing blanks removed.
    pub(crate) fn lines(&self, start: usize, end: usize) -> Vec<String> {
        self.render(start, end, Render::default())
    }

    /// Transcript lines `start..end` (clamped), rendered as asked: plain or
    /// with SGR sequences for colours and attributes, and with soft-wrapped
    /// rows joined into the line they continue (then fewer lines come back
    /// than rows were asked for; a line that continues past `end` is cut
    /// there).
    pub(crate) fn render(&self, start: usize, end: usize, how: Render) -> Vec<String> {
        let history = self.history();
        let past = self.term.primary_screen().all_lines().take(history);
        let visible = self.term.screen().visible_lines();
        let mut out: Vec<String> = Vec::new();
        let mut continues = false;
        for line in past.chain(visible).skip(start).take(end.saturating_sub(start)) {
            let wrapped = how.join && line.is_wrapped();
            // A row that wraps is full to the edge: its trailing blanks are
            // text the next row continues.
            let text = if how.styled {
                styled(line, !wrapped)
            } else {
                let mut text = line.text();
                if !wrapped {
                    text.truncate(text.trim_end().len());
                }
                text
            };
            match out.last_mut() {
                Some(last) if continues => last.push_str(&text),
                _ => out.push(text),
            }
            continues = wrapped;
        }
        out
    }
}

/// How [`Model::render`] renders lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Render {
    /// Join soft-wrapped rows into one line (as tmux's `capture-pane -J`).
    pub(crate) join: bool,
    /// Keep colours and attributes as SGR sequences (as `capture-pane -e`).
    pub(crate) styled: bool,
}

/// One row with SGR sequences: each run of cells with one pen is preceded
/// by that pen's full SGR (from a reset), and a styled row ends with a
/// reset. Trailing blanks in the default pen are trimmed when `trim`.
fn styled(line: &avt::Line, trim: bool) -> String {
    let mut runs: Vec<(avt::Pen, String)> = Vec::new();
    for cells in line.chunks(|a, b| a.pen() != b.pen()) {
        let pen = *cells[0].pen();
        let text: String = cells.iter().map(avt::Cell::char).collect();
        runs.push((pen, text));
    }
    if trim {
        while let Some((pen, text)) = runs.last_mut() {
            if !pen.is_default() {
                break;
            }
            text.truncate(text.trim_end().len());
            if !text.is_empty() {
                break;
            }
            runs.pop();
        }
    }
    let mut out = String::new();
    let mut styled = false;
    for (pen, text) in runs {
        if pen.is_default() {
            if styled {
                out.push_str("\x1b[0m");
                styled = false;
            }
        } else {
            out.push_str(&sgr(&pen));
            styled = true;
        }
        out.push_str(&text);
    }
    if styled {
        out.push_str("\x1b[0m");
    }
    out
}

/// The SGR sequence that sets exactly `pen` (starting from a reset).
fn sgr(pen: &avt::Pen) -> String {
    let mut codes: Vec<String> = vec!["0".into()];
    for (on, code) in [
        (pen.is_bold(), "1"),
        (pen.is_faint(), "2"),
        (pen.is_italic(), "3"),
        (pen.is_underline(), "4"),
        (pen.is_blink(), "5"),
        (pen.is_inverse(), "7"),
        (pen.is_strikethrough(), "9"),
    ] {
        if on {
            codes.push(code.into());
        }
    }
    for (color, base, bright, extended) in [(pen.foreground(), 30, 90, 38), (pen.background(), 40, 100, 48)] {
        match color {
            Some(avt::Color::Indexed(n)) if n < 8 => codes.push((base + u16::from(n)).to_string()),
            Some(avt::Color::Indexed(n)) if n < 16 => codes.push((bright + u16::from(n) - 8).to_string()),
            Some(avt::Color::Indexed(n)) => codes.push(format!("{extended};5;{n}")),
            Some(avt::Color::RGB(c)) => codes.push(format!("{extended};2;{};{};{}", c.r, c.g, c.b)),
            None => {}
        }
    }
    format!("\x1b[{}m", codes.join(";"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::query::Query;

    fn model(rows: u16, cols: u16, scrollback: usize) -> (Mutex<Pending>, Model) {
        let pending = Pending {
            bytes: VecDeque::new(),
            start: 0,
            resizes: VecDeque::new(),
            cap: 1 << 20,
        };
        (
            Mutex::new(pending),
            Model::new(rows, cols, scrollback, encoding_rs::UTF_8),
        )
    }

    fn feed(f: &Mutex<Pending>, m: &mut Model, bytes: &[u8]) {
        f.lock().push(bytes);
        m.catch_up(f, None);
    }

    #[test]
    fn lines_end_at_the_cursor_and_history_is_numbered_from_the_top() {
        let (f, mut m) = model(5, 20, 100);
        feed(&f, &mut m, b"a\r\nb\r\n$ ");
        assert_eq!((m.cursor_line(), m.line_count()), (2, 3));
        assert_eq!(m.lines(0, 3), ["a", "b", "$"]);
        let many: String = (0..20).map(|i| format!("line {i}\r\n")).collect();
        feed(&f, &mut m, many.as_bytes());
        assert_eq!(m.history(), 18);
        assert_eq!(m.line_count(), 23);
        assert_eq!(m.lines(0, 2), ["a", "b"]);
        assert_eq!(m.lines(21, 23), ["line 19", ""]);
        assert_eq!(m.lines(21, 1000).len(), 2, "clamped to what exists");
    }

    #[test]
    fn text_below_the_cursor_is_part_of_the_transcript_blank_rows_are_not() {
        let (f, mut m) = model(10, 20, 100);
        // Like `top`: paint rows 0 and 5, park the cursor on row 2.
        feed(&f, &mut m, b"\x1b[Hheader\x1b[6;1Hrow five\x1b[3;1H");
        assert_eq!((m.cursor_line(), m.line_count()), (2, 6));
        assert_eq!(m.lines(0, m.line_count()), ["header", "", "", "", "", "row five"]);
        // Erased again: back to ending at the cursor.
        feed(&f, &mut m, b"\x1b[J");
        assert_eq!(m.line_count(), 3);
    }

    #[test]
    fn wrapped_rows_join_and_styles_come_back_as_sgr() {
        let (f, mut m) = model(5, 10, 100);
        feed(
            &f,
            &mut m,
            b"0123456789abcdef\r\n\x1b[1;31mred\x1b[0m plain \x1b[38;5;200mx\x1b[48;2;1;2;3my\x1b[0m\r\n",
        );
        // "red plain " fills the 10 columns, so "xy" wraps onto a row of its own.
        assert_eq!(m.lines(0, 4), ["0123456789", "abcdef", "red plain", "xy"]);
        let joined = m.render(
            0,
            4,
            Render {
                join: true,
                styled: false,
            },
        );
        assert_eq!(joined, ["0123456789abcdef", "red plain xy"]);
        let styled = m.render(
            2,
            4,
            Render {
                join: false,
                styled: true,
            },
        );
        assert_eq!(
            styled,
            [
                "\x1b[0;1;31mred\x1b[0m plain",
                "\x1b[0;38;5;200mx\x1b[0;38;5;200;48;2;1;2;3my\x1b[0m"
            ]
        );
        let both = m.render(
            2,
            4,
            Render {
                join: true,
                styled: true,
            },
        );
        assert_eq!(
            both,
            ["\x1b[0;1;31mred\x1b[0m plain \x1b[0;38;5;200mx\x1b[0;38;5;200;48;2;1;2;3my\x1b[0m"]
        );
    }

    #[test]
    fn eviction_is_counted() {
        let (f, mut m) = model(3, 10, 5);
        let many: String = (0..20).map(|i| format!("{i}\r\n")).collect();
        feed(&f, &mut m, many.as_bytes());
        assert_eq!(m.history(), 5);
        assert_eq!(m.evicted(), 13);
        assert_eq!(m.lines(0, 1), ["13"]);
    }

    #[test]
    fn a_split_utf8_character_is_whole() {
        let (f, mut m) = model(3, 10, 5);
        feed(&f, &mut m, "h\u{e9}".as_bytes().split_at(2).0);
        feed(&f, &mut m, "h\u{e9}".as_bytes().split_at(2).1);
        assert_eq!(m.lines(0, 1), ["h\u{e9}"]);
    }

    #[test]
    fn resizes_apply_at_their_place_in_the_stream() {
        let (f, mut m) = model(5, 20, 100);
        f.lock().push(b"0123456789");
        f.lock().resizes.push_back((10, 5, 5));
        f.lock().push(b"\r\nabcdefgh");
        m.catch_up(&f, None);
        assert_eq!(m.size(), (5, 5));
        // Written before the resize: reflowed; after: wrapped at 5.
        assert_eq!(m.lines(0, m.line_count()), ["01234", "56789", "abcde", "fgh"]);
    }

    #[test]
    fn overflow_skips_the_oldest_and_resyncs_on_a_fresh_line() {
        let (f, mut m) = model(5, 40, 100);
        f.lock().cap = 8;
        feed(&f, &mut m, b"before");
        f.lock().push(b"\x1b[31mxxxxxxxx");
        f.lock().push(b"tail");
        m.catch_up(&f, None);
        assert_eq!(m.unrendered, 9);
        assert_eq!(m.lines(0, m.line_count()), ["before", "xxxxtail"]);
    }

    #[test]
    fn catching_up_part_way_leaves_the_rest_pending() {
        let (f, mut m) = model(5, 40, 100);
        f.lock().push(b"ab\x1b[6ncd");
        m.catch_up(&f, Some(6));
        assert_eq!(m.cursor(), (0, 2));
        m.catch_up(&f, None);
        assert_eq!(m.cursor(), (0, 4));
        assert_eq!(m.unrendered, 0);
    }

    #[test]
    fn queries_answer_with_the_cursor_at_the_query() {
        let q = Query::CursorPosition { dec: false };
        let (f, mut m) = model(5, 40, 100);
        feed(&f, &mut m, b"\r\n\r\nabc");
        let (row, col) = m.cursor();
        assert_eq!(q.reply(row, col), "\x1b[3;4R");
    }
}
