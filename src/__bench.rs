//! Narrow handles on crate-private parts, for `benches/micro.rs` only.
//!
//! Not part of the API: hidden from the docs, exempt from semver, and
//! nothing here may be used outside the crate's own benchmarks. The
//! wrappers forward to the crate-private types unchanged, so a benchmark
//! measures exactly the code the sessions run.

/// The session output buffer (`crate::engine::ring::Ring`).
#[derive(Debug)]
pub struct Ring(crate::engine::ring::Ring);

impl Ring {
    /// An empty ring retaining at most `capacity` bytes (`capacity >= 1`).
    pub fn new(capacity: usize) -> Ring {
        Ring(crate::engine::ring::Ring::new(capacity))
    }

    /// Appends bytes, evicting (and counting) the oldest over capacity.
    pub fn push(&mut self, data: &[u8]) {
        self.0.push(data);
    }

    /// Takes up to `max` unread bytes: (start offset, bytes, dropped).
    pub fn take(&mut self, max: usize) -> (u64, Vec<u8>, u64) {
        let t = self.0.take(max);
        (t.start, t.bytes, t.dropped)
    }

    /// Unread bytes.
    pub fn unread(&self) -> usize {
        self.0.unread()
    }
}

/// The incremental output decoder (`crate::engine::decode::TextDecoder`).
#[derive(Debug)]
pub struct Decoder(crate::engine::decode::TextDecoder);

impl Decoder {
    /// A decoder for `encoding`, replacing malformed input with U+FFFD.
    pub fn new(encoding: &'static encoding_rs::Encoding) -> Decoder {
        Decoder(crate::engine::decode::TextDecoder::new(
            encoding,
            crate::DecodeErrors::Replace,
        ))
    }

    /// Decodes the next bytes of the stream (a split character is held).
    pub fn decode(&mut self, bytes: &[u8]) -> String {
        match self.0.decode(bytes) {
            Ok(s) => s,
            // Unreachable in replace mode; keep the clean prefix anyway.
            Err(bad) => bad.text,
        }
    }
}
