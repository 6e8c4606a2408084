//! What pinlink needs of a sqlx database, so that every statement's
//! plumbing (binding, running, reading rows) is written once for SQLite and
//! PostgreSQL ([`crate::queries`]). Each backend only says how to bind the
//! few parameter types pinlink uses and how to run a statement on one of
//! its connections.

use std::future::Future;
use std::pin::Pin;

use sqlx::{Database, Executor};

use crate::rows::Columns;

pub type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>;

/// A boxed future: `impl Future` in a trait trips the compiler's
/// higher-ranked lifetime checks inside `async_trait` methods
/// (rust-lang/rust#100013); one allocation per statement is nothing beside
/// the statement.
pub type Running<'a, T> = Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'a>>;

pub trait Backend: Database {
    fn bind_int(q: Query<'_, Self>, value: i64) -> Query<'_, Self>;
    fn bind_flag(q: Query<'_, Self>, value: bool) -> Query<'_, Self>;
    fn bind_text<'q>(q: Query<'q, Self>, value: &'q str) -> Query<'q, Self>;
    fn bind_bytes<'q>(q: Query<'q, Self>, value: &'q [u8]) -> Query<'q, Self>;
    fn bind_opt_bytes<'q>(q: Query<'q, Self>, value: Option<&'q [u8]>) -> Query<'q, Self>;

    fn columns(row: &Self::Row) -> &dyn Columns;

    fn fetch_optional<'a, 'q: 'a>(
        conn: &'a mut Self::Connection,
        q: Query<'q, Self>,
    ) -> Running<'a, Option<Self::Row>>;
    fn fetch_all<'a, 'q: 'a>(
        conn: &'a mut Self::Connection,
        q: Query<'q, Self>,
    ) -> Running<'a, Vec<Self::Row>>;
    /// Runs a statement; the rows it changed.
    fn execute<'a, 'q: 'a>(conn: &'a mut Self::Connection, q: Query<'q, Self>) -> Running<'a, u64>;
}

macro_rules! backend_for {
    ($db:ty) => {
        impl Backend for $db {
            fn bind_int(q: Query<'_, Self>, value: i64) -> Query<'_, Self> {
                q.bind(value)
            }
            fn bind_flag(q: Query<'_, Self>, value: bool) -> Query<'_, Self> {
                q.bind(value)
            }
            fn bind_text<'q>(q: Query<'q, Self>, value: &'q str) -> Query<'q, Self> {
                q.bind(value)
            }
            fn bind_bytes<'q>(q: Query<'q, Self>, value: &'q [u8]) -> Query<'q, Self> {
                q.bind(value)
            }
            fn bind_opt_bytes<'q>(q: Query<'q, Self>, value: Option<&'q [u8]>) -> Query<'q, Self> {
                q.bind(value)
            }
            fn columns(row: &Self::Row) -> &dyn Columns {
                row
            }
            fn fetch_optional<'a, 'q: 'a>(
                conn: &'a mut Self::Connection,
                q: Query<'q, Self>,
            ) -> Running<'a, Option<Self::Row>> {
                Box::pin(conn.fetch_optional(q))
            }
            fn fetch_all<'a, 'q: 'a>(
                conn: &'a mut Self::Connection,
                q: Query<'q, Self>,
            ) -> Running<'a, Vec<Self::Row>> {
                Box::pin(conn.fetch_all(q))
            }
            fn execute<'a, 'q: 'a>(
                conn: &'a mut Self::Connection,
                q: Query<'q, Self>,
            ) -> Running<'a, u64> {
                Box::pin(async move { Ok(conn.execute(q).await?.rows_affected()) })
            }
        }
    };
}

backend_for!(sqlx::Sqlite);
backend_for!(sqlx::Postgres);

/// A statement being bound, in the order its `$N` parameters appear.
pub struct Statement<'q, DB: Backend>(pub Query<'q, DB>);

impl<'q, DB: Backend> Statement<'q, DB> {
    pub fn new(sql: &'q str) -> Self {
        Statement(sqlx::query(sql))
    }
    pub fn int(self, value: i64) -> Self {
        Statement(DB::bind_int(self.0, value))
    }
    pub fn flag(self, value: bool) -> Self {
        Statement(DB::bind_flag(self.0, value))
    }
    pub fn text(self, value: &'q str) -> Self {
        Statement(DB::bind_text(self.0, value))
    }
    pub fn bytes(self, value: &'q [u8]) -> Self {
        Statement(DB::bind_bytes(self.0, value))
    }
    pub fn opt_bytes(self, value: Option<&'q [u8]>) -> Self {
        Statement(DB::bind_opt_bytes(self.0, value))
    }
    pub async fn fetch_optional(
        self,
        conn: &mut DB::Connection,
    ) -> Result<Option<DB::Row>, sqlx::Error> {
        DB::fetch_optional(conn, self.0).await
    }
    pub async fn fetch_one(self, conn: &mut DB::Connection) -> Result<DB::Row, sqlx::Error> {
        DB::fetch_optional(conn, self.0)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }
    pub async fn fetch_all(self, conn: &mut DB::Connection) -> Result<Vec<DB::Row>, sqlx::Error> {
        DB::fetch_all(conn, self.0).await
    }
    pub async fn execute(self, conn: &mut DB::Connection) -> Result<u64, sqlx::Error> {
        DB::execute(conn, self.0).await
    }
}
