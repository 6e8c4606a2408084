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
use pinlink_core::security_log::{LoggedEvent, SecurityEvent};
use pinlink_core::store::{
    AccountChange, AccountOverview, AccountRecord, ApplicationRecord, CeremonyRecord,
    DeviceKeyRecord, DeviceRecord, NewAccount, PasskeyRecord, PasswordReset, PinLink, PinRecord,
    Reservation, Rotated, Rotation, SessionRecord, Spend, TokenGrant,
};
use pinlink_core::{
    Account, AccountId, Application, ApplicationId, DeviceId, LookupHash, PinCaps, PinId, Store,
    StoreError, UnixTime,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::SqliteConnection;

use crate::backend::run_now;
use crate::group_commit::{Checkpointer, Writer};
use crate::queries;
use crate::{map_err, map_refusal, sql};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    /// Readers: WAL lets them run while a write commits.
    pool: SqlitePool,
    /// Every write, batched into group commits.
    writer: Writer,
    /// What operators' commands changed (`None` in memory: no other
    /// process can see the database).
    outside: Option<OutsideChanges>,
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
        if !url.starts_with("sqlite:file:") {
            inspect(options.get_filename())?;
        }
        // The writer connection opens first and stays open: it also keeps an
        // in-memory database alive.
        let writer_connection = open_writer(&url, &options)?;
        let checkpointer = if url.starts_with("sqlite:file:") {
            None // in memory: no WAL to checkpoint
        } else {
            Some(Checkpointer::new(open_writer(&url, &options)?))
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // A connection to a local file does not go stale: no ping (a
            // round trip to the connection's thread) before every read.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(map_err)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(format!("migrating the SQLite database failed: {e}")))?;
        let outside = if url.starts_with("sqlite:file:") {
            None
        } else {
            OutsideChanges::open(options.get_filename())
        };
        Ok(SqliteStore {
            pool,
            writer: Writer::start(writer_connection, checkpointer)?,
            outside,
        })
    }
}

/// Looks at an existing file before pinlink writes to it: a file that is
/// not a SQLite database (or is damaged), a database of something else, or
/// one a newer pinlink wrote is refused with a message saying which.
pub(crate) fn inspect(path: &std::path::Path) -> Result<(), StoreError> {
    use rusqlite::OpenFlags;
    let shown = path.display();
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
        return Ok(()); // new (or empty): created and migrated
    }
    let not_sqlite = |e: rusqlite::Error| {
        StoreError::Other(format!(
            "{shown} is not a SQLite database, or it is damaged ({e}); give the path of \
             pinlink's database, or restore it from a backup"
        ))
    };
    let connection = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(not_sqlite)?;
    let tables: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .and_then(|mut q| q.query_map([], |row| row.get(0))?.collect())
        .map_err(not_sqlite)?;
    if tables.is_empty() {
        return Ok(());
    }
    if !tables.iter().any(|t| t == "_sqlx_migrations") {
        return Err(StoreError::Other(format!(
            "{shown} is a SQLite database of something else (tables {}), not pinlink's: \
             pinlink leaves it alone",
            tables
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let newest: Option<i64> = connection
        .query_row(
            "SELECT max(version) FROM _sqlx_migrations WHERE success",
            [],
            |row| row.get(0),
        )
        .map_err(not_sqlite)?;
    crate::refuse_newer(newest, newest_known())
}

/// The newest schema version this pinlink carries.
pub(crate) fn newest_known() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// A connection for the writer (or its checkpointer), with the same
/// settings as the readers': WAL, `synchronous = FULL`, foreign keys, a busy
/// timeout; and a 32 MiB page cache, with temporary files in memory.
fn open_writer(
    url: &str,
    options: &SqliteConnectOptions,
) -> Result<rusqlite::Connection, StoreError> {
    use rusqlite::OpenFlags;
    let failed = |e: rusqlite::Error| map_err(crate::backend::sqlite_error(e));
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = match url.strip_prefix("sqlite:file:") {
        // The named, shared in-memory database the readers open too.
        Some(memory) => rusqlite::Connection::open_with_flags(
            format!("file:{memory}"),
            flags | OpenFlags::SQLITE_OPEN_SHARED_CACHE,
        ),
        None => rusqlite::Connection::open_with_flags(options.get_filename(), flags),
    }
    .map_err(failed)?;
    connection
        .busy_timeout(Duration::from_secs(5))
        .map_err(failed)?;
    connection
        .execute_batch(
            // A larger page cache than the default 2 MiB: inserts land on
            // random pages of the pins table and its code index, and every
            // miss is a read(2) on the one thread all writes wait for.
            // Temporary files in memory: every job of a group commit runs in
            // a savepoint, whose sub-journal (the pages to roll back to) was
            // otherwise a temporary file written, and truncated, per job
            // (12 % and 3 % of the writer's time creating pins).
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY;",
        )
        .map_err(failed)?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
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
/// commit; the captured values are moved into the job. On the writer's
/// `rusqlite` connection a body never waits, so it runs to its end at once.
macro_rules! write {
    ($store:expr, move |$conn:ident| $body:expr) => {
        $store
            .writer
            .write(move |connection: &mut rusqlite::Connection| {
                let $conn = connection;
                run_now($body).unwrap_or_else(|| {
                    Err(StoreError::Other(
                        "a write on the SQLite writer did not finish at once".into(),
                    ))
                })
            })
            .await
    };
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_pin(&self, pin: &PinRecord, caps: &PinCaps) -> Result<(), StoreError> {
        let (pin, caps) = (pin.clone(), *caps);
        write!(self, move |conn| async {
            queries::insert_pin(conn, &pin, &caps)
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
        let (pin, caps, spends) = (pin.clone(), *caps, spends.to_vec());
        // One job: a failed job is rolled back to its savepoint, spends and all.
        write!(self, move |conn| async {
            queries::insert_pin_spending(conn, &pin, &caps, &spends, now)
                .await
                .map_err(map_refusal)
        })
    }

    async fn pin_by_id(&self, id: PinId) -> Result<Option<PinRecord>, StoreError> {
        read!(self, |conn| queries::pin_by_id(conn, id))
    }

    async fn pin_by_code(&self, code_hash: &LookupHash) -> Result<Option<PinRecord>, StoreError> {
        read!(self, |conn| queries::pin_by_code(conn, code_hash))
    }

    async fn link_pin(&self, link: &PinLink) -> Result<Option<DeviceId>, StoreError> {
        let link = link.clone();
        write!(self, move |conn| async {
            queries::link_pin(conn, &link).await.map_err(map_err)
        })
    }

    async fn delete_pin(&self, id: PinId) -> Result<bool, StoreError> {
        write!(self, move |conn| async {
            queries::delete_pin(conn, id).await.map_err(map_err)
        })
    }

    async fn delete_expired_pins(&self, now: UnixTime) -> Result<u64, StoreError> {
        write!(self, move |conn| async {
            queries::delete_expired_pins(conn, now)
                .await
                .map_err(map_err)
        })
    }

    async fn count_live_pins(&self, now: UnixTime) -> Result<u64, StoreError> {
        read!(self, |conn| queries::count_live_pins(conn, now))
    }

    async fn deny_pin(&self, id: PinId) -> Result<bool, StoreError> {
        write!(self, move |conn| async {
            queries::deny_pin(conn, id).await.map_err(map_err)
        })
    }

    async fn take_linked_pin(&self, id: PinId) -> Result<Option<PinRecord>, StoreError> {
        write!(self, move |conn| async {
            queries::take_linked_pin(conn, id).await.map_err(map_err)
        })
    }

    async fn insert_application(&self, application: &ApplicationRecord) -> Result<(), StoreError> {
        let record = application.clone();
        write!(self, move |conn| async {
            queries::insert_application(conn, &record)
                .await
                .map_err(map_err)
        })
    }

    async fn application(
        &self,
        id: &ApplicationId,
    ) -> Result<Option<ApplicationRecord>, StoreError> {
        read!(self, |conn| queries::application(conn, id))
    }

    async fn list_applications(&self) -> Result<Vec<ApplicationRecord>, StoreError> {
        read!(self, |conn| queries::list_applications(conn))
    }

    async fn delete_application(&self, id: &ApplicationId) -> Result<bool, StoreError> {
        let id = id.clone();
        write!(self, move |conn| async {
            queries::delete_application(conn, &id)
                .await
                .map_err(map_err)
        })
    }

    async fn insert_account(&self, account: &NewAccount) -> Result<Account, StoreError> {
        let new = account.clone();
        write!(self, move |conn| async {
            queries::insert_account(conn, &new).await.map_err(map_err)
        })
    }

    async fn account_by_login(&self, login: &str) -> Result<Option<AccountRecord>, StoreError> {
        read!(self, |conn| queries::account_by_login(conn, login))
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        read!(self, |conn| queries::list_accounts(conn))
    }

    async fn grant_token(&self, grant: &TokenGrant) -> Result<DeviceId, StoreError> {
        let grant = grant.clone();
        write!(self, move |conn| async {
            queries::grant_token(conn, &grant).await.map_err(map_err)
        })
    }

    async fn session_by_token(
        &self,
        hash: &LookupHash,
    ) -> Result<Option<SessionRecord>, StoreError> {
        read!(self, |conn| queries::session_by_token(conn, hash))
    }

    async fn touch_device(&self, device: DeviceId, now: UnixTime) -> Result<(), StoreError> {
        write!(self, move |conn| async {
            queries::touch_device(conn, device, now)
                .await
                .map_err(map_err)
        })
    }

    async fn revoke_token(&self, hash: &LookupHash) -> Result<bool, StoreError> {
        let hash = hash.clone();
        write!(self, move |conn| async {
            queries::revoke_token(conn, &hash).await.map_err(map_err)
        })
    }

    async fn list_devices(&self, account: AccountId) -> Result<Vec<DeviceRecord>, StoreError> {
        read!(self, |conn| queries::list_devices(
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
            queries::revoke_device(conn, account, device)
                .await
                .map_err(map_err)
        })
    }

    async fn is_known_client(
        &self,
        account: AccountId,
        client: &LookupHash,
    ) -> Result<bool, StoreError> {
        read!(self, |conn| queries::is_known_client(conn, account, client))
    }

    async fn set_device_connections(
        &self,
        account: AccountId,
        device: DeviceId,
        connections: &[String],
    ) -> Result<bool, StoreError> {
        let connections = connections.to_vec();
        write!(self, move |conn| async {
            queries::set_device_connections(conn, account, device, &connections)
                .await
                .map_err(map_err)
        })
    }

    async fn register_device_key(
        &self,
        device: DeviceId,
        kid: &str,
        x: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let (kid, x) = (kid.to_owned(), x.to_owned());
        write!(self, move |conn| async {
            queries::register_device_key(conn, device, &kid, &x, now)
                .await
                .map_err(map_err)
        })
    }

    async fn device_key(&self, kid: &str) -> Result<Option<DeviceKeyRecord>, StoreError> {
        read!(self, |conn| queries::device_key(conn, kid))
    }

    async fn signing_key_generations(&self) -> Result<Vec<(u32, UnixTime)>, StoreError> {
        read!(self, |conn| queries::signing_key_generations(conn))
    }

    async fn add_signing_key_generation(&self, now: UnixTime) -> Result<u32, StoreError> {
        write!(self, move |conn| async {
            queries::add_signing_key_generation(conn, now)
                .await
                .map_err(map_err)
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        read!(self, |conn| queries::ping(conn))
    }

    async fn delete_expired_nonces(&self, now: UnixTime) -> Result<u64, StoreError> {
        write!(self, move |conn| async {
            queries::delete_expired_nonces(conn, now)
                .await
                .map_err(map_err)
        })
    }

    async fn nonce_is_live(
        &self,
        nonce: &str,
        client: &LookupHash,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        read!(self, |conn| queries::nonce_is_live(
            conn, nonce, client, now
        ))
    }

    async fn insert_nonce(
        &self,
        nonce: &str,
        client: &LookupHash,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        let (nonce, client) = (nonce.to_owned(), client.clone());
        write!(self, move |conn| async {
            queries::insert_nonce(conn, &nonce, &client, expires_at)
                .await
                .map_err(map_err)
        })
    }

    async fn use_nonce(
        &self,
        nonce: &str,
        client: &LookupHash,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let (nonce, client) = (nonce.to_owned(), client.clone());
        write!(self, move |conn| async {
            queries::use_nonce(conn, &nonce, &client, now)
                .await
                .map_err(map_err)
        })
    }

    async fn reserve(&self, spends: &[Spend], now: UnixTime) -> Result<Reservation, StoreError> {
        let spends = spends.to_vec();
        write!(self, move |conn| async {
            queries::reserve(conn, &spends, now).await.map_err(map_err)
        })
    }

    async fn refund(&self, spends: &[i64]) -> Result<(), StoreError> {
        let spends = spends.to_vec();
        write!(self, move |conn| async {
            queries::refund(conn, &spends).await.map_err(map_err)
        })
    }

    async fn forgive(&self, key: &LookupHash) -> Result<(), StoreError> {
        let key = key.clone();
        write!(self, move |conn| async {
            queries::forgive(conn, &key).await.map_err(map_err)
        })
    }

    async fn delete_spends_before(
        &self,
        before: UnixTime,
        forget_clients_before: UnixTime,
    ) -> Result<u64, StoreError> {
        write!(self, move |conn| async {
            queries::delete_spends_before(conn, before, forget_clients_before)
                .await
                .map_err(map_err)
        })
    }

    async fn set_application(&self, application: &Application) -> Result<bool, StoreError> {
        let application = application.clone();
        write!(self, move |conn| async {
            queries::set_application(conn, &application)
                .await
                .map_err(map_err)
        })
    }

    async fn insert_refresh_token(
        &self,
        device: DeviceId,
        hash: &LookupHash,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let hash = hash.clone();
        write!(self, move |conn| async {
            queries::insert_refresh_token(conn, device, &hash, now)
                .await
                .map_err(map_err)
        })
    }

    async fn rotate_refresh_token(&self, rotation: &Rotation) -> Result<Rotated, StoreError> {
        let rotation = rotation.clone();
        write!(self, move |conn| async {
            queries::rotate_refresh_token(conn, &rotation)
                .await
                .map_err(map_err)
        })
    }

    async fn set_token_expiry(&self, hash: &LookupHash, at: UnixTime) -> Result<(), StoreError> {
        let hash = hash.clone();
        write!(self, move |conn| async {
            queries::set_token_expiry(conn, &hash, at)
                .await
                .map_err(map_err)
        })
    }

    async fn revoke_refresh_token(
        &self,
        application: &ApplicationId,
        hash: &LookupHash,
    ) -> Result<bool, StoreError> {
        let (application, hash) = (application.clone(), hash.clone());
        write!(self, move |conn| async {
            queries::revoke_refresh_token(conn, &application, &hash)
                .await
                .map_err(map_err)
        })
    }

    async fn account_by_id(&self, id: AccountId) -> Result<Option<AccountRecord>, StoreError> {
        read!(self, |conn| queries::account_by_id(conn, id))
    }

    async fn account_overview(&self) -> Result<Vec<AccountOverview>, StoreError> {
        read!(self, |conn| queries::account_overview(conn))
    }

    async fn change_account(
        &self,
        account: AccountId,
        change: &AccountChange,
        event: Option<&SecurityEvent>,
    ) -> Result<Option<Vec<DeviceId>>, StoreError> {
        let (change, event) = (change.clone(), event.cloned());
        write!(self, move |conn| async {
            queries::change_account(conn, account, &change, event.as_ref())
                .await
                .map_err(map_err)
        })
    }

    async fn accept_totp_step(&self, account: AccountId, step: i64) -> Result<bool, StoreError> {
        write!(self, move |conn| async {
            queries::accept_totp_step(conn, account, step)
                .await
                .map_err(map_err)
        })
    }

    async fn use_recovery_code(
        &self,
        account: AccountId,
        hash: &LookupHash,
    ) -> Result<bool, StoreError> {
        let hash = hash.clone();
        write!(self, move |conn| async {
            queries::use_recovery_code(conn, account, &hash)
                .await
                .map_err(map_err)
        })
    }

    async fn recovery_codes_left(&self, account: AccountId) -> Result<u32, StoreError> {
        read!(self, |conn| queries::recovery_codes_left(conn, account))
    }

    async fn delete_account(&self, account: AccountId) -> Result<Option<Vec<PinId>>, StoreError> {
        write!(self, move |conn| async {
            queries::delete_account(conn, account)
                .await
                .map_err(map_err)
        })
    }

    async fn log_event(&self, event: &SecurityEvent) -> Result<(), StoreError> {
        let event = event.clone();
        write!(self, move |conn| async {
            queries::log_event(conn, &event).await.map_err(map_err)
        })
    }

    async fn security_log(
        &self,
        account: AccountId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        read!(self, |conn| queries::security_log(
            conn, account, before, limit
        ))
    }

    async fn insert_password_reset(&self, reset: &PasswordReset) -> Result<(), StoreError> {
        let reset = reset.clone();
        write!(self, move |conn| async {
            queries::insert_password_reset(conn, &reset)
                .await
                .map_err(map_err)
        })
    }

    async fn password_reset(
        &self,
        hash: &LookupHash,
        now: UnixTime,
    ) -> Result<Option<PasswordReset>, StoreError> {
        read!(self, |conn| queries::password_reset(conn, hash, now))
    }

    async fn complete_password_reset(
        &self,
        hash: &LookupHash,
        password_hash: &str,
        event: &SecurityEvent,
    ) -> Result<Option<(AccountId, Vec<DeviceId>)>, StoreError> {
        let (hash, password_hash, event) = (hash.clone(), password_hash.to_owned(), event.clone());
        write!(self, move |conn| async {
            queries::complete_password_reset(conn, &hash, &password_hash, &event)
                .await
                .map_err(map_err)
        })
    }

    async fn insert_passkey(&self, passkey: &PasskeyRecord) -> Result<i64, StoreError> {
        let passkey = passkey.clone();
        write!(self, move |conn| async {
            queries::insert_passkey(conn, &passkey)
                .await
                .map_err(map_err)
        })
    }

    async fn passkeys(&self, account: AccountId) -> Result<Vec<PasskeyRecord>, StoreError> {
        read!(self, |conn| queries::passkeys(conn, account))
    }

    async fn passkey_for_sign_in(
        &self,
        handle: &str,
        credential_id: &[u8],
    ) -> Result<Option<(AccountRecord, PasskeyRecord)>, StoreError> {
        read!(self, |conn| queries::passkey_for_sign_in(
            conn,
            handle,
            credential_id
        ))
    }

    async fn passkey_used(&self, id: i64, passkey: &str, now: UnixTime) -> Result<(), StoreError> {
        let passkey = passkey.to_owned();
        write!(self, move |conn| async {
            queries::passkey_used(conn, id, &passkey, now)
                .await
                .map_err(map_err)
        })
    }

    async fn delete_passkey(
        &self,
        account: AccountId,
        id: i64,
    ) -> Result<Option<String>, StoreError> {
        write!(self, move |conn| async {
            queries::delete_passkey(conn, account, id)
                .await
                .map_err(map_err)
        })
    }

    async fn insert_ceremony(&self, ceremony: &CeremonyRecord) -> Result<(), StoreError> {
        let ceremony = ceremony.clone();
        write!(self, move |conn| async {
            queries::insert_ceremony(conn, &ceremony)
                .await
                .map_err(map_err)
        })
    }

    async fn take_ceremony(
        &self,
        hash: &LookupHash,
        now: UnixTime,
    ) -> Result<Option<CeremonyRecord>, StoreError> {
        let hash = hash.clone();
        write!(self, move |conn| async {
            queries::take_ceremony(conn, &hash, now)
                .await
                .map_err(map_err)
        })
    }

    async fn delete_stale_account_data(
        &self,
        now: UnixTime,
        log_before: UnixTime,
    ) -> Result<(), StoreError> {
        write!(self, move |conn| async {
            queries::delete_stale_account_data(conn, now, log_before)
                .await
                .map_err(map_err)
        })
    }

    fn outside_changes(&self) -> u64 {
        self.outside.as_ref().map_or(0, OutsideChanges::read)
    }

    fn announce_outside_change(&self) {
        if let Some(outside) = &self.outside {
            outside.announce();
        }
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// The file beside the database (`FILE-changes`) through which an
/// operator's command tells a running server that accounts or tokens
/// changed: 8 bytes, rewritten with a new random value by every such
/// command, read (one `pread`) before the server answers from what it holds
/// in memory ([`Store::outside_changes`]). SQLite itself has no such
/// signal a reader could check for free: its own counters move with the
/// server's own writes too.
struct OutsideChanges {
    file: std::fs::File,
}

impl OutsideChanges {
    fn open(database: &std::path::Path) -> Option<OutsideChanges> {
        let mut path = database.as_os_str().to_owned();
        path.push("-changes");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                tracing::warn!(path = ?path, error = %e, "cannot open the file that carries operators' changes; \
                    a running server will see them only after a restart")
            })
            .ok()?;
        Some(OutsideChanges { file })
    }

    fn read(&self) -> u64 {
        use std::os::unix::fs::FileExt;
        let mut bytes = [0u8; 8];
        match self.file.read_at(&mut bytes, 0) {
            Ok(8) => u64::from_le_bytes(bytes),
            _ => 0,
        }
    }

    fn announce(&self) {
        use rand::RngCore;
        use std::os::unix::fs::FileExt;
        let value = rand::thread_rng().next_u64() | 1;
        if let Err(e) = self.file.write_all_at(&value.to_le_bytes(), 0) {
            tracing::warn!(error = %e, "cannot tell running servers of the change; they see it after a restart");
        }
    }
}
