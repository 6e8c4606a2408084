//! Load from `wrk` (Debian's package), driven by the Lua scripts in `lua/`.
//!
//! wrk is the leanest HTTP/1.1 load generator there is: on a 2-core machine
//! the generator shares the CPU with the server under test, so every cycle
//! it spends is a cycle the server does not get. Each scenario is
//! `lua/common.lua` followed by the scenario's own script; `common.lua`'s
//! `done` prints one `PINLINK-BENCH {json}` line that [`run`] parses.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

use crate::Figures;

const COMMON: &str = include_str!("../lua/common.lua");

/// A scenario's script, by name.
pub fn script(name: &str) -> &'static str {
    match name {
        "baseline" => include_str!("../lua/baseline.lua"),
        "create" => include_str!("../lua/create.lua"),
        "create_limited" => include_str!("../lua/create_limited.lua"),
        "poll" => include_str!("../lua/poll.lua"),
        "link" => include_str!("../lua/link.lua"),
        "link_limited" => include_str!("../lua/link_limited.lua"),
        "sign_in_limited" => include_str!("../lua/sign_in_limited.lua"),
        "user" => include_str!("../lua/user.lua"),
        "peer_device_authorization" => include_str!("../lua/peer_device_authorization.lua"),
        "token_poll" => include_str!("../lua/token_poll.lua"),
        _ => unreachable!("no such scenario script: {name}"),
    }
}

/// Makes sure `wrk` can be run: installs Debian's package when it is
/// missing and we may (root with apt-get), or says how to.
pub fn ensure_installed() -> anyhow::Result<()> {
    let found = |_: ()| {
        std::process::Command::new("wrk")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    if found(()) {
        return Ok(());
    }
    eprintln!("wrk is missing: installing Debian's package (apt-get install -y wrk) …");
    let installed = std::process::Command::new("apt-get")
        .args(["install", "-y", "-q", "wrk"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !installed || !found(()) {
        bail!("the bench needs wrk: install it with `apt-get install wrk` (Debian) and run again");
    }
    Ok(())
}

/// One wrk run at one address.
pub struct Run<'a> {
    pub address: SocketAddr,
    /// The scenario's Lua source (without `common.lua`).
    pub script: &'a str,
    pub threads: usize,
    pub connections: usize,
    pub duration: Duration,
    /// Environment for the script (`BENCH_*`).
    pub env: Vec<(&'static str, String)>,
}

/// Runs wrk once per entry, all at the same time (one per instance), and
/// adds their figures up.
pub async fn run(runs: &[Run<'_>], work: &Path) -> anyhow::Result<Figures> {
    let mut children = Vec::new();
    for (n, one) in runs.iter().enumerate() {
        let script_path: PathBuf = work.join(format!("scenario-{n}.lua"));
        std::fs::write(&script_path, format!("{COMMON}\n{}", one.script))?;
        let child = tokio::process::Command::new("wrk")
            .arg(format!("--threads={}", one.threads))
            .arg(format!(
                "--connections={}",
                one.connections.max(one.threads)
            ))
            .arg(format!("--duration={}s", one.duration.as_secs().max(1)))
            .arg("--timeout=10s")
            .arg(format!("--script={}", script_path.display()))
            .arg(format!("http://{}", one.address))
            .envs(one.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("BENCH_THREADS", one.threads.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot run wrk")?;
        children.push(child);
    }
    let mut total: Option<Figures> = None;
    for child in children {
        let output = child.wait_with_output().await?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let figures = parse(&stdout).with_context(|| {
            format!(
                "wrk said:\n{stdout}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
        total = Some(match total {
            None => figures,
            Some(sum) => sum.plus(&figures),
        });
    }
    total.context("no wrk run")
}

/// Reads the `PINLINK-BENCH {…}` line `common.lua` prints.
fn parse(stdout: &str) -> anyhow::Result<Figures> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PINLINK-BENCH "))
        .context("no PINLINK-BENCH line in wrk's output")?;
    let v: Value = serde_json::from_str(line)?;
    let n = |key: &str| v[key].as_u64().with_context(|| format!("no {key}"));
    let status_errors = n("status_errors")?;
    let errors = n("errors")?;
    Ok(Figures {
        requests: n("requests")?,
        errors,
        seconds: n("duration_us")? as f64 / 1e6,
        p50_ms: n("p50_us")? as f64 / 1000.0,
        p99_ms: n("p99_us")? as f64 / 1000.0,
        ran_out: n("ran_out")? > 0,
        refused: v["refused"].as_u64().unwrap_or(0),
        first_error: (errors > 0).then(|| {
            format!(
                "{status_errors} answers with an unexpected status, {} socket errors",
                errors - status_errors
            )
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_summary_line() {
        let out = "Running 1s test\nPINLINK-BENCH {\"requests\":10,\"duration_us\":2000000,\"errors\":1,\"status_errors\":1,\"p50_us\":150,\"p99_us\":900,\"ran_out\":0}\n";
        let f = parse(out).expect("parses");
        assert_eq!(f.requests, 10);
        assert!((f.per_second() - 5.0).abs() < 1e-9);
        assert!((f.p99_ms - 0.9).abs() < 1e-9);
        assert!(f.first_error.is_some());
        assert!(!f.ran_out);
        assert!(parse("nothing").is_err());
    }
}
