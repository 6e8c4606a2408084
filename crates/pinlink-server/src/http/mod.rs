//! Serving HTTP on a socket: everything between `accept(2)` and the router.
//!
//! `axum::serve` reads request headers for as long as a client cares to
//! send them, keeps every idle connection and every HTTP/2 stream, so a
//! few hundred half-sent requests or idle sockets would tie up file
//! descriptors and memory until new clients are refused. Here, one file per
//! mechanism:
//! - [`listener`]: the accept loop — connection caps per address and in
//!   all, backing off (with one log line) when `accept` fails, graceful
//!   shutdown; the same loop serves the API and the metrics listener;
//! - [`connection`]: one connection — HTTP/1.1, or HTTP/2 when TLS's ALPN
//!   chose it, each closed when idle or when a request ran out of time;
//! - [`tls`]: the certificate (reloaded on SIGHUP) and the handshake, and
//!   the answer to plain HTTP on the TLS port;
//! - [`deadline`]: the deadline of requests that send a body (408);
//! - [`request_id`]: the id each request is logged and answered with.

pub mod connection;
pub mod deadline;
pub mod listener;
pub mod request_id;
pub mod tls;

use std::time::Duration;

pub use listener::serve;

/// What one client may hold open, and for how long.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// How long a client may take to send a request's headers, and how long
    /// a connection may sit idle (no request in progress) before it is
    /// closed — over HTTP/1.1 and HTTP/2 alike.
    pub header_read_timeout: Duration,
    /// How long a request that sends a body may take from its headers to its
    /// answer (408; the connection is closed after it).
    pub request_timeout: Duration,
    /// Open connections from one address (an IPv6 /64).
    pub per_address: usize,
    /// Open connections in all; also bounded by the process's file limit
    /// ([`listener::FileBudget`]).
    pub total: usize,
    /// Requests in progress at once on one HTTP/2 connection (its
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub streams_per_connection: u32,
    /// The longest one request may stay in progress, from its headers to
    /// the last byte of its answer (a long poll is held 25 s, a body has
    /// the request timeout): past it, its connection is closed. Bounds a
    /// client that never reads its answer, or never ends a stream.
    pub longest_request: Duration,
    /// How long requests in flight may take to finish at shutdown.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(30),
            per_address: 256,
            total: 16_384,
            streams_per_connection: 32,
            longest_request: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl ConnectionLimits {
    /// The metrics listener's: Prometheus keeps one connection open and
    /// scrapes every few seconds, so a handful is plenty, and whatever it
    /// holds is taken from no one else ([`listener::FileBudget`]).
    pub fn for_metrics() -> ConnectionLimits {
        ConnectionLimits {
            per_address: 8,
            total: 64,
            streams_per_connection: 4,
            shutdown_grace: Duration::from_secs(1),
            ..ConnectionLimits::default()
        }
    }
}
