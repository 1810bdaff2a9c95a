//! Recording a session as an asciicast v2 file, playable with asciinema.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::engine::decode::{DecodeErrors, TextDecoder};
use crate::error::Result;
use crate::id::{IfExists, SinkKind};
use crate::limits::DEFAULT_MAX_PENDING_BYTES;
use crate::record::cast::{self, Code};
use crate::record::file;
use crate::record::sink::{self, Entry, SinkConfig, SinkStatus, SinkWriter, Takes};
use crate::session::handle::Session;

/// An asciicast v2 recording to start on a session: where it goes and what
/// it includes.
///
/// Start it with [`Session::start_recording`] (or
/// [`SessionBuilder::record`](crate::SessionBuilder::record) to capture from the very first byte), stop it
/// with [`Session::stop_recording`]. The file gets a header (terminal size,
/// start time, command, `TERM`), then one line per output chunk, resize and
/// (if asked) input chunk, with times measured on a monotonic clock from
/// the start of the recording. Each batch of lines is flushed as soon as it
/// is written, so a recording cut short by a crash is valid up to its last
/// complete line (and [`repair_cast`](crate::repair_cast) removes a partial
/// one). The recording ends by itself when the child exits.
///
/// Recording never blocks the session's reader: lines are written by a
/// thread of the recording's own, fed through a buffer of
/// [`max_pending_bytes`](Self::max_pending_bytes). Nothing is ever dropped:
/// if the writer falls that far behind, the session holds the child's
/// output back until it catches up (see [`Transcript`](crate::Transcript)
/// for the details). A failing writer (a full disk, a closed pipe) ends the
/// recording with an error that [`Session::recording_status`] and
/// [`Session::stop_recording`] report; the session goes on.
///
/// # Files
///
/// As asciinema does, a file that exists and has content is refused with
/// [`Error::FileExists`](crate::Error::FileExists) unless
/// [`IfExists::Overwrite`] or [`IfExists::Append`] is asked for with
/// [`open`](Self::open); a file another recording or transcript of this
/// process is writing is refused with
/// [`Error::FileInUse`](crate::Error::FileInUse). The file is created (or
/// truncated) only when the recording starts, so a start that fails leaves
/// no file behind and changes none.
///
/// ```
/// use std::time::Duration;
/// use bgterm::{Recording, Session};
///
/// let path = std::env::temp_dir().join(format!("bgterm-doc-{}.cast", std::process::id()));
/// # let _ = std::fs::remove_file(&path); // (left by an earlier process with this pid)
/// let s = Session::start("read name; echo \"hello $name\"")?;
/// s.start_recording(Recording::create(&path)?.input(true))?;
/// s.send("world\n")?;
/// s.wait(Some(Duration::from_secs(10)))?;
/// let status = s.stop_recording()?;
/// assert!(status.events >= 2);
/// let cast = std::fs::read_to_string(&path)?;
/// assert!(cast.starts_with("{\"version\": 2,"));
/// assert!(cast.contains("\"i\", \"world\\n\""));
/// assert!(cast.contains("hello world"));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a recording does nothing until passed to start_recording"]
pub struct Recording {
    out: Out,
    target: String,
    input: bool,
    title: Option<String>,
    max_pending_bytes: usize,
}

impl fmt::Debug for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recording")
            .field("target", &self.target)
            .field("input", &self.input)
            .field("title", &self.title)
            .field("max_pending_bytes", &self.max_pending_bytes)
            .finish_non_exhaustive()
    }
}

/// Where a recording or transcript writes: a caller's writer, or a file
/// opened when the sink starts.
pub(crate) enum Out {
    Writer(Box<dyn Write + Send>),
    File(PathBuf, IfExists),
}

impl Recording {
    /// A recording to a new file at `path`, created when the recording
    /// starts. An existing file with content is refused (see
    /// [`open`](Self::open) to replace or extend one).
    ///
    /// # Errors
    ///
    /// [`Error::FileExists`](crate::Error::FileExists) naming the path if
    /// it exists and is not empty (checked again when the recording
    /// starts).
    pub fn create(path: impl AsRef<Path>) -> Result<Recording> {
        Recording::open(path, IfExists::Refuse)
    }

    /// A recording to the file at `path`, opened when the recording starts;
    /// `if_exists` says what happens to an existing file with content.
    /// Appending needs an asciicast v2 file: its events continue from the
    /// last one's time, so the file plays as one recording.
    ///
    /// # Errors
    ///
    /// [`Error::FileExists`](crate::Error::FileExists) for a file with
    /// content under [`IfExists::Refuse`]. When the recording starts:
    /// that again, [`Error::FileInUse`](crate::Error::FileInUse),
    /// [`Error::File`](crate::Error::File), or for an append
    /// [`Error::NotACast`](crate::Error::NotACast) if the file is not a
    /// whole asciicast v2 file.
    pub fn open(path: impl AsRef<Path>, if_exists: IfExists) -> Result<Recording> {
        let path = path.as_ref();
        file::check(path, if_exists)?;
        Ok(Recording::with_target(
            Out::File(path.to_path_buf(), if_exists),
            path.display().to_string(),
        ))
    }

    /// A recording to any writer (a socket, a pipe, a buffer). It is
    /// flushed after each batch of lines. A writer that blocks for good
    /// keeps the recording's thread (see
    /// [`Error::SinkStopTimedOut`](crate::Error::SinkStopTimedOut)), never
    /// the session.
    pub fn to_writer(writer: impl Write + Send + 'static) -> Recording {
        Recording::with_target(Out::Writer(Box::new(writer)), "writer".into())
    }

    fn with_target(out: Out, target: String) -> Recording {
        Recording {
            out,
            target,
            input: false,
            title: None,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
        }
    }

    /// Whether to record input as `"i"` events too.
    ///
    /// By default, only output and resizes are recorded.
    pub fn input(mut self, yes: bool) -> Recording {
        self.input = yes;
        self
    }

    /// A title for the header.
    ///
    /// By default, none.
    pub fn title(mut self, title: impl Into<String>) -> Recording {
        self.title = Some(title.into());
        self
    }

    /// Most bytes of events waiting to be written before the session holds
    /// the child's output back (the bound on the recording's memory, plus
    /// one event).
    ///
    /// By default, [`DEFAULT_MAX_PENDING_BYTES`](crate::DEFAULT_MAX_PENDING_BYTES) (1 MiB).
    pub fn max_pending_bytes(mut self, bytes: usize) -> Recording {
        self.max_pending_bytes = bytes;
        self
    }
}

/// Turns items into cast lines on the recording's thread.
struct CastWriter {
    out: Box<dyn Write + Send>,
    /// The header line; empty when appending to a cast that has one.
    header: String,
    /// Added to every event's time: the last event's time in the cast
    /// appended to, so the clock never goes back.
    offset: Duration,
    /// Incremental decoders: a character split across two chunks comes out
    /// whole in the later event, never as U+FFFD.
    output: TextDecoder,
    input: TextDecoder,
    last: Duration,
    line: String,
}

impl CastWriter {
    fn flush_lines(&mut self) -> io::Result<u64> {
        self.out.write_all(self.line.as_bytes())?;
        self.out.flush()?;
        let n = self.line.len() as u64;
        self.line.clear();
        Ok(n)
    }
}

impl SinkWriter for CastWriter {
    fn begin(&mut self) -> io::Result<u64> {
        self.line = std::mem::take(&mut self.header);
        self.flush_lines()
    }

    fn write(&mut self, items: &[Entry]) -> io::Result<u64> {
        for item in items {
            match item {
                Entry::Bytes { at, input, bytes } => {
                    let at = &(*at + self.offset);
                    self.last = *at;
                    let (decoder, code) = if *input {
                        (&mut self.input, Code::Input)
                    } else {
                        (&mut self.output, Code::Output)
                    };
                    let text = decoder.decode(bytes).unwrap_or_else(|bad| bad.text);
                    if !text.is_empty() {
                        cast::push_event(&mut self.line, *at, code, &text);
                    }
                }
                Entry::Resize { at, rows, cols } => {
                    let at = &(*at + self.offset);
                    self.last = *at;
                    cast::push_event(&mut self.line, *at, Code::Resize, &format!("{cols}x{rows}"));
                }
            }
        }
        self.flush_lines()
    }

    fn finish(&mut self) -> io::Result<u64> {
        // A character cut off by the end of the recording becomes U+FFFD.
        for (code, decoder) in [(Code::Output, &mut self.output), (Code::Input, &mut self.input)] {
            let text = decoder.break_stream();
            if !text.is_empty() {
                cast::push_event(&mut self.line, self.last, code, &text);
            }
        }
        self.flush_lines()
    }
}

impl Session {
    /// Starts recording this session as an asciicast v2 file (see
    /// [`Recording`]). The recording starts with the next event; output
    /// already buffered is not in it.
    ///
    /// # Errors
    ///
    /// [`Error::SinkActive`](crate::Error::SinkActive) if a recording is
    /// already attached (stop it first), [`Error::SessionClosed`](crate::Error::SessionClosed),
    /// or [`Error::Io`](crate::Error::Io) if its thread cannot be started.
    pub fn start_recording(&self, recording: Recording) -> Result<()> {
        let command = self.command().to_string();
        let term = self.term().map(str::to_string);
        let Recording {
            out,
            target,
            input,
            title,
            max_pending_bytes,
        } = recording;
        let open = |ending: &Arc<sink::Ending>| -> Result<_> {
            match out {
                Out::Writer(w) => Ok(((w, None), Vec::new())),
                Out::File(path, if_exists) => {
                    let opened = file::open(&path, if_exists, ending)?;
                    let offset = if opened.appending {
                        Some(cast::append_offset(&path)?)
                    } else {
                        None
                    };
                    Ok((
                        (Box::new(opened.file) as Box<dyn Write + Send>, offset),
                        vec![opened.undo],
                    ))
                }
            }
        };
        sink::attach(self, SinkKind::Recording, open, |g, (out, append_offset)| {
            let (rows, cols) = g.size();
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            // Appending: the cast has its header already.
            let header = match append_offset {
                Some(_) => String::new(),
                None => cast::header_line(cols, rows, timestamp, &command, title.as_deref(), term.as_deref()),
            };
            let encoding = g.encoding();
            let config = SinkConfig {
                kind: SinkKind::Recording,
                target,
                limit: max_pending_bytes,
                takes: Takes {
                    input,
                    resizes: true,
                    clock: Some(Instant::now()),
                },
                output_start: g.end(),
                output_end: g.end(),
                initial: Vec::new(),
            };
            let writer = CastWriter {
                out,
                header,
                offset: append_offset.unwrap_or(Duration::ZERO),
                output: TextDecoder::new(encoding, DecodeErrors::Replace),
                input: TextDecoder::new(encoding, DecodeErrors::Replace),
                last: Duration::ZERO,
                line: String::new(),
            };
            (config, Box::new(writer) as Box<dyn SinkWriter>)
        })
        .map(drop)
    }

    /// Stops the recording, waits until everything it took is written (at
    /// most [`SINK_STOP_WAIT`](crate::SINK_STOP_WAIT)), and returns its
    /// final status. Also collects a recording that already ended (the
    /// child exited, or writing failed).
    ///
    /// # Errors
    ///
    /// [`Error::SinkFailed`](crate::Error::SinkFailed) with the write error
    /// if writing failed (the file is valid up to the last complete line),
    /// [`Error::SinkStopTimedOut`](crate::Error::SinkStopTimedOut) if the
    /// writer is still writing when the wait is over (the recording has
    /// ended all the same),
    /// [`Error::NoSink`](crate::Error::NoSink) if there is no recording,
    /// [`Error::SessionClosed`](crate::Error::SessionClosed).
    pub fn stop_recording(&self) -> Result<SinkStatus> {
        sink::stop(self, SinkKind::Recording, sink::default_stop_deadline())
    }

    /// [`stop_recording`](Self::stop_recording) waiting for the writer
    /// until `deadline` (`None`: as long as it takes).
    ///
    /// # Errors
    ///
    /// As for [`stop_recording`](Self::stop_recording).
    pub fn stop_recording_deadline(&self, deadline: Option<Instant>) -> Result<SinkStatus> {
        sink::stop(self, SinkKind::Recording, deadline)
    }

    /// The recording's status without stopping it, or `None` if there is
    /// none. A failed recording shows its error here until it is stopped.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`](crate::Error::SessionClosed).
    pub fn recording_status(&self) -> Result<Option<SinkStatus>> {
        sink::status(self, SinkKind::Recording)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use std::time::Duration;

    fn writer() -> (CastWriter, Arc<parking_lot::Mutex<Vec<u8>>>) {
        #[derive(Clone)]
        struct Buf(Arc<parking_lot::Mutex<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let buf = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let w = CastWriter {
            out: Box::new(Buf(Arc::clone(&buf))),
            header: "{\"version\":2}\n".into(),
            offset: Duration::ZERO,
            output: TextDecoder::new(encoding_rs::UTF_8, DecodeErrors::Replace),
            input: TextDecoder::new(encoding_rs::UTF_8, DecodeErrors::Replace),
            last: Duration::ZERO,
            line: String::new(),
        };
        (w, buf)
    }

    fn bytes(ms: u64, b: &[u8]) -> Entry {
        Entry::Bytes {
            at: Duration::from_millis(ms),
            input: false,
            bytes: b.to_vec(),
        }
    }

    #[test]
    fn a_character_split_across_chunks_comes_out_whole() {
        let euro = "€".as_bytes();
        let (mut w, buf) = writer();
        w.begin().unwrap();
        w.write(&[bytes(1, &[b'a', euro[0]]), bytes(2, &euro[1..2])])
            .unwrap();
        w.write(&[bytes(3, &[euro[2], b'b'])]).unwrap();
        w.finish().unwrap();
        let text = String::from_utf8(buf.lock().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "{\"version\":2}",
                "[0.001000, \"o\", \"a\"]",
                "[0.003000, \"o\", \"€b\"]"
            ]
        );
    }

    #[test]
    fn a_trailing_partial_character_becomes_a_replacement_at_the_end() {
        let (mut w, buf) = writer();
        w.begin().unwrap();
        w.write(&[bytes(5, &[0xe2, 0x82])]).unwrap();
        w.finish().unwrap();
        let text = String::from_utf8(buf.lock().clone()).unwrap();
        assert!(text.ends_with("[0.005000, \"o\", \"\u{fffd}\"]\n"), "{text:?}");
    }
}
