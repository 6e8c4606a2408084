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
use crate::model::{Account, AccountId, Application, ApplicationId, DeviceId, PinId};
use crate::secrets::{LookupHash, ServerKey};
use crate::security_log::{LoggedEvent, SecurityEvent};
use crate::store::{
    AccountChange, AccountOverview, AccountRecord, ApplicationRecord, CapKind, CeremonyRecord,
    DeviceKeyRecord, DeviceRecord, NewAccount, NewToken, PasskeyRecord, PasswordReset, PinLink,
    PinRecord, Reservation, Rotated, Rotation, SessionRecord, SignOut, Spend, Store, StoreError,
    TokenGrant,
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
    recovery_codes: Vec<(AccountId, LookupHash)>,
    log: Vec<LoggedEvent>,
    resets: Vec<PasswordReset>,
    passkeys: Vec<PasskeyRecord>,
    ceremonies: Vec<CeremonyRecord>,
    /// Access tokens that expire: hash → when.
    token_expiry: HashMap<LookupHash, UnixTime>,
    /// Refresh tokens: hash → (device, used). One whose device is gone is
    /// gone too.
    refresh_tokens: HashMap<LookupHash, (DeviceId, bool)>,
}

struct DeviceRow {
    account: AccountId,
    application: Option<ApplicationId>,
    scope: String,
    auth_time: Option<UnixTime>,
    record: DeviceRecord,
}

impl State {
    /// The session of `row`'s device through the token `hash` (or its key).
    fn session(&self, row: &DeviceRow, hash: Option<&LookupHash>) -> Option<SessionRecord> {
        let issued = match hash {
            Some(hash) => self.tokens.iter().find(|t| &t.0 == hash).map(|t| t.3)?,
            None => row.record.created_at,
        };
        self.account(row.account).map(|account| SessionRecord {
            account,
            device: row.record.id,
            client_identifier: row.record.client_identifier.clone(),
            last_seen_at: row.record.last_seen_at,
            application: row.application.clone(),
            token_issued_at: issued,
            token_expires_at: hash.and_then(|h| self.token_expiry.get(h).copied()),
            scope: row.scope.clone(),
            auth_time: row.auth_time,
        })
    }

    fn live_device(&self, device: DeviceId) -> bool {
        self.devices.iter().any(|d| d.record.id == device)
    }

    fn remove_device(&mut self, device: DeviceId) {
        self.devices.retain(|d| d.record.id != device);
        self.tokens.retain(|t| t.1 != device);
        self.refresh_tokens.retain(|_, (d, _)| *d != device);
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
                    scope: String::new(),
                    auth_time: None,
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
        let scope = pin
            .grant
            .as_ref()
            .map(|g| g.scope.to_string())
            .unwrap_or_default();
        let device = s.upsert_device(
            link.account,
            &client,
            &device,
            &link.token,
            &link.known_client,
            application,
            link.now,
        );
        if let Some(row) = s.devices.iter_mut().find(|d| d.record.id == device) {
            if row.application.is_some() {
                row.scope = scope;
                row.auth_time = Some(link.now);
            }
        }
        if let Some(at) = link.token_expires_at {
            s.token_expiry.insert(link.token.hash.clone(), at);
        }
        if let Some(key) = &link.device_key {
            s.device_keys
                .insert(key.kid.clone(), (device, key.x.clone()));
        }
        s.spends.retain(|(id, _, _)| !link.refund.contains(id));
        if let Some(event) = &link.logged {
            let id = s.next();
            s.log.push(LoggedEvent {
                id,
                event: event.clone(),
            });
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

    async fn set_application(&self, application: &Application) -> Result<bool, StoreError> {
        let mut s = self.state.lock();
        match s
            .applications
            .iter_mut()
            .find(|a| a.application.id == application.id)
        {
            Some(record) => {
                record.application.access_token_lifetime_secs =
                    application.access_token_lifetime_secs;
                record.application.id_token_alg = application.id_token_alg;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn insert_refresh_token(
        &self,
        device: DeviceId,
        hash: &LookupHash,
        _now: UnixTime,
    ) -> Result<(), StoreError> {
        self.state
            .lock()
            .refresh_tokens
            .insert(hash.clone(), (device, false));
        Ok(())
    }

    async fn rotate_refresh_token(&self, rotation: &Rotation) -> Result<Rotated, StoreError> {
        let mut s = self.state.lock();
        let Some(&(device, used)) = s.refresh_tokens.get(&rotation.presented) else {
            return Ok(Rotated::Unknown);
        };
        let disabled_account = s
            .devices
            .iter()
            .find(|d| d.record.id == device)
            .is_some_and(|d| {
                s.accounts
                    .iter()
                    .any(|a| a.account.id == d.account && a.disabled)
            });
        if disabled_account {
            return Ok(Rotated::Unknown);
        }
        let ours = s
            .devices
            .iter()
            .find(|d| d.record.id == device)
            .is_some_and(|d| d.application.as_ref() == Some(&rotation.application));
        if !ours {
            return Ok(Rotated::Unknown);
        }
        if used {
            s.remove_device(device);
            return Ok(Rotated::Reused);
        }
        s.refresh_tokens
            .insert(rotation.presented.clone(), (device, true));
        if let Some(next) = &rotation.refresh {
            s.refresh_tokens.insert(next.clone(), (device, false));
        }
        let now = rotation.now;
        s.tokens.push((
            rotation.access.hash.clone(),
            device,
            rotation.access.sealed.clone(),
            now,
        ));
        if let Some(at) = rotation.access_expires_at {
            s.token_expiry.insert(rotation.access.hash.clone(), at);
        }
        let disabled = |s: &State, account| {
            s.accounts
                .iter()
                .any(|a| a.account.id == account && a.disabled)
        };
        let Some(row) = s.devices.iter().find(|d| d.record.id == device) else {
            return Ok(Rotated::Unknown);
        };
        if disabled(&s, row.account) {
            return Ok(Rotated::Unknown);
        }
        Ok(s.session(row, Some(&rotation.access.hash))
            .map_or(Rotated::Unknown, Rotated::Rotated))
    }

    async fn set_token_expiry(&self, hash: &LookupHash, at: UnixTime) -> Result<(), StoreError> {
        let mut s = self.state.lock();
        if let Some(expiry) = s.token_expiry.get_mut(hash) {
            *expiry = at;
        }
        Ok(())
    }

    async fn revoke_refresh_token(
        &self,
        application: &ApplicationId,
        hash: &LookupHash,
    ) -> Result<bool, StoreError> {
        let mut s = self.state.lock();
        let Some(&(device, _)) = s.refresh_tokens.get(hash) else {
            return Ok(false);
        };
        let ours = s
            .devices
            .iter()
            .find(|d| d.record.id == device)
            .is_some_and(|d| d.application.as_ref() == Some(application));
        if ours {
            s.remove_device(device);
        }
        Ok(ours && !s.live_device(device))
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
            disabled: false,
            totp_sealed: None,
            totp_last_step: 0,
            totp_pending_sealed: None,
            passkey_handle: None,
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
        if s.accounts
            .iter()
            .any(|a| a.account.id == row.account && a.disabled)
        {
            return Ok(None);
        }
        Ok(s.session(row, Some(hash)))
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
        Ok(s.session(row, None).map(|session| DeviceKeyRecord {
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

    // Accounts a person can keep: plain storage, the rules are the
    // contract tests' (pinlink-store).

    async fn account_by_id(&self, id: AccountId) -> Result<Option<AccountRecord>, StoreError> {
        let s = self.state.lock();
        Ok(s.accounts.iter().find(|a| a.account.id == id).cloned())
    }

    async fn account_overview(&self) -> Result<Vec<AccountOverview>, StoreError> {
        let s = self.state.lock();
        Ok(s.accounts
            .iter()
            .map(|a| AccountOverview {
                account: a.account.clone(),
                disabled: a.disabled,
                two_step: a.two_step(),
                passkeys: s
                    .passkeys
                    .iter()
                    .filter(|p| p.account == a.account.id)
                    .count() as u32,
            })
            .collect())
    }

    async fn change_account(
        &self,
        account: AccountId,
        change: &AccountChange,
        event: Option<&SecurityEvent>,
    ) -> Result<Option<Vec<DeviceId>>, StoreError> {
        let mut s = self.state.lock();
        let Some(index) = s.accounts.iter().position(|a| a.account.id == account) else {
            return Ok(None);
        };
        let mut sign_out = SignOut::Nobody;
        match change {
            AccountChange::Password {
                hash,
                sign_out: who,
            } => {
                s.accounts[index].password_hash = hash.clone();
                s.resets.retain(|r| r.account != account);
                sign_out = *who;
            }
            AccountChange::Email(email) => {
                if s.accounts.iter().any(|a| {
                    a.account.id != account && a.account.email.as_str().eq_ignore_ascii_case(email)
                }) {
                    return Err(StoreError::Conflict("e-mail"));
                }
                s.accounts[index].account.email = Email::from_stored(email.clone());
            }
            AccountChange::Disabled(disabled) => s.accounts[index].disabled = *disabled,
            AccountChange::SignOut(who) => sign_out = *who,
            AccountChange::EnrollTwoStep { pending_sealed } => {
                s.accounts[index].totp_pending_sealed = Some(pending_sealed.clone());
            }
            AccountChange::ConfirmTwoStep {
                secret_sealed,
                step,
                recovery_codes,
            } => {
                let record = &mut s.accounts[index];
                record.totp_sealed = Some(secret_sealed.clone());
                record.totp_last_step = *step;
                record.totp_pending_sealed = None;
                s.recovery_codes.retain(|(a, _)| *a != account);
                s.recovery_codes
                    .extend(recovery_codes.iter().map(|h| (account, h.clone())));
            }
            AccountChange::StopTwoStep => {
                s.accounts[index].totp_sealed = None;
                s.accounts[index].totp_pending_sealed = None;
                s.recovery_codes.retain(|(a, _)| *a != account);
            }
            AccountChange::RecoveryCodes(codes) => {
                s.recovery_codes.retain(|(a, _)| *a != account);
                s.recovery_codes
                    .extend(codes.iter().map(|h| (account, h.clone())));
            }
            AccountChange::PasskeyHandle(handle) => {
                let record = &mut s.accounts[index];
                if record.passkey_handle.is_none() {
                    record.passkey_handle = Some(handle.clone());
                }
            }
        }
        let gone: Vec<DeviceId> = s
            .devices
            .iter()
            .filter(|d| {
                d.account == account
                    && match sign_out {
                        SignOut::Nobody => false,
                        SignOut::Everyone => true,
                        SignOut::AllBut(keep) => d.record.id != keep,
                    }
            })
            .map(|d| d.record.id)
            .collect();
        s.devices.retain(|d| !gone.contains(&d.record.id));
        s.tokens.retain(|t| !gone.contains(&t.1));
        if let Some(event) = event {
            let id = s.next();
            s.log.push(LoggedEvent {
                id,
                event: event.clone(),
            });
        }
        Ok(Some(gone))
    }

    async fn accept_totp_step(&self, account: AccountId, step: i64) -> Result<bool, StoreError> {
        let mut s = self.state.lock();
        match s.accounts.iter_mut().find(|a| a.account.id == account) {
            Some(a) if a.totp_sealed.is_some() && a.totp_last_step < step => {
                a.totp_last_step = step;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn use_recovery_code(
        &self,
        account: AccountId,
        hash: &LookupHash,
    ) -> Result<bool, StoreError> {
        let mut s = self.state.lock();
        let before = s.recovery_codes.len();
        s.recovery_codes
            .retain(|(a, h)| !(*a == account && h == hash));
        Ok(s.recovery_codes.len() < before)
    }

    async fn recovery_codes_left(&self, account: AccountId) -> Result<u32, StoreError> {
        let s = self.state.lock();
        Ok(s.recovery_codes
            .iter()
            .filter(|(a, _)| *a == account)
            .count() as u32)
    }

    async fn delete_account(&self, account: AccountId) -> Result<Option<Vec<PinId>>, StoreError> {
        let mut s = self.state.lock();
        let Some(index) = s.accounts.iter().position(|a| a.account.id == account) else {
            return Ok(None);
        };
        s.accounts.remove(index);
        let pins: Vec<PinId> = s
            .pins
            .iter()
            .filter(|(_, (_, linked))| *linked == Some(account))
            .map(|(id, _)| *id)
            .collect();
        for pin in &pins {
            s.pins.remove(pin);
        }
        let devices: Vec<DeviceId> = s
            .devices
            .iter()
            .filter(|d| d.account == account)
            .map(|d| d.record.id)
            .collect();
        s.devices.retain(|d| d.account != account);
        s.tokens.retain(|t| !devices.contains(&t.1));
        s.log.retain(|e| e.event.account != account);
        s.passkeys.retain(|p| p.account != account);
        s.recovery_codes.retain(|(a, _)| *a != account);
        Ok(Some(pins))
    }

    async fn log_event(&self, event: &SecurityEvent) -> Result<(), StoreError> {
        let mut s = self.state.lock();
        let id = s.next();
        s.log.push(LoggedEvent {
            id,
            event: event.clone(),
        });
        Ok(())
    }

    async fn security_log(
        &self,
        account: AccountId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        let s = self.state.lock();
        let mut entries: Vec<LoggedEvent> = s
            .log
            .iter()
            .filter(|e| e.event.account == account && e.id < before.unwrap_or(i64::MAX))
            .cloned()
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.id));
        entries.truncate(limit as usize);
        Ok(entries)
    }

    async fn insert_password_reset(&self, reset: &PasswordReset) -> Result<(), StoreError> {
        self.state.lock().resets.push(reset.clone());
        Ok(())
    }

    async fn password_reset(
        &self,
        hash: &LookupHash,
        now: UnixTime,
    ) -> Result<Option<PasswordReset>, StoreError> {
        let s = self.state.lock();
        Ok(s.resets
            .iter()
            .find(|r| &r.hash == hash && r.expires_at > now)
            .cloned())
    }

    async fn complete_password_reset(
        &self,
        hash: &LookupHash,
        password_hash: &str,
        event: &SecurityEvent,
    ) -> Result<Option<(AccountId, Vec<DeviceId>)>, StoreError> {
        let Some(reset) = self.password_reset(hash, event.at).await? else {
            return Ok(None);
        };
        self.state
            .lock()
            .resets
            .retain(|r| r.account != reset.account);
        if reset.drop_two_step {
            self.state
                .lock()
                .passkeys
                .retain(|p| p.account != reset.account);
            let stop = SecurityEvent {
                account: reset.account,
                ..event.clone()
            };
            self.change_account(reset.account, &AccountChange::StopTwoStep, Some(&stop))
                .await?;
        }
        let event = SecurityEvent {
            account: reset.account,
            ..event.clone()
        };
        let gone = self
            .change_account(
                reset.account,
                &AccountChange::Password {
                    hash: password_hash.to_owned(),
                    sign_out: SignOut::Everyone,
                },
                Some(&event),
            )
            .await?
            .unwrap_or_default();
        Ok(Some((reset.account, gone)))
    }

    async fn insert_passkey(&self, passkey: &PasskeyRecord) -> Result<i64, StoreError> {
        let mut s = self.state.lock();
        if s.passkeys
            .iter()
            .any(|p| p.credential_id == passkey.credential_id)
        {
            return Err(StoreError::Conflict("id"));
        }
        let id = s.next();
        s.passkeys.push(PasskeyRecord {
            id,
            ..passkey.clone()
        });
        Ok(id)
    }

    async fn passkeys(&self, account: AccountId) -> Result<Vec<PasskeyRecord>, StoreError> {
        let s = self.state.lock();
        Ok(s.passkeys
            .iter()
            .filter(|p| p.account == account)
            .cloned()
            .collect())
    }

    async fn passkey_for_sign_in(
        &self,
        handle: &str,
        credential_id: &[u8],
    ) -> Result<Option<(AccountRecord, PasskeyRecord)>, StoreError> {
        let s = self.state.lock();
        let Some(account) = s
            .accounts
            .iter()
            .find(|a| a.passkey_handle.as_deref() == Some(handle))
        else {
            return Ok(None);
        };
        Ok(s.passkeys
            .iter()
            .find(|p| p.account == account.account.id && p.credential_id == credential_id)
            .map(|p| (account.clone(), p.clone())))
    }

    async fn passkey_used(&self, id: i64, passkey: &str, now: UnixTime) -> Result<(), StoreError> {
        let mut s = self.state.lock();
        if let Some(p) = s.passkeys.iter_mut().find(|p| p.id == id) {
            p.passkey = passkey.to_owned();
            p.last_used_at = Some(now);
        }
        Ok(())
    }

    async fn delete_passkey(
        &self,
        account: AccountId,
        id: i64,
    ) -> Result<Option<String>, StoreError> {
        let mut s = self.state.lock();
        let Some(index) = s
            .passkeys
            .iter()
            .position(|p| p.account == account && p.id == id)
        else {
            return Ok(None);
        };
        Ok(Some(s.passkeys.remove(index).name))
    }

    async fn insert_ceremony(&self, ceremony: &CeremonyRecord) -> Result<(), StoreError> {
        self.state.lock().ceremonies.push(ceremony.clone());
        Ok(())
    }

    async fn take_ceremony(
        &self,
        hash: &LookupHash,
        now: UnixTime,
    ) -> Result<Option<CeremonyRecord>, StoreError> {
        let mut s = self.state.lock();
        let Some(index) = s
            .ceremonies
            .iter()
            .position(|c| &c.hash == hash && c.expires_at > now)
        else {
            return Ok(None);
        };
        Ok(Some(s.ceremonies.remove(index)))
    }

    async fn delete_stale_account_data(
        &self,
        now: UnixTime,
        log_before: UnixTime,
    ) -> Result<(), StoreError> {
        let mut s = self.state.lock();
        s.ceremonies.retain(|c| c.expires_at > now);
        s.resets.retain(|r| r.expires_at > now);
        s.log.retain(|e| e.event.at >= log_before);
        let expired: Vec<LookupHash> = s
            .token_expiry
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(hash, _)| hash.clone())
            .collect();
        s.tokens.retain(|t| !expired.contains(&t.0));
        s.token_expiry.retain(|_, at| *at > now);
        Ok(())
    }
}
