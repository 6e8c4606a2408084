//! pinlink's storage adapters: implementations of [`pinlink_core::Store`].
//!
//! [`open`] picks the backend from the database URL once, at start-up; no
//! other code asks which backend it is talking to.

mod backend;
mod backup;
mod copy;
mod group_commit;
mod postgres;
mod queries;
mod rows;

mod sql;
mod sqlite;
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use pinlink_core::{Store, StoreError};

pub use backup::{backup_sqlite, BackupReport};
pub use copy::{copy, CopyReport, TABLES};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Tuning for server databases (PostgreSQL); SQLite ignores it.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections per instance (one of them listens for other instances'
    /// changes). Several instances multiply this against the server's
    /// `max_connections`.
    pub max_connections: u32,
    /// A statement running longer is cancelled and the request gets a 503.
    pub statement_timeout: Duration,
    /// How long a request waits for a connection (for example while the
    /// database is down) before it gets a 503.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 10,
            statement_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// Opens (creating and migrating if needed) the database at `url`.
///
/// - `sqlite://path/to/file.db` (or `sqlite:file.db`): an embedded SQLite file,
///   created on first start. `sqlite::memory:` keeps everything in memory.
/// - `postgres://user:password@host:port/database[?sslmode=require]`:
///   PostgreSQL 15 or newer, shared by any number of instances.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, &StoreOptions::default()).await
}

pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    match backend(url)? {
        Backend::Sqlite => Ok(Arc::new(SqliteStore::connect(url).await?)),
        Backend::Postgres => Ok(Arc::new(PostgresStore::connect(url, options).await?)),
    }
}

/// Applies pending migrations and returns the versions applied now
/// (`pinlink migrate`). `open` does the same at every start.
pub async fn migrate(url: &str, options: &StoreOptions) -> Result<Vec<i64>, StoreError> {
    match backend(url)? {
        Backend::Sqlite => {
            let store = SqliteStore::connect(url).await?;
            store.close().await;
            Ok(Vec::new())
        }
        Backend::Postgres => postgres::migrate_only(url, options).await,
    }
}

enum Backend {
    Sqlite,
    Postgres,
}

fn backend(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::Other(format!(
            "unsupported database URL {:?}: expected sqlite://FILE or postgres://USER@HOST/DATABASE",
            redact_url(url)
        )))
    }
}

/// A database URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(ref db) if db.code().is_some_and(|c| server_unavailable(&c)) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let msg = db.message().to_owned();
            StoreError::Conflict(if msg.contains("username") {
                "username"
            } else if msg.contains("email") {
                "e-mail"
            } else if msg.contains("code_hash") {
                "pin code"
            } else {
                "id"
            })
        }
        other => StoreError::Other(other.to_string()),
    }
}

/// Refuses a database whose schema a newer pinlink wrote: its newest
/// applied migration is past the newest this binary carries. Running on it
/// would misread what the newer version stored.
fn refuse_newer(applied: Option<i64>, known: i64) -> Result<(), StoreError> {
    match applied {
        Some(version) if version > known => Err(StoreError::Other(format!(
            "this database was written by a newer pinlink (schema version {version}; this \
             pinlink knows versions up to {known}): run that pinlink or a newer one, or restore \
             a backup made with this one"
        ))),
        _ => Ok(()),
    }
}

/// A refused or failed [`queries::insert_pin`].
fn map_refusal(refusal: queries::Refusal) -> StoreError {
    match refusal {
        queries::Refusal::Database(e) => map_err(e),
        queries::Refusal::Cap { cap, until } => StoreError::CapReached { cap, until },
    }
}

/// PostgreSQL error codes that mean "not now" rather than "never": the
/// connection broke (class 08), the server is shutting down or starting
/// (57P01-57P03), too many connections (53300), a statement timed out (57014).
fn server_unavailable(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "57014")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_newer_schema_is_refused_and_an_older_one_is_not() {
        assert!(super::refuse_newer(None, 7).is_ok());
        assert!(super::refuse_newer(Some(3), 7).is_ok());
        assert!(super::refuse_newer(Some(7), 7).is_ok());
        let refused = super::refuse_newer(Some(8), 7).expect_err("newer");
        assert!(refused.to_string().contains("newer pinlink"), "{refused}");
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(
            super::redact_url("sqlite://pinlink.db"),
            "sqlite://pinlink.db"
        );
    }
}
