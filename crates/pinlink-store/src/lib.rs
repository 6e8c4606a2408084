//! pinlink's storage adapters: implementations of [`pinlink_core::Store`].
//!
//! [`open`] picks the backend from the database URL once, at start-up; no
//! other code asks which backend it is talking to.

mod group_commit;
mod sqlite;

use std::sync::Arc;

use pinlink_core::{Store, StoreError};

pub use sqlite::SqliteStore;

/// Opens (creating and migrating if needed) the database at `url`.
///
/// - `sqlite://path/to/file.db` (or `sqlite:file.db`): an embedded SQLite file,
///   created on first start. `sqlite::memory:` keeps everything in memory.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Err(StoreError::Other(
            "PostgreSQL is not supported yet in this version of pinlink; use a sqlite:// URL"
                .into(),
        ))
    } else {
        Err(StoreError::Other(format!(
            "unsupported database URL {:?}: expected sqlite://FILE",
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
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
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

#[cfg(test)]
mod tests {
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
