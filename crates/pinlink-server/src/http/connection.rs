//! One connection, from its first byte to its close.
//!
//! HTTP/1.1 is hyper's: a request's headers must arrive within
//! [`ConnectionLimits::header_read_timeout`], and a kept-alive connection
//! waiting for its next request is closed after as long (hyper's timer
//! covers both).
//!
//! HTTP/2 (over TLS, when the client asks for it by ALPN) has no such timer
//! in hyper, so `Activity` keeps one: a connection with no request in
//! progress for [`ConnectionLimits::header_read_timeout`] is closed
//! (GOAWAY, then the socket) — an idle connection, one that never sent a
//! request, and one stuck in half a HEADERS frame alike (HTTP/2 delivers a
//! request only once its headers are complete). Keep-alive pings close a
//! connection whose peer is gone while a request is held. At most
//! [`ConnectionLimits::streams_per_connection`] requests run at once on one
//! connection, and the flow-control windows are sized to the largest body
//! pinlink accepts, so a client cannot make the server buffer more.
//!
//! A request that ran out of time (408, [`super::deadline`]) closes its
//! connection on either protocol: its client was trickling, and may not
//! keep the connection for the next try. So does a request with a body
//! that its client gave up on after the header timeout (an HTTP/2 client
//! resetting each trickled request before its 408), and so does any
//! request in progress longer than [`ConnectionLimits::longest_request`]
//! (a client that never reads its answer, or never ends its stream).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tower::{Service, ServiceExt};

use super::request_id::RequestId;
use super::tls::Tls;
use super::ConnectionLimits;
use crate::client_address::TrustedProxies;

/// Everything a connection needs to know, the same for every connection of
/// a listener.
#[derive(Clone)]
pub struct ConnectionRules {
    pub limits: ConnectionLimits,
    pub trusted_proxies: TrustedProxies,
    /// HTTPS on this listener; plain HTTP/1.1 without.
    pub tls: Option<Tls>,
    /// Largest request head accepted over HTTP/2 (HTTP/1.1's is checked by
    /// the router's middleware, `negotiate.rs`).
    pub max_header_bytes: u32,
}

/// HTTP/2 flow-control windows: a stream may send what the largest request
/// body pinlink accepts needs, and a connection a few streams' worth, before
/// the server reads it.
const STREAM_WINDOW: u32 = 64 * 1024;
const CONNECTION_WINDOW: u32 = 256 * 1024;

/// Serves one accepted connection until it closes or the listener stops.
pub(crate) async fn serve_connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    app: S,
    rules: &ConnectionRules,
    stopping: watch::Receiver<bool>,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let limits = &rules.limits;
    let served = match &rules.tls {
        None => serve_http1(TokioIo::new(stream), app, peer, rules, stopping).await,
        Some(tls) => match tls.accept(stream, limits.header_read_timeout).await {
            None => Ok(()),
            Some(stream) if Tls::chose_http2(&stream) => {
                serve_http2(TokioIo::new(stream), app, peer, rules, stopping).await
            }
            Some(stream) => serve_http1(TokioIo::new(stream), app, peer, rules, stopping).await,
        },
    };
    // A client that hangs up or times out is not an error worth logging
    // above DEBUG.
    if let Err(e) = served {
        tracing::debug!(error = %e, "connection ended");
    }
}

async fn serve_http1<I, S>(
    io: TokioIo<I>,
    app: S,
    peer: SocketAddr,
    rules: &ConnectionRules,
    stopping: watch::Receiver<bool>,
) -> Result<(), hyper::Error>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let activity = Activity::new(&rules.limits, Idle::HypersTimer);
    let service = service_for(
        app,
        peer,
        rules.trusted_proxies.clone(),
        Protocol::Http1(activity.clone()),
    );
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(rules.limits.header_read_timeout)
        .keep_alive(true)
        .serve_connection(io, service);
    // Idle connections are hyper's to close (its header timer).
    drive(connection, &activity, &rules.limits, stopping).await
}

async fn serve_http2<I, S>(
    io: TokioIo<I>,
    app: S,
    peer: SocketAddr,
    rules: &ConnectionRules,
    stopping: watch::Receiver<bool>,
) -> Result<(), hyper::Error>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let activity = Activity::new(&rules.limits, Idle::Ours);
    let service = service_for(
        app,
        peer,
        rules.trusted_proxies.clone(),
        Protocol::Http2(activity.clone()),
    );
    let limits = &rules.limits;
    let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.streams_per_connection)
        .max_header_list_size(rules.max_header_bytes)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_send_buf_size(STREAM_WINDOW as usize)
        .keep_alive_interval(limits.header_read_timeout)
        .keep_alive_timeout(limits.header_read_timeout)
        .serve_connection(io, service);
    drive(connection, &activity, limits, stopping).await
}

/// Who closes a connection with no request in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idle {
    /// hyper's header timer (HTTP/1.1).
    HypersTimer,
    /// [`Activity`] (HTTP/2).
    Ours,
}

/// Why a connection is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// No request in progress for the idle timeout.
    Idle,
    /// A request ran out of time, was given up while trickling, or stayed
    /// in progress too long.
    RequestTimedOut,
    /// The server is stopping.
    Shutdown,
}

/// Runs `connection` until it ends, or until there is a reason to close it
/// ([`Close`]); then closes it gracefully (HTTP/2: GOAWAY; requests in
/// flight may finish within their own deadlines) and gives up on it after
/// the request timeout.
async fn drive<C>(
    connection: C,
    activity: &Activity,
    limits: &ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
) -> Result<(), hyper::Error>
where
    C: GracefulConnection<Error = hyper::Error>,
{
    tokio::pin!(connection);
    // Who closes idle connections was settled with the activity (whose
    // end of the last request wakes us only if it is us).
    let idle_timeout = (activity.idle == Idle::Ours).then_some(limits.header_read_timeout);
    let reason = tokio::select! {
        ended = connection.as_mut() => return ended,
        reason = activity.reason_to_close(idle_timeout) => reason,
        _ = stopping.wait_for(|stop| *stop) => Close::Shutdown,
    };
    tracing::debug!(?reason, "closing a connection");
    connection.as_mut().graceful_shutdown();
    // HTTP/2's graceful close waits for the client to acknowledge a PING
    // after the GOAWAY: one round trip for a live client. An idle one that
    // cannot (a half-sent header block) is dropped after a moment; requests
    // in flight get up to the request timeout.
    let give_up = Instant::now() + limits.request_timeout;
    let quick = Instant::now() + GOAWAY_GRACE;
    tokio::select! {
        ended = connection.as_mut() => return ended,
        () = tokio::time::sleep_until(quick.min(give_up)) => {}
    }
    if activity.in_progress() > 0 || reason == Close::Shutdown {
        if let Ok(ended) = tokio::time::timeout_at(give_up, connection).await {
            return ended;
        }
    }
    // A client that will not take its GOAWAY: dropped.
    Ok(())
}

/// How long an idle connection's client has to acknowledge its GOAWAY.
const GOAWAY_GRACE: Duration = Duration::from_secs(1);

/// What the connection's service must do beyond calling the app: count
/// requests in progress; a 408 closes an HTTP/1.1 connection with its
/// `Connection: close`, an HTTP/2 one through [`Activity`].
#[derive(Clone)]
enum Protocol {
    Http1(Arc<Activity>),
    Http2(Arc<Activity>),
}

/// The app as a hyper service for one connection: each request learns the
/// client's address ([`pinlink_core::ClientAddress`], from the peer and,
/// behind a trusted proxy, its forwarding header) and its [`RequestId`];
/// each is counted in progress until its answer is sent; a 408 closes the
/// connection.
fn service_for<S>(
    app: S,
    peer: SocketAddr,
    trusted_proxies: TrustedProxies,
    protocol: Protocol,
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
        let (activity, http1) = match &protocol {
            Protocol::Http1(activity) => (activity, true),
            Protocol::Http2(activity) => (activity, false),
        };
        use axum::body::HttpBody;
        // A request that sends a body: whether all of it arrived is told
        // to its place in progress ([`RequestBody`]).
        let body_arrived =
            (!request.body().is_end_stream()).then(|| Arc::new(AtomicBool::new(false)));
        let in_progress = activity.begin(body_arrived.clone());
        let mut request = request.map(|body| match body_arrived {
            None => Body::new(body),
            Some(arrived) => Body::new(RequestBody { body, arrived }),
        });
        let address = trusted_proxies.client_address(peer.ip(), request.headers());
        request.extensions_mut().insert(address);
        let id = RequestId::next();
        request.extensions_mut().insert(id);
        let answer = app.clone().oneshot(request);
        async move {
            let mut response = answer.await?;
            if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
                response.headers_mut().insert("x-request-id", value);
            }
            if response.status() == StatusCode::REQUEST_TIMEOUT {
                if http1 {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                } else {
                    in_progress.activity.close_soon();
                }
            }
            // In progress until the answer's body is sent (or dropped with
            // the connection or stream).
            Ok(response.map(|body| Body::new(Tracked { body, in_progress })))
        }
    })
}

/// A connection's requests in progress: for closing it when idle (HTTP/2),
/// when one ran out of time or was given up while trickling, or when one
/// has been in progress too long.
#[derive(Debug)]
pub(crate) struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
    /// [`ConnectionLimits::longest_request`].
    longest: Duration,
    /// A request with a body given up after this long closes the
    /// connection ([`ConnectionLimits::header_read_timeout`]).
    gave_up_after: Duration,
    /// Whether [`Activity::reason_to_close`] closes idle connections
    /// (HTTP/2): then the end of the last request in progress wakes it.
    idle: Idle,
}

#[derive(Debug)]
struct ActivityState {
    /// When each request in progress began, by a number of its own.
    started: BTreeMap<u64, Instant>,
    next: u64,
    /// When the last request in progress ended (or the connection began).
    idle_since: Instant,
    /// Close the connection (a request timed out).
    close: bool,
}

/// One request in progress; dropping it ends it.
#[derive(Debug)]
struct InProgress {
    activity: Arc<Activity>,
    number: u64,
    began: Instant,
    /// A request that sends a body: whether all of it arrived.
    body_arrived: Option<Arc<AtomicBool>>,
}

impl Drop for InProgress {
    fn drop(&mut self) {
        // A body still short when the request ended, after the header
        // timeout: a trickle its client gave up (or that got its 408).
        let trickled = self
            .body_arrived
            .as_ref()
            .is_some_and(|arrived| !arrived.load(Ordering::Acquire))
            && self.began.elapsed() >= self.activity.gave_up_after;
        self.activity.end(self.number, trickled);
    }
}

impl Activity {
    fn new(limits: &ConnectionLimits, idle: Idle) -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new(ActivityState {
                started: BTreeMap::new(),
                next: 0,
                idle_since: Instant::now(),
                close: false,
            }),
            changed: Notify::new(),
            longest: limits.longest_request,
            gave_up_after: limits.header_read_timeout,
            idle,
        })
    }

    fn begin(self: &Arc<Self>, body_arrived: Option<Arc<AtomicBool>>) -> InProgress {
        let began = Instant::now();
        let number = {
            let mut state = self.state.lock();
            let number = state.next;
            state.next += 1;
            state.started.insert(number, began);
            number
        };
        // No need to wake the waiter: its next deadline is never later
        // than this request's (it wakes at least every `longest`, and an
        // idle deadline that no longer holds only makes it look again).
        // Not waking it on every request spares a timer per request.
        InProgress {
            activity: self.clone(),
            number,
            began,
            body_arrived,
        }
    }

    fn end(&self, number: u64, close: bool) {
        let became_idle = {
            let mut state = self.state.lock();
            state.started.remove(&number);
            let idle = state.started.is_empty();
            if idle {
                state.idle_since = Instant::now();
            }
            state.close |= close;
            idle
        };
        // Wake the waiter only when its deadline moves earlier: a close, or
        // an idle deadline (HTTP/2) that may come before its current one.
        if close || (became_idle && self.idle == Idle::Ours) {
            self.changed.notify_waiters();
        }
    }

    fn in_progress(&self) -> usize {
        self.state.lock().started.len()
    }

    fn close_soon(&self) {
        self.state.lock().close = true;
        self.changed.notify_waiters();
    }

    /// Resolves when the connection should close: a request timed out (or
    /// was given up while trickling), one has been in progress longer than
    /// allowed, or — with `idle_timeout` — no request has been in progress
    /// for that long.
    async fn reason_to_close(&self, idle_timeout: Option<Duration>) -> Close {
        loop {
            // Listening before looking, so no change in between is missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let now = Instant::now();
            let deadline = {
                let state = self.state.lock();
                if state.close {
                    return Close::RequestTimedOut;
                }
                match state.started.values().next() {
                    Some(oldest) if *oldest + self.longest <= now => {
                        return Close::RequestTimedOut;
                    }
                    Some(oldest) => *oldest + self.longest,
                    None => match idle_timeout {
                        Some(idle) if state.idle_since + idle <= now => return Close::Idle,
                        Some(idle) => state.idle_since + idle,
                        // Look again by the time a request beginning now
                        // would have been in progress too long.
                        None => now + self.longest,
                    },
                }
            };
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                () = changed => {}
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's body, telling when all of it has arrived.
    struct RequestBody {
        #[pin]
        body: Incoming,
        arrived: Arc<AtomicBool>,
    }
}

impl axum::body::HttpBody for RequestBody {
    type Data = axum::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.body.poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None)) {
            this.arrived.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let ended = self.body.is_end_stream();
        if ended {
            self.arrived.store(true, Ordering::Release);
        }
        ended
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

pin_project_lite::pin_project! {
    /// An answer's body, holding its request [`InProgress`] until it is
    /// sent.
    struct Tracked {
        #[pin]
        body: Body,
        in_progress: InProgress,
    }
}

impl axum::body::HttpBody for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits::default()
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_only_with_no_request_in_progress() {
        let activity = Activity::new(&limits(), Idle::Ours);
        let idle = Duration::from_secs(20);
        let request = activity.begin(None);
        let closing = tokio::spawn({
            let activity = activity.clone();
            async move { activity.reason_to_close(Some(idle)).await }
        });
        // A request held 50 s (under the longest allowed) keeps it.
        tokio::time::sleep(Duration::from_secs(50)).await;
        assert!(!closing.is_finished());
        drop(request);
        let ended = Instant::now();
        assert_eq!(closing.await.expect("task"), Close::Idle);
        assert!(Instant::now() - ended >= idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_progress_too_long_closes_its_connection() {
        let activity = Activity::new(&limits(), Idle::HypersTimer);
        let _never_read = activity.begin(None);
        let started = Instant::now();
        // HTTP/1.1: no idle close of ours, the age bound all the same.
        assert_eq!(activity.reason_to_close(None).await, Close::RequestTimedOut);
        assert_eq!(Instant::now() - started, limits().longest_request);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_begun_unannounced_is_still_timed_out_on_time() {
        // The waiter is not woken when a request begins: it finds it when
        // it looks again, which is never later than the request's deadline.
        let activity = Activity::new(&limits(), Idle::HypersTimer);
        let started = Instant::now();
        let closing = tokio::spawn({
            let activity = activity.clone();
            async move { activity.reason_to_close(None).await }
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        let _held = activity.begin(None);
        for _ in 0..100 {
            drop(activity.begin(None)); // quick ones come and go meanwhile
        }
        assert_eq!(closing.await.expect("task"), Close::RequestTimedOut);
        assert_eq!(
            Instant::now() - started,
            Duration::from_secs(10) + limits().longest_request
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_http2_connection_closes_when_idle_even_while_its_waiter_slept_toward_a_later_deadline(
    ) {
        let activity = Activity::new(&limits(), Idle::Ours);
        let idle = Duration::from_secs(20);
        let closing = tokio::spawn({
            let activity = activity.clone();
            async move { activity.reason_to_close(Some(idle)).await }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        let request = activity.begin(None);
        // The waiter looks again at 20 s and sleeps toward the request's
        // deadline (65 s); the request ends at 30 s, so idle at 50 s.
        tokio::time::sleep(Duration::from_secs(25)).await;
        drop(request);
        let ended = Instant::now();
        assert_eq!(closing.await.expect("task"), Close::Idle);
        assert_eq!(Instant::now() - ended, idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_timed_out_closes_its_connection_at_once() {
        let activity = Activity::new(&limits(), Idle::Ours);
        let _request = activity.begin(Some(Arc::new(AtomicBool::new(false))));
        let closing = tokio::spawn({
            let activity = activity.clone();
            async move {
                activity
                    .reason_to_close(Some(Duration::from_secs(20)))
                    .await
            }
        });
        tokio::task::yield_now().await;
        activity.close_soon();
        assert_eq!(closing.await.expect("task"), Close::RequestTimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickled_request_given_up_late_closes_its_connection_and_a_quick_one_does_not() {
        let activity = Activity::new(&limits(), Idle::HypersTimer);
        let short = || Some(Arc::new(AtomicBool::new(false)));
        drop(activity.begin(short()));
        assert!(
            !activity.state.lock().close,
            "given up at once: a client's own business"
        );
        let arrived = Arc::new(AtomicBool::new(false));
        let slow_but_whole = activity.begin(Some(arrived.clone()));
        tokio::time::sleep(limits().header_read_timeout).await;
        arrived.store(true, Ordering::Release);
        drop(slow_but_whole);
        assert!(!activity.state.lock().close, "a whole body, however slow");
        let trickled = activity.begin(short());
        tokio::time::sleep(limits().header_read_timeout).await;
        drop(trickled);
        assert_eq!(activity.reason_to_close(None).await, Close::RequestTimedOut);
    }
}
