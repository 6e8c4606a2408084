//! Group commit for SQLite: every write goes through one writer connection,
//! and the writes that queued up while the previous commit was being flushed
//! are committed together, with one fsync.
//!
//! A write is acknowledged only after the COMMIT that contains it returned
//! (with `synchronous = FULL`, after the fsync), so group commit changes
//! throughput, not durability. Each write runs inside its own SAVEPOINT, so
//! one failing write (a unique-key conflict, say) rolls back alone and the
//! others in the batch still commit.

use std::future::Future;
use std::pin::Pin;

use pinlink_core::StoreError;
use sqlx::{Connection, Executor, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use crate::map_err;

/// Called once the batch's COMMIT finished: `None` when it succeeded.
type Finish = Box<dyn FnOnce(Option<&StoreError>) + Send>;
type JobFuture = Pin<Box<dyn Future<Output = (SqliteConnection, bool, Finish)> + Send>>;
type Job = Box<dyn FnOnce(SqliteConnection) -> JobFuture + Send>;

/// Most writes committed in one transaction: bounds how long one COMMIT
/// keeps the others waiting.
const MAX_BATCH: usize = 512;

pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

fn copy(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict(what) => StoreError::Conflict(what),
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Other(m) => StoreError::Other(m.clone()),
        StoreError::CapReached { cap, until } => StoreError::CapReached {
            cap: *cap,
            until: *until,
        },
    }
}

impl Writer {
    /// Starts the writer task on `connection`.
    pub fn start(connection: SqliteConnection) -> Writer {
        let (jobs, queue) = mpsc::channel::<Job>(4096);
        tokio::spawn(run(connection, queue));
        Writer { jobs }
    }

    /// Runs `write` on the writer connection inside the next batch and
    /// returns its result once that batch is durably committed.
    pub async fn write<T, F, Fut>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(SqliteConnection) -> Fut + Send + 'static,
        Fut: Future<Output = (SqliteConnection, Result<T, StoreError>)> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            Box::pin(async move {
                let (connection, result) = write(connection).await;
                let ok = result.is_ok();
                let finish: Finish = Box::new(move |commit: Option<&StoreError>| {
                    let _ = reply.send(match (result, commit) {
                        (Err(e), _) => Err(e),
                        (Ok(_), Some(failed)) => Err(copy(failed)),
                        (Ok(value), None) => Ok(value),
                    });
                });
                (connection, ok, finish)
            })
        });
        let stopped = || StoreError::Unavailable("the database writer has stopped".into());
        self.jobs.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(mut connection: SqliteConnection, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = connection.execute("BEGIN IMMEDIATE").await {
            let e = map_err(e);
            tracing::warn!(error = %e, "cannot begin a write transaction");
            for job in batch {
                // Run nothing; answer every job with the failure.
                let (c, _, finish) = job_failed(job, connection).await;
                connection = c;
                finish(Some(&e));
            }
            continue;
        }
        let mut finishes = Vec::with_capacity(batch.len());
        for job in batch {
            let savepoint = connection.execute("SAVEPOINT job").await;
            let (c, ok, finish) = job(connection).await;
            connection = c;
            let close = if ok && savepoint.is_ok() {
                connection.execute("RELEASE job").await
            } else {
                connection.execute("ROLLBACK TO job; RELEASE job").await
            };
            if let Err(e) = close {
                tracing::warn!(error = %e, "closing a savepoint failed");
            }
            finishes.push(finish);
        }
        let committed = connection
            .execute("COMMIT")
            .await
            .map(|_| ())
            .map_err(map_err);
        if let Err(e) = &committed {
            tracing::warn!(error = %e, "commit failed; the batch was rolled back");
            let _ = connection.execute("ROLLBACK").await;
        }
        for finish in finishes {
            finish(committed.as_ref().err());
        }
    }
    let _ = connection.close().await;
}

/// A job whose batch could not begin. It still runs (that is the only way to
/// reach its reply slot), inside a savepoint that is rolled back at once, and
/// its caller gets the failure.
async fn job_failed(
    job: Job,
    mut connection: SqliteConnection,
) -> (SqliteConnection, bool, Finish) {
    let _ = connection.execute("SAVEPOINT failed").await;
    let (mut connection, ok, finish) = job(connection).await;
    let _ = connection
        .execute("ROLLBACK TO failed; RELEASE failed")
        .await;
    (connection, ok, finish)
}
