//! One session's core: its [`State`] under one mutex, the condvar its
//! waiters block on, and the descriptors its pump polls.
//!
//! Waiters never sleep-and-recheck: they block on the condvar with their
//! deadline, and every change a waiter could care about (output, exit,
//! close) notifies it. Features reach the state only through a [`Guard`]
//! (read accessors, taps, taking and consuming output), never its fields.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::engine::result::PollResult;
use crate::engine::state::{Config, Delivery, State};
use crate::engine::tap::Tap;
use crate::error::{Error, Result};
use crate::id::SessionId;
use crate::status::ExitStatus;
use crate::sys::backend::Backend;
use crate::sys::fd::{self, EventFd, Io};
use crate::sys::spawn::Child;
use crate::sys::{process, pty};

/// Shared by a session's handles, its pump, and the features attached to
/// it.
#[derive(Debug)]
pub(crate) struct Core {
    id: SessionId,
    pid: libc::pid_t,
    state: Mutex<State>,
    /// Notified whenever `state` changes in a way a waiter may care about.
    changed: Condvar,
    /// Wakes the pump: input was queued, a sink caught up, or a close.
    wake: EventFd,
    /// Non-blocking PTY master.
    master: OwnedFd,
    /// Readable once the child exits: a pidfd, or the portable backend's
    /// exit pipe (see [`crate::sys::backend`]).
    pidfd: OwnedFd,
    /// What the backend keeps for the session.
    backend: Backend,
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
    /// The core of a session whose child was just started.
    pub(crate) fn new(id: SessionId, child: Child, config: Config) -> std::io::Result<Core> {
        Ok(Core {
            id,
            pid: child.pid,
            state: Mutex::new(State::new(config)),
            changed: Condvar::new(),
            wake: EventFd::new()?,
            master: child.master,
            pidfd: child.pidfd,
            backend: child.backend,
        })
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
        self.changed.notify_all();
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

    pub(super) fn pid(&self) -> libc::pid_t {
        self.pid
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
        Ok(())
    }

    /// Signals the child's process group, and the terminal's foreground
    /// group if a job-control shell moved a job there.
    ///
    /// The caller guarantees that the child is not reaped meanwhile, so its
    /// pid still names our process group.
    pub(crate) fn signal_groups(&self, signal: i32) -> std::io::Result<()> {
        process::signal_group(self.pid, signal)?;
        if let Some(fg) = pty::foreground_group(self.master.as_fd())
            && fg != self.pid
        {
            process::signal_group(fg, signal)?;
        }
        Ok(())
    }

    /// SIGKILL to every other process of the child's terminal session (see
    /// [`process::kill_session`]). Same guarantee as
    /// [`signal_groups`](Self::signal_groups).
    pub(crate) fn kill_session(&self) {
        process::kill_session(self.pid);
    }

    /// Marks the session closed and wakes everyone: waiters fail with
    /// [`Error::SessionClosed`], the pump returns. Marked before any kill,
    /// so that the pump can never publish the exit the kill causes as the
    /// child's own.
    pub(crate) fn close(&self) {
        self.state.lock().close();
        self.changed.notify_all();
        self.wake.signal();
    }

    /// Reaps the child (after [`close`](Self::close) and the kill). Its pid
    /// is free for reuse from here on.
    pub(crate) fn reap(&self) -> Result<ExitStatus> {
        // The portable backend's waiter thread ends with the child; it is
        // joined here, before the pid is freed.
        self.backend.before_reap();
        process::reap(self.pid).map_err(|source| Error::Io {
            id: self.id,
            op: "reaping the child",
            source,
        })
    }
}

impl<'a> Guard<'a> {
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
        loop {
            if self.st.closed() {
                return Err(Error::SessionClosed { id: self.core.id });
            }
            if ready(&self.st) {
                return Ok(self);
            }
            match deadline {
                Some(d) => {
                    if self.core.changed.wait_until(&mut self.st, d).timed_out() {
                        if self.st.closed() {
                            return Err(Error::SessionClosed { id: self.core.id });
                        }
                        return Ok(self);
                    }
                }
                None => self.core.changed.wait(&mut self.st),
            }
        }
    }

    /// Runs `f` with the lock released (a long search), then locks again.
    pub(crate) fn unlocked<T>(&mut self, f: impl FnOnce() -> T) -> T {
        MutexGuard::unlocked(&mut self.st, f)
    }
}
