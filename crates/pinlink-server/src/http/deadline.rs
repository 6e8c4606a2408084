//! The deadline of requests that send a body: a client trickling its body
//! gets 408 and gives its place back (and its connection is closed after
//! the answer, [`super::connection`]).

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use tower::Service;

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
        // Ended already (a GET, or HTTP/2's END_STREAM on the headers):
        // nothing to trickle. A `content-length: 0` alone is not enough:
        // over HTTP/2 the stream can stay open after it.
        if request.body().is_end_stream() {
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
