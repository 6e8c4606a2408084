//! An in-memory [`Store`] for the core's unit tests: the contract's
//! semantics in the plainest form, one lock around everything (so every
//! method is trivially atomic). The real stores are tested against the same
//! contract in `pinlink-store/tests/contract.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::clock::{FakeClock, UnixTime};
use crate::limits::PinCaps;
use crate::model::{Account, AccountId, ApplicationId, DeviceId, PinId};
use crate::secrets::{LookupHash, ServerKey};
use crate::store::{
    AccountRecord, ApplicationRecord, CapKind, DeviceKeyRecord, DeviceRecord, NewAccount, NewToken,
    PinLink, PinRecord, Reservation, SessionRecord, Spend, Store, StoreError, TokenGrant,
};
use crate::{ClientIdentifier, DeviceInfo, Email, Pinlink, PinlinkSettings, Username};

/// A core on a fresh in-memory store and a fake clock.
pub fn core() -> (Pinlink, FakeClock) {
    core_with(PinlinkSettings::default())
}

pub fn core_with(settings: PinlinkSettings) -> (Pinlink, FakeClock) {
    let clock = FakeClock::new(UnixTime(1_800_000_000));
    let core = Pinlink::new(
        Arc::new(MemoryStore::default()),
        Arc::new(clock.clone()),
        &ServerKey::generate(),
        settings,
    );
    (core, clock)
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    pins: HashMap<PinId, (PinRecord, Option<AccountId>)>,
    accounts: Vec<AccountRecord>,
    devices: Vec<DeviceRow>,
    tokens: Vec<(LookupHash, DeviceId, Vec<u8>, UnixTime)>,
    spends: Vec<(i64, LookupHash, UnixTime)>,
    next_id: i64,
    known: HashMap<(AccountId, LookupHash), UnixTime>,
    /// kid → (device, x); a key whose device is gone is gone too.
    device_keys: HashMap<String, (DeviceId, String)>,
    /// nonce → (client, expires_at, used)
    nonces: HashMap<String, (LookupHash, UnixTime, bool)>,
    key_generations: Vec<(u32, UnixTime)>,
    applications: Vec<ApplicationRecord>,
}

struct DeviceRow {
    account: AccountId,
    application: Option<ApplicationId>,
    record: DeviceRecord,
}

impl State {
    fn session(&self, row: &DeviceRow) -> Option<SessionRecord> {
        self.account(row.account).map(|account| SessionRecord {
            account,
            device: row.record.id,
            client_identifier: row.record.client_identifier.clone(),
            last_seen_at: row.record.last_seen_at,
            application: row.application.clone(),
        })
    }

    fn next(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    // One argument per column the real stores bind; a struct would only
    // rename them.
    #[allow(clippy::too_many_arguments)]
    fn upsert_device(
        &mut self,
        account: AccountId,
        client_identifier: &ClientIdentifier,
        device: &DeviceInfo,
        token: &NewToken,
        known_client: &LookupHash,
        application: Option<ApplicationId>,
        now: UnixTime,
    ) -> DeviceId {
        let existing = self
            .devices
            .iter_mut()
            .find(|d| d.account == account && &d.record.client_identifier == client_identifier);
        let id = match existing {
            Some(row) => {
                row.record.info = device.clone();
                row.record.last_seen_at = now;
                row.application = application;
                row.record.id
            }
            None => {
                let id = DeviceId(self.next());
                self.devices.push(DeviceRow {
                    account,
                    application,
                    record: DeviceRecord {
                        id,
                        client_identifier: client_identifier.clone(),
                        info: device.clone(),
                        created_at: now,
                        last_seen_at: now,
                        token_sealed: None,
                        connections: Vec::new(),
                    },
                });
                id
            }
        };
        self.tokens
            .push((token.hash.clone(), id, token.sealed.clone(), now));
        self.known.insert((account, known_client.clone()), now);
        id
    }

    fn account(&self, id: AccountId) -> Option<Account> {
        self.accounts
            .iter()
            .find(|a| a.account.id == id)
            .map(|a| a.account.clone())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn insert_pin(&self, pin: &PinRecord, caps: &PinCaps) -> Result<(), StoreError> {
        let mut s = self.state.lock();
        let now = pin.created_at;
        s.pins
            .retain(|_, (p, _)| !(p.code_hash == pin.code_hash && p.expires_at <= now));
        if s.pins.contains_key(&pin.id)
            || s.pins.values().any(|(p, _)| p.code_hash == pin.code_hash)
        {
            return Err(StoreError::Conflict("pin"));
        }
        let live = |f: &dyn Fn(&PinRecord) -> bool| {
            let mut matching: Vec<UnixTime> = s
                .pins
                .values()
                .map(|(p, _)| p)
                .filter(|p| p.expires_at > now && f(p))
                .map(|p| p.expires_at)
                .collect();
            matching.sort();
            matching
        };
        let from_address = live(&|p| p.requester_net == pin.requester_net);
        if from_address.len() >= caps.per_address as usize {
            return Err(StoreError::CapReached {
                cap: CapKind::Address,
                until: from_address[0],
            });
        }
        if !pin.strong {
            let mine = live(&|p| {
                !p.strong && p.token_sealed.is_none() && p.requester_net == pin.requester_net
            });
            if mine.len() >= caps.link_codes_per_address as usize {
                return Err(StoreError::CapReached {
                    cap: CapKind::Address,
                    until: mine[0],
                });
            }
            let codes = live(&|p| !p.strong && p.token_sealed.is_none());
            if codes.len() >= caps.link_codes as usize {
                return Err(StoreError::CapReached {
                    cap: CapKind::LinkCodes,
                    until: codes[0],
                });
            }
        }
        s.pins.insert(pin.id, (pin.clone(), None));
        Ok(())
    }

    async fn pin_by_id(&self, id: PinId) -> Result<Option<PinRecord>, StoreError> {
        Ok(self.state.lock().pins.get(&id).map(|(p, _)| p.clone()))
    }

    async fn pin_by_code(&self, code_hash: &LookupHash) -> Result<Option<PinRecord>, StoreError> {
        let s = self.state.lock();
        Ok(s.pins
            .values()
            .find(|(p, _)| &p.code_hash == code_hash)
            .map(|(p, _)| p.clone()))
    }

    async fn link_pin(&self, link: &PinLink) -> Result<Option<DeviceId>, StoreError> {
        let mut s = self.state.lock();
        let Some((pin, linked)) = s.pins.get_mut(&link.pin) else {
            return Ok(None);
        };
        if pin.token_sealed.is_some() || pin.expires_at <= link.now {
            return Ok(None);
        }
        pin.token_sealed = Some(link.token.sealed.clone());
        *linked = Some(link.account);
        let (client, device) = (pin.client_identifier.clone(), pin.device.clone());
        let application = pin.grant.as_ref().map(|g| g.application.id.clone());
        let device = s.upsert_device(
            link.account,
            &client,
            &device,
            &link.token,
            &link.known_client,
            application,
            link.now,
        );
        if let Some(key) = &link.device_key {
            s.device_keys
                .insert(key.kid.clone(), (device, key.x.clone()));
        }
        Ok(Some(device))
    }

    async fn delete_pin(&self, id: PinId) -> Result<bool, StoreError> {
        Ok(self.state.lock().pins.remove(&id).is_some())
    }

    async fn deny_pin(&self, id: PinId) -> Result<bool, StoreError> {
        let mut s = self.state.lock();
        match s.pins.get_mut(&id) {
            Some((pin, None)) if pin.token_sealed.is_none() => match pin.grant.as_mut() {
                Some(grant) => {
                    grant.denied = true;
                    Ok(true)
                }
                None => Ok(false),
            },
            _ => Ok(false),
        }
    }

    async fn take_linked_pin(&self, id: PinId) -> Result<Option<PinRecord>, StoreError> {
        let mut s = self.state.lock();
        match s.pins.get(&id) {
            Some((pin, _)) if pin.token_sealed.is_some() => {
                Ok(s.pins.remove(&id).map(|(pin, _)| pin))
            }
            _ => Ok(None),
        }
    }

    async fn insert_application(&self, application: &ApplicationRecord) -> Result<(), StoreError> {
        let mut s = self.state.lock();
        if s.applications
            .iter()
            .any(|a| a.application.id == application.application.id)
        {
            return Err(StoreError::Conflict("client_id"));
        }
        s.applications.push(application.clone());
        Ok(())
    }

    async fn application(
        &self,
        id: &ApplicationId,
    ) -> Result<Option<ApplicationRecord>, StoreError> {
        let s = self.state.lock();
        Ok(s.applications
            .iter()
            .find(|a| &a.application.id == id)
            .cloned())
    }

    async fn list_applications(&self) -> Result<Vec<ApplicationRecord>, StoreError> {
        Ok(self.state.lock().applications.clone())
    }

    async fn delete_application(&self, id: &ApplicationId) -> Result<bool, StoreError> {
        let mut s = self.state.lock();
        let before = s.applications.len();
        s.applications.retain(|a| &a.application.id != id);
        if s.applications.len() == before {
            return Ok(false);
        }
        s.pins
            .retain(|_, (p, _)| p.grant.as_ref().map(|g| &g.application.id) != Some(id));
        let gone: Vec<DeviceId> = s
            .devices
            .iter()
            .filter(|d| d.application.as_ref() == Some(id))
            .map(|d| d.record.id)
            .collect();
        s.devices.retain(|d| !gone.contains(&d.record.id));
        s.tokens.retain(|t| !gone.contains(&t.1));
        s.device_keys
            .retain(|_, (device, _)| !gone.contains(device));
        Ok(true)
    }

    async fn delete_expired_pins(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut s = self.state.lock();
        let before = s.pins.len();
        let grace = crate::store::GRANT_EXPIRY_MEMORY_SECS;
        s.pins.retain(|_, (p, _)| {
            p.expires_at > now || (p.grant.is_some() && p.expires_at.plus_secs(grace) > now)
        });
        Ok((before - s.pins.len()) as u64)
    }

    async fn count_live_pins(&self, now: UnixTime) -> Result<u64, StoreError> {
        let s = self.state.lock();
        Ok(s.pins.values().filter(|(p, _)| p.expires_at > now).count() as u64)
    }

    async fn insert_account(&self, new: &NewAccount) -> Result<Account, StoreError> {
        let mut s = self.state.lock();
        let taken = |f: &dyn Fn(&Account) -> &str, v: &str| {
            s.accounts
                .iter()
                .any(|a| f(&a.account).eq_ignore_ascii_case(v))
        };
        if taken(&|a| a.username.as_str(), &new.username) {
            return Err(StoreError::Conflict("username"));
        }
        if taken(&|a| a.email.as_str(), &new.email) {
            return Err(StoreError::Conflict("e-mail"));
        }
        let account = Account {
            id: AccountId(s.next()),
            uuid: new.uuid.clone(),
            username: Username::from_stored(new.username.clone()),
            email: Email::from_stored(new.email.clone()),
            created_at: new.created_at,
        };
        s.accounts.push(AccountRecord {
            account: account.clone(),
            password_hash: new.password_hash.clone(),
        });
        Ok(account)
    }

    async fn account_by_login(&self, login: &str) -> Result<Option<AccountRecord>, StoreError> {
        let s = self.state.lock();
        let by = |f: &dyn Fn(&Account) -> &str| {
            s.accounts
                .iter()
                .find(|a| f(&a.account).eq_ignore_ascii_case(login))
                .cloned()
        };
        Ok(by(&|a| a.username.as_str()).or_else(|| by(&|a| a.email.as_str())))
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        Ok(self
            .state
            .lock()
            .accounts
            .iter()
            .map(|a| a.account.clone())
            .collect())
    }

    async fn grant_token(&self, grant: &TokenGrant) -> Result<DeviceId, StoreError> {
        Ok(self.state.lock().upsert_device(
            grant.account,
            &grant.client_identifier,
            &grant.device,
            &grant.token,
            &grant.known_client,
            None,
            grant.now,
        ))
    }

    async fn session_by_token(
        &self,
        hash: &LookupHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let s = self.state.lock();
        let Some((_, device, _, _)) = s.tokens.iter().find(|t| &t.0 == hash) else {
            return Ok(None);
        };
        let Some(row) = s.devices.iter().find(|d| d.record.id == *device) else {
            return Ok(None);
        };
        Ok(s.session(row))
    }

    async fn set_device_connections(
        &self,
        account: AccountId,
        device: DeviceId,
        connections: &[String],
    ) -> Result<bool, StoreError> {
        let mut s = self.state.lock();
        match s
            .devices
            .iter_mut()
            .find(|d| d.account == account && d.record.id == device)
        {
            Some(row) => {
                row.record.connections = connections.to_vec();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn register_device_key(
        &self,
        device: DeviceId,
        kid: &str,
        x: &str,
        _now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut s = self.state.lock();
        if let Some((holder, _)) = s.device_keys.get(kid) {
            let holder = *holder;
            if holder != device && s.devices.iter().any(|d| d.record.id == holder) {
                return Ok(false);
            }
        }
        s.device_keys.insert(kid.to_owned(), (device, x.to_owned()));
        Ok(true)
    }

    async fn device_key(&self, kid: &str) -> Result<Option<DeviceKeyRecord>, StoreError> {
        let s = self.state.lock();
        let Some((device, x)) = s.device_keys.get(kid) else {
            return Ok(None);
        };
        let Some(row) = s.devices.iter().find(|d| d.record.id == *device) else {
            return Ok(None);
        };
        Ok(s.session(row).map(|session| DeviceKeyRecord {
            session,
            x: x.clone(),
        }))
    }

    async fn signing_key_generations(&self) -> Result<Vec<(u32, UnixTime)>, StoreError> {
        Ok(self.state.lock().key_generations.clone())
    }

    async fn add_signing_key_generation(&self, now: UnixTime) -> Result<u32, StoreError> {
        let mut s = self.state.lock();
        let next = s.key_generations.last().map_or(1, |(g, _)| g + 1);
        s.key_generations.push((next, now));
        Ok(next)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn delete_expired_nonces(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut s = self.state.lock();
        let before = s.nonces.len();
        s.nonces.retain(|_, (_, expires_at, _)| *expires_at > now);
        Ok((before - s.nonces.len()) as u64)
    }

    async fn nonce_is_live(
        &self,
        nonce: &str,
        client: &LookupHash,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        Ok(matches!(
            self.state.lock().nonces.get(nonce),
            Some((owner, expires_at, _)) if owner == client && *expires_at > now
        ))
    }

    async fn insert_nonce(
        &self,
        nonce: &str,
        client: &LookupHash,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        self.state
            .lock()
            .nonces
            .insert(nonce.to_owned(), (client.clone(), expires_at, false));
        Ok(())
    }

    async fn use_nonce(
        &self,
        nonce: &str,
        client: &LookupHash,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut s = self.state.lock();
        match s.nonces.get_mut(nonce) {
            Some((owner, expires_at, used)) if owner == client && *expires_at > now && !*used => {
                *used = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn touch_device(&self, device: DeviceId, now: UnixTime) -> Result<(), StoreError> {
        let mut s = self.state.lock();
        for row in s.devices.iter_mut().filter(|d| d.record.id == device) {
            row.record.last_seen_at = now;
        }
        Ok(())
    }

    async fn revoke_token(&self, hash: &LookupHash) -> Result<bool, StoreError> {
        let mut s = self.state.lock();
        let Some(at) = s.tokens.iter().position(|t| &t.0 == hash) else {
            return Ok(false);
        };
        let (_, device, _, _) = s.tokens.remove(at);
        let keyed = s.device_keys.values().any(|(d, _)| *d == device);
        if !keyed && !s.tokens.iter().any(|t| t.1 == device) {
            s.devices.retain(|d| d.record.id != device);
        }
        Ok(true)
    }

    async fn list_devices(&self, account: AccountId) -> Result<Vec<DeviceRecord>, StoreError> {
        let s = self.state.lock();
        Ok(s.devices
            .iter()
            .filter(|d| d.account == account)
            .map(|d| DeviceRecord {
                token_sealed: s
                    .tokens
                    .iter()
                    .rev()
                    .find(|t| t.1 == d.record.id)
                    .map(|t| t.2.clone()),
                ..d.record.clone()
            })
            .collect())
    }

    async fn revoke_device(
        &self,
        account: AccountId,
        device: DeviceId,
    ) -> Result<bool, StoreError> {
        let mut s = self.state.lock();
        let before = s.devices.len();
        s.devices
            .retain(|d| !(d.account == account && d.record.id == device));
        let removed = s.devices.len() < before;
        if removed {
            s.tokens.retain(|t| t.1 != device);
        }
        Ok(removed)
    }

    async fn is_known_client(
        &self,
        account: AccountId,
        client: &LookupHash,
    ) -> Result<bool, StoreError> {
        Ok(self
            .state
            .lock()
            .known
            .contains_key(&(account, client.clone())))
    }

    async fn reserve(&self, spends: &[Spend], now: UnixTime) -> Result<Reservation, StoreError> {
        let mut s = self.state.lock();
        for (index, spend) in spends.iter().enumerate() {
            for limit in &spend.limits {
                let since = now.plus_secs(-limit.window_secs);
                let mut within: Vec<UnixTime> = s
                    .spends
                    .iter()
                    .filter(|(_, key, at)| key == &spend.key && *at > since)
                    .map(|(_, _, at)| *at)
                    .collect();
                if within.len() >= limit.max as usize {
                    within.sort();
                    return Ok(Reservation::Refused {
                        index,
                        retry_after_secs: now.secs_until(within[0].plus_secs(limit.window_secs)),
                    });
                }
            }
        }
        let mut ids = Vec::new();
        for spend in spends.iter().filter(|s| !s.limits.is_empty()) {
            let id = s.next();
            s.spends.push((id, spend.key.clone(), now));
            ids.push(id);
        }
        Ok(Reservation::Granted(ids))
    }

    async fn refund(&self, ids: &[i64]) -> Result<(), StoreError> {
        self.state
            .lock()
            .spends
            .retain(|(id, _, _)| !ids.contains(id));
        Ok(())
    }

    async fn forgive(&self, key: &LookupHash) -> Result<(), StoreError> {
        self.state.lock().spends.retain(|(_, k, _)| k != key);
        Ok(())
    }

    async fn delete_spends_before(
        &self,
        before: UnixTime,
        forget_clients_before: UnixTime,
    ) -> Result<u64, StoreError> {
        let mut s = self.state.lock();
        let n = s.spends.len();
        s.spends.retain(|(_, _, at)| *at > before);
        s.known.retain(|_, seen| *seen >= forget_clients_before);
        Ok((n - s.spends.len()) as u64)
    }
}
