//! Everything mutable about one session, and the rules that keep it
//! consistent.
//!
//! [`State`] lives under the session's one mutex (see
//! [`Core`](crate::engine::core::Core)). Its fields are private: the pump
//! changes it through the `publish_*` and `write_input` steps, callers
//! through [`queue_input`](State::queue_input), [`take`](State::take) and
//! [`consume_to`](State::consume_to), features through
//! [`add_tap`](State::add_tap). Each method keeps these invariants:
//!
//! - every output byte goes into the ring and to every tap, in order, under
//!   the lock that changed it, so taps see contiguous offsets;
//! - while input is queued, only the pump writes to the terminal, oldest
//!   first, so a caller can never overtake queued input;
//! - the exit is published after the output is drained, and then nothing
//!   more is written to the child;
//! - once closed, nothing is read, written or emitted again.

use std::collections::VecDeque;

use crate::engine::decode::{DecodeErrors, TextDecoder};
use crate::engine::result::PollResult;
use crate::engine::ring::Ring;
use crate::engine::tap::{Event, Tap, Taps};
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::limits::{CANONICAL_LINE_LIMIT, MAX_INPUT_BACKLOG};
use crate::status::ExitStatus;

/// What a session's state starts with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    /// Most output bytes retained (at least 1).
    pub(crate) max_buffer_bytes: usize,
    pub(crate) encoding: &'static encoding_rs::Encoding,
    pub(crate) decode_errors: DecodeErrors,
    /// Terminal size (rows, cols).
    pub(crate) size: (u16, u16),
}

/// Everything mutable about a session. See the module docs.
#[derive(Debug)]
pub(crate) struct State {
    ring: Ring,
    decoder: TextDecoder,
    /// Input for the child that the PTY has not taken yet.
    input: VecDeque<u8>,
    /// Length of the unfinished line sent in canonical mode.
    canon_line: usize,
    /// How the child ended, published only after its output is drained.
    exit: Option<ExitStatus>,
    /// Every holder of the terminal is gone: no more output can arrive.
    output_ended: bool,
    /// The session was closed: the pump stops, every operation fails.
    closed: bool,
    /// Terminal size (rows, cols).
    size: (u16, u16),
    /// Features listening to this session's events.
    taps: Taps,
}

/// What a caller's input needs written now: the bytes the terminal may take
/// at once, if nothing older is queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Nothing to send.
    Nothing,
    /// Nothing older is queued: write these directly (then
    /// [`State::queue_rest`] what the terminal did not take).
    WriteNow,
    /// Older input is queued; these bytes were queued behind it for the
    /// pump.
    Queued,
}

impl State {
    pub(crate) fn new(config: Config) -> State {
        State {
            ring: Ring::new(config.max_buffer_bytes),
            decoder: TextDecoder::new(config.encoding, config.decode_errors),
            input: VecDeque::new(),
            canon_line: 0,
            exit: None,
            output_ended: false,
            closed: false,
            size: config.size,
            taps: Taps::default(),
        }
    }

    // ---- What anyone may read ----

    /// Absolute offset one past the newest output byte.
    pub(crate) fn end(&self) -> u64 {
        self.ring.end()
    }

    /// Absolute offset of the unread cursor.
    pub(crate) fn cursor(&self) -> u64 {
        self.ring.cursor()
    }

    /// Unread bytes.
    pub(crate) fn unread(&self) -> usize {
        self.ring.unread()
    }

    /// Most output bytes retained.
    pub(crate) fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// The retained output from `from` (clamped to what is retained) to the
    /// end, and the offset where it starts.
    pub(crate) fn retained_from(&self, from: u64) -> (u64, Vec<u8>) {
        let base = from.clamp(self.ring.start(), self.ring.end());
        (base, self.ring.copy_range(base, self.ring.end()))
    }

    /// How the child ended, once that is published.
    pub(crate) fn exit(&self) -> Option<ExitStatus> {
        self.exit
    }

    /// Whether the session was closed.
    pub(crate) fn closed(&self) -> bool {
        self.closed
    }

    /// Terminal size (rows, cols).
    pub(crate) fn size(&self) -> (u16, u16) {
        self.size
    }

    /// The session's output (and input) encoding.
    pub(crate) fn encoding(&self) -> &'static encoding_rs::Encoding {
        self.decoder.encoding()
    }

    // ---- Features ----

    /// Adds a tap; it sees every event from now on.
    pub(crate) fn add_tap(&mut self, tap: Box<dyn Tap>) {
        self.taps.add(tap);
    }

    // ---- Callers ----

    /// Takes up to `max` unread bytes, decodes them and reports the state.
    pub(crate) fn take(&mut self, id: SessionId, max: usize) -> Result<PollResult> {
        let taken = self.ring.take(max);
        let mut text = String::new();
        if taken.dropped > 0 {
            // The bytes that would complete a held partial character are gone.
            text.push_str(&self.decoder.break_stream());
        }
        match self.decoder.decode(&taken.bytes) {
            Ok(s) => text.push_str(&s),
            Err(bad) => {
                // Resume right after the malformed sequence next time, and
                // report the drop then: the error has no field for it.
                self.ring.seek(taken.start + bad.resume as u64);
                self.ring.restore_dropped(taken.dropped);
                text.push_str(&bad.text);
                return Err(Error::Decode {
                    id,
                    offset: taken.start + bad.at as u64,
                    encoding: self.decoder.encoding().name(),
                    text,
                });
            }
        }
        let remaining = self.ring.unread();
        if remaining == 0 && self.output_ended && self.exit.is_some() {
            // The stream is over: a character still held incomplete will
            // never be completed (replace mode shows it as U+FFFD).
            text.push_str(&self.decoder.break_stream());
        }
        Ok(PollResult {
            text,
            running: self.exit.is_none(),
            exit_code: self.exit.and_then(ExitStatus::python_returncode),
            exit_status: self.exit,
            remaining_bytes: remaining,
            dropped_bytes: taken.dropped,
            truncated: taken.dropped > 0 || remaining > 0,
            start_offset: taken.start,
            end_offset: self.ring.cursor(),
            matched: None,
        })
    }

    /// Moves the unread cursor forward to `offset`: the bytes before it were
    /// returned some other way (a wait's match), so the decoder starts
    /// afresh after them.
    pub(crate) fn consume_to(&mut self, offset: u64) {
        if self.ring.cursor() < offset {
            self.ring.seek(offset);
            self.decoder.reset();
        }
    }

    /// Accepts `bytes` of input for the child, after the checks that keep
    /// input from being lost: the child has not exited, the backlog stays
    /// under [`MAX_INPUT_BACKLOG`], and in canonical mode no line grows
    /// past [`CANONICAL_LINE_LIMIT`]. Reports it to the taps and says
    /// whether the caller may write it directly.
    pub(crate) fn queue_input(&mut self, id: SessionId, bytes: &[u8], canonical: bool) -> Result<Delivery> {
        if let Some(status) = self.exit {
            return Err(Error::SessionExited { id, status });
        }
        if bytes.is_empty() {
            return Ok(Delivery::Nothing);
        }
        if self.input.len() + bytes.len() > MAX_INPUT_BACKLOG {
            return Err(Error::InputBacklog {
                id,
                pending: self.input.len(),
                limit: MAX_INPUT_BACKLOG,
            });
        }
        self.canon_line = if canonical {
            canonical_line_after(self.canon_line, bytes).map_err(|length| Error::LineTooLong {
                id,
                length,
                limit: CANONICAL_LINE_LIMIT,
            })?
        } else {
            0
        };
        self.taps.emit(Event::Input { bytes });
        if self.input.is_empty() {
            Ok(Delivery::WriteNow)
        } else {
            self.input.extend(bytes);
            Ok(Delivery::Queued)
        }
    }

    /// Queues what a direct write (after [`Delivery::WriteNow`]) left over.
    pub(crate) fn queue_rest(&mut self, rest: &[u8]) {
        self.input.extend(rest);
    }

    /// Records a new terminal size (already applied to the PTY).
    pub(crate) fn resized(&mut self, rows: u16, cols: u16) {
        self.size = (rows, cols);
        self.taps.emit(Event::Resize { rows, cols });
    }

    /// Marks the session closed. Taps are dropped (a sink then finishes
    /// what it has queued), queued input is discarded.
    pub(crate) fn close(&mut self) {
        self.closed = true;
        self.input.clear();
        self.taps = Taps::default();
    }

    // ---- The pump's steps ----

    /// Whether any input waits for the pump to write.
    pub(super) fn wants_write(&self) -> bool {
        !self.input.is_empty()
    }

    /// Whether a tap asks the pump to hold output back (see
    /// [`Tap::backlogged`]).
    pub(super) fn backlogged(&self) -> bool {
        self.taps.backlogged()
    }

    /// The read step's effect: `bytes` of output into the ring and to the
    /// taps, then the taps' answers to terminal queries queued as input,
    /// ahead of anything queued later.
    pub(super) fn publish_output(&mut self, bytes: &[u8]) {
        let offset = self.ring.end();
        let dropped = self.ring.push(bytes);
        self.taps.emit(Event::Output { offset, bytes });
        if dropped > 0 {
            self.taps.emit(Event::Dropped { bytes: dropped });
        }
        let reply = self.taps.take_replies();
        if !reply.is_empty() {
            self.input.extend(&reply);
            self.taps.emit(Event::Input { bytes: &reply });
        }
    }

    /// Every holder of the terminal is gone: nothing more can arrive.
    pub(super) fn end_output(&mut self) {
        self.output_ended = true;
    }

    /// The write step: offers the oldest queued input to `write`, which
    /// returns how many bytes the terminal took, or `None` when the
    /// terminal takes no more input at all (the queue is then discarded:
    /// nobody will ever read it).
    pub(super) fn write_input(&mut self, write: impl FnOnce(&[u8]) -> Option<usize>) {
        let front = self.input.as_slices().0;
        match write(front) {
            Some(n) => drop(self.input.drain(..n)),
            None => self.input.clear(),
        }
    }

    /// The exit step: publishes how the child ended. Nobody will read input
    /// any more, so what is queued is discarded.
    pub(super) fn publish_exit(&mut self, status: ExitStatus) {
        self.exit = Some(status);
        self.input.clear();
        self.taps.emit(Event::Exit { status });
    }
}

/// The unfinished-line length after sending `bytes` in canonical mode, or
/// the offending length if some line would exceed [`CANONICAL_LINE_LIMIT`].
/// Line ends reset the count: newline and carriage return (ICRNL), and the
/// EOF, interrupt and kill characters (^D, ^C, ^U), which also end or
/// discard the pending line.
fn canonical_line_after(mut line: usize, bytes: &[u8]) -> Result<usize, usize> {
    let is_end = |b: u8| matches!(b, b'\n' | b'\r' | 0x04 | 0x03 | 0x15);
    for (i, &b) in bytes.iter().enumerate() {
        if is_end(b) {
            line = 0;
            continue;
        }
        line += 1;
        if line > CANONICAL_LINE_LIMIT {
            // Report the whole offending line, up to its end in `bytes`.
            let rest = bytes[i + 1..].iter().take_while(|&&b| !is_end(b)).count();
            return Err(line + rest);
        }
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parking_lot::Mutex;

    use super::*;

    fn state(max_buffer_bytes: usize) -> State {
        State::new(Config {
            max_buffer_bytes,
            encoding: encoding_rs::UTF_8,
            decode_errors: DecodeErrors::Replace,
            size: (24, 80),
        })
    }

    /// Records what it sees; optionally backlogged, optionally answering
    /// every output event.
    #[derive(Default)]
    struct Probe {
        seen: Arc<Mutex<Vec<String>>>,
        backlogged: bool,
        reply: Option<&'static [u8]>,
        pending: Option<Vec<u8>>,
    }

    impl Tap for Probe {
        fn event(&mut self, event: &Event<'_>) -> bool {
            let line = match *event {
                Event::Output { offset, bytes } => {
                    self.pending = self.reply.map(<[u8]>::to_vec);
                    format!("out {offset} {}", String::from_utf8_lossy(bytes))
                }
                Event::Dropped { bytes } => format!("dropped {bytes}"),
                Event::Input { bytes } => format!("in {}", String::from_utf8_lossy(bytes)),
                Event::Resize { rows, cols } => format!("resize {rows}x{cols}"),
                Event::Exit { status } => format!("exit {status}"),
            };
            self.seen.lock().push(line);
            true
        }

        fn backlogged(&self) -> bool {
            self.backlogged
        }

        fn take_reply(&mut self) -> Option<Vec<u8>> {
            self.pending.take()
        }
    }

    fn probe(st: &mut State, probe: Probe) -> Arc<Mutex<Vec<String>>> {
        let seen = Arc::clone(&probe.seen);
        st.add_tap(Box::new(probe));
        seen
    }

    #[test]
    fn canonical_line_accounting() {
        assert_eq!(canonical_line_after(0, b"abc"), Ok(3));
        assert_eq!(canonical_line_after(3, b"de\nfg"), Ok(2));
        assert_eq!(
            canonical_line_after(0, &[b'x'; CANONICAL_LINE_LIMIT]),
            Ok(CANONICAL_LINE_LIMIT)
        );
        let mut long = vec![b'x'; 5000];
        long.extend_from_slice(b"\nshort");
        assert_eq!(canonical_line_after(0, &long), Err(5000));
        assert!(canonical_line_after(CANONICAL_LINE_LIMIT, b"y").is_err());
        assert_eq!(canonical_line_after(CANONICAL_LINE_LIMIT, b"\r"), Ok(0));
        assert_eq!(canonical_line_after(10, b"\x03abc"), Ok(3));
    }

    #[test]
    fn output_reaches_the_ring_and_the_taps_with_contiguous_offsets_and_drops() {
        let mut st = state(4);
        let seen = probe(&mut st, Probe::default());
        st.publish_output(b"abc");
        st.publish_output(b"def");
        assert_eq!(*seen.lock(), ["out 0 abc", "out 3 def", "dropped 2"]);
        let r = st.take(SessionId::from_u64(1), 100).expect("utf-8");
        assert_eq!((r.text.as_str(), r.dropped_bytes, r.start_offset), ("cdef", 2, 2));
    }

    #[test]
    fn a_taps_reply_is_queued_as_input_and_reported() {
        let mut st = state(100);
        let seen = probe(
            &mut st,
            Probe {
                reply: Some(b"\x1b[1;1R"),
                ..Probe::default()
            },
        );
        st.publish_output(b"\x1b[6n");
        assert!(st.wants_write());
        assert_eq!(seen.lock().last().map(String::as_str), Some("in \x1b[1;1R"));
        let mut written = Vec::new();
        st.write_input(|front| {
            written.extend_from_slice(front);
            Some(front.len())
        });
        assert_eq!(written, b"\x1b[1;1R");
        assert!(!st.wants_write());
    }

    #[test]
    fn input_behind_queued_input_is_queued_and_written_in_order() {
        let mut st = state(100);
        let id = SessionId::from_u64(1);
        assert!(matches!(st.queue_input(id, b"", true), Ok(Delivery::Nothing)));
        assert!(matches!(
            st.queue_input(id, b"first", true),
            Ok(Delivery::WriteNow)
        ));
        // The terminal took two bytes of it.
        st.queue_rest(b"rst");
        assert!(matches!(
            st.queue_input(id, b" second", true),
            Ok(Delivery::Queued)
        ));
        let mut written = Vec::new();
        while st.wants_write() {
            st.write_input(|front| {
                let n = front.len().min(3);
                written.extend_from_slice(&front[..n]);
                Some(n)
            });
        }
        assert_eq!(written, b"rst second");
    }

    #[test]
    fn a_terminal_that_takes_no_more_input_discards_the_queue() {
        let mut st = state(100);
        let id = SessionId::from_u64(1);
        st.queue_input(id, b"x", false).expect("queued");
        st.queue_rest(b"x");
        st.write_input(|_| None);
        assert!(!st.wants_write());
    }

    #[test]
    fn a_backlogged_tap_holds_the_pump() {
        let mut st = state(100);
        assert!(!st.backlogged());
        probe(
            &mut st,
            Probe {
                backlogged: true,
                ..Probe::default()
            },
        );
        assert!(st.backlogged());
    }

    #[test]
    fn the_exit_discards_input_is_reported_last_and_refuses_more() {
        let mut st = state(100);
        let id = SessionId::from_u64(7);
        let seen = probe(&mut st, Probe::default());
        st.queue_input(id, b"a", false).expect("queued");
        st.queue_rest(b"a");
        st.publish_output(b"bye");
        st.publish_exit(ExitStatus::Exited(3));
        assert!(!st.wants_write());
        assert_eq!(seen.lock().last().map(String::as_str), Some("exit exit code 3"));
        assert!(matches!(
            st.queue_input(id, b"more", false),
            Err(Error::SessionExited {
                status: ExitStatus::Exited(3),
                ..
            })
        ));
        let r = st.take(id, 100).expect("utf-8");
        assert_eq!((r.text.as_str(), r.running, r.exit_code), ("bye", false, Some(3)));
    }

    #[test]
    fn an_incomplete_character_at_the_end_of_the_stream_becomes_a_replacement() {
        let mut st = state(100);
        let id = SessionId::from_u64(1);
        st.publish_output(&"é".as_bytes()[..1]);
        assert_eq!(
            st.take(id, 100).expect("utf-8").text,
            "",
            "held while more may come"
        );
        st.end_output();
        st.publish_exit(ExitStatus::Exited(0));
        assert_eq!(st.take(id, 100).expect("utf-8").text, "\u{fffd}");
    }

    #[test]
    fn consuming_past_a_match_resets_the_decoder() {
        let mut st = state(100);
        let id = SessionId::from_u64(1);
        st.publish_output(b"ab\xc3");
        st.take(id, 3).expect("utf-8"); // holds the partial é
        st.publish_output(b"\xa9MATCH tail");
        st.consume_to(9);
        assert_eq!(st.take(id, 100).expect("utf-8").text, " tail");
    }

    #[test]
    fn closing_drops_the_taps_and_the_input() {
        let mut st = state(100);
        let seen = probe(&mut st, Probe::default());
        st.queue_input(SessionId::from_u64(1), b"x", false)
            .expect("queued");
        st.queue_rest(b"x");
        st.close();
        assert!(st.closed() && !st.wants_write());
        st.publish_output(b"late");
        assert_eq!(
            seen.lock().len(),
            1,
            "only the input before the close: {:?}",
            seen.lock()
        );
    }
}
