//! One session's pump: it moves output into the state, input the caller
//! could not write at once into the PTY, and notices the child's exit.
//!
//! A pump owns no thread: the [reactor](crate::engine::reactor) waits on
//! every session's descriptors at once and hands each pump what became
//! ready. Why nothing blocks here: a blocking read cannot be interrupted
//! when a grandchild keeps the PTY open, a blocking write cannot be
//! interrupted when the child stops reading. Every step is non-blocking, so
//! close never waits on the child, and one stalled session never holds up
//! another.
//!
//! [`Pump::handle`] takes one report and runs the steps in a fixed order:
//! the wake-up ([`refresh`](Pump::refresh) what it needs from the state),
//! then the [`read`](Pump::read_step), [`write`](Pump::write_step) and
//! [`exit`](Pump::exit_step) steps. When to publish the exit is decided by
//! [`ExitDrain`], a small pure state machine; [`Pump::interest`] says what
//! to watch next.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::core::Core;
use crate::status::ExitStatus;
use crate::sys::fd::{self, Io};

/// How long output may keep arriving after the child exits before the exit
/// is published, when the PTY does not report EOF (a grandchild still holds
/// it open). Why any wait at all: the kernel hands the child's last bytes to
/// the master asynchronously, so "exited" can be seen a moment before "last
/// output". When every holder of the PTY is gone, EOF ends the wait at once.
pub(crate) const EXIT_DRAIN_GRACE: Duration = Duration::from_millis(50);

/// Most bytes read from the PTY per report, and published at once. Linux
/// PTYs hand over at most 4 KiB per `read(2)` (what the line discipline
/// holds); other systems may hand over more.
pub(crate) const READ_CHUNK: usize = 16 * 1024;

/// When the child's exit may be published: after its output is drained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExitDrain {
    /// The child has not exited (as far as the pump knows).
    Running,
    /// It exited; the exit waits for the output until EOF or `until`.
    Draining { status: ExitStatus, until: Instant },
    /// The exit is published; nothing more to decide.
    Published,
}

impl ExitDrain {
    /// The pidfd said the child exited, at `now`.
    pub(crate) fn exited(&mut self, status: ExitStatus, now: Instant) {
        if *self == ExitDrain::Running {
            *self = ExitDrain::Draining {
                status,
                until: now + EXIT_DRAIN_GRACE,
            };
        }
    }

    /// Output was held back (a sink was behind) and may flow again at
    /// `now`: the output could not be drained meanwhile, so the grace
    /// starts again.
    pub(crate) fn released(&mut self, now: Instant) {
        if let ExitDrain::Draining { until, .. } = self {
            *until = (*until).max(now + EXIT_DRAIN_GRACE);
        }
    }

    /// The status to publish now, if it is time: the output is over (EOF)
    /// or the grace has passed, and output is not being held back.
    pub(crate) fn due(&self, now: Instant, output_open: bool, held: bool) -> Option<ExitStatus> {
        match *self {
            ExitDrain::Draining { status, until } if !held && (!output_open || now >= until) => Some(status),
            _ => None,
        }
    }

    /// How long `poll` may block before [`due`](Self::due) should be asked
    /// again; `None`: until an event.
    pub(crate) fn timeout(&self, now: Instant, held: bool) -> Option<Duration> {
        match *self {
            ExitDrain::Draining { until, .. } if !held => Some(until.saturating_duration_since(now)),
            _ => None,
        }
    }

    /// Whether the pidfd still needs watching.
    pub(crate) fn watching(&self) -> bool {
        *self == ExitDrain::Running
    }
}

/// What the reactor reported for one session.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ready {
    /// The session's wake fd: a caller or a sink changed something.
    pub(crate) woken: bool,
    /// The PTY master has output (or hung up).
    pub(crate) readable: bool,
    /// The PTY master said it hung up: read it to its end (an
    /// edge-triggered wait will not say so again).
    pub(crate) hangup: bool,
    /// The PTY master takes input.
    pub(crate) writable: bool,
    /// The pidfd: the child exited.
    pub(crate) exited: bool,
}

/// Whether the terminal can still bring output, as the pump last saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Terminal {
    /// Someone holds the slave side: watch the master.
    Open,
    /// Nobody held the slave side at the last read (EIO), but the child
    /// lives and may open its terminal again (`/dev/tty`): watch the master
    /// for a change, edge-triggered (its hang-up would wake a level-
    /// triggered wait at once, for ever).
    Hung,
    /// The child is gone and so is every holder: nothing more can arrive.
    Ended,
}

/// How to watch the PTY master.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Watch {
    /// Not at all: every holder is gone, or a sink holds output back.
    Off,
    /// For output (and input room too, if `write`), edge-triggered where
    /// the wait can ([`Mode::Stream`](crate::sys::fd::Mode::Stream)): the
    /// pump reads until a read comes back short and asks to be run
    /// [`again`](Pump::again) when it stopped before that.
    Stream { write: bool },
    /// Edge-triggered, for a change while nobody holds the terminal.
    Edge,
}

/// What a pump wants watched right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Interest {
    /// The PTY master.
    pub(crate) master: Watch,
    /// The pidfd, until the exit is seen.
    pub(crate) pidfd: bool,
}

/// A session's pump. See the module docs.
pub(crate) struct Pump {
    core: Arc<Core>,
    /// Whether output may still come, and how to wait for it.
    pty: Terminal,
    exit: ExitDrain,
    /// What the pump needs from the state (close, queued input, sink
    /// backpressure) changes only when a caller or a sink signals the wake
    /// fd, or under the pump's own lock when it publishes output or writes
    /// input; it re-reads it only then, so moving output takes one lock per
    /// chunk.
    stale: bool,
    want_write: bool,
    /// A tap (a lossless sink) asked to hold output back.
    held: bool,
    /// What the last turn left undone that no new report will announce
    /// (the master is watched edge-triggered): the read stopped with its
    /// buffer full, or the write made progress and input is left.
    again: Again,
    /// Output was published and its waiters are not woken yet (see
    /// [`announce`](Self::announce)).
    announce_due: bool,
}

/// See [`Pump::again`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Again {
    read: bool,
    /// Read to the end: the terminal hung up.
    to_end: bool,
    write: bool,
}

impl Pump {
    pub(crate) fn new(core: Arc<Core>) -> Pump {
        Pump {
            core,
            pty: Terminal::Open,
            exit: ExitDrain::Running,
            stale: true,
            want_write: false,
            held: false,
            again: Again::default(),
            announce_due: false,
        }
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Reads what it needs from the state before the first wait. Returns
    /// false if the session is already closed.
    pub(crate) fn start(&mut self) -> bool {
        self.refresh()
    }

    /// What to watch until the next event.
    pub(crate) fn interest(&self) -> Interest {
        Interest {
            master: match self.pty {
                _ if self.held => Watch::Off,
                Terminal::Open => Watch::Stream {
                    write: self.want_write,
                },
                Terminal::Hung => Watch::Edge,
                Terminal::Ended => Watch::Off,
            },
            pidfd: self.exit.watching(),
        }
    }

    /// Whether the pump should be [`handle`](Self::handle)d again without a
    /// report: it left output unread or input unwritten that an
    /// edge-triggered wait will not announce again.
    pub(crate) fn again(&self) -> bool {
        self.again != Again::default()
    }

    /// Wakes the waiters for the output published since the last call.
    ///
    /// Why not at once: a waiter woken while the reactor still has ready
    /// sessions to serve preempts it (it was woken on the same core), and
    /// everyone's output waits. The reactor calls this once its turn is
    /// done; a waiter woken for several chunks then takes them at once.
    pub(crate) fn announce(&mut self) {
        if std::mem::take(&mut self.announce_due) {
            self.core.notify();
        }
    }

    /// How long the reactor may wait before [`tick`](Self::tick) is due
    /// (the exit drain's grace); `None`: until an event.
    pub(crate) fn timeout(&self, now: Instant) -> Option<Duration> {
        self.exit.timeout(now, self.held)
    }

    /// Handles what the reactor saw for this session, together with what
    /// the last turn left for [`again`](Self::again), in the order a turn
    /// of the loop always takes: wake-up, read, write, exit. Returns false
    /// once the session is closed (the pump is then done).
    pub(crate) fn handle(&mut self, ready: Ready, buf: &mut [u8]) -> bool {
        let again = std::mem::take(&mut self.again);
        let mut handback = false;
        if ready.woken {
            self.core.wake_fd().clear();
            self.stale = true;
            handback = self.core.reader().take_handback();
            // Backpressure may have changed: it decides whether to read.
            if !self.refresh() {
                return false;
            }
        }
        // Held output stays in the terminal, whatever was reported: the
        // sink's wake-up re-registers the master, which reports it again.
        if (ready.readable || again.read || handback) && !self.held {
            self.read_step(buf, ready.hangup || again.to_end || handback);
        }
        if (ready.writable || again.write) && self.want_write {
            self.write_step();
        }
        if ready.exited {
            self.notice_exit(buf);
        }
        self.release_step(buf);
        self.tick()
    }

    /// Publishes the exit if its grace has passed; returns false once the
    /// session is closed.
    pub(crate) fn tick(&mut self) -> bool {
        self.exit_step();
        self.refresh()
    }

    /// Re-reads what the pump needs from the state after a wake-up.
    /// Returns false once the session is closed.
    fn refresh(&mut self) -> bool {
        if !self.stale {
            return true;
        }
        let st = self.core.lock_state();
        if st.closed() {
            return false;
        }
        // Input the caller could not write at once waits in the state
        // until the PTY takes it.
        self.want_write = st.wants_write();
        // Backpressure from a sink whose writer is behind: leave the PTY
        // alone (the child blocks on its writes, as on a slow terminal)
        // until the sink wakes us. We wait in the reactor, never under the
        // state lock. Input waits too: watching the master for writing
        // alone would spin on a hangup.
        let was_held = self.held;
        self.held = st.backlogged();
        if was_held && !self.held {
            self.exit.released(Instant::now());
        }
        self.stale = false;
        true
    }

    /// Moves the output the PTY has into the state.
    ///
    /// It reads until a read comes back short (the terminal had no more
    /// then; new output is reported anew), or with `to_end` (the terminal
    /// hung up) until the read says so, or until the buffer is full (then
    /// it asks to run [`again`](Self::again)); it publishes it all under
    /// one lock, and the waiters are woken at the end of the reactor's
    /// turn ([`announce`](Self::announce)). Why not read on until a read
    /// would block: on Linux, a read that finds a PTY empty waits for the
    /// terminal's kernel worker, and the reactor would wait for each
    /// streaming session's in turn. Returns the number of bytes read.
    ///
    /// A read that finds nobody holding the terminal (EIO) ends the output
    /// only once the child is known to have exited; while it lives, the
    /// terminal is [`Hung`](Terminal::Hung): the child may open `/dev/tty`
    /// again and write more.
    fn read_step(&mut self, buf: &mut [u8], to_end: bool) -> usize {
        // A direct waiter may be reading too: one at a time, each read
        // published before the next (see `direct`).
        let mut reader = self.core.reader();
        if reader.skip() {
            return 0;
        }
        let mut filled = 0;
        let mut ended = false;
        while filled < buf.len() {
            let want = buf.len() - filled;
            match fd::read(self.core.master(), &mut buf[filled..]) {
                Ok(Io::Done(n)) => {
                    filled += n;
                    if n < want && !to_end {
                        break;
                    }
                    if filled == buf.len() {
                        self.again.read = true;
                        self.again.to_end = to_end;
                    }
                }
                Ok(Io::WouldBlock) => break,
                Ok(Io::Closed) | Err(_) => {
                    ended = true;
                    break;
                }
            }
        }
        let child_lives = self.exit.watching();
        self.pty = match (self.pty, ended) {
            (Terminal::Hung, false) => Terminal::Open,
            (Terminal::Open, true) if child_lives => Terminal::Hung,
            (Terminal::Open | Terminal::Hung, true) if !child_lives => Terminal::Ended,
            (pty, _) => pty,
        };
        let output_ends = self.pty == Terminal::Ended && ended;
        if filled == 0 && !output_ends {
            return 0;
        }
        let mut st = self.core.lock_state();
        if filled > 0 {
            self.core.publish_read(&mut st, &buf[..filled]);
            self.want_write = st.wants_write();
            // The taps just saw output: a sink may be behind now.
            self.held = st.backlogged();
        }
        if output_ends {
            // The child and every holder of the terminal are gone: nothing
            // more can arrive (after the bytes just published).
            st.end_output();
        }
        drop(st);
        drop(reader);
        self.announce_due = true;
        filled
    }

    /// Writes queued input, under the lock, so that a caller writing
    /// directly can never overtake it.
    fn write_step(&mut self) {
        if self.pty != Terminal::Open {
            return;
        }
        let mut st = self.core.lock_state();
        let master = self.core.master();
        let mut wrote = 0;
        st.write_input(|front| match fd::write(master, front) {
            Ok(Io::Done(n)) => {
                wrote = n;
                Some(n)
            }
            Ok(Io::WouldBlock) => Some(0),
            // Nobody holds the terminal right now: keep the input for when
            // the child opens it again (the read step sees the hang-up and
            // stops asking to write); the exit discards it.
            Ok(Io::Closed) => Some(0),
            // The terminal takes no input at all: drop it, and keep reading
            // until the read reports EOF.
            Err(_) => None,
        });
        self.want_write = st.wants_write();
        // Input is left and the terminal took some: it may take more now
        // (the queue's next slice), which no edge would announce.
        self.again.write = wrote > 0 && self.want_write;
    }

    /// The pidfd is readable: look at how the child ended, without reaping.
    /// If the terminal was hung, read once more: the output the child
    /// wrote last is there, and then EIO ends it.
    fn notice_exit(&mut self, buf: &mut [u8]) {
        let status = match self.core.peek_exit() {
            Ok(Some(status)) => status,
            Ok(None) => return,
            // waitid on our own pidfd failed otherwise (should not happen;
            // ECHILD is answered inside peek_exit): the child did exit (the
            // pidfd said so), how is not known. Never a made-up status.
            Err(_) => ExitStatus::Unknown,
        };
        self.exit.exited(status, Instant::now());
        if self.pty == Terminal::Hung && !self.held {
            self.read_step(buf, true);
        }
    }

    /// The portable backend holds a slave descriptor until the child has
    /// exited (macOS discards unread output when the last one closes):
    /// once the exit is seen and output is not held back, read everything
    /// the master has, then release it, so that EOF can end the drain.
    fn release_step(&mut self, buf: &mut [u8]) {
        if !matches!(self.exit, ExitDrain::Draining { .. }) || !self.core.holds_slave() {
            return;
        }
        // A sink's wake-up may just have released held output.
        if !self.refresh() {
            return;
        }
        while self.pty != Terminal::Ended && !self.held {
            if self.read_step(buf, true) == 0 {
                break;
            }
        }
        if !self.held {
            self.core.release_slave();
        }
    }

    /// Publishes the exit once its output is drained (see [`ExitDrain`]).
    fn exit_step(&mut self) {
        let open = self.pty != Terminal::Ended;
        let Some(status) = self.exit.due(Instant::now(), open, self.held) else {
            return;
        };
        self.exit = ExitDrain::Published;
        self.core.lock_state().publish_exit(status);
        self.want_write = false;
        self.core.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_waits_for_eof_or_the_grace() {
        let t0 = Instant::now();
        let mut d = ExitDrain::Running;
        assert_eq!(d.due(t0, true, false), None);
        assert_eq!(d.timeout(t0, false), None, "nothing to time while running");
        d.exited(ExitStatus::Exited(1), t0);
        assert_eq!(d.due(t0, true, false), None, "output may still come");
        assert_eq!(d.timeout(t0, false), Some(EXIT_DRAIN_GRACE));
        assert_eq!(
            d.due(t0, false, false),
            Some(ExitStatus::Exited(1)),
            "EOF ends the wait"
        );
        assert_eq!(
            d.due(t0 + EXIT_DRAIN_GRACE, true, false),
            Some(ExitStatus::Exited(1))
        );
    }

    #[test]
    fn held_output_delays_the_exit_and_restarts_the_grace() {
        let t0 = Instant::now();
        let mut d = ExitDrain::Running;
        d.exited(ExitStatus::Exited(0), t0);
        let late = t0 + EXIT_DRAIN_GRACE * 10;
        assert_eq!(d.due(late, false, true), None, "never while a sink holds output");
        assert_eq!(d.timeout(late, true), None, "held: wait for the sink's wake-up");
        d.released(late);
        assert_eq!(d.due(late, true, false), None, "a fresh grace from the release");
        assert_eq!(
            d.due(late + EXIT_DRAIN_GRACE, true, false),
            Some(ExitStatus::Exited(0))
        );
    }

    #[test]
    fn the_first_exit_seen_is_the_one_published() {
        let t0 = Instant::now();
        let mut d = ExitDrain::Running;
        d.exited(ExitStatus::Exited(2), t0);
        d.exited(ExitStatus::Signaled(9), t0);
        assert_eq!(d.due(t0, false, false), Some(ExitStatus::Exited(2)));
        assert!(!d.watching());
    }
}
