//! A peer measured in the same run: another device-flow server, loaded the
//! same way, so BENCHMARKS.md can say "N× the peer" from one run.
//!
//! `oidc-provider` (npm, the OpenID Foundation-certified Node.js server) with
//! its RFC 8628 device flow on and its in-memory adapter: its device
//! authorization request is set beside our pin creation, its pending token
//! poll beside our pending pin poll. It lives in `peer/oidc-provider/`
//! (package.json and package-lock.json pin the version; `npm ci` installs it
//! on first use).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::{measure, Cli, Row};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Peer {
    /// node oidc-provider, device flow, in-memory adapter.
    OidcProvider,
}

const DEVICE_AUTHORIZATION_PATH: &str = "/device/auth";
const TOKEN_PATH: &str = "/token";
/// Pending device codes polled at random.
const POLLED_CODES: u64 = 10_000;

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peer/oidc-provider")
}

/// Installs the pinned packages unless they are there.
fn install() -> anyhow::Result<()> {
    let dir = folder();
    if dir.join("node_modules/oidc-provider/package.json").exists() {
        return Ok(());
    }
    eprintln!(
        "peer: installing oidc-provider (npm ci in {}) …",
        dir.display()
    );
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .context("cannot run npm (Node.js and npm are needed for --peer)")?;
    if !status.success() {
        bail!("npm ci failed in {}", dir.display());
    }
    Ok(())
}

struct Running {
    _child: Child,
    address: SocketAddr,
}

async fn start() -> anyhow::Result<Running> {
    let mut child = Command::new("node")
        .arg("server.mjs")
        // The in-memory adapter's default store keeps only 1000 entries
        // (an LRU): the polled codes would be evicted. A plain Map keeps
        // them all, as a real deployment's database would.
        .arg("--unbounded-store")
        .current_dir(folder())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run node")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .context("the peer did not start within 30 s")??
        .context("the peer exited before listening")?;
    let address = line
        .strip_prefix("listening ")
        .context("unexpected output from the peer")?
        .parse()?;
    Ok(Running {
        _child: child,
        address,
    })
}

/// Measures the peer's two requests; returns their rows.
pub async fn measure_peer(peer: Peer, cli: &Cli, work: &Path) -> anyhow::Result<Vec<Row>> {
    let Peer::OidcProvider = peer;
    install()?;
    let running = start().await?;
    let address = [running.address];
    let seconds = Duration::from_secs(cli.seconds);
    eprintln!("peer oidc-provider: device authorization …");
    let created = measure(
        cli,
        &address,
        crate::wrk::script("peer_device_authorization"),
        seconds,
        &[("BENCH_PATH", DEVICE_AUTHORIZATION_PATH.into())],
        |_| Vec::new(),
        work,
    )
    .await?;

    eprintln!("peer oidc-provider: making {POLLED_CODES} device codes, then polling …");
    let codes_file = work.join("peer-codes.txt");
    crate::grant::make_device_codes(
        "the peer",
        running.address,
        crate::grant::device_authorization(DEVICE_AUTHORIZATION_PATH, "bench"),
        POLLED_CODES,
        &codes_file,
    )
    .await?;
    let polled = measure(
        cli,
        &address,
        crate::wrk::script("token_poll"),
        seconds,
        &[
            ("BENCH_PATH", TOKEN_PATH.into()),
            ("BENCH_CODES", codes_file.display().to_string()),
            ("BENCH_EXPECTED_STATUS", "400".into()),
        ],
        |_| Vec::new(),
        work,
    )
    .await?;
    Ok(vec![
        Row {
            name: "peer oidc-provider: device authorization".into(),
            figures: created,
        },
        Row {
            name: "peer oidc-provider: token poll (pending, 400)".into(),
            figures: polled,
        },
    ])
}
