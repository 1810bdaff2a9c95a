//! The state one session's callers and its pump thread share.
//!
//! One mutex guards everything that changes; one condvar is notified on
//! every change a waiter could care about (output, exit, close). Waiters
//! never sleep-and-recheck: they block on the condvar with their deadline.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::engine::decode::TextDecoder;
use crate::engine::ring::Ring;
use crate::engine::tap::Taps;
use crate::record::sink::Sinks;
use crate::sys::EventFd;
use crate::{Error, ExitStatus, PollResult, Result, SessionId};

/// Shared between the [`Session`](crate::Session) handles and the pump.
#[derive(Debug)]
pub(crate) struct Shared {
    pub id: SessionId,
    pub pid: libc::pid_t,
    pub state: Mutex<State>,
    /// Notified whenever `state` changes in a way a waiter may care about.
    pub changed: Condvar,
    /// Wakes the pump: input was queued or a stop was requested.
    pub wake: EventFd,
    /// Non-blocking PTY master.
    pub master: OwnedFd,
    /// Readable once the child exits.
    pub pidfd: OwnedFd,
}

/// Everything mutable about a session.
#[derive(Debug)]
pub(crate) struct State {
    pub ring: Ring,
    pub decoder: TextDecoder,
    /// Input for the child that the PTY has not taken yet. While it is not
    /// empty, only the pump writes (under this lock), oldest first.
    pub input: VecDeque<u8>,
    /// Length of the unfinished line sent in canonical mode.
    pub canon_line: usize,
    /// How the child ended, published only after its output is drained.
    pub exit: Option<ExitStatus>,
    /// Every holder of the terminal is gone (the master reported EOF): no
    /// more output can arrive.
    pub output_ended: bool,
    /// The pump must stop (the session is closing).
    pub stop: bool,
    /// The session was closed; every operation now fails.
    pub closed: bool,
    /// Current terminal size (rows, cols).
    pub size: (u16, u16),
    /// Features listening to this session's events.
    pub taps: Taps,
    /// The session's recording and transcript, if any (their taps are in
    /// `taps`; these are the handles to query and stop them).
    pub sinks: Sinks,
    /// The terminal screen model, once activated.
    pub screen: crate::screen::Slot,
}

/// The deadline `timeout` from now; `None` for no timeout, and for one so
/// large the clock cannot represent it (as good as none).
pub(crate) fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

impl Shared {
    /// Locks the state, failing if the session is closed.
    pub(crate) fn lock_open(&self) -> Result<MutexGuard<'_, State>> {
        let st = self.state.lock();
        if st.closed {
            return Err(Error::SessionClosed { id: self.id });
        }
        Ok(st)
    }

    /// Blocks until `ready(state)` holds, the session closes, or `deadline`
    /// passes (`None`: no deadline). Returns the guard either way; the
    /// caller re-checks `ready` if it needs to know which.
    pub(crate) fn wait_until<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&State) -> bool,
    ) -> Result<MutexGuard<'a, State>> {
        loop {
            if st.closed {
                return Err(Error::SessionClosed { id: self.id });
            }
            if ready(&st) {
                return Ok(st);
            }
            match deadline {
                Some(d) => {
                    if self.changed.wait_until(&mut st, d).timed_out() {
                        if st.closed {
                            return Err(Error::SessionClosed { id: self.id });
                        }
                        return Ok(st);
                    }
                }
                None => self.changed.wait(&mut st),
            }
        }
    }
}

impl State {
    /// Takes up to `max` unread bytes, decodes them and reports the state.
    pub(crate) fn take_result(&mut self, id: SessionId, max: usize) -> Result<PollResult> {
        let taken = self.ring.take(max);
        let mut text = String::new();
        if taken.dropped > 0 {
            // The bytes that would complete a held partial character are gone.
            text.push_str(&self.decoder.break_stream());
        }
        match self.decoder.decode(&taken.bytes) {
            Ok(s) => text.push_str(&s),
            Err(bad) => {
                // Resume right after the malformed sequence next time, and
                // report the drop then: the error has no field for it.
                self.ring.seek(taken.start + bad.resume as u64);
                self.ring.restore_dropped(taken.dropped);
                text.push_str(&bad.text);
                return Err(Error::Decode {
                    id,
                    offset: taken.start + bad.at as u64,
                    encoding: self.decoder.encoding().name(),
                    text,
                });
            }
        }
        let remaining = self.ring.unread();
        if remaining == 0 && self.output_ended && self.exit.is_some() {
            // The stream is over: a character still held incomplete will
            // never be completed (replace mode shows it as U+FFFD).
            text.push_str(&self.decoder.break_stream());
        }
        Ok(PollResult {
            text,
            running: self.exit.is_none(),
            exit_code: self.exit.map(ExitStatus::python_returncode),
            exit_status: self.exit,
            remaining_bytes: remaining,
            dropped_bytes: taken.dropped,
            truncated: taken.dropped > 0 || remaining > 0,
            start_offset: taken.start,
            end_offset: self.ring.cursor(),
        })
    }
}
