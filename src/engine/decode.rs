//! Incremental decoding of terminal output into text.
//!
//! One decoder lives with each session and sees the output in order, so a
//! multi-byte character split across two reads (or cut by a read's byte
//! limit) is held back and comes out whole at the start of the next read.

use std::borrow::Cow;

use encoding_rs::{CoderResult, DecoderResult, Encoding};

/// What to do with bytes that are not valid in the session's encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeErrors {
    /// Replace each malformed sequence with U+FFFD (Python's
    /// `errors="replace"`). The default.
    #[default]
    Replace,
    /// Report [`Error::Decode`](crate::Error::Decode) naming the offset
    /// (Python's `errors="strict"`); the session keeps working.
    Strict,
}

/// A malformed sequence found in strict mode.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Malformed {
    /// Text that decoded cleanly before the bad bytes.
    pub text: String,
    /// Offset of the malformed sequence within the input given to `decode`
    /// (it may start in bytes held from an earlier call: then 0).
    pub at: usize,
    /// Offset just past the malformed sequence: where decoding resumes.
    pub resume: usize,
}

/// A stateful decoder for one session's output stream.
pub(crate) struct TextDecoder {
    encoding: &'static Encoding,
    decoder: encoding_rs::Decoder,
    errors: DecodeErrors,
}

impl std::fmt::Debug for TextDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextDecoder")
            .field("encoding", &self.encoding.name())
            .field("errors", &self.errors)
            .finish()
    }
}

impl TextDecoder {
    pub(crate) fn new(encoding: &'static Encoding, errors: DecodeErrors) -> TextDecoder {
        TextDecoder {
            encoding,
            // Terminal output has no byte-order mark to sniff.
            decoder: encoding.new_decoder_without_bom_handling(),
            errors,
        }
    }

    pub(crate) fn encoding(&self) -> &'static Encoding {
        self.encoding
    }

    /// Decodes the next bytes of the stream. A trailing incomplete character
    /// is kept for the next call. In strict mode a malformed sequence stops
    /// decoding: the caller gets what came before it and the decoder is
    /// reset, ready for the bytes after it.
    pub(crate) fn decode(&mut self, bytes: &[u8]) -> Result<String, Malformed> {
        let mut out = String::new();
        self.decode_into(bytes, false, &mut out)?;
        Ok(out)
    }

    /// Forgets a held partial character because the bytes that would have
    /// completed it were lost. In replace mode the orphan becomes one
    /// U+FFFD (returned); in strict mode it is dropped silently because the
    /// loss is already reported as dropped bytes.
    pub(crate) fn break_stream(&mut self) -> String {
        let mut out = String::new();
        if self.errors == DecodeErrors::Replace {
            // Flushing with last=true turns a held partial into U+FFFD.
            let _ = self.decode_into(&[], true, &mut out);
        }
        self.reset();
        out
    }

    /// Forgets any held partial character, silently: for when the bytes
    /// around it were consumed some other way.
    pub(crate) fn reset(&mut self) {
        self.decoder = self.encoding.new_decoder_without_bom_handling();
    }

    fn decode_into(&mut self, mut src: &[u8], last: bool, out: &mut String) -> Result<(), Malformed> {
        let total = src.len();
        loop {
            let need = self
                .decoder
                .max_utf8_buffer_length(src.len())
                .unwrap_or(src.len() * 3 + 16);
            out.reserve(need);
            match self.errors {
                DecodeErrors::Replace => {
                    let (result, read, _) = self.decoder.decode_to_string(src, out, last);
                    src = &src[read..];
                    if result == CoderResult::InputEmpty {
                        return Ok(());
                    }
                }
                DecodeErrors::Strict => {
                    let (result, read) = self.decoder.decode_to_string_without_replacement(src, out, last);
                    match result {
                        DecoderResult::InputEmpty => return Ok(()),
                        DecoderResult::OutputFull => src = &src[read..],
                        DecoderResult::Malformed(bad, after) => {
                            let consumed = total - src.len() + read;
                            let resume = consumed.saturating_sub(after as usize);
                            let at = resume.saturating_sub(bad as usize);
                            self.decoder = self.encoding.new_decoder_without_bom_handling();
                            return Err(Malformed {
                                text: std::mem::take(out),
                                at,
                                resume,
                            });
                        }
                    }
                }
            }
        }
    }
}

/// Encodes input text in `encoding`, or names the first character it
/// cannot represent.
///
/// Why not `Encoding::encode` alone: it replaces an unmappable character
/// with an HTML numeric reference (`"&#233;"`), which the child would
/// receive as typed text, and it encodes UTF-16 as UTF-8 (encoding_rs has
/// no UTF-16 encoder, as the Encoding Standard has none).
pub(crate) fn encode<'a>(encoding: &'static Encoding, text: &'a str) -> Result<Cow<'a, [u8]>, char> {
    if encoding == encoding_rs::UTF_16LE {
        return Ok(text
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<u8>>()
            .into());
    }
    if encoding == encoding_rs::UTF_16BE {
        return Ok(text
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect::<Vec<u8>>()
            .into());
    }
    let (bytes, _, unmappable) = encoding.encode(text);
    if !unmappable {
        return Ok(bytes);
    }
    let mut buf = [0u8; 4];
    Err(text
        .chars()
        .find(|c| encoding.encode(c.encode_utf8(&mut buf)).2)
        .unwrap_or(char::REPLACEMENT_CHARACTER))
}

/// Decodes a slice of output on its own, leniently (U+FFFD for malformed
/// bytes): for text shown apart from the stream, such as a match, the tail
/// in a wait's error, or the last lines of the log. With `cut_start`, the
/// slice may begin inside a character (the buffer evicted the bytes before
/// it): up to three leading bytes that cannot start a character are
/// skipped rather than shown as U+FFFD.
pub(crate) fn decode_lossy(encoding: &'static Encoding, bytes: &[u8], cut_start: bool) -> String {
    let decode = |b: &[u8]| encoding.decode_without_bom_handling(b).0.into_owned();
    if cut_start {
        for skip in 0..bytes.len().min(4) {
            let text = decode(&bytes[skip..]);
            if !text.starts_with(char::REPLACEMENT_CHARACTER) {
                return text;
            }
        }
    }
    decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utf8() -> TextDecoder {
        TextDecoder::new(encoding_rs::UTF_8, DecodeErrors::Replace)
    }

    #[test]
    fn lossy_decoding_skips_an_orphaned_tail_only_when_asked() {
        let cut = &"é and more".as_bytes()[1..];
        assert_eq!(decode_lossy(encoding_rs::UTF_8, cut, true), " and more");
        assert_eq!(decode_lossy(encoding_rs::UTF_8, cut, false), "\u{fffd} and more");
        assert_eq!(
            decode_lossy(encoding_rs::UTF_8, b"\xff\xff\xff\xff!", true),
            "\u{fffd}\u{fffd}\u{fffd}\u{fffd}!"
        );
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("日本");
        assert_eq!(decode_lossy(encoding_rs::SHIFT_JIS, &sjis, true), "日本");
    }

    #[test]
    fn split_character_comes_out_whole() {
        let euro = "€".as_bytes(); // e2 82 ac
        let mut d = utf8();
        assert_eq!(d.decode(&[b'a', euro[0]]).unwrap(), "a");
        assert_eq!(d.decode(&euro[1..2]).unwrap(), "");
        assert_eq!(d.decode(&[euro[2], b'b']).unwrap(), "€b");
    }

    #[test]
    fn invalid_bytes_are_replaced_by_default() {
        let mut d = utf8();
        assert_eq!(d.decode(b"ok\xffok").unwrap(), "ok\u{fffd}ok");
    }

    #[test]
    fn strict_reports_the_offset_and_the_clean_prefix() {
        let mut d = TextDecoder::new(encoding_rs::UTF_8, DecodeErrors::Strict);
        let err = d.decode(b"good\xffrest").unwrap_err();
        assert_eq!(
            err,
            Malformed {
                text: "good".into(),
                at: 4,
                resume: 5
            }
        );
        // The decoder is usable again for the bytes after the bad one.
        assert_eq!(d.decode(b"rest").unwrap(), "rest");
    }

    #[test]
    fn break_stream_flushes_an_orphan_as_replacement() {
        let mut d = utf8();
        assert_eq!(d.decode(&[0xe2, 0x82]).unwrap(), "");
        assert_eq!(d.break_stream(), "\u{fffd}");
        assert_eq!(d.decode(b"x").unwrap(), "x");
    }

    #[test]
    fn other_encodings_decode_incrementally() {
        // Table: encoding, encoded bytes of "日本", expected text
        let cases: &[(&'static Encoding, &[u8])] = &[
            (encoding_rs::SHIFT_JIS, b"\x93\xfa\x96\x7b"),
            (encoding_rs::EUC_JP, b"\xc6\xfc\xcb\xdc"),
            (encoding_rs::UTF_16LE, b"\xe5\x65\x2c\x67"),
            (encoding_rs::GBK, b"\xc8\xd5\xb1\xbe"),
        ];
        for &(enc, bytes) in cases {
            for split in 0..=bytes.len() {
                let mut d = TextDecoder::new(enc, DecodeErrors::Strict);
                let mut s = d.decode(&bytes[..split]).unwrap();
                s += &d.decode(&bytes[split..]).unwrap();
                assert_eq!(s, "日本", "{} split at {split}", enc.name());
            }
        }
    }

    #[test]
    fn encode_refuses_unmappable_text_and_handles_utf16() {
        assert_eq!(
            encode(encoding_rs::SHIFT_JIS, "日本").unwrap(),
            &b"\x93\xfa\x96\x7b"[..]
        );
        assert_eq!(encode(encoding_rs::SHIFT_JIS, "caf\u{e9}"), Err('\u{e9}'));
        assert_eq!(
            encode(encoding_rs::WINDOWS_1252, "\u{20ac}").unwrap(),
            &b"\x80"[..]
        );
        assert_eq!(encode(encoding_rs::UTF_16LE, "hi").unwrap(), &b"h\0i\0"[..]);
        assert_eq!(encode(encoding_rs::UTF_16BE, "hi").unwrap(), &b"\0h\0i"[..]);
        assert_eq!(encode(encoding_rs::UTF_8, "é").unwrap(), "é".as_bytes());
    }

    proptest! {
        /// Any valid UTF-8 text, cut into any chunks, decodes to itself.
        #[test]
        fn any_split_of_valid_text_round_trips(
            text in "\\PC{0,40}",
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6)
        ) {
            let bytes = text.as_bytes();
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            points.push(0);
            points.push(bytes.len());
            points.sort_unstable();
            let mut d = TextDecoder::new(encoding_rs::UTF_8, DecodeErrors::Strict);
            let mut out = String::new();
            for w in points.windows(2) {
                out += &d.decode(&bytes[w[0]..w[1]]).unwrap();
            }
            prop_assert_eq!(out, text);
        }

        /// Arbitrary bytes never panic and, in replace mode, decode the same
        /// whether split or whole.
        #[test]
        fn replace_mode_is_split_invariant(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            cut in any::<prop::sample::Index>()
        ) {
            let cut = cut.index(bytes.len() + 1);
            let mut whole = utf8();
            let expect = whole.decode(&bytes).unwrap() + &whole.break_stream();
            let mut split = utf8();
            let got = split.decode(&bytes[..cut]).unwrap()
                + &split.decode(&bytes[cut..]).unwrap()
                + &split.break_stream();
            prop_assert_eq!(got, expect);
        }
    }
}
