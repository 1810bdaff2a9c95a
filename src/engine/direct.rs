//! The direct read: a waiter that reads the PTY itself.
//!
//! Why: the reactor reads for every session, so a waiter blocked for
//! output is woken at second hand: the kernel wakes the reactor, which
//! reads and wakes the waiter. Each hand-off between threads costs a
//! wake-up and a context switch, most of an interactive round trip; and
//! when several sessions stream at once, one thread does every read. A
//! waiter that blocks on the PTY itself (`poll(2)` on the master and a
//! wake-up descriptor of its session) is woken straight from the kernel
//! and reads in its own thread, as a blocking read loop would.
//!
//! How the reactor and a direct waiter share the PTY, under the
//! [`Reader`] lock that every read of the master holds until its bytes are
//! published (so they are published in the order they were read):
//!
//! - The reactor [`allow`](Reader::allow)s direct reads only while they
//!   need none of the pump's handling: the terminal is open, no output is
//!   held back, the child has not exited. Everything else (hang-ups,
//!   backpressure, the exit drain) stays with the pump, which alone knows
//!   how to handle it; when the allowance ends, the direct waiter is woken
//!   and leaves. Writing input is the pump's in any case (a reply a tap
//!   queued for a query the waiter read wakes it).
//! - While a waiter reads directly, the reactor still watches the master
//!   (edge-triggered), but leaves what it is told about to the waiter and
//!   notes it as [`missed`](Reader::skip). The waiter, when it
//!   [`leave`](Reader::leave)s, reads what is left until a read comes back
//!   short, so that no output waits for an edge that already passed.
//! - A direct waiter that finds the terminal hung up or failing stops and
//!   [hands it back](Reader::take_handback): the pump reads it to its end.
//!
//! Only one waiter per session reads directly; others wait on the condvar
//! and are woken by its publishes. Not on the select(2) backend: `poll(2)`
//! does not work on macOS ttys.

/// Whether waiters may read directly on this build.
pub(crate) const AVAILABLE: bool = cfg!(not(bgterm_select));

/// Who may read the master. Behind the core's reader lock.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    /// The process whose reactor serves the session (a fork child shares
    /// the master, and must not take the parent's output).
    pid: u32,
    /// The reactor allows a direct read now.
    allowed: bool,
    /// A waiter is reading directly.
    direct: bool,
    /// The reactor was told of output while a waiter read directly, and
    /// left it to the waiter.
    missed: bool,
    /// A direct waiter found the terminal hung up or failing: the pump
    /// must read it to its end.
    handback: bool,
}

impl Reader {
    /// The reactor of this process serves the session.
    pub(crate) fn attach(&mut self) {
        self.pid = std::process::id();
    }

    /// The reactor allows direct reads, or not. Returns true if a direct
    /// waiter must be woken to leave.
    pub(crate) fn allow(&mut self, allowed: bool) -> bool {
        self.allowed = allowed && AVAILABLE;
        self.direct && !self.allowed
    }

    /// The pump was told of output: returns true if a direct waiter reads
    /// it (noted as missed), false if the pump reads it.
    pub(crate) fn skip(&mut self) -> bool {
        if self.direct {
            self.missed = true;
        }
        self.direct
    }

    /// Whether the pump must read the terminal to its end for a direct
    /// waiter that found it hung up (see [`hand_back`](Self::hand_back)).
    pub(crate) fn take_handback(&mut self) -> bool {
        std::mem::take(&mut self.handback)
    }

    /// A waiter starts reading directly, if it may. Returns whether it may.
    pub(crate) fn enter(&mut self) -> bool {
        if !self.allowed || self.direct || self.pid != std::process::id() {
            return false;
        }
        self.direct = true;
        true
    }

    /// Whether the direct waiter may go on reading.
    pub(crate) fn allowed(&self) -> bool {
        self.allowed
    }

    /// The direct waiter found the terminal hung up or failing: no direct
    /// read until the reactor allows it again, and the pump reads it to its
    /// end once its wake fd is signalled.
    pub(crate) fn hand_back(&mut self) {
        self.allowed = false;
        self.handback = true;
    }

    /// A sink fell behind or input was queued by what the direct waiter
    /// published: no direct read until the reactor allows it again.
    pub(crate) fn disallow(&mut self) {
        self.allowed = false;
    }

    /// The direct waiter stops. Returns whether the reactor was told of
    /// output meanwhile: the waiter must then read what is left.
    pub(crate) fn leave(&mut self) -> bool {
        self.direct = false;
        std::mem::take(&mut self.missed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attached() -> Reader {
        let mut r = Reader::default();
        r.attach();
        r
    }

    #[test]
    fn only_one_waiter_and_only_while_allowed() {
        let mut r = attached();
        assert!(!r.enter(), "not before the reactor allows it");
        assert!(!r.allow(true));
        assert_eq!(r.enter(), AVAILABLE);
        if !AVAILABLE {
            return;
        }
        assert!(!r.enter(), "one direct waiter at a time");
        assert!(r.allow(false), "the direct waiter must be woken to leave");
        assert!(!r.allowed());
        assert!(!r.leave());
        assert!(!r.enter());
    }

    #[test]
    fn output_reported_while_direct_is_left_to_the_waiter_then_read_by_it() {
        let mut r = attached();
        r.allow(true);
        assert!(!r.skip(), "nobody reads directly: the pump reads");
        if !r.enter() {
            return;
        }
        assert!(r.skip(), "the waiter reads it");
        assert!(r.skip());
        assert!(r.leave(), "what was reported must be read on leaving");
        assert!(!r.skip(), "the pump reads again");
        assert!(r.enter());
        assert!(!r.leave(), "nothing reported, nothing to read");
    }

    #[test]
    fn a_hang_up_goes_back_to_the_pump() {
        let mut r = attached();
        r.allow(true);
        if !r.enter() {
            return;
        }
        r.hand_back();
        assert!(!r.allowed());
        r.leave();
        assert!(!r.enter(), "not until the reactor allows it again");
        assert!(r.take_handback());
        assert!(!r.take_handback(), "handed back once");
    }
}
