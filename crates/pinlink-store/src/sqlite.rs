//! The embedded default: one SQLite file in WAL mode.
//!
//! Durability: `synchronous = FULL`, so a write acknowledged to a client
//! survives a crash or power cut. Reads run on a pool of connections while
//! a write commits; every write goes through one writer connection
//! ([`crate::group_commit`]), which also makes each write atomic with
//! respect to every other: a budget's check and spend, or a cap's count and
//! insert, cannot interleave with another's.
//!
//! What each operation does is in [`crate::queries`], shared with
//! PostgreSQL; this file only decides where it runs.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use pinlink_core::store::{
    AccountRecord, DeviceRecord, NewAccount, PinLink, PinRecord, Reservation, SessionRecord, Spend,
    TokenGrant,
};
use pinlink_core::{
    Account, AccountId, DeviceId, LookupHash, PinCaps, PinId, Store, StoreError, UnixTime,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, SqliteConnection};

use crate::group_commit::Writer;
use crate::queries;
use crate::{map_err, map_refusal, sql};

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

/// Runs a read from [`crate::queries`] on a pooled reader connection.
macro_rules! read {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let mut pooled = $store.pool.acquire().await.map_err(map_err)?;
        let $conn: &mut SqliteConnection = &mut pooled;
        $body.await.map_err(map_err)
    }};
}

/// Runs a write from [`crate::queries`] on the writer, in the next group
/// commit; the captured values are moved into the job.
macro_rules! write {
    ($store:expr, move |$conn:ident| $body:expr) => {
        $store
            .writer
            .write(move |mut connection| async move {
                let result = {
                    let $conn: &mut SqliteConnection = &mut connection;
                    $body.await
                };
                (connection, result)
            })
            .await
    };
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_pin(&self, pin: &PinRecord, caps: &PinCaps) -> Result<(), StoreError> {
        let (pin, caps) = (pin.clone(), *caps);
        write!(self, move |conn| async {
            queries::insert_pin::<Sqlite>(conn, &pin, &caps)
                .await
                .map_err(map_refusal)
        })
    }

    async fn pin_by_id(&self, id: PinId) -> Result<Option<PinRecord>, StoreError> {
        read!(self, |conn| queries::pin_by_id::<Sqlite>(conn, id))
    }

    async fn pin_by_code(&self, code_hash: &LookupHash) -> Result<Option<PinRecord>, StoreError> {
        read!(self, |conn| queries::pin_by_code::<Sqlite>(conn, code_hash))
    }

    async fn link_pin(&self, link: &PinLink) -> Result<Option<DeviceId>, StoreError> {
        let link = link.clone();
        write!(self, move |conn| async {
            queries::link_pin::<Sqlite>(conn, &link)
                .await
                .map_err(map_err)
        })
    }

    async fn delete_pin(&self, id: PinId) -> Result<bool, StoreError> {
        write!(self, move |conn| async {
            queries::delete_pin::<Sqlite>(conn, id)
                .await
                .map_err(map_err)
        })
    }

    async fn delete_expired_pins(&self, now: UnixTime) -> Result<u64, StoreError> {
        write!(self, move |conn| async {
            queries::delete_expired_pins::<Sqlite>(conn, now)
                .await
                .map_err(map_err)
        })
    }

    async fn count_live_pins(&self, now: UnixTime) -> Result<u64, StoreError> {
        read!(self, |conn| queries::count_live_pins::<Sqlite>(conn, now))
    }

    async fn insert_account(&self, account: &NewAccount) -> Result<Account, StoreError> {
        let new = account.clone();
        write!(self, move |conn| async {
            queries::insert_account::<Sqlite>(conn, &new)
                .await
                .map_err(map_err)
        })
    }

    async fn account_by_login(&self, login: &str) -> Result<Option<AccountRecord>, StoreError> {
        read!(self, |conn| queries::account_by_login::<Sqlite>(
            conn, login
        ))
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        read!(self, |conn| queries::list_accounts::<Sqlite>(conn))
    }

    async fn grant_token(&self, grant: &TokenGrant) -> Result<DeviceId, StoreError> {
        let grant = grant.clone();
        write!(self, move |conn| async {
            queries::grant_token::<Sqlite>(conn, &grant)
                .await
                .map_err(map_err)
        })
    }

    async fn session_by_token(
        &self,
        hash: &LookupHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        read!(self, |conn| queries::session_by_token::<Sqlite>(conn, hash))
    }

    async fn touch_device(&self, device: DeviceId, now: UnixTime) -> Result<(), StoreError> {
        write!(self, move |conn| async {
            queries::touch_device::<Sqlite>(conn, device, now)
                .await
                .map_err(map_err)
        })
    }

    async fn revoke_token(&self, hash: &LookupHash) -> Result<bool, StoreError> {
        let hash = hash.clone();
        write!(self, move |conn| async {
            queries::revoke_token::<Sqlite>(conn, &hash)
                .await
                .map_err(map_err)
        })
    }

    async fn list_devices(&self, account: AccountId) -> Result<Vec<DeviceRecord>, StoreError> {
        read!(self, |conn| queries::list_devices::<Sqlite>(
            conn,
            sql::LIST_DEVICES_SQLITE,
            account
        ))
    }

    async fn revoke_device(
        &self,
        account: AccountId,
        device: DeviceId,
    ) -> Result<bool, StoreError> {
        write!(self, move |conn| async {
            queries::revoke_device::<Sqlite>(conn, account, device)
                .await
                .map_err(map_err)
        })
    }

    async fn is_known_client(
        &self,
        account: AccountId,
        client: &LookupHash,
    ) -> Result<bool, StoreError> {
        read!(self, |conn| queries::is_known_client::<Sqlite>(
            conn, account, client
        ))
    }

    async fn reserve(&self, spends: &[Spend], now: UnixTime) -> Result<Reservation, StoreError> {
        let spends = spends.to_vec();
        write!(self, move |conn| async {
            queries::reserve::<Sqlite>(conn, &spends, now)
                .await
                .map_err(map_err)
        })
    }

    async fn refund(&self, spends: &[i64]) -> Result<(), StoreError> {
        let spends = spends.to_vec();
        write!(self, move |conn| async {
            queries::refund::<Sqlite>(conn, &spends)
                .await
                .map_err(map_err)
        })
    }

    async fn forgive(&self, key: &LookupHash) -> Result<(), StoreError> {
        let key = key.clone();
        write!(self, move |conn| async {
            queries::forgive::<Sqlite>(conn, &key)
                .await
                .map_err(map_err)
        })
    }

    async fn delete_spends_before(
        &self,
        before: UnixTime,
        forget_clients_before: UnixTime,
    ) -> Result<u64, StoreError> {
        write!(self, move |conn| async {
            queries::delete_spends_before::<Sqlite>(conn, before, forget_clients_before)
                .await
                .map_err(map_err)
        })
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
