//! The storage port: everything pinlink keeps, behind one small trait.
//!
//! `pinlink-store` implements it for SQLite and PostgreSQL. The
//! records here are what is *stored*: secrets appear only as lookup hashes
//! and sealed bytes, never in plain text. Each method is one atomic step, so
//! no caller can leave half-written state behind.

use async_trait::async_trait;

use crate::clock::UnixTime;
pub use crate::error::{CapKind, StoreError};
use crate::limits::PinCaps;
pub use crate::limits::Spend;
use crate::model::{
    Account, AccountId, Application, ApplicationId, ClientIdentifier, DeviceGrant, DeviceId,
    DeviceInfo, PinId,
};
use crate::secrets::LookupHash;
use crate::security_log::{LoggedEvent, SecurityEvent};

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
    /// What the requester's live pins are counted under
    /// ([`crate::ClientAddress::network`]).
    pub requester_net: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// The token issued when the pin was linked, sealed.
    pub token_sealed: Option<Vec<u8>>,
    /// A JWT pin's device key.
    pub jwk: Option<crate::plex_jwt::Jwk>,
    /// An RFC 8628 device grant's state.
    pub grant: Option<DeviceGrant>,
}

/// A registered application as stored.
#[derive(Debug, Clone)]
pub struct ApplicationRecord {
    pub application: Application,
    /// A confidential application's secret, as a keyed hash.
    pub secret_hash: Option<LookupHash>,
}

/// How long past its expiry a device grant's pin is kept (see
/// [`Store::delete_expired_pins`]).
pub const GRANT_EXPIRY_MEMORY_SECS: i64 = 600;

/// Keys one device may hold (`POST /api/v2/auth/jwk`, JWT pins): a device
/// registering one more loses its oldest, and the Plex JWTs issued for it.
pub const MAX_KEYS_PER_DEVICE: usize = 4;

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
    /// The pin's client, remembered as one the account has used.
    pub known_client: LookupHash,
    /// A JWT pin's key, bound to the device in the same step (a `kid` that
    /// belongs to another device fails the link: [`StoreError::Conflict`]).
    pub device_key: Option<crate::plex_jwt::Jwk>,
    /// When the token stops working (a device grant's application's
    /// access-token lifetime); `None`: until revoked.
    pub token_expires_at: Option<UnixTime>,
    pub now: UnixTime,
    /// Budget spends given back in the same step when the link is made (a
    /// right code's reservation, as [`Store::refund`]); kept when it is not.
    pub refund: Vec<i64>,
    /// The account's security log entry, written in the same step when the
    /// link is made.
    pub logged: Option<SecurityEvent>,
}

/// Granting a token to a device directly (sign-in).
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub account: AccountId,
    pub client_identifier: ClientIdentifier,
    pub device: DeviceInfo,
    pub token: NewToken,
    /// The signing-in client, remembered as one the account has used.
    pub known_client: LookupHash,
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

/// An account as stored, with what guards it.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub account: Account,
    pub password_hash: String,
    /// Disabled by the operator: no sign-in, no token works.
    pub disabled: bool,
    /// Two-step verification's secret, sealed ([`crate::two_step`]), when
    /// it is on.
    pub totp_sealed: Option<Vec<u8>>,
    /// The last time step a code was accepted in (a code is good once).
    pub totp_last_step: i64,
    /// A secret being enrolled, sealed, until a code confirms it.
    pub totp_pending_sealed: Option<Vec<u8>>,
    /// The WebAuthn user handle its passkeys are registered under.
    pub passkey_handle: Option<String>,
}

impl AccountRecord {
    pub fn two_step(&self) -> bool {
        self.totp_sealed.is_some()
    }
}

/// An account as the operator's list shows it.
#[derive(Debug, Clone)]
pub struct AccountOverview {
    pub account: Account,
    pub disabled: bool,
    pub two_step: bool,
    pub passkeys: u32,
}

/// Who is signed out when an account changes ([`AccountChange`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOut {
    Nobody,
    /// Every device but this one (the browser that asked).
    AllBut(DeviceId),
    Everyone,
}

/// A change to what guards an account, made in one atomic step with its
/// security log entry ([`Store::change_account`]).
#[derive(Debug, Clone)]
pub enum AccountChange {
    /// A new password hash; the devices `sign_out` names lose their tokens.
    Password { hash: String, sign_out: SignOut },
    /// A new e-mail address ([`StoreError::Conflict`] if it is taken).
    Email(String),
    /// Disabled or enabled by the operator.
    Disabled(bool),
    /// The devices `sign_out` names lose their tokens.
    SignOut(SignOut),
    /// A two-step secret to enroll (sealed), not yet confirmed.
    EnrollTwoStep { pending_sealed: Vec<u8> },
    /// The enrolled secret confirmed by a code of `step`: two-step is on,
    /// with these recovery codes (keyed hashes).
    ConfirmTwoStep {
        secret_sealed: Vec<u8>,
        step: i64,
        recovery_codes: Vec<LookupHash>,
    },
    /// Two-step off: secret and recovery codes gone.
    StopTwoStep,
    /// New recovery codes in place of the old ones.
    RecoveryCodes(Vec<LookupHash>),
    /// The account's WebAuthn user handle, set once.
    PasskeyHandle(String),
}

/// A password reset link (`pinlink user reset`), as stored.
#[derive(Debug, Clone)]
pub struct PasswordReset {
    /// The keyed hash of the token in the link.
    pub hash: LookupHash,
    pub account: AccountId,
    /// Two-step verification goes too (a lost phone).
    pub drop_two_step: bool,
    pub expires_at: UnixTime,
}

/// A registered passkey, as stored.
#[derive(Debug, Clone)]
pub struct PasskeyRecord {
    pub id: i64,
    pub account: AccountId,
    pub credential_id: Vec<u8>,
    pub name: String,
    /// webauthn-rs's own record of it ([`crate::passkeys::StoredPasskey`]).
    pub passkey: String,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

/// A WebAuthn ceremony between its two requests, as stored (any instance
/// may finish what another started).
#[derive(Debug, Clone)]
pub struct CeremonyRecord {
    /// The keyed hash of the ceremony id the browser holds.
    pub hash: LookupHash,
    /// A registration's account; `None` for a sign-in.
    pub account: Option<AccountId>,
    pub state: String,
    pub expires_at: UnixTime,
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
    /// The connection URIs a server published.
    pub connections: Vec<String>,
}

/// What a token hash resolves to.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub account: Account,
    pub device: DeviceId,
    pub client_identifier: ClientIdentifier,
    pub last_seen_at: UnixTime,
    /// The application whose device grant linked the device, if one did
    /// (removing the application removes the device).
    pub application: Option<ApplicationId>,
    /// When this token was issued, and when it stops working (`None`:
    /// until revoked). An expired token is the caller's to refuse.
    pub token_issued_at: UnixTime,
    pub token_expires_at: Option<UnixTime>,
    /// A device grant's scope, and when the person approved it.
    pub scope: String,
    pub auth_time: Option<UnixTime>,
}

/// How long a used refresh token is remembered (to recognise it if it comes
/// back, and end its grant); after that it is unknown, and refused as such.
pub const USED_REFRESH_TOKEN_SECS: i64 = 30 * 24 * 3600;

/// Trading a refresh token for new tokens ([`Store::rotate_refresh_token`]).
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The refresh token presented (its keyed hash).
    pub presented: LookupHash,
    /// The application presenting it: another application's refresh token
    /// is unknown to it.
    pub application: ApplicationId,
    pub access: NewToken,
    pub access_expires_at: Option<UnixTime>,
    /// The next refresh token (its keyed hash); `None` when the
    /// application's tokens no longer expire (lifetime 0): the last one.
    pub refresh: Option<LookupHash>,
    pub now: UnixTime,
}

/// What trading a refresh token did.
#[derive(Debug, Clone)]
pub enum Rotated {
    /// New tokens for the grant, now in the store; the presented refresh
    /// token is used up.
    Rotated(SessionRecord),
    /// The refresh token was used before: it leaked. The whole grant (its
    /// device, access and refresh tokens) is gone.
    Reused,
    /// No such refresh token of this application.
    Unknown,
}

/// A device's registered public key, with the session it stands for.
#[derive(Debug, Clone)]
pub struct DeviceKeyRecord {
    pub session: SessionRecord,
    /// The Ed25519 public key, base64url.
    pub x: String,
}

/// What [`Store::reserve`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Every budget had room, and one spend was recorded in each: these
    /// ids give them back ([`Store::refund`]).
    Granted(Vec<i64>),
    /// The `index`-th budget is spent; nothing was recorded. Its oldest
    /// spend in the window leaves it in `retry_after_secs`.
    Refused { index: usize, retry_after_secs: i64 },
}

/// A change that matters to what an instance holds in memory, as a shared
/// store reports it (every instance hears every change, its own included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The pin was linked or deleted.
    Pin(PinId),
    /// The token (by its hash) was revoked or changed.
    Token(LookupHash),
    /// The account changed or was removed (with its tokens).
    Account(AccountId),
    /// Any token may have changed (the tokens or accounts were truncated).
    AllTokens,
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

    /// Whether the database answers (a trivial query), for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    // --- pins ---
    /// Inserts a new pin unless it would pass one of `caps` (then
    /// [`StoreError::CapReached`]; checked and inserted in one atomic step,
    /// also across instances). An expired pin holding the same code is
    /// removed first; a live one, or a taken id, is [`StoreError::Conflict`].
    async fn insert_pin(&self, pin: &PinRecord, caps: &PinCaps) -> Result<(), StoreError>;
    /// [`Store::reserve`] then [`Store::insert_pin`], as one atomic step:
    /// the pin is inserted with its spends, and a budget's refusal, a cap, a
    /// taken id or code leave neither behind (so nothing needs refunding).
    /// `Granted` means the pin was inserted. A backend with a single writer
    /// does it in one job instead of three (reserve, insert, refund).
    ///
    /// The default does the three steps one after the other: not atomic
    /// (a concurrent create can see a spend that is then refunded, and be
    /// refused for it; none is ever let through), which is enough for the
    /// in-memory test store.
    async fn insert_pin_spending(
        &self,
        pin: &PinRecord,
        caps: &PinCaps,
        spends: &[Spend],
        now: UnixTime,
    ) -> Result<Reservation, StoreError> {
        let ids = match self.reserve(spends, now).await? {
            Reservation::Granted(ids) => ids,
            refused => return Ok(refused),
        };
        match self.insert_pin(pin, caps).await {
            Ok(()) => Ok(Reservation::Granted(ids)),
            Err(e) => {
                let _ = self.refund(&ids).await;
                Err(e)
            }
        }
    }
    async fn pin_by_id(&self, id: PinId) -> Result<Option<PinRecord>, StoreError>;
    async fn pin_by_code(&self, code_hash: &LookupHash) -> Result<Option<PinRecord>, StoreError>;
    /// Links a live, unlinked pin. `None` when the pin is gone, expired or
    /// already linked; nothing is written then.
    async fn link_pin(&self, link: &PinLink) -> Result<Option<DeviceId>, StoreError>;
    async fn delete_pin(&self, id: PinId) -> Result<bool, StoreError>;
    /// Marks a live, unlinked device-grant pin denied; `false` when there
    /// is no such pin.
    async fn deny_pin(&self, id: PinId) -> Result<bool, StoreError>;
    /// Deletes a linked pin and returns it: a device grant's token is
    /// redeemed once, so of two redemptions at once only one gets it.
    async fn take_linked_pin(&self, id: PinId) -> Result<Option<PinRecord>, StoreError>;
    /// Deletes pins that expired before `now`; returns how many. A device
    /// grant's pin is kept [`GRANT_EXPIRY_MEMORY_SECS`] longer, so its
    /// device is told `expired_token` rather than `invalid_grant`.
    async fn delete_expired_pins(&self, now: UnixTime) -> Result<u64, StoreError>;
    /// How many pins are live at `now`.
    async fn count_live_pins(&self, now: UnixTime) -> Result<u64, StoreError>;

    // --- applications (RFC 8628 clients) ---
    /// Registers an application; its id is new ([`StoreError::Conflict`] otherwise).
    async fn insert_application(&self, application: &ApplicationRecord) -> Result<(), StoreError>;
    async fn application(
        &self,
        id: &ApplicationId,
    ) -> Result<Option<ApplicationRecord>, StoreError>;
    async fn list_applications(&self) -> Result<Vec<ApplicationRecord>, StoreError>;
    /// Changes an application's access-token lifetime and ID token
    /// algorithm; `false` when there is none.
    async fn set_application(&self, application: &Application) -> Result<bool, StoreError>;
    /// Removes an application with its pending grants and the devices
    /// (and their tokens) linked through it; `false` when there is none.
    async fn delete_application(&self, id: &ApplicationId) -> Result<bool, StoreError>;

    // --- accounts ---
    async fn insert_account(&self, account: &NewAccount) -> Result<Account, StoreError>;
    /// By username or e-mail, either without regard to case.
    async fn account_by_login(&self, login: &str) -> Result<Option<AccountRecord>, StoreError>;
    async fn account_by_id(&self, id: AccountId) -> Result<Option<AccountRecord>, StoreError>;
    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError>;
    /// Every account with whether it is disabled, has two-step and how
    /// many passkeys.
    async fn account_overview(&self) -> Result<Vec<AccountOverview>, StoreError>;
    /// Makes `change` and writes `event` (if any) in one step. `Ok(None)`
    /// when there is no such account; otherwise the devices signed out.
    async fn change_account(
        &self,
        account: AccountId,
        change: &AccountChange,
        event: Option<&SecurityEvent>,
    ) -> Result<Option<Vec<DeviceId>>, StoreError>;
    /// Accepts a two-step code of `step` unless one of this step or a
    /// later one was accepted before (a code is good once).
    async fn accept_totp_step(&self, account: AccountId, step: i64) -> Result<bool, StoreError>;
    /// Uses a recovery code up: `true` once.
    async fn use_recovery_code(
        &self,
        account: AccountId,
        hash: &LookupHash,
    ) -> Result<bool, StoreError>;
    /// How many recovery codes are left.
    async fn recovery_codes_left(&self, account: AccountId) -> Result<u32, StoreError>;
    /// Removes the account and everything of it: devices, tokens, keys,
    /// the pins it linked, passkeys, its log. The pins removed (for
    /// what instances hold in memory); `None` when there is no account.
    async fn delete_account(&self, account: AccountId) -> Result<Option<Vec<PinId>>, StoreError>;

    // --- the security log ---
    /// Writes an entry; an account keeps its newest
    /// [`crate::security_log::MAX_ENTRIES_PER_ACCOUNT`].
    async fn log_event(&self, event: &SecurityEvent) -> Result<(), StoreError>;
    /// The account's entries older than `before` (all when `None`), newest
    /// first, at most `limit`.
    async fn security_log(
        &self,
        account: AccountId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LoggedEvent>, StoreError>;

    // --- password resets ---
    async fn insert_password_reset(&self, reset: &PasswordReset) -> Result<(), StoreError>;
    /// The live reset with this hash, if any (it stays).
    async fn password_reset(
        &self,
        hash: &LookupHash,
        now: UnixTime,
    ) -> Result<Option<PasswordReset>, StoreError>;
    /// Uses a live reset up: sets the password, drops two-step if the
    /// reset says so, signs every device out and writes `event` (its
    /// account is filled in), in one step. `None` when it is not live.
    async fn complete_password_reset(
        &self,
        hash: &LookupHash,
        password_hash: &str,
        event: &SecurityEvent,
    ) -> Result<Option<(AccountId, Vec<DeviceId>)>, StoreError>;

    // --- passkeys ---
    /// [`StoreError::Conflict`] when the credential is registered already.
    async fn insert_passkey(&self, passkey: &PasskeyRecord) -> Result<i64, StoreError>;
    async fn passkeys(&self, account: AccountId) -> Result<Vec<PasskeyRecord>, StoreError>;
    /// The passkey with this credential id, of the account with this
    /// WebAuthn user handle.
    async fn passkey_for_sign_in(
        &self,
        handle: &str,
        credential_id: &[u8],
    ) -> Result<Option<(AccountRecord, PasskeyRecord)>, StoreError>;
    /// Records a passkey's use (its new counter, when).
    async fn passkey_used(&self, id: i64, passkey: &str, now: UnixTime) -> Result<(), StoreError>;
    /// Removes one of the account's passkeys; its name, or `None`.
    async fn delete_passkey(
        &self,
        account: AccountId,
        id: i64,
    ) -> Result<Option<String>, StoreError>;
    async fn insert_ceremony(&self, ceremony: &CeremonyRecord) -> Result<(), StoreError>;
    /// Takes a live ceremony out (once).
    async fn take_ceremony(
        &self,
        hash: &LookupHash,
        now: UnixTime,
    ) -> Result<Option<CeremonyRecord>, StoreError>;
    /// Deletes expired ceremonies, password resets and access tokens, used
    /// refresh tokens older than [`USED_REFRESH_TOKEN_SECS`], and log
    /// entries from before `log_before`.
    async fn delete_stale_account_data(
        &self,
        now: UnixTime,
        log_before: UnixTime,
    ) -> Result<(), StoreError>;

    /// A number that changes whenever another process (an operator's
    /// command) has changed accounts or tokens: what this process keeps of
    /// them in memory must then be read again. Only a store other processes
    /// write beside the server needs one (SQLite); a shared store's
    /// instances read the database for every token anyway.
    fn outside_changes(&self) -> u64 {
        0
    }
    /// Tells the processes using this store that accounts or tokens
    /// changed (an operator's command, after it committed).
    fn announce_outside_change(&self) {}

    // --- devices and tokens ---
    async fn grant_token(&self, grant: &TokenGrant) -> Result<DeviceId, StoreError>;
    async fn session_by_token(
        &self,
        hash: &LookupHash,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Keeps a refresh token (its keyed hash) for a device grant's device.
    async fn insert_refresh_token(
        &self,
        device: DeviceId,
        hash: &LookupHash,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Trades a refresh token for new ones, in one step: the presented one
    /// is used up (once: of two trades at once, the second finds it used),
    /// and a used one presented again ends its grant.
    async fn rotate_refresh_token(&self, rotation: &Rotation) -> Result<Rotated, StoreError>;
    /// Starts a redeemed grant token's lifetime: its expiry becomes `at`
    /// (tokens that never expire are left so).
    async fn set_token_expiry(&self, hash: &LookupHash, at: UnixTime) -> Result<(), StoreError>;
    /// Revokes a grant by its refresh token, if it is this application's:
    /// its device and every token of it go. Whether there was one.
    async fn revoke_refresh_token(
        &self,
        application: &ApplicationId,
        hash: &LookupHash,
    ) -> Result<bool, StoreError>;
    async fn touch_device(&self, device: DeviceId, now: UnixTime) -> Result<(), StoreError>;
    /// Revokes one token; a device left without tokens is removed.
    async fn revoke_token(&self, hash: &LookupHash) -> Result<bool, StoreError>;
    async fn list_devices(&self, account: AccountId) -> Result<Vec<DeviceRecord>, StoreError>;
    /// Removes one of the account's devices and every token it holds.
    async fn revoke_device(&self, account: AccountId, device: DeviceId)
        -> Result<bool, StoreError>;
    /// Replaces the connections of the account's device `device`; `false`
    /// when it has no such device.
    async fn set_device_connections(
        &self,
        account: AccountId,
        device: DeviceId,
        connections: &[String],
    ) -> Result<bool, StoreError>;
    /// Binds a device's public key (`kid`, `x`) to it, as its newest; a
    /// device keeps at most [`MAX_KEYS_PER_DEVICE`], so its oldest goes.
    /// `false` when the `kid` already belongs to another device (nothing is
    /// written then).
    async fn register_device_key(
        &self,
        device: DeviceId,
        kid: &str,
        x: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// The key with this `kid` and the device (and account) holding it.
    async fn device_key(&self, kid: &str) -> Result<Option<DeviceKeyRecord>, StoreError>;
    /// The signing key generations added after the first, oldest first,
    /// with when each was added.
    async fn signing_key_generations(&self) -> Result<Vec<(u32, UnixTime)>, StoreError>;
    /// Adds the next signing key generation; returns its number.
    async fn add_signing_key_generation(&self, now: UnixTime) -> Result<u32, StoreError>;
    /// Deletes nonces that expired by `now`; returns how many.
    async fn delete_expired_nonces(&self, now: UnixTime) -> Result<u64, StoreError>;
    /// Whether a nonce was given to this client and has not expired (used
    /// or not: a JWT pin's polls carry the same nonce again and again).
    async fn nonce_is_live(
        &self,
        nonce: &str,
        client: &LookupHash,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Keeps a nonce given to a client (by the keyed hash of its identifier).
    async fn insert_nonce(
        &self,
        nonce: &str,
        client: &LookupHash,
        expires_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// Uses a nonce up: `true` only once, and only for the client it was
    /// given to, before it expires.
    async fn use_nonce(
        &self,
        nonce: &str,
        client: &LookupHash,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Whether the account signed in or linked from this client before
    /// (`client` is the keyed hash of its identifier).
    async fn is_known_client(
        &self,
        account: AccountId,
        client: &LookupHash,
    ) -> Result<bool, StoreError>;

    // --- budgets ---
    /// Spends one from each budget, if every one has room at `now` under
    /// all its limits, as one atomic step: concurrent reservations (on any
    /// instance) never see the same room twice. Spends with no limits are
    /// skipped.
    async fn reserve(&self, spends: &[Spend], now: UnixTime) -> Result<Reservation, StoreError>;
    /// Gives reserved spends back (the work they guarded did not count).
    async fn refund(&self, spends: &[i64]) -> Result<(), StoreError>;
    /// Forgets every spend under `key`.
    async fn forgive(&self, key: &LookupHash) -> Result<(), StoreError>;
    /// Deletes spends at or before `before`, and clients not seen since
    /// `forget_clients_before`.
    async fn delete_spends_before(
        &self,
        before: UnixTime,
        forget_clients_before: UnixTime,
    ) -> Result<u64, StoreError>;

    /// Waits for pending work and closes connections (at shutdown).
    async fn close(&self) {}
}
