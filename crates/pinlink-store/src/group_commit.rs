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
//!
//! Checkpoints (copying the WAL back into the database file, with its own
//! fsync) would otherwise run inside a COMMIT every 1000 pages and hold up
//! every write queued behind it; a file database gets a checkpointer thread
//! of its own instead ([`Checkpointer`]), which runs passive checkpoints
//! beside the writer.
//!
//! Passive checkpoints alone never let the WAL shrink under steady writes:
//! SQLite starts the log over only when a write begins after *every* frame
//! was copied back, and with writes arriving all the time the checkpointer
//! never quite catches up (the log grew past 2 GB in 20 s of pin creation).
//! So when a passive checkpoint finds the log longer than [`WAL_LIMIT`], it
//! asks the writer for a `TRUNCATE` checkpoint: between two batches (or
//! after a second with none), the writer copies the rest back, waits for
//! readers to leave the log, and empties the file. Writes wait for that
//! moment; the log stays within a few batches of the limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

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

/// Runs `PRAGMA wal_checkpoint(PASSIVE)` on a connection of its own: it
/// copies what it can without waiting for, or blocking, the writer or any
/// reader. It runs after the writer committed and at least [`PAUSE`] after
/// the last checkpoint, and stops with the writer. When the log is longer
/// than [`WAL_LIMIT`], it asks the writer to empty it.
pub struct Checkpointer {
    connection: rusqlite::Connection,
}

/// Between two checkpoints.
const PAUSE: Duration = Duration::from_millis(100);

/// How long the write-ahead log may grow before the writer empties it
/// (`journal_size_limit` is set to the same, for the file left behind when
/// the log starts over by itself).
pub const WAL_LIMIT: u64 = 16 * 1024 * 1024;

/// How long the writer waits for work before it looks whether the log
/// should be emptied.
const IDLE_LOOK: Duration = Duration::from_secs(1);

impl Checkpointer {
    /// `connection` must be to the writer's database file; the writer's
    /// own automatic checkpoints are turned off when it starts with one.
    pub fn new(connection: rusqlite::Connection) -> Checkpointer {
        Checkpointer { connection }
    }

    fn run(self, commits: mpsc::Receiver<()>, wal_too_long: Arc<AtomicBool>) {
        let page_size: u64 = self
            .connection
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .unwrap_or(4096);
        // Wait for a commit, then let more pile up for a moment.
        while commits.recv().is_ok() {
            std::thread::sleep(PAUSE);
            while commits.try_recv().is_ok() {}
            match self.passive_checkpoint() {
                Ok(frames) if frames.saturating_mul(page_size) > WAL_LIMIT => {
                    wal_too_long.store(true, Ordering::Release);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
            }
        }
        // The writer has stopped: one last checkpoint of everything.
        let _ = self.passive_checkpoint();
    }

    /// Copies what it can; returns how many frames the log holds.
    fn passive_checkpoint(&self) -> rusqlite::Result<u64> {
        self.connection
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                row.get::<_, i64>(1)
            })
            .map(|frames| u64::try_from(frames).unwrap_or(0))
    }
}

impl Writer {
    /// Starts the writer thread on `connection` (and the checkpointer's,
    /// if there is one).
    pub fn start(
        connection: rusqlite::Connection,
        checkpointer: Option<Checkpointer>,
    ) -> Result<Writer, StoreError> {
        let failed =
            |e: std::io::Error| StoreError::Other(format!("cannot start the SQLite writer: {e}"));
        let wal_too_long = Arc::new(AtomicBool::new(false));
        let commits = match checkpointer {
            Some(checkpointer) => {
                let pragma_failed = |e| crate::map_err(crate::backend::sqlite_error(e));
                connection
                    .pragma_update(None, "wal_autocheckpoint", 0)
                    .map_err(pragma_failed)?;
                connection
                    .pragma_update(None, "journal_size_limit", WAL_LIMIT as i64)
                    .map_err(pragma_failed)?;
                let (commits, heard) = mpsc::sync_channel::<()>(1);
                let wal_too_long = wal_too_long.clone();
                std::thread::Builder::new()
                    .name("pinlink-sqlite-checkpoint".into())
                    .spawn(move || checkpointer.run(heard, wal_too_long))
                    .map_err(failed)?;
                Some(commits)
            }
            None => None,
        };
        let (jobs, queue) = mpsc::sync_channel::<Job>(4096);
        std::thread::Builder::new()
            .name("pinlink-sqlite-writer".into())
            .spawn(move || run(connection, queue, commits, &wal_too_long))
            .map_err(failed)?;
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

/// Runs one of the writer's fixed statements (prepared once, then cached).
fn fixed(connection: &rusqlite::Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The longest a `TRUNCATE` checkpoint holds the writer waiting for readers.
const TRUNCATE_WAIT: Duration = Duration::from_millis(100);

/// Empties the write-ahead log if the checkpointer asked for it: copies the
/// rest back, waits for readers to leave the log, truncates the file.
fn truncate_log_if_asked(connection: &rusqlite::Connection, wal_too_long: &AtomicBool) {
    if !wal_too_long.swap(false, Ordering::AcqRel) {
        return;
    }
    // Waiting for readers to leave holds every write: wait a moment at
    // most (a long reader, such as `pinlink backup`, makes the checkpointer
    // ask again later instead).
    let _ = connection.busy_timeout(TRUNCATE_WAIT);
    let truncated = connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        row.get::<_, i64>(0)
    });
    let _ = connection.busy_timeout(Duration::from_secs(5));
    match truncated {
        Ok(0) => tracing::debug!("emptied the write-ahead log"),
        // Readers stayed past the busy timeout: the checkpointer asks again.
        Ok(_) => tracing::debug!("the write-ahead log could not be emptied yet"),
        Err(e) => tracing::warn!(error = %e, "emptying the write-ahead log failed"),
    }
}

fn run(
    mut connection: rusqlite::Connection,
    queue: mpsc::Receiver<Job>,
    commits: Option<mpsc::SyncSender<()>>,
    wal_too_long: &AtomicBool,
) {
    loop {
        let first = match queue.recv_timeout(IDLE_LOOK) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                truncate_log_if_asked(&connection, wal_too_long);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        truncate_log_if_asked(&connection, wal_too_long);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = fixed(&connection, "BEGIN IMMEDIATE") {
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
            let savepoint = fixed(&connection, "SAVEPOINT job");
            let (ok, finish) = job(&mut connection);
            let close = if ok && savepoint.is_ok() {
                fixed(&connection, "RELEASE job")
            } else {
                fixed(&connection, "ROLLBACK TO job")
                    .and_then(|()| fixed(&connection, "RELEASE job"))
            };
            if let Err(e) = close {
                tracing::warn!(error = %e, "closing a savepoint failed");
            }
            finishes.push(finish);
        }
        let committed = fixed(&connection, "COMMIT")
            .map_err(|e| crate::map_err(crate::backend::sqlite_error(e)));
        match &committed {
            Err(e) => {
                tracing::warn!(error = %e, "commit failed; the batch was rolled back");
                let _ = connection.execute_batch("ROLLBACK");
            }
            Ok(()) => {
                if let Some(commits) = &commits {
                    // Full means a checkpoint is already due: nothing to add.
                    let _ = commits.try_send(());
                }
            }
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
