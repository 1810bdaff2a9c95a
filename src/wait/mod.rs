//! Waiting for output: patterns, `wait_for`, event streams.

pub(crate) mod events;
pub(crate) mod pattern;
pub(crate) mod wait_for;
