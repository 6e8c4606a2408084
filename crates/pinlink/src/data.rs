//! Where the data lives, for every command that touches it: the database
//! URL, the key file and the config file ([`DataArgs`]), layered into the
//! server's configuration (defaults → config file → environment → flags).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use pinlink_core::{Pinlink, PinlinkSettings, SystemClock};
use pinlink_server::client_address::{ForwardedHeader, TrustedProxies};
use pinlink_server::config::load_or_create_key;
use pinlink_server::Config;
use serde::Deserialize;

/// Where the data lives: every command that touches it takes these.
#[derive(Args)]
pub struct DataArgs {
    /// Database URL: `sqlite://FILE` (the default, sqlite://pinlink.db;
    /// created on first use) or `postgres://USER:PASSWORD@HOST/DATABASE`
    /// for several instances sharing one database (PostgreSQL 15+).
    #[arg(long, env = "PINLINK_DATABASE", value_name = "URL")]
    pub database: Option<String>,
    /// File holding the server key that protects stored tokens and codes
    /// (created, mode 0600, on first use). Keep it with the database and out
    /// of its backups: without it stored tokens cannot be checked.
    #[arg(long, env = "PINLINK_KEY_FILE", value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// A TOML file with any of: listen, database, public_url, key_file,
    /// open_signup, trusted_proxies (a list), forwarded_header and a
    /// `[location]` table. Flags and
    /// environment variables override it.
    #[arg(long, env = "PINLINK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// PostgreSQL: connections per instance (one listens for the other
    /// instances' changes). Keep instances × this below the server's
    /// max_connections. TLS is set in the URL (`?sslmode=require`).
    #[arg(long, env = "PINLINK_DATABASE_POOL_SIZE", default_value_t = 10, value_name = "N",
          value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub database_pool_size: u32,
    /// PostgreSQL: cancel a statement after this many seconds (the request
    /// gets a 503); also how long a request waits for a free connection.
    #[arg(long, env = "PINLINK_DATABASE_TIMEOUT", default_value_t = 5, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub database_timeout: u64,
}

impl DataArgs {
    pub fn store_options(&self) -> pinlink_store::StoreOptions {
        let timeout = std::time::Duration::from_secs(self.database_timeout);
        pinlink_store::StoreOptions {
            max_connections: self.database_pool_size,
            statement_timeout: timeout,
            acquire_timeout: timeout,
        }
    }

    /// The key file's path: flag or environment, then the config file,
    /// then the default.
    pub fn key_file_path(&self) -> anyhow::Result<PathBuf> {
        let file = read_file_config(self.config.as_deref())?;
        Ok(self
            .key_file
            .clone()
            .or(file.key_file)
            .unwrap_or_else(|| PathBuf::from("pinlink.key")))
    }

    /// The database URL: flag or environment, then the config file, then
    /// the default.
    pub fn database_url(&self) -> anyhow::Result<String> {
        let file = read_file_config(self.config.as_deref())?;
        Ok(self
            .database
            .clone()
            .or(file.database)
            .unwrap_or_else(|| Config::DEFAULT_DATABASE.to_owned()))
    }
}

/// A `--trusted-proxy` network (an address or CIDR).
pub fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    pinlink_server::client_address::TrustedProxies::parse_network(text)
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
pub fn build_config(
    data: &DataArgs,
    listen: Option<SocketAddr>,
    public_url: Option<String>,
) -> anyhow::Result<Config> {
    let file = read_file_config(data.config.as_deref())?;
    let database = data.database_url()?;
    let key_file = data.key_file_path()?;
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

pub async fn open_core(data: &DataArgs) -> anyhow::Result<Pinlink> {
    let config = build_config(data, None, None)?;
    let store = pinlink_server::startup::open_store(&config.database_url, &config.database).await?;
    // An operator's command: running servers hear of its changes.
    let settings = PinlinkSettings {
        operator: true,
        ..PinlinkSettings::default()
    };
    Ok(Pinlink::new(
        store,
        Arc::new(SystemClock),
        &config.key,
        settings,
    ))
}
