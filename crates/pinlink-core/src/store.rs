//! The storage port: everything pinlink keeps, behind one small trait.
//!
//! `pinlink-store` implements it for SQLite and PostgreSQL. The
//! records here are what is *stored*: secrets appear only as lookup hashes
//! and sealed bytes, never in plain text. Each method is one atomic step, so
//! no caller can leave half-written state behind.

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::model::{Account, AccountId, ClientIdentifier, DeviceId, DeviceInfo, PinId};
use crate::secrets::LookupHash;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key is taken (pin id, live pin code, username, e-mail).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// The database cannot be reached; the operation did not happen.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug, corrupt data, a failed migration.
    #[error("database error: {0}")]
    Other(String),
}

/// A pin as stored.
#[derive(Debug, Clone)]
pub struct PinRecord {
    pub id: PinId,
    pub code_hash: LookupHash,
    pub code_sealed: Vec<u8>,
    pub strong: bool,
    pub client_identifier: ClientIdentifier,
    pub device: DeviceInfo,
    pub requester_ip: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// The token issued when the pin was linked, sealed.
    pub token_sealed: Option<Vec<u8>>,
}

/// A new token, as stored: found by its hash, listed from its sealed copy.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub hash: LookupHash,
    pub sealed: Vec<u8>,
}

/// Linking a pin: in one transaction, mark the pin linked, register (or
/// refresh) the pin's device under the account and give it the token.
#[derive(Debug, Clone)]
pub struct PinLink {
    pub pin: PinId,
    pub account: AccountId,
    pub token: NewToken,
    pub now: UnixTime,
}

/// Granting a token to a device directly (sign-in).
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub account: AccountId,
    pub client_identifier: ClientIdentifier,
    pub device: DeviceInfo,
    pub token: NewToken,
    pub now: UnixTime,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub uuid: String,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: UnixTime,
}

#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub account: Account,
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct DeviceRecord {
    pub id: DeviceId,
    pub client_identifier: ClientIdentifier,
    pub info: DeviceInfo,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    /// The newest token's sealed copy.
    pub token_sealed: Option<Vec<u8>>,
}

/// What a token hash resolves to.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub account: Account,
    pub device: DeviceId,
    pub last_seen_at: UnixTime,
}

/// How many failures a key has in a window, and when the oldest of them
/// falls out of it.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailureCount {
    pub count: u32,
    pub oldest: Option<UnixTime>,
}

/// A change that matters to what an instance holds in memory, as a shared
/// store reports it (every instance hears every change, its own included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The pin was linked or deleted.
    Pin(PinId),
    /// Changes may have been missed (the listening connection broke).
    Missed,
    /// Changes are heard from now on.
    Listening,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether other processes may write the same data (PostgreSQL with
    /// several instances). A shared store reports changes through
    /// [`Store::next_change`].
    fn is_shared(&self) -> bool {
        false
    }
    /// Waits for the next [`Change`]. A store no one else writes to never
    /// reports one.
    async fn next_change(&self) -> Change {
        std::future::pending().await
    }

    // --- pins ---
    /// Inserts a new pin. An expired pin holding the same code is removed
    /// first; a live one, or a taken id, is [`StoreError::Conflict`].
    async fn insert_pin(&self, pin: &PinRecord) -> Result<(), StoreError>;
    async fn pin_by_id(&self, id: PinId) -> Result<Option<PinRecord>, StoreError>;
    async fn pin_by_code(&self, code_hash: &LookupHash) -> Result<Option<PinRecord>, StoreError>;
    /// Links a live, unlinked pin. `None` when the pin is gone, expired or
    /// already linked; nothing is written then.
    async fn link_pin(&self, link: &PinLink) -> Result<Option<DeviceId>, StoreError>;
    async fn delete_pin(&self, id: PinId) -> Result<bool, StoreError>;
    /// Deletes pins that expired before `now`; returns how many.
    async fn delete_expired_pins(&self, now: UnixTime) -> Result<u64, StoreError>;

    // --- accounts ---
    async fn insert_account(&self, account: &NewAccount) -> Result<Account, StoreError>;
    /// By username or e-mail, either without regard to case.
    async fn account_by_login(&self, login: &str) -> Result<Option<AccountRecord>, StoreError>;
    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError>;

    // --- devices and tokens ---
    async fn grant_token(&self, grant: &TokenGrant) -> Result<DeviceId, StoreError>;
    async fn session_by_token(
        &self,
        hash: &LookupHash,
    ) -> Result<Option<SessionRecord>, StoreError>;
    async fn touch_device(&self, device: DeviceId, now: UnixTime) -> Result<(), StoreError>;
    /// Revokes one token; a device left without tokens is removed.
    async fn revoke_token(&self, hash: &LookupHash) -> Result<bool, StoreError>;
    async fn list_devices(&self, account: AccountId) -> Result<Vec<DeviceRecord>, StoreError>;
    /// Removes one of the account's devices and every token it holds.
    async fn revoke_device(&self, account: AccountId, device: DeviceId)
        -> Result<bool, StoreError>;

    // --- failure budgets ---
    async fn record_failure(&self, key: &str, at: UnixTime) -> Result<(), StoreError>;
    async fn count_failures(&self, key: &str, since: UnixTime) -> Result<FailureCount, StoreError>;
    async fn clear_failures(&self, key: &str) -> Result<(), StoreError>;
    async fn delete_failures_before(&self, before: UnixTime) -> Result<u64, StoreError>;

    /// Waits for pending work and closes connections (at shutdown).
    async fn close(&self) {}
}
