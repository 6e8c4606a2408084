//! The processes under test: pinlink (release build; a fresh SQLite database
//! in a temporary directory, or a fresh PostgreSQL database made for the
//! run) and the baseline. Both are killed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hyper::Method;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::load::{self, LoadPlan, MakeRequest, RequestSpec};

pub const BENCH_USER: &str = "bench";
const BENCH_PASSWORD: &str = "bench-password-not-secret";

pub struct TempDir {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TempDir {
    pub fn new() -> anyhow::Result<TempDir> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().to_owned();
        Ok(TempDir { _dir: dir, path })
    }
}

/// Builds `pinlink` in release mode; returns the binary's path.
pub fn build_release() -> anyhow::Result<PathBuf> {
    eprintln!("building pinlink in release mode …");
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "-p", "pinlink", "--locked"])
            .status()
            .context("cannot run cargo")?;
    if !status.success() {
        bail!("building pinlink failed");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Ok(root.join("target/release/pinlink"))
}

fn read_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("no /proc: RSS needs Linux")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

pub struct Pinlink {
    child: Child,
    pub address: SocketAddr,
}

/// The bench drives every request from one address and one account, at
/// rates the budgets exist to stop; it measures throughput, so it turns
/// them off (live 4-character codes stay capped at the default: the bench
/// creates few of them).
const NO_LIMITS: &[&str] = &[
    "--pins-per-address",
    "0",
    "--pins-per-client",
    "0",
    "--max-live-pins-per-address",
    "0",
    "--max-live-pins",
    "0",
    "--max-live-link-codes-per-address",
    "0",
    "--wrong-codes-per-account",
    "0",
    "--wrong-codes-per-address",
    "0",
];

/// Where the instances keep their data.
pub struct Data<'a> {
    /// The directory for the key file (and the SQLite database).
    pub dir: &'a Path,
    /// A database URL; `None` is SQLite in `dir`.
    pub database: Option<&'a str>,
}

impl Data<'_> {
    /// What every `pinlink` command of the run is given.
    fn env(&self) -> [(&'static str, String); 3] {
        [
            ("PINLINK_DATABASE", self.url()),
            (
                "PINLINK_KEY_FILE",
                self.dir.join("bench.key").display().to_string(),
            ),
            ("PINLINK_LOG", "info".to_owned()),
        ]
    }

    /// Registers a public client of the device grant (`pinlink client
    /// add`); its `client_id`.
    pub async fn add_client(&self, bin: &Path) -> anyhow::Result<String> {
        let env = self.env();
        let out = Command::new(bin)
            .args(["client", "add", "bench device app", "--json"])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stderr(Stdio::null())
            .output()
            .await
            .with_context(|| format!("cannot run {}", bin.display()))?;
        if !out.status.success() {
            bail!("pinlink client add failed");
        }
        let added: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        added["client_id"]
            .as_str()
            .map(str::to_owned)
            .context("no client_id from pinlink client add")
    }

    fn url(&self) -> String {
        match self.database {
            Some(url) => url.to_owned(),
            None => format!("sqlite://{}", self.dir.join("bench.db").display()),
        }
    }
}

/// Which limits an instance runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limits {
    /// Every budget and cap off ([`NO_LIMITS`]): throughput alone.
    Off,
    /// The defaults, as operators run pinlink, behind a proxy on 127.0.0.1
    /// whose `X-Forwarded-For` names the client (so the load can come from
    /// many addresses).
    Default,
}

impl Pinlink {
    /// Starts one instance with every limit off; `instance` 0 also creates
    /// the bench account.
    pub async fn start(
        bin: &Path,
        data: &Data<'_>,
        instance: usize,
        extra_args: &[&str],
    ) -> anyhow::Result<Pinlink> {
        Self::start_with(bin, data, instance, Limits::Off, extra_args).await
    }

    pub async fn start_with(
        bin: &Path,
        data: &Data<'_>,
        instance: usize,
        limits: Limits,
        extra_args: &[&str],
    ) -> anyhow::Result<Pinlink> {
        let limit_args: &[&str] = match limits {
            Limits::Off => NO_LIMITS,
            Limits::Default => &["--trusted-proxy", "127.0.0.1"],
        };
        let env = data.env();
        if instance == 0 {
            add_bench_account(bin, &env).await?;
        }
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(limit_args)
            .args(extra_args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
        let address = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.split("address=").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    return addr.parse::<SocketAddr>().context("bad address in log");
                }
            }
            bail!("pinlink serve exited before listening")
        })
        .await
        .context("pinlink serve did not start within 30 s")??;
        // Keep draining the log so the server never blocks on a full pipe, and
        // keep what it says beside the results.
        let log_path = PathBuf::from(format!("target/bench/server-{instance}.log"));
        if let Some(dir) = log_path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let mut log = tokio::fs::File::create(&log_path).await.ok();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(file) = log.as_mut() {
                    let _ = file.write_all(format!("{line}\n").as_bytes()).await;
                }
            }
        });
        Ok(Pinlink { child, address })
    }

    fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("pinlink has exited")
    }
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        read_kib(self.pid()?, "VmRSS:")
    }
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        read_kib(self.pid()?, "VmHWM:")
    }

    /// Signs the bench account in; returns its token.
    pub async fn sign_in(&self) -> anyhow::Result<String> {
        let make: MakeRequest = Arc::new(|_, _| RequestSpec {
            method: Method::POST,
            path: "/api/v2/users/signin".into(),
            headers: vec![
                ("accept", "application/json".into()),
                ("x-plex-client-identifier", "bench-browser".into()),
                ("content-type", "application/x-www-form-urlencoded".into()),
            ],
            body: Some(format!("login={BENCH_USER}&password={BENCH_PASSWORD}")),
        });
        let plan = LoadPlan {
            address: self.address,
            connections: 1,
            duration: Duration::from_secs(30),
            max_requests: 1,
            expected_status: 201,
            keep_bodies: true,
            pace: Duration::ZERO,
        };
        let result = load::run(&plan, make).await?;
        let body = result.bodies.first().with_context(|| {
            format!(
                "sign-in failed: {}",
                result.first_error.clone().unwrap_or_default()
            )
        })?;
        let user: serde_json::Value = serde_json::from_slice(body)?;
        user["authToken"]
            .as_str()
            .map(str::to_owned)
            .context("no authToken in the sign-in answer")
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

pub struct Baseline {
    _child: Child,
    pub address: SocketAddr,
}

impl Baseline {
    pub async fn start(body_len: usize) -> anyhow::Result<Baseline> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve-baseline", "--body-len", &body_len.to_string()])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .context("the baseline did not start")??
            .context("the baseline exited")?;
        let address = line
            .strip_prefix("listening ")
            .context("unexpected baseline output")?
            .parse()?;
        Ok(Baseline {
            _child: child,
            address,
        })
    }
}

async fn add_bench_account(bin: &Path, env: &[(&str, String)]) -> anyhow::Result<()> {
    add_account(bin, env, BENCH_USER, BENCH_PASSWORD).await
}

/// `pinlink user add NAME` with `password` on its standard input.
async fn add_account(
    bin: &Path,
    env: &[(&str, String)],
    name: &str,
    password: &str,
) -> anyhow::Result<()> {
    let email = format!("{name}@example.org");
    let mut add = Command::new(bin)
        .args(["user", "add", name, "--email", &email, "--password-stdin"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if let Some(mut stdin) = add.stdin.take() {
        stdin.write_all(format!("{password}\n").as_bytes()).await?;
    }
    if !add.wait().await?.success() {
        bail!("creating the bench account {name} failed");
    }
    Ok(())
}

/// The password of the accounts [`Data::add_accounts`] makes.
pub const ACCOUNTS_PASSWORD: &str = "bench-accounts-password-not-secret";

impl Data<'_> {
    /// Makes accounts `bench-0` … `bench-{n-1}` (`pinlink user add`, each
    /// with [`ACCOUNTS_PASSWORD`]).
    pub async fn add_accounts(&self, bin: &Path, n: usize) -> anyhow::Result<()> {
        let env = self.env();
        for i in 0..n {
            add_account(bin, &env, &format!("bench-{i}"), ACCOUNTS_PASSWORD).await?;
        }
        Ok(())
    }
}

/// A PostgreSQL database made for one bench run (`CREATE DATABASE` on the
/// server of the URL given, with `psql`), dropped at the end.
pub struct FreshDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl FreshDatabase {
    pub fn create(url: &str) -> anyhow::Result<FreshDatabase> {
        let name = format!("pinlink_bench_{}", std::process::id());
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (url, String::new()),
        };
        let authority_end = base
            .split_once("://")
            .map(|(scheme, rest)| scheme.len() + 3 + rest.find('/').unwrap_or(rest.len()))
            .context("--database: expected postgres://USER:PASSWORD@HOST/DATABASE")?;
        let server = &base[..authority_end];
        let fresh = FreshDatabase {
            admin_url: url.to_owned(),
            name: name.clone(),
            url: format!("{server}/{name}{query}"),
        };
        fresh.psql(&format!("CREATE DATABASE {name}"))?;
        Ok(fresh)
    }

    fn psql(&self, sql: &str) -> anyhow::Result<()> {
        let status = std::process::Command::new("psql")
            .args([
                self.admin_url.as_str(),
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .stdout(Stdio::null())
            .status()
            .context("cannot run psql (Debian: apt-get install postgresql-client)")?;
        if !status.success() {
            bail!("psql failed: {sql}");
        }
        Ok(())
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if let Err(e) = self.psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )) {
            eprintln!("could not drop the bench database {}: {e:#}", self.name);
        }
    }
}
