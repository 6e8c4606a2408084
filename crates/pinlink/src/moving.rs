//! `pinlink backup` and `pinlink copy`: keeping the data, and moving it
//! from one database to another.

use std::path::PathBuf;

use anyhow::Context;
use pinlink_store::redact_url;

use crate::data::DataArgs;

/// `pinlink backup --to FILE`: a consistent copy of a running SQLite
/// server's database; on PostgreSQL, the `pg_dump` command to run.
pub async fn backup(data: DataArgs, to: PathBuf) -> anyhow::Result<()> {
    let url = data.database_url()?;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        anyhow::bail!(
            "pinlink backs up SQLite only; PostgreSQL has its own tool, which copies a running \
             database consistently:\n\n    pg_dump --format=custom --file={} '{}'\n\n\
             (give the password in PGPASSWORD or ~/.pgpass), and restore with \
             `pg_restore --dbname=URL {}` into an empty database. Keep the key file too.",
            to.display(),
            redact_url(&url).replace(":***@", "@"),
            to.display()
        );
    }
    eprintln!("backing up {} to {} …", redact_url(&url), to.display());
    let report = pinlink_store::backup_sqlite(&url, &to)
        .await
        .with_context(|| format!("cannot back up {}", redact_url(&url)))?;
    println!(
        "backed up to {} ({} bytes; integrity check: ok)",
        report.path.display(),
        report.bytes
    );
    print_rows(&report.rows);
    let key = data.key_file_path()?;
    println!(
        "The server key is not in it: keep {} too, apart from the backup. To restore, start \
         pinlink with --database sqlite://{} and that key file.",
        key.display(),
        report.path.display()
    );
    Ok(())
}

/// `pinlink copy --from URL --to URL`.
pub async fn copy(from: String, to: String, data: DataArgs) -> anyhow::Result<()> {
    eprintln!("copying {} to {}", redact_url(&from), redact_url(&to));
    let report = pinlink_store::copy(&from, &to, &data.store_options(), |step| {
        eprintln!("  {step}")
    })
    .await
    .with_context(|| {
        format!(
            "cannot copy {} to {} (nothing was written to the target)",
            redact_url(&from),
            redact_url(&to)
        )
    })?;
    println!("copied, every table's rows counted on both sides:");
    print_rows(&report.rows);
    println!(
        "Start pinlink on {} with the same key file: every token, code and password works there.",
        redact_url(&to)
    );
    Ok(())
}

fn print_rows(rows: &[(&str, u64)]) {
    for (table, n) in rows {
        println!("  {table:<20} {n:>10}");
    }
}
