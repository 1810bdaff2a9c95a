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

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::engine::state::{Shared, State};
use crate::engine::tap::{Event, Tap};
use crate::{Error, Result, Session, SessionId};

/// Default for the `max_pending_bytes` of recordings and transcripts: 1 MiB
/// of events waiting to be written before the child's output is held back.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 1 << 20;

/// Which kind of sink: a session has at most one of each at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SinkKind {
    /// An asciicast recording ([`Recording`](crate::Recording)).
    Recording,
    /// A lossless transcript ([`Transcript`](crate::Transcript)).
    Transcript,
}

impl fmt::Display for SinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SinkKind::Recording => "recording",
            SinkKind::Transcript => "transcript",
        })
    }
}

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

/// One event copied out of the session for a sink thread.
#[derive(Debug)]
pub(crate) enum Item {
    /// Output (or input) bytes, `at` after the sink started.
    Bytes {
        at: Duration,
        input: bool,
        bytes: Vec<u8>,
    },
    /// The terminal was resized.
    Resize { at: Duration, rows: u16, cols: u16 },
}

impl Item {
    fn weight(&self) -> usize {
        match self {
            Item::Bytes { bytes, .. } => bytes.len(),
            Item::Resize { .. } => 16,
        }
    }
}

/// Writes items on the sink's thread.
pub(crate) trait SinkWriter: Send + 'static {
    /// Called once before any item (headers). Returns bytes written.
    fn begin(&mut self) -> io::Result<u64>;
    /// Writes a batch of items in order and flushes. Returns bytes written.
    fn write(&mut self, items: &[Item]) -> io::Result<u64>;
    /// Called once after the last item, unless writing failed.
    fn finish(&mut self) -> io::Result<u64>;
}

#[derive(Debug)]
struct Queue {
    items: VecDeque<Item>,
    /// Weight of the items queued or being written.
    pending: usize,
    /// No more items will be taken.
    ended: bool,
    events: u64,
    bytes_written: u64,
    output_start: u64,
    output_end: u64,
    error: Option<Arc<io::Error>>,
}

struct Spool {
    kind: SinkKind,
    target: String,
    limit: usize,
    queue: Mutex<Queue>,
    /// Notified when items arrive or the sink ends.
    more: Condvar,
    /// Wakes the session's pump (it may be holding output back for us).
    wake_pump: Box<dyn Fn() + Send + Sync>,
}

impl Spool {
    fn end(&self) {
        self.queue.lock().ended = true;
        self.more.notify_all();
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

/// The tap half of a sink: turns events into queued items.
pub(crate) struct Feeder {
    spool: Arc<Spool>,
    map: MapFn,
}

/// What a sink makes of one event.
pub(crate) enum Mapped {
    /// Queue this item.
    Item(Item),
    /// Nothing to write for this event.
    Skip,
    /// End the sink (a recording ends when the child exits).
    End,
}

/// Turns events into items, under the state lock: copy, never block.
pub(crate) type MapFn = Box<dyn FnMut(&Event<'_>) -> Mapped + Send>;

impl Tap for Feeder {
    fn event(&mut self, event: &Event<'_>) -> bool {
        if self.spool.queue.lock().ended {
            return false;
        }
        let item = match (self.map)(event) {
            Mapped::Item(item) => item,
            Mapped::Skip => return true,
            Mapped::End => return false, // dropping the feeder ends the sink
        };
        let mut q = self.spool.queue.lock();
        if let Event::Output { offset, bytes } = event {
            q.output_end = offset + bytes.len() as u64;
        }
        q.events += 1;
        q.pending += item.weight();
        q.items.push_back(item);
        drop(q);
        self.spool.more.notify_one();
        true
    }

    fn backlogged(&self) -> bool {
        let q = self.spool.queue.lock();
        !q.ended && q.pending >= self.spool.limit
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        // Removed from the session (ended, child exited, session dropped):
        // let the thread write what is queued and finish.
        self.spool.end();
    }
}

/// The control half of a sink, kept in the session's state.
pub(crate) struct SinkHandle {
    spool: Arc<Spool>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for SinkHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SinkHandle({} to {})", self.spool.kind, self.spool.target)
    }
}

impl SinkHandle {
    pub(crate) fn status(&self) -> SinkStatus {
        self.spool.status()
    }

    /// Ends the sink, waits for its thread to write what is queued, and
    /// reports. Call without the session's state lock (the thread may take
    /// as long as the writer does), after waking the pump.
    pub(crate) fn stop(mut self, id: SessionId) -> Result<SinkStatus> {
        self.spool.end();
        // The pump may be holding output back for this sink.
        (self.spool.wake_pump)();
        if let Some(t) = self.thread.take() {
            // The thread does not panic (writers' panics are not caught,
            // but they only end that thread); a panic reads as an error.
            if t.join().is_err() {
                let mut q = self.spool.queue.lock();
                q.error
                    .get_or_insert_with(|| Arc::new(io::Error::other("the writer panicked")));
            }
        }
        let status = self.spool.status();
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
        // The session closed (or the handle was replaced) without a stop:
        // the thread finishes writing what is queued on its own. Never join
        // here: this can run on the sink thread itself (see `start`).
        self.spool.end();
    }
}

/// The sinks of one session, at most one per kind.
#[derive(Debug, Default)]
pub(crate) struct Sinks {
    recording: Option<SinkHandle>,
    transcript: Option<SinkHandle>,
}

impl Sinks {
    pub(crate) fn slot(&mut self, kind: SinkKind) -> &mut Option<SinkHandle> {
        match kind {
            SinkKind::Recording => &mut self.recording,
            SinkKind::Transcript => &mut self.transcript,
        }
    }
}

/// What starting a sink needs besides the writer.
pub(crate) struct SinkSpec {
    pub kind: SinkKind,
    pub target: String,
    pub limit: usize,
    /// Absolute offset of the first output byte the sink covers.
    pub output_start: u64,
    /// Absolute offset one past the output in `initial` (= `output_start`
    /// if there is none).
    pub output_end: u64,
    /// Items to write before any event (a transcript's backfill).
    pub initial: Vec<Item>,
}

/// Starts a sink's thread; returns the tap to add and the handle to keep.
/// `wake_pump` must not block and must not take the session's state lock.
pub(crate) fn start(
    spec: SinkSpec,
    writer: Box<dyn SinkWriter>,
    map: MapFn,
    wake_pump: Box<dyn Fn() + Send + Sync>,
) -> io::Result<(Feeder, SinkHandle)> {
    let pending = spec.initial.iter().map(Item::weight).sum();
    let spool = Arc::new(Spool {
        kind: spec.kind,
        target: spec.target,
        limit: spec.limit.max(1),
        queue: Mutex::new(Queue {
            items: spec.initial.into(),
            pending,
            ended: false,
            events: 0,
            bytes_written: 0,
            output_start: spec.output_start,
            output_end: spec.output_end,
            error: None,
        }),
        more: Condvar::new(),
        wake_pump,
    });
    let for_thread = Arc::clone(&spool);
    let thread = std::thread::Builder::new()
        .name(format!("bgterm-{}", spec.kind))
        .stack_size(256 * 1024)
        .spawn(move || run(&for_thread, writer))?;
    Ok((
        Feeder {
            spool: Arc::clone(&spool),
            map,
        },
        SinkHandle {
            spool,
            thread: Some(thread),
        },
    ))
}

/// Fails with [`Error::SinkActive`] if `st` already has a sink of `kind`.
pub(crate) fn check_free(id: SessionId, st: &mut State, kind: SinkKind) -> Result<()> {
    match st.sinks.slot(kind) {
        Some(_) => Err(Error::SinkActive { id, kind }),
        None => Ok(()),
    }
}

/// Starts a sink on a session whose state lock the caller holds (so no
/// event slips between the caller's snapshot and the tap), after
/// [`check_free`].
pub(crate) fn attach(
    shared: &Arc<Shared>,
    st: &mut State,
    spec: SinkSpec,
    writer: Box<dyn SinkWriter>,
    map: MapFn,
) -> io::Result<()> {
    let kind = spec.kind;
    // Weak: the sink thread must not keep a closed session's descriptors
    // alive. Signalling the eventfd takes no lock.
    let weak = Arc::downgrade(shared);
    let wake: Box<dyn Fn() + Send + Sync> = Box::new(move || {
        if let Some(s) = weak.upgrade() {
            s.wake.signal();
        }
    });
    let (feeder, handle) = start(spec, writer, map, wake)?;
    st.taps.add(Box::new(feeder));
    *st.sinks.slot(kind) = Some(handle);
    Ok(())
}

/// Detaches `session`'s sink of `kind`, waits for it to finish, reports.
pub(crate) fn stop(session: &Session, kind: SinkKind) -> Result<SinkStatus> {
    let shared = session.shared()?;
    let handle = shared.lock_open()?.sinks.slot(kind).take().ok_or(Error::NoSink {
        id: session.id(),
        kind,
    })?;
    // The state lock is released: the wait for the thread holds nobody up.
    handle.stop(session.id())
}

/// The status of `session`'s sink of `kind`, if it has one.
pub(crate) fn status(session: &Session, kind: SinkKind) -> Result<Option<SinkStatus>> {
    let shared = session.shared()?;
    let mut st = shared.lock_open()?;
    Ok(st.sinks.slot(kind).as_ref().map(SinkHandle::status))
}

/// The sink thread: writes batches until the sink ends and is drained.
fn run(spool: &Spool, mut writer: Box<dyn SinkWriter>) {
    let fail = |e: io::Error| {
        let mut q = spool.queue.lock();
        q.error = Some(Arc::new(e));
        q.ended = true;
        q.items.clear();
        q.pending = 0;
        drop(q);
        // The pump may be holding output back for us: let it go on.
        (spool.wake_pump)();
    };
    match writer.begin() {
        Ok(n) => spool.queue.lock().bytes_written += n,
        Err(e) => return fail(e),
    }
    let mut batch: Vec<Item> = Vec::new();
    loop {
        {
            let mut q = spool.queue.lock();
            while q.items.is_empty() && !q.ended {
                spool.more.wait(&mut q);
            }
            if q.items.is_empty() {
                break; // ended and drained
            }
            batch.extend(q.items.drain(..));
        }
        let weight: usize = batch.iter().map(Item::weight).sum();
        match writer.write(&batch) {
            Ok(n) => {
                let mut q = spool.queue.lock();
                let was_backlogged = q.pending >= spool.limit;
                q.bytes_written += n;
                q.pending -= weight;
                drop(q);
                if was_backlogged {
                    (spool.wake_pump)();
                }
            }
            Err(e) => return fail(e),
        }
        batch.clear();
    }
    match writer.finish() {
        Ok(n) => spool.queue.lock().bytes_written += n,
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
        fn write(&mut self, items: &[Item]) -> io::Result<u64> {
            // Blocks while the gate is closed, like a slow disk.
            let (open, cv) = &*self.gate;
            let mut open = open.lock();
            while !*open {
                cv.wait(&mut open);
            }
            let mut out = self.out.lock();
            let mut n = 0;
            for item in items {
                if let Item::Bytes { bytes, .. } = item {
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
    type Parts = (Feeder, SinkHandle, Arc<Mutex<Vec<u8>>>, Gate, Arc<AtomicUsize>);

    fn sink(limit: usize, fail_after: usize, gate_open: bool) -> Parts {
        let out = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new((Mutex::new(gate_open), Condvar::new()));
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&wakes);
        let (feeder, handle) = start(
            SinkSpec {
                kind: SinkKind::Transcript,
                target: "test".into(),
                limit,
                output_start: 0,
                output_end: 0,
                initial: Vec::new(),
            },
            Box::new(Collect {
                out: Arc::clone(&out),
                fail_after,
                gate: Arc::clone(&gate),
            }),
            Box::new(|e| match e {
                Event::Output { bytes, .. } => Mapped::Item(Item::Bytes {
                    at: Duration::ZERO,
                    input: false,
                    bytes: bytes.to_vec(),
                }),
                _ => Mapped::Skip,
            }),
            Box::new(move || {
                w.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
        (feeder, handle, out, gate, wakes)
    }

    #[test]
    fn writes_everything_in_order_then_reports() {
        let (mut f, h, out, _, _) = sink(1 << 20, usize::MAX, true);
        assert!(f.event(&output(0, b"hello ")));
        assert!(f.event(&output(6, b"world")));
        let status = h.stop(SessionId::from_u64(1)).unwrap();
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
        let status = h.stop(SessionId::from_u64(1)).unwrap();
        assert_eq!(&out.lock()[..], b"123456789");
        assert_eq!(status.pending_bytes, 0);
        assert!(!f.backlogged());
        assert!(wakes.load(Ordering::SeqCst) >= 1);
    }

    #[test]
    fn a_failing_writer_ends_the_sink_with_its_error_and_wakes_the_pump() {
        let (mut f, h, _out, _, wakes) = sink(1 << 20, 4, true);
        f.event(&output(0, b"too long"));
        let err = h.stop(SessionId::from_u64(7)).unwrap_err();
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
    fn dropping_the_feeder_ends_the_sink() {
        let (f, h, out, _, _) = sink(1 << 20, usize::MAX, true);
        let mut f = f;
        f.event(&output(0, b"abc"));
        drop(f);
        let status = h.stop(SessionId::from_u64(1)).unwrap();
        assert_eq!(&out.lock()[..], b"abc");
        assert_eq!(status.events, 1);
    }
}
