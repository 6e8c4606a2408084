//! Group commit for SQLite: every write goes through one writer connection,
//! on a thread of its own, and the writes that queued up while the previous
//! commit was being flushed are committed together, with one fsync.
//!
//! A write is acknowledged only after the COMMIT that contains it returned
//! (with `synchronous = FULL`, after the fsync), so group commit changes
//! throughput, not durability. Each write runs inside its own SAVEPOINT, so
//! one failing write (a unique-key conflict, say) rolls back alone and the
//! others in the batch still commit. Writes run one after another on this
//! one connection, so a write that reads and then writes (a budget's check
//! and spend, a cap's count and insert) is atomic with respect to all others.
//!
//! The connection is a plain `rusqlite` one, used from this thread only:
//! a whole batch runs without a single context switch, where through sqlx
//! every statement would be a round trip to another thread.

use std::sync::mpsc;

use pinlink_core::StoreError;

/// Called once the batch's COMMIT finished: `None` when it succeeded.
type Finish = Box<dyn FnOnce(Option<&StoreError>) + Send>;
/// Runs on the writer connection; says whether it succeeded, and how to
/// answer its caller once the batch is committed.
type Job = Box<dyn FnOnce(&mut rusqlite::Connection) -> (bool, Finish) + Send>;

/// Most writes committed in one transaction: bounds how long one COMMIT
/// keeps the others waiting.
const MAX_BATCH: usize = 512;

pub struct Writer {
    jobs: mpsc::SyncSender<Job>,
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
    /// Starts the writer thread on `connection`.
    pub fn start(connection: rusqlite::Connection) -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(4096);
        std::thread::Builder::new()
            .name("pinlink-sqlite-writer".into())
            .spawn(move || run(connection, queue))
            .map_err(|e| StoreError::Other(format!("cannot start the SQLite writer: {e}")))?;
        Ok(Writer { jobs })
    }

    /// Runs `write` on the writer connection inside the next batch and
    /// returns its result once that batch is durably committed.
    pub async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |connection| {
            let result = write(connection);
            let ok = result.is_ok();
            let finish: Finish = Box::new(move |commit: Option<&StoreError>| {
                let _ = reply.send(match (result, commit) {
                    (Err(e), _) => Err(e),
                    (Ok(_), Some(failed)) => Err(copy(failed)),
                    (Ok(value), None) => Ok(value),
                });
            });
            (ok, finish)
        });
        let stopped = || StoreError::Unavailable("the database writer has stopped".into());
        // The queue is bounded: when it is full, wait (off the async
        // workers) until the writer catches up.
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(job)) => {
                let jobs = self.jobs.clone();
                tokio::task::spawn_blocking(move || jobs.send(job))
                    .await
                    .map_err(|_| stopped())?
                    .map_err(|_| stopped())?;
            }
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(stopped()),
        }
        answer.await.map_err(|_| stopped())?
    }
}

fn run(mut connection: rusqlite::Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = connection.execute_batch("BEGIN IMMEDIATE") {
            let e = crate::map_err(crate::backend::sqlite_error(e));
            tracing::warn!(error = %e, "cannot begin a write transaction");
            for job in batch {
                // Run it only to reach its reply slot, inside a savepoint
                // that is rolled back at once; its caller gets the failure.
                let _ = connection.execute_batch("SAVEPOINT failed");
                let (_, finish) = job(&mut connection);
                let _ = connection.execute_batch("ROLLBACK TO failed; RELEASE failed");
                finish(Some(&e));
            }
            continue;
        }
        let mut finishes = Vec::with_capacity(batch.len());
        for job in batch {
            let savepoint = connection.execute_batch("SAVEPOINT job");
            let (ok, finish) = job(&mut connection);
            let close = if ok && savepoint.is_ok() {
                connection.execute_batch("RELEASE job")
            } else {
                connection.execute_batch("ROLLBACK TO job; RELEASE job")
            };
            if let Err(e) = close {
                tracing::warn!(error = %e, "closing a savepoint failed");
            }
            finishes.push(finish);
        }
        let committed = connection
            .execute_batch("COMMIT")
            .map_err(|e| crate::map_err(crate::backend::sqlite_error(e)));
        if let Err(e) = &committed {
            tracing::warn!(error = %e, "commit failed; the batch was rolled back");
            let _ = connection.execute_batch("ROLLBACK");
        }
        for finish in finishes {
            finish(committed.as_ref().err());
        }
    }
    // Every sender is gone (the store was dropped): close the connection.
    if let Err((_, e)) = connection.close() {
        tracing::warn!(error = %e, "closing the SQLite writer failed");
    }
}
