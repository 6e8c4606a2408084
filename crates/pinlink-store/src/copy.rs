//! `pinlink copy`: everything pinlink stores, from one database to another
//! (SQLite to PostgreSQL, or back): accounts and their credentials,
//! devices and tokens, applications, pins, signing generations, budgets,
//! the security log. Tokens keep working on the target because they are
//! kept as keyed hashes and sealed copies under the server key, which the
//! copy does not touch: the same key file goes with the data.
//!
//! All or nothing: the source is read in one snapshot, the target written
//! in one transaction, the rows counted on both sides before it commits. A
//! target that already holds data is refused, so a copy that failed (and
//! rolled back) can simply be run again.
//!
//! [`TABLES`] names every table and column; a test checks it against the
//! schemas both backends' migrations make, so a migration that adds a
//! column fails that test until the copy knows the column.

use std::str::FromStr;

use pinlink_core::StoreError;
use sqlx::{ConnectOptions, Connection};

use crate::backend::{Db, Statement};
use crate::rows::Columns;
use crate::{backend, map_err, Backend, StoreOptions};

/// How a column is read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Bytes,
    Flag,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
}

#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
    /// The order rows are read (and, for tokens, numbered) in.
    pub order_by: &'static str,
    /// A PostgreSQL identity column given explicitly: inserted with
    /// `OVERRIDING SYSTEM VALUE`, and its sequence moved past the copied
    /// rows.
    pub identity: Option<&'static str>,
}

const fn c(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        nullable: false,
    }
}

const fn null(name: &'static str, kind: Kind) -> Column {
    Column {
        name,
        kind,
        nullable: true,
    }
}

use Kind::{Bytes, Flag, Int, Text};

/// Every table pinlink keeps, parents before children. PostgreSQL's
/// `tokens.seq` (the order tokens were issued in) is not copied: it is
/// numbered anew, in the order of the source's tokens.
pub const TABLES: &[Table] = &[
    Table {
        name: "accounts",
        columns: &[
            c("id", Int),
            c("uuid", Text),
            c("username", Text),
            c("email", Text),
            c("password_hash", Text),
            c("created_at", Int),
            c("disabled", Flag),
            null("totp_sealed", Bytes),
            c("totp_last_step", Int),
            null("totp_pending_sealed", Bytes),
            null("passkey_handle", Text),
        ],
        order_by: "id",
        identity: Some("id"),
    },
    Table {
        name: "oauth_clients",
        columns: &[
            c("client_id", Text),
            c("name", Text),
            null("secret_hash", Bytes),
            c("created_at", Int),
            c("access_token_lifetime", Int),
            c("id_token_alg", Text),
        ],
        order_by: "client_id",
        identity: None,
    },
    Table {
        name: "jwt_signing_keys",
        columns: &[c("generation", Int), c("created_at", Int)],
        order_by: "generation",
        identity: None,
    },
    Table {
        name: "devices",
        columns: &[
            c("id", Int),
            c("account_id", Int),
            c("client_identifier", Text),
            c("product", Text),
            c("version", Text),
            c("platform", Text),
            c("platform_version", Text),
            c("device", Text),
            c("device_name", Text),
            c("model", Text),
            c("vendor", Text),
            c("created_at", Int),
            c("last_seen_at", Int),
            c("provides", Text),
            c("connections", Text),
            null("oauth_client", Text),
            c("scope", Text),
            null("auth_time", Int),
        ],
        order_by: "id",
        identity: Some("id"),
    },
    Table {
        name: "tokens",
        columns: &[
            c("hash", Bytes),
            c("device_id", Int),
            c("sealed", Bytes),
            c("created_at", Int),
            null("expires_at", Int),
        ],
        // Issue order (SQLite's rowid, PostgreSQL's seq), then the key.
        order_by: "created_at, device_id, hash",
        identity: None,
    },
    Table {
        name: "refresh_tokens",
        columns: &[
            c("hash", Bytes),
            c("device_id", Int),
            c("used", Flag),
            c("created_at", Int),
        ],
        order_by: "hash",
        identity: None,
    },
    Table {
        name: "device_keys",
        columns: &[
            c("kid", Text),
            c("device_id", Int),
            c("x", Text),
            c("created_at", Int),
            c("seq", Int),
        ],
        order_by: "kid",
        identity: None,
    },
    Table {
        name: "known_clients",
        columns: &[
            c("account_id", Int),
            c("client_hash", Bytes),
            c("seen_at", Int),
        ],
        order_by: "account_id, client_hash",
        identity: None,
    },
    Table {
        name: "pins",
        columns: &[
            c("id", Int),
            c("code_hash", Bytes),
            c("code_sealed", Bytes),
            c("strong", Flag),
            c("client_identifier", Text),
            c("product", Text),
            c("version", Text),
            c("platform", Text),
            c("platform_version", Text),
            c("device", Text),
            c("device_name", Text),
            c("model", Text),
            c("vendor", Text),
            c("requester_ip", Text),
            c("created_at", Int),
            c("expires_at", Int),
            null("token_sealed", Bytes),
            null("linked_account", Int),
            c("requester_net", Text),
            c("jwk", Text),
            c("provides", Text),
            null("oauth_client", Text),
            c("application_name", Text),
            null("device_code_hash", Bytes),
            c("scope", Text),
            c("denied", Flag),
        ],
        order_by: "id",
        identity: None,
    },
    Table {
        name: "jwt_nonces",
        columns: &[
            c("nonce", Text),
            c("client", Bytes),
            c("expires_at", Int),
            c("used", Flag),
        ],
        order_by: "nonce",
        identity: None,
    },
    Table {
        name: "spends",
        columns: &[c("id", Int), c("key", Bytes), c("at", Int)],
        order_by: "id",
        identity: Some("id"),
    },
    Table {
        name: "recovery_codes",
        columns: &[c("account_id", Int), c("code_hash", Bytes)],
        order_by: "account_id, code_hash",
        identity: None,
    },
    Table {
        name: "passkeys",
        columns: &[
            c("id", Int),
            c("account_id", Int),
            c("credential_id", Bytes),
            c("name", Text),
            c("passkey", Text),
            c("created_at", Int),
            null("last_used_at", Int),
        ],
        order_by: "id",
        identity: Some("id"),
    },
    Table {
        name: "passkey_ceremonies",
        columns: &[
            c("hash", Bytes),
            null("account_id", Int),
            c("state", Text),
            c("expires_at", Int),
        ],
        order_by: "hash",
        identity: None,
    },
    Table {
        name: "password_resets",
        columns: &[
            c("hash", Bytes),
            c("account_id", Int),
            c("drop_two_step", Flag),
            c("expires_at", Int),
        ],
        order_by: "hash",
        identity: None,
    },
    Table {
        name: "security_log",
        columns: &[
            c("id", Int),
            c("account_id", Int),
            c("at", Int),
            c("kind", Text),
            c("address", Text),
            c("client", Text),
            c("detail", Text),
        ],
        order_by: "id",
        identity: Some("id"),
    },
];

/// Rows read (and written) at a time.
const BATCH: i64 = 5_000;

/// What a copy moved: rows per table, in [`TABLES`]' order.
#[derive(Debug, Clone, Default)]
pub struct CopyReport {
    pub rows: Vec<(&'static str, u64)>,
}

/// One value of a row, owned between the read and the write.
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    Flag(bool),
}

/// A connection of either backend.
enum Connected {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Connected {
    async fn open(url: &str, create: bool) -> Result<Connected, StoreError> {
        match backend(url)? {
            Backend::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Other(format!("bad SQLite URL: {e}")))?
                    .create_if_missing(create)
                    .foreign_keys(true)
                    .busy_timeout(std::time::Duration::from_secs(5));
                Ok(Connected::Sqlite(options.connect().await.map_err(map_err)?))
            }
            Backend::Postgres => Ok(Connected::Postgres(
                sqlx::PgConnection::connect(url).await.map_err(map_err)?,
            )),
        }
    }

    fn is_postgres(&self) -> bool {
        matches!(self, Connected::Postgres(_))
    }
}

/// Runs `$body` with `$conn` bound to the connection inside, whichever
/// backend it is (the bodies are generic over [`Db`]).
macro_rules! on {
    ($connected:expr, |$conn:ident| $body:expr) => {
        match $connected {
            Connected::Sqlite($conn) => $body,
            Connected::Postgres($conn) => $body,
        }
    };
}

/// Copies everything from `from` to `to` (each migrated to this pinlink's
/// schema first; the target created if it is a new SQLite file).
/// `progress` hears what is happening, for a person watching.
pub async fn copy(
    from: &str,
    to: &str,
    options: &StoreOptions,
    mut progress: impl FnMut(&str),
) -> Result<CopyReport, StoreError> {
    if from == to {
        return Err(StoreError::Other(
            "the source and the target are the same database".into(),
        ));
    }
    if let Backend::Sqlite = backend(from)? {
        let path = sqlx::sqlite::SqliteConnectOptions::from_str(from)
            .map_err(|e| StoreError::Other(format!("bad SQLite URL: {e}")))?
            .get_filename()
            .to_owned();
        if !path.exists() {
            return Err(StoreError::Other(format!(
                "there is no database at {}",
                path.display()
            )));
        }
    }
    progress("bringing both databases to this pinlink's schema");
    crate::migrate(from, options).await?;
    crate::migrate(to, options).await?;

    let mut source = Connected::open(from, false).await?;
    let mut target = Connected::open(to, true).await?;
    let held: Vec<String> = {
        let mut held = Vec::new();
        for table in TABLES {
            let n = on!(&mut target, |conn| count(conn, table.name).await)?;
            if n > 0 {
                held.push(format!("{}: {n}", table.name));
            }
        }
        held
    };
    if !held.is_empty() {
        return Err(StoreError::Other(format!(
            "the target already holds data ({}); pinlink copies only into an empty database",
            held.join(", ")
        )));
    }

    // One snapshot of the source; one transaction on the target.
    let snapshot = if source.is_postgres() {
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    } else {
        "BEGIN"
    };
    on!(&mut source, |conn| Statement::new(snapshot)
        .execute(conn)
        .await)
    .map_err(map_err)?;
    on!(&mut target, |conn| Statement::new("BEGIN")
        .execute(conn)
        .await)
    .map_err(map_err)?;
    let copied = copy_tables(&mut source, &mut target, &mut progress).await;
    let report = match copied {
        Ok(report) => report,
        Err(e) => {
            // Nothing of it stays: the target is as empty as it was.
            let _ = on!(&mut target, |conn| Statement::new("ROLLBACK")
                .execute(conn)
                .await);
            return Err(e);
        }
    };
    on!(&mut target, |conn| Statement::new("COMMIT")
        .execute(conn)
        .await)
    .map_err(map_err)?;
    let _ = on!(&mut source, |conn| Statement::new("COMMIT")
        .execute(conn)
        .await);
    Ok(report)
}

async fn copy_tables(
    source: &mut Connected,
    target: &mut Connected,
    progress: &mut impl FnMut(&str),
) -> Result<CopyReport, StoreError> {
    let postgres_target = target.is_postgres();
    let mut report = CopyReport::default();
    for table in TABLES {
        let expected = on!(&mut *source, |conn| count(conn, table.name).await)?;
        progress(&format!("{}: {expected} rows", table.name));
        let names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
        let select_sql = format!(
            "SELECT {} FROM {} ORDER BY {} LIMIT $1 OFFSET $2",
            names.join(", "),
            table.name,
            table.order_by
        );
        let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        let overriding = if postgres_target && table.identity.is_some() {
            " OVERRIDING SYSTEM VALUE"
        } else {
            ""
        };
        let insert_sql = format!(
            "INSERT INTO {} ({}){overriding} VALUES ({})",
            table.name,
            names.join(", "),
            placeholders.join(", ")
        );
        let mut done: u64 = 0;
        loop {
            let rows = on!(&mut *source, |conn| read_batch(
                conn,
                &select_sql,
                table,
                done
            )
            .await)?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                on!(&mut *target, |conn| write_row(conn, &insert_sql, row).await)?;
            }
            done += rows.len() as u64;
            if expected > BATCH as u64 {
                progress(&format!("{}: {done} of {expected}", table.name));
            }
        }
        let written = on!(&mut *target, |conn| count(conn, table.name).await)?;
        if written != expected || done != expected {
            return Err(StoreError::Other(format!(
                "{}: the source has {expected} rows, {done} were read and the target has \
                 {written}; nothing was copied",
                table.name
            )));
        }
        if let (true, Some(column)) = (postgres_target, table.identity) {
            let restart = format!(
                "SELECT setval(pg_get_serial_sequence('{0}', '{column}'), \
                 COALESCE((SELECT max({column}) FROM {0}), 0) + 1, false)",
                table.name
            );
            on!(&mut *target, |conn| Statement::new(&restart)
                .execute(conn)
                .await)
            .map_err(map_err)?;
        }
        report.rows.push((table.name, written));
    }
    Ok(report)
}

async fn count<C: Db + ?Sized>(conn: &mut C, table: &str) -> Result<u64, StoreError> {
    let sql = format!("SELECT count(*) AS n FROM {table}");
    let row = Statement::new(&sql)
        .fetch_one(conn)
        .await
        .map_err(map_err)?;
    Ok(row.int("n").map_err(map_err)?.max(0) as u64)
}

async fn read_batch<C: Db + ?Sized>(
    conn: &mut C,
    sql: &str,
    table: &Table,
    offset: u64,
) -> Result<Vec<Vec<Value>>, StoreError> {
    let rows = Statement::new(sql)
        .int(BATCH)
        .int(offset as i64)
        .fetch_all(conn)
        .await
        .map_err(map_err)?;
    rows.iter()
        .map(|row| {
            table
                .columns
                .iter()
                .map(|column| read_value(row, column))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Other(format!("reading {}: {e}", table.name)))
}

fn read_value(row: &dyn Columns, column: &Column) -> Result<Value, sqlx::Error> {
    Ok(match (column.kind, column.nullable) {
        (Kind::Int, false) => Value::Int(Some(row.int(column.name)?)),
        (Kind::Int, true) => Value::Int(row.opt_int(column.name)?),
        (Kind::Text, false) => Value::Text(Some(row.text(column.name)?)),
        (Kind::Text, true) => Value::Text(row.opt_text(column.name)?),
        (Kind::Bytes, false) => Value::Bytes(Some(row.required_bytes(column.name)?)),
        (Kind::Bytes, true) => Value::Bytes(row.bytes(column.name)?),
        (Kind::Flag, _) => Value::Flag(row.flag(column.name)?),
    })
}

async fn write_row<C: Db + ?Sized>(
    conn: &mut C,
    sql: &str,
    row: &[Value],
) -> Result<(), StoreError> {
    let mut statement = Statement::new(sql);
    for value in row {
        statement = match value {
            Value::Int(v) => statement.opt_int(*v),
            Value::Text(v) => statement.opt_text(v.as_deref()),
            Value::Bytes(v) => statement.opt_bytes(v.as_deref()),
            Value::Flag(v) => statement.flag(*v),
        };
    }
    statement.execute(conn).await.map_err(map_err)?;
    Ok(())
}
