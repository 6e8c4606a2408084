//! The in-memory copy of live pins that makes polling cheap.
//!
//! Devices poll once a second for up to 30 minutes, so `GET /api/v2/pins/{id}`
//! is by far the most frequent request. Every pin this process creates or
//! links is written to the [`Store`] first and then put here, so a poll of a
//! pending pin is answered from memory without a database round trip. A pin
//! not found here is looked up in the store (it may have been created before
//! a restart, or by another instance) and then kept. Unlinked pins are also
//! found by code, for linking; the store's link is still the one atomic
//! check, so a copy here that is stale only makes that link fail.
//!
//! The pins are split over [`SHARDS`] maps, each behind its own lock, so
//! that dropping expired pins (a scan of every pin) holds up the polls of
//! one shard at a time, for a fraction of the scan, rather than all of
//! them for all of it (tens of milliseconds at a million pins).
//!
//! [`Store`]: crate::store::Store

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::clock::UnixTime;
use crate::model::{Pin, PinId};

/// How many maps the pins are split over (by id).
pub const SHARDS: usize = 64;

/// With several instances on one database (PostgreSQL), another instance
/// may link or delete a pin this one holds. The store then reports each such
/// change ([`crate::store::Change`]) and the pin is forgotten here. While
/// changes cannot be heard (the listening connection is down) nothing is
/// answered from or kept in memory: every poll reads the store.
#[derive(Debug)]
pub struct LivePins {
    shards: Vec<RwLock<Shard>>,
    /// Unlinked pins by a hash of their code, so linking a typed code needs
    /// no database read. A collision only costs that read: the pin found
    /// is checked to have the code. Locked after a shard, never before.
    unlinked: RwLock<HashMap<u64, PinId>>,
    code_hasher: RandomState,
    /// Counts every forgetting, so that a pin read from the store before a
    /// change was heard is not put back after it ([`LivePins::put_if_unchanged`]).
    /// Changed only with the forgotten pin's shard locked.
    epoch: AtomicU64,
}

#[derive(Debug)]
struct Shard {
    pins: HashMap<PinId, Arc<Pin>>,
    /// Whether what is held here can be trusted to be current (the same in
    /// every shard; changed with all of them locked).
    trusted: bool,
}

impl Default for LivePins {
    fn default() -> Self {
        LivePins::new(true)
    }
}

impl LivePins {
    /// `trusted`: false until a shared store reports that it is listening.
    pub fn new(trusted: bool) -> LivePins {
        LivePins {
            shards: (0..SHARDS)
                .map(|_| {
                    RwLock::new(Shard {
                        pins: HashMap::new(),
                        trusted,
                    })
                })
                .collect(),
            unlinked: RwLock::new(HashMap::new()),
            code_hasher: RandomState::new(),
            epoch: AtomicU64::new(0),
        }
    }

    fn shard(&self, id: PinId) -> &RwLock<Shard> {
        &self.shards[id.0 as usize % SHARDS]
    }

    fn code_key(&self, code: &str) -> u64 {
        self.code_hasher.hash_one(code)
    }

    pub fn get(&self, id: PinId) -> Option<Arc<Pin>> {
        let shard = self.shard(id).read();
        if !shard.trusted {
            return None;
        }
        shard.pins.get(&id).cloned()
    }

    /// The unlinked pin with this code, if it is held here. Without it the
    /// pin may still exist (created before a restart, or by another
    /// instance): ask the store.
    pub fn unlinked_by_code(&self, code: &str) -> Option<Arc<Pin>> {
        let id = *self.unlinked.read().get(&self.code_key(code))?;
        let pin = self.get(id)?;
        (pin.auth_token.is_none() && pin.code.as_str() == code).then_some(pin)
    }

    /// Keeps a pin this instance just wrote.
    pub fn put(&self, pin: Arc<Pin>) {
        let mut shard = self.shard(pin.id).write();
        if shard.trusted {
            self.insert(&mut shard, pin);
        }
    }

    fn insert(&self, shard: &mut Shard, pin: Arc<Pin>) {
        let key = self.code_key(pin.code.as_str());
        {
            let mut unlinked = self.unlinked.write();
            if pin.auth_token.is_none() {
                unlinked.insert(key, pin.id);
            } else if unlinked.get(&key) == Some(&pin.id) {
                unlinked.remove(&key);
            }
        }
        shard.pins.insert(pin.id, pin);
    }

    /// Drops `pins`' entries from the code index.
    fn unindex<'a>(&self, pins: impl IntoIterator<Item = &'a Arc<Pin>>) {
        let mut unlinked = self.unlinked.write();
        for pin in pins {
            let key = self.code_key(pin.code.as_str());
            if unlinked.get(&key) == Some(&pin.id) {
                unlinked.remove(&key);
            }
        }
    }

    /// A token for [`LivePins::put_if_unchanged`]: take it before reading the store.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Keeps a pin read from the store, unless something was forgotten
    /// since `epoch` was taken (the read may predate that change).
    pub fn put_if_unchanged(&self, pin: Arc<Pin>, epoch: u64) {
        let mut shard = self.shard(pin.id).write();
        if shard.trusted && self.epoch.load(Ordering::SeqCst) == epoch {
            self.insert(&mut shard, pin);
        }
    }

    /// The pin changed (linked or deleted, here or elsewhere).
    pub fn forget(&self, id: PinId) {
        let mut shard = self.shard(id).write();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(pin) = shard.pins.remove(&id) {
            self.unindex([&pin]);
        }
    }

    /// Every linked pin goes (they hold tokens, and tokens were revoked
    /// where this process cannot see it): read again from the store.
    pub fn forget_linked(&self) {
        for shard in &self.shards {
            let mut shard = shard.write();
            self.epoch.fetch_add(1, Ordering::SeqCst);
            shard.pins.retain(|_, pin| pin.auth_token.is_none());
        }
    }

    /// Changes may have been missed: forget everything and keep nothing
    /// until [`LivePins::resume`].
    pub fn pause(&self) {
        self.reset(false);
    }

    /// Changes are heard again; start from empty.
    pub fn resume(&self) {
        self.reset(true);
    }

    fn reset(&self, trusted: bool) {
        let mut shards: Vec<_> = self.shards.iter().map(|s| s.write()).collect();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for shard in &mut shards {
            shard.pins.clear();
            shard.trusted = trusted;
        }
        self.unlinked.write().clear();
    }

    /// Drops every pin that has expired by `now`, one shard at a time;
    /// returns how many.
    pub fn evict_expired(&self, now: UnixTime) -> usize {
        let mut evicted = 0;
        for shard in &self.shards {
            let mut shard = shard.write();
            let expired: Vec<PinId> = shard
                .pins
                .values()
                .filter(|pin| !pin.is_live(now))
                .map(|pin| pin.id)
                .collect();
            let removed: Vec<Arc<Pin>> = expired
                .iter()
                .filter_map(|id| shard.pins.remove(id))
                .collect();
            self.unindex(&removed);
            evicted += removed.len();
        }
        evicted
    }

    /// Whether pins are answered from and kept in memory right now.
    pub fn is_trusted(&self) -> bool {
        self.shards[0].read().trusted
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().pins.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientIdentifier, DeviceInfo, PinCode, RawDeviceInfo};
    use crate::secrets::AuthToken;

    fn pin(id: u32) -> Pin {
        Pin {
            id: PinId(id),
            code: PinCode::generate(false),
            client_identifier: ClientIdentifier::parse(Some("tv")).expect("client"),
            device: DeviceInfo::parse(RawDeviceInfo {
                product: Some("TV"),
                ..RawDeviceInfo::default()
            })
            .expect("device"),
            requester_ip: "192.0.2.1".into(),
            created_at: UnixTime(0),
            expires_at: UnixTime(900),
            auth_token: None,
            jwk: None,
            grant: None,
        }
    }

    #[test]
    fn unlinked_pins_are_found_by_code_until_linked_or_forgotten() {
        let live = LivePins::new(true);
        let first = pin(1);
        let code = first.code.as_str().to_owned();
        live.put(Arc::new(first.clone()));
        assert_eq!(live.unlinked_by_code(&code).map(|p| p.id), Some(PinId(1)));
        assert!(live.unlinked_by_code("ZZZZ-not-it").is_none());
        live.put(Arc::new(Pin {
            auth_token: Some(AuthToken::generate()),
            ..first.clone()
        }));
        assert!(live.unlinked_by_code(&code).is_none(), "linked");
        live.put(Arc::new(first));
        live.forget(PinId(1));
        assert!(live.unlinked_by_code(&code).is_none(), "forgotten");
    }

    #[test]
    fn nothing_is_found_while_changes_are_not_heard_or_after_expiry() {
        let live = LivePins::new(true);
        let one = pin(1);
        let code = one.code.as_str().to_owned();
        live.put(Arc::new(one.clone()));
        live.pause();
        assert!(live.unlinked_by_code(&code).is_none());
        live.resume();
        live.put(Arc::new(one));
        assert_eq!(live.evict_expired(UnixTime(900)), 1);
        assert!(live.unlinked_by_code(&code).is_none());
    }
}
