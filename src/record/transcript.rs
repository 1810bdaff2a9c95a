//! Lossless transcripts: every output byte (and, if asked, every input
//! byte) teed to a file, complete even when the in-memory buffer drops old
//! output.

use std::fmt;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::id::{IfExists, SinkKind};
use crate::limits::DEFAULT_MAX_PENDING_BYTES;
use crate::record::file;
use crate::record::recording::Out;
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
/// had been no transcript. A writer that blocks for good (a pipe nobody
/// reads) keeps only the transcript's thread: stopping gives up on it after
/// [`SINK_STOP_WAIT`](crate::SINK_STOP_WAIT) with
/// [`Error::SinkStopTimedOut`](crate::Error::SinkStopTimedOut), and closing
/// the session frees every descriptor of the session whatever the writer
/// does.
///
/// # Files
///
/// As for a [`Recording`](crate::Recording): a file with content is
/// refused unless [`IfExists::Overwrite`] or [`IfExists::Append`] is asked
/// for, a file another sink of this process writes is refused, and files
/// are created or truncated only when the transcript starts.
///
/// ```
/// use std::time::Duration;
/// use bgterm::{SessionBuilder, Transcript};
///
/// let path = std::env::temp_dir().join(format!("bgterm-doc-{}.log", std::process::id()));
/// # let _ = std::fs::remove_file(&path); // (left by an earlier process with this pid)
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
    output: Out,
    input: Option<Out>,
    if_exists: IfExists,
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
    /// A transcript of the output to a new file at `path`, created when the
    /// transcript starts. An existing file with content is refused (see
    /// [`open`](Self::open)).
    ///
    /// # Errors
    ///
    /// [`Error::FileExists`](crate::Error::FileExists) naming the path if
    /// it exists and is not empty (checked again when the transcript
    /// starts).
    pub fn create(path: impl AsRef<Path>) -> Result<Transcript> {
        Transcript::open(path, IfExists::Refuse)
    }

    /// A transcript of the output to the file at `path`, opened when the
    /// transcript starts; `if_exists` says what happens to an existing file
    /// with content, here and for an [`input_file`](Self::input_file).
    ///
    /// # Errors
    ///
    /// [`Error::FileExists`](crate::Error::FileExists) for a file with
    /// content under [`IfExists::Refuse`]. When the transcript starts: that
    /// again, [`Error::FileInUse`](crate::Error::FileInUse) or
    /// [`Error::File`](crate::Error::File).
    pub fn open(path: impl AsRef<Path>, if_exists: IfExists) -> Result<Transcript> {
        let path = path.as_ref();
        file::check(path, if_exists)?;
        Ok(Transcript {
            output: Out::File(path.to_path_buf(), if_exists),
            input: None,
            if_exists,
            target: path.display().to_string(),
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
        })
    }

    /// A transcript of the output to any writer.
    pub fn to_writer(writer: impl Write + Send + 'static) -> Transcript {
        Transcript {
            output: Out::Writer(Box::new(writer)),
            input: None,
            if_exists: IfExists::Refuse,
            target: "writer".into(),
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
        }
    }

    /// Also tees every input byte sent to the child to the file at `path`
    /// (opened when the transcript starts, as [`open`](Self::open) says),
    /// in order.
    ///
    /// By default, input is not kept.
    ///
    /// # Errors
    ///
    /// As for [`open`](Self::open).
    pub fn input_file(mut self, path: impl AsRef<Path>) -> Result<Transcript> {
        let path = path.as_ref();
        file::check(path, self.if_exists)?;
        self.input = Some(Out::File(path.to_path_buf(), self.if_exists));
        self.target = format!("{} (input: {})", self.target, path.display());
        Ok(self)
    }

    /// Also tees every input byte sent to the child to `writer`, in order.
    ///
    /// By default, input is not kept.
    pub fn input_writer(mut self, writer: impl Write + Send + 'static) -> Transcript {
        self.input = Some(Out::Writer(Box::new(writer)));
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
        let Transcript {
            output,
            input,
            target,
            max_pending_bytes,
            ..
        } = transcript;
        let open = |ending: &Arc<sink::Ending>| -> Result<_> {
            let mut undo = Vec::new();
            let mut open_one = |out: Out| -> Result<Box<dyn Write + Send>> {
                match out {
                    Out::Writer(w) => Ok(w),
                    Out::File(path, if_exists) => {
                        let opened = file::open(&path, if_exists, ending)?;
                        undo.push(opened.undo);
                        Ok(Box::new(opened.file))
                    }
                }
            };
            let output = open_one(output)?;
            let input = input.map(&mut open_one).transpose()?;
            Ok(((output, input), undo))
        };
        sink::attach(self, SinkKind::Transcript, open, |g, (output, input)| {
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
                target,
                limit: max_pending_bytes,
                takes: Takes {
                    input: input.is_some(),
                    resizes: false,
                    clock: None,
                },
                output_start: start,
                output_end: g.end(),
                initial,
            };
            let writer = RawWriter {
                output: BufWriter::with_capacity(64 * 1024, output),
                input: input.map(|w| BufWriter::with_capacity(16 * 1024, w)),
            };
            (config, Box::new(writer) as Box<dyn SinkWriter>)
        })
    }

    /// Stops the transcript, waits until every byte it took is written (at
    /// most [`SINK_STOP_WAIT`](crate::SINK_STOP_WAIT)), and returns its
    /// final status. Also collects a transcript that already ended (the
    /// child exited, or writing failed).
    ///
    /// # Errors
    ///
    /// [`Error::SinkFailed`](crate::Error::SinkFailed) with the write error
    /// if writing failed,
    /// [`Error::SinkStopTimedOut`](crate::Error::SinkStopTimedOut) if the
    /// writer is still writing when the wait is over (the transcript has
    /// ended all the same), [`Error::NoSink`](crate::Error::NoSink) if there
    /// is no transcript, [`Error::SessionClosed`](crate::Error::SessionClosed).
    pub fn stop_transcript(&self) -> Result<SinkStatus> {
        sink::stop(self, SinkKind::Transcript, sink::default_stop_deadline())
    }

    /// [`stop_transcript`](Self::stop_transcript) waiting for the writer
    /// until `deadline` (`None`: as long as it takes).
    ///
    /// # Errors
    ///
    /// As for [`stop_transcript`](Self::stop_transcript).
    pub fn stop_transcript_deadline(&self, deadline: Option<Instant>) -> Result<SinkStatus> {
        sink::stop(self, SinkKind::Transcript, deadline)
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
