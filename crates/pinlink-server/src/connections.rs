//! Accepting connections, and what one client may hold open.
//!
//! `axum::serve` reads request headers for as long as a client cares to
//! send them and keeps every idle connection, so a few hundred half-sent
//! requests or idle sockets tie up file descriptors until new clients are
//! refused. Here, instead:
//! - a request's headers must arrive within [`ConnectionLimits::header_read_timeout`],
//!   and a kept-alive connection may sit idle between requests no longer
//!   than that (hyper's timer covers both); the whole request, body
//!   included, must be answered within [`ConnectionLimits::request_timeout`]
//!   (a layer in `startup.rs`), so a trickled body cannot hold a slot;
//! - one address (an IPv6 /64) holds at most [`ConnectionLimits::per_address`]
//!   connections (trusted proxies excepted: they carry many clients), and
//!   the server at most [`ConnectionLimits::total`]; a connection over either
//!   is closed at once, so a flood from one place leaves room for everyone
//!   else;
//! - at shutdown no new connection is accepted, requests in flight finish
//!   (idle connections are closed), within [`ConnectionLimits::shutdown_grace`];
//! - with TLS ([`crate::tls`]) the handshake, too, must be done within the
//!   header timeout, HTTP/2 is spoken when the client asks for it (ALPN),
//!   and plain HTTP gets a plain answer saying to use https.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use parking_lot::Mutex;
use pinlink_core::ClientAddress;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::{Service, ServiceExt};

use crate::client_address::TrustedProxies;
use crate::tls::{Tls, PLAIN_HTTP_ANSWER};

#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// How long a client may take to send a request's headers, and how long
    /// a kept-alive connection may wait for its next request.
    pub header_read_timeout: Duration,
    /// How long a request may take from its headers to its answer (408).
    pub request_timeout: Duration,
    /// Open connections from one address (an IPv6 /64).
    pub per_address: usize,
    /// Open connections in all; also bounded by the process's file limit.
    pub total: usize,
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
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Raises the soft limit on open files to the hard limit and returns how
/// many connections fit under it, leaving room for the database's files.
pub fn connections_the_file_limit_allows(wanted: usize) -> usize {
    const RESERVED: u64 = 128;
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .unwrap_or(1024);
    let fits = usize::try_from(limit.saturating_sub(RESERVED).max(16)).unwrap_or(usize::MAX);
    wanted.min(fits)
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

/// Serves `app` on `listener` (over TLS when `tls` is given) until
/// `shutdown` resolves, then lets requests in flight finish.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: ConnectionLimits,
    trusted_proxies: TrustedProxies,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let open = OpenConnections::default();
    let graceful = GracefulShutdown::new();
    let mut refused_logged = tokio::time::Instant::now();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection that died
                    // before it was accepted: wait a moment, go on.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let exempt = trusted_proxies.trusts(peer.ip());
        let network = ClientAddress::new(peer.ip()).network();
        let Some(slot) = open.take(network, &limits, exempt) else {
            // Closed at once: the client sees the refusal instead of a hang.
            if refused_logged.elapsed() > Duration::from_secs(10) {
                refused_logged = tokio::time::Instant::now();
                tracing::warn!(peer = %peer.ip(), "too many open connections; refusing new ones");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = service_for(app.clone(), peer, trusted_proxies.clone());
        let watcher = graceful.watcher();
        let timeout = limits.header_read_timeout;
        let tls = tls.clone();
        tokio::spawn(async move {
            let served = match tls {
                None => serve_http1(TokioIo::new(stream), service, timeout, watcher).await,
                Some(tls) => serve_tls(stream, &tls, service, timeout, watcher).await,
            };
            // A client that hangs up or times out is not an error worth
            // logging above DEBUG.
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after the shutdown grace period were cut off");
    }
}

/// HTTP/1.1 on one connection (plain, or inside TLS).
async fn serve_http1<I, S>(
    io: TokioIo<I>,
    service: S,
    header_read_timeout: Duration,
    watcher: Watcher,
) -> Result<(), hyper::Error>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<hyper::Request<Incoming>, Response = Response, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true)
        .serve_connection(io, service);
    watcher.watch(connection).await
}

/// One TLS connection: plain HTTP gets [`PLAIN_HTTP_ANSWER`]; otherwise
/// the handshake (within the header timeout), then HTTP/2 or HTTP/1.1 as
/// the client chose by ALPN.
async fn serve_tls<S>(
    stream: TcpStream,
    tls: &Tls,
    service: S,
    header_read_timeout: Duration,
    watcher: Watcher,
) -> Result<(), hyper::Error>
where
    S: hyper::service::Service<hyper::Request<Incoming>, Response = Response, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    /// Every TLS connection starts with a handshake record.
    const TLS_HANDSHAKE: u8 = 0x16;
    let mut first = [0u8; 1];
    match tokio::time::timeout(header_read_timeout, stream.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == TLS_HANDSHAKE => {}
        Ok(Ok(1)) => {
            answer_plain_http(stream, header_read_timeout).await;
            return Ok(());
        }
        // Closed, broken or silent: nothing to answer.
        _ => return Ok(()),
    }
    let stream = match tokio::time::timeout(header_read_timeout, tls.acceptor.accept(stream)).await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            return Ok(());
        }
        Err(_) => return Ok(()),
    };
    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(stream), service);
        watcher.watch(connection).await
    } else {
        serve_http1(TokioIo::new(stream), service, header_read_timeout, watcher).await
    }
}

/// Reads the plain-HTTP request's head (so that closing does not reset the
/// connection before the client reads the answer), then says to use https.
async fn answer_plain_http(mut stream: TcpStream, header_read_timeout: Duration) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 2048];
    let read_head = async {
        while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(header_read_timeout, read_head).await;
    let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
    let _ = stream.shutdown().await;
}

/// The app as a hyper service for one connection: each request learns the
/// client's address ([`ClientAddress`], from the peer and, behind a trusted
/// proxy, its forwarding header), where [`crate::client_address::of`] finds it.
fn service_for<S>(
    app: S,
    peer: SocketAddr,
    trusted_proxies: TrustedProxies,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send,
> + Clone
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(Body::new);
        let address = trusted_proxies.client_address(peer.ip(), request.headers());
        request.extensions_mut().insert(address);
        let id = RequestId::next();
        request.extensions_mut().insert(id);
        let answer = app.clone().oneshot(request);
        async move {
            let mut response = answer.await?;
            if let Ok(value) = axum::http::HeaderValue::from_str(&id.to_string()) {
                response.headers_mut().insert("x-request-id", value);
            }
            Ok(response)
        }
    })
}

/// Names one request in the log and in its answer (`X-Request-Id`): this
/// process's random prefix and a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(u64);

impl RequestId {
    fn next() -> RequestId {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        RequestId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        // Random per process (std's hasher keys are), so two instances'
        // ids do not collide in one log store.
        let prefix = PREFIX.get_or_init(|| {
            use std::hash::BuildHasher;
            std::hash::RandomState::new().hash_one(std::process::id()) as u32
        });
        write!(f, "{prefix:08x}-{}", self.0)
    }
}

/// A deadline on the whole request for requests that send a body: a client
/// trickling its body gets 408 and gives its connection's slot back.
/// Requests without a body (a poll, a token check) have nothing to trickle
/// (the headers have their own timeout) and skip the timer.
#[derive(Debug, Clone, Copy)]
pub struct RequestDeadlineLayer {
    pub timeout: Duration,
}

impl<S> tower::Layer<S> for RequestDeadlineLayer {
    type Service = RequestDeadline<S>;
    fn layer(&self, inner: S) -> RequestDeadline<S> {
        RequestDeadline {
            inner,
            timeout: self.timeout,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequestDeadline<S> {
    inner: S,
    timeout: Duration,
}

impl<S> Service<Request> for RequestDeadline<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use axum::body::HttpBody;
        if request.body().size_hint().exact() == Some(0) {
            DeadlineFuture::Untimed {
                inner: self.inner.call(request),
            }
        } else {
            DeadlineFuture::Timed {
                inner: tokio::time::timeout(self.timeout, self.inner.call(request)),
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// [`RequestDeadline`]'s answer: the inner one, or 408 at the deadline.
    #[project = DeadlineProjection]
    pub enum DeadlineFuture<F> {
        Untimed { #[pin] inner: F },
        Timed { #[pin] inner: tokio::time::Timeout<F> },
    }
}

impl<F> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        match self.project() {
            DeadlineProjection::Untimed { inner } => inner.poll(cx),
            DeadlineProjection::Timed { inner } => match inner.poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(answer)) => Poll::Ready(answer),
                // A bare status: the format middleware gives it plex.tv's
                // error body.
                Poll::Ready(Err(_elapsed)) => Poll::Ready(Ok(Response::builder()
                    .status(axum::http::StatusCode::REQUEST_TIMEOUT)
                    .body(Body::empty())
                    .unwrap_or_default())),
            },
        }
    }
}
