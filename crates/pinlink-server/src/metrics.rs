//! `--metrics-listen ADDR`: Prometheus' text format at `/metrics`, on a
//! listener of its own.
//!
//! The exporter's own HTTP listener has no connection caps, no header
//! timeout and no back-off when `accept` fails, so a flood of half-sent
//! requests to the metrics port could take every file descriptor of the
//! process. Here the recorder is installed alone and `/metrics` is served
//! by the same accept loop as the API ([`crate::http::serve`]), with caps
//! of its own ([`ConnectionLimits::for_metrics`]) taken out of the
//! process's file limit beside the API's.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::client_address::TrustedProxies;
use crate::http::connection::ConnectionRules;
use crate::http::ConnectionLimits;

/// The bound metrics listener and the recorder it renders.
pub struct MetricsEndpoint {
    listener: TcpListener,
    handle: PrometheusHandle,
}

/// How often histograms are drained into their summaries.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

impl MetricsEndpoint {
    /// Installs the process's metrics recorder and binds `address`. Fails
    /// if a recorder is installed already (one per process).
    pub async fn bind(address: SocketAddr) -> anyhow::Result<MetricsEndpoint> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            )
            .and_then(PrometheusBuilder::install_recorder)
            .context("cannot install the metrics recorder")?;
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot serve metrics on {address}"))?;
        crate::routes::observe::METRICS_ON.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(MetricsEndpoint { listener, handle })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves `/metrics` until `shutdown` resolves, with at most
    /// `connections` open at once.
    pub async fn run(self, connections: usize, shutdown: impl Future<Output = ()>) {
        let upkeep = tokio::spawn({
            let handle = self.handle.clone();
            async move {
                let mut every = tokio::time::interval(UPKEEP_EVERY);
                loop {
                    every.tick().await;
                    handle.run_upkeep();
                }
            }
        });
        let app = Router::new()
            .route("/metrics", get(render))
            .with_state(self.handle);
        let rules = ConnectionRules {
            limits: ConnectionLimits {
                total: connections,
                ..ConnectionLimits::for_metrics()
            },
            trusted_proxies: TrustedProxies::default(),
            tls: None,
            max_header_bytes: 8 * 1024,
        };
        crate::http::serve("metrics", self.listener, app, rules, shutdown).await;
        upkeep.abort();
    }
}

async fn render(State(handle): State<PrometheusHandle>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
}
