//! Recording: every event of a session written somewhere, losslessly.
//!
//! - [`sink`]: the pipeline every recording goes through — a tap copies
//!   events into a bounded queue, a thread of the sink's own writes them,
//!   and a full queue holds the child's output back (backpressure, the one
//!   place it is explained).
//! - [`file`]: the files sinks write: what happens to one that exists
//!   ([`IfExists`](crate::IfExists)), and one writer per file.
//! - [`cast`]: the asciicast v2 format, and repairing a damaged file.
//! - [`recording`]: [`Recording`](recording::Recording), a session as an
//!   asciicast file.
//! - [`transcript`]: [`Transcript`](transcript::Transcript), every byte
//!   teed to a file.

pub(crate) mod cast;
pub(crate) mod file;
pub(crate) mod recording;
pub(crate) mod sink;
pub(crate) mod transcript;
