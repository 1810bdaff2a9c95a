//! Finding the terminal queries a program waits on, cheaply, in raw output.
//!
//! Some programs ask the terminal a question and block until it answers:
//! where is the cursor (`CSI 6 n`), are you there (`CSI 5 n`), what are you
//! (`CSI c`, `CSI > c`). A real terminal answers on its input; the screen
//! model must do the same or such a program hangs (readline's and
//! prompt_toolkit's startup, `resize`, some editors).
//!
//! The scanner runs on the pump thread for every output chunk, so it costs
//! one `memchr` for ESC over plain text and a few byte steps per escape
//! sequence; it only recognises the sequences, and the screen model answers
//! them (it knows the cursor). It keeps its state across chunks, so a query
//! split between two reads is still found.

/// A question a program asked the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Query {
    /// `CSI 6 n` (or DEC's `CSI ? 6 n`): report the cursor position.
    CursorPosition {
        /// The DEC form, answered as `CSI ? row ; col R`.
        dec: bool,
    },
    /// `CSI 5 n`: report status; the answer is "OK" (`CSI 0 n`).
    Status,
    /// `CSI c` / `CSI 0 c`: primary device attributes.
    PrimaryAttributes,
    /// `CSI > c` / `CSI > 0 c`: secondary device attributes.
    SecondaryAttributes,
}

/// Answer to a primary device-attributes query: "VT100 with advanced
/// video", the answer tmux gives.
pub(crate) const PRIMARY_ATTRIBUTES_REPLY: &str = "\x1b[?1;2c";
/// Answer to a secondary device-attributes query: a VT220, version 10.
pub(crate) const SECONDARY_ATTRIBUTES_REPLY: &str = "\x1b[>1;10;0c";
/// Answer to a status query: terminal OK.
pub(crate) const STATUS_REPLY: &str = "\x1b[0n";

impl Query {
    /// The answer a terminal gives, for a cursor at 0-based `row`, `col`.
    pub(crate) fn reply(self, row: usize, col: usize) -> String {
        match self {
            Query::CursorPosition { dec: false } => format!("\x1b[{};{}R", row + 1, col + 1),
            Query::CursorPosition { dec: true } => format!("\x1b[?{};{}R", row + 1, col + 1),
            Query::Status => STATUS_REPLY.to_string(),
            Query::PrimaryAttributes => PRIMARY_ATTRIBUTES_REPLY.to_string(),
            Query::SecondaryAttributes => SECONDARY_ATTRIBUTES_REPLY.to_string(),
        }
    }
}

/// Longest parameter string of a query we answer (`?6`, `>0`).
const MAX_PARAMS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Ground,
    Escape,
    Csi,
}

/// Recognises queries in a byte stream fed in arbitrary chunks.
#[derive(Debug)]
pub(crate) struct QueryScanner {
    state: State,
    params: [u8; MAX_PARAMS],
    len: usize,
    /// The current CSI cannot be a query (too long, or has intermediates).
    not_query: bool,
}

impl Default for QueryScanner {
    fn default() -> Self {
        QueryScanner {
            state: State::Ground,
            params: [0; MAX_PARAMS],
            len: 0,
            not_query: false,
        }
    }
}

impl QueryScanner {
    /// Scans the next chunk of the stream. For each complete query calls
    /// `found(end, query)` where `end` is the index in `bytes` just past
    /// the query's last byte.
    pub(crate) fn scan(&mut self, bytes: &[u8], mut found: impl FnMut(usize, Query)) {
        let mut i = 0;
        while i < bytes.len() {
            if self.state == State::Ground {
                // The fast path: plain text has no ESC at all.
                match memchr::memchr(0x1b, &bytes[i..]) {
                    None => return,
                    Some(k) => {
                        i += k + 1;
                        self.state = State::Escape;
                        continue;
                    }
                }
            }
            let b = bytes[i];
            i += 1;
            match self.state {
                State::Ground => {}
                State::Escape => {
                    self.state = match b {
                        b'[' => {
                            self.len = 0;
                            self.not_query = false;
                            State::Csi
                        }
                        0x1b => State::Escape,
                        _ => State::Ground,
                    };
                }
                State::Csi => match b {
                    0x30..=0x3f => {
                        if self.len < MAX_PARAMS {
                            self.params[self.len] = b;
                            self.len += 1;
                        } else {
                            self.not_query = true;
                        }
                    }
                    0x20..=0x2f => self.not_query = true,
                    0x40..=0x7e => {
                        self.state = State::Ground;
                        if !self.not_query
                            && let Some(q) = classify(&self.params[..self.len], b)
                        {
                            found(i, q);
                        }
                    }
                    0x1b => self.state = State::Escape,
                    // CAN and SUB abort a sequence.
                    0x18 | 0x1a => self.state = State::Ground,
                    // Other C0 controls are executed inside a sequence
                    // without ending it; DEL is ignored.
                    0x00..=0x1f | 0x7f => {}
                    _ => self.state = State::Ground,
                },
            }
        }
    }
}

fn classify(params: &[u8], last: u8) -> Option<Query> {
    match (last, params) {
        (b'n', b"6") => Some(Query::CursorPosition { dec: false }),
        (b'n', b"?6") => Some(Query::CursorPosition { dec: true }),
        (b'n', b"5") => Some(Query::Status),
        (b'c', b"" | b"0") => Some(Query::PrimaryAttributes),
        (b'c', b">" | b">0") => Some(Query::SecondaryAttributes),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scan_all(chunks: &[&[u8]]) -> Vec<(usize, Query)> {
        let mut s = QueryScanner::default();
        let mut found = Vec::new();
        let mut base = 0;
        for c in chunks {
            s.scan(c, |end, q| found.push((base + end, q)));
            base += c.len();
        }
        found
    }

    #[test]
    fn table() {
        use Query::*;
        type Case<'a> = (&'a [u8], &'a [(usize, Query)]);
        let cases: &[Case] = &[
            (b"plain text\r\n", &[]),
            (b"\x1b[6n", &[(4, CursorPosition { dec: false })]),
            (b"ab\x1b[?6nc", &[(7, CursorPosition { dec: true })]),
            (b"\x1b[5n", &[(4, Status)]),
            (
                b"\x1b[c\x1b[0c",
                &[(3, PrimaryAttributes), (7, PrimaryAttributes)],
            ),
            (
                b"\x1b[>c\x1b[>0c",
                &[(4, SecondaryAttributes), (9, SecondaryAttributes)],
            ),
            // Look-alikes that are not queries.
            (b"\x1b[16n\x1b[6 n\x1b[1;6n\x1b[=c\x1b[6m\x1b]6n\x07[6n", &[]),
            // A CSI interrupted by ESC restarts; CAN aborts.
            (b"\x1b[12\x1b[6n", &[(8, CursorPosition { dec: false })]),
            (b"\x1b[\x186n", &[]),
            // A C0 control inside a sequence does not end it.
            (b"\x1b[6\rn", &[(5, CursorPosition { dec: false })]),
            (b"\x1b\x1b[6n", &[(5, CursorPosition { dec: false })]),
            (
                b"\x1b[99999999999n\x1b[6n",
                &[(18, CursorPosition { dec: false })],
            ),
        ];
        for &(input, want) in cases {
            assert_eq!(scan_all(&[input]), want, "input {input:?}");
        }
    }

    #[test]
    fn a_query_split_at_any_byte_is_found_once() {
        let input = b"hello \x1b[31mred\x1b[0m \x1b[6n after \x1b[>c";
        let whole = scan_all(&[input]);
        assert_eq!(whole.len(), 2);
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(scan_all(&[a, b]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn replies() {
        assert_eq!(Query::CursorPosition { dec: false }.reply(0, 0), "\x1b[1;1R");
        assert_eq!(Query::CursorPosition { dec: true }.reply(4, 9), "\x1b[?5;10R");
        assert_eq!(Query::Status.reply(3, 3), "\x1b[0n");
    }

    proptest! {
        /// Chunking never changes what is found.
        #[test]
        fn chunking_does_not_matter(
            parts in proptest::collection::vec(prop_oneof![
                Just(b"\x1b[6n".to_vec()), Just(b"\x1b[c".to_vec()), Just(b"\x1b".to_vec()),
                Just(b"[".to_vec()), Just(b"6".to_vec()), Just(b"n".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..8),
            ], 0..20),
            cuts in proptest::collection::vec(any::<usize>(), 0..5),
        ) {
            let input = parts.concat();
            let whole = scan_all(&[&input]);
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points {
                chunks.push(&input[last..p]);
                last = p;
            }
            chunks.push(&input[last..]);
            prop_assert_eq!(scan_all(&chunks), whole);
        }
    }
}
