//! The bench's own request sender, for what wrk cannot do: preloading pins
//! and keeping their answers (ids, codes), collecting device tokens, signing
//! in, and the steady-state run's paced creates. A fixed number of keep-alive
//! HTTP/1.1 connections on loopback, each sending its next request as soon
//! as the last one answered (or after `pace`). The measured scenarios run on
//! wrk ([`crate::wrk`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What one request looks like; `make` is called with (connection, sequence).
pub struct RequestSpec {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

pub type MakeRequest = Arc<dyn Fn(usize, u64) -> RequestSpec + Send + Sync>;

/// What a load run measured.
pub struct LoadResult {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Bodies of successful answers, when asked to keep them.
    pub bodies: Vec<Bytes>,
    /// The first unexpected status or failure, for the report.
    pub first_error: Option<String>,
}

impl LoadResult {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

pub struct LoadPlan {
    pub address: SocketAddr,
    pub connections: usize,
    /// Stop after this long...
    pub duration: Duration,
    /// ...or after this many requests in all, whichever comes first.
    pub max_requests: u64,
    pub expected_status: u16,
    pub keep_bodies: bool,
    /// Each connection waits this long between requests (an open-loop rate);
    /// zero sends as fast as answers come back.
    pub pace: Duration,
}

struct ConnectionResult {
    requests: u64,
    errors: u64,
    bodies: Vec<Bytes>,
    first_error: Option<String>,
}

pub async fn run(plan: &LoadPlan, make: MakeRequest) -> anyhow::Result<LoadResult> {
    let started = Instant::now();
    let deadline = started + plan.duration;
    let budget = Arc::new(std::sync::atomic::AtomicU64::new(plan.max_requests));
    let mut tasks = Vec::with_capacity(plan.connections);
    for connection in 0..plan.connections {
        let make = make.clone();
        let budget = budget.clone();
        let (address, expected, keep, pace) = (
            plan.address,
            plan.expected_status,
            plan.keep_bodies,
            plan.pace,
        );
        tasks.push(tokio::spawn(async move {
            one_connection(
                address, connection, deadline, budget, expected, keep, pace, make,
            )
            .await
        }));
    }
    let mut result = LoadResult {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        bodies: Vec::new(),
        first_error: None,
    };
    for task in tasks {
        let c = task.await??;
        result.requests += c.requests;
        result.errors += c.errors;
        result.bodies.extend(c.bodies);
        if result.first_error.is_none() {
            result.first_error = c.first_error;
        }
    }
    result.elapsed = started.elapsed();
    Ok(result)
}

fn take_one(budget: &std::sync::atomic::AtomicU64) -> bool {
    use std::sync::atomic::Ordering;
    budget
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
}

#[allow(clippy::too_many_arguments)]
async fn one_connection(
    address: SocketAddr,
    connection: usize,
    deadline: Instant,
    budget: Arc<std::sync::atomic::AtomicU64>,
    expected_status: u16,
    keep_bodies: bool,
    pace: Duration,
    make: MakeRequest,
) -> anyhow::Result<ConnectionResult> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut out = ConnectionResult {
        requests: 0,
        errors: 0,
        bodies: Vec::new(),
        first_error: None,
    };
    let mut sequence = 0u64;
    while Instant::now() < deadline && take_one(&budget) {
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
        let spec = make(connection, sequence);
        sequence += 1;
        let mut request = Request::builder()
            .method(spec.method)
            .uri(spec.path)
            .header("host", "127.0.0.1");
        for (name, value) in &spec.headers {
            request = request.header(*name, value);
        }
        let request = request.body(Full::new(Bytes::from(spec.body.unwrap_or_default())))?;
        let outcome = async {
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        }
        .await;
        out.requests += 1;
        match outcome {
            Ok((status, body)) if status == expected_status => {
                if keep_bodies {
                    out.bodies.push(body);
                }
            }
            Ok((status, body)) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| {
                    format!(
                        "status {status}: {}",
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    )
                });
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| e.to_string());
                break; // the connection is gone
            }
        }
    }
    Ok(out)
}
