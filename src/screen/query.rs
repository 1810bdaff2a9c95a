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

/// Longest span from ESC to the final byte that is examined; C0 controls
/// inside a sequence (executed by a terminal without ending it) count
/// towards it. Anything longer is not one of our queries.
const MAX_QUERY_LEN: usize = 16;

/// What the bytes at an ESC are.
enum Check {
    /// A query ending `len` bytes after the ESC.
    Query(usize, Query),
    /// Not a query.
    No,
    /// Too few bytes to tell.
    Incomplete,
}

/// Recognises queries in a byte stream fed in arbitrary chunks.
///
/// Why not a full state machine: output can be dense with escape sequences
/// (colours on every word), and the scanner runs on the pump thread for
/// every byte. So it jumps from ESC to ESC with `memchr` and looks at most
/// [`MAX_QUERY_LEN`] bytes past each, which is all a query can span.
#[derive(Debug, Default)]
pub(crate) struct QueryScanner {
    /// An unfinished candidate from the end of the previous chunk, from
    /// its ESC on (shorter than [`MAX_QUERY_LEN`]).
    carry: Vec<u8>,
}

impl QueryScanner {
    /// Scans the next chunk of the stream. For each complete query calls
    /// `found(end, query)` where `end` is the index in `bytes` just past
    /// the query's last byte.
    pub(crate) fn scan(&mut self, bytes: &[u8], mut found: impl FnMut(usize, Query)) {
        let mut i = 0;
        if !self.carry.is_empty() {
            let held = self.carry.len();
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(&bytes[..bytes.len().min(MAX_QUERY_LEN)]);
            match check(&joined) {
                Check::Query(len, q) => {
                    found(len - held, q);
                    i = len - held;
                }
                Check::No => {}
                Check::Incomplete => {
                    self.carry = joined;
                    return;
                }
            }
        }
        let rest = &bytes[i..];
        // Counting ESCs is nearly free (vectorised); plain text stops here.
        let escapes = memchr::memchr_iter(0x1b, rest).count();
        if escapes == 0 {
            return;
        }
        // Visit each ESC: by a plain loop when they are dense (colours on
        // every word), where per-match iterator overhead dominates; by
        // `memchr` when sparse.
        let mut visit = |at: usize, i: &mut usize| -> bool {
            if at < *i {
                return true; // inside a query just found
            }
            match check(&bytes[at..]) {
                Check::Query(len, q) => {
                    found(at + len, q);
                    *i = at + len;
                    true
                }
                Check::No => true,
                Check::Incomplete => false,
            }
        };
        let base = i;
        let incomplete_at = if escapes * 32 > rest.len() {
            rest.iter()
                .enumerate()
                .filter(|&(_, &b)| b == 0x1b)
                .map(|(k, _)| base + k)
                .find(|&at| !visit(at, &mut i))
        } else {
            memchr::memchr_iter(0x1b, rest)
                .map(|k| base + k)
                .find(|&at| !visit(at, &mut i))
        };
        if let Some(at) = incomplete_at {
            self.carry = bytes[at..].to_vec();
        }
    }
}

/// Examines the bytes starting at an ESC (`s[0]`).
fn check(s: &[u8]) -> Check {
    // Fast rejection: most sequences in busy output are SGR colours and
    // cursor moves, which differ from every query by the third byte.
    match (s.get(1), s.get(2)) {
        (None, _) | (Some(b'['), None) => Check::Incomplete,
        (Some(b'['), Some(b'6' | b'5' | b'0' | b'?' | b'>' | b'c' | 0x00..=0x1f)) => check_csi(s),
        _ => Check::No,
    }
}

/// The careful look at a CSI that might be a query.
fn check_csi(s: &[u8]) -> Check {
    let mut params = [0u8; MAX_PARAMS];
    let mut n = 0;
    for (j, &b) in s.iter().enumerate().skip(2) {
        if j >= MAX_QUERY_LEN {
            return Check::No;
        }
        match b {
            0x30..=0x3f => {
                if n == MAX_PARAMS {
                    return Check::No;
                }
                params[n] = b;
                n += 1;
            }
            0x40..=0x7e => {
                return match classify(&params[..n], b) {
                    Some(q) => Check::Query(j + 1, q),
                    None => Check::No,
                };
            }
            // ESC starts another sequence; CAN and SUB abort this one.
            0x1b | 0x18 | 0x1a => return Check::No,
            // Other C0 controls are executed inside a sequence without
            // ending it; DEL is ignored.
            0x00..=0x1f | 0x7f => {}
            // Intermediates and anything else: not one of our queries.
            _ => return Check::No,
        }
    }
    Check::Incomplete
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
            // A CSI interrupted by ESC restarts; CAN aborts; too long is
            // not ours.
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
        let input = b"hello \x1b[31mred\x1b[0m \x1b[6n after \x1b\x1b[>c\x1b";
        let whole = scan_all(&[input]);
        assert_eq!(whole.len(), 2);
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(scan_all(&[a, b]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn sparse_and_dense_output_take_the_same_path_to_the_same_answer() {
        let mut sparse = vec![b'x'; 3000];
        sparse.extend_from_slice(b"\x1b[6n");
        sparse.extend_from_slice(&[b'y'; 3000]);
        sparse.extend_from_slice(b"\x1b[31mz\x1b[c");
        let want = vec![
            (3004, Query::CursorPosition { dec: false }),
            (6013, Query::PrimaryAttributes),
        ];
        assert_eq!(scan_all(&[&sparse]), want);
        for cut in [1, 3001, 3002, 3003, 6008, 6011, 6012] {
            let (a, b) = sparse.split_at(cut);
            assert_eq!(scan_all(&[a, b]), want, "cut at {cut}");
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
