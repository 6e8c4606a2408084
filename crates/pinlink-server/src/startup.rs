//! Wiring: [`App::build`] opens the database, binds the listener and builds
//! the router; [`App::run`] serves until the shutdown future resolves, then
//! lets in-flight requests finish and closes the database cleanly.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::Method;
use pinlink_core::{Clock, Pinlink, PinlinkSettings, Store};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Layer;
use tower_http::cors::{Any, CorsLayer};

use crate::client_address::TrustedProxies;
use crate::config::Config;
use crate::http::connection::ConnectionRules;
use crate::http::deadline::RequestDeadlineLayer;
use crate::http::listener::FileBudget;
use crate::http::ConnectionLimits;
use crate::metrics::MetricsEndpoint;
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
    tls: Option<crate::http::tls::Tls>,
    /// `--metrics-listen`, and how many connections it may hold.
    metrics: Option<(MetricsEndpoint, usize)>,
}

impl App {
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
        let mut files = FileBudget::of_this_process();
        let metrics = match config.metrics_listen {
            Some(address) => {
                let endpoint = MetricsEndpoint::bind(address).await?;
                tracing::info!(address = %address, "Prometheus metrics at /metrics");
                Some((endpoint, files.take(ConnectionLimits::for_metrics().total)))
            }
            None => None,
        };
        let tls = config
            .tls
            .clone()
            .map(crate::http::tls::Tls::load)
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
        let settings = PinlinkSettings {
            public_url: Some(public_url.clone()),
            ..config.settings.clone()
        };
        let core = Arc::new(Pinlink::new(store.clone(), clock, &config.key, settings));
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
                total: files.take(config.connections.total),
                ..config.connections.clone()
            },
            metrics,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Where `--metrics-listen` listens, if it does.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|(m, _)| m.local_addr())
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
        // headers; inside the format, a 401 to a Bearer token gets RFC
        // 6750's challenge.
        let app = routes::pages::with_security_headers(routes::router(self.state.clone()));
        let app = RequestDeadlineLayer {
            timeout: self.connections.request_timeout,
        }
        .layer(app);
        let limit = HeaderLimit {
            max_header_bytes: self.max_header_bytes,
        };
        let app = axum::middleware::from_fn(crate::error::bearer_challenge).layer(app);
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

        // SIGHUP is handled from before the server says it listens: its
        // default action would end the process.
        let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP"))
            .ok()
            .map(|hangups| tokio::spawn(reload_on_sighup(hangups, self.tls.clone())));
        tracing::info!(address = %self.local_addr(), public_url = %self.state.public_url, "pinlink is listening");
        self.announce_first_start().await;
        let core = self.state.core.clone();
        // One shutdown signal for every listener.
        let (stop_listening, stopped_listening) = watch::channel(false);
        let stop = move || {
            let mut stopped = stopped_listening.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        let metrics = self
            .metrics
            .map(|(endpoint, connections)| tokio::spawn(endpoint.run(connections, stop())));
        tokio::spawn(async move {
            shutdown.await;
            // Long polls are answered before the connections drain.
            core.stop_waiting();
            let _ = stop_listening.send(true);
        });
        let rules = ConnectionRules {
            limits: self.connections,
            trusted_proxies: self.trusted_proxies,
            tls: self.tls,
            max_header_bytes: u32::try_from(self.max_header_bytes).unwrap_or(u32::MAX),
        };
        crate::http::serve("api", self.listener, app, rules, stop()).await;
        if let Some(hangups) = hangups {
            hangups.abort();
        }
        if let Some(metrics) = metrics {
            let _ = metrics.await;
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

/// SIGHUP: with TLS, reads the certificate and key again (a renewed
/// certificate, say): new connections get it, open ones keep theirs, and a
/// bad file is logged while the certificate in use stays. Without TLS there
/// is nothing to reload, and the signal is only logged: its default action
/// would end the process.
async fn reload_on_sighup(
    mut hangups: tokio::signal::unix::Signal,
    tls: Option<crate::http::tls::Tls>,
) {
    while hangups.recv().await.is_some() {
        let Some(tls) = &tls else {
            tracing::info!("SIGHUP: nothing to reload (no TLS certificate in use)");
            continue;
        };
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
