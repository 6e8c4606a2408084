//! Long polls: a device's request held until its pin changes (approved,
//! denied) or its wait runs out, so the device learns of an approval within
//! milliseconds instead of at its next poll.
//!
//! Every change to a pin this instance makes, or hears of from another
//! instance ([`crate::store::Change::Pin`]), wakes whoever waits on that pin
//! here ([`PinWaiters::wake`]). A waiter starts listening *before* it looks
//! at the pin, so a change between the look and the wait is not missed.
//! How many requests may be held at once is capped ([`MAX_WAITING`]); past
//! the cap, and once the server is stopping, a request is answered at once,
//! as a plain poll.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::model::PinId;

/// Requests held at once on this instance, at most.
pub const MAX_WAITING: usize = 10_000;

/// The longest a request may be held, in seconds (`wait=N` is capped to
/// it): under the server's 30-second deadline for requests that send a
/// body, so a held token request is answered, never cut off.
pub const MAX_WAIT_SECS: u64 = 25;

#[derive(Debug, Default)]
pub struct PinWaiters {
    by_pin: Mutex<HashMap<PinId, Weak<Notify>>>,
    held: Arc<AtomicUsize>,
    closed: AtomicBool,
}

/// One held request's place in line; dropping it leaves.
#[derive(Debug)]
pub struct Waiting {
    pub notify: Arc<Notify>,
    held: Arc<AtomicUsize>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.held.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PinWaiters {
    /// A place to wait for changes to `id`; `None` when too many requests
    /// are held already or the server is stopping.
    pub fn watch(&self, id: PinId) -> Option<Waiting> {
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        if self.held.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            self.held.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let held = self.held.clone();
        let mut by_pin = self.by_pin.lock();
        if let Some(notify) = by_pin.get(&id).and_then(Weak::upgrade) {
            return Some(Waiting { notify, held });
        }
        let notify = Arc::new(Notify::new());
        by_pin.insert(id, Arc::downgrade(&notify));
        Some(Waiting { notify, held })
    }

    /// The pin changed: everyone waiting on it looks again.
    pub fn wake(&self, id: PinId) {
        let notify = {
            let mut by_pin = self.by_pin.lock();
            match by_pin.get(&id).map(Weak::upgrade) {
                Some(Some(notify)) => notify,
                Some(None) => {
                    by_pin.remove(&id);
                    return;
                }
                None => return,
            }
        };
        notify.notify_waiters();
    }

    /// Everyone looks again (changes may have been missed).
    pub fn wake_all(&self) {
        let all: Vec<Arc<Notify>> = self
            .by_pin
            .lock()
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        for notify in all {
            notify.notify_waiters();
        }
    }

    /// The server is stopping: held requests are answered now, and no new
    /// one is held.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake_all();
    }

    /// Forgets the places no one waits in any more (from the sweep).
    pub fn prune(&self) {
        self.by_pin
            .lock()
            .retain(|_, waiting| waiting.strong_count() > 0);
    }

    /// How many requests are held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_waiter_listening_before_the_change_is_woken() {
        let waiters = PinWaiters::default();
        let waiting = waiters.watch(PinId(7)).expect("room");
        {
            let notified = waiting.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // The change happens between the look at the pin and the wait.
            waiters.wake(PinId(7));
            tokio::time::timeout(Duration::from_secs(5), notified)
                .await
                .expect("woken");
        }
        assert_eq!(waiters.held(), 1);
        drop(waiting);
        assert_eq!(waiters.held(), 0);
        waiters.prune();
        assert!(waiters.by_pin.lock().is_empty());
    }

    #[test]
    fn requests_are_capped_even_on_one_pin_and_none_after_close() {
        let waiters = PinWaiters::default();
        let held: Vec<Waiting> = (0..MAX_WAITING)
            .map(|_| waiters.watch(PinId(1)).expect("room"))
            .collect();
        assert!(
            waiters.watch(PinId(1)).is_none(),
            "one pin cannot hold more"
        );
        assert!(waiters.watch(PinId(2)).is_none());
        drop(held);
        assert!(waiters.watch(PinId(2)).is_some());
        waiters.close();
        assert!(waiters.watch(PinId(3)).is_none());
    }
}
