//! The session handle and what belongs to one session: its options, its
//! command, how it is started, its name, and managing it.
//!
//! - [`handle`]: [`Session`](handle::Session), the owned handle, and the
//!   core operations (send, poll, read, wait, signals, resize, close).
//! - [`builder`]: every option, with its default.
//! - [`command`]: what to run (a shell line or an argv).
//! - [`launch`]: validating the options and starting the child.
//! - [`name`]: validating names.
//! - [`manage`]: summaries, logs, graceful stop.

pub(crate) mod builder;
pub(crate) mod command;
pub(crate) mod handle;
pub(crate) mod launch;
pub(crate) mod manage;
pub(crate) mod name;
