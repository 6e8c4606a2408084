//! The embedded default: one SQLite file in WAL mode.
//!
//! Durability: `synchronous = FULL`, so a write acknowledged to a client
//! survives a crash or power cut. Several readers run at once; writers take
//! turns, waiting up to `busy_timeout` for each other.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use pinlink_core::store::{
    AccountRecord, DeviceRecord, FailureCount, NewAccount, PinLink, PinRecord, SessionRecord,
    TokenGrant,
};
use pinlink_core::{
    Account, AccountId, ClientIdentifier, DeviceId, DeviceInfo, Email, LookupHash, PinId, Store,
    StoreError, UnixTime, Username,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Row, SqliteConnection};

use crate::group_commit::Writer;
use crate::map_err;
use crate::rows::{account_from_row, device_record_from_row, pin_from_row};
use crate::sql::{self, bind_device};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    /// Readers: WAL lets them run while a write commits.
    pool: SqlitePool,
    /// Every write, batched into group commits.
    writer: Writer,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        // A plain in-memory database exists once per connection; the reader
        // pool and the writer must share one, so make it a named, shared one.
        let url = if url.contains(":memory:") {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!(
                "sqlite:file:pinlink-memory-{}-{n}?mode=memory&cache=shared",
                std::process::id()
            )
        } else {
            url.to_owned()
        };
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Other(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // The writer connection opens first and stays open: it also keeps an
        // in-memory database alive.
        let writer_connection = SqliteConnection::connect_with(&options)
            .await
            .map_err(map_err)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(map_err)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(format!("migrating the SQLite database failed: {e}")))?;
        Ok(SqliteStore {
            pool,
            writer: Writer::start(writer_connection),
        })
    }
}

/// Registers (or refreshes) the account's device for `client_identifier` and
/// stores its new token: shared by sign-in and pin linking.
async fn upsert_device_with_token(
    tx: &mut SqliteConnection,
    account: AccountId,
    client_identifier: &ClientIdentifier,
    device: &DeviceInfo,
    token: &pinlink_core::store::NewToken,
    now: UnixTime,
) -> Result<DeviceId, sqlx::Error> {
    let q = sqlx::query(sql::UPSERT_DEVICE)
        .bind(account.0)
        .bind(client_identifier.as_str());
    let row = bind_device(q, device)
        .bind(now.0)
        .bind(now.0)
        .fetch_one(&mut *tx)
        .await?;
    let device_id = DeviceId(row.try_get("id")?);
    sqlx::query(sql::INSERT_TOKEN)
        .bind(token.hash.as_bytes())
        .bind(device_id.0)
        .bind(&token.sealed)
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
    Ok(device_id)
}

/// A bound parameter of a simple write.
enum Param {
    Int(i64),
    Text(String),
}

async fn insert_pin_on(conn: &mut SqliteConnection, pin: &PinRecord) -> Result<(), sqlx::Error> {
    sqlx::query(sql::DELETE_EXPIRED_PIN_WITH_CODE)
        .bind(pin.code_hash.as_bytes())
        .bind(pin.created_at.0)
        .execute(&mut *conn)
        .await?;
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
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn link_pin_on(
    conn: &mut SqliteConnection,
    link: &PinLink,
) -> Result<Option<DeviceId>, sqlx::Error> {
    let claimed = sqlx::query(sql::CLAIM_PIN)
        .bind(&link.token.sealed)
        .bind(link.account.0)
        .bind(i64::from(link.pin.0))
        .bind(link.now.0)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = claimed else {
        return Ok(None);
    };
    let pin = pin_from_row(&row)?;
    let device = upsert_device_with_token(
        conn,
        link.account,
        &pin.client_identifier,
        &pin.device,
        &link.token,
        link.now,
    )
    .await?;
    Ok(Some(device))
}

async fn revoke_token_on(
    conn: &mut SqliteConnection,
    hash: &LookupHash,
) -> Result<bool, sqlx::Error> {
    let gone = sqlx::query(sql::DELETE_TOKEN)
        .bind(hash.as_bytes())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = gone else {
        return Ok(false);
    };
    let device: i64 = row.try_get("device_id")?;
    sqlx::query(sql::DELETE_DEVICE_IF_TOKENLESS)
        .bind(device)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

impl SqliteStore {
    /// One statement through the writer; returns the rows it changed.
    async fn execute(&self, sql: &'static str, params: Vec<Param>) -> Result<u64, StoreError> {
        self.writer
            .write(move |mut conn| async move {
                let mut query = sqlx::query(sql);
                for param in params {
                    query = match param {
                        Param::Int(v) => query.bind(v),
                        Param::Text(v) => query.bind(v),
                    };
                }
                let result = query
                    .execute(&mut conn)
                    .await
                    .map(|done| done.rows_affected())
                    .map_err(map_err);
                (conn, result)
            })
            .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_pin(&self, pin: &PinRecord) -> Result<(), StoreError> {
        let pin = pin.clone();
        self.writer
            .write(move |mut conn| async move {
                let result = insert_pin_on(&mut conn, &pin).await.map_err(map_err);
                (conn, result)
            })
            .await
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
        let link = link.clone();
        self.writer
            .write(move |mut conn| async move {
                let result = link_pin_on(&mut conn, &link).await.map_err(map_err);
                (conn, result)
            })
            .await
    }

    async fn delete_pin(&self, id: PinId) -> Result<bool, StoreError> {
        let n = self
            .execute(sql::DELETE_PIN, vec![Param::Int(i64::from(id.0))])
            .await?;
        Ok(n > 0)
    }

    async fn delete_expired_pins(&self, now: UnixTime) -> Result<u64, StoreError> {
        self.execute(sql::DELETE_EXPIRED_PINS, vec![Param::Int(now.0)])
            .await
    }

    async fn insert_account(&self, account: &NewAccount) -> Result<Account, StoreError> {
        let new = account.clone();
        let id = self
            .writer
            .write(move |mut conn| async move {
                let result = sqlx::query(sql::INSERT_ACCOUNT)
                    .bind(&new.uuid)
                    .bind(&new.username)
                    .bind(&new.email)
                    .bind(&new.password_hash)
                    .bind(new.created_at.0)
                    .fetch_one(&mut conn)
                    .await
                    .and_then(|row| row.try_get::<i64, _>("id"))
                    .map_err(map_err);
                (conn, result)
            })
            .await?;
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
        let g = grant.clone();
        self.writer
            .write(move |mut conn| async move {
                let result = upsert_device_with_token(
                    &mut conn,
                    g.account,
                    &g.client_identifier,
                    &g.device,
                    &g.token,
                    g.now,
                )
                .await
                .map_err(map_err);
                (conn, result)
            })
            .await
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
        self.execute(
            sql::TOUCH_DEVICE,
            vec![Param::Int(now.0), Param::Int(device.0)],
        )
        .await
        .map(|_| ())
    }

    async fn revoke_token(&self, hash: &LookupHash) -> Result<bool, StoreError> {
        let hash = hash.clone();
        self.writer
            .write(move |mut conn| async move {
                let result = revoke_token_on(&mut conn, &hash).await.map_err(map_err);
                (conn, result)
            })
            .await
    }

    async fn list_devices(&self, account: AccountId) -> Result<Vec<DeviceRecord>, StoreError> {
        let rows = sqlx::query(sql::LIST_DEVICES_SQLITE)
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
        let n = self
            .execute(
                sql::DELETE_DEVICE,
                vec![Param::Int(device.0), Param::Int(account.0)],
            )
            .await?;
        Ok(n > 0)
    }

    async fn record_failure(&self, key: &str, at: UnixTime) -> Result<(), StoreError> {
        self.execute(
            sql::INSERT_FAILURE,
            vec![Param::Text(key.to_owned()), Param::Int(at.0)],
        )
        .await
        .map(|_| ())
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
        self.execute(sql::CLEAR_FAILURES, vec![Param::Text(key.to_owned())])
            .await
            .map(|_| ())
    }

    async fn delete_failures_before(&self, before: UnixTime) -> Result<u64, StoreError> {
        self.execute(sql::DELETE_FAILURES_BEFORE, vec![Param::Int(before.0)])
            .await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
