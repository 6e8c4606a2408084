//! Where password hashes are computed: a few threads of their own.
//!
//! An argon2 hash takes about 19 MiB and tens of milliseconds of a core.
//! Run on tokio's blocking pool, a burst of sign-ins spreads over many
//! short-lived threads, and the allocator keeps a hash-sized block in each
//! thread's arena long after: 200 sign-ins at once left the server at
//! several hundred MiB even with only two hashes running at a time. A fixed
//! set of threads, as many as there are cores, keeps that memory to a few
//! hashes' worth. [`crate::Pinlink`] puts a semaphore in front, so that
//! callers wait (briefly) rather than queue without end.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct HashingThreads {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl HashingThreads {
    /// Starts `threads` threads; they end when this is dropped.
    pub fn start(threads: usize) -> HashingThreads {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("pinlink-hash-{n}"))
                .spawn(move || loop {
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        HashingThreads {
            jobs: Mutex::new(jobs),
        }
    }

    /// Runs `work` on one of the threads and waits for its result.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(work());
        });
        self.jobs.lock().ok()?.send(job).ok()?;
        answer.await.ok()
    }
}
