//! The one thread each session runs: it moves output into the ring, input
//! into the PTY, and notices the child's exit.
//!
//! Why one thread doing all three with `poll(2)`, rather than a blocking
//! reader, a writer and a waiter: a blocking read cannot be interrupted when
//! a grandchild keeps the PTY open, a blocking write cannot be interrupted
//! when the child stops reading, and three threads per session triple the
//! cost of holding many sessions. Here every blocking point is a `poll` that
//! the session's eventfd can wake, so close never waits on the child.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ExitStatus;
use crate::shared::Shared;
use crate::sys::{self, Io, PollFd};
use crate::tap::Event;

/// How long output may keep arriving after the child exits before the exit
/// is published, when the PTY does not report EOF (a grandchild still holds
/// it open). Why any wait at all: the kernel hands the child's last bytes to
/// the master asynchronously, so "exited" can be seen a moment before "last
/// output". When every holder of the PTY is gone, EOF ends the wait at once.
pub(crate) const EXIT_DRAIN_GRACE: Duration = Duration::from_millis(50);

/// Bytes read from the PTY per `read(2)`. Linux PTYs hand over at most a
/// few KiB at a time, so a larger buffer would only cost memory.
const READ_CHUNK: usize = 16 * 1024;

/// Runs until the session is closed.
pub(crate) fn run(shared: Arc<Shared>) {
    let mut buf = vec![0u8; READ_CHUNK];
    // Input taken from the shared queue and being written.
    let mut outgoing: Vec<u8> = Vec::new();
    let mut written = 0usize;
    let mut pty_open = true;
    // Exit seen on the pidfd but not yet published, and until when to drain.
    let mut exited: Option<(ExitStatus, Instant)> = None;
    let mut published = false;
    // Whether a tap (a lossless sink) asked us to hold output back.
    let mut held = false;

    loop {
        {
            let mut st = shared.state.lock();
            if st.stop {
                return;
            }
            if written == outgoing.len() && !st.input.is_empty() {
                outgoing.clear();
                outgoing.extend(st.input.drain(..));
                written = 0;
            }
            // Backpressure from a sink whose writer is behind: leave the
            // PTY alone (the child blocks on its writes, as on a slow
            // terminal) until the sink wakes us through `wake`. We wait in
            // `poll` below, never under the state lock. Input waits too:
            // polling the master for writing alone would spin on a hangup.
            let was_held = held;
            held = st.taps.backlogged();
            if was_held
                && !held
                && let Some((_, until)) = &mut exited
            {
                // Output could not be drained while held: give the grace
                // again from now.
                *until = (*until).max(Instant::now() + EXIT_DRAIN_GRACE);
            }
        }
        let want_write = written < outgoing.len() && pty_open;

        let mut fds = Vec::with_capacity(3);
        fds.push(PollFd::new(shared.wake.fd(), false));
        let master_at = (pty_open && !held).then(|| {
            fds.push(PollFd::new(shared.master.as_fd(), want_write));
            fds.len() - 1
        });
        let pid_at = (exited.is_none() && !published).then(|| {
            fds.push(PollFd::new(shared.pidfd.as_fd(), false));
            fds.len() - 1
        });
        let timeout = match exited {
            Some((_, until)) if !published && !held => Some(until.saturating_duration_since(Instant::now())),
            _ => None,
        };
        if sys::poll(&mut fds, timeout).is_err() {
            // poll only fails for resource exhaustion; treat the PTY as gone
            // rather than spin, and keep serving exit and stop.
            pty_open = false;
        }

        if fds[0].readable() {
            shared.wake.clear();
        }
        if let Some(i) = master_at {
            if fds[i].readable() {
                match sys::read(shared.master.as_fd(), &mut buf) {
                    Ok(Io::Done(n)) => {
                        let mut st = shared.state.lock();
                        let offset = st.ring.end();
                        let dropped = st.ring.push(&buf[..n]);
                        st.taps.emit(Event::Output {
                            offset,
                            bytes: &buf[..n],
                        });
                        if dropped > 0 {
                            st.taps.emit(Event::Dropped { bytes: dropped });
                        }
                        // A tap emulating the terminal (the screen) may
                        // answer a query in this output: queue the answer
                        // as the child's input; the loop writes it next.
                        let reply = st.taps.take_replies();
                        if !reply.is_empty() {
                            st.input.extend(&reply);
                            st.taps.emit(Event::Input { bytes: &reply });
                        }
                        drop(st);
                        shared.changed.notify_all();
                    }
                    Ok(Io::WouldBlock) => {}
                    Ok(Io::Closed) | Err(_) => {
                        pty_open = false;
                        shared.state.lock().output_ended = true;
                    }
                }
            }
            if pty_open && want_write && fds[i].writable() {
                match sys::write(shared.master.as_fd(), &outgoing[written..]) {
                    Ok(Io::Done(n)) => written += n,
                    Ok(Io::WouldBlock) => {}
                    Ok(Io::Closed) | Err(_) => pty_open = false,
                }
            }
        }
        if let Some(i) = pid_at
            && fds[i].readable()
        {
            match sys::peek_exit(shared.pid) {
                Ok(Some(status)) => exited = Some((status, Instant::now() + EXIT_DRAIN_GRACE)),
                Ok(None) => {}
                // The child cannot be waited for (should not happen: we
                // never reap before close). Publish a kill so waiters end.
                Err(_) => exited = Some((ExitStatus::Signaled(libc::SIGKILL), Instant::now())),
            }
        }
        if let Some((status, until)) = exited
            && !published
            && !held
            && (!pty_open || Instant::now() >= until)
        {
            published = true;
            outgoing.clear();
            written = 0;
            let mut st = shared.state.lock();
            st.exit = Some(status);
            // Nobody will read input any more.
            st.input.clear();
            st.taps.emit(Event::Exit { status });
            drop(st);
            shared.changed.notify_all();
        }
    }
}
