//! In-order notifications of everything that happens to a session, for the
//! features built on the core (event streams, recording, transcripts).
//!
//! A tap is called with the session's state lock held, by whichever thread
//! made the change: the pump for output and exit, the caller for input and
//! resize. So taps see events in exactly the order the state changed, and
//! output offsets are contiguous. A tap must therefore be quick and must
//! never block (hand work to a channel or a bounded buffer instead).

use crate::status::ExitStatus;

/// One thing that happened to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event<'a> {
    /// The child wrote `bytes`, starting at absolute output offset `offset`.
    /// Every output byte is reported, including those the ring later drops.
    Output { offset: u64, bytes: &'a [u8] },
    /// The ring dropped this many unread bytes to make room (the output
    /// itself was reported before, as `Output`).
    Dropped { bytes: u64 },
    /// Input was queued for the child.
    Input { bytes: &'a [u8] },
    /// The terminal was resized.
    Resize { rows: u16, cols: u16 },
    /// The child exited; all its output has been reported before this.
    Exit { status: ExitStatus },
}

/// Receives a session's events. See the module docs for the rules.
pub(crate) trait Tap: Send {
    /// Handles one event; returns `false` to be removed from the session.
    fn event(&mut self, event: &Event<'_>) -> bool;

    /// Whether this tap cannot take more output for now. While any tap is
    /// backlogged the pump stops reading output (and keeps serving input,
    /// exit and close); a tap that stops being backlogged must wake the
    /// pump. This is how a lossless consumer pushes back without blocking
    /// under the state lock: see [`crate::record::sink`] for the whole
    /// story.
    ///
    /// By default, never.
    fn backlogged(&self) -> bool {
        false
    }

    /// Input the tap wants delivered to the child, as a terminal's answer
    /// to a query in the output it just saw. The pump asks after every
    /// output event and queues the answer ahead of later input. By default,
    /// none.
    fn take_reply(&mut self) -> Option<Vec<u8>> {
        None
    }
}

/// The taps on one session.
#[derive(Default)]
pub(crate) struct Taps(Vec<Box<dyn Tap>>);

impl std::fmt::Debug for Taps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Taps({})", self.0.len())
    }
}

impl Taps {
    /// Adds a tap; it sees every event from now on.
    pub(crate) fn add(&mut self, tap: Box<dyn Tap>) {
        self.0.push(tap);
    }

    /// Whether any tap asks the pump to hold output back.
    pub(crate) fn backlogged(&self) -> bool {
        self.0.iter().any(|t| t.backlogged())
    }

    /// Collects the taps' answers to terminal queries (see
    /// [`Tap::take_reply`]); empty when there are none.
    pub(crate) fn take_replies(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for tap in &mut self.0 {
            if let Some(reply) = tap.take_reply() {
                out.extend_from_slice(&reply);
            }
        }
        out
    }

    /// Tells every tap, dropping those that ask to be removed.
    pub(crate) fn emit(&mut self, event: Event<'_>) {
        if !self.0.is_empty() {
            self.0.retain_mut(|t| t.event(&event));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count(usize, usize);
    impl Tap for Count {
        fn event(&mut self, _: &Event<'_>) -> bool {
            self.0 += 1;
            self.0 < self.1
        }
    }

    #[test]
    fn a_tap_that_returns_false_is_removed() {
        let mut taps = Taps::default();
        taps.add(Box::new(Count(0, 2)));
        taps.add(Box::new(Count(0, 100)));
        for _ in 0..3 {
            taps.emit(Event::Input { bytes: b"x" });
        }
        assert_eq!(taps.0.len(), 1);
    }
}
