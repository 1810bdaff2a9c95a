//! Recording: the sink pipeline, asciicast files, transcripts.

pub(crate) mod cast;
pub(crate) mod early;
pub(crate) mod recording;
pub(crate) mod sink;
pub(crate) mod transcript;
