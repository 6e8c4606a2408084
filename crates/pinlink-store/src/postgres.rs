//! PostgreSQL, for several pinlink instances behind a load balancer.
//!
//! Every instance is stateless but for its cache of live pins; what must be
//! shared (pins, accounts, devices, tokens, failure counts) is here. Writes
//! are plain transactions (PostgreSQL serialises conflicting ones itself),
//! acknowledged after COMMIT. Changes to pins are announced with
//! `NOTIFY pinlink_pins` in the same transaction, so every instance forgets
//! its cached copy when (and only when) the change is committed.

use std::time::Duration;

use async_trait::async_trait;
use pinlink_core::store::{
    AccountRecord, Change, DeviceRecord, FailureCount, NewAccount, NewToken, PinLink, PinRecord,
    SessionRecord, TokenGrant,
};
use pinlink_core::{
    Account, AccountId, ClientIdentifier, DeviceId, DeviceInfo, Email, LookupHash, PinId, Store,
    StoreError, UnixTime, Username,
};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Row};
use tokio::sync::Mutex;

use crate::map_err;
use crate::rows::{account_from_row, device_record_from_row, pin_from_row};
use crate::sql::{self, bind_device};
use crate::StoreOptions;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The channel pin changes are announced on; the payload is the pin id.
const PIN_CHANNEL: &str = "pinlink_pins";
/// Advisory lock keys (any 64-bit numbers no one else uses).
const SWEEP_LOCK: i64 = 0x7069_6e6c_696e_6b01;

pub struct PostgresStore {
    pool: PgPool,
    /// The connection that hears other instances' changes; `None` while
    /// (re)connecting.
    listener: Mutex<Option<PgListener>>,
}

impl PostgresStore {
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<PostgresStore, StoreError> {
        let pool = pool(url, options)?;
        migrate(&pool).await?;
        Ok(PostgresStore {
            pool,
            listener: Mutex::new(None),
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

/// Registers (or refreshes) the account's device for `client_identifier` and
/// stores its new token: shared by sign-in and pin linking.
async fn upsert_device_with_token(
    conn: &mut PgConnection,
    account: AccountId,
    client_identifier: &ClientIdentifier,
    device: &DeviceInfo,
    token: &NewToken,
    now: UnixTime,
) -> Result<DeviceId, sqlx::Error> {
    let q = sqlx::query(sql::UPSERT_DEVICE)
        .bind(account.0)
        .bind(client_identifier.as_str());
    let row = bind_device(q, device)
        .bind(now.0)
        .bind(now.0)
        .fetch_one(&mut *conn)
        .await?;
    let device_id = DeviceId(row.try_get("id")?);
    sqlx::query(sql::INSERT_TOKEN)
        .bind(token.hash.as_bytes())
        .bind(device_id.0)
        .bind(&token.sealed)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
    Ok(device_id)
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
                        return Change::Listening;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot listen for changes yet; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            };
            match listener.try_recv().await {
                Ok(Some(notification)) => match notification.payload().parse::<u32>() {
                    Ok(id) => return Change::Pin(PinId(id)),
                    Err(_) => continue,
                },
                // The connection broke: whatever was announced meanwhile is lost.
                Ok(None) | Err(_) => {
                    *slot = None;
                    return Change::Missed;
                }
            }
        }
    }

    async fn insert_pin(&self, pin: &PinRecord) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query(sql::DELETE_EXPIRED_PIN_WITH_CODE)
            .bind(pin.code_hash.as_bytes())
            .bind(pin.created_at.0)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let q = sqlx::query(sql::INSERT_PIN)
            .bind(i64::from(pin.id.0))
            .bind(pin.code_hash.as_bytes())
            .bind(&pin.code_sealed)
            .bind(pin.strong)
            .bind(pin.client_identifier.as_str());
        bind_device(q, &pin.device)
            .bind(&pin.requester_ip)
            .bind(pin.created_at.0)
            .bind(pin.expires_at.0)
            .bind(&pin.token_sealed)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn pin_by_id(&self, id: PinId) -> Result<Option<PinRecord>, StoreError> {
        sqlx::query(sql::PIN_BY_ID)
            .bind(i64::from(id.0))
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .map(|row| pin_from_row(&row).map_err(map_err))
            .transpose()
    }

    async fn pin_by_code(&self, code_hash: &LookupHash) -> Result<Option<PinRecord>, StoreError> {
        sqlx::query(sql::PIN_BY_CODE)
            .bind(code_hash.as_bytes())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .map(|row| pin_from_row(&row).map_err(map_err))
            .transpose()
    }

    async fn link_pin(&self, link: &PinLink) -> Result<Option<DeviceId>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let claimed = sqlx::query(sql::CLAIM_PIN)
            .bind(&link.token.sealed)
            .bind(link.account.0)
            .bind(i64::from(link.pin.0))
            .bind(link.now.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        let Some(row) = claimed else {
            return Ok(None);
        };
        let pin = pin_from_row(&row).map_err(map_err)?;
        let device = upsert_device_with_token(
            &mut tx,
            link.account,
            &pin.client_identifier,
            &pin.device,
            &link.token,
            link.now,
        )
        .await
        .map_err(map_err)?;
        announce_pin(&mut tx, link.pin).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(Some(device))
    }

    async fn delete_pin(&self, id: PinId) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let deleted = sqlx::query(sql::DELETE_PIN)
            .bind(i64::from(id.0))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        announce_pin(&mut tx, id).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(deleted > 0)
    }

    /// Only one instance sweeps at a time: the others find the advisory lock
    /// taken and skip this round (no double work, nothing lost: the next
    /// round deletes whatever expired meanwhile).
    async fn delete_expired_pins(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let got_lock: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(SWEEP_LOCK)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        if !got_lock {
            return Ok(0);
        }
        let deleted = sqlx::query(sql::DELETE_EXPIRED_PINS)
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        tx.commit().await.map_err(map_err)?;
        Ok(deleted)
    }

    async fn insert_account(&self, account: &NewAccount) -> Result<Account, StoreError> {
        let id: i64 = sqlx::query_scalar(sql::INSERT_ACCOUNT)
            .bind(&account.uuid)
            .bind(&account.username)
            .bind(&account.email)
            .bind(&account.password_hash)
            .bind(account.created_at.0)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(Account {
            id: AccountId(id),
            uuid: account.uuid.clone(),
            username: Username::from_stored(account.username.clone()),
            email: Email::from_stored(account.email.clone()),
            created_at: account.created_at,
        })
    }

    async fn account_by_login(&self, login: &str) -> Result<Option<AccountRecord>, StoreError> {
        let row = sqlx::query(sql::ACCOUNT_BY_LOGIN)
            .bind(login)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|row| {
            Ok(AccountRecord {
                account: account_from_row(&row)?,
                password_hash: row.try_get("password_hash")?,
            })
        })
        .transpose()
        .map_err(map_err)
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let rows = sqlx::query(sql::LIST_ACCOUNTS)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| account_from_row(r).map_err(map_err))
            .collect()
    }

    async fn grant_token(&self, grant: &TokenGrant) -> Result<DeviceId, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let device = upsert_device_with_token(
            &mut tx,
            grant.account,
            &grant.client_identifier,
            &grant.device,
            &grant.token,
            grant.now,
        )
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(device)
    }

    async fn session_by_token(
        &self,
        hash: &LookupHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(sql::SESSION_BY_TOKEN)
            .bind(hash.as_bytes())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|row| {
            Ok(SessionRecord {
                account: account_from_row(&row)?,
                device: DeviceId(row.try_get("device_id")?),
                last_seen_at: UnixTime(row.try_get("last_seen_at")?),
            })
        })
        .transpose()
        .map_err(map_err)
    }

    async fn touch_device(&self, device: DeviceId, now: UnixTime) -> Result<(), StoreError> {
        sqlx::query(sql::TOUCH_DEVICE)
            .bind(now.0)
            .bind(device.0)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn revoke_token(&self, hash: &LookupHash) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let device: Option<i64> = sqlx::query_scalar(sql::DELETE_TOKEN)
            .bind(hash.as_bytes())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        let Some(device) = device else {
            return Ok(false);
        };
        sqlx::query(sql::DELETE_DEVICE_IF_TOKENLESS)
            .bind(device)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn list_devices(&self, account: AccountId) -> Result<Vec<DeviceRecord>, StoreError> {
        let rows = sqlx::query(sql::LIST_DEVICES_POSTGRES)
            .bind(account.0)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(device_record_from_row)
            .collect::<Result<Vec<DeviceRecord>, sqlx::Error>>()
            .map_err(map_err)
    }

    async fn revoke_device(
        &self,
        account: AccountId,
        device: DeviceId,
    ) -> Result<bool, StoreError> {
        let deleted = sqlx::query(sql::DELETE_DEVICE)
            .bind(device.0)
            .bind(account.0)
            .execute(&self.pool)
            .await
            .map_err(map_err)?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn record_failure(&self, key: &str, at: UnixTime) -> Result<(), StoreError> {
        sqlx::query(sql::INSERT_FAILURE)
            .bind(key)
            .bind(at.0)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn count_failures(&self, key: &str, since: UnixTime) -> Result<FailureCount, StoreError> {
        let row = sqlx::query(sql::COUNT_FAILURES)
            .bind(key)
            .bind(since.0)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let count: i64 = row.try_get("n").map_err(map_err)?;
        let oldest: Option<i64> = row.try_get("oldest").map_err(map_err)?;
        Ok(FailureCount {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            oldest: oldest.map(UnixTime),
        })
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query(sql::CLEAR_FAILURES)
            .bind(key)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn delete_failures_before(&self, before: UnixTime) -> Result<u64, StoreError> {
        sqlx::query(sql::DELETE_FAILURES_BEFORE)
            .bind(before.0)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(map_err)
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

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(PIN_CHANNEL).await?;
    Ok(listener)
}
