//! The terminal screen model: what a person would see, and the scrollback
//! as numbered lines, parsed lazily off the hot path.
//!
//! # Which emulator, and why avt
//!
//! Two well-kept Rust terminal emulators fit: `vt100` and `avt` (the
//! asciinema terminal). Measured here (release build, 2 shared cores) on
//! 50 MiB fed in 4 KiB chunks, 80x24, 10 000 lines of scrollback:
//!
//! | input | vt100 0.18 | avt 0.19 |
//! |---|---|---|
//! | plain text lines | 30 MB/s | 32–36 MB/s |
//! | escape-heavy (SGR colours, cursor moves, erase) | 55 MB/s | 47 MB/s |
//!
//! Speed is a wash, so correctness and fit decided. avt gives the retained
//! scrollback directly as lines (`all_lines`), which is exactly the
//! absolute line numbering this crate exposes, where vt100 only shows
//! scrollback through a movable window of screen height; avt reflows the
//! primary screen on resize as xterm, tmux and modern terminals do, where
//! vt100 truncates rows; avt reports evicted history lines, so a pinned
//! viewport stays on the same text while old lines fall off; and avt takes
//! text, so the screen decodes the output in the session's own encoding
//! (vt100 assumes UTF-8). What avt lacks — answering terminal queries — is
//! done here anyway (see [`crate::screen::query`]), because the answer must be
//! produced on the pump thread without parsing everything there.
//!
//! # Keeping the parse off the hot path
//!
//! A parser runs at about 40% of the speed a PTY delivers output, so it
//! must not run on the pump thread for every byte. The screen's tap (called
//! by the pump, under the state lock) only *appends* each output chunk to a
//! bounded pending buffer and scans it for queries with `memchr`; resizes
//! are recorded at their offset in the stream. The parse runs on the
//! caller's thread when a view is asked for (`display`, `capture_range`,
//! `info`, `search`, `send_keys`, ...), under the screen's own lock, not
//! the session's state lock, so the pump keeps pumping meanwhile.
//!
//! Lock order: state → model → feed. The tap takes the feed lock (and, only
//! when a query arrived, the model lock); callers take the state lock
//! briefly, release it, then model → feed. Nobody takes the state lock
//! while holding the model lock.
//!
//! # Queries
//!
//! When a chunk contains a cursor-position, status or device-attributes
//! query, the tap catches the parse up to the end of that query (so the
//! reported cursor is where the program's cursor was at that moment) and
//! leaves the answer for the pump to queue as input, right after the
//! chunk. Only queries that arrive while the screen is active are
//! answered; old ones found when it is activated are not (the program has
//! most likely stopped waiting, and a late answer would be typed into
//! whatever reads next).
//!
//! # Gaps
//!
//! The pending buffer holds at most as many bytes as the session's ring
//! (`max_buffer_bytes`, but at least [`MIN_SCREEN_BACKLOG`]). When output
//! outruns the views, the oldest pending bytes are skipped and counted
//! (`SessionInfo::unrendered_bytes`); the same happens when the screen is
//! activated after the ring has already dropped output. At a gap the parse
//! aborts any escape sequence in progress (CAN), starts a fresh line if the
//! cursor is not at the start of one, and carries on with the retained
//! bytes on top of the screen as it was: earlier lines stay in the history,
//! the skipped output is simply absent, and the first line after the gap
//! may begin mid-line. Full-screen programs repaint, so their screen is
//! right again after their next redraw. A session whose screen is active
//! from the start (`SessionBuilder::screen(true)`) and viewed at least once
//! per `max_buffer_bytes` of output never has a gap, whatever the ring
//! drops: the tap sees every byte.

pub(crate) mod keys;
pub(crate) mod query;
pub(crate) mod search;
pub(crate) mod view;

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::engine::decode::{DecodeErrors, TextDecoder};
use crate::engine::state::State;
use crate::engine::tap::{Event, Tap};
use crate::screen::query::QueryScanner;

/// Default for [`SessionBuilder::scrollback_lines`](crate::SessionBuilder::scrollback_lines):
/// lines of history kept above the screen, as tmux's default
/// `history-limit`.
pub const DEFAULT_SCROLLBACK_LINES: usize = 2000;

/// Most lines of scrollback a session may keep.
pub const MAX_SCROLLBACK_LINES: usize = 1_000_000;

/// Least output the screen holds unparsed before it skips the oldest (see
/// the gap rules on [`Session::display`](crate::Session::display)): it must
/// exceed one read of the pump, so a query is never skipped before it is
/// answered.
pub const MIN_SCREEN_BACKLOG: usize = 64 * 1024;

/// The screen slot in a session's state: off until activated.
#[derive(Debug)]
pub(crate) struct Slot {
    scrollback_lines: usize,
    core: Option<Arc<ScreenCore>>,
}

impl Slot {
    pub(crate) fn new(scrollback_lines: usize) -> Slot {
        Slot {
            scrollback_lines,
            core: None,
        }
    }
}

/// Activates the screen if it is not yet (attaching its tap, and catching
/// up from what the ring retains) and returns it. Call with the state lock
/// held, so no output slips between the ring snapshot and the tap.
pub(crate) fn activate(st: &mut State) -> Arc<ScreenCore> {
    if let Some(core) = &st.screen.core {
        return Arc::clone(core);
    }
    let (rows, cols) = st.size;
    let end = st.ring.end();
    let retained = st.ring.copy_range(0, end);
    let start = end - retained.len() as u64;
    let cap = st.ring.capacity().max(MIN_SCREEN_BACKLOG);
    let feed = Feed {
        bytes: retained.into(),
        start,
        resizes: VecDeque::new(),
        cap,
    };
    let model = Model::new(rows, cols, st.screen.scrollback_lines, st.decoder.encoding());
    let core = Arc::new(ScreenCore {
        feed: Mutex::new(feed),
        model: Mutex::new(model),
    });
    st.taps.add(Box::new(ScreenTap {
        core: Arc::clone(&core),
        scanner: QueryScanner::default(),
        reply: String::new(),
    }));
    st.screen.core = Some(Arc::clone(&core));
    core
}

/// One session's screen: the pending output and the parsed model.
pub(crate) struct ScreenCore {
    feed: Mutex<Feed>,
    model: Mutex<Model>,
}

impl std::fmt::Debug for ScreenCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScreenCore")
    }
}

impl ScreenCore {
    /// Locks the model and brings it up to date with all pending output.
    pub(crate) fn sync(&self) -> parking_lot::MutexGuard<'_, Model> {
        let mut model = self.model.lock();
        model.catch_up(&self.feed, None);
        model
    }
}

/// Output not parsed yet, appended by the tap.
struct Feed {
    bytes: VecDeque<u8>,
    /// Absolute output offset of `bytes[0]`.
    start: u64,
    /// Resizes not applied yet: (offset in the stream, rows, cols).
    resizes: VecDeque<(u64, u16, u16)>,
    /// Most bytes held.
    cap: usize,
}

impl Feed {
    fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    /// Appends output, skipping the oldest pending bytes past the cap.
    fn push(&mut self, mut data: &[u8]) {
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

/// The tap the pump calls: append, scan, answer queries.
struct ScreenTap {
    core: Arc<ScreenCore>,
    scanner: QueryScanner,
    /// Answers to queries, for the pump to queue as input.
    reply: String,
}

impl Tap for ScreenTap {
    fn event(&mut self, event: &Event<'_>) -> bool {
        match *event {
            Event::Output { offset, bytes } => {
                let mut queries = Vec::new();
                self.scanner
                    .scan(bytes, |end, q| queries.push((offset + end as u64, q)));
                self.core.feed.lock().push(bytes);
                if !queries.is_empty() {
                    // Rare: parse up to each query to learn the cursor there.
                    let mut model = self.core.model.lock();
                    for (at, query) in queries {
                        model.catch_up(&self.core.feed, Some(at));
                        let (row, col) = model.cursor();
                        self.reply.push_str(&query.reply(row, col));
                    }
                }
            }
            Event::Resize { rows, cols } => {
                let mut feed = self.core.feed.lock();
                let at = feed.end();
                feed.resizes.push_back((at, rows, cols));
            }
            // The screen gets every output byte through `Output` itself.
            Event::Input { .. } | Event::Exit { .. } | Event::Dropped { .. } => {}
        }
        true
    }

    fn take_reply(&mut self) -> Option<Vec<u8>> {
        (!self.reply.is_empty()).then(|| std::mem::take(&mut self.reply).into_bytes())
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

/// Default height of a session's viewport until `display` or `scroll_to`
/// sets one, as bgtmux's default.
pub const DEFAULT_VIEW_LINES: usize = 80;

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
    fn new(rows: u16, cols: u16, scrollback: usize, encoding: &'static encoding_rs::Encoding) -> Model {
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
    fn catch_up(&mut self, feed: &Mutex<Feed>, until: Option<u64>) {
        // Take what is due under the feed lock, parse outside it.
        let (start, bytes, resizes) = {
            let mut f = feed.lock();
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
        // The feed skipped bytes (it overflowed, or the ring had dropped
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
        let history = self.history();
        let past = self.term.primary_screen().all_lines().take(history);
        let visible = self.term.screen().visible_lines();
        past.chain(visible)
            .skip(start)
            .take(end.saturating_sub(start))
            .map(|line| {
                let mut text = line.text();
                text.truncate(text.trim_end().len());
                text
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::query::Query;

    fn model(rows: u16, cols: u16, scrollback: usize) -> (Mutex<Feed>, Model) {
        let feed = Feed {
            bytes: VecDeque::new(),
            start: 0,
            resizes: VecDeque::new(),
            cap: 1 << 20,
        };
        (
            Mutex::new(feed),
            Model::new(rows, cols, scrollback, encoding_rs::UTF_8),
        )
    }

    fn feed(f: &Mutex<Feed>, m: &mut Model, bytes: &[u8]) {
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
