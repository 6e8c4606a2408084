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
}

#[derive(Debug)]
struct State {
    pins: HashMap<PinId, Arc<Pin>>,
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
            state: RwLock::new(State {
                pins: HashMap::new(),
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
    /// Keeps a pin this instance just wrote.
    pub fn put(&self, pin: Arc<Pin>) {
        let mut state = self.state.write();
        if state.trusted {
            state.pins.insert(pin.id, pin);
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
            state.pins.insert(pin.id, pin);
        }
    }
    /// The pin changed (linked or deleted, here or elsewhere).
    pub fn forget(&self, id: PinId) {
        let mut state = self.state.write();
        state.epoch += 1;
        state.pins.remove(&id);
    }
    /// Changes may have been missed: forget everything and keep nothing
    /// until [`LivePins::resume`].
    pub fn pause(&self) {
        let mut state = self.state.write();
        state.epoch += 1;
        state.pins.clear();
        state.trusted = false;
    }
    /// Changes are heard again; start from empty.
    pub fn resume(&self) {
        let mut state = self.state.write();
        state.epoch += 1;
        state.pins.clear();
        state.trusted = true;
    }
    /// Drops every pin that has expired by `now`; returns how many.
    pub fn evict_expired(&self, now: UnixTime) -> usize {
        let mut state = self.state.write();
        let before = state.pins.len();
        state.pins.retain(|_, pin| pin.is_live(now));
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
