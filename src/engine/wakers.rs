//! The async side of a session's notifications, with std only: the
//! [`Waker`]s of futures waiting on the state, woken by every change that
//! also notifies the condvar.
//!
//! Why no wake-up is lost: a future checks its condition under the state
//! lock and, if it is not met, registers its waker *before* releasing that
//! lock; every change it waits for is made under the same lock and followed
//! by [`Wakers::wake_all`]. So either the future saw the change, or the
//! change comes after the registration and wakes it.
//!
//! Why the sync path does not pay: with no future registered, waking costs
//! one atomic load and takes no lock.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::Waker;

use parking_lot::Mutex;

/// The wakers registered on one session.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    /// How many are registered (read without the lock by `wake_all`).
    len: AtomicUsize,
    list: Mutex<Vec<(u64, Waker)>>,
    next: AtomicU64,
}

/// One waiting future's registration: re-registering replaces its waker
/// rather than adding one, and [`Wakers::deregister`] removes it.
#[derive(Debug, Default)]
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) struct WakerSlot(Option<u64>);

impl Wakers {
    /// Registers (or refreshes) `slot`'s waker until the next
    /// [`wake_all`](Self::wake_all). Call it with the state lock held.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn register(&self, slot: &mut WakerSlot, waker: &Waker) {
        let key = *slot
            .0
            .get_or_insert_with(|| self.next.fetch_add(1, Ordering::Relaxed));
        let mut list = self.list.lock();
        match list.iter_mut().find(|(k, _)| *k == key) {
            Some((_, w)) => w.clone_from(waker),
            None => {
                list.push((key, waker.clone()));
                self.len.store(list.len(), Ordering::Release);
            }
        }
    }

    /// Removes `slot`'s waker, if it is registered (a future dropped
    /// before it completed).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn deregister(&self, slot: &mut WakerSlot) {
        let Some(key) = slot.0.take() else { return };
        if self.len.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut list = self.list.lock();
        list.retain(|(k, _)| *k != key);
        self.len.store(list.len(), Ordering::Release);
    }

    /// How many wakers are registered.
    #[cfg(test)]
    pub(crate) fn registered(&self) -> usize {
        self.list.lock().len()
    }

    /// Wakes and removes every registered waker (each woken future checks
    /// its condition again, and registers again if it still waits). Call it
    /// after releasing the state lock.
    pub(crate) fn wake_all(&self) {
        if self.len.load(Ordering::Acquire) == 0 {
            return;
        }
        let woken = {
            let mut list = self.list.lock();
            self.len.store(0, Ordering::Release);
            std::mem::take(&mut *list)
        };
        for (_, waker) in woken {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (Arc::clone(&count), Waker::from(count))
    }

    #[test]
    fn a_registered_waker_is_woken_once_and_then_forgotten() {
        let wakers = Wakers::default();
        let (count, w) = waker();
        let mut slot = WakerSlot::default();
        wakers.register(&mut slot, &w);
        wakers.wake_all();
        wakers.wake_all();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn registering_again_replaces_and_deregistering_removes() {
        let wakers = Wakers::default();
        let (first, w1) = waker();
        let (second, w2) = waker();
        let mut slot = WakerSlot::default();
        wakers.register(&mut slot, &w1);
        wakers.register(&mut slot, &w2);
        assert_eq!(wakers.registered(), 1, "one entry per waiter");
        wakers.wake_all();
        assert_eq!(
            (first.0.load(Ordering::SeqCst), second.0.load(Ordering::SeqCst)),
            (0, 1)
        );

        let (third, w3) = waker();
        let mut other = WakerSlot::default();
        wakers.register(&mut slot, &w3);
        wakers.register(&mut other, &w3);
        wakers.deregister(&mut slot);
        assert_eq!(wakers.registered(), 1, "only the other waiter is left");
        wakers.deregister(&mut other);
        wakers.wake_all();
        assert_eq!(third.0.load(Ordering::SeqCst), 0);
        assert_eq!(wakers.len.load(Ordering::SeqCst), 0);
    }
}
