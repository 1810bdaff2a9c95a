//! Lossless transcripts: every output byte (and, if asked, every input
//! byte) teed to a file, complete even when the in-memory buffer drops old
//! output.

use std::fmt;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use crate::error::Result;
use crate::id::SinkKind;
use crate::limits::DEFAULT_MAX_PENDING_BYTES;
use crate::record::sink::{self, Entry, SinkConfig, SinkStatus, SinkWriter, Takes};
use crate::session::handle::Session;

/// A transcript to start on a session: the exact bytes the child writes,
/// in order, to a file or any writer; optionally the bytes sent to it, to
/// a second one.
///
/// Python bgterm's advice for a whole transcript is to make the program
/// write to a file; this gives you that file without changing the program.
/// The in-memory buffer ([`SessionBuilder::max_buffer_bytes`](crate::SessionBuilder::max_buffer_bytes)) still drops
/// old output when nobody reads; the transcript does not.
///
/// # Where it starts
///
/// [`SessionBuilder::transcript`](crate::SessionBuilder::transcript) attaches it before the child's first
/// byte. [`Session::start_transcript`] attaches it later and first writes
/// every output byte the session still retains in memory, read or not, so
/// it is complete from offset 0 unless the buffer had already dropped
/// some; it returns the offset it starts at.
///
/// # When the writer is slow
///
/// Bytes are written by a thread of the transcript's own, fed through a
/// buffer of [`max_pending_bytes`](Self::max_pending_bytes). When that
/// buffer is full the session stops reading the child's output until the
/// writer catches up: the child blocks on its writes, exactly as it would
/// on a slow terminal, and no byte is lost. The session's own calls are not
/// held up (its pump waits in `poll`, outside any lock): reads return what
/// is already buffered, input is queued and delivered when output flows
/// again, and close is immediate. Only the child's progress waits, so its
/// exit too is seen only once its output has been taken.
///
/// # When the writer fails
///
/// A write error (a full disk, a closed pipe) ends the transcript: what
/// was written stays, the error is kept for [`Session::transcript_status`]
/// and [`Session::stop_transcript`], and the session goes on as if there
/// had been no transcript.
///
/// ```
/// use std::time::Duration;
/// use bgterm::{SessionBuilder, Transcript};
///
/// let path = std::env::temp_dir().join(format!("bgterm-doc-{}.log", std::process::id()));
/// // The in-memory buffer keeps only 100 bytes; the transcript keeps all.
/// let s = SessionBuilder::new("seq 1 1000").max_buffer_bytes(100).spawn()?;
/// let start = s.start_transcript(Transcript::create(&path)?)?;
/// s.wait(Some(Duration::from_secs(10)))?;
/// let status = s.stop_transcript()?;
/// let bytes = std::fs::read(&path)?;
/// assert_eq!(status.output_end - start, bytes.len() as u64);
/// if start == 0 {
///     let expected: String = (1..=1000).map(|i| format!("{i}\r\n")).collect();
///     assert_eq!(bytes, expected.as_bytes());
/// }
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a transcript does nothing until passed to start_transcript"]
pub struct Transcript {
    output: Box<dyn Write + Send>,
    input: Option<Box<dyn Write + Send>>,
    target: String,
    max_pending_bytes: usize,
}

impl fmt::Debug for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transcript")
            .field("target", &self.target)
            .field("input", &self.input.is_some())
            .field("max_pending_bytes", &self.max_pending_bytes)
            .finish_non_exhaustive()
    }
}

impl Transcript {
    /// A transcript of the output to the file at `path`, created now (an
    /// existing file is truncated).
    ///
    /// # Errors
    ///
    /// [`Error::File`](crate::Error::File) naming the path if it cannot be
    /// created.
    pub fn create(path: impl AsRef<Path>) -> Result<Transcript> {
        let path = path.as_ref();
        let file = sink::create_file(path)?;
        Ok(Transcript {
            output: Box::new(file),
            input: None,
            target: path.display().to_string(),
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
        })
    }

    /// A transcript of the output to any writer.
    pub fn to_writer(writer: impl Write + Send + 'static) -> Transcript {
        Transcript {
            output: Box::new(writer),
            input: None,
            target: "writer".into(),
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
        }
    }

    /// Also tees every input byte sent to the child to the file at `path`
    /// (created now), in order.
    ///
    /// By default, input is not kept.
    ///
    /// # Errors
    ///
    /// [`Error::File`](crate::Error::File) naming the path if it cannot be
    /// created.
    pub fn input_file(mut self, path: impl AsRef<Path>) -> Result<Transcript> {
        let path = path.as_ref();
        self.input = Some(Box::new(sink::create_file(path)?));
        self.target = format!("{} (input: {})", self.target, path.display());
        Ok(self)
    }

    /// Also tees every input byte sent to the child to `writer`, in order.
    ///
    /// By default, input is not kept.
    pub fn input_writer(mut self, writer: impl Write + Send + 'static) -> Transcript {
        self.input = Some(Box::new(writer));
        self
    }

    /// Most bytes waiting to be written before the session holds the
    /// child's output back (the bound on the transcript's memory, plus one
    /// read of at most 16 KiB). Values below 1 count as 1.
    ///
    /// By default, [`DEFAULT_MAX_PENDING_BYTES`](crate::DEFAULT_MAX_PENDING_BYTES) (1 MiB).
    pub fn max_pending_bytes(mut self, bytes: usize) -> Transcript {
        self.max_pending_bytes = bytes;
        self
    }
}

/// Writes the bytes as they are, flushing after each batch.
struct RawWriter {
    output: BufWriter<Box<dyn Write + Send>>,
    input: Option<BufWriter<Box<dyn Write + Send>>>,
}

impl SinkWriter for RawWriter {
    fn begin(&mut self) -> io::Result<u64> {
        Ok(0)
    }

    fn write(&mut self, items: &[Entry]) -> io::Result<u64> {
        let mut n = 0;
        for item in items {
            if let Entry::Bytes { input, bytes, .. } = item {
                let to = if *input {
                    self.input.as_mut()
                } else {
                    Some(&mut self.output)
                };
                if let Some(to) = to {
                    to.write_all(bytes)?;
                    n += bytes.len() as u64;
                }
            }
        }
        self.output.flush()?;
        if let Some(input) = &mut self.input {
            input.flush()?;
        }
        Ok(n)
    }

    fn finish(&mut self) -> io::Result<u64> {
        self.write(&[])
    }
}

impl Session {
    /// Starts a lossless transcript (see [`Transcript`]). It begins with
    /// every output byte still retained in memory; returns the absolute
    /// offset of its first byte (0 means complete from the start).
    ///
    /// # Errors
    ///
    /// [`Error::SinkActive`](crate::Error::SinkActive) if a transcript is
    /// already attached (stop it first), [`Error::SessionClosed`](crate::Error::SessionClosed),
    /// or [`Error::Io`](crate::Error::Io) if its thread cannot be started.
    pub fn start_transcript(&self, transcript: Transcript) -> Result<u64> {
        sink::attach(self, SinkKind::Transcript, |g| {
            let (start, retained) = g.retained_from(0);
            let initial = if retained.is_empty() {
                Vec::new()
            } else {
                vec![Entry::Bytes {
                    at: Duration::ZERO,
                    input: false,
                    bytes: retained,
                }]
            };
            let config = SinkConfig {
                kind: SinkKind::Transcript,
                target: transcript.target,
                limit: transcript.max_pending_bytes,
                takes: Takes {
                    input: transcript.input.is_some(),
                    resizes: false,
                    clock: None,
                },
                output_start: start,
                output_end: g.end(),
                initial,
            };
            let writer = RawWriter {
                output: BufWriter::with_capacity(64 * 1024, transcript.output),
                input: transcript.input.map(|w| BufWriter::with_capacity(16 * 1024, w)),
            };
            (config, Box::new(writer) as Box<dyn SinkWriter>)
        })
    }

    /// Stops the transcript, waits until every byte it took is written, and
    /// returns its final status. Also collects a transcript that already
    /// ended (the child exited, or writing failed).
    ///
    /// # Errors
    ///
    /// [`Error::SinkFailed`](crate::Error::SinkFailed) with the write error
    /// if writing failed, [`Error::NoSink`](crate::Error::NoSink) if there
    /// is no transcript, [`Error::SessionClosed`](crate::Error::SessionClosed).
    pub fn stop_transcript(&self) -> Result<SinkStatus> {
        sink::stop(self, SinkKind::Transcript)
    }

    /// The transcript's status without stopping it, or `None` if there is
    /// none. A failed transcript shows its error here until it is stopped.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`](crate::Error::SessionClosed).
    pub fn transcript_status(&self) -> Result<Option<SinkStatus>> {
        sink::status(self, SinkKind::Transcript)
    }
}
