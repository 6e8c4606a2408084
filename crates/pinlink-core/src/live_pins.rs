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

#[derive(Debug, Default)]
pub struct LivePins {
    pins: RwLock<HashMap<PinId, Arc<Pin>>>,
}

impl LivePins {
    pub fn get(&self, id: PinId) -> Option<Arc<Pin>> {
        self.pins.read().get(&id).cloned()
    }
    pub fn put(&self, pin: Arc<Pin>) {
        self.pins.write().insert(pin.id, pin);
    }
    pub fn remove(&self, id: PinId) {
        self.pins.write().remove(&id);
    }
    /// Drops every pin that has expired by `now`; returns how many.
    pub fn evict_expired(&self, now: UnixTime) -> usize {
        let mut pins = self.pins.write();
        let before = pins.len();
        pins.retain(|_, pin| pin.is_live(now));
        before - pins.len()
    }
    pub fn len(&self) -> usize {
        self.pins.read().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
