//! `pinlink copy` knows every table and column the migrations make, on both
//! backends: a migration that adds one fails here until `copy.rs`'s
//! `TABLES` has it (or it would silently stay behind in a copy).

use std::collections::BTreeSet;

use sqlx::{Connection, Row};

/// Columns only one backend has, on purpose.
const BACKEND_ONLY: &[(&str, &str)] = &[
    // PostgreSQL numbers tokens in the order they were issued (SQLite has
    // its rowid): numbered anew by the target.
    ("tokens", "seq"),
];

fn expected() -> BTreeSet<(String, String)> {
    pinlink_store::TABLES
        .iter()
        .flat_map(|t| {
            t.columns
                .iter()
                .map(|c| (t.name.to_owned(), c.name.to_owned()))
        })
        .collect()
}

fn without_backend_only(found: BTreeSet<(String, String)>) -> BTreeSet<(String, String)> {
    found
        .into_iter()
        .filter(|(t, c)| {
            !t.starts_with("_sqlx") && !BACKEND_ONLY.contains(&(t.as_str(), c.as_str()))
        })
        .collect()
}

#[tokio::test]
async fn every_sqlite_column_is_copied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("schema.db").display());
    pinlink_store::migrate(&url, &Default::default())
        .await
        .expect("migrated");
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("opens");
    let rows = sqlx::query(
        "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("columns");
    let found = rows
        .iter()
        .map(|r| (r.get::<String, _>("t"), r.get::<String, _>("c")))
        .collect();
    assert_eq!(without_backend_only(found), expected());
}

#[tokio::test]
async fn every_postgresql_column_is_copied() {
    let Some(url) = pinlink_store::testing::fresh_postgres_database().await else {
        return;
    };
    pinlink_store::migrate(&url, &Default::default())
        .await
        .expect("migrated");
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("opens");
    let rows = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
         WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("columns");
    let found = rows
        .iter()
        .map(|r| (r.get::<String, _>("t"), r.get::<String, _>("c")))
        .collect();
    assert_eq!(without_backend_only(found), expected());
}
