//! The accept loop, and what one client may hold open.
//!
//! - One address (an IPv6 /64) holds at most
//!   [`ConnectionLimits::per_address`] connections (trusted proxies
//!   excepted: they carry many clients), and the listener at most
//!   [`ConnectionLimits::total`]; a connection over either is closed at
//!   once, so a flood from one place leaves room for everyone else.
//! - Each listener's total comes out of the process's open-file limit
//!   ([`FileBudget`]) with a reserve kept for the database, so a flood on
//!   one listener (the metrics port, say) cannot take the descriptors the
//!   other needs.
//! - When `accept` fails anyway (out of descriptors, or a connection reset
//!   before it was accepted), the loop backs off, up to a second, and says
//!   so in one log line every ten seconds at most ([`AcceptBackoff`]).
//! - At shutdown no new connection is accepted, every connection is told
//!   to finish (idle ones close at once) and requests in flight get
//!   [`ConnectionLimits::shutdown_grace`] to end.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use parking_lot::Mutex;
use pinlink_core::ClientAddress;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tower::Service;

use super::connection::{self, ConnectionRules};
use super::ConnectionLimits;

/// Serves `app` on `listener` (`name` says which one in the log) until
/// `shutdown` resolves, then lets requests in flight finish.
pub async fn serve<S>(
    name: &'static str,
    listener: TcpListener,
    app: S,
    rules: ConnectionRules,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let rules = Arc::new(rules);
    let open = OpenConnections::default();
    let (stop_connections, stopping) = watch::channel(false);
    // Every connection task holds a sender; when the last is gone, all
    // connections have ended (mini-redis's shutdown pattern).
    let (ended, mut all_ended) = mpsc::channel::<()>(1);
    let mut backoff = AcceptBackoff::new(name);
    let mut refused_logged: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    backoff.succeeded();
                    accepted
                }
                Err(e) => {
                    let pause = backoff.failed(&e);
                    tokio::select! {
                        () = tokio::time::sleep(pause) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let exempt = rules.trusted_proxies.trusts(peer.ip());
        let network = ClientAddress::new(peer.ip()).network();
        let Some(slot) = open.take(network, &rules.limits, exempt) else {
            // Closed at once: the client sees the refusal instead of a hang.
            if refused_logged.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                refused_logged = Some(Instant::now());
                tracing::warn!(listener = name, peer = %peer.ip(), "too many open connections; refusing new ones");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let rules = rules.clone();
        let stopping = stopping.clone();
        let ended = ended.clone();
        tokio::spawn(async move {
            connection::serve_connection(stream, peer, app, &rules, stopping).await;
            drop(slot);
            drop(ended);
        });
    }
    drop(listener);
    let _ = stop_connections.send(true);
    drop(ended);
    let grace = rules.limits.shutdown_grace;
    if tokio::time::timeout(grace, all_ended.recv()).await.is_err() {
        tracing::warn!(
            listener = name,
            "requests still running after the shutdown grace period were cut off"
        );
    }
}

/// How many descriptors each listener may use for connections: the
/// process's open-file limit (raised to its hard limit), less a reserve for
/// the database, logs and the listeners themselves, shared so that the
/// listeners' totals together never pass it.
#[derive(Debug, Clone, Copy)]
pub struct FileBudget {
    available: usize,
}

impl FileBudget {
    /// Kept for everything that is not a client connection.
    pub const RESERVED: usize = 128;

    /// Raises the soft limit on open files to the hard limit and reads it.
    pub fn of_this_process() -> FileBudget {
        let limit = rlimit::increase_nofile_limit(u64::MAX)
            .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
            .unwrap_or(1024);
        FileBudget::from_limit(usize::try_from(limit).unwrap_or(usize::MAX))
    }

    pub fn from_limit(limit: usize) -> FileBudget {
        FileBudget {
            available: limit.saturating_sub(Self::RESERVED).max(16),
        }
    }

    /// Takes up to `wanted` descriptors (at least one) for a listener;
    /// returns how many it got.
    pub fn take(&mut self, wanted: usize) -> usize {
        let granted = wanted.min(self.available).max(1);
        self.available = self.available.saturating_sub(granted);
        granted
    }
}

/// Counts open connections per address.
#[derive(Clone, Default)]
struct OpenConnections(Arc<Mutex<Counts>>);

#[derive(Default)]
struct Counts {
    total: usize,
    /// By [`ClientAddress::network`]: an IPv6 host has a whole /64.
    per_address: HashMap<String, usize>,
}

/// One connection's place in the counts, given back when dropped.
struct Slot {
    open: OpenConnections,
    address: String,
}

impl OpenConnections {
    fn take(&self, address: String, limits: &ConnectionLimits, exempt: bool) -> Option<Slot> {
        let mut counts = self.0.lock();
        if counts.total >= limits.total {
            return None;
        }
        let mine = counts.per_address.entry(address.clone()).or_insert(0);
        if *mine >= limits.per_address && !exempt {
            return None;
        }
        *mine += 1;
        counts.total += 1;
        Some(Slot {
            open: self.clone(),
            address,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.open.0.lock();
        counts.total -= 1;
        if let Some(n) = counts.per_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                counts.per_address.remove(&self.address);
            }
        }
    }
}

/// What the accept loop does when `accept` fails: wait a little longer
/// each time (10 ms, doubling, at most a second) and log one line every
/// ten seconds at most, with how many failures it stands for. Out of file
/// descriptors, a loop that retried at once would spin and write a log
/// line per try.
pub struct AcceptBackoff {
    listener: &'static str,
    pause: Duration,
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const LONGEST: Duration = Duration::from_secs(1);
    const LOG_EVERY: Duration = Duration::from_secs(10);

    pub fn new(listener: &'static str) -> AcceptBackoff {
        AcceptBackoff {
            listener,
            pause: Duration::ZERO,
            unlogged: 0,
            logged_at: None,
        }
    }

    /// An `accept` failed: how long to wait before the next one.
    pub fn failed(&mut self, error: &std::io::Error) -> Duration {
        self.pause = (self.pause * 2).clamp(Self::FIRST, Self::LONGEST);
        self.unlogged += 1;
        if self
            .logged_at
            .is_none_or(|at| at.elapsed() >= Self::LOG_EVERY)
        {
            tracing::warn!(
                listener = self.listener,
                error = %error,
                failures = self.unlogged,
                pause_ms = self.pause.as_millis() as u64,
                "accepting connections fails; backing off"
            );
            self.logged_at = Some(Instant::now());
            self.unlogged = 0;
        }
        self.pause
    }

    /// An `accept` worked: the next failure starts from the shortest pause.
    pub fn succeeded(&mut self) {
        self.pause = Duration::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listeners_share_the_file_limit_and_keep_a_reserve() {
        let mut budget = FileBudget::from_limit(1024);
        let metrics = budget.take(ConnectionLimits::for_metrics().total);
        let api = budget.take(ConnectionLimits::default().total);
        assert_eq!(metrics, 64);
        assert_eq!(api, 1024 - FileBudget::RESERVED - 64);
        assert!(metrics + api + FileBudget::RESERVED <= 1024);
    }

    #[tokio::test(start_paused = true)]
    async fn failing_accepts_back_off_up_to_a_second() {
        let mut backoff = AcceptBackoff::new("test");
        let error = std::io::Error::other("Too many open files");
        let pauses: Vec<Duration> = (0..10).map(|_| backoff.failed(&error)).collect();
        assert_eq!(pauses[0], Duration::from_millis(10));
        assert_eq!(pauses[1], Duration::from_millis(20));
        assert_eq!(*pauses.last().expect("pauses"), Duration::from_secs(1));
        // Nine failures since the first line: not logged yet, only counted.
        assert_eq!(backoff.unlogged, 9);
        tokio::time::advance(Duration::from_secs(11)).await;
        backoff.failed(&error);
        assert_eq!(backoff.unlogged, 0, "one line for the ten failures");
        backoff.succeeded();
        assert_eq!(backoff.failed(&error), Duration::from_millis(10));
    }
}
