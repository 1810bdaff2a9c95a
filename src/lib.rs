//! Run interactive programs in the background on pseudo-terminals,
//! in-process: start once, send input later, wait a bounded time, read
//! exactly what arrived since the last read.
//!
//! CRATE_DOCS_PLACEHOLDER
#![warn(missing_docs)]

mod builder;
mod command;
mod decode;
mod error;
mod global;
mod id;
mod pump;
mod registry;
mod result;
mod ring;
mod session;
mod shared;
mod spawn;
mod status;
mod sys;

pub use builder::{SessionBuilder, DEFAULT_COLS, DEFAULT_MAX_BUFFER_BYTES, DEFAULT_ROWS, DEFAULT_TERM};
pub use command::Command;
pub use decode::DecodeErrors;
pub use error::{Error, Result};
pub use global::{
    close, kill, list_sessions, poll, poll_with_limit, read, read_with_limit, start_session, terminate, wait,
    wait_deadline, write_stdin, write_stdin_with_limit,
};
pub use id::SessionId;
pub use registry::Registry;
pub use result::PollResult;
pub use session::{Session, CANONICAL_LINE_LIMIT, DEFAULT_MAX_OUTPUT_BYTES, MAX_INPUT_BACKLOG};
pub use status::ExitStatus;

/// Re-exported so callers can name encodings without adding the crate.
pub use encoding_rs;
