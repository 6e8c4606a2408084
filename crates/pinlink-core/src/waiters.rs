//! Long polls: a device's request held until its pin changes (approved,
//! denied) or its wait runs out, so the device learns of an approval within
//! milliseconds instead of at its next poll.
//!
//! Every change to a pin this instance makes, or hears of from another
//! instance ([`crate::store::Change::Pin`]), wakes whoever waits on that pin
//! here ([`PinWaiters::wake`]). A waiter starts listening *before* it looks
//! at the pin, so a change between the look and the wait is not missed.
//! How many requests may wait at once is capped; past the cap a request is
//! answered at once, as a plain poll.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::model::PinId;

/// Requests held at once on this instance, at most.
pub const MAX_WAITING: usize = 10_000;

/// The longest a request may be held, in seconds (`wait=N` is capped to it).
pub const MAX_WAIT_SECS: u64 = 30;

#[derive(Debug, Default)]
pub struct PinWaiters {
    by_pin: Mutex<HashMap<PinId, Weak<Notify>>>,
}

/// One held request's place in line; dropping it leaves.
#[derive(Debug)]
pub struct Waiting {
    pub notify: Arc<Notify>,
}

impl PinWaiters {
    /// A place to wait for changes to `id`; `None` when too many wait.
    pub fn watch(&self, id: PinId) -> Option<Waiting> {
        let mut by_pin = self.by_pin.lock();
        if let Some(notify) = by_pin.get(&id).and_then(Weak::upgrade) {
            return Some(Waiting { notify });
        }
        if by_pin.len() >= MAX_WAITING {
            by_pin.retain(|_, waiting| waiting.strong_count() > 0);
            if by_pin.len() >= MAX_WAITING {
                return None;
            }
        }
        let notify = Arc::new(Notify::new());
        by_pin.insert(id, Arc::downgrade(&notify));
        Some(Waiting { notify })
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

    /// Forgets the places no one waits in any more (from the sweep).
    pub fn prune(&self) {
        self.by_pin
            .lock()
            .retain(|_, waiting| waiting.strong_count() > 0);
    }

    /// How many pins someone waits on (for tests).
    pub fn len(&self) -> usize {
        self.by_pin.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        drop(waiting);
        waiters.prune();
        assert!(waiters.is_empty());
    }
}
