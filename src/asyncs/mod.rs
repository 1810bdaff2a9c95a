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
//! - [`repl`]: [`AsyncRepl`](repl::AsyncRepl), a `Repl` whose turns are
//!   futures (the same steps as the blocking form, each wait awaited).

pub(crate) mod events;
pub(crate) mod repl;
pub(crate) mod session;
pub(crate) mod waiter;
