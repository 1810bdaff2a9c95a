//! The poll loop every async wait runs: check under the state lock,
//! register the waker before unlocking, sleep on tokio's timer until the
//! deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::engine::core::{Core, Guard};
use crate::engine::wakers::WakerSlot;
use crate::error::Result;
use crate::session::handle::Session;
use crate::turn::run::FlightShared;

/// One awaited wait on a session. Dropping it forgets its waker.
pub(crate) struct Waiter {
    core: Arc<Core>,
    slot: WakerSlot,
    deadline: Option<Instant>,
    /// The deadline's timer, made at the first poll that needs it.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The timer fired.
    expired: bool,
}

impl Waiter {
    /// A wait on `session` until `deadline` (`None`: no deadline).
    ///
    /// # Errors
    ///
    /// [`Error::SessionClosed`](crate::error::Error::SessionClosed).
    pub(crate) fn new(session: &Session, deadline: Option<Instant>) -> Result<Waiter> {
        Ok(Waiter {
            core: session.core()?,
            slot: WakerSlot::default(),
            deadline,
            sleep: None,
            expired: false,
        })
    }

    /// Calls `step` on the locked state, with whether the deadline has
    /// passed, until it returns a result. While it returns `None` the
    /// future stays pending, woken by the pump's next change or the timer.
    ///
    /// `step` must return a result once the deadline has passed (the
    /// flag is true). It runs under the state lock, so what it decides and any output
    /// it takes happen in one atomic step: a future dropped between polls
    /// has changed nothing.
    pub(crate) fn poll_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut step: impl FnMut(&mut Guard<'_>, bool) -> Option<Result<T>>,
    ) -> Poll<Result<T>> {
        loop {
            let timed_out = self.expired || self.deadline.is_some_and(|d| Instant::now() >= d);
            let mut g = match self.core.lock() {
                Ok(g) => g,
                Err(e) => return Poll::Ready(Err(e)),
            };
            if let Some(done) = step(&mut g, timed_out) {
                return Poll::Ready(done);
            }
            // Before unlocking: a change after this check wakes us.
            g.register_waker(&mut self.slot, cx.waker());
            drop(g);
            let Some(deadline) = self.deadline else {
                return Poll::Pending;
            };
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.expired = true;
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.core.deregister_waker(&mut self.slot);
    }
}

/// Waits, without blocking, until `shared` (a `run`'s flight) has ended or
/// asks for attention — what `Session::wait_flight` waits for — or until
/// `deadline`, woken by the session's changes (the flight's tap has seen
/// them by then). Returns whether it did before the deadline. Dropping the
/// future forgets its waker and changes nothing.
pub(crate) async fn flight_ready(
    session: &Session,
    shared: &FlightShared,
    deadline: Option<Instant>,
) -> bool {
    let waited = match Waiter::new(session, deadline) {
        Ok(mut w) => {
            std::future::poll_fn(|cx| {
                w.poll_with(cx, |_, timed_out| {
                    if shared.ready() {
                        Some(Ok(true))
                    } else if timed_out {
                        Some(Ok(false))
                    } else {
                        None
                    }
                })
            })
            .await
        }
        Err(e) => Err(e),
    };
    match waited {
        Ok(ready) => ready,
        Err(_) => {
            // Closed, before or during the wait.
            shared.close();
            true
        }
    }
}
