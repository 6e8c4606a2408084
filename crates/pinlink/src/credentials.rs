//! The token `pinlink login` stores, in the user's config directory, readable
//! by that user only.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub server: String,
    pub product: String,
    /// This installation's `X-Plex-Client-Identifier`, kept so the device
    /// stays one entry in the account's device list across logins.
    pub client_identifier: String,
    pub username: String,
    pub token: String,
    /// With `pinlink login --jwt`: the device's Ed25519 private key
    /// (base64), with which the Plex JWT in `token` is refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_key: Option<String>,
}

/// `$XDG_CONFIG_HOME/pinlink/login.json`, else `~/.config/pinlink/login.json`.
pub fn default_path() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("pinlink").join("login.json"));
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => Ok(PathBuf::from(home)
            .join(".config")
            .join("pinlink")
            .join("login.json")),
        None => bail!(
            "cannot find a config directory: set HOME or XDG_CONFIG_HOME, or pass --token-file"
        ),
    }
}

pub fn load(path: &Path) -> anyhow::Result<Option<Credentials>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("{} is not a pinlink login file", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub fn load_required(path: &Path) -> anyhow::Result<Credentials> {
    load(path)?.with_context(|| {
        format!(
            "not logged in ({} does not exist): run `pinlink login` first",
            path.display()
        )
    })
}

/// Writes atomically (a temporary file renamed into place), mode 0600.
pub fn save(path: &Path, credentials: &Credentials) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let temporary = dir.join(format!(".login.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(serde_json::to_string_pretty(credentials)?.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

pub fn remove(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}
