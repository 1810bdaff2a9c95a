//! The one thread each session runs: it moves output into the state, input
//! the caller could not write at once into the PTY, and notices the
//! child's exit.
//!
//! Why one thread doing all three with `poll(2)`, rather than a blocking
//! reader, a writer and a waiter: a blocking read cannot be interrupted when
//! a grandchild keeps the PTY open, a blocking write cannot be interrupted
//! when the child stops reading, and three threads per session triple the
//! cost of holding many sessions. Here every blocking point is a `poll` that
//! the session's eventfd can wake, so close never waits on the child.
//!
//! Each turn of [`Pump::run`] is: [`refresh`](Pump::refresh) what it needs
//! from the state (only after a wake-up), [`wait`](Pump::wait) in `poll`,
//! then the [`read`](Pump::read_step), [`write`](Pump::write_step) and
//! [`exit`](Pump::exit_step) steps. When to publish the exit is decided by
//! [`ExitDrain`], a small pure state machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::core::Core;
use crate::status::ExitStatus;
use crate::sys::fd::{self, EdgeWatch, Io, PollFd};
use crate::sys::process;

/// How long output may keep arriving after the child exits before the exit
/// is published, when the PTY does not report EOF (a grandchild still holds
/// it open). Why any wait at all: the kernel hands the child's last bytes to
/// the master asynchronously, so "exited" can be seen a moment before "last
/// output". When every holder of the PTY is gone, EOF ends the wait at once.
pub(crate) const EXIT_DRAIN_GRACE: Duration = Duration::from_millis(50);

/// Most bytes gathered from the PTY before they are published. Linux PTYs
/// hand over at most 4 KiB per `read(2)`; streaming output fills a few of
/// those per wake-up (see [`STREAMING_READ`]), more would only cost memory.
const READ_CHUNK: usize = 16 * 1024;

/// A read at least this long means output is streaming (the Linux line
/// discipline hands over at most 4 KiB per read), so more is likely
/// waiting and the pump reads again before waking anyone.
const STREAMING_READ: usize = 1024;

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
    fn watching(&self) -> bool {
        *self == ExitDrain::Running
    }
}

/// Whether the terminal can still bring output, as the pump last saw it.
#[derive(Debug)]
enum Terminal {
    /// Someone holds the slave side: poll the master.
    Open,
    /// Nobody held the slave side at the last read (EIO), but the child
    /// lives and may open its terminal again (`/dev/tty`): watch the master
    /// for a change, edge-triggered, instead of polling it (its hang-up
    /// would wake every poll at once).
    Hung(EdgeWatch),
    /// The child is gone and so is every holder: nothing more can arrive.
    Ended,
}

/// What one `poll` reported.
#[derive(Debug, Default)]
struct Ready {
    woken: bool,
    readable: bool,
    writable: bool,
    exited: bool,
}

/// A session's pump. See the module docs.
pub(crate) struct Pump {
    core: Arc<Core>,
    buf: Vec<u8>,
    /// Whether output may still come, and how to wait for it.
    pty: Terminal,
    exit: ExitDrain,
    /// What the pump needs from the state (stop, queued input, sink
    /// backpressure) changes only when a caller or a sink signals the wake
    /// fd, or under the pump's own lock when it publishes output or writes
    /// input; it re-reads it only then, so moving output takes one lock per
    /// chunk.
    stale: bool,
    want_write: bool,
    /// A tap (a lossless sink) asked to hold output back.
    held: bool,
}

impl Pump {
    pub(crate) fn new(core: Arc<Core>) -> Pump {
        Pump {
            core,
            buf: vec![0u8; READ_CHUNK],
            pty: Terminal::Open,
            exit: ExitDrain::Running,
            stale: true,
            want_write: false,
            held: false,
        }
    }

    /// Runs until the session is closed.
    pub(crate) fn run(mut self) {
        let mut fds: Vec<PollFd> = Vec::with_capacity(3);
        while self.refresh() {
            let ready = self.wait(&mut fds);
            if ready.woken {
                self.core.wake_fd().clear();
                self.stale = true;
            }
            if ready.readable {
                if let Terminal::Hung(watch) = &self.pty {
                    watch.clear();
                }
                self.read_step();
            }
            if ready.writable {
                self.write_step();
            }
            if ready.exited {
                self.notice_exit();
            }
            self.exit_step();
        }
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
        // until the sink wakes us. We wait in `poll`, never under the state
        // lock. Input waits too: polling the master for writing alone would
        // spin on a hangup.
        let was_held = self.held;
        self.held = st.backlogged();
        if was_held && !self.held {
            self.exit.released(Instant::now());
        }
        self.stale = false;
        true
    }

    /// Blocks in `poll` until something needs doing.
    fn wait(&mut self, fds: &mut Vec<PollFd>) -> Ready {
        let write = self.want_write && matches!(self.pty, Terminal::Open);
        fds.clear();
        fds.push(PollFd::new(self.core.wake_fd().fd(), false));
        let watched = match &self.pty {
            _ if self.held => None,
            Terminal::Open => Some(self.core.master()),
            Terminal::Hung(watch) => Some(watch.fd()),
            Terminal::Ended => None,
        };
        let master_at = watched.map(|fd| {
            fds.push(PollFd::new(fd, write));
            fds.len() - 1
        });
        let pid_at = self.exit.watching().then(|| {
            fds.push(PollFd::new(self.core.pidfd(), false));
            fds.len() - 1
        });
        if fd::poll(fds, self.exit.timeout(Instant::now(), self.held)).is_err() {
            // poll only fails for resource exhaustion; treat the PTY as gone
            // rather than spin, and keep serving exit and close.
            self.pty = Terminal::Ended;
            return Ready::default();
        }
        Ready {
            woken: fds[0].readable(),
            readable: master_at.is_some_and(|i| fds[i].readable()),
            writable: write && master_at.is_some_and(|i| fds[i].writable()),
            exited: pid_at.is_some_and(|i| fds[i].readable()),
        }
    }

    /// Moves the output the PTY has into the state.
    ///
    /// While output streams, it reads on until the buffer is full or the
    /// PTY has nothing more, then publishes it all under one lock and one
    /// notification: fewer wake-ups of waiters. A short read (interactive
    /// output) is published at once.
    ///
    /// A read that finds nobody holding the terminal (EIO) ends the output
    /// only once the child is known to have exited; while it lives, the
    /// terminal is [`Hung`](Terminal::Hung): the child may open `/dev/tty`
    /// again and write more.
    fn read_step(&mut self) {
        let mut filled = 0;
        let mut ended = false;
        while filled < self.buf.len() {
            match fd::read(self.core.master(), &mut self.buf[filled..]) {
                Ok(Io::Done(n)) => {
                    filled += n;
                    if n < STREAMING_READ {
                        break;
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
        match (&self.pty, ended) {
            (Terminal::Hung(_), false) => self.pty = Terminal::Open,
            (Terminal::Open, true) if child_lives => match EdgeWatch::new(self.core.master()) {
                Ok(watch) => self.pty = Terminal::Hung(watch),
                // No epoll descriptor to be had: stop reading rather than
                // spin (the old behaviour).
                Err(_) => self.pty = Terminal::Ended,
            },
            (Terminal::Open | Terminal::Hung(_), true) if !child_lives => self.pty = Terminal::Ended,
            _ => {}
        }
        let output_ends = matches!(self.pty, Terminal::Ended) && ended;
        if filled == 0 && !output_ends {
            return;
        }
        let mut st = self.core.lock_state();
        if filled > 0 {
            // The child may have resized its terminal before writing this.
            self.core.sync_size(&mut st);
            st.publish_output(&self.buf[..filled]);
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
        self.core.notify();
    }

    /// Writes queued input, under the lock, so that a caller writing
    /// directly can never overtake it.
    fn write_step(&mut self) {
        if !matches!(self.pty, Terminal::Open) {
            return;
        }
        let mut st = self.core.lock_state();
        let master = self.core.master();
        st.write_input(|front| match fd::write(master, front) {
            Ok(Io::Done(n)) => Some(n),
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
    }

    /// The pidfd is readable: look at how the child ended, without reaping.
    /// If the terminal was hung, read once more: the output the child
    /// wrote last is there, and then EIO ends it.
    fn notice_exit(&mut self) {
        let status = match process::peek_exit(self.core.pidfd()) {
            Ok(Some(status)) => status,
            Ok(None) => return,
            // waitid on our own pidfd failed otherwise (should not happen;
            // ECHILD is answered inside peek_exit): the child did exit (the
            // pidfd said so), how is not known. Never a made-up status.
            Err(_) => ExitStatus::Unknown,
        };
        self.exit.exited(status, Instant::now());
        if matches!(self.pty, Terminal::Hung(_)) && !self.held {
            self.read_step();
        }
    }

    /// Publishes the exit once its output is drained (see [`ExitDrain`]).
    fn exit_step(&mut self) {
        let open = !matches!(self.pty, Terminal::Ended);
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
