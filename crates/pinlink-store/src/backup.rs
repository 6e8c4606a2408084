//! `pinlink backup`: a consistent copy of a SQLite database, taken while
//! the server keeps running. SQLite's `VACUUM INTO` reads one snapshot (a
//! read transaction, which in WAL mode never blocks the server's writer)
//! and writes it, compacted, to a new file; the copy is then checked
//! (`PRAGMA integrity_check`) and counted. It is written under a temporary
//! name and renamed when whole, so a failed backup leaves no file that
//! looks like one.
//!
//! The server key is not in the database: a backup is restored with the
//! same key file, kept apart.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use pinlink_core::StoreError;

use crate::copy::TABLES;

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
    /// Rows per table in the copy, in [`TABLES`]' order.
    pub rows: Vec<(&'static str, u64)>,
}

/// Backs up the SQLite database at `url` to the new file `to`.
pub async fn backup_sqlite(url: &str, to: &Path) -> Result<BackupReport, StoreError> {
    let from = sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Other(format!("bad SQLite URL: {e}")))?
        .get_filename()
        .to_owned();
    let to = to.to_owned();
    tokio::task::spawn_blocking(move || back_up(&from, &to))
        .await
        .map_err(|e| StoreError::Other(format!("the backup stopped: {e}")))?
}

fn back_up(from: &Path, to: &Path) -> Result<BackupReport, StoreError> {
    use rusqlite::OpenFlags;
    if !from.exists() {
        return Err(StoreError::Other(format!(
            "there is no database at {}",
            from.display()
        )));
    }
    if to.exists() {
        return Err(StoreError::Other(format!(
            "{} exists already: give a new file (a backup never overwrites one)",
            to.display()
        )));
    }
    crate::sqlite::inspect(from)?;
    let partial = partial_name(to);
    let _ = std::fs::remove_file(&partial);
    let failed = |what: &str, e: rusqlite::Error| {
        StoreError::Other(format!("{what} {}: {e}", from.display()))
    };
    let source = rusqlite::Connection::open_with_flags(
        from,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| failed("cannot open", e))?;
    source
        .busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| failed("cannot open", e))?;
    let written = source
        .execute("VACUUM INTO ?1", [partial.to_string_lossy().as_ref()])
        .map_err(|e| failed("cannot back up", e));
    drop(source);
    let checked = written.and_then(|_| check(&partial));
    let rows = match checked {
        Ok(rows) => rows,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    restrict(&partial);
    std::fs::rename(&partial, to).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        StoreError::Other(format!("cannot name the backup {}: {e}", to.display()))
    })?;
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    Ok(BackupReport {
        path: to.to_owned(),
        bytes,
        rows,
    })
}

/// `FILE.partial` beside `FILE`.
fn partial_name(to: &Path) -> PathBuf {
    let mut name = to.file_name().unwrap_or_default().to_owned();
    name.push(".partial");
    to.with_file_name(name)
}

/// The backup holds password hashes and sealed tokens: only its owner
/// reads it.
fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

/// `PRAGMA integrity_check` on the copy, and its rows per table.
fn check(path: &Path) -> Result<Vec<(&'static str, u64)>, StoreError> {
    let copy = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Other(format!("the backup cannot be opened: {e}")))?;
    let verdict: String = copy
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|e| StoreError::Other(format!("the backup cannot be checked: {e}")))?;
    if verdict != "ok" {
        return Err(StoreError::Other(format!(
            "the backup failed its integrity check: {verdict}"
        )));
    }
    TABLES
        .iter()
        .map(|table| {
            copy.query_row(&format!("SELECT count(*) FROM {}", table.name), [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| (table.name, n.max(0) as u64))
            .map_err(|e| StoreError::Other(format!("the backup cannot be counted: {e}")))
        })
        .collect()
}
