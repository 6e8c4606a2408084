//! The in-memory copy of live pins that makes polling cheap.
//!
//! Devices poll once a second for up to 30 minutes, so `GET /api/v2/pins/{id}`
//! is by far the most frequent request. Every pin this process creates or
//! links is written to the [`Store`] first and then put here, so a poll of a
//! pending pin is answered from memory without a database round trip. A pin
//! not found here is looked up in the store (it may have been created before
//! a restart, or by another instance) and then kept.
//!
//! [`Store`]: crate::store::Store

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::clock::UnixTime;
use crate::model::{Pin, PinId};

/// With several instances on one database (PostgreSQL), another instance
/// may link or delete a pin this one holds. The store then reports each such
/// change ([`crate::store::Change`]) and the pin is forgotten here. While
/// changes cannot be heard (the listening connection is down) nothing is
/// answered from or kept in memory: every poll reads the store.
#[derive(Debug)]
pub struct LivePins {
    state: RwLock<State>,
    code_hasher: RandomState,
}

#[derive(Debug)]
struct State {
    pins: HashMap<PinId, Arc<Pin>>,
    /// Unlinked pins by a hash of their code, so linking a typed code needs
    /// no database read. A collision only costs that read: the pin found
    /// is checked to have the code.
    unlinked: HashMap<u64, PinId>,
    /// Whether what is held here can be trusted to be current.
    trusted: bool,
    /// Counts every forgetting, so that a pin read from the store before a
    /// change was heard is not put back after it ([`LivePins::put_if_unchanged`]).
    epoch: u64,
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
            code_hasher: RandomState::new(),
            state: RwLock::new(State {
                pins: HashMap::new(),
                unlinked: HashMap::new(),
                trusted,
                epoch: 0,
            }),
        }
    }
    pub fn get(&self, id: PinId) -> Option<Arc<Pin>> {
        let state = self.state.read();
        if !state.trusted {
            return None;
        }
        state.pins.get(&id).cloned()
    }
    /// The unlinked pin with this code, if it is held here. Without it the
    /// pin may still exist (created before a restart, or by another
    /// instance): ask the store.
    pub fn unlinked_by_code(&self, code: &str) -> Option<Arc<Pin>> {
        let key = self.code_hasher.hash_one(code);
        let state = self.state.read();
        if !state.trusted {
            return None;
        }
        let pin = state.pins.get(state.unlinked.get(&key)?)?;
        (pin.auth_token.is_none() && pin.code.as_str() == code).then(|| pin.clone())
    }

    /// Keeps a pin this instance just wrote.
    pub fn put(&self, pin: Arc<Pin>) {
        let mut state = self.state.write();
        if state.trusted {
            self.insert(&mut state, pin);
        }
    }

    fn insert(&self, state: &mut State, pin: Arc<Pin>) {
        let key = self.code_hasher.hash_one(pin.code.as_str());
        if pin.auth_token.is_none() {
            state.unlinked.insert(key, pin.id);
        } else if state.unlinked.get(&key) == Some(&pin.id) {
            state.unlinked.remove(&key);
        }
        state.pins.insert(pin.id, pin);
    }

    fn remove(&self, state: &mut State, id: PinId) {
        if let Some(pin) = state.pins.remove(&id) {
            let key = self.code_hasher.hash_one(pin.code.as_str());
            if state.unlinked.get(&key) == Some(&id) {
                state.unlinked.remove(&key);
            }
        }
    }
    /// A token for [`LivePins::put_if_unchanged`]: take it before reading the store.
    pub fn epoch(&self) -> u64 {
        self.state.read().epoch
    }
    /// Keeps a pin read from the store, unless something was forgotten
    /// since `epoch` was taken (the read may predate that change).
    pub fn put_if_unchanged(&self, pin: Arc<Pin>, epoch: u64) {
        let mut state = self.state.write();
        if state.trusted && state.epoch == epoch {
            self.insert(&mut state, pin);
        }
    }
    /// The pin changed (linked or deleted, here or elsewhere).
    pub fn forget(&self, id: PinId) {
        let mut state = self.state.write();
        state.epoch += 1;
        self.remove(&mut state, id);
    }
    /// Changes may have been missed: forget everything and keep nothing
    /// until [`LivePins::resume`].
    pub fn pause(&self) {
        let mut state = self.state.write();
        state.epoch += 1;
        state.pins.clear();
        state.unlinked.clear();
        state.trusted = false;
    }
    /// Changes are heard again; start from empty.
    pub fn resume(&self) {
        let mut state = self.state.write();
        state.epoch += 1;
        state.pins.clear();
        state.unlinked.clear();
        state.trusted = true;
    }
    /// Drops every pin that has expired by `now`; returns how many.
    pub fn evict_expired(&self, now: UnixTime) -> usize {
        let mut state = self.state.write();
        let before = state.pins.len();
        state.pins.retain(|_, pin| pin.is_live(now));
        let State { pins, unlinked, .. } = &mut *state;
        unlinked.retain(|_, id| pins.contains_key(id));
        before - state.pins.len()
    }
    /// Whether pins are answered from and kept in memory right now.
    pub fn is_trusted(&self) -> bool {
        self.state.read().trusted
    }
    pub fn len(&self) -> usize {
        self.state.read().pins.len()
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
