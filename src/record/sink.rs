//! A sink: a session's events written somewhere by a thread of its own,
//! fed through a bounded buffer. Recordings and transcripts are sinks.
//!
//! ```text
//!  pump / caller ── tap (state lock held) ──▶ bounded queue ──▶ sink thread ──▶ Write
//!        ▲                                                          │
//!        └──────────── eventfd wake when the queue drains ──────────┘
//! ```
//!
//! Why a thread and a queue: a tap runs with the session's state lock held,
//! so it must never block; a file or a caller's writer can block for as long
//! as it likes. The tap only copies the event into the queue.
//!
//! Why the queue is bounded, and what happens when it is full: a sink is
//! lossless, so it may not drop events, and it may not grow without bound.
//! When the bytes waiting in the queue reach the limit the sink is
//! *backlogged*, and the pump stops reading the child's output (see
//! [`Tap::backlogged`]) until the sink thread catches up and wakes it. The
//! child then blocks on its own writes, as it would on a slow terminal. This
//! wait happens in the pump's `poll`, outside the state lock: callers,
//! input, close and other sinks are never held up. The queue can exceed the
//! limit by at most one event (an output event is at most one PTY read).
//!
//! Why a failing writer is not fatal: the thread records the error, drops
//! what is queued, ends the sink and wakes the pump, so the session and its
//! in-memory output go on. The caller reads the error from the sink's
//! status or when stopping it.
//!
//! Why a stalled writer holds nothing of the session's: a writer can block
//! in `write` for ever (a pipe nobody reads), and no thread can interrupt
//! it. So the sink's thread keeps only the queue and a *weak* waker of the
//! pump; the session's descriptors belong to its core, which close frees
//! whatever the writer does. Stopping a sink waits for its thread at most
//! until a deadline ([`SINK_STOP_WAIT`] by default), then abandons it with
//! [`Error::SinkStopTimedOut`]: the sink has ended, the session goes on,
//! and the thread finishes by itself if the writer ever returns. Nothing
//! else of ours waits on a writer: a closing session only ends its sinks.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::engine::core::Guard;
use crate::engine::tap::{Event, Tap};
use crate::error::{Error, Result};
use crate::id::{SessionId, SinkKind};
use crate::limits::SINK_STOP_WAIT;
use crate::record::file::Undo;
use crate::session::handle::{Session, deadline_after};
use crate::sys::fd::{self, EventFd, PollFd};

/// The state of a recording or transcript.
///
/// Returned by the `*_status` calls while it runs and by the `stop_*` calls
/// when it ends.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SinkStatus {
    /// Which sink this is.
    pub kind: SinkKind,
    /// Where it writes: the file path, or `"writer"`.
    pub target: String,
    /// Whether it still takes events. It stops when asked, when the child
    /// exits (recordings), when the session closes, or when writing fails.
    pub active: bool,
    /// Events taken so far (output chunks, input chunks, resizes).
    pub events: u64,
    /// Bytes written to the target so far.
    pub bytes_written: u64,
    /// Bytes of events taken but not yet written.
    pub pending_bytes: usize,
    /// Absolute output offset of the first output byte it covers.
    pub output_start: u64,
    /// Absolute output offset one past the last output byte it took.
    pub output_end: u64,
    /// Why writing failed, if it did. The sink ended then; the session
    /// went on.
    pub error: Option<Arc<io::Error>>,
}

/// One event copied out of the session for a sink's thread.
#[derive(Debug)]
pub(crate) enum Entry {
    /// Output (or input) bytes, `at` after the sink started.
    Bytes {
        at: Duration,
        input: bool,
        bytes: Vec<u8>,
    },
    /// The terminal was resized.
    Resize { at: Duration, rows: u16, cols: u16 },
}

impl Entry {
    fn weight(&self) -> usize {
        match self {
            Entry::Bytes { bytes, .. } => bytes.len(),
            Entry::Resize { .. } => 16,
        }
    }
}

/// Writes items on the sink's thread.
pub(crate) trait SinkWriter: Send + 'static {
    /// Called once before any item (headers). Returns bytes written.
    fn begin(&mut self) -> io::Result<u64>;
    /// Writes a batch of items in order and flushes. Returns bytes written.
    fn write(&mut self, items: &[Entry]) -> io::Result<u64>;
    /// Called once after the last item, unless writing failed.
    fn finish(&mut self) -> io::Result<u64>;
}

#[derive(Debug)]
struct Queue {
    items: VecDeque<Entry>,
    /// Weight of the items queued or being written.
    pending: usize,
    /// No more items will be taken.
    ended: bool,
    events: u64,
    bytes_written: u64,
    output_start: u64,
    output_end: u64,
    error: Option<Arc<io::Error>>,
    /// The sink's thread has returned (or unwound).
    finished: bool,
}

struct Sink {
    kind: SinkKind,
    target: String,
    limit: usize,
    queue: Mutex<Queue>,
    /// Notified when items arrive or the sink ends.
    more: Condvar,
    /// Notified when the thread finishes.
    done: Condvar,
    /// Wakes the session's pump (it may be holding output back for us).
    wake_pump: Box<dyn Fn() + Send + Sync>,
    /// Tells the sink's own files that it ended (see [`Ending`]).
    ending: Arc<Ending>,
}

impl Sink {
    fn end(&self) {
        self.queue.lock().ended = true;
        self.more.notify_all();
        self.ending.end();
    }

    fn status(&self) -> SinkStatus {
        let q = self.queue.lock();
        SinkStatus {
            kind: self.kind,
            target: self.target.clone(),
            active: !q.ended,
            events: q.events,
            bytes_written: q.bytes_written,
            pending_bytes: q.pending,
            output_start: q.output_start,
            output_end: q.output_end,
            error: q.error.clone(),
        }
    }
}

/// How the files a sink opened itself learn that it ended, so that none of
/// our threads waits for ever on a reader that stopped reading.
///
/// A regular file takes every write at once. A FIFO (or socket) whose
/// reader stops would block a plain `write` for good, so such files are
/// written without blocking, waiting for room in `poll` together with this
/// eventfd. While the sink runs the wait is as long as the reader needs
/// (the sink's backpressure holds the child meanwhile); once the sink has
/// ended (stopped, its session closed, its child exited) a reader that
/// takes nothing for [`SINK_STOP_WAIT`] ends the write with an error, and
/// the thread finishes.
#[derive(Debug, Default)]
pub(crate) struct Ending {
    /// Made only for a sink that has such a file: a sink whose (caller's)
    /// writer blocks for good keeps its `Ending`, and should keep no
    /// descriptor with it.
    fd: OnceLock<EventFd>,
    at: Mutex<Option<Instant>>,
}

impl Ending {
    /// Readies the wake-up for a file that is written without blocking.
    pub(crate) fn arm(&self) -> io::Result<()> {
        if self.fd.get().is_none() {
            let _ = self.fd.set(EventFd::new()?);
        }
        Ok(())
    }

    /// The sink ended now (the first call counts).
    fn end(&self) {
        self.at.lock().get_or_insert_with(Instant::now);
        if let Some(fd) = self.fd.get() {
            fd.signal();
        }
    }

    /// Waits until `file` can take a write. `progress` is when it last took
    /// one: after the sink ended, [`SINK_STOP_WAIT`] without progress is an
    /// error.
    pub(crate) fn wait_writable(
        &self,
        file: std::os::fd::BorrowedFd<'_>,
        progress: Instant,
    ) -> io::Result<()> {
        loop {
            let deadline = (*self.at.lock()).map(|ended| ended.max(progress) + SINK_STOP_WAIT);
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the reader took nothing for SINK_STOP_WAIT after the sink ended",
                ));
            }
            let wake = self
                .fd
                .get()
                .ok_or_else(|| io::Error::other("the sink's wake-up was not armed"))?;
            let mut fds = [PollFd::new(file, true), PollFd::new(wake.fd(), false)];
            fd::poll(&mut fds, deadline.map(|d| d - now))?;
            if fds[1].readable() {
                // Ended: from now on the wait has a deadline.
                wake.clear();
            }
            if fds[0].writable() {
                return Ok(());
            }
        }
    }
}

/// Which events a sink takes besides output, and its clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Takes {
    /// Input events too.
    pub(crate) input: bool,
    /// Resize events too.
    pub(crate) resizes: bool,
    /// Entries are timed from here (`None`: untimed, all at zero).
    pub(crate) clock: Option<Instant>,
}

/// The tap half of a sink: copies the events it takes into the queue. The
/// sink ends when the child exits.
pub(crate) struct SinkTap {
    sink: Arc<Sink>,
    takes: Takes,
}

impl SinkTap {
    /// The entry for `event`: `Ok(None)` to skip it, `Err(())` to end.
    fn entry(&self, event: &Event<'_>) -> Result<Option<Entry>, ()> {
        let at = self.takes.clock.map_or(Duration::ZERO, |c| c.elapsed());
        Ok(Some(match *event {
            Event::Output { bytes, .. } => Entry::Bytes {
                at,
                input: false,
                bytes: bytes.to_vec(),
            },
            Event::Input { bytes } if self.takes.input => Entry::Bytes {
                at,
                input: true,
                bytes: bytes.to_vec(),
            },
            Event::Resize { rows, cols } if self.takes.resizes => Entry::Resize { at, rows, cols },
            // Every output byte is taken; the ring's drops do not matter.
            Event::Input { .. } | Event::Resize { .. } | Event::Dropped { .. } => return Ok(None),
            Event::Exit { .. } => return Err(()),
        }))
    }
}

impl Tap for SinkTap {
    fn event(&mut self, event: &Event<'_>) -> bool {
        if self.sink.queue.lock().ended {
            return false;
        }
        let item = match self.entry(event) {
            Ok(Some(item)) => item,
            Ok(None) => return true,
            Err(()) => return false, // dropping the tap ends the sink
        };
        let mut q = self.sink.queue.lock();
        if let Event::Output { offset, bytes } = event {
            q.output_end = offset + bytes.len() as u64;
        }
        q.events += 1;
        q.pending += item.weight();
        q.items.push_back(item);
        drop(q);
        self.sink.more.notify_one();
        true
    }

    fn backlogged(&self) -> bool {
        let q = self.sink.queue.lock();
        !q.ended && q.pending >= self.sink.limit
    }
}

impl Drop for SinkTap {
    fn drop(&mut self) {
        // Removed from the session (ended, child exited, session dropped):
        // let the thread write what is queued and finish.
        self.sink.end();
    }
}

/// The control half of a sink, kept in the session's state.
pub(crate) struct SinkHandle {
    sink: Arc<Sink>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for SinkHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SinkHandle({} to {})", self.sink.kind, self.sink.target)
    }
}

impl SinkHandle {
    pub(crate) fn status(&self) -> SinkStatus {
        self.sink.status()
    }

    /// Ends the sink, waits (until `deadline`, `None`: no limit) for its
    /// thread to write what is queued, and reports. Call without the
    /// session's state lock (the thread may take as long as the writer
    /// does).
    pub(crate) fn stop(mut self, id: SessionId, deadline: Option<Instant>) -> Result<SinkStatus> {
        let started = Instant::now();
        self.sink.end();
        // The pump may be holding output back for this sink.
        (self.sink.wake_pump)();
        let finished = {
            let mut q = self.sink.queue.lock();
            while !q.finished {
                match deadline {
                    Some(d) => {
                        if self.sink.done.wait_until(&mut q, d).timed_out() {
                            break;
                        }
                    }
                    None => self.sink.done.wait(&mut q),
                }
            }
            q.finished
        };
        if !finished {
            // The writer is stuck; the thread is left to finish on its own
            // (dropping the handle detaches it).
            let status = self.sink.status();
            return Err(Error::SinkStopTimedOut {
                id,
                kind: status.kind,
                target: status.target,
                waited: started.elapsed(),
            });
        }
        if let Some(t) = self.thread.take() {
            // The thread has finished: this join does not wait. A writer's
            // panic (not caught; it only ends that thread) reads as an error.
            if t.join().is_err() {
                let mut q = self.sink.queue.lock();
                q.error
                    .get_or_insert_with(|| Arc::new(io::Error::other("the writer panicked")));
            }
        }
        let status = self.sink.status();
        match &status.error {
            Some(e) => Err(Error::SinkFailed {
                id,
                kind: status.kind,
                target: status.target.clone(),
                source: Arc::clone(e),
            }),
            None => Ok(status),
        }
    }
}

impl Drop for SinkHandle {
    fn drop(&mut self) {
        // The session went away without a stop: the thread finishes writing
        // what is queued on its own. Never join here: a writer may block
        // for as long as it likes.
        self.sink.end();
    }
}

/// What starting a sink needs besides the writer.
pub(crate) struct SinkConfig {
    pub(crate) kind: SinkKind,
    pub(crate) target: String,
    /// Most bytes queued before the sink is backlogged (at least 1).
    pub(crate) limit: usize,
    pub(crate) takes: Takes,
    /// Absolute offset of the first output byte the sink covers.
    pub(crate) output_start: u64,
    /// Absolute offset one past the output in `initial` (= `output_start`
    /// if there is none).
    pub(crate) output_end: u64,
    /// Entries to write before any event (a transcript's backfill).
    pub(crate) initial: Vec<Entry>,
}

/// Starts a sink's thread; returns the tap to add and the handle to keep.
/// `wake_pump` must not block and must not take the session's state lock.
pub(crate) fn start(
    config: SinkConfig,
    writer: Box<dyn SinkWriter>,
    wake_pump: Box<dyn Fn() + Send + Sync>,
    ending: Arc<Ending>,
) -> io::Result<(SinkTap, SinkHandle)> {
    let pending = config.initial.iter().map(Entry::weight).sum();
    let sink = Arc::new(Sink {
        kind: config.kind,
        target: config.target,
        limit: config.limit.max(1),
        queue: Mutex::new(Queue {
            items: config.initial.into(),
            pending,
            ended: false,
            events: 0,
            bytes_written: 0,
            output_start: config.output_start,
            output_end: config.output_end,
            error: None,
            finished: false,
        }),
        more: Condvar::new(),
        done: Condvar::new(),
        wake_pump,
        ending,
    });
    let for_thread = Arc::clone(&sink);
    let thread = std::thread::Builder::new()
        .name(format!("bgterm-{}", config.kind))
        .stack_size(256 * 1024)
        .spawn(move || {
            // Set however the thread ends, a writer's panic included.
            struct Finished(Arc<Sink>);
            impl Drop for Finished {
                fn drop(&mut self) {
                    self.0.queue.lock().finished = true;
                    self.0.done.notify_all();
                }
            }
            let finished = Finished(for_thread);
            // The writer (and a file's claim) is dropped before `finished`.
            write_until_ended(&finished.0, writer);
        })?;
    Ok((
        SinkTap {
            sink: Arc::clone(&sink),
            takes: config.takes,
        },
        SinkHandle {
            sink,
            thread: Some(thread),
        },
    ))
}

/// The sinks of one session, at most one per kind (a session extension).
#[derive(Default)]
struct Sinks {
    recording: Mutex<Option<SinkHandle>>,
    transcript: Mutex<Option<SinkHandle>>,
}

impl Sinks {
    fn of(session: &Session) -> Arc<Sinks> {
        session.extension(Sinks::default)
    }

    fn slot(&self, kind: SinkKind) -> &Mutex<Option<SinkHandle>> {
        match kind {
            SinkKind::Recording => &self.recording,
            SinkKind::Transcript => &self.transcript,
        }
    }
}

/// Attaches a sink of `make`'s kind to `session`. `open` runs first, once
/// nothing else can refuse the start but a close racing it (it opens the
/// sink's files, without the state lock: opening a FIFO may block); then
/// `make` sees the locked state (so no event slips between what it reads
/// and the tap) and returns the sink's configuration and writer. Returns
/// where the sink starts. A file `open` created is removed if the start
/// fails after all.
///
/// # Errors
///
/// [`Error::SinkActive`] if the session has a sink of that kind,
/// [`Error::SessionClosed`], what `open` returns, or [`Error::Io`] if its
/// thread cannot start.
pub(crate) fn attach<O>(
    session: &Session,
    kind: SinkKind,
    open: impl FnOnce(&Arc<Ending>) -> Result<(O, Vec<Undo>)>,
    make: impl FnOnce(&Guard<'_>, O) -> (SinkConfig, Box<dyn SinkWriter>),
) -> Result<u64> {
    let sinks = Sinks::of(session);
    let mut slot = sinks.slot(kind).lock();
    let id = session.id();
    if slot.is_some() {
        return Err(Error::SinkActive { id, kind });
    }
    // The pump may hold output back for a sink; the sink wakes it through
    // this, which keeps no session alive and takes no lock.
    let waker = session.core()?.waker();
    let io_err = |source| Error::Io {
        id,
        op: match kind {
            SinkKind::Recording => "starting the recording thread",
            SinkKind::Transcript => "starting the transcript thread",
        },
        source,
    };
    let ending = Arc::new(Ending::default());
    let (opened, undo) = open(&ending)?;
    let started = session.with_state(|g| {
        let (config, writer) = make(g, opened);
        let output_start = config.output_start;
        let (tap, handle) = start(config, writer, Box::new(move || waker.wake()), ending).map_err(io_err)?;
        g.add_tap(Box::new(tap));
        *slot = Some(handle);
        Ok(output_start)
    })?;
    undo.into_iter().for_each(Undo::disarm);
    Ok(started)
}

/// Detaches `session`'s sink of `kind`, waits until `deadline` for it to
/// finish, reports.
pub(crate) fn stop(session: &Session, kind: SinkKind, deadline: Option<Instant>) -> Result<SinkStatus> {
    session.core()?;
    let handle = Sinks::of(session).slot(kind).lock().take().ok_or(Error::NoSink {
        id: session.id(),
        kind,
    })?;
    // No lock is held: the wait for the thread holds nobody up.
    handle.stop(session.id(), deadline)
}

/// The deadline of a plain `stop_*`: [`SINK_STOP_WAIT`] from now.
pub(crate) fn default_stop_deadline() -> Option<Instant> {
    deadline_after(Some(SINK_STOP_WAIT))
}

/// The status of `session`'s sink of `kind`, if it has one.
pub(crate) fn status(session: &Session, kind: SinkKind) -> Result<Option<SinkStatus>> {
    session.core()?;
    Ok(Sinks::of(session)
        .slot(kind)
        .lock()
        .as_ref()
        .map(SinkHandle::status))
}

/// The sink thread: writes batches until the sink ends and is drained.
fn write_until_ended(sink: &Sink, mut writer: Box<dyn SinkWriter>) {
    let fail = |e: io::Error| {
        let mut q = sink.queue.lock();
        q.error = Some(Arc::new(e));
        q.ended = true;
        q.items.clear();
        q.pending = 0;
        drop(q);
        // The pump may be holding output back for us: let it go on.
        (sink.wake_pump)();
    };
    match writer.begin() {
        Ok(n) => sink.queue.lock().bytes_written += n,
        Err(e) => return fail(e),
    }
    let mut batch: Vec<Entry> = Vec::new();
    loop {
        {
            let mut q = sink.queue.lock();
            while q.items.is_empty() && !q.ended {
                sink.more.wait(&mut q);
            }
            if q.items.is_empty() {
                break; // ended and drained
            }
            batch.extend(q.items.drain(..));
        }
        let weight: usize = batch.iter().map(Entry::weight).sum();
        match writer.write(&batch) {
            Ok(n) => {
                let mut q = sink.queue.lock();
                let was_backlogged = q.pending >= sink.limit;
                q.bytes_written += n;
                q.pending -= weight;
                drop(q);
                if was_backlogged {
                    (sink.wake_pump)();
                }
            }
            Err(e) => return fail(e),
        }
        batch.clear();
    }
    match writer.finish() {
        Ok(n) => sink.queue.lock().bytes_written += n,
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Collects bytes; fails once `fail_after` bytes were written.
    struct Collect {
        out: Arc<Mutex<Vec<u8>>>,
        fail_after: usize,
        gate: Gate,
    }

    impl SinkWriter for Collect {
        fn begin(&mut self) -> io::Result<u64> {
            Ok(0)
        }
        fn write(&mut self, items: &[Entry]) -> io::Result<u64> {
            // Blocks while the gate is closed, like a slow disk.
            let (open, cv) = &*self.gate;
            let mut open = open.lock();
            while !*open {
                cv.wait(&mut open);
            }
            let mut out = self.out.lock();
            let mut n = 0;
            for item in items {
                if let Entry::Bytes { bytes, .. } = item {
                    if out.len() + bytes.len() > self.fail_after {
                        return Err(io::Error::new(io::ErrorKind::StorageFull, "full"));
                    }
                    out.extend_from_slice(bytes);
                    n += bytes.len() as u64;
                }
            }
            Ok(n)
        }
        fn finish(&mut self) -> io::Result<u64> {
            Ok(0)
        }
    }

    fn output(offset: u64, bytes: &[u8]) -> Event<'_> {
        Event::Output { offset, bytes }
    }

    type Gate = Arc<(Mutex<bool>, Condvar)>;
    type Parts = (SinkTap, SinkHandle, Arc<Mutex<Vec<u8>>>, Gate, Arc<AtomicUsize>);

    fn sink(limit: usize, fail_after: usize, gate_open: bool) -> Parts {
        let out = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new((Mutex::new(gate_open), Condvar::new()));
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&wakes);
        let (feeder, handle) = start(
            SinkConfig {
                kind: SinkKind::Transcript,
                target: "test".into(),
                limit,
                takes: Takes {
                    input: false,
                    resizes: false,
                    clock: None,
                },
                output_start: 0,
                output_end: 0,
                initial: Vec::new(),
            },
            Box::new(Collect {
                out: Arc::clone(&out),
                fail_after,
                gate: Arc::clone(&gate),
            }),
            Box::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            }),
            Arc::new(Ending::default()),
        )
        .unwrap();
        (feeder, handle, out, gate, wakes)
    }

    #[test]
    fn writes_everything_in_order_then_reports() {
        let (mut f, h, out, _, _) = sink(1 << 20, usize::MAX, true);
        assert!(f.event(&output(0, b"hello ")));
        assert!(f.event(&output(6, b"world")));
        let status = h.stop(SessionId::from_u64(1), None).unwrap();
        assert_eq!(&out.lock()[..], b"hello world");
        assert_eq!(
            (status.events, status.bytes_written, status.output_end),
            (2, 11, 11)
        );
        assert!(!status.active);
        // The ended sink asks to be removed from the session.
        assert!(!f.event(&output(11, b"late")));
    }

    #[test]
    fn backlog_is_reported_until_the_writer_catches_up() {
        let (mut f, h, out, gate, wakes) = sink(8, usize::MAX, false);
        assert!(!f.backlogged());
        f.event(&output(0, b"12345"));
        assert!(!f.backlogged());
        f.event(&output(5, b"6789")); // 9 >= 8: the pump must hold output
        assert!(f.backlogged());
        // Open the gate: the writer drains the queue and wakes the pump.
        *gate.0.lock() = true;
        gate.1.notify_all();
        let status = h.stop(SessionId::from_u64(1), None).unwrap();
        assert_eq!(&out.lock()[..], b"123456789");
        assert_eq!(status.pending_bytes, 0);
        assert!(!f.backlogged());
        assert!(wakes.load(Ordering::SeqCst) >= 1);
    }

    #[test]
    fn a_failing_writer_ends_the_sink_with_its_error_and_wakes_the_pump() {
        let (mut f, h, _out, _, wakes) = sink(1 << 20, 4, true);
        f.event(&output(0, b"too long"));
        let err = h.stop(SessionId::from_u64(7), None).unwrap_err();
        match &err {
            Error::SinkFailed { id, kind, source, .. } => {
                assert_eq!((id.get(), *kind), (7, SinkKind::Transcript));
                assert_eq!(source.kind(), io::ErrorKind::StorageFull);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("transcript"), "{err}");
        assert!(wakes.load(Ordering::SeqCst) >= 1);
        assert!(!f.backlogged());
        assert!(!f.event(&output(8, b"x")), "a failed sink asks to be removed");
    }

    #[test]
    fn a_stop_gives_up_on_a_stuck_writer_at_its_deadline() {
        let (mut f, h, out, gate, wakes) = sink(8, usize::MAX, false);
        f.event(&output(0, b"123456789")); // backlogged, and the writer is stuck
        assert!(f.backlogged());
        let t0 = Instant::now();
        let err = h
            .stop(SessionId::from_u64(5), Some(t0 + Duration::from_millis(50)))
            .unwrap_err();
        assert!(t0.elapsed() >= Duration::from_millis(50));
        match err {
            Error::SinkStopTimedOut { id, kind, target, .. } => {
                assert_eq!(
                    (id.get(), kind, target.as_str()),
                    (5, SinkKind::Transcript, "test")
                )
            }
            other => panic!("{other:?}"),
        }
        // Ended all the same: the pump was woken and is held no more.
        assert!(!f.backlogged());
        assert!(wakes.load(Ordering::SeqCst) >= 1);
        assert!(!f.event(&output(9, b"late")));
        // Let the abandoned thread finish.
        *gate.0.lock() = true;
        gate.1.notify_all();
        drop(out);
    }

    #[test]
    fn dropping_the_feeder_ends_the_sink() {
        let (f, h, out, _, _) = sink(1 << 20, usize::MAX, true);
        let mut f = f;
        f.event(&output(0, b"abc"));
        drop(f);
        let status = h.stop(SessionId::from_u64(1), None).unwrap();
        assert_eq!(&out.lock()[..], b"abc");
        assert_eq!(status.events, 1);
    }
}
