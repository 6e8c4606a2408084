//! The `pinlink` command: run the server, manage accounts.
//!
//! `main` only parses the command line, sets up logging and hands
//! Ctrl-C/SIGTERM to the server as its shutdown signal.

mod big_code;
mod credentials;
mod device_commands;
mod test_mode;

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use pinlink_core::{Limit, PinCaps, Pinlink, PinlinkSettings, SystemClock};
use pinlink_server::client_address::{ForwardedHeader, TrustedProxies};
use pinlink_server::config::load_or_create_key;
use pinlink_server::{App, Config};
use serde::Deserialize;

#[derive(Parser)]
#[command(
    name = "pinlink",
    version,
    about = "A self-hostable device-linking server, wire-compatible with plex.tv's PIN API",
    long_about = "A self-hostable device-linking (\"enter this code on your phone\") server, \
wire-compatible with plex.tv's PIN API.\n\n\
Quick start: `pinlink user add alice --email alice@example.org`, then `pinlink serve`. \
Devices create pins with POST /api/v2/pins and poll GET /api/v2/pins/{id}; \
a signed-in account links a code with PUT /api/v2/pins/link.",
    after_help = "Environment: PINLINK_DATABASE, PINLINK_KEY_FILE, PINLINK_LISTEN, PINLINK_PUBLIC_URL, \
PINLINK_CONFIG, PINLINK_DATABASE_POOL_SIZE, PINLINK_DATABASE_TIMEOUT, PINLINK_OPEN_SIGNUP, \
PINLINK_TRUSTED_PROXIES and one per limit (see `pinlink serve --help`); \
PINLINK_LOG sets the log filter (e.g. `debug`, default `info`)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as text, or as one JSON object per line for log shippers.
    /// PINLINK_LOG sets the level (debug shows every request: route,
    /// status, latency, request id).
    #[arg(
        long,
        global = true,
        env = "PINLINK_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Log this computer in with a PIN (plex.tv by default, or --server) and
    /// store the token.
    Login(device_commands::LoginArgs),
    /// Show who the stored token belongs to.
    Whoami(device_commands::StoredLoginArgs),
    /// List the devices of the stored login's account.
    Devices(device_commands::StoredLoginArgs),
    /// Sign the stored token out and forget it.
    Logout(device_commands::StoredLoginArgs),
    /// The keys Plex JWTs are signed with.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// An account's servers (its resources), for an app's CI.
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// Applications that sign devices in with the standard OAuth 2.0 device
    /// grant (RFC 8628): POST /oauth/device_authorization, POST /oauth/token.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Apply pending database migrations and exit. `serve` does this too at
    /// every start (instances starting together take turns), so this is only
    /// needed to migrate ahead of a rolling deploy.
    Migrate {
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Where the data lives: every command that touches it takes these.
#[derive(Args)]
struct DataArgs {
    /// Database URL: `sqlite://FILE` (the default, sqlite://pinlink.db;
    /// created on first use) or `postgres://USER:PASSWORD@HOST/DATABASE`
    /// for several instances sharing one database (PostgreSQL 15+).
    #[arg(long, env = "PINLINK_DATABASE", value_name = "URL")]
    database: Option<String>,
    /// File holding the server key that protects stored tokens and codes
    /// (created, mode 0600, on first use). Keep it with the database and out
    /// of its backups: without it stored tokens cannot be checked.
    #[arg(long, env = "PINLINK_KEY_FILE", value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// A TOML file with any of: listen, database, public_url, key_file,
    /// open_signup, trusted_proxies (a list), forwarded_header and a
    /// `[location]` table. Flags and
    /// environment variables override it.
    #[arg(long, env = "PINLINK_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// PostgreSQL: connections per instance (one listens for the other
    /// instances' changes). Keep instances × this below the server's
    /// max_connections. TLS is set in the URL (`?sslmode=require`).
    #[arg(long, env = "PINLINK_DATABASE_POOL_SIZE", default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u32).range(2..=1000))]
    database_pool_size: u32,
    /// PostgreSQL: cancel a statement after this many seconds (the request
    /// gets a 503); also how long a request waits for a free connection.
    #[arg(long, env = "PINLINK_DATABASE_TIMEOUT", default_value_t = 5, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=300))]
    database_timeout: u64,
}

impl DataArgs {
    fn store_options(&self) -> pinlink_store::StoreOptions {
        let timeout = std::time::Duration::from_secs(self.database_timeout);
        pinlink_store::StoreOptions {
            max_connections: self.database_pool_size,
            statement_timeout: timeout,
            acquire_timeout: timeout,
        }
    }

    /// The database URL: flag or environment, then the config file, then
    /// the default.
    fn database_url(&self) -> anyhow::Result<String> {
        let file = read_file_config(self.config.as_deref())?;
        Ok(self
            .database
            .clone()
            .or(file.database)
            .unwrap_or_else(|| Config::DEFAULT_DATABASE.to_owned()))
    }
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "PINLINK_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Serve Prometheus metrics at http://ADDR/metrics, on a listener of
    /// their own (off by default): the login funnel, failures, live pins,
    /// request latency by route.
    #[arg(long, env = "PINLINK_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
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
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        env = "PINLINK_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// For an app's CI: seed accounts and approve pins automatically, as
    /// described by a TOML file (`[[account]]` name/email/password, and
    /// `[auto_approve]` account, after_seconds, products, client_identifiers).
    /// Every page and the log say so; only on a loopback address unless
    /// --test-mode-public.
    #[arg(long, value_name = "FILE")]
    test_mode: Option<PathBuf>,
    /// Allow --test-mode on an address other than loopback.
    #[arg(long, requires = "test_mode")]
    test_mode_public: bool,
    /// The URL clients and browsers reach this server at, used in `qr` links
    /// and page URLs [default: http://LISTEN-ADDRESS].
    #[arg(long, env = "PINLINK_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Lifetime of a 4-character pin, in seconds (plex.tv: 900).
    #[arg(long, env = "PINLINK_LINK_PIN_LIFETIME", default_value_t = 900, value_name = "SECS",
          value_parser = clap::value_parser!(i64).range(1..=86_400))]
    link_pin_lifetime: i64,
    /// Lifetime of a strong (25-character) pin, in seconds (plex.tv: 1800).
    #[arg(long, env = "PINLINK_STRONG_PIN_LIFETIME", default_value_t = 1800, value_name = "SECS",
          value_parser = clap::value_parser!(i64).range(1..=86_400))]
    strong_pin_lifetime: i64,
    /// Let anyone create an account at /signup. Off by default: the first
    /// account comes from the start page (with the setup token printed in
    /// the log), further ones from `pinlink user add`.
    #[arg(long, env = "PINLINK_OPEN_SIGNUP")]
    open_signup: bool,
    /// A reverse proxy (address or CIDR network, repeatable) whose
    /// forwarding header (see --forwarded-header) names the client: budgets
    /// and the confirmation page then use the address the proxy saw. From
    /// any other peer the header is ignored. Environment: comma-separated.
    #[arg(long = "trusted-proxy", env = "PINLINK_TRUSTED_PROXIES", value_name = "CIDR",
          value_delimiter = ',', value_parser = parse_network)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// The header the trusted proxies write the client's address into:
    /// `x-forwarded-for` (nginx, Caddy, HAProxy, Traefik) or `forwarded`
    /// (RFC 7239). Only that one is read.
    #[arg(long, env = "PINLINK_FORWARDED_HEADER", value_name = "NAME",
          value_parser = ForwardedHeader::parse)]
    forwarded_header: Option<ForwardedHeader>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// How much one address or client may ask for, and how many pins may be
/// live (ARCHITECTURE.md explains the defaults). 0 turns a limit off.
#[derive(Args)]
struct LimitArgs {
    /// Wrong link codes one account may type in 15 minutes (three times
    /// that in a day). Each wrong code is a guess at someone's code.
    #[arg(
        long,
        env = "PINLINK_WRONG_CODES_PER_ACCOUNT",
        default_value_t = 10,
        value_name = "N"
    )]
    wrong_codes_per_account: u32,
    /// Wrong link codes from one address (an IPv6 /64) in 15 minutes
    /// (three times that in a day), whatever the account.
    #[arg(
        long,
        env = "PINLINK_WRONG_CODES_PER_ADDRESS",
        default_value_t = 30,
        value_name = "N"
    )]
    wrong_codes_per_address: u32,
    /// New pins one address (an IPv6 /64) may ask for in 10 minutes.
    #[arg(
        long,
        env = "PINLINK_PINS_PER_ADDRESS",
        default_value_t = 60,
        value_name = "N"
    )]
    pins_per_address: u32,
    /// New pins one client identifier may ask for from one address in 10
    /// minutes.
    #[arg(
        long,
        env = "PINLINK_PINS_PER_CLIENT",
        default_value_t = 20,
        value_name = "N"
    )]
    pins_per_client: u32,
    /// Live pins one address (an IPv6 /64) may hold at once.
    #[arg(
        long,
        env = "PINLINK_MAX_LIVE_PINS_PER_ADDRESS",
        default_value_t = 100,
        value_name = "N"
    )]
    max_live_pins_per_address: u32,
    /// Live 4-character codes not linked yet, from one address.
    #[arg(
        long,
        env = "PINLINK_MAX_LIVE_LINK_CODES_PER_ADDRESS",
        default_value_t = 8,
        value_name = "N"
    )]
    max_live_link_codes_per_address: u32,
    /// Live 4-character codes not linked yet, on the whole server. Each one
    /// makes a guessed code a little likelier to hit: at most this / 2^20 per
    /// guess (so 0 does not turn it off).
    #[arg(long, env = "PINLINK_MAX_LIVE_LINK_CODES", default_value_t = 512, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    max_live_link_codes: u32,
    /// Live pins of both kinds on the whole server (each is held in memory:
    /// about 500 bytes, up to about 3 KB with long device names).
    #[arg(
        long,
        env = "PINLINK_MAX_LIVE_PINS",
        default_value_t = 200_000,
        value_name = "N"
    )]
    max_live_pins: u64,
}

impl LimitArgs {
    fn apply(&self, settings: &mut PinlinkSettings) {
        let per = |n: u32, secs: i64| {
            if n == 0 {
                Limit::OFF
            } else {
                Limit::new(n, secs)
            }
        };
        let b = &mut settings.budgets;
        b.link_per_account = per(self.wrong_codes_per_account, 15 * 60);
        b.link_per_account_daily = per(self.wrong_codes_per_account.saturating_mul(3), 86_400);
        b.link_per_address = per(self.wrong_codes_per_address, 15 * 60);
        b.link_per_address_daily = per(self.wrong_codes_per_address.saturating_mul(3), 86_400);
        b.pins_per_address = per(self.pins_per_address, 600);
        b.pins_per_client = per(self.pins_per_client, 600);
        let cap = |n: u32| if n == 0 { u32::MAX } else { n };
        settings.caps = PinCaps {
            per_address: cap(self.max_live_pins_per_address),
            link_codes_per_address: cap(self.max_live_link_codes_per_address),
            link_codes: self.max_live_link_codes,
            total: if self.max_live_pins == 0 {
                u64::MAX
            } else {
                self.max_live_pins
            },
        };
    }
}

fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    pinlink_server::client_address::TrustedProxies::parse_network(text)
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. Asks for the password (twice) unless
    /// --password-stdin is given.
    Add {
        #[command(flatten)]
        data: DataArgs,
        /// The account name: letters, digits, dots, dashes, underscores.
        name: String,
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List {
        #[command(flatten)]
        data: DataArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// An account's servers: what `/api/v2/resources` lists. Plex Media
/// Servers publish themselves (`PUT /devices/{clientIdentifier}`); in an
/// app's CI there is none, so an operator declares one.
#[derive(Subcommand)]
enum ResourceCommand {
    /// Declare a server for an account: listed with this name and one
    /// connection, and a token of its own as its accessToken.
    Add {
        #[command(flatten)]
        data: DataArgs,
        /// The account (username or e-mail).
        #[arg(long, value_name = "NAME")]
        user: String,
        /// The server's name.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// How to reach it, e.g. http://192.168.1.10:32400.
        #[arg(long, value_name = "URI")]
        uri: String,
    },
}

/// OAuth clients of the device grant. Each gets a `client_id`; a
/// confidential one also a `client_secret`, shown once and stored only as a
/// keyed hash. Devices linked through a client are listed with its name.
#[derive(Subcommand)]
enum ClientCommand {
    /// Register an application and print its client_id (and secret).
    Add {
        #[command(flatten)]
        data: DataArgs,
        /// The name people see on the confirmation screen and in their
        /// device list.
        name: String,
        /// Give it a client_secret (for a server-side app that can keep one;
        /// devices cannot, RFC 8628 §5.6, so the default is a public client).
        #[arg(long)]
        confidential: bool,
        /// Print {"client_id": …, "client_secret": …} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the registered applications.
    List {
        #[command(flatten)]
        data: DataArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an application: its pending codes stop working, and the
    /// devices linked through it lose their tokens at once.
    Remove {
        #[command(flatten)]
        data: DataArgs,
        /// Its client_id.
        client_id: String,
    },
}

/// Plex JWT signing keys. They are derived from the server key and a
/// generation number, so the database holds only the numbers and every
/// instance with the key file signs with the same keys.
#[derive(Subcommand)]
enum KeysCommand {
    /// Start signing with a new key. The previous one stays published at
    /// /api/v2/auth/keys until the JWTs it signed have expired (7 days);
    /// running servers pick the new key up within a minute.
    Rotate {
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the signing keys: generation, key id, and until when each is
    /// published.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

/// The config file's contents; every key optional, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    database: Option<String>,
    public_url: Option<String>,
    key_file: Option<PathBuf>,
    open_signup: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    forwarded_header: Option<String>,
    location: Option<pinlink_proto::Location>,
}

fn read_file_config(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

/// Defaults, then the config file, then environment and flags.
fn build_config(
    data: &DataArgs,
    listen: Option<SocketAddr>,
    public_url: Option<String>,
) -> anyhow::Result<Config> {
    let file = read_file_config(data.config.as_deref())?;
    let database = data.database_url()?;
    let key_file = data
        .key_file
        .clone()
        .or(file.key_file)
        .unwrap_or_else(|| PathBuf::from("pinlink.key"));
    let key = load_or_create_key(&key_file)?;
    let mut config = Config::new(database, key);
    config.database = data.store_options();
    if let Some(listen) = listen.or(file.listen) {
        config.listen = listen;
    }
    config.public_url = public_url.or(file.public_url);
    if let Some(location) = file.location {
        config.location = location;
    }
    config.open_signup = file.open_signup.unwrap_or(false);
    let proxies = file
        .trusted_proxies
        .unwrap_or_default()
        .iter()
        .map(|text| parse_network(text))
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| anyhow::anyhow!("trusted_proxies in the config file: {e}"))?;
    config.trusted_proxies = TrustedProxies::new(proxies);
    if let Some(header) = file.forwarded_header {
        let header = ForwardedHeader::parse(&header)
            .map_err(|e| anyhow::anyhow!("forwarded_header in the config file: {e}"))?;
        config.trusted_proxies = config.trusted_proxies.reading(header);
    }
    Ok(config)
}

async fn open_core(data: &DataArgs) -> anyhow::Result<Pinlink> {
    let config = build_config(data, None, None)?;
    let store = pinlink_server::startup::open_store(&config.database_url, &config.database).await?;
    Ok(Pinlink::new(
        store,
        Arc::new(SystemClock),
        &config.key,
        PinlinkSettings::default(),
    ))
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

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        if password.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(password);
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Password (again): ")?;
    if first != second {
        bail!("the passwords differ");
    }
    Ok(first)
}

fn unix_to_date(secs: i64) -> String {
    pinlink_proto::time_format::xml_datetime(secs)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let mut config = build_config(&args.data, args.listen, args.public_url)?;
            config.settings.link_pin_lifetime_secs = args.link_pin_lifetime;
            config.settings.strong_pin_lifetime_secs = args.strong_pin_lifetime;
            config.open_signup |= args.open_signup;
            config.metrics_listen = args.metrics_listen;
            if let (Some(cert), Some(key)) = (args.tls_cert.clone(), args.tls_key.clone()) {
                config.tls = Some(pinlink_server::tls::TlsFiles { cert, key });
            }
            if !args.trusted_proxies.is_empty() {
                config.trusted_proxies = config.trusted_proxies.with_networks(args.trusted_proxies);
            }
            if let Some(header) = args.forwarded_header {
                config.trusted_proxies = config.trusted_proxies.reading(header);
            }
            args.limits.apply(&mut config.settings);
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
            tracing::info!(database = %pinlink_store::redact_url(&config.database_url), "starting pinlink");
            let app = App::build(config, Arc::new(SystemClock)).await?;
            if let Some(test_mode) = test_mode {
                pinlink_server::state::set_test_mode();
                tracing::warn!("TEST MODE: not for real accounts");
                test_mode.apply(&app.core()).await?;
            }
            app.run(shutdown_signal()).await
        }
        Command::Login(args) => device_commands::login(args).await,
        Command::Whoami(args) => device_commands::whoami(args).await,
        Command::Devices(args) => device_commands::devices(args).await,
        Command::Logout(args) => device_commands::logout(args).await,
        Command::Migrate { data } => {
            let url = data.database_url()?;
            let applied = pinlink_store::migrate(&url, &data.store_options())
                .await
                .with_context(|| format!("cannot migrate {}", pinlink_store::redact_url(&url)))?;
            if applied.is_empty() {
                println!("{}: up to date", pinlink_store::redact_url(&url));
            } else {
                let versions: Vec<String> = applied.iter().map(i64::to_string).collect();
                println!(
                    "{}: applied migration(s) {}",
                    pinlink_store::redact_url(&url),
                    versions.join(", ")
                );
            }
            Ok(())
        }
        Command::User(UserCommand::Add {
            data,
            name,
            email,
            password_stdin,
        }) => {
            let core = open_core(&data).await?;
            let password = read_password(password_stdin)?;
            let account = core.add_account(&name, &email, password).await?;
            println!(
                "created account {} (id {})",
                account.username.as_str(),
                account.id.0
            );
            Ok(())
        }
        Command::Resource(ResourceCommand::Add {
            data,
            user,
            name,
            uri,
        }) => {
            let core = open_core(&data).await?;
            let client = core.declare_resource(&user, &name, &uri).await?;
            println!("declared server {name:?} ({client}) for {user}, at {uri}");
            Ok(())
        }
        Command::Client(ClientCommand::Add {
            data,
            name,
            confidential,
            json,
        }) => {
            let core = open_core(&data).await?;
            let (application, secret) = core.add_application(&name, confidential).await?;
            if json {
                let out = serde_json::json!({
                    "client_id": application.id.as_str(),
                    "client_secret": secret,
                });
                println!("{out}");
            } else {
                println!("registered {:?}", application.name);
                println!("client_id:     {}", application.id);
                if let Some(secret) = secret {
                    println!("client_secret: {secret}");
                    println!("(shown only now: pinlink keeps only a hash of it)");
                }
            }
            Ok(())
        }
        Command::Client(ClientCommand::List { data, json }) => {
            let core = open_core(&data).await?;
            let applications = core.applications().await?;
            if json {
                let list: Vec<_> = applications
                    .iter()
                    .map(|a| {
                        serde_json::json!({
                            "client_id": a.id.as_str(), "name": a.name,
                            "confidential": a.confidential, "createdAt": a.created_at.0,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if applications.is_empty() {
                println!("no clients yet: register one with `pinlink client add NAME`");
            } else {
                println!("{:<24} {:<13} {:<24} NAME", "CLIENT_ID", "TYPE", "CREATED");
                for a in &applications {
                    let kind = if a.confidential {
                        "confidential"
                    } else {
                        "public"
                    };
                    println!(
                        "{:<24} {:<13} {:<24} {}",
                        a.id,
                        kind,
                        unix_to_date(a.created_at.0),
                        a.name
                    );
                }
            }
            Ok(())
        }
        Command::Client(ClientCommand::Remove { data, client_id }) => {
            let core = open_core(&data).await?;
            if core.remove_application(&client_id).await? {
                println!("removed {client_id}: its devices' tokens no longer work");
                Ok(())
            } else {
                anyhow::bail!("no client with id {client_id:?} (see `pinlink client list`)")
            }
        }
        Command::Keys(KeysCommand::Rotate { data }) => {
            let core = open_core(&data).await?;
            let (generation, jwk) = core.rotate_signing_key().await?;
            println!("now signing with key {} (generation {generation})", jwk.kid);
            println!("older keys stay published until the JWTs they signed have expired (7 days)");
            Ok(())
        }
        Command::Keys(KeysCommand::List { data }) => {
            let core = open_core(&data).await?;
            core.load_signing_keys().await?;
            let (newest, _) = core.newest_signing_key();
            println!("published keys (the newest, generation {newest}, signs):");
            for jwk in core.jwt_keys() {
                println!("  {}", jwk.kid);
            }
            Ok(())
        }
        Command::User(UserCommand::List { data, json }) => {
            let core = open_core(&data).await?;
            let accounts = core.accounts().await?;
            if json {
                let list: Vec<_> = accounts
                    .iter()
                    .map(|a| {
                        serde_json::json!({
                            "id": a.id.0, "uuid": a.uuid, "username": a.username.as_str(),
                            "email": a.email.as_str(), "createdAt": a.created_at.0,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if accounts.is_empty() {
                println!("no accounts yet: create one with `pinlink user add NAME --email EMAIL`");
            } else {
                println!("{:>5}  {:<24} {:<32} CREATED", "ID", "USERNAME", "E-MAIL");
                for a in &accounts {
                    println!(
                        "{:>5}  {:<24} {:<32} {}",
                        a.id.0,
                        a.username.as_str(),
                        a.email.as_str(),
                        unix_to_date(a.created_at.0)
                    );
                }
            }
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("PINLINK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
