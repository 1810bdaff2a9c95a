//! [`AsyncSession`]: the session handle for async programs.

use std::future::poll_fn;
use std::time::{Duration, Instant};

use crate::asyncs::events::Events;
use crate::asyncs::waiter::Waiter;
use crate::asyncs::waiter::flight_ready;
use crate::engine::core::Guard;
use crate::engine::result::PollResult;
use crate::error::Result;
use crate::id::SessionId;
use crate::limits::{DEFAULT_EVENT_CAPACITY, DEFAULT_MAX_OUTPUT_BYTES};
use crate::screen::view::{ScreenMatch, ScreenWait};
use crate::session::command::Command;
use crate::session::handle::{Session, deadline_after};
use crate::status::ExitStatus;
use crate::turn::run::{RunOptions, RunOutput};
use crate::wait::pattern::Patterns;
use crate::wait::wait_for::{Expect, Found, Match, Origin, take_match};

/// A [`Session`] for async programs (cargo feature `tokio`): the same
/// session, whose waits are futures.
///
/// The awaited methods — [`poll`](Self::poll),
/// [`write_stdin`](Self::write_stdin), [`wait`](Self::wait),
/// [`wait_for`](Self::wait_for) and its forms, [`run`](Self::run) — keep
/// the blocking forms' meaning (`yield_time` is a bound, deadlines are std
/// [`Instant`]s) and never block a runtime thread: they are woken by the
/// session's pump, and by a tokio timer for their deadline, so they need a
/// tokio runtime with time enabled. Any of them may also be wrapped in
/// `tokio::time::timeout`. The methods that never wait
/// ([`send`](Self::send), [`read`](Self::read), signals, ...) are plain
/// methods; everything else (the screen, recording, summaries) is on the
/// [`Session`] from [`session`](Self::session), and none of it waits.
///
/// # Cancellation
///
/// Every awaited method is cancellation-safe: a future dropped before it
/// completes (by `select!`, a timeout, a task abort) has consumed no
/// output and left the unread cursor where it was, because output is only
/// ever taken in the same atomic step that completes the future. The one
/// thing a dropped future may already have done is send input
/// ([`write_stdin`](Self::write_stdin), [`run`](Self::run)): that input
/// stays sent.
///
/// A clone shares the session, as for [`Session`], and the conversions go
/// both ways ([`From`]), so a program may mix blocking and async use.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> bgterm::Result<()> {
/// use std::time::Duration;
/// use bgterm::AsyncSession;
///
/// let t = Some(Duration::from_secs(10));
/// let sh = AsyncSession::start(["sh"])?;
/// let r = sh.run("echo hello; f() { return 3; }; f", t).await?;
/// assert_eq!((r.output.as_str(), r.exit_code), ("hello\n", 3));
///
/// let cat = AsyncSession::start(["cat"])?;
/// let at = cat.output_offset()?;
/// cat.send("ping\n")?;
/// let m = cat.wait_for_from(at, "ping", t).await?;
/// assert_eq!(m.match_start, at);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncSession {
    session: Session,
}

impl From<Session> for AsyncSession {
    fn from(session: Session) -> AsyncSession {
        AsyncSession { session }
    }
}

impl From<AsyncSession> for Session {
    fn from(session: AsyncSession) -> Session {
        session.session
    }
}

impl AsyncSession {
    /// Starts `command` (as [`Session::start`]); use
    /// [`SessionBuilder`](crate::SessionBuilder) and [`From`] for options.
    ///
    /// # Errors
    ///
    /// As for [`Session::start`].
    pub fn start(command: impl Into<Command>) -> Result<AsyncSession> {
        Session::start(command).map(AsyncSession::from)
    }

    /// The blocking handle to the same session (for the screen, recording,
    /// summaries: none of them waits).
    #[must_use]
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The blocking handle, giving up this one.
    #[must_use]
    pub fn into_session(self) -> Session {
        self.session
    }

    /// The session's id (see [`Session::id`]).
    #[must_use]
    pub fn id(&self) -> SessionId {
        self.session.id()
    }

    /// The child's process id (see [`Session::pid`]).
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.session.pid()
    }

    // ---- Plain methods: they never wait ----

    /// Queues `text` for the child without waiting (see [`Session::send`]).
    ///
    /// # Errors
    ///
    /// As for [`Session::send`].
    pub fn send(&self, text: &str) -> Result<()> {
        self.session.send(text)
    }

    /// Queues raw bytes for the child (see [`Session::send_bytes`]).
    ///
    /// # Errors
    ///
    /// As for [`Session::send_bytes`].
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        self.session.send_bytes(bytes)
    }

    /// The next unread chunk at once (see [`Session::read`]).
    ///
    /// # Errors
    ///
    /// As for [`Session::read`].
    pub fn read(&self) -> Result<PollResult> {
        self.session.read()
    }

    /// [`read`](Self::read) returning at most `max_output_bytes` bytes.
    ///
    /// # Errors
    ///
    /// As for [`Session::read`].
    pub fn read_with_limit(&self, max_output_bytes: usize) -> Result<PollResult> {
        self.session.read_with_limit(max_output_bytes)
    }

    /// The offset the next output will have (see
    /// [`Session::output_offset`]): take it before sending, then
    /// [`wait_for_from`](Self::wait_for_from) it.
    ///
    /// # Errors
    ///
    /// As for [`Session::output_offset`].
    pub fn output_offset(&self) -> Result<u64> {
        self.session.output_offset()
    }

    /// The exit status if the child has exited (see [`Session::try_wait`]).
    ///
    /// # Errors
    ///
    /// As for [`Session::try_wait`].
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        self.session.try_wait()
    }

    /// Whether the child is still running.
    ///
    /// # Errors
    ///
    /// As for [`Session::is_running`].
    pub fn is_running(&self) -> Result<bool> {
        self.session.is_running()
    }

    /// SIGTERM to the child (see [`Session::terminate`]).
    ///
    /// # Errors
    ///
    /// As for [`Session::terminate`].
    pub fn terminate(&self) -> Result<()> {
        self.session.terminate()
    }

    /// SIGKILL to the child's terminal session (see [`Session::kill`]).
    ///
    /// # Errors
    ///
    /// As for [`Session::kill`].
    pub fn kill(&self) -> Result<()> {
        self.session.kill()
    }

    /// Sends `signal` to the child (see [`Session::signal`]).
    ///
    /// # Errors
    ///
    /// As for [`Session::signal`].
    pub fn signal(&self, signal: i32) -> Result<()> {
        self.session.signal(signal)
    }

    /// Changes the terminal size (see [`Session::resize`]).
    ///
    /// # Errors
    ///
    /// As for [`Session::resize`].
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        self.session.resize(rows, cols)
    }

    /// The terminal size as (rows, cols).
    ///
    /// # Errors
    ///
    /// As for [`Session::size`].
    pub fn size(&self) -> Result<(u16, u16)> {
        self.session.size()
    }

    /// Closes the session (see [`Session::close`]). It does not wait for
    /// the child: the kill is immediate and the pump thread it joins wakes
    /// at once. Pending waits on the session end with
    /// [`Error::SessionClosed`](crate::Error::SessionClosed).
    ///
    /// # Errors
    ///
    /// As for [`Session::close`].
    pub fn close(&self) -> Result<ExitStatus> {
        self.session.close()
    }

    /// The session's events from now on, as a stream (see [`Events`]),
    /// with room for [`DEFAULT_EVENT_CAPACITY`] undelivered events.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`](crate::Error::SessionClosed).
    pub fn events(&self) -> Result<Events> {
        self.events_with_capacity(DEFAULT_EVENT_CAPACITY)
    }

    /// [`events`](Self::events) with room for `capacity` (at least 3)
    /// undelivered events; the rules for a stream that falls behind are
    /// [`Session::subscribe_with_capacity`]'s.
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`](crate::Error::SessionClosed).
    pub fn events_with_capacity(&self, capacity: usize) -> Result<Events> {
        let rx = self.session.subscribe_with_capacity(capacity)?;
        Ok(Events::new(rx, &self.session.core()?))
    }

    // ---- Awaited methods ----

    /// Waits up to `yield_time` for output and returns the next unread
    /// chunk, as [`Session::poll`]: at once if output is buffered, else the
    /// moment output arrives or the child exits, else when the time is up
    /// (with empty text). The time counts from the first poll of the
    /// future.
    ///
    /// Cancellation-safe: until it completes it takes nothing.
    ///
    /// # Errors
    ///
    /// As for [`Session::poll`].
    pub async fn poll(&self, yield_time: Duration) -> Result<PollResult> {
        self.poll_with_limit(yield_time, DEFAULT_MAX_OUTPUT_BYTES).await
    }

    /// [`poll`](Self::poll) returning at most `max_output_bytes` bytes.
    ///
    /// # Errors
    ///
    /// As for [`Session::poll`].
    pub async fn poll_with_limit(&self, yield_time: Duration, max_output_bytes: usize) -> Result<PollResult> {
        let mut waiter = Waiter::new(&self.session, deadline_after(Some(yield_time)))?;
        poll_fn(|cx| {
            waiter.poll_with(cx, |g, timed_out| {
                (timed_out || g.unread() > 0 || g.exit().is_some()).then(|| g.take(max_output_bytes))
            })
        })
        .await
    }

    /// Sends `chars`, then waits up to `yield_time` for output and returns
    /// the next unread chunk, as [`Session::write_stdin`].
    ///
    /// Cancellation-safe for output: the input is sent when the future is
    /// first polled (and stays sent if it is then dropped); the output is
    /// taken only when it completes.
    ///
    /// # Errors
    ///
    /// As for [`Session::write_stdin`].
    pub async fn write_stdin(&self, chars: &str, yield_time: Duration) -> Result<PollResult> {
        self.write_stdin_with_limit(chars, yield_time, DEFAULT_MAX_OUTPUT_BYTES)
            .await
    }

    /// [`write_stdin`](Self::write_stdin) returning at most
    /// `max_output_bytes` bytes of output.
    ///
    /// # Errors
    ///
    /// As for [`Session::write_stdin`].
    pub async fn write_stdin_with_limit(
        &self,
        chars: &str,
        yield_time: Duration,
        max_output_bytes: usize,
    ) -> Result<PollResult> {
        self.session.send(chars)?;
        self.poll_with_limit(yield_time, max_output_bytes).await
    }

    /// Waits for the child to exit: forever with `None`, else at most
    /// `timeout`; `None` on timeout. As for [`Session::wait`], all output
    /// the child wrote is readable once it returns a status.
    ///
    /// Cancellation-safe: it takes nothing.
    ///
    /// # Errors
    ///
    /// As for [`Session::wait`].
    pub async fn wait(&self, timeout: Option<Duration>) -> Result<Option<ExitStatus>> {
        self.wait_deadline(deadline_after(timeout)).await
    }

    /// [`wait`](Self::wait) until `deadline` (`None`: no deadline).
    ///
    /// # Errors
    ///
    /// As for [`Session::wait`].
    pub async fn wait_deadline(&self, deadline: Option<Instant>) -> Result<Option<ExitStatus>> {
        let mut waiter = Waiter::new(&self.session, deadline)?;
        poll_fn(|cx| {
            waiter.poll_with(cx, |g, timed_out| {
                let exit = g.exit();
                (timed_out || exit.is_some()).then_some(Ok(exit))
            })
        })
        .await
    }

    /// Waits until one of `patterns` appears in the output from the unread
    /// cursor on (buffered output counts), for at most `timeout`, as
    /// [`Session::wait_for`] (the same implementation, woken by a waker
    /// instead of a condvar). On success the unread cursor moves past the
    /// match.
    ///
    /// Cancellation-safe: the match and the output before it are taken in
    /// the step that completes the future, so a future dropped before that
    /// (say, a `select!` with a timer that fired first) has consumed
    /// nothing; a later read returns every byte.
    ///
    /// # Errors
    ///
    /// As for [`Session::wait_for`].
    pub async fn wait_for(&self, patterns: impl Into<Patterns>, timeout: Option<Duration>) -> Result<Match> {
        let patterns = patterns.into();
        self.expect(Origin::Cursor, patterns, deadline_after(timeout))
            .await
    }

    /// [`wait_for`](Self::wait_for) until `deadline` (`None`: no limit).
    ///
    /// # Errors
    ///
    /// As for [`Session::wait_for`].
    pub async fn wait_for_deadline(
        &self,
        patterns: impl Into<Patterns>,
        deadline: Option<Instant>,
    ) -> Result<Match> {
        let patterns = patterns.into();
        self.expect(Origin::Cursor, patterns, deadline).await
    }

    /// Like [`wait_for`](Self::wait_for), but matches only output that
    /// arrives after the future is created, as [`Session::wait_for_new`].
    /// Cancellation-safe, as `wait_for`.
    ///
    /// # Errors
    ///
    /// As for [`Session::wait_for`].
    pub async fn wait_for_new(
        &self,
        patterns: impl Into<Patterns>,
        timeout: Option<Duration>,
    ) -> Result<Match> {
        let patterns = patterns.into();
        self.expect(Origin::End, patterns, deadline_after(timeout)).await
    }

    /// Like [`wait_for`](Self::wait_for), but matches output from absolute
    /// offset `offset` on, including output that arrived before the call
    /// (see [`Session::wait_for_from`]): the race-free way to wait for the
    /// answer to input. Cancellation-safe, as `wait_for`.
    ///
    /// # Errors
    ///
    /// As for [`Session::wait_for`].
    pub async fn wait_for_from(
        &self,
        offset: u64,
        patterns: impl Into<Patterns>,
        timeout: Option<Duration>,
    ) -> Result<Match> {
        let patterns = patterns.into();
        self.expect(Origin::Offset(offset), patterns, deadline_after(timeout))
            .await
    }

    /// [`wait_for_from`](Self::wait_for_from) until `deadline`.
    ///
    /// # Errors
    ///
    /// As for [`Session::wait_for`].
    pub async fn wait_for_from_deadline(
        &self,
        offset: u64,
        patterns: impl Into<Patterns>,
        deadline: Option<Instant>,
    ) -> Result<Match> {
        let patterns = patterns.into();
        self.expect(Origin::Offset(offset), patterns, deadline).await
    }

    /// Runs `command` in this session's shell and returns its output and
    /// exit code, for at most `timeout`, as [`Session::run`] (the same
    /// implementation: the shell's own prompt reports the status; a
    /// collector of the run's own gathers the output, and this future is
    /// woken by it).
    ///
    /// Cancellation: a future dropped before it completes has consumed no
    /// output, but the command was typed at its first poll and keeps
    /// running, as after a timeout: [`Session::run_resume`] (on
    /// [`session`](Self::session)) collects it, and a new `run` is
    /// [`Error::RunBusy`](crate::Error::RunBusy) until then.
    ///
    /// # Errors
    ///
    /// As for [`Session::run`].
    pub async fn run(&self, command: &str, timeout: Option<Duration>) -> Result<RunOutput> {
        self.run_with(command, &RunOptions::new().timeout(timeout)).await
    }

    /// [`run`](Self::run) with options, as [`Session::run_with`].
    ///
    /// # Errors
    ///
    /// As for [`Session::run`].
    pub async fn run_with(&self, command: &str, options: &RunOptions) -> Result<RunOutput> {
        let s = &self.session;
        let started = Instant::now();
        let deadline = deadline_after(options.get_timeout());
        let claim = s.run_claim(command)?;
        let nonce = match &claim.nonce {
            Some(n) => n.clone(),
            None => {
                if s.run_needs_ready() {
                    self.wait_for_from_deadline(0, crate::turn::run::READY, deadline)
                        .await?;
                }
                let setup = s.set_up_begin()?;
                let ready = flight_ready(s, setup.shared(), deadline).await;
                s.set_up_end(setup, ready, started)?
            }
        };
        let shared = s.run_launch(&claim, &nonce, options)?;
        loop {
            let ready = flight_ready(s, &shared, deadline).await;
            if let Some(result) = s.run_step(&shared, &claim.command, started, !ready) {
                return result;
            }
        }
    }

    /// Keeps waiting, for at most `timeout`, for the command of a `run`
    /// that timed out, as [`Session::run_resume`].
    ///
    /// Cancellation: a future dropped before it completes leaves the run
    /// pending, as a timeout does.
    ///
    /// # Errors
    ///
    /// As for [`Session::run_resume`].
    pub async fn run_resume(&self, timeout: Option<Duration>) -> Result<RunOutput> {
        self.resume(timeout, false).await
    }

    /// Interrupts the command of an unfinished `run` with Ctrl-C and waits
    /// for the shell's prompt, as [`Session::run_interrupt`].
    ///
    /// # Errors
    ///
    /// As for [`Session::run_interrupt`].
    pub async fn run_interrupt(&self, timeout: Option<Duration>) -> Result<RunOutput> {
        self.resume(timeout, true).await
    }

    async fn resume(&self, timeout: Option<Duration>, interrupt: bool) -> Result<RunOutput> {
        let s = &self.session;
        let started = Instant::now();
        let deadline = deadline_after(timeout);
        let (_waiting, command, shared) = s.resume_begin(interrupt)?;
        loop {
            let ready = flight_ready(s, &shared, deadline).await;
            if let Some(result) = s.run_step(&shared, &command, started, !ready) {
                return result;
            }
        }
    }

    /// Waits until the rendered screen shows one of `patterns`, as
    /// [`Session::wait_for_screen`], woken by the session's output. The
    /// screen is parsed on the runtime thread at each wake-up.
    ///
    /// Cancellation-safe: it consumes nothing.
    ///
    /// # Errors
    ///
    /// As for [`Session::wait_for_screen`].
    pub async fn wait_for_screen(
        &self,
        patterns: impl Into<Patterns>,
        timeout: Option<Duration>,
    ) -> Result<ScreenMatch> {
        let mut wait = ScreenWait::new(patterns.into(), timeout);
        loop {
            if let Some(done) = wait.look(&self.session) {
                return done;
            }
            let seen_end = wait.seen_end;
            let mut waiter = Waiter::new(&self.session, wait.deadline)?;
            poll_fn(|cx| {
                waiter.poll_with(cx, |g, timed_out| {
                    (timed_out || g.end() != seen_end || g.exit().is_some()).then_some(Ok(()))
                })
            })
            .await?;
        }
    }

    // `eval` (with an async `Repl`) would go here, on `Waiter` like
    // `expect` below.

    async fn expect(&self, from: Origin, patterns: Patterns, deadline: Option<Instant>) -> Result<Match> {
        let encoding = self.session.encoding();
        self.find(from, patterns, deadline, |g, found| {
            take_match(g, encoding, found)
        })
        .await
    }

    /// Waits for a match of `patterns` from `from`, then calls `finish` on
    /// it in the same step (under the same lock).
    async fn find<T>(
        &self,
        from: Origin,
        patterns: Patterns,
        deadline: Option<Instant>,
        mut finish: impl FnMut(&mut Guard<'_>, Found) -> Result<T>,
    ) -> Result<T> {
        let patterns = Expect::encode(&self.session, patterns)?;
        let mut waiter = Waiter::new(&self.session, deadline)?;
        let mut expect = {
            let core = self.session.core()?;
            let mut g = core.lock()?;
            Expect::start(&self.session, &mut g, from, patterns)
        };
        let mut first = true;
        poll_fn(|cx| {
            waiter.poll_with(cx, |g, timed_out| {
                if !first && !timed_out && !expect.changed(g) {
                    return None; // woken by something else: nothing new
                }
                first = false;
                expect
                    .step(g, timed_out)
                    .map(|found| found.and_then(|f| finish(g, f)))
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    #[test]
    fn a_pending_future_registers_one_waker_and_a_dropped_one_none() {
        let s = AsyncSession::start(["cat"]).unwrap();
        let core = s.session.core().unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        {
            // No deadline: no timer, so no runtime is needed to poll.
            let mut wait = pin!(s.wait_for("never", None));
            for _ in 0..3 {
                assert!(matches!(wait.as_mut().poll(&mut cx), Poll::Pending));
            }
            assert_eq!(core.registered_wakers(), 1, "re-polls replace the waker");
            let mut exit = pin!(s.wait(None));
            assert!(matches!(exit.as_mut().poll(&mut cx), Poll::Pending));
            assert_eq!(core.registered_wakers(), 2);
        }
        assert_eq!(core.registered_wakers(), 0, "dropped futures deregister");
        let mut events = s.events().unwrap();
        assert!(matches!(events.poll_event(&mut cx), Poll::Pending));
        assert_eq!(core.registered_wakers(), 1);
        drop(events);
        assert_eq!(core.registered_wakers(), 0);
        s.close().unwrap();
    }
}
