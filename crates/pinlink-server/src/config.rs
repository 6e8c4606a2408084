//! Server configuration. The binary layers defaults, a config file,
//! `PINLINK_*` environment variables and flags into one [`Config`]; tests
//! start from [`Config::for_test`].

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use pinlink_core::{PinlinkSettings, ServerKey};
use pinlink_proto::Location;

use crate::client_address::TrustedProxies;
use crate::http::ConnectionLimits;

#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// `sqlite://FILE` or `postgres://…`.
    pub database_url: String,
    /// Pool size and timeouts for PostgreSQL.
    pub database: pinlink_store::StoreOptions,
    /// How clients reach this server, without a trailing slash: used in the
    /// pin's `qr` link and in page URLs. Defaults to `http://{listen}`
    /// (`https://` with TLS).
    pub public_url: Option<String>,
    /// The master key for token and code hashes and sealed copies.
    pub key: ServerKey,
    /// What every pin reports as its `location` (pinlink does no geo-IP).
    pub location: Location,
    pub settings: PinlinkSettings,
    /// How often expired pins and stale failure counts are deleted.
    pub sweep_interval: Duration,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Largest total size of request headers accepted (431 beyond).
    pub max_header_bytes: usize,
    /// Whether anyone may create an account at `/signup` (off by default:
    /// accounts come from the first-start page and `pinlink user add`).
    pub open_signup: bool,
    /// Reverse proxies whose `Forwarded`/`X-Forwarded-For` name the client.
    pub trusted_proxies: TrustedProxies,
    /// Timeouts and caps on connections.
    pub connections: ConnectionLimits,
    /// Where Prometheus scrapes `/metrics`; `None` (the default) records
    /// nothing.
    pub metrics_listen: Option<SocketAddr>,
    /// Serve HTTPS with this certificate and key (PEM); reloaded on SIGHUP.
    pub tls: Option<crate::http::tls::TlsFiles>,
}

impl Config {
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:8080";
    pub const DEFAULT_DATABASE: &'static str = "sqlite://pinlink.db";

    pub fn new(database_url: String, key: ServerKey) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url,
            database: pinlink_store::StoreOptions::default(),
            public_url: None,
            key,
            location: Location::default(),
            settings: PinlinkSettings::default(),
            sweep_interval: Duration::from_secs(60),
            max_body_bytes: 64 * 1024,
            max_header_bytes: 16 * 1024,
            open_signup: false,
            trusted_proxies: TrustedProxies::default(),
            connections: ConnectionLimits::default(),
            metrics_listen: None,
            tls: None,
        }
    }

    /// Loopback, a free port, a private in-memory database, a fresh key.
    pub fn for_test() -> Config {
        let mut config = Config::new("sqlite::memory:".into(), ServerKey::generate());
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }
}

/// Reads the server key from `path`, or creates it (mode 0600) when the file
/// does not exist yet. The file holds 64 hex digits.
pub fn load_or_create_key(path: &Path) -> anyhow::Result<ServerKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_key(text.trim())
            .with_context(|| format!("the key file {} is not 64 hex digits", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = ServerKey::generate();
            let hex: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options
                .open(path)
                .with_context(|| format!("cannot create the key file {}", path.display()))?;
            file.write_all(format!("{hex}\n").as_bytes())?;
            file.sync_all()?;
            tracing::info!(path = %path.display(), "created a new server key; keep it with the database");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read the key file {}", path.display())),
    }
}

fn parse_key(hex: &str) -> anyhow::Result<ServerKey> {
    if hex.len() != ServerKey::LEN * 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("expected {} hex digits", ServerKey::LEN * 2);
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
        .collect::<Result<_, _>>()?;
    ServerKey::from_bytes(&bytes).context("wrong key length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pinlink.key");
        let first = load_or_create_key(&path).expect("created");
        let again = load_or_create_key(&path).expect("read");
        assert_eq!(first.as_bytes(), again.as_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").expect("write");
        assert!(load_or_create_key(&path).is_err());
    }
}
