//! [`Events`]: a session's event stream for async programs.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use crossbeam_channel::{Receiver, TryRecvError};

use crate::engine::core::Core;
use crate::engine::wakers::WakerSlot;
use crate::wait::events::SessionEvent;

/// A session's events as a [`futures_core::Stream`] (from
/// [`AsyncSession::events`](crate::AsyncSession::events)): output with its
/// offsets, buffer drops, resizes, [`SessionEvent::Missed`] for a stream
/// that fell behind, and finally [`SessionEvent::Exited`], after which the
/// stream ends (yields `None`). If the session is closed before its child
/// exits, the stream ends after the events already delivered.
///
/// The same subscription as [`Session::subscribe`](crate::Session::subscribe),
/// woken by the session's pump instead of read from a blocking channel; the
/// stream does not keep the session open. Reading it never moves the
/// unread cursor, and dropping a `recv` or `next` future loses no event.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> bgterm::Result<()> {
/// use bgterm::{AsyncSession, SessionEvent};
///
/// let s = AsyncSession::start("read x; echo got-$x")?;
/// let mut events = s.events()?;
/// s.send("1\n")?;
/// let mut text = String::new();
/// let mut last = None;
/// while let Some(event) = events.recv().await {
///     if let SessionEvent::Output { text: t, .. } = &event {
///         text += t;
///     }
///     last = Some(event);
/// }
/// assert!(text.contains("got-1"));
/// assert!(matches!(last, Some(SessionEvent::Exited { .. })));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Events {
    rx: Receiver<SessionEvent>,
    core: Weak<Core>,
    slot: WakerSlot,
}

impl Events {
    pub(crate) fn new(rx: Receiver<SessionEvent>, core: &Arc<Core>) -> Events {
        Events {
            rx,
            core: Arc::downgrade(core),
            slot: WakerSlot::default(),
        }
    }

    /// The next event, or `None` once the stream has ended.
    /// Cancellation-safe: a dropped `recv` future has taken no event.
    pub async fn recv(&mut self) -> Option<SessionEvent> {
        poll_fn(|cx| self.poll_event(cx)).await
    }

    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<SessionEvent>> {
        match self.rx.try_recv() {
            Ok(event) => return Poll::Ready(Some(event)),
            Err(TryRecvError::Disconnected) => return Poll::Ready(None),
            Err(TryRecvError::Empty) => {}
        }
        // Events are sent under the state lock: looking again under it,
        // then registering before unlocking, misses none.
        let Some(core) = self.core.upgrade() else {
            return Poll::Ready(self.rx.try_recv().ok());
        };
        let Ok(g) = core.lock() else {
            // Closed: the subscription is gone; what it sent is still here.
            return Poll::Ready(self.rx.try_recv().ok());
        };
        match self.rx.try_recv() {
            Ok(event) => Poll::Ready(Some(event)),
            Err(TryRecvError::Disconnected) => Poll::Ready(None),
            Err(TryRecvError::Empty) => {
                g.register_waker(&mut self.slot, cx.waker());
                Poll::Pending
            }
        }
    }
}

impl futures_core::Stream for Events {
    type Item = SessionEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SessionEvent>> {
        self.get_mut().poll_event(cx)
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        if let Some(core) = self.core.upgrade() {
            core.deregister_waker(&mut self.slot);
        }
    }
}
