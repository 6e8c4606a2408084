//! [`Pinlink`]: the one facade the adapters (API routes, web pages, CLI)
//! call. Each public method is one domain operation: create a pin, poll it,
//! link a code, sign in, list or revoke devices.

use std::sync::Arc;

use crate::clock::{Clock, UnixTime};
use crate::error::CoreError;
use crate::limits::{keys, Budgets, FailurePolicy};
use crate::live_pins::LivePins;
use crate::model::{
    Account, ClientIdentifier, Device, DeviceId, DeviceInfo, Email, Pin, PinCode, PinId, Session,
    Username,
};
use crate::secrets::{
    constant_time_eq, hash_password, verify_password, AuthToken, Password, Purpose, Secrets,
    ServerKey,
};
use crate::store::{
    Change, NewAccount, NewToken, PinLink, PinRecord, Store, StoreError, TokenGrant,
};

/// Tunable rules. The defaults are plex.tv's lifetimes (protocol reference
/// §2.1) and the failure budgets of [`Budgets::default`].
#[derive(Debug, Clone)]
pub struct PinlinkSettings {
    pub link_pin_lifetime_secs: i64,
    pub strong_pin_lifetime_secs: i64,
    pub budgets: Budgets,
    /// A device's `lastSeenAt` is refreshed at most this often, so that an
    /// authenticated request does not cost a database write every time.
    pub last_seen_resolution_secs: i64,
}

impl Default for PinlinkSettings {
    fn default() -> Self {
        PinlinkSettings {
            link_pin_lifetime_secs: 900,
            strong_pin_lifetime_secs: 1800,
            budgets: Budgets::default(),
            last_seen_resolution_secs: 60,
        }
    }
}

/// A device's request for a pin, already parsed.
#[derive(Debug, Clone)]
pub struct NewPin {
    pub strong: bool,
    pub client_identifier: ClientIdentifier,
    pub device: DeviceInfo,
    pub requester_ip: String,
}

/// Who asks to sign in, and from which device.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub login: String,
    pub password: Password,
    pub client_identifier: ClientIdentifier,
    pub device: DeviceInfo,
    pub ip: String,
}

/// What the person approving a code expects of its pin. `/link` takes any
/// code; `/auth` only a strong code of the client that asked for it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expect<'a> {
    pub strong_only: bool,
    pub client_identifier: Option<&'a str>,
}

impl Expect<'_> {
    pub const ANY: Expect<'static> = Expect {
        strong_only: false,
        client_identifier: None,
    };
}

/// How often a new pin may draw a code or id that is already taken before we
/// give up. With the 2^20 four-character codes mostly free, one retry is rare.
const MAX_CREATE_ATTEMPTS: usize = 16;

pub struct Pinlink {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    secrets: Secrets,
    live: LivePins,
    settings: PinlinkSettings,
    setup_token: parking_lot::Mutex<Option<Box<str>>>,
}

impl Pinlink {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        key: &ServerKey,
        settings: PinlinkSettings,
    ) -> Pinlink {
        let shared = store.is_shared();
        Pinlink {
            store,
            clock,
            secrets: Secrets::new(key),
            // A store other instances write to must first report that it
            // hears their changes before anything is answered from memory.
            live: LivePins::new(!shared),
            settings,
            setup_token: parking_lot::Mutex::new(None),
        }
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    pub fn settings(&self) -> &PinlinkSettings {
        &self.settings
    }

    // ------------------------------------------------------------------ pins

    pub async fn create_pin(&self, request: NewPin) -> Result<Arc<Pin>, CoreError> {
        let now = self.now();
        let lifetime = if request.strong {
            self.settings.strong_pin_lifetime_secs
        } else {
            self.settings.link_pin_lifetime_secs
        };
        for _ in 0..MAX_CREATE_ATTEMPTS {
            let pin = Pin {
                id: PinId::random(),
                code: PinCode::generate(request.strong),
                client_identifier: request.client_identifier.clone(),
                device: request.device.clone(),
                requester_ip: request.requester_ip.as_str().into(),
                created_at: now,
                expires_at: now.plus_secs(lifetime),
                auth_token: None,
            };
            match self.store.insert_pin(&self.record_of(&pin)).await {
                Ok(()) => {
                    let pin = Arc::new(pin);
                    self.live.put(pin.clone());
                    return Ok(pin);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CoreError::Internal(
            "no free pin code or id after several attempts".into(),
        ))
    }

    /// A device polling its pin. Answers from memory when it can.
    pub async fn poll_pin(
        &self,
        id: PinId,
        client: &ClientIdentifier,
    ) -> Result<Arc<Pin>, CoreError> {
        let now = self.now();
        let pin = match self.live.get(id) {
            Some(pin) => pin,
            None => {
                let epoch = self.live.epoch();
                let record = self
                    .store
                    .pin_by_id(id)
                    .await?
                    .ok_or(CoreError::PinNotFound)?;
                let pin = Arc::new(self.pin_from_record(record)?);
                if pin.is_live(now) {
                    self.live.put_if_unchanged(pin.clone(), epoch);
                }
                pin
            }
        };
        // Another client identifier's pin is "not found": the identifier is
        // what stops a stranger who guessed an id from collecting the token.
        if !pin.is_live(now) || !constant_time_eq(pin.client_identifier.as_str(), client.as_str()) {
            return Err(CoreError::PinNotFound);
        }
        Ok(pin)
    }

    /// Looks a live pin up by its code (the QR image, the confirmation page).
    pub async fn pin_by_code(&self, code: &PinCode) -> Result<Arc<Pin>, CoreError> {
        let hash = self.secrets.lookup_hash(Purpose::PinCode, code.as_str());
        let record = self
            .store
            .pin_by_code(&hash)
            .await?
            .ok_or(CoreError::PinNotFound)?;
        let pin = self.pin_from_record(record)?;
        if !pin.is_live(self.now()) {
            return Err(CoreError::PinNotFound);
        }
        Ok(Arc::new(pin))
    }

    /// An account approves the pin whose code a client sent to
    /// `PUT /api/v2/pins/link`. Wrong codes count against the account's and
    /// the address's budgets.
    pub async fn link_code(
        &self,
        account: &Account,
        typed: &str,
        ip: &str,
    ) -> Result<Arc<Pin>, CoreError> {
        self.approve_code(account, typed, ip, Expect::ANY).await
    }

    /// The live, unlinked pin whose code a signed-in person typed, for the
    /// confirmation screen that shows what is asking before anything is
    /// linked. A miss counts like a wrong code in [`Pinlink::link_code`].
    pub async fn pin_to_approve(
        &self,
        account: &Account,
        typed: &str,
        ip: &str,
        expect: Expect<'_>,
    ) -> Result<Arc<Pin>, CoreError> {
        self.within_code_budget(account, ip, |now| async move {
            let pin = self.approvable(typed, expect, now).await?;
            Ok(Arc::new(pin))
        })
        .await
    }

    /// Links the pin to the account: its device's next poll gets a token.
    pub async fn approve_code(
        &self,
        account: &Account,
        typed: &str,
        ip: &str,
        expect: Expect<'_>,
    ) -> Result<Arc<Pin>, CoreError> {
        self.within_code_budget(account, ip, |now| async move {
            let pin = self.approvable(typed, expect, now).await?;
            self.link(account, pin, now).await
        })
        .await
    }

    /// The person says the request is not theirs: the pin is deleted, and
    /// the device's next poll gets "not found".
    pub async fn deny_code(
        &self,
        account: &Account,
        typed: &str,
        ip: &str,
        expect: Expect<'_>,
    ) -> Result<(), CoreError> {
        self.within_code_budget(account, ip, |now| async move {
            let pin = self.approvable(typed, expect, now).await?;
            self.store.delete_pin(pin.id).await?;
            self.live.forget(pin.id);
            tracing::info!(pin = %pin.id, account = account.id.0, "pin denied");
            Ok(())
        })
        .await
    }

    /// Runs a code operation when neither the account nor the address has
    /// spent its budget of wrong codes, and charges a miss to both.
    async fn within_code_budget<T, F, Fut>(
        &self,
        account: &Account,
        ip: &str,
        op: F,
    ) -> Result<T, CoreError>
    where
        F: FnOnce(UnixTime) -> Fut,
        Fut: std::future::Future<Output = Result<T, CoreError>>,
    {
        let now = self.now();
        let budgets = self.settings.budgets;
        let account_key = keys::link_account(account.id.0);
        let ip_key = keys::link_ip(ip);
        let too_many = |retry_after_secs| CoreError::TooManyAttempts { retry_after_secs };
        self.check_budget(&account_key, budgets.link_per_account, now, too_many)
            .await?;
        self.check_budget(&ip_key, budgets.link_per_ip, now, too_many)
            .await?;
        let result = op(now).await;
        if matches!(
            result,
            Err(CoreError::PinNotFound | CoreError::PinNotApprovable(_))
        ) {
            self.store.record_failure(&account_key, now).await?;
            self.store.record_failure(&ip_key, now).await?;
        }
        result
    }

    /// The live, unlinked pin with the typed code, if it meets `expect`.
    async fn approvable(
        &self,
        typed: &str,
        expect: Expect<'_>,
        now: UnixTime,
    ) -> Result<Pin, CoreError> {
        let code = PinCode::parse_user_input(typed).ok_or(CoreError::PinNotFound)?;
        let hash = self.secrets.lookup_hash(Purpose::PinCode, code.as_str());
        let record = self
            .store
            .pin_by_code(&hash)
            .await?
            .ok_or(CoreError::PinNotFound)?;
        if record.expires_at <= now || record.token_sealed.is_some() {
            return Err(CoreError::PinNotFound);
        }
        if expect.strong_only && !record.strong {
            return Err(CoreError::PinNotApprovable(
                "This approval link needs the long code of an app; type short codes at /link",
            ));
        }
        if let Some(client) = expect.client_identifier {
            if !constant_time_eq(record.client_identifier.as_str(), client) {
                return Err(CoreError::PinNotApprovable(
                    "This approval link does not belong to the app that asked for the code",
                ));
            }
        }
        self.pin_from_record(record)
    }

    async fn link(
        &self,
        account: &Account,
        pin: Pin,
        now: UnixTime,
    ) -> Result<Arc<Pin>, CoreError> {
        let token = AuthToken::generate();
        let link = PinLink {
            pin: pin.id,
            account: account.id,
            token: self.new_token(&token),
            now,
        };
        if self.store.link_pin(&link).await?.is_none() {
            // Linked, denied or expired by someone else in the meantime.
            return Err(CoreError::PinNotFound);
        }
        let linked = Arc::new(Pin {
            auth_token: Some(token),
            ..pin
        });
        self.live.put(linked.clone());
        tracing::info!(pin = %linked.id, account = account.id.0, "pin linked");
        Ok(linked)
    }

    /// Deletes expired pins and stale failure counts.
    pub async fn sweep(&self) -> Result<u64, CoreError> {
        let now = self.now();
        let removed = self.store.delete_expired_pins(now).await?;
        self.live.evict_expired(now);
        let b = self.settings.budgets;
        let longest = [
            b.sign_in_per_account,
            b.sign_in_per_ip,
            b.link_per_account,
            b.link_per_ip,
        ]
        .iter()
        .map(|p| p.window_secs)
        .max()
        .unwrap_or(0);
        self.store
            .delete_failures_before(now.plus_secs(-longest))
            .await?;
        Ok(removed)
    }

    /// Applies a change another instance made (reported by a shared store),
    /// so that nothing stale is answered from memory.
    pub fn apply_change(&self, change: Change) {
        match change {
            Change::Pin(id) => self.live.forget(id),
            Change::Missed => {
                tracing::warn!("lost the database's change notifications; polls read the database until they are back");
                self.live.pause();
            }
            Change::Listening => {
                tracing::info!("listening for changes made by other instances");
                self.live.resume();
            }
        }
    }

    /// Whether polls are answered from memory now: always with a store of
    /// its own; with a shared store only while other instances' changes are
    /// heard.
    pub fn caches_pins(&self) -> bool {
        self.live.is_trusted()
    }

    /// How many pins are held in memory (for logs and benchmarks).
    pub fn live_pins_cached(&self) -> usize {
        self.live.len()
    }

    // -------------------------------------------------------------- accounts

    pub async fn add_account(
        &self,
        username: &str,
        email: &str,
        password: String,
    ) -> Result<Account, CoreError> {
        let username = Username::parse(username)?;
        let email = Email::parse(email)?;
        let password = Password::new_for_account(password)?;
        let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| CoreError::Internal(format!("password hashing task failed: {e}")))??;
        let new = NewAccount {
            uuid: random_hex(16),
            username: username.as_str().to_owned(),
            email: email.as_str().to_owned(),
            password_hash,
            created_at: self.now(),
        };
        match self.store.insert_account(&new).await {
            Err(StoreError::Conflict(what)) => Err(CoreError::AccountExists(what)),
            other => Ok(other?),
        }
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, CoreError> {
        Ok(self.store.list_accounts().await?)
    }

    /// First start: while no account exists, a one-time setup token guards
    /// the creation of the first one (the server prints it in its log).
    /// `None` once an account exists.
    pub async fn first_start_token(&self) -> Result<Option<String>, CoreError> {
        if !self.store.list_accounts().await?.is_empty() {
            *self.setup_token.lock() = None;
            return Ok(None);
        }
        let mut slot = self.setup_token.lock();
        let token = slot.get_or_insert_with(|| random_hex(32).into_boxed_str());
        Ok(Some(token.to_string()))
    }

    /// Whether the first account still has to be created.
    pub async fn needs_first_account(&self) -> Result<bool, CoreError> {
        Ok(self.setup_token.lock().is_some() && self.store.list_accounts().await?.is_empty())
    }

    /// Creates the first account with the setup token; the token is used up.
    pub async fn create_first_account(
        &self,
        setup_token: &str,
        username: &str,
        email: &str,
        password: String,
    ) -> Result<Account, CoreError> {
        let valid = {
            let mut slot = self.setup_token.lock();
            match slot.as_deref() {
                Some(expected) if constant_time_eq(expected, setup_token.trim()) => slot.take(),
                _ => None,
            }
        };
        let Some(token) = valid else {
            return Err(CoreError::SetupRefused);
        };
        if !self.store.list_accounts().await?.is_empty() {
            return Err(CoreError::SetupRefused);
        }
        match self.add_account(username, email, password).await {
            Ok(account) => Ok(account),
            Err(e) => {
                // Bad input: the person may try again with the same token.
                *self.setup_token.lock() = Some(token);
                Err(e)
            }
        }
    }

    /// An anti-forgery token for web forms, bound to a random value the
    /// browser holds in a cookie: a page on another site can neither read
    /// the cookie nor compute the token.
    pub fn form_token(&self, binding: &str) -> String {
        hex(self.secrets.lookup_hash(Purpose::Csrf, binding).as_bytes())
    }

    pub fn form_token_matches(&self, binding: &str, presented: &str) -> bool {
        !binding.is_empty() && constant_time_eq(&self.form_token(binding), presented)
    }

    /// Checks a login and password; on success the signing-in device gets a
    /// new token. Too many failures lock the account and the address out.
    pub async fn sign_in(&self, request: SignIn) -> Result<(Account, AuthToken), CoreError> {
        let now = self.now();
        let budgets = self.settings.budgets;
        let account_key = keys::sign_in_account(request.login.trim());
        let ip_key = keys::sign_in_ip(&request.ip);
        let locked = |retry_after_secs| CoreError::SignInLockedOut { retry_after_secs };
        self.check_budget(&ip_key, budgets.sign_in_per_ip, now, locked)
            .await?;
        self.check_budget(&account_key, budgets.sign_in_per_account, now, locked)
            .await?;

        let record = self.store.account_by_login(request.login.trim()).await?;
        let stored_hash = record.as_ref().map(|r| r.password_hash.clone());
        let password = request.password;
        let ok =
            tokio::task::spawn_blocking(move || verify_password(&password, stored_hash.as_deref()))
                .await
                .map_err(|e| CoreError::Internal(format!("password check task failed: {e}")))?;
        match record {
            Some(record) if ok => {
                self.store.clear_failures(&account_key).await?;
                let token = self
                    .grant_token(
                        &record.account,
                        &request.client_identifier,
                        &request.device,
                        now,
                    )
                    .await?;
                tracing::info!(account = record.account.id.0, "signed in");
                Ok((record.account, token))
            }
            _ => {
                self.store.record_failure(&account_key, now).await?;
                self.store.record_failure(&ip_key, now).await?;
                tracing::info!(ip = %request.ip, "sign-in failed");
                Err(CoreError::Unauthenticated)
            }
        }
    }

    /// Resolves an `X-Plex-Token` to the account and device holding it.
    pub async fn authenticate(&self, presented: &str) -> Result<Session, CoreError> {
        if presented.is_empty() || presented.len() > 512 {
            return Err(CoreError::Unauthenticated);
        }
        let hash = self.secrets.lookup_hash(Purpose::Token, presented);
        let record = self
            .store
            .session_by_token(&hash)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        let now = self.now();
        if record.last_seen_at.secs_until(now) >= self.settings.last_seen_resolution_secs {
            self.store.touch_device(record.device, now).await?;
        }
        Ok(Session {
            account: record.account,
            device_id: record.device,
            token: AuthToken::from_presented(presented.to_owned()),
        })
    }

    /// Ends a session: its token stops working at once.
    pub async fn sign_out(&self, session: &Session) -> Result<(), CoreError> {
        let hash = self
            .secrets
            .lookup_hash(Purpose::Token, session.token.expose());
        self.store.revoke_token(&hash).await?;
        Ok(())
    }

    // --------------------------------------------------------------- devices

    pub async fn devices(&self, account: &Account) -> Result<Vec<Device>, CoreError> {
        let records = self.store.list_devices(account.id).await?;
        records
            .into_iter()
            .map(|r| {
                let token = self.open_token(r.token_sealed.as_deref())?;
                Ok(Device {
                    id: r.id,
                    client_identifier: r.client_identifier,
                    info: r.info,
                    created_at: r.created_at,
                    last_seen_at: r.last_seen_at,
                    token,
                })
            })
            .collect()
    }

    /// Removes one of the account's devices; every token it held stops
    /// working at once.
    pub async fn revoke_device(
        &self,
        account: &Account,
        device: DeviceId,
    ) -> Result<(), CoreError> {
        if self.store.revoke_device(account.id, device).await? {
            tracing::info!(account = account.id.0, device = device.0, "device revoked");
            Ok(())
        } else {
            Err(CoreError::DeviceNotFound)
        }
    }

    // --------------------------------------------------------------- helpers

    async fn grant_token(
        &self,
        account: &Account,
        client_identifier: &ClientIdentifier,
        device: &DeviceInfo,
        now: UnixTime,
    ) -> Result<AuthToken, CoreError> {
        let token = AuthToken::generate();
        let grant = TokenGrant {
            account: account.id,
            client_identifier: client_identifier.clone(),
            device: device.clone(),
            token: self.new_token(&token),
            now,
        };
        self.store.grant_token(&grant).await?;
        Ok(token)
    }

    fn new_token(&self, token: &AuthToken) -> NewToken {
        NewToken {
            hash: self.secrets.lookup_hash(Purpose::Token, token.expose()),
            sealed: self.secrets.seal(Purpose::Token, token.expose()),
        }
    }

    async fn check_budget(
        &self,
        key: &str,
        policy: FailurePolicy,
        now: UnixTime,
        refuse: impl Fn(i64) -> CoreError,
    ) -> Result<(), CoreError> {
        let failures = self
            .store
            .count_failures(key, now.plus_secs(-policy.window_secs))
            .await?;
        if failures.count >= policy.max_failures {
            let retry_after = failures
                .oldest
                .map(|oldest| now.secs_until(oldest.plus_secs(policy.window_secs)))
                .unwrap_or(policy.window_secs)
                .max(1);
            return Err(refuse(retry_after));
        }
        Ok(())
    }

    /// Decrypts a stored token's sealed copy.
    fn open_token(&self, sealed: Option<&[u8]>) -> Result<Option<AuthToken>, CoreError> {
        sealed
            .map(|sealed| {
                Ok(AuthToken::from_presented(
                    self.secrets.open(Purpose::Token, sealed)?,
                ))
            })
            .transpose()
    }

    fn record_of(&self, pin: &Pin) -> PinRecord {
        PinRecord {
            id: pin.id,
            code_hash: self
                .secrets
                .lookup_hash(Purpose::PinCode, pin.code.as_str()),
            code_sealed: self.secrets.seal(Purpose::PinCode, pin.code.as_str()),
            strong: pin.code.is_strong(),
            client_identifier: pin.client_identifier.clone(),
            device: pin.device.clone(),
            requester_ip: pin.requester_ip.to_string(),
            created_at: pin.created_at,
            expires_at: pin.expires_at,
            token_sealed: pin
                .auth_token
                .as_ref()
                .map(|t| self.secrets.seal(Purpose::Token, t.expose())),
        }
    }

    fn pin_from_record(&self, record: PinRecord) -> Result<Pin, CoreError> {
        let code = PinCode::from_stored(self.secrets.open(Purpose::PinCode, &record.code_sealed)?)
            .ok_or_else(|| {
                CoreError::Internal(format!("pin {} has a malformed stored code", record.id))
            })?;
        let auth_token = self.open_token(record.token_sealed.as_deref())?;
        Ok(Pin {
            id: record.id,
            code,
            client_identifier: record.client_identifier,
            device: record.device,
            requester_ip: record.requester_ip.into(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            auth_token,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_hex(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}
