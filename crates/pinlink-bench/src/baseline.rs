//! The baseline: the smallest useful hyper server, answering every request
//! with the same fixed body. Whatever pinlink does on top of HTTP shows up as
//! the ratio to this, measured on the same machine in the same run.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Serves `body_len` bytes of JSON on `listener` until the process ends.
pub async fn serve(listener: TcpListener, body_len: usize) -> anyhow::Result<()> {
    let mut text = String::from("{\"fixed\":\"");
    while text.len() + 2 < body_len {
        text.push('x');
    }
    text.push_str("\"}");
    let body = Bytes::from(text);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request: Request<hyper::body::Incoming>| {
                let body = body.clone();
                async move {
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/json; charset=utf-8")
                            .body(Full::new(body))
                            .unwrap_or_default(),
                    )
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
