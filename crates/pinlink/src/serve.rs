//! `pinlink serve`: the server, with every option of how it runs and what
//! one client may cost it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use pinlink_core::{PinlinkSettings, SystemClock};
use pinlink_server::client_address::ForwardedHeader;
use pinlink_server::App;

use crate::data::{build_config, parse_network, DataArgs};
use crate::test_mode;

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "PINLINK_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Serve Prometheus metrics at http://ADDR/metrics, on a listener of
    /// their own (off by default): the login funnel, failures, live pins,
    /// request latency by route.
    #[arg(long, env = "PINLINK_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Serve HTTPS (HTTP/1.1 and HTTP/2) with this certificate chain (PEM,
    /// the server's certificate first). Needs --tls-key. Send SIGHUP to
    /// reload both files (a renewed certificate) without dropping
    /// connections. Plain http:// requests to the port get a 400 saying to
    /// use https.
    #[arg(
        long,
        env = "PINLINK_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        env = "PINLINK_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// For an app's CI: seed accounts and approve pins automatically, as
    /// described by a TOML file (`[[account]]` name/email/password, and
    /// `[auto_approve]` account, after_seconds, products, client_identifiers).
    /// Every page and the log say so; only on a loopback address unless
    /// --test-mode-public.
    #[arg(long, value_name = "FILE")]
    pub test_mode: Option<PathBuf>,
    /// Allow --test-mode on an address other than loopback.
    #[arg(long, requires = "test_mode")]
    pub test_mode_public: bool,
    /// The URL clients and browsers reach this server at, used in `qr` links
    /// and page URLs [default: http://LISTEN-ADDRESS].
    #[arg(long, env = "PINLINK_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Lifetime of a 4-character pin, in seconds (plex.tv: 900).
    #[arg(long, env = "PINLINK_LINK_PIN_LIFETIME", default_value_t = 900, value_name = "SECS",
          value_parser = clap::value_parser!(i64).range(1..=86_400))]
    pub link_pin_lifetime: i64,
    /// Lifetime of a strong (25-character) pin, in seconds (plex.tv: 1800).
    #[arg(long, env = "PINLINK_STRONG_PIN_LIFETIME", default_value_t = 1800, value_name = "SECS",
          value_parser = clap::value_parser!(i64).range(1..=86_400))]
    pub strong_pin_lifetime: i64,
    /// PostgreSQL with several instances: keep resolved tokens in memory,
    /// as a SQLite server always does (a token check then costs no database
    /// read). A token revoked on one instance is refused there at once and
    /// by the others when the database's change notification reaches them,
    /// within milliseconds (the tests hold it to 50 ms, p99); without this
    /// flag every check reads the database, so the others refuse at once
    /// too. While the notifications are not heard, nothing is kept.
    #[arg(long, env = "PINLINK_CACHE_TOKENS")]
    pub cache_tokens: bool,
    /// Let anyone create an account at /signup. Off by default: the first
    /// account comes from the start page (with the setup token printed in
    /// the log), further ones from `pinlink user add`.
    #[arg(long, env = "PINLINK_OPEN_SIGNUP")]
    pub open_signup: bool,
    /// A reverse proxy (address or CIDR network, repeatable) whose
    /// forwarding header (see --forwarded-header) names the client: budgets
    /// and the confirmation page then use the address the proxy saw. From
    /// any other peer the header is ignored. Environment: comma-separated.
    #[arg(long = "trusted-proxy", env = "PINLINK_TRUSTED_PROXIES", value_name = "CIDR",
          value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header the trusted proxies write the client's address into:
    /// `x-forwarded-for` (nginx, Caddy, HAProxy, Traefik) or `forwarded`
    /// (RFC 7239). Only that one is read.
    #[arg(long, env = "PINLINK_FORWARDED_HEADER", value_name = "NAME",
          value_parser = ForwardedHeader::parse)]
    pub forwarded_header: Option<ForwardedHeader>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// How much one address or client may ask for, and how many pins may be
/// live (ARCHITECTURE.md explains the defaults). 0 turns a limit off.
#[derive(Args)]
pub struct LimitArgs {
    /// Wrong link codes one account may type in 15 minutes (three times
    /// that in a day). Each wrong code is a guess at someone's code.
    #[arg(
        long,
        env = "PINLINK_WRONG_CODES_PER_ACCOUNT",
        default_value_t = 10,
        value_name = "N"
    )]
    pub wrong_codes_per_account: u32,
    /// Wrong link codes from one address (an IPv6 /64) in 15 minutes
    /// (three times that in a day), whatever the account.
    #[arg(
        long,
        env = "PINLINK_WRONG_CODES_PER_ADDRESS",
        default_value_t = 30,
        value_name = "N"
    )]
    pub wrong_codes_per_address: u32,
    /// New pins one address (an IPv6 /64) may ask for in 10 minutes.
    #[arg(
        long,
        env = "PINLINK_PINS_PER_ADDRESS",
        default_value_t = 60,
        value_name = "N"
    )]
    pub pins_per_address: u32,
    /// New pins one client identifier may ask for from one address in 10
    /// minutes.
    #[arg(
        long,
        env = "PINLINK_PINS_PER_CLIENT",
        default_value_t = 20,
        value_name = "N"
    )]
    pub pins_per_client: u32,
    /// Live pins one address (an IPv6 /64) may hold at once.
    #[arg(
        long,
        env = "PINLINK_MAX_LIVE_PINS_PER_ADDRESS",
        default_value_t = 100,
        value_name = "N"
    )]
    pub max_live_pins_per_address: u32,
    /// Live 4-character codes not linked yet, from one address.
    #[arg(
        long,
        env = "PINLINK_MAX_LIVE_LINK_CODES_PER_ADDRESS",
        default_value_t = 8,
        value_name = "N"
    )]
    pub max_live_link_codes_per_address: u32,
    /// Live 4-character codes not linked yet, on the whole server. Each one
    /// makes a guessed code a little likelier to hit: at most this / 2^20 per
    /// guess (so 0 does not turn it off).
    #[arg(long, env = "PINLINK_MAX_LIVE_LINK_CODES", default_value_t = 512, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_live_link_codes: u32,
    /// Live pins of both kinds on the whole server (each is held in memory:
    /// about 500 bytes, up to about 3 KB with long device names).
    #[arg(
        long,
        env = "PINLINK_MAX_LIVE_PINS",
        default_value_t = 200_000,
        value_name = "N"
    )]
    pub max_live_pins: u64,
}

impl LimitArgs {
    /// Every limit, by its flag's name (`_` for `-`), with its value here.
    fn values(&self) -> [(&'static str, u64); 8] {
        [
            (
                "wrong_codes_per_account",
                self.wrong_codes_per_account.into(),
            ),
            (
                "wrong_codes_per_address",
                self.wrong_codes_per_address.into(),
            ),
            ("pins_per_address", self.pins_per_address.into()),
            ("pins_per_client", self.pins_per_client.into()),
            (
                "max_live_pins_per_address",
                self.max_live_pins_per_address.into(),
            ),
            (
                "max_live_link_codes_per_address",
                self.max_live_link_codes_per_address.into(),
            ),
            ("max_live_link_codes", self.max_live_link_codes.into()),
            ("max_live_pins", self.max_live_pins),
        ]
    }

    /// Applies the limits for which `chosen` says yes (by name).
    fn apply(&self, settings: &mut PinlinkSettings, chosen: impl Fn(&str) -> bool) {
        for (name, value) in self.values() {
            if chosen(name) {
                // The flags' parsers checked every value already.
                let _ = crate::limit_names::set_limit(settings, name, value);
            }
        }
    }
}

/// Runs the server until Ctrl-C or SIGTERM. `given` says whether an
/// option (by its id) was set on the command line or in the environment
/// rather than left at its default.
pub async fn run(args: ServeArgs, given: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    let mut config = build_config(&args.data, args.listen, args.public_url)?;
    config.settings.link_pin_lifetime_secs = args.link_pin_lifetime;
    config.settings.strong_pin_lifetime_secs = args.strong_pin_lifetime;
    config.open_signup |= args.open_signup;
    config.settings.cache_tokens_on_shared_store = args.cache_tokens;
    config.metrics_listen = args.metrics_listen;
    if let (Some(cert), Some(key)) = (args.tls_cert.clone(), args.tls_key.clone()) {
        config.tls = Some(pinlink_server::http::tls::TlsFiles { cert, key });
    }
    if !args.trusted_proxies.is_empty() {
        config.trusted_proxies = config.trusted_proxies.with_networks(args.trusted_proxies);
    }
    if let Some(header) = args.forwarded_header {
        config.trusted_proxies = config.trusted_proxies.reading(header);
    }
    let test_mode = match &args.test_mode {
        Some(path) => {
            if !config.listen.ip().is_loopback() && !args.test_mode_public {
                anyhow::bail!(
                    "test mode approves pins for anyone: it listens on loopback only \
                     (add --test-mode-public to listen on {})",
                    config.listen
                );
            }
            Some(test_mode::TestMode::load(path)?)
        }
        None => None,
    };
    match &test_mode {
        None => args.limits.apply(&mut config.settings, |_| true),
        // Test mode's own limits, then the file's, then what was given.
        Some(test_mode) => {
            test_mode.limit(&mut config.settings)?;
            args.limits.apply(&mut config.settings, &given);
        }
    }
    tracing::info!(database = %pinlink_store::redact_url(&config.database_url), "starting pinlink");
    let app = App::build(config, Arc::new(SystemClock)).await?;
    if let Some(test_mode) = test_mode {
        pinlink_server::state::set_test_mode();
        tracing::warn!("TEST MODE: not for real accounts");
        test_mode.apply(&app.core()).await?;
    }
    app.run(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
