//! The in-memory copy of resolved tokens that makes the token check cheap.
//!
//! Every API call an app makes after a login carries its token, so
//! [`crate::Pinlink::authenticate`] is the second most frequent operation
//! after polling. A token resolved once is kept here with its account and
//! device, so the next check costs a keyed hash and a map lookup instead of
//! a database read.
//!
//! Revocation must take effect at once: signing out and revoking a device
//! first commit to the store and then forget here, before they return. A
//! check that read the store before such a change cannot put its stale
//! answer back afterwards (the epoch, as in [`crate::live_pins`]).
//!
//! With a store no other process writes to, always. On a shared store
//! (PostgreSQL with several instances) another instance's revocation
//! reaches this one only with its change notification (the database's
//! triggers announce every token and account change), a moment after the
//! revocation returned, and for that moment the revoked token still works
//! here. So there it is the operator's choice (`pinlink serve
//! --cache-tokens`, [`crate::PinlinkSettings::cache_tokens_on_shared_store`]),
//! kept only while the notifications are heard; otherwise every check reads
//! the database.

use std::collections::HashMap;

use parking_lot::RwLock;

use crate::clock::UnixTime;
use crate::model::{Account, AccountId, ClientIdentifier, DeviceId};
use crate::secrets::LookupHash;

/// Most tokens kept; past this, checks of other tokens read the store.
pub const MAX_SESSIONS: usize = 200_000;

/// What a token resolves to, as kept here.
#[derive(Debug, Clone)]
pub struct CachedSession {
    pub account: Account,
    pub device: DeviceId,
    pub client_identifier: ClientIdentifier,
    pub last_seen_at: UnixTime,
}

#[derive(Debug)]
pub struct LiveSessions {
    state: RwLock<State>,
}

#[derive(Debug)]
struct State {
    enabled: bool,
    sessions: HashMap<LookupHash, CachedSession>,
    /// Counts every forgetting ([`LiveSessions::put_if_unchanged`]).
    epoch: u64,
    /// The store's outside-changes value at the last look.
    outside: u64,
}

impl LiveSessions {
    /// `enabled`: false keeps nothing (a shared store).
    pub fn new(enabled: bool) -> LiveSessions {
        LiveSessions {
            state: RwLock::new(State {
                enabled,
                sessions: HashMap::new(),
                epoch: 0,
                outside: 0,
            }),
        }
    }

    pub fn get(&self, hash: &LookupHash) -> Option<CachedSession> {
        self.state.read().sessions.get(hash).cloned()
    }

    /// A token for [`LiveSessions::put_if_unchanged`]: take it before
    /// reading the store.
    pub fn epoch(&self) -> u64 {
        self.state.read().epoch
    }

    /// Keeps a session read from the store, unless a token or device was
    /// forgotten since `epoch` was taken (the read may predate that).
    pub fn put_if_unchanged(&self, hash: LookupHash, session: CachedSession, epoch: u64) {
        let mut state = self.state.write();
        if state.enabled && state.epoch == epoch && state.sessions.len() < MAX_SESSIONS {
            state.sessions.insert(hash, session);
        }
    }

    /// Records a refreshed `lastSeenAt` for a kept session.
    pub fn touched(&self, hash: &LookupHash, now: UnixTime) {
        if let Some(session) = self.state.write().sessions.get_mut(hash) {
            session.last_seen_at = now;
        }
    }

    /// The token was revoked.
    pub fn forget_token(&self, hash: &LookupHash) {
        let mut state = self.state.write();
        state.epoch += 1;
        state.sessions.remove(hash);
    }

    /// The device was revoked: every token it held goes.
    pub fn forget_device(&self, device: DeviceId) {
        self.forget_devices(&[device]);
    }

    /// The devices were revoked: every token they held goes.
    pub fn forget_devices(&self, devices: &[DeviceId]) {
        let mut state = self.state.write();
        state.epoch += 1;
        state
            .sessions
            .retain(|_, session| !devices.contains(&session.device));
    }

    /// The account changed (e-mail, disabled, removed): every token of it
    /// is read again.
    pub fn forget_account(&self, account: AccountId) {
        let mut state = self.state.write();
        state.epoch += 1;
        state
            .sessions
            .retain(|_, session| session.account.id != account);
    }

    /// Every token may have changed: everything kept is read again.
    pub fn forget_all(&self) {
        let mut state = self.state.write();
        state.epoch += 1;
        state.sessions.clear();
    }

    /// Keeps nothing until [`LiveSessions::resume`] (a shared store's
    /// change notifications were lost: what is kept may be stale).
    pub fn pause(&self) {
        let mut state = self.state.write();
        state.enabled = false;
        state.epoch += 1;
        state.sessions.clear();
    }

    /// Keeps resolved tokens again (a shared store's changes are heard).
    pub fn resume(&self) {
        let mut state = self.state.write();
        state.epoch += 1;
        state.sessions.clear();
        state.enabled = true;
    }

    /// Another process changed accounts or tokens (`outside` is the store's
    /// [`crate::store::Store::outside_changes`]): when it moved since the
    /// last look, everything kept is read again. Whether it moved.
    pub fn sync_outside(&self, outside: u64) -> bool {
        if self.state.read().outside == outside {
            return false;
        }
        let mut state = self.state.write();
        if state.outside == outside {
            return false;
        }
        state.outside = outside;
        state.epoch += 1;
        state.sessions.clear();
        true
    }

    pub fn is_enabled(&self) -> bool {
        self.state.read().enabled
    }

    pub fn len(&self) -> usize {
        self.state.read().sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> LookupHash {
        LookupHash([n; 32])
    }

    fn session(device: i64) -> CachedSession {
        CachedSession {
            account: Account {
                id: AccountId(1),
                uuid: "u".into(),
                username: crate::model::Username::from_stored("alice".into()),
                email: crate::model::Email::from_stored("alice@example.org".into()),
                created_at: UnixTime(0),
            },
            device: DeviceId(device),
            client_identifier: ClientIdentifier::parse(Some("tv")).expect("client"),
            last_seen_at: UnixTime(0),
        }
    }

    #[test]
    fn a_read_from_before_a_revocation_is_not_kept() {
        let cache = LiveSessions::new(true);
        let before = cache.epoch();
        cache.forget_token(&hash(1));
        cache.put_if_unchanged(hash(1), session(7), before);
        assert!(cache.get(&hash(1)).is_none());
        cache.put_if_unchanged(hash(1), session(7), cache.epoch());
        assert!(cache.get(&hash(1)).is_some());
    }

    #[test]
    fn revoking_a_device_forgets_all_its_tokens_and_only_those() {
        let cache = LiveSessions::new(true);
        for (n, device) in [(1, 7), (2, 7), (3, 8)] {
            cache.put_if_unchanged(hash(n), session(device), cache.epoch());
        }
        cache.forget_device(DeviceId(7));
        assert!(cache.get(&hash(1)).is_none());
        assert!(cache.get(&hash(2)).is_none());
        assert!(cache.get(&hash(3)).is_some());
    }

    #[test]
    fn another_process_changing_accounts_empties_the_cache_once() {
        let cache = LiveSessions::new(true);
        let before = cache.epoch();
        cache.put_if_unchanged(hash(1), session(7), before);
        assert!(!cache.sync_outside(0), "nothing changed");
        assert!(cache.get(&hash(1)).is_some());
        assert!(cache.sync_outside(42));
        assert!(cache.get(&hash(1)).is_none());
        // A read from before the change is not put back.
        cache.put_if_unchanged(hash(1), session(7), before);
        assert!(cache.get(&hash(1)).is_none());
        assert!(!cache.sync_outside(42));
        cache.put_if_unchanged(hash(2), session(8), cache.epoch());
        cache.forget_account(AccountId(1));
        assert!(cache.is_empty());
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let cache = LiveSessions::new(false);
        cache.put_if_unchanged(hash(1), session(7), cache.epoch());
        assert!(cache.is_empty());
    }
}
