//! PostgreSQL, for several pinlink instances behind a load balancer.
//!
//! Every instance is stateless but for its cache of live pins; what must be
//! shared (pins, accounts, devices, tokens, budgets) is here. Writes are
//! transactions, acknowledged after COMMIT. Changes to pins are announced
//! with `NOTIFY pinlink_pins` in the same transaction, so every instance
//! forgets its cached copy when (and only when) the change is committed.
//! What must not interleave across instances — a budget's check and spend,
//! a cap's count and insert — runs under transaction-scoped advisory locks.
//!
//! What each operation does is in [`crate::queries`], shared with SQLite;
//! this file only decides where it runs.

use std::time::Duration;

use async_trait::async_trait;
use pinlink_core::security_log::{LoggedEvent, SecurityEvent};
use pinlink_core::store::{
    AccountChange, AccountOverview, AccountRecord, ApplicationRecord, CeremonyRecord, Change,
    DeviceKeyRecord, DeviceRecord, NewAccount, PasskeyRecord, PasswordReset, PinLink, PinRecord,
    Reservation, Rotated, Rotation, SessionRecord, Spend, TokenGrant,
};
use pinlink_core::{
    Account, AccountId, Application, ApplicationId, DeviceId, LookupHash, PinCaps, PinId, Store,
    StoreError, UnixTime,
};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use tokio::sync::Mutex;

use crate::queries;
use crate::{map_err, map_refusal, sql, StoreOptions};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The channel pin changes are announced on; the payload is the pin id.
const PIN_CHANNEL: &str = "pinlink_pins";
/// Where token and account changes are announced (by triggers, migration
/// 0009), for instances that keep resolved tokens in memory.
const SESSION_CHANNEL: &str = "pinlink_sessions";
/// Advisory lock keys (any 64-bit numbers no one else uses).
const SWEEP_LOCK: i64 = 0x7069_6e6c_696e_6b01;

pub struct PostgresStore {
    pool: PgPool,
    /// The connection that hears other instances' changes; `None` while
    /// (re)connecting.
    listener: Mutex<Option<PgListener>>,
    /// Whether this process announces [`HEARTBEAT`]s (a server, once it
    /// listens; commands never do).
    beating: std::sync::atomic::AtomicBool,
}

/// Every listening instance announces a heartbeat this often, so a
/// listening connection that hears nothing for [`SILENCE_LIMIT`] has died
/// without saying so (a NAT or a partition drops it silently) and is
/// replaced, with [`Change::Missed`]: what was kept from memory is dropped.
const HEARTBEAT: Duration = Duration::from_secs(2);
const SILENCE_LIMIT: Duration = Duration::from_secs(7);

impl PostgresStore {
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<PostgresStore, StoreError> {
        let pool = pool(url, options)?;
        migrate(&pool).await?;
        Ok(PostgresStore {
            pool,
            listener: Mutex::new(None),
            beating: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

fn pool(url: &str, options: &StoreOptions) -> Result<PgPool, StoreError> {
    let connect: PgConnectOptions = url
        .parse()
        .map_err(|e| StoreError::Other(format!("bad PostgreSQL URL: {e}")))?;
    let timeout_ms = options.statement_timeout.as_millis().to_string();
    let connect = connect
        .application_name("pinlink")
        .options([("statement_timeout", timeout_ms.as_str())]);
    // Lazy: an instance starts (and answers 503) while the database is down,
    // and connects once it is back.
    Ok(PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout)
        .test_before_acquire(true)
        .connect_lazy_with(connect))
}

/// Applies the migrations this binary carries. sqlx holds a PostgreSQL
/// advisory lock while it migrates, so instances starting together take
/// turns and each migration runs once.
async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    // Connect once first: a pool only says "timed out", a connection says why.
    if let Err(e) = PgConnection::connect_with(&pool.connect_options()).await {
        return Err(match map_err(e) {
            StoreError::Unavailable(cause) => {
                StoreError::Unavailable(format!("cannot connect: {cause}"))
            }
            other => other,
        });
    }
    let recorded: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
            .fetch_one(pool)
            .await
            .map_err(map_err)?;
    if recorded.is_some() {
        let newest: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(pool)
                .await
                .map_err(map_err)?;
        crate::refuse_newer(newest, newest_known())?;
    }
    MIGRATOR.run(pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(e) => match map_err(e) {
            StoreError::Unavailable(cause) => StoreError::Unavailable(cause),
            other => {
                StoreError::Other(format!("migrating the PostgreSQL database failed: {other}"))
            }
        },
        other => StoreError::Other(format!("migrating the PostgreSQL database failed: {other}")),
    })
}

/// The newest schema version this pinlink carries.
pub(crate) fn newest_known() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Runs the migrations alone (`pinlink migrate`); returns the versions
/// applied now.
pub async fn migrate_only(url: &str, options: &StoreOptions) -> Result<Vec<i64>, StoreError> {
    let pool = pool(url, options)?;
    let before: Vec<i64> = applied_versions(&pool).await.unwrap_or_default();
    migrate(&pool).await?;
    let after = applied_versions(&pool).await.map_err(map_err)?;
    pool.close().await;
    Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
}

async fn applied_versions(pool: &PgPool) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(pool)
        .await
}

async fn announce_pin(conn: &mut PgConnection, pin: PinId) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(PIN_CHANNEL)
        .bind(pin.0.to_string())
        .execute(conn)
        .await
        .map(|_| ())
}

/// Kinds of advisory lock (the first of `pg_advisory_xact_lock`'s two keys),
/// taken inside a transaction and held until it ends.
mod lock {
    /// A budget's key: reservations of one key take turns.
    pub const BUDGET: i32 = 1;
    /// A requesting network: its live pins are counted and added in turn.
    pub const NETWORK: i32 = 2;
    /// The server's live 4-character codes.
    pub const LINK_CODES: i32 = 3;
}

/// The counts after an advisory lock must see what the lock's previous
/// holder committed: each statement its own snapshot (READ COMMITTED), even
/// if the database's default isolation is stricter.
async fn read_committed(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        .execute(conn)
        .await
        .map(drop)
}

/// Takes the advisory locks that make a budget reservation atomic across
/// instances: one per key, in a fixed order so that two reservations never
/// wait for each other in a circle.
async fn lock_budgets(conn: &mut PgConnection, spends: &[Spend]) -> Result<(), sqlx::Error> {
    let mut keys: Vec<i32> = spends
        .iter()
        .filter(|s| !s.limits.is_empty())
        .map(|s| {
            let b = s.key.as_bytes();
            i32::from_be_bytes([b[0], b[1], b[2], b[3]])
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(lock::BUDGET)
            .bind(key)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Takes the advisory locks that make a capped pin insert atomic across
/// instances: the requester's network, then (for a short code) the link
/// codes, always in that order.
async fn lock_caps(conn: &mut PgConnection, pin: &PinRecord) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(lock::NETWORK)
        .bind(&pin.requester_net)
        .execute(&mut *conn)
        .await?;
    if !pin.strong {
        sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
            .bind(lock::LINK_CODES)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Runs a read (or a single-statement write) from [`crate::queries`] on a
/// pooled connection.
macro_rules! on_pool {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let mut pooled = $store.pool.acquire().await.map_err(map_err)?;
        let $conn: &mut PgConnection = &mut pooled;
        $body.await.map_err(map_err)
    }};
}

/// Runs statements from [`crate::queries`] in one transaction, committed
/// when the body succeeds.
macro_rules! in_transaction {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let mut tx = $store.pool.begin().await.map_err(map_err)?;
        let result = {
            let $conn: &mut PgConnection = &mut tx;
            $body
        };
        if result.is_ok() {
            tx.commit().await.map_err(map_err)?;
        }
        result
    }};
}

#[async_trait]
impl Store for PostgresStore {
    fn is_shared(&self) -> bool {
        true
    }

    async fn next_change(&self) -> Change {
        let mut slot = self.listener.lock().await;
        loop {
            let Some(listener) = slot.as_mut() else {
                match listen(&self.pool).await {
                    Ok(listener) => {
                        *slot = Some(listener);
                        self.start_heartbeat();
                        return Change::Listening;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot listen for changes yet; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            };
            // Heartbeats come every HEARTBEAT: silence this long means the
            // connection is gone. (The wait is given up with the listener
            // itself, so nothing half-read is ever read on.)
            let Ok(heard) = tokio::time::timeout(SILENCE_LIMIT, listener.try_recv()).await else {
                tracing::warn!("heard nothing from the database, not even heartbeats, for {SILENCE_LIMIT:?}: listening again");
                *slot = None;
                return Change::Missed;
            };
            match heard {
                Ok(Some(notification)) => {
                    let payload = notification.payload();
                    let change = match notification.channel() {
                        PIN_CHANNEL => payload.parse::<u32>().ok().map(|id| Change::Pin(PinId(id))),
                        _ => session_change(payload),
                    };
                    match change {
                        Some(change) => return change,
                        None => continue,
                    }
                }
                // The connection broke: whatever was announced meanwhile is lost.
                Ok(None) | Err(_) => {
                    *slot = None;
                    return Change::Missed;
                }
            }
        }
    }

    async fn insert_pin(&self, pin: &PinRecord, caps: &PinCaps) -> Result<(), StoreError> {
        in_transaction!(self, |conn| {
            read_committed(conn).await.map_err(map_err)?;
            lock_caps(conn, pin).await.map_err(map_err)?;
            queries::insert_pin(conn, pin, caps)
                .await
                .map_err(map_refusal)
        })
    }

    async fn insert_pin_spending(
        &self,
        pin: &PinRecord,
        caps: &PinCaps,
        spends: &[Spend],
        now: UnixTime,
    ) -> Result<Reservation, StoreError> {
        // Budgets, then caps: every transaction that takes both takes them
        // in this order (and the others take one kind only). A create the
        // budgets refuse never waits for the caps' locks (one of them is
        // server-wide for short codes).
        in_transaction!(self, |conn| {
            read_committed(conn).await.map_err(map_err)?;
            lock_budgets(conn, spends).await.map_err(map_err)?;
            let reservation = queries::reserve(conn, spends, now).await.map_err(map_err)?;
            if let Reservation::Granted(_) = reservation {
                lock_caps(conn, pin).await.map_err(map_err)?;
                queries::insert_pin(conn, pin, caps)
                    .await
                    .map_err(map_refusal)?;
            }
            Ok(reservation)
        })
    }

    async fn pin_by_id(&self, id: PinId) -> Result<Option<PinRecord>, StoreError> {
        on_pool!(self, |conn| queries::pin_by_id(conn, id))
    }

    async fn pin_by_code(&self, code_hash: &LookupHash) -> Result<Option<PinRecord>, StoreError> {
        on_pool!(self, |conn| queries::pin_by_code(conn, code_hash))
    }

    async fn link_pin(&self, link: &PinLink) -> Result<Option<DeviceId>, StoreError> {
        in_transaction!(self, |conn| {
            let device = queries::link_pin(conn, link).await.map_err(map_err)?;
            if device.is_some() {
                announce_pin(conn, link.pin).await.map_err(map_err)?;
            }
            Ok(device)
        })
    }

    async fn delete_pin(&self, id: PinId) -> Result<bool, StoreError> {
        in_transaction!(self, |conn| {
            let deleted = queries::delete_pin(conn, id).await.map_err(map_err)?;
            announce_pin(conn, id).await.map_err(map_err)?;
            Ok(deleted)
        })
    }

    /// Only one instance sweeps at a time: the others find the advisory lock
    /// taken and skip this round (no double work, nothing lost: the next
    /// round deletes whatever expired meanwhile).
    async fn delete_expired_pins(&self, now: UnixTime) -> Result<u64, StoreError> {
        in_transaction!(self, |conn| {
            let got_lock: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                .bind(SWEEP_LOCK)
                .fetch_one(&mut *conn)
                .await
                .map_err(map_err)?;
            if !got_lock {
                return Ok(0);
            }
            queries::delete_expired_pins(conn, now)
                .await
                .map_err(map_err)
        })
    }

    async fn count_live_pins(&self, now: UnixTime) -> Result<u64, StoreError> {
        on_pool!(self, |conn| queries::count_live_pins(conn, now))
    }

    async fn deny_pin(&self, id: PinId) -> Result<bool, StoreError> {
        in_transaction!(self, |conn| {
            let denied = queries::deny_pin(conn, id).await.map_err(map_err)?;
            announce_pin(conn, id).await.map_err(map_err)?;
            Ok(denied)
        })
    }

    async fn take_linked_pin(&self, id: PinId) -> Result<Option<PinRecord>, StoreError> {
        in_transaction!(self, |conn| {
            let taken = queries::take_linked_pin(conn, id).await.map_err(map_err)?;
            announce_pin(conn, id).await.map_err(map_err)?;
            Ok(taken)
        })
    }

    async fn insert_application(&self, application: &ApplicationRecord) -> Result<(), StoreError> {
        on_pool!(self, |conn| queries::insert_application(conn, application))
    }

    async fn application(
        &self,
        id: &ApplicationId,
    ) -> Result<Option<ApplicationRecord>, StoreError> {
        on_pool!(self, |conn| queries::application(conn, id))
    }

    async fn list_applications(&self) -> Result<Vec<ApplicationRecord>, StoreError> {
        on_pool!(self, |conn| queries::list_applications(conn))
    }

    async fn delete_application(&self, id: &ApplicationId) -> Result<bool, StoreError> {
        on_pool!(self, |conn| queries::delete_application(conn, id))
    }

    async fn insert_account(&self, account: &NewAccount) -> Result<Account, StoreError> {
        on_pool!(self, |conn| queries::insert_account(conn, account))
    }

    async fn account_by_login(&self, login: &str) -> Result<Option<AccountRecord>, StoreError> {
        on_pool!(self, |conn| queries::account_by_login(conn, login))
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        on_pool!(self, |conn| queries::list_accounts(conn))
    }

    async fn grant_token(&self, grant: &TokenGrant) -> Result<DeviceId, StoreError> {
        in_transaction!(self, |conn| queries::grant_token(conn, grant)
            .await
            .map_err(map_err))
    }

    async fn session_by_token(
        &self,
        hash: &LookupHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        on_pool!(self, |conn| queries::session_by_token(conn, hash))
    }

    async fn touch_device(&self, device: DeviceId, now: UnixTime) -> Result<(), StoreError> {
        on_pool!(self, |conn| queries::touch_device(conn, device, now))
    }

    async fn revoke_token(&self, hash: &LookupHash) -> Result<bool, StoreError> {
        in_transaction!(self, |conn| queries::revoke_token(conn, hash)
            .await
            .map_err(map_err))
    }

    async fn list_devices(&self, account: AccountId) -> Result<Vec<DeviceRecord>, StoreError> {
        on_pool!(self, |conn| queries::list_devices(
            conn,
            sql::LIST_DEVICES_POSTGRES,
            account
        ))
    }

    async fn revoke_device(
        &self,
        account: AccountId,
        device: DeviceId,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |conn| queries::revoke_device(conn, account, device))
    }

    async fn is_known_client(
        &self,
        account: AccountId,
        client: &LookupHash,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |conn| queries::is_known_client(conn, account, client))
    }

    async fn set_device_connections(
        &self,
        account: AccountId,
        device: DeviceId,
        connections: &[String],
    ) -> Result<bool, StoreError> {
        on_pool!(self, |conn| queries::set_device_connections(
            conn,
            account,
            device,
            connections
        ))
    }

    async fn register_device_key(
        &self,
        device: DeviceId,
        kid: &str,
        x: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |conn| queries::register_device_key(
            conn, device, kid, x, now
        ))
    }

    async fn device_key(&self, kid: &str) -> Result<Option<DeviceKeyRecord>, StoreError> {
        on_pool!(self, |conn| queries::device_key(conn, kid))
    }

    async fn signing_key_generations(&self) -> Result<Vec<(u32, UnixTime)>, StoreError> {
        on_pool!(self, |conn| queries::signing_key_generations(conn))
    }

    async fn add_signing_key_generation(&self, now: UnixTime) -> Result<u32, StoreError> {
        // Two instances rotating at once get one generation each (the
        // primary key refuses the second of two equal numbers).
        in_transaction!(self, |conn| queries::add_signing_key_generation(conn, now)
            .await
            .map_err(map_err))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |conn| queries::ping(conn))
    }

    async fn delete_expired_nonces(&self, now: UnixTime) -> Result<u64, StoreError> {
        on_pool!(self, |conn| queries::delete_expired_nonces(conn, now))
    }

    async fn nonce_is_live(
        &self,
        nonce: &str,
        client: &LookupHash,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |conn| queries::nonce_is_live(
            conn, nonce, client, now
        ))
    }

    async fn insert_nonce(
        &self,
        nonce: &str,
        client: &LookupHash,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        on_pool!(self, |conn| queries::insert_nonce(
            conn, nonce, client, expires_at
        ))
    }

    async fn use_nonce(
        &self,
        nonce: &str,
        client: &LookupHash,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |conn| queries::use_nonce(conn, nonce, client, now))
    }

    async fn reserve(&self, spends: &[Spend], now: UnixTime) -> Result<Reservation, StoreError> {
        in_transaction!(self, |conn| {
            read_committed(conn).await.map_err(map_err)?;
            lock_budgets(conn, spends).await.map_err(map_err)?;
            queries::reserve(conn, spends, now).await.map_err(map_err)
        })
    }

    async fn refund(&self, spends: &[i64]) -> Result<(), StoreError> {
        in_transaction!(self, |conn| queries::refund(conn, spends)
            .await
            .map_err(map_err))
    }

    async fn forgive(&self, key: &LookupHash) -> Result<(), StoreError> {
        on_pool!(self, |conn| queries::forgive(conn, key))
    }

    async fn delete_spends_before(
        &self,
        before: UnixTime,
        forget_clients_before: UnixTime,
    ) -> Result<u64, StoreError> {
        in_transaction!(self, |conn| queries::delete_spends_before(
            conn,
            before,
            forget_clients_before
        )
        .await
        .map_err(map_err))
    }

    async fn set_application(&self, application: &Application) -> Result<bool, StoreError> {
        on_pool!(self, |conn| queries::set_application(conn, application))
    }

    async fn insert_refresh_token(
        &self,
        device: DeviceId,
        hash: &LookupHash,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        on_pool!(self, |conn| queries::insert_refresh_token(
            conn, device, hash, now
        ))
    }

    async fn rotate_refresh_token(&self, rotation: &Rotation) -> Result<Rotated, StoreError> {
        in_transaction!(self, |conn| {
            read_committed(conn).await.map_err(map_err)?;
            queries::rotate_refresh_token(conn, rotation)
                .await
                .map_err(map_err)
        })
    }

    async fn set_token_expiry(&self, hash: &LookupHash, at: UnixTime) -> Result<(), StoreError> {
        on_pool!(self, |conn| queries::set_token_expiry(conn, hash, at))
    }

    async fn revoke_refresh_token(
        &self,
        application: &ApplicationId,
        hash: &LookupHash,
    ) -> Result<bool, StoreError> {
        in_transaction!(self, |conn| queries::revoke_refresh_token(
            conn,
            application,
            hash
        )
        .await
        .map_err(map_err))
    }

    async fn account_by_id(&self, id: AccountId) -> Result<Option<AccountRecord>, StoreError> {
        on_pool!(self, |conn| queries::account_by_id(conn, id))
    }

    async fn account_overview(&self) -> Result<Vec<AccountOverview>, StoreError> {
        on_pool!(self, |conn| queries::account_overview(conn))
    }

    async fn change_account(
        &self,
        account: AccountId,
        change: &AccountChange,
        event: Option<&SecurityEvent>,
    ) -> Result<Option<Vec<DeviceId>>, StoreError> {
        in_transaction!(self, |conn| queries::change_account(
            conn, account, change, event
        )
        .await
        .map_err(map_err))
    }

    async fn accept_totp_step(&self, account: AccountId, step: i64) -> Result<bool, StoreError> {
        on_pool!(self, |conn| queries::accept_totp_step(conn, account, step))
    }

    async fn use_recovery_code(
        &self,
        account: AccountId,
        hash: &LookupHash,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |conn| queries::use_recovery_code(conn, account, hash))
    }

    async fn recovery_codes_left(&self, account: AccountId) -> Result<u32, StoreError> {
        on_pool!(self, |conn| queries::recovery_codes_left(conn, account))
    }

    async fn delete_account(&self, account: AccountId) -> Result<Option<Vec<PinId>>, StoreError> {
        in_transaction!(self, |conn| {
            let pins = queries::delete_account(conn, account)
                .await
                .map_err(map_err)?;
            // Every instance forgets the pins it holds of the account.
            for pin in pins.iter().flatten() {
                announce_pin(conn, *pin).await.map_err(map_err)?;
            }
            Ok(pins)
        })
    }

    async fn log_event(&self, event: &SecurityEvent) -> Result<(), StoreError> {
        in_transaction!(self, |conn| queries::log_event(conn, event)
            .await
            .map_err(map_err))
    }

    async fn security_log(
        &self,
        account: AccountId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        on_pool!(self, |conn| queries::security_log(
            conn, account, before, limit
        ))
    }

    async fn insert_password_reset(&self, reset: &PasswordReset) -> Result<(), StoreError> {
        on_pool!(self, |conn| queries::insert_password_reset(conn, reset))
    }

    async fn password_reset(
        &self,
        hash: &LookupHash,
        now: UnixTime,
    ) -> Result<Option<PasswordReset>, StoreError> {
        on_pool!(self, |conn| queries::password_reset(conn, hash, now))
    }

    async fn complete_password_reset(
        &self,
        hash: &LookupHash,
        password_hash: &str,
        event: &SecurityEvent,
    ) -> Result<Option<(AccountId, Vec<DeviceId>)>, StoreError> {
        in_transaction!(self, |conn| queries::complete_password_reset(
            conn,
            hash,
            password_hash,
            event
        )
        .await
        .map_err(map_err))
    }

    async fn insert_passkey(&self, passkey: &PasskeyRecord) -> Result<i64, StoreError> {
        on_pool!(self, |conn| queries::insert_passkey(conn, passkey))
    }

    async fn passkeys(&self, account: AccountId) -> Result<Vec<PasskeyRecord>, StoreError> {
        on_pool!(self, |conn| queries::passkeys(conn, account))
    }

    async fn passkey_for_sign_in(
        &self,
        handle: &str,
        credential_id: &[u8],
    ) -> Result<Option<(AccountRecord, PasskeyRecord)>, StoreError> {
        on_pool!(self, |conn| queries::passkey_for_sign_in(
            conn,
            handle,
            credential_id
        ))
    }

    async fn passkey_used(&self, id: i64, passkey: &str, now: UnixTime) -> Result<(), StoreError> {
        on_pool!(self, |conn| queries::passkey_used(conn, id, passkey, now))
    }

    async fn delete_passkey(
        &self,
        account: AccountId,
        id: i64,
    ) -> Result<Option<String>, StoreError> {
        on_pool!(self, |conn| queries::delete_passkey(conn, account, id))
    }

    async fn insert_ceremony(&self, ceremony: &CeremonyRecord) -> Result<(), StoreError> {
        on_pool!(self, |conn| queries::insert_ceremony(conn, ceremony))
    }

    async fn take_ceremony(
        &self,
        hash: &LookupHash,
        now: UnixTime,
    ) -> Result<Option<CeremonyRecord>, StoreError> {
        on_pool!(self, |conn| queries::take_ceremony(conn, hash, now))
    }

    async fn delete_stale_account_data(
        &self,
        now: UnixTime,
        log_before: UnixTime,
    ) -> Result<(), StoreError> {
        in_transaction!(self, |conn| queries::delete_stale_account_data(
            conn, now, log_before
        )
        .await
        .map_err(map_err))
    }

    async fn close(&self) {
        // The listening task is stopped before the store is closed; if it
        // still held the listener, closing the pool ends its connection.
        if let Ok(mut slot) = self.listener.try_lock() {
            slot.take();
        }
        self.pool.close().await;
    }
}

impl PostgresStore {
    /// Announces a heartbeat every [`HEARTBEAT`] until the pool closes (once
    /// per process).
    fn start_heartbeat(&self) {
        use std::sync::atomic::Ordering;
        if self.beating.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = self.pool.clone();
        tokio::spawn(async move {
            while !pool.is_closed() {
                tokio::time::sleep(HEARTBEAT).await;
                let beat = sqlx::query("SELECT pg_notify($1, 'p')")
                    .bind(SESSION_CHANNEL)
                    .execute(&pool)
                    .await;
                if let Err(e) = beat {
                    tracing::debug!(error = %e, "could not announce a heartbeat");
                }
            }
        });
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen_all([PIN_CHANNEL, SESSION_CHANNEL]).await?;
    Ok(listener)
}

/// What migration 0009's triggers announce on [`SESSION_CHANNEL`]: `t` and
/// a token's hash in base64, `a` and an account's id, or `*` (everything);
/// `None` for a heartbeat (`p`) or anything else.
fn session_change(payload: &str) -> Option<Change> {
    use base64::Engine;
    if payload == "*" {
        return Some(Change::AllTokens);
    }
    if let Some(encoded) = payload.strip_prefix('t') {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        return LookupHash::from_slice(&bytes).map(Change::Token);
    }
    let id = payload.strip_prefix('a')?.parse().ok()?;
    Some(Change::Account(AccountId(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_announcements_are_read_and_anything_else_is_ignored() {
        // What `encode(hash, 'base64')` makes of 32 bytes of 7.
        let encoded = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
        assert_eq!(
            session_change(&format!("t{encoded}")),
            Some(Change::Token(LookupHash([7; 32])))
        );
        assert_eq!(session_change("a42"), Some(Change::Account(AccountId(42))));
        assert_eq!(session_change("*"), Some(Change::AllTokens));
        for junk in ["", "p", "t", "tnot base64", "tAAAA", "a", "a-x", "x1"] {
            assert_eq!(session_change(junk), None, "{junk:?}");
        }
    }
}
