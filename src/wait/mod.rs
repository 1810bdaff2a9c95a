//! Waiting for output: patterns, `wait_for`, `run`, event streams.

pub(crate) mod events;
pub(crate) mod pattern;
pub(crate) mod run;
pub(crate) mod wait_for;
