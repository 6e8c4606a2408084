//! Wiring: [`App::build`] opens the database, binds the listener and builds
//! the router; [`App::run`] serves until the shutdown future resolves, then
//! lets in-flight requests finish and closes the database cleanly.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::Method;
use pinlink_core::{Clock, Pinlink, Store};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Layer;
use tower_http::cors::{Any, CorsLayer};

use crate::client_address::TrustedProxies;
use crate::config::Config;
use crate::connections::{
    self, connections_the_file_limit_allows, ConnectionLimits, RequestDeadlineLayer,
};
use crate::negotiate::{negotiate, HeaderLimit};
use crate::routes;
use crate::routes::pages::form_tokens::FormTokens;
use crate::state::{AppState, Shared};

/// Opens the database at `url`, saying which one (without its password)
/// when that fails.
pub async fn open_store(
    url: &str,
    options: &pinlink_store::StoreOptions,
) -> anyhow::Result<Arc<dyn Store>> {
    pinlink_store::open_with(url, options)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                pinlink_store::redact_url(url)
            )
        })
}

pub struct App {
    listener: TcpListener,
    store: Arc<dyn Store>,
    state: AppState,
    sweep_interval: Duration,
    max_header_bytes: usize,
    trusted_proxies: TrustedProxies,
    connections: ConnectionLimits,
    tls: Option<crate::tls::Tls>,
}

impl App {
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
        if let Some(address) = config.metrics_listen {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .with_http_listener(address)
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .and_then(|builder| builder.install())
                .with_context(|| format!("cannot serve metrics on {address}"))?;
            crate::routes::observe::METRICS_ON.store(true, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(address = %address, "Prometheus metrics at /metrics");
        }
        let tls = config
            .tls
            .clone()
            .map(crate::tls::Tls::load)
            .transpose()
            .map_err(anyhow::Error::msg)?;
        let store = open_store(&config.database_url, &config.database).await?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let local = listener.local_addr()?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| {
                let scheme = if tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{local}")
            })
            .trim_end_matches('/')
            .to_owned();
        let core = Arc::new(Pinlink::new(
            store.clone(),
            clock,
            &config.key,
            config.settings.clone(),
        ));
        core.load_signing_keys()
            .await
            .context("cannot read the Plex JWT signing keys")?;
        let state = AppState::new(Shared {
            core,
            public_url: public_url.into(),
            location: Arc::new(config.location.clone()),
            max_body_bytes: config.max_body_bytes,
            open_signup: config.open_signup,
            form_tokens: Arc::new(FormTokens::new(&config.key)),
        });
        Ok(App {
            listener,
            tls,
            store,
            state,
            sweep_interval: config.sweep_interval,
            max_header_bytes: config.max_header_bytes,
            trusted_proxies: config.trusted_proxies.clone(),
            connections: ConnectionLimits {
                total: connections_the_file_limit_allows(config.connections.total),
                ..config.connections.clone()
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    /// The domain facade this server runs on (tests use it to seed data).
    pub fn core(&self) -> Arc<Pinlink> {
        self.state.core.clone()
    }

    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // The layers wrap the router once, outermost first: CORS, then the
        // format (the suffix must be stripped before routing), then the
        // deadline of requests with a body (a client trickling its body gets
        // 408 and gives its connection's slot back), then the security
        // headers.
        let app = routes::pages::with_security_headers(routes::router(self.state.clone()));
        let app = RequestDeadlineLayer {
            timeout: self.connections.request_timeout,
        }
        .layer(app);
        let limit = HeaderLimit {
            max_header_bytes: self.max_header_bytes,
        };
        let app = axum::middleware::from_fn_with_state(limit, negotiate).layer(app);
        // Browser apps call the pin endpoints from any origin with custom
        // X-Plex-* headers, as they do on plex.tv. No credentials are allowed
        // cross-origin, so this grants nothing a token does not.
        let app = CorsLayer::new()
            .allow_origin(Any)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers(Any)
            .max_age(Duration::from_secs(24 * 3600))
            .layer(app);

        let (stop_background, stopped) = watch::channel(false);
        let sweeper = tokio::spawn(sweep_until_stopped(
            self.state.core.clone(),
            self.sweep_interval,
            stopped.clone(),
        ));
        let listener = tokio::spawn(hear_changes_until_stopped(
            self.store.clone(),
            self.state.core.clone(),
            stopped,
        ));

        let reloader = self
            .tls
            .clone()
            .map(|tls| tokio::spawn(reload_on_sighup(tls)));
        let core = self.state.core.clone();
        let shutdown = async move {
            shutdown.await;
            // Long polls are answered before the connections drain.
            core.stop_waiting();
        };
        tracing::info!(address = %self.local_addr(), public_url = %self.state.public_url, "pinlink is listening");
        self.announce_first_start().await;
        connections::serve(
            self.listener,
            app,
            self.connections,
            self.trusted_proxies,
            self.tls,
            shutdown,
        )
        .await;
        if let Some(reloader) = reloader {
            reloader.abort();
        }

        // Every acknowledged request has committed by now; stop the
        // background tasks and close the database so its files are left
        // consistent.
        let _ = stop_background.send(true);
        let _ = sweeper.await;
        let _ = listener.await;
        self.store.close().await;
        tracing::info!("pinlink stopped");
        Ok(())
    }
}

impl App {
    /// While no account exists, prints where to create the first one. The
    /// setup token in that URL is the one secret pinlink logs on purpose:
    /// it only works once, and only until an account exists.
    async fn announce_first_start(&self) {
        match self.state.core.first_start_token().await {
            Ok(Some(token)) => tracing::warn!(
                "no account exists yet: create the first one at {}/?token={token}",
                self.state.public_url
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not check for a first account"),
        }
    }
}

/// With a shared store (PostgreSQL, several instances), applies every
/// change another instance announces to this one's cache of live pins.
async fn hear_changes_until_stopped(
    store: Arc<dyn Store>,
    core: Arc<Pinlink>,
    mut stopped: watch::Receiver<bool>,
) {
    if !store.is_shared() {
        return;
    }
    loop {
        tokio::select! {
            change = store.next_change() => core.apply_change(change),
            _ = stopped.changed() => return,
        }
    }
}

async fn sweep_until_stopped(
    core: Arc<Pinlink>,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => match core.sweep().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(removed = n, "swept expired pins"),
                Err(e) => tracing::warn!(error = %e, "sweeping expired pins failed; will retry"),
            },
            _ = stopped.changed() => return,
        }
    }
}

/// Reads the TLS certificate and key again at every SIGHUP (a renewed
/// certificate, say): new connections get it, open ones keep theirs. A bad
/// file is logged and the certificate in use stays.
async fn reload_on_sighup(tls: crate::tls::Tls) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: the TLS certificate will not be reloaded");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        match tls.reload() {
            Ok(()) => {
                tracing::info!(cert = %tls.files().cert.display(), "reloaded the TLS certificate")
            }
            Err(e) => {
                tracing::warn!(error = %e, "kept the TLS certificate in use: reloading failed")
            }
        }
    }
}
