//! What pinlink needs of a database connection, so that every statement's
//! plumbing (binding, running, reading rows) is written once
//! ([`crate::queries`]) for all of them: a [`Statement`] with its
//! parameters, run on a [`Db`].
//!
//! Three connections are a [`Db`]: sqlx's PostgreSQL and SQLite connections
//! (PostgreSQL, and SQLite's readers), and a plain `rusqlite` connection,
//! which SQLite's single writer uses on a thread of its own. Through sqlx
//! every statement is a round trip to the connection's worker thread (two
//! context switches); the writer runs whole batches of writes without one,
//! which is most of what a durable write costs.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::{Database, Executor};

use crate::rows::{Columns, OwnedRow};

/// A boxed future: `impl Future` in a trait trips the compiler's
/// higher-ranked lifetime checks inside `async_trait` methods
/// (rust-lang/rust#100013); one allocation per statement is nothing beside
/// the statement.
pub type Running<'a, T> = Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'a>>;

/// One bound parameter.
#[derive(Debug, Clone, Copy)]
pub enum Param<'q> {
    Int(i64),
    Flag(bool),
    Text(&'q str),
    Bytes(&'q [u8]),
    NullBytes,
    NullText,
    NullInt,
}

/// A statement and its parameters, in the order its `$N` appear.
pub struct Statement<'q> {
    sql: &'q str,
    params: Vec<Param<'q>>,
}

impl<'q> Statement<'q> {
    pub fn new(sql: &'q str) -> Self {
        Statement {
            sql,
            params: Vec::new(),
        }
    }
    pub fn int(mut self, value: i64) -> Self {
        self.params.push(Param::Int(value));
        self
    }
    pub fn flag(mut self, value: bool) -> Self {
        self.params.push(Param::Flag(value));
        self
    }
    pub fn text(mut self, value: &'q str) -> Self {
        self.params.push(Param::Text(value));
        self
    }
    pub fn bytes(mut self, value: &'q [u8]) -> Self {
        self.params.push(Param::Bytes(value));
        self
    }
    pub fn opt_text(mut self, value: Option<&'q str>) -> Self {
        self.params.push(value.map_or(Param::NullText, Param::Text));
        self
    }
    pub fn opt_int(mut self, value: Option<i64>) -> Self {
        self.params.push(value.map_or(Param::NullInt, Param::Int));
        self
    }
    pub fn opt_bytes(mut self, value: Option<&'q [u8]>) -> Self {
        self.params
            .push(value.map_or(Param::NullBytes, Param::Bytes));
        self
    }

    pub async fn fetch_optional<C: Db + ?Sized>(
        self,
        conn: &mut C,
    ) -> Result<Option<C::Row>, sqlx::Error> {
        conn.fetch_optional(self).await
    }
    pub async fn fetch_one<C: Db + ?Sized>(self, conn: &mut C) -> Result<C::Row, sqlx::Error> {
        conn.fetch_optional(self)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }
    pub async fn fetch_all<C: Db + ?Sized>(self, conn: &mut C) -> Result<Vec<C::Row>, sqlx::Error> {
        conn.fetch_all(self).await
    }
    /// The rows it changed.
    pub async fn execute<C: Db + ?Sized>(self, conn: &mut C) -> Result<u64, sqlx::Error> {
        conn.execute(self).await
    }
}

/// A connection statements run on.
pub trait Db: Send {
    type Row: Columns + Send;
    fn fetch_optional<'a>(&'a mut self, statement: Statement<'a>)
        -> Running<'a, Option<Self::Row>>;
    fn fetch_all<'a>(&'a mut self, statement: Statement<'a>) -> Running<'a, Vec<Self::Row>>;
    fn execute<'a>(&'a mut self, statement: Statement<'a>) -> Running<'a, u64>;
}

type SqlxQuery<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>;

macro_rules! sqlx_db {
    ($conn:ty, $db:ty) => {
        impl Db for $conn {
            type Row = <$db as Database>::Row;

            fn fetch_optional<'a>(
                &'a mut self,
                statement: Statement<'a>,
            ) -> Running<'a, Option<Self::Row>> {
                Box::pin(
                    async move { Executor::fetch_optional(&mut *self, bind(&statement)).await },
                )
            }
            fn fetch_all<'a>(
                &'a mut self,
                statement: Statement<'a>,
            ) -> Running<'a, Vec<Self::Row>> {
                Box::pin(async move { Executor::fetch_all(&mut *self, bind(&statement)).await })
            }
            fn execute<'a>(&'a mut self, statement: Statement<'a>) -> Running<'a, u64> {
                Box::pin(async move {
                    Ok(Executor::execute(&mut *self, bind(&statement))
                        .await?
                        .rows_affected())
                })
            }
        }

        impl<'q> BindAll<'q> for $db {
            fn bind_all(statement: &Statement<'q>) -> SqlxQuery<'q, $db> {
                let mut query = sqlx::query(statement.sql);
                for param in &statement.params {
                    query = match *param {
                        Param::Int(v) => query.bind(v),
                        Param::Flag(v) => query.bind(v),
                        Param::Text(v) => query.bind(v),
                        Param::Bytes(v) => query.bind(v),
                        Param::NullBytes => query.bind(None::<&[u8]>),
                        Param::NullText => query.bind(None::<&str>),
                        Param::NullInt => query.bind(None::<i64>),
                    };
                }
                query
            }
        }
    };
}

/// Binds a statement's parameters to a sqlx query of one backend.
trait BindAll<'q>: Database {
    fn bind_all(statement: &Statement<'q>) -> SqlxQuery<'q, Self>;
}

fn bind<'q, DB: BindAll<'q>>(statement: &Statement<'q>) -> SqlxQuery<'q, DB> {
    DB::bind_all(statement)
}

sqlx_db!(sqlx::SqliteConnection, sqlx::Sqlite);
sqlx_db!(sqlx::PgConnection, sqlx::Postgres);

/// SQLite's writer connection: statements run at once, on the calling
/// thread, from a cache of prepared statements. Its futures are always
/// ready ([`run_now`]).
impl Db for rusqlite::Connection {
    type Row = OwnedRow;

    fn fetch_optional<'a>(&'a mut self, statement: Statement<'a>) -> Running<'a, Option<OwnedRow>> {
        let result = query_rows(self, &statement, 1).map(|mut rows| rows.pop());
        Box::pin(std::future::ready(result))
    }
    fn fetch_all<'a>(&'a mut self, statement: Statement<'a>) -> Running<'a, Vec<OwnedRow>> {
        let result = query_rows(self, &statement, usize::MAX);
        Box::pin(std::future::ready(result))
    }
    fn execute<'a>(&'a mut self, statement: Statement<'a>) -> Running<'a, u64> {
        let result = prepared(self, &statement)
            .and_then(|mut prepared| prepared.raw_execute().map_err(sqlite_error))
            .map(|n| n as u64);
        Box::pin(std::future::ready(result))
    }
}

fn prepared<'c>(
    conn: &'c rusqlite::Connection,
    statement: &Statement<'_>,
) -> Result<rusqlite::CachedStatement<'c>, sqlx::Error> {
    let mut prepared = conn.prepare_cached(statement.sql).map_err(sqlite_error)?;
    for (i, param) in statement.params.iter().enumerate() {
        let index = i + 1;
        match *param {
            Param::Int(v) => prepared.raw_bind_parameter(index, v),
            Param::Flag(v) => prepared.raw_bind_parameter(index, v),
            Param::Text(v) => prepared.raw_bind_parameter(index, v),
            Param::Bytes(v) => prepared.raw_bind_parameter(index, v),
            Param::NullBytes | Param::NullText | Param::NullInt => {
                prepared.raw_bind_parameter(index, rusqlite::types::Null)
            }
        }
        .map_err(sqlite_error)?;
    }
    Ok(prepared)
}

fn query_rows(
    conn: &rusqlite::Connection,
    statement: &Statement<'_>,
    at_most: usize,
) -> Result<Vec<OwnedRow>, sqlx::Error> {
    let mut prepared = prepared(conn, statement)?;
    let names: Vec<String> = prepared
        .column_names()
        .iter()
        .map(|n| (*n).to_owned())
        .collect();
    let mut rows = prepared.raw_query();
    let mut out = Vec::new();
    while out.len() < at_most {
        let Some(row) = rows.next().map_err(sqlite_error)? else {
            break;
        };
        out.push(OwnedRow::read(&names, row).map_err(sqlite_error)?);
    }
    Ok(out)
}

/// Runs a future that cannot wait (a [`crate::queries`] body on the
/// `rusqlite` writer connection) to its end; `None` if it did wait, which
/// would be a bug.
pub fn run_now<T>(work: impl Future<Output = T>) -> Option<T> {
    let mut work = std::pin::pin!(work);
    let waker = std::task::Waker::noop();
    match work
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker))
    {
        std::task::Poll::Ready(result) => Some(result),
        std::task::Poll::Pending => None,
    }
}

/// A `rusqlite` error as sqlx reports database errors, so that one mapping
/// (`crate::map_err`) serves every connection: a unique key taken is a
/// unique violation either way.
#[derive(Debug)]
struct SqliteError {
    message: String,
    code: Option<i32>,
    kind: Constraint,
}

#[derive(Debug, Clone, Copy)]
enum Constraint {
    Unique,
    ForeignKey,
    NotNull,
    Check,
    None,
}

impl std::fmt::Display for SqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqliteError {}

impl sqlx::error::DatabaseError for SqliteError {
    fn message(&self) -> &str {
        &self.message
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        self.code.map(|c| Cow::Owned(c.to_string()))
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        use sqlx::error::ErrorKind;
        match self.kind {
            Constraint::Unique => ErrorKind::UniqueViolation,
            Constraint::ForeignKey => ErrorKind::ForeignKeyViolation,
            Constraint::NotNull => ErrorKind::NotNullViolation,
            Constraint::Check => ErrorKind::CheckViolation,
            Constraint::None => ErrorKind::Other,
        }
    }
}

pub fn sqlite_error(e: rusqlite::Error) -> sqlx::Error {
    use rusqlite::ffi;
    match &e {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let kind = match failure.extended_code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    Constraint::Unique
                }
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Constraint::ForeignKey,
                ffi::SQLITE_CONSTRAINT_NOTNULL => Constraint::NotNull,
                ffi::SQLITE_CONSTRAINT_CHECK => Constraint::Check,
                _ => Constraint::None,
            };
            sqlx::Error::Database(Box::new(SqliteError {
                message: message.clone().unwrap_or_else(|| e.to_string()),
                code: Some(failure.extended_code),
                kind,
            }))
        }
        _ => sqlx::Error::Protocol(format!("SQLite: {e}")),
    }
}
