//! Long polls: a device's request held until its pin changes (approved,
//! denied) or its wait runs out, so the device learns of an approval within
//! milliseconds instead of at its next poll.
//!
//! Every change to a pin this instance makes, or hears of from another
//! instance ([`crate::store::Change::Pin`]), wakes whoever waits on that pin
//! here ([`PinWaiters::wake`]). A waiter starts listening *before* it looks
//! at the pin, so a change between the look and the wait is not missed.
//! How many requests may be held at once is capped ([`WaitCaps`]), on the
//! instance and per client address (counted per request, so over HTTP/2 per stream: one address cannot take
//! everyone's share); past a cap, and once the server is stopping, a
//! request is answered at once, as a plain poll.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::model::{ClientAddress, PinId};

/// How many requests may be held at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitCaps {
    /// On this instance.
    pub total: usize,
    /// For one client address (an IPv6 /64): a household's or an office's
    /// devices, with room to spare; what one address sends beyond it is
    /// answered at once.
    pub per_address: usize,
}

impl Default for WaitCaps {
    fn default() -> Self {
        WaitCaps {
            total: 10_000,
            per_address: 100,
        }
    }
}

/// The longest a request may be held, in seconds (`wait=N` is capped to
/// it): under the server's 30-second deadline for requests that send a
/// body, so a held token request is answered, never cut off.
pub const MAX_WAIT_SECS: u64 = 25;

#[derive(Debug, Default)]
pub struct PinWaiters {
    by_pin: Mutex<HashMap<PinId, Weak<Notify>>>,
    held: Arc<Held>,
    closed: AtomicBool,
}

/// How many requests are held, in all and per address.
#[derive(Debug, Default)]
struct Held {
    caps: WaitCaps,
    total: AtomicUsize,
    /// By [`ClientAddress::network`]; an address holding none is removed.
    per_address: Mutex<HashMap<String, usize>>,
}

impl Held {
    /// Takes a place for `network`, if both caps allow.
    fn take(&self, network: &str) -> bool {
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.caps.total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        let mut per_address = self.per_address.lock();
        let mine = per_address.entry(network.to_owned()).or_insert(0);
        if *mine >= self.caps.per_address {
            drop(per_address);
            self.total.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        *mine += 1;
        drop(per_address);
        crate::events::long_polls_held(self.total.load(Ordering::Acquire));
        true
    }

    fn give_back(&self, network: &str) {
        {
            let mut per_address = self.per_address.lock();
            if let Some(mine) = per_address.get_mut(network) {
                *mine -= 1;
                if *mine == 0 {
                    per_address.remove(network);
                }
            }
        }
        let now = self.total.fetch_sub(1, Ordering::AcqRel) - 1;
        crate::events::long_polls_held(now);
    }
}

/// One held request's place in line; dropping it leaves.
#[derive(Debug)]
pub struct Waiting {
    pub notify: Arc<Notify>,
    held: Arc<Held>,
    network: String,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.held.give_back(&self.network);
    }
}

impl PinWaiters {
    pub fn new(caps: WaitCaps) -> PinWaiters {
        PinWaiters {
            held: Arc::new(Held {
                caps,
                ..Held::default()
            }),
            ..PinWaiters::default()
        }
    }

    /// A place for a request from `from` to wait for changes to `id`;
    /// `None` when too many requests are held already (in all, or from that
    /// address) or the server is stopping.
    pub fn watch(&self, id: PinId, from: &ClientAddress) -> Option<Waiting> {
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        let network = from.network();
        if !self.held.take(&network) {
            return None;
        }
        let held = self.held.clone();
        let mut by_pin = self.by_pin.lock();
        let notify = match by_pin.get(&id).and_then(Weak::upgrade) {
            Some(notify) => notify,
            None => {
                let notify = Arc::new(Notify::new());
                by_pin.insert(id, Arc::downgrade(&notify));
                notify
            }
        };
        Some(Waiting {
            notify,
            held,
            network,
        })
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

    /// Forgets the places no one waits in any more (from the sweep), and
    /// gives their memory back.
    pub fn prune(&self) {
        let mut by_pin = self.by_pin.lock();
        by_pin.retain(|_, waiting| waiting.strong_count() > 0);
        by_pin.shrink_to_fit();
        self.held.per_address.lock().shrink_to_fit();
    }

    /// How many requests are held now.
    pub fn held(&self) -> usize {
        self.held.total.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_waiter_listening_before_the_change_is_woken() {
        let waiters = PinWaiters::new(WaitCaps::default());
        let waiting = waiters.watch(PinId(7), &home()).expect("room");
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

    fn home() -> ClientAddress {
        ClientAddress::new("192.0.2.1".parse().expect("ip"))
    }

    /// The `n`-th of many addresses, each its own IPv6 /64.
    fn address(n: usize) -> ClientAddress {
        ClientAddress::new(
            format!("2001:db8:{:x}:{:x}::1", n / 65536, n % 65536)
                .parse()
                .expect("ip"),
        )
    }

    #[test]
    fn requests_are_capped_even_on_one_pin_and_none_after_close() {
        let caps = WaitCaps::default();
        let waiters = PinWaiters::new(caps);
        let held: Vec<Waiting> = (0..caps.total)
            .map(|n| {
                waiters
                    .watch(PinId(1), &address(n / caps.per_address))
                    .expect("room")
            })
            .collect();
        assert!(
            waiters.watch(PinId(1), &address(999_999)).is_none(),
            "one pin cannot hold more"
        );
        assert!(waiters.watch(PinId(2), &address(999_999)).is_none());
        drop(held);
        assert!(waiters.watch(PinId(2), &home()).is_some());
        waiters.close();
        assert!(waiters.watch(PinId(3), &home()).is_none());
    }

    #[test]
    fn one_address_holds_its_share_and_leaves_the_rest_to_others() {
        let waiters = PinWaiters::new(WaitCaps::default());
        // One IPv6 /64, whichever host in it asks.
        let crowd: Vec<Waiting> = (0..WaitCaps::default().per_address)
            .map(|n| {
                let host = ClientAddress::new(format!("2001:db8::{n:x}").parse().expect("ip"));
                waiters.watch(PinId(n as u32), &host).expect("room")
            })
            .collect();
        let same_network = ClientAddress::new("2001:db8::ffff".parse().expect("ip"));
        assert!(waiters.watch(PinId(1), &same_network).is_none());
        assert!(
            waiters.watch(PinId(1), &home()).is_some(),
            "another address is held"
        );
        drop(crowd);
        assert!(waiters.watch(PinId(1), &same_network).is_some());
        assert!(waiters.held.per_address.lock().len() <= 2);
    }
}
