//! The async API (cargo feature `tokio`): [`AsyncSession`], whose waits
//! are futures woken by the session's pump, and [`Events`], a session's
//! event stream.
//!
//! How a wait works without blocking a runtime thread: each future is a
//! poll-based state machine over the same state the blocking forms use.
//! On every poll it locks the session's state, checks its condition (the
//! same check as the blocking form), and if that is not met registers its
//! waker *before* releasing the lock (see the engine's `wakers`), so the
//! pump's next change wakes it and none is lost. A deadline is a tokio
//! timer in the future. No thread is blocked and none is spawned.
//!
//! - [`waiter`]: that one poll loop, shared by every wait.
//! - [`session`]: [`AsyncSession`], its awaited and its plain methods.
//! - [`events`]: [`Events`], a `futures_core::Stream` of
//!   [`SessionEvent`](crate::SessionEvent)s.
//!
//! Still to come, each from its own branch: `wait_for_screen` (an async
//! form of the screen wait, once it exists) and `eval` with an async
//! `Repl`. Both go in [`session`] as awaited methods built on
//! [`waiter::Waiter`], like `wait_for` here.

pub(crate) mod events;
pub(crate) mod session;
pub(crate) mod waiter;
