//! One session's moving parts, knowing no feature.
//!
//! ```text
//!   sys (PTY, pidfd, eventfd)
//!        │
//!   reactor ─▶ pump ──publish_output / write_input / publish_exit──▶ state ──▶ taps
//!        ▲                                                 │  (features)
//!        └──── wake (eventfd) ──── core (lock + condvar) ◀─┘
//!                                   └─ a blocked waiter: poll(2) on the PTY,
//!                                      publish_output (direct)
//! ```
//!
//! - [`ring`] and [`decode`]: the bounded output buffer with its unread
//!   cursor and absolute offsets, and the incremental decoder. Pure.
//! - [`state`]: everything mutable, with private fields and the methods
//!   that keep its invariants. Pure: tested without a PTY.
//! - [`core`]: the state under its mutex, the condvar waiters block on, the
//!   descriptors; what the session handle and the features call.
//! - [`pump`]: moves bytes between the PTY and the state, step by step,
//!   owning no thread.
//! - [`reactor`]: one thread and one epoll serving every session's pump.
//! - [`direct`]: a waiter blocked for output reads the PTY itself, while
//!   the reactor allows it (woken once, straight from the kernel).
//! - [`tap`]: the one interface features attach through: they see every
//!   event in order, may hold output back, and may answer queries.
//! - [`result`]: what a read returns.
//! - [`wakers`]: the condvar's counterpart for async waiters (std
//!   [`Waker`](std::task::Waker)s; the engine knows no runtime).

pub(crate) mod core;
pub(crate) mod decode;
pub(crate) mod direct;
pub(crate) mod pump;
pub(crate) mod reactor;
pub(crate) mod result;
pub(crate) mod ring;
pub(crate) mod state;
pub(crate) mod tap;
pub(crate) mod wakers;
