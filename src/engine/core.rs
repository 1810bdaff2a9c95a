//! One session's core: its [`State`] under one mutex, the condvar its
//! waiters block on, and the descriptors its pump polls.
//!
//! Waiters never sleep-and-recheck: they block on the condvar with their
//! deadline, or on the PTY itself (see [`direct`](crate::engine::direct)),
//! and every change a waiter could care about (output, exit, close)
//! notifies them. Features reach the state only through a [`Guard`] (read
//! accessors, taps, taking and consuming output), never its fields.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::engine::direct::{self, Reader};
use crate::engine::result::PollResult;
use crate::engine::state::{Config, Delivery, State};
use crate::engine::tap::Tap;
use crate::engine::wakers::{WakerSlot, Wakers};
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::limits::{MAX_COLS, MAX_ROWS};
use crate::status::ExitStatus;
use crate::sys::backend::Backend;
use crate::sys::fd::{self, EventFd, Io, PollFd};
use crate::sys::pty;
use crate::sys::spawn::Child;

/// Shared by a session's handles, its pump, and the features attached to
/// it.
#[derive(Debug)]
pub(crate) struct Core {
    id: SessionId,
    pid: libc::pid_t,
    state: Mutex<State>,
    /// Notified whenever `state` changes in a way a waiter may care about.
    changed: Condvar,
    /// The same notification for async waiters (see [`Wakers`]).
    wakers: Wakers,
    /// Wakes the pump: input was queued, a sink caught up, or a close.
    wake: EventFd,
    /// Non-blocking PTY master.
    master: OwnedFd,
    /// Readable once the child exits: a pidfd, or the portable backend's
    /// exit pipe (see [`crate::sys::backend`]).
    pidfd: OwnedFd,
    /// What the backend keeps for the session.
    backend: Backend,
    /// Held by every read of the master until its bytes are published; says
    /// who may read (see [`direct`]).
    reader: Mutex<Reader>,
    /// A waiter reads the master directly: changes signal `direct_wake`.
    direct: AtomicBool,
    /// Wakes the direct waiter from its `poll(2)`: an eventfd made for the
    /// wait and closed after it, so a session holds no descriptor for it
    /// between waits.
    direct_wake: Mutex<Option<Arc<EventFd>>>,
}

/// How a direct wait ended (see [`Guard::wait_until`]).
enum Direct {
    /// Not possible now: wait on the condvar.
    Unavailable,
    /// Something changed: check again.
    Woken,
    /// The deadline passed.
    TimedOut,
}

/// The locked state of an open session, as features see it: read
/// accessors (through `Deref`), taps, and taking or consuming output.
pub(crate) struct Guard<'a> {
    core: &'a Core,
    st: MutexGuard<'a, State>,
}

impl std::ops::Deref for Guard<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        &self.st
    }
}

/// Wakes a session's pump from another thread without keeping the session
/// alive (a sink's thread holds one).
#[derive(Clone, Debug)]
pub(crate) struct PumpWaker(Weak<Core>);

impl PumpWaker {
    /// Wakes the pump, if the session still exists. Takes no lock.
    pub(crate) fn wake(&self) {
        if let Some(core) = self.0.upgrade() {
            core.wake.signal();
        }
    }
}

impl Core {
    /// The core of a session whose child was just started. `wake` is made
    /// before the child, so that nothing can fail once it exists.
    pub(crate) fn new(id: SessionId, child: Child, config: Config, wake: EventFd) -> Core {
        Core {
            id,
            pid: child.pid,
            state: Mutex::new(State::new(config)),
            changed: Condvar::new(),
            wakers: Wakers::default(),
            wake,
            master: child.master,
            pidfd: child.pidfd,
            backend: child.backend,
            reader: Mutex::new(Reader::default()),
            direct: AtomicBool::new(false),
            direct_wake: Mutex::new(None),
        }
    }

    /// A handle that wakes the pump (see [`PumpWaker`]).
    pub(crate) fn waker(self: &Arc<Core>) -> PumpWaker {
        PumpWaker(Arc::downgrade(self))
    }

    /// Locks the state, failing if the session is closed.
    pub(crate) fn lock(&self) -> Result<Guard<'_>> {
        let st = self.state.lock();
        if st.closed() {
            return Err(Error::SessionClosed { id: self.id });
        }
        Ok(Guard { core: self, st })
    }

    /// Locks the state for the pump, closed or not.
    pub(super) fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Tells every waiter that the state changed.
    pub(super) fn notify(&self) {
        self.notify_blocked();
        self.kick_direct();
    }

    /// Tells the waiters on the condvar and the async ones.
    fn notify_blocked(&self) {
        self.changed.notify_all();
        self.wakers.wake_all();
    }

    /// Wakes the direct waiter, if there is one (see [`direct`]).
    pub(super) fn kick_direct(&self) {
        // SeqCst, paired with the waiter's store and its check under the
        // state lock: either it sees the change, or this sees it waiting.
        if self.direct.load(Ordering::SeqCst)
            && let Some(wake) = self.direct_wake.lock().as_ref()
        {
            wake.signal();
        }
    }

    /// The lock every read of the master holds until it is published.
    pub(super) fn reader(&self) -> MutexGuard<'_, Reader> {
        self.reader.lock()
    }

    /// Forgets an async waiter's waker (a future dropped before it
    /// completed).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn deregister_waker(&self, slot: &mut WakerSlot) {
        self.wakers.deregister(slot);
    }

    /// How many async waiters are registered (for the async API's tests).
    #[cfg(all(test, feature = "tokio"))]
    pub(crate) fn registered_wakers(&self) -> usize {
        self.wakers.registered()
    }

    pub(super) fn wake_fd(&self) -> &EventFd {
        &self.wake
    }

    pub(super) fn master(&self) -> std::os::fd::BorrowedFd<'_> {
        self.master.as_fd()
    }

    pub(super) fn pidfd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// Whether the backend holds a slave descriptor to release once the
    /// exit's output is drained (the portable backend, see
    /// [`crate::sys::portable`]).
    pub(super) fn holds_slave(&self) -> bool {
        self.backend.holds_slave()
    }

    /// Releases the backend's slave descriptor: the master reports EOF
    /// once nobody else holds the terminal.
    pub(super) fn release_slave(&self) {
        self.backend.release_slave();
    }

    /// How the child ended if it has, without reaping it (see
    /// [`crate::sys::backend`]).
    pub(super) fn peek_exit(&self) -> std::io::Result<Option<ExitStatus>> {
        self.backend.peek_exit(self.pidfd.as_fd())
    }

    /// Queues `bytes` for the child (see [`State::queue_input`]).
    ///
    /// Why write here rather than always hand over to the pump: a round
    /// trip then costs one thread wake-up (output), not two. The write never
    /// blocks (the master is non-blocking); whatever the terminal does not
    /// take at once is queued for the pump, and nothing is written directly
    /// while older input is queued, so the order is kept (the pump writes
    /// under the same lock).
    pub(crate) fn send(&self, bytes: &[u8]) -> Result<()> {
        let mut g = self.lock()?;
        let canonical = pty::is_canonical(self.master.as_fd()).map_err(|source| Error::Io {
            id: self.id,
            op: "reading terminal attributes",
            source,
        })?;
        match g.st.queue_input(self.id, bytes, canonical)? {
            Delivery::Nothing => {}
            Delivery::WriteNow => {
                let rest = match fd::write(self.master.as_fd(), bytes) {
                    Ok(Io::Done(n)) => &bytes[n..],
                    // The pump sees the same condition and handles it.
                    Ok(Io::WouldBlock | Io::Closed) | Err(_) => bytes,
                };
                if !rest.is_empty() {
                    g.st.queue_rest(rest);
                    drop(g);
                    self.wake.signal();
                }
            }
            Delivery::Queued => {
                drop(g);
                self.wake.signal();
            }
        }
        Ok(())
    }

    /// Waits until output is unread or the child exited (or `deadline`),
    /// then takes up to `max` bytes.
    pub(crate) fn poll(&self, deadline: Option<Instant>, max: usize) -> Result<PollResult> {
        let g = self.lock()?;
        let mut g = g.wait_until(deadline, |s| s.unread() > 0 || s.exit().is_some())?;
        g.take(max)
    }

    /// Waits for the exit until `deadline`; `None` if it passes first.
    pub(crate) fn wait_exit(&self, deadline: Option<Instant>) -> Result<Option<ExitStatus>> {
        let g = self.lock()?;
        Ok(g.wait_until(deadline, |s| s.exit().is_some())?.exit())
    }

    /// Publishes output read from the master, by the pump or a direct
    /// waiter: the size first, which the child may have changed before
    /// writing it.
    pub(super) fn publish_read(&self, st: &mut State, bytes: &[u8]) {
        self.sync_size(st);
        st.publish_output(bytes);
    }

    /// Brings the recorded size up to the terminal's own, which the child
    /// may have changed (`stty rows 30 cols 100` sets it on its side): the
    /// taps (the screen) are told, at this point of the output. A size the
    /// session could not hold (a zero or oversized dimension) is left out.
    fn sync_size(&self, st: &mut State) {
        if let Ok((rows, cols)) = pty::window_size(self.master.as_fd())
            && (rows, cols) != st.size()
            && valid_size(rows, cols)
        {
            st.resized(rows, cols);
        }
    }

    /// Resizes the terminal; the child gets SIGWINCH and the taps are told.
    pub(crate) fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        let mut g = self.lock()?;
        self.backend
            .resize(self.master.as_fd(), rows, cols)
            .map_err(|source| Error::Io {
                id: self.id,
                op: "resizing the terminal",
                source,
            })?;
        g.st.resized(rows, cols);
        drop(g);
        // An async event stream waits for the resize event.
        self.wakers.wake_all();
        Ok(())
    }

    /// Signals the child's process group, and the terminal's foreground
    /// group if a job-control shell moved a job there; never a process
    /// that is not provably ours (see [`crate::sys::process`]).
    ///
    /// The foreground group first: it can be proven ours only while the
    /// child is unreaped, and the signal may end the child. The child's
    /// own group is signalled even if the foreground group could not be
    /// (a set-uid job there): close relies on it.
    pub(crate) fn signal_groups(&self, signal: i32) -> std::io::Result<()> {
        let foreground = match pty::foreground_group(self.master.as_fd()) {
            Some(fg) if fg != self.pid => {
                self.backend
                    .signal_session_group(self.pidfd.as_fd(), self.pid, fg, signal)
            }
            _ => Ok(()),
        };
        self.backend
            .signal_own_group(self.pidfd.as_fd(), self.pid, signal)
            .and(foreground)
    }

    /// SIGKILL to every other process of the child's terminal session (see
    /// [`crate::sys::process::kill_session`]). The child is stopped first, so that it
    /// cannot exit by itself (say, a shell whose `wait` the kill of its jobs
    /// ends) between this and the SIGKILL that follows: the status it then
    /// reports is the kill's.
    pub(crate) fn kill_session(&self) {
        let _ = self.backend.freeze(self.pidfd.as_fd());
        self.backend.kill_session(self.pidfd.as_fd(), self.pid);
    }

    /// Marks the session closed and wakes everyone: waiters fail with
    /// [`Error::SessionClosed`], the pump returns. Marked before any kill,
    /// so that the pump can never publish the exit the kill causes as the
    /// child's own.
    pub(crate) fn close(&self) {
        self.state.lock().close();
        self.notify();
        self.wake.signal();
    }

    /// Reaps the child (after [`close`](Self::close) and the kill). Its pid
    /// is free for reuse from here on. A child someone else reaped is not
    /// an error: its status is the one the kernel kept, or
    /// [`ExitStatus::Unknown`].
    pub(crate) fn reap(&self) -> Result<ExitStatus> {
        self.backend.reap(self.pidfd.as_fd()).map_err(|source| Error::Io {
            id: self.id,
            op: "reaping the child",
            source,
        })
    }

    /// Waits on the PTY itself until `ready`, a change, or `deadline`,
    /// reading and publishing what comes, if the reactor allows it now
    /// (see [`direct`]). Called without the state lock.
    fn wait_direct(&self, deadline: Option<Instant>, ready: &mut impl FnMut(&State) -> bool) -> Direct {
        let Ok(wake) = EventFd::new() else {
            return Direct::Unavailable;
        };
        if !self.reader().enter() {
            return Direct::Unavailable;
        }
        let wake = Arc::new(wake);
        *self.direct_wake.lock() = Some(Arc::clone(&wake));
        self.direct.store(true, Ordering::SeqCst);
        let mut buf = [0u8; 4096];
        let outcome = loop {
            // Checked after `direct` is set: a change made before is seen
            // here, one made after signals `wake`.
            let st = self.state.lock();
            if st.closed() || ready(&st) {
                break Direct::Woken;
            }
            drop(st);
            if !self.reader().allowed() {
                break Direct::Woken;
            }
            let timeout = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => break Direct::TimedOut,
                },
            };
            let mut fds = [
                PollFd::new(self.master.as_fd(), false),
                PollFd::new(wake.fd(), false),
            ];
            if fd::poll(&mut fds, timeout).is_err() {
                // Only resource exhaustion: leave it to the reactor.
                self.reader().disallow();
                break Direct::Woken;
            }
            if fds[1].readable() {
                wake.clear();
            }
            if fds[0].readable() && !self.read_direct(&mut buf, false) {
                break Direct::Woken;
            }
        };
        self.direct.store(false, Ordering::SeqCst);
        self.direct_wake.lock().take();
        let missed = self.reader().leave();
        if missed {
            // The reactor was told of output and left it to this waiter:
            // read on until a read comes back short, so that nothing waits
            // for an edge that already passed.
            self.read_direct(&mut buf, true);
        }
        outcome
    }

    /// Reads the master once (with `to_short`, until a read comes back
    /// short) and publishes what it read, as the pump would. Returns false
    /// when the pump must take over: the terminal hung up or failed (it is
    /// handed back), or a sink fell behind. The pump's wake fd is signalled
    /// then, and when a tap queued a reply for the pump to write.
    fn read_direct(&self, buf: &mut [u8], to_short: bool) -> bool {
        let mut reader = self.reader();
        let mut published = false;
        let mut go_on = true;
        let mut wake_pump = false;
        loop {
            match fd::read(self.master.as_fd(), buf) {
                Ok(Io::Done(n)) => {
                    let mut st = self.state.lock();
                    let queued = st.wants_write();
                    self.publish_read(&mut st, &buf[..n]);
                    published = true;
                    // A query answered: the pump writes the reply.
                    wake_pump |= !queued && st.wants_write();
                    if st.backlogged() {
                        reader.disallow();
                        go_on = false;
                        break;
                    }
                    if !to_short || n < buf.len() {
                        break;
                    }
                }
                Ok(Io::WouldBlock) => break,
                Ok(Io::Closed) | Err(_) => {
                    reader.hand_back();
                    go_on = false;
                    break;
                }
            }
        }
        drop(reader);
        if !go_on || wake_pump {
            self.wake.signal();
        }
        if published {
            // Not `notify`: this waiter checks again anyway.
            self.notify_blocked();
        }
        go_on
    }
}

/// Whether the session can hold a terminal of `rows` × `cols`.
fn valid_size(rows: u16, cols: u16) -> bool {
    (1..=MAX_ROWS).contains(&rows) && (1..=MAX_COLS).contains(&cols)
}

impl<'a> Guard<'a> {
    /// The terminal size as (rows, cols), brought up to date with the
    /// terminal's own first (see [`Core::sync_size`]).
    pub(crate) fn current_size(&mut self) -> (u16, u16) {
        self.core.sync_size(&mut self.st);
        self.st.size()
    }

    /// Adds a tap; it sees every event from now on (none can slip between
    /// what the caller read under this guard and the tap).
    pub(crate) fn add_tap(&mut self, tap: Box<dyn Tap>) {
        self.st.add_tap(tap);
    }

    /// Takes up to `max` unread bytes (see [`State::take`]).
    pub(crate) fn take(&mut self, max: usize) -> Result<PollResult> {
        self.st.take(self.core.id, max)
    }

    /// Moves the unread cursor forward to `offset` (see
    /// [`State::consume_to`]).
    pub(crate) fn consume_to(&mut self, offset: u64) {
        self.st.consume_to(offset);
    }

    /// Blocks until `ready(state)` holds, the session closes, or `deadline`
    /// passes (`None`: no deadline). Returns the guard either way; the
    /// caller re-checks `ready` if it needs to know which.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`], also when the session is closed during the
    /// wait.
    pub(crate) fn wait_until(
        mut self,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&State) -> bool,
    ) -> Result<Guard<'a>> {
        let mut try_direct = direct::AVAILABLE;
        loop {
            if self.st.closed() {
                return Err(Error::SessionClosed { id: self.core.id });
            }
            if ready(&self.st) {
                return Ok(self);
            }
            let timed_out = if try_direct {
                let core = self.core;
                match MutexGuard::unlocked(&mut self.st, || core.wait_direct(deadline, &mut ready)) {
                    // The lock was let go meanwhile: check again, then wait
                    // on the condvar, which only a change made from then on
                    // wakes.
                    Direct::Unavailable => {
                        try_direct = false;
                        continue;
                    }
                    Direct::Woken => continue,
                    Direct::TimedOut => true,
                }
            } else {
                try_direct = direct::AVAILABLE;
                match deadline {
                    Some(d) => self.core.changed.wait_until(&mut self.st, d).timed_out(),
                    None => {
                        self.core.changed.wait(&mut self.st);
                        false
                    }
                }
            };
            if timed_out {
                if self.st.closed() {
                    return Err(Error::SessionClosed { id: self.core.id });
                }
                return Ok(self);
            }
        }
    }

    /// Registers an async waiter's waker, under this lock: it is woken by
    /// the next change that would notify a blocked waiter (see
    /// [`Wakers`]), so a condition checked under this guard cannot change
    /// unseen.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn register_waker(&self, slot: &mut WakerSlot, waker: &std::task::Waker) {
        self.core.wakers.register(slot, waker);
    }

    /// Runs `f` with the lock released (a long search), then locks again.
    pub(crate) fn unlocked<T>(&mut self, f: impl FnOnce() -> T) -> T {
        MutexGuard::unlocked(&mut self.st, f)
    }
}
