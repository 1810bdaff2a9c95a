//! The one thread each session runs: it moves output into the ring, input
//! the caller could not write at once into the PTY, and notices the
//! child's exit.
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
use crate::engine::state::Shared;
use crate::engine::tap::Event;
use crate::sys::{self, Io, PollFd};

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

/// Runs until the session is closed.
pub(crate) fn run(shared: Arc<Shared>) {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut pty_open = true;
    // Exit seen on the pidfd but not yet published, and until when to drain.
    let mut exited: Option<(ExitStatus, Instant)> = None;
    let mut published = false;
    // What the pump needs from the state (stop, queued input, sink
    // backpressure) changes only when a caller or a sink signals `wake`, or
    // under the pump's own lock when it publishes output or writes input;
    // it re-reads it only then, so that moving output takes one lock per
    // chunk.
    let mut stale = true;
    let mut want_write = false;
    // Whether a tap (a lossless sink) asked us to hold output back.
    let mut held = false;
    let mut fds: Vec<PollFd> = Vec::with_capacity(3);

    loop {
        if stale {
            let st = shared.state.lock();
            if st.stop {
                return;
            }
            // Input the caller could not write at once (see
            // `Session::send_bytes`) waits in `st.input` until the PTY
            // takes it.
            want_write = !st.input.is_empty();
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
            stale = false;
        }
        let want_write_now = want_write && pty_open;

        fds.clear();
        fds.push(PollFd::new(shared.wake.fd(), false));
        let master_at = (pty_open && !held).then(|| {
            fds.push(PollFd::new(shared.master.as_fd(), want_write_now));
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
            stale = true;
        }
        if let Some(i) = master_at {
            if fds[i].readable() {
                // While output streams, read on until the buffer is full or
                // the PTY has nothing more, then publish it all under one
                // lock and one notification: fewer wake-ups of waiters. A
                // short read (interactive output) is published at once.
                let mut filled = 0;
                let mut ended = false;
                while filled < buf.len() {
                    match sys::read(shared.master.as_fd(), &mut buf[filled..]) {
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
                if filled > 0 || ended {
                    let mut st = shared.state.lock();
                    if filled > 0 {
                        let offset = st.ring.end();
                        let dropped = st.ring.push(&buf[..filled]);
                        st.taps.emit(Event::Output {
                            offset,
                            bytes: &buf[..filled],
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
                        want_write = !st.input.is_empty();
                        // The taps just saw output: a sink may be behind now.
                        held = st.taps.backlogged();
                    }
                    if ended {
                        // Every holder of the terminal is gone: nothing
                        // more can arrive (after the bytes just published).
                        pty_open = false;
                        st.output_ended = true;
                    }
                    drop(st);
                    shared.changed.notify_all();
                }
            }
            if pty_open && want_write_now && fds[i].writable() {
                // Written under the lock, so that a caller writing directly
                // can never overtake queued input.
                let mut st = shared.state.lock();
                let front = st.input.as_slices().0;
                match sys::write(shared.master.as_fd(), front) {
                    Ok(Io::Done(n)) => drop(st.input.drain(..n)),
                    Ok(Io::WouldBlock) => {}
                    // Nobody can take input any more, but output the child
                    // wrote last may still be waiting to be read: drop the
                    // input and keep reading until the read reports EOF.
                    Ok(Io::Closed) | Err(_) => st.input.clear(),
                }
                want_write = !st.input.is_empty();
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
            let mut st = shared.state.lock();
            st.exit = Some(status);
            // Nobody will read input any more.
            st.input.clear();
            want_write = false;
            st.taps.emit(Event::Exit { status });
            drop(st);
            shared.changed.notify_all();
        }
    }
}
