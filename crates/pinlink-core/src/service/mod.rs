//! [`Pinlink`]: the one facade the adapters (API routes, web pages, CLI)
//! call. Each public method is one domain operation; they are grouped by
//! concern, one file each:
//!
//! - `pins`: create and poll pins, approve or deny a code;
//! - `accounts`: accounts and the first start;
//! - `sessions`: sign in, authenticate a token, sign out;
//! - `devices`: the account's devices.
//!
//! This file holds what they share: the settings, budgets and the gate in
//! front of password hashing, and the background chores (sweeping, hearing
//! other instances' changes).

mod accounts;
mod auto_approve;
mod backend_tokens;
mod credentials;
mod device_grant;
mod devices;
mod jwt;
mod passkeys;
mod pins;
mod resources;
mod security_log;
mod sessions;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, UnixTime};
use crate::error::CoreError;
use crate::hashing::HashingThreads;
use crate::limits::{BudgetKeys, Budgets, PinCaps};
use crate::live_pins::LivePins;
use crate::live_sessions::LiveSessions;
use crate::secrets::{Secrets, ServerKey};
use crate::store::{Change, Reservation, Spend, Store};

pub use crate::error::TwoStepTicket;
pub use auto_approve::AutoApprove;
pub use backend_tokens::{
    check_lifetime, ApplicationSettings, Introspection, IssuedToken, UserInfo,
    DEFAULT_ACCESS_TOKEN_SECS, MAX_ACCESS_TOKEN_SECS,
};
pub use credentials::{AccountSecurity, TwoStepEnrollment, RESET_LINK_HOURS};
pub use device_grant::{NewDeviceGrant, StartedGrant};
pub use passkeys::PasskeyCeremony;
pub use pins::{Expect, NewPin, Polled};
pub use security_log::{describe, Origin, LOG_PAGE};
pub use sessions::SignIn;

/// Tunable rules. The defaults are plex.tv's lifetimes (protocol reference
/// §2.1), the budgets of [`Budgets::default`] and the caps of
/// [`PinCaps::default`].
#[derive(Debug, Clone)]
pub struct PinlinkSettings {
    pub link_pin_lifetime_secs: i64,
    pub strong_pin_lifetime_secs: i64,
    /// How long an RFC 8628 device grant's codes live.
    pub grant_lifetime_secs: i64,
    /// RFC 8628's `interval`: how many seconds a device waits between
    /// token requests (5 unless it was told `slow_down`).
    pub grant_interval_secs: i64,
    pub budgets: Budgets,
    pub caps: PinCaps,
    /// A device's `lastSeenAt` is refreshed at most this often, so that an
    /// authenticated request does not cost a database write every time.
    pub last_seen_resolution_secs: i64,
    /// Password hashes computed at once. Each takes about 19 MiB and a core
    /// for tens of milliseconds, so more than the cores only costs memory.
    pub password_checks_at_once: usize,
    /// How long a sign-in waits for a free slot before it is told to come
    /// back ([`CoreError::Busy`]).
    pub password_wait: Duration,
    /// Clients an account has not used for this long are unfamiliar again.
    pub known_client_days: i64,
    /// Long polls held at once (`wait=N`), in all and per address.
    pub long_polls: crate::waiters::WaitCaps,
    /// With a shared store: keep resolved tokens in memory too (as always
    /// with a store of its own). Another instance's revocation then reaches
    /// this one with the database's change notification, within
    /// milliseconds rather than at once; the instance that revoked refuses
    /// at once. Off by default.
    pub cache_tokens_on_shared_store: bool,
    /// This process is an operator's command (`pinlink user disable`, …)
    /// beside running servers: it tells them of every change to accounts
    /// and tokens ([`crate::store::Store::announce_outside_change`]).
    pub operator: bool,
    /// The server's public URL: passkeys' relying party.
    pub public_url: Option<String>,
}

impl Default for PinlinkSettings {
    fn default() -> Self {
        PinlinkSettings {
            link_pin_lifetime_secs: 900,
            strong_pin_lifetime_secs: 1800,
            grant_lifetime_secs: 900,
            grant_interval_secs: 5,
            budgets: Budgets::default(),
            caps: PinCaps::default(),
            last_seen_resolution_secs: 60,
            password_checks_at_once: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            password_wait: Duration::from_secs(3),
            known_client_days: 180,
            long_polls: crate::waiters::WaitCaps::default(),
            cache_tokens_on_shared_store: false,
            operator: false,
            public_url: None,
        }
    }
}

pub struct Pinlink {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    secrets: Secrets,
    live: LivePins,
    /// Requests held until their pin changes (long polls).
    waiters: crate::waiters::PinWaiters,
    /// RFC 8628 `slow_down`, per device code.
    pacing: crate::grant_pacing::GrantPacing,
    /// Applications as last read, for token requests (`device_grant.rs`).
    applications: device_grant::RecentApplications,
    /// Resolved tokens ([`crate::live_sessions`]); kept only with a store
    /// of our own.
    sessions: LiveSessions,
    /// The keys Plex JWTs are signed with (derived from the server key; the
    /// generations come from the store: [`Pinlink::load_signing_keys`]).
    jwt_signing: parking_lot::RwLock<Arc<crate::plex_jwt::SigningKeys>>,
    server_key: ServerKey,
    /// When a JWT with an unknown key id last made us read the key
    /// generations ([`Pinlink::load_signing_keys`]).
    keys_reloaded_at: AtomicI64,
    /// Test mode's automatic approval, if on.
    auto_approve: parking_lot::RwLock<Option<AutoApprove>>,
    /// The server as a WebAuthn relying party (its public URL).
    passkeys: crate::passkeys::Passkeys,
    /// OpenID Connect's signing keys, every live generation
    /// ([`Pinlink::load_signing_keys`]).
    oidc: parking_lot::RwLock<Arc<crate::oidc::OidcKeys>>,
    settings: PinlinkSettings,
    setup_token: parking_lot::Mutex<Option<Box<str>>>,
    /// Bounds the password hashes in flight ([`PinlinkSettings::password_checks_at_once`]).
    password_gate: Arc<tokio::sync::Semaphore>,
    /// The threads they run on.
    hashing: HashingThreads,
    /// Live pins on the whole server as last counted by a sweep, plus the
    /// pins this instance created since ([`PinCaps::total`]).
    live_estimate: AtomicU64,
    /// Held (shared) by every pin being created, and (alone) by the sweep
    /// while it recounts: a recount never misses a pin in the making, so
    /// one instance never passes [`PinCaps::total`].
    pins_counting: tokio::sync::RwLock<()>,
}

/// How long a superseded generation's OpenID Connect keys stay published:
/// the time it keeps signing after the next one is added (that one is
/// published first), an ID token's lifetime, and ten minutes for instances
/// that read the generations a minute later and verifiers' caches.
const OIDC_KEEP_SECS: i64 =
    crate::oidc::PUBLISH_BEFORE_SIGNING_SECS + crate::oidc::ID_TOKEN_SECS + 600;

/// Spends reserved before a piece of work; given back with
/// [`Pinlink::refund`] when the work turns out not to count.
#[must_use]
pub(crate) struct Ticket(Vec<i64>);

/// A budget that had no room: which one, and when it will.
pub(crate) struct Refused {
    pub index: usize,
    pub retry_after_secs: i64,
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
            waiters: crate::waiters::PinWaiters::new(settings.long_polls),
            pacing: crate::grant_pacing::GrantPacing::default(),
            applications: device_grant::RecentApplications::default(),
            sessions: LiveSessions::new(!shared),
            jwt_signing: parking_lot::RwLock::new(Arc::new(crate::plex_jwt::SigningKeys::derive(
                key,
                &[],
            ))),
            oidc: parking_lot::RwLock::new(Arc::new(
                crate::oidc::OidcKeys::derive(key, &[], OIDC_KEEP_SECS)
                    .expect("deriving Ed25519 keys from 32 bytes cannot fail"),
            )),
            server_key: key.clone(),
            keys_reloaded_at: AtomicI64::new(i64::MIN / 2),
            auto_approve: parking_lot::RwLock::new(None),
            passkeys: settings.public_url.as_deref().map_or_else(
                crate::passkeys::Passkeys::none,
                crate::passkeys::Passkeys::for_public_url,
            ),
            password_gate: Arc::new(tokio::sync::Semaphore::new(
                settings.password_checks_at_once.max(1),
            )),
            hashing: HashingThreads::start(settings.password_checks_at_once),
            settings,
            setup_token: parking_lot::Mutex::new(None),
            live_estimate: AtomicU64::new(0),
            pins_counting: tokio::sync::RwLock::new(()),
        }
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    pub fn settings(&self) -> &PinlinkSettings {
        &self.settings
    }

    fn budget_keys(&self) -> BudgetKeys<'_> {
        BudgetKeys {
            secrets: &self.secrets,
            budgets: &self.settings.budgets,
        }
    }

    /// Spends from every budget in `spends` at once, or from none.
    async fn spend(
        &self,
        spends: &[Spend],
        now: UnixTime,
    ) -> Result<Result<Ticket, Refused>, CoreError> {
        if spends.iter().all(|spend| spend.limits.is_empty()) {
            // Every budget is off: nothing to count, no write.
            return Ok(Ok(Ticket(Vec::new())));
        }
        Ok(match self.store.reserve(spends, now).await? {
            Reservation::Granted(ids) => Ok(Ticket(ids)),
            Reservation::Refused {
                index,
                retry_after_secs,
            } => Err(Refused {
                index,
                retry_after_secs: retry_after_secs.max(1),
            }),
        })
    }

    /// Gives a ticket's spends back. A failure only leaves the budget a
    /// little fuller than it should be, so it is logged, not reported.
    async fn refund(&self, ticket: Ticket) {
        if ticket.0.is_empty() {
            return;
        }
        if let Err(e) = self.store.refund(&ticket.0).await {
            tracing::warn!(error = %e, "could not refund a budget reservation");
        }
    }

    /// Runs `work` (a password hash or check) on a hashing thread once one
    /// of the few slots is free; waits at most
    /// [`PinlinkSettings::password_wait`] for one.
    async fn hash_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let permit = tokio::time::timeout(
            self.settings.password_wait,
            self.password_gate.clone().acquire_owned(),
        )
        .await
        .map_err(|_| CoreError::Busy {
            retry_after_secs: 2,
        })?
        .map_err(|_| CoreError::Internal("the password gate is closed".into()))?;
        // The slot goes with the job, not with the request: a client that
        // hangs up does not free it while its hash still runs.
        let job = move || {
            let result = work();
            drop(permit);
            result
        };
        self.hashing
            .run(job)
            .await
            .ok_or_else(|| CoreError::Internal("a password hashing thread failed".into()))
    }

    /// Deletes expired pins and spent budgets that no longer count, and
    /// counts the live pins again.
    pub async fn sweep(&self) -> Result<u64, CoreError> {
        let now = self.now();
        let removed = self.store.delete_expired_pins(now).await?;
        crate::events::pins_expired(removed);
        self.live.evict_expired(now);
        self.waiters.prune();
        let forgotten_ms = self.clock.now_millis()
            - (self.settings.grant_lifetime_secs + crate::store::GRANT_EXPIRY_MEMORY_SECS) * 1000;
        self.pacing.prune(forgotten_ms);
        let longest = self.settings.budgets.longest_window_secs();
        let forget_clients = now.plus_secs(-self.settings.known_client_days * 24 * 3600);
        self.store
            .delete_spends_before(now.plus_secs(-longest), forget_clients)
            .await?;
        self.store.delete_expired_nonces(now).await?;
        self.store
            .delete_stale_account_data(
                now,
                now.plus_secs(-crate::security_log::KEPT_DAYS * 24 * 3600),
            )
            .await?;
        let live = {
            let _counting = self.pins_counting.write().await;
            let live = self.store.count_live_pins(now).await?;
            self.live_estimate.store(live, Ordering::Release);
            live
        };
        crate::events::live_pins(live);
        // A key another instance (or `pinlink keys rotate`) added signs here
        // from now on.
        self.load_signing_keys().await?;
        Ok(removed)
    }

    /// What an operator's command (another process) changed is read again:
    /// the resolved tokens and the linked pins held in memory go. A look at
    /// the store's [`Store::outside_changes`] (one `pread` on SQLite).
    pub(crate) fn notice_outside_changes(&self) {
        if self.sessions.sync_outside(self.store.outside_changes()) {
            self.live.forget_linked();
            self.applications.forget();
            tracing::info!(
                "accounts or tokens were changed by another process: reading them again"
            );
        }
    }

    /// Accounts or tokens changed: an operator's command tells the running
    /// servers (this process keeps nothing to forget).
    pub(crate) fn announce_change(&self) {
        if self.settings.operator {
            self.store.announce_outside_change();
        }
    }

    /// Applies a change another instance made (reported by a shared store),
    /// so that nothing stale is answered from memory.
    pub fn apply_change(&self, change: Change) {
        match change {
            Change::Pin(id) => {
                self.live.forget(id);
                self.waiters.wake(id);
            }
            Change::Token(hash) => self.sessions.forget_token(&hash),
            Change::Account(account) => self.sessions.forget_account(account),
            Change::AllTokens => self.sessions.forget_all(),
            Change::Missed => {
                tracing::warn!("lost the database's change notifications; polls read the database until they are back");
                self.live.pause();
                self.sessions.pause();
                // Held requests look again: their pin may have changed unheard.
                self.waiters.wake_all();
            }
            Change::Listening => {
                tracing::info!("listening for changes made by other instances");
                self.live.resume();
                if self.settings.cache_tokens_on_shared_store {
                    self.sessions.resume();
                }
            }
        }
    }

    /// The server is stopping: requests held by long polls are answered
    /// now (as pending), and no new one is held.
    pub fn stop_waiting(&self) {
        self.waiters.close();
    }

    /// Whether this instance can serve: the database answers and, with a
    /// shared store, the other instances' changes are heard. The reason
    /// when not.
    pub async fn readiness(&self) -> Result<(), &'static str> {
        if self.store.ping().await.is_err() {
            return Err("the database does not answer");
        }
        if self.store.is_shared() && !self.live.is_trusted() {
            return Err("changes made by other instances are not heard yet");
        }
        Ok(())
    }

    /// Whether polls are answered from memory now: always with a store of
    /// its own; with a shared store only while other instances' changes are
    /// heard.
    pub fn caches_pins(&self) -> bool {
        self.live.is_trusted()
    }

    /// Whether resolved tokens are kept in memory now: always with a store
    /// of its own; with a shared store when the operator asked for it and
    /// while other instances' changes are heard.
    pub fn caches_tokens(&self) -> bool {
        self.sessions.is_enabled()
    }

    /// How many resolved tokens are held in memory (for tests and logs).
    pub fn sessions_cached(&self) -> usize {
        self.sessions.len()
    }

    /// How many pins are held in memory (for logs and benchmarks).
    pub fn live_pins_cached(&self) -> usize {
        self.live.len()
    }
}

fn random_hex(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

#[cfg(test)]
pub(crate) mod testing;
