//! Throwaway PostgreSQL databases for tests (the contract suite here, the
//! multi-instance tests in pinlink-server).
//!
//! `scripts/test` starts a scratch cluster and sets `PINLINK_TEST_POSTGRES`
//! to its admin URL, and `PINLINK_REQUIRE_POSTGRES=1` so that a missing
//! cluster fails the run instead of skipping the PostgreSQL tests. A plain
//! `cargo test` without a cluster skips them, saying so.

use sqlx::{Connection, Executor, PgConnection};

/// The admin URL of the test cluster, or `None` (with a note on stderr) when
/// there is none and none is required.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("PINLINK_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("PINLINK_REQUIRE_POSTGRES").as_deref() == Ok("1") => {
            panic!("PINLINK_REQUIRE_POSTGRES=1 but PINLINK_TEST_POSTGRES is not set")
        }
        _ => {
            eprintln!(
                "PINLINK_TEST_POSTGRES is not set: skipping PostgreSQL (scripts/test runs it)"
            );
            None
        }
    }
}

/// Creates an empty database on the test cluster and returns its URL.
pub async fn fresh_postgres_database() -> Option<String> {
    let admin = postgres_admin_url()?;
    let name = format!("pinlink_test_{}", uuid_like());
    let mut conn = PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test cluster: {e}"));
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot create a test database: {e}"));
    let _ = conn.close().await;
    let base = admin
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin);
    Some(format!("{base}/{name}"))
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}_{nanos}_{n}", std::process::id())
}
