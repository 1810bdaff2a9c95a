//! Waiting for output instead of polling: patterns, `wait_for`, whole
//! bursts, and event streams. Every wait here is woken by the pump
//! (through a tap or the core's condvar), never by a timer.
//!
//! - [`pattern`]: literal and regex patterns, several at once.
//! - [`wait_for`]: wait until a pattern appears, with no race.
//! - [`quiet`]: `poll_quiet`, a whole burst at once.
//! - [`until`]: reads that end at a pattern or when the output settles.
//! - [`events`]: a channel of a session's events, for `select!`.

pub(crate) mod events;
pub(crate) mod pattern;
pub(crate) mod quiet;
pub(crate) mod until;
pub(crate) mod wait_for;
