//! `pinlink-bench`: pinlink under load, next to a minimal hyper server
//! measured in the same run, so the figures are ratios a noisy shared machine
//! cannot skew much.
//!
//! It builds `pinlink` in release mode, starts it on loopback (a fresh SQLite
//! database, or a fresh PostgreSQL database with `--database`, with one or
//! more instances), preloads pins, and measures with `wrk` (Debian's package;
//! installed if missing) and the Lua scripts in `lua/`: the baseline, *create*,
//! *poll* (JSON and XML), *link* and *user* (the token check); with `--peer`
//! also another device-flow server ([`peer`]). Everything is bounded in time
//! and count and stays on 127.0.0.1.

mod baseline;
mod grant;
mod load;
mod peer;
mod server;
mod wrk;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use hyper::Method;
use load::{LoadPlan, LoadResult, MakeRequest, RequestSpec};
use peer::Peer;

#[derive(Parser)]
#[command(
    name = "pinlink-bench",
    about = "Benchmark pinlink against a minimal hyper baseline in one run"
)]
struct Cli {
    #[command(subcommand)]
    internal: Option<Internal>,
    /// Seconds per measured scenario.
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Concurrent keep-alive connections (split between the instances).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// wrk threads (split between the instances, at least one each).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Database URL for the instances: a fresh database is made for the run
    /// on this PostgreSQL server (with psql) and dropped at the end
    /// [default: a new SQLite file].
    #[arg(long, value_name = "postgres://…")]
    database: Option<String>,
    /// pinlink instances sharing the database (more than one needs
    /// --database); each gets its share of wrk's connections.
    #[arg(long, default_value_t = 1, value_parser = instances_in_range)]
    instances: usize,
    /// Start the instances with `pinlink serve --cache-tokens` (PostgreSQL:
    /// resolved tokens kept in memory; SQLite always keeps them).
    #[arg(long)]
    cache_tokens: bool,
    /// Also measure a peer's device flow in the same run.
    #[arg(long, value_enum)]
    peer: Option<Peer>,
    /// Live pins to preload before polling (also the memory figure's count).
    #[arg(long, default_value_t = 100_000)]
    pins: usize,
    /// The pinlink binary to test [default: build and use target/release/pinlink].
    #[arg(long, value_name = "PATH")]
    server_bin: Option<PathBuf>,
    /// Instead of the scenarios: run a steady state this many seconds long,
    /// pins created at --steady-rate per second and expiring after 30 s, and
    /// report how RSS moves (it should level off, not grow).
    #[arg(long, value_name = "SECS")]
    steady_seconds: Option<u64>,
    /// Pins created per second in the steady state.
    #[arg(long, default_value_t = 1000)]
    steady_rate: u64,
    /// Where to write the Markdown table of results.
    #[arg(long, default_value = "target/bench/latest.md", value_name = "PATH")]
    markdown: PathBuf,
}

#[derive(Subcommand)]
enum Internal {
    /// (internal) Run the baseline server and print its address.
    #[command(hide = true)]
    ServeBaseline {
        #[arg(long)]
        body_len: usize,
    },
}

/// What the server's memory came to.
struct Memory {
    bytes_per_pin: f64,
    pins: usize,
    peak_rss_kib: u64,
}

struct Row {
    name: String,
    figures: Figures,
}

/// What one measured scenario gave.
#[derive(Debug, Clone)]
pub struct Figures {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The scenario ran out of fresh input (link codes) before its time was
    /// up: the rate is a lower bound.
    pub ran_out: bool,
    pub first_error: Option<String>,
    /// Answers the scenario expects to be refusals (a cap's 503), counted
    /// apart from errors.
    pub refused: u64,
}

impl Figures {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9)
    }
    /// Two generators' figures at the same time (one per instance): the
    /// requests add up; the latencies are the worse of the two.
    pub fn plus(self, other: &Figures) -> Figures {
        Figures {
            requests: self.requests + other.requests,
            errors: self.errors + other.errors,
            seconds: self.seconds.max(other.seconds),
            p50_ms: self.p50_ms.max(other.p50_ms),
            p99_ms: self.p99_ms.max(other.p99_ms),
            ran_out: self.ran_out || other.ran_out,
            first_error: self.first_error.or_else(|| other.first_error.clone()),
            refused: self.refused + other.refused,
        }
    }
}

/// One live pin the preload created.
#[derive(Clone)]
struct LivePin {
    id: u64,
    code: String,
    client: String,
}

fn json_field<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    v.get(key).filter(|x| !x.is_null())
}

fn parse_pins(result: &LoadResult) -> Vec<LivePin> {
    result
        .bodies
        .iter()
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .filter_map(|v| {
            Some(LivePin {
                id: json_field(&v, "id")?.as_u64()?,
                code: json_field(&v, "code")?.as_str()?.to_owned(),
                client: json_field(&v, "clientIdentifier")?.as_str()?.to_owned(),
            })
        })
        .collect()
}

/// 4-character codes among the preloaded pins: the first connection's
/// first requests.
const SHORT_CODES_PER_CONNECTION: u64 = 256;

fn create_spec() -> MakeRequest {
    Arc::new(|connection, sequence| RequestSpec {
        method: Method::POST,
        // Strong codes but for a few: live 4-character codes are capped
        // server-wide (512 by default), as on a real server.
        path: format!(
            "/api/v2/pins?strong={}",
            connection > 0 || sequence >= SHORT_CODES_PER_CONNECTION
        ),
        headers: vec![
            ("accept", "application/json".into()),
            ("x-plex-product", "pinlink-bench".into()),
            ("x-plex-client-identifier", format!("bench-{connection}")),
            ("x-plex-device-name", "bench rig".into()),
        ],
        body: None,
    })
}

/// Accounts the default-limits link and sign-in scenarios spread their
/// requests over: one per connection (each account's own budgets then see
/// about one request at a time, as with people linking their own
/// devices), from 8 to 64.
fn limited_accounts(cli: &Cli) -> usize {
    cli.connections.clamp(8, 64)
}

/// The client address a proxy reports for request `n`: one of
/// 198.18.0.0/15's 131 072 (the Lua scripts draw from the same range).
fn forwarded_for(n: u64) -> String {
    let a = n % 131_072;
    format!("198.{}.{}.{}", 18 + a / 65_536, (a / 256) % 256, a % 256)
}

/// The headline's link and sign-in rows, on the instance with the default
/// limits: [`limited_accounts`] accounts (`pinlink user add`), each signed
/// in once; pins created from many addresses; then links by those accounts
/// and sign-ins of them, every request from another address.
async fn link_and_sign_in_limited(
    cli: &Cli,
    server_bin: &Path,
    limited: &server::Pinlink,
    data: &server::Data<'_>,
    work: &Path,
    baseline_per_second: f64,
) -> anyhow::Result<Vec<Row>> {
    let accounts = limited_accounts(cli);
    eprintln!("link and sign-in, default limits: making {accounts} accounts …");
    data.add_accounts(server_bin, accounts).await?;
    // One connection, so request n signs account n in (once each).
    let sign_in: MakeRequest = Arc::new(|_, sequence| RequestSpec {
        method: Method::POST,
        path: "/api/v2/users/signin".into(),
        headers: vec![
            ("accept", "application/json".into()),
            ("x-plex-product", "pinlink-bench".into()),
            (
                "x-plex-client-identifier",
                format!("bench-browser-{sequence}"),
            ),
            ("x-forwarded-for", forwarded_for(sequence)),
            ("content-type", "application/x-www-form-urlencoded".into()),
        ],
        body: Some(format!(
            "login=bench-{sequence}&password={}",
            server::ACCOUNTS_PASSWORD
        )),
    });
    let mut sign_in_plan = plan(limited.address, cli, accounts as u64, 201, true);
    sign_in_plan.connections = 1;
    sign_in_plan.duration = Duration::from_secs(120);
    let signed_in = load::run(&sign_in_plan, sign_in).await?;
    if signed_in.errors > 0 {
        bail!(
            "signing the accounts in failed: {}",
            signed_in.first_error.unwrap_or_default()
        );
    }
    let tokens: Vec<String> = signed_in
        .bodies
        .iter()
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .filter_map(|v| Some(v.get("authToken")?.as_str()?.to_owned()))
        .collect();
    // Pins to link: strong codes, each from another address and client.
    let count = cli.pins.clamp(1000, 30_000) as u64;
    eprintln!("link, default limits: creating {count} pins from as many addresses …");
    // Request number `sequence` of connection `connection`: one address
    // and client each, however many connections.
    let connections = cli.connections as u64;
    let create: MakeRequest = Arc::new(move |connection, sequence| {
        let n = sequence * connections + connection as u64;
        RequestSpec {
            method: Method::POST,
            path: "/api/v2/pins?strong=true".into(),
            headers: vec![
                ("accept", "application/json".into()),
                ("x-plex-product", "pinlink-bench".into()),
                ("x-plex-client-identifier", format!("bench-linked-{n}")),
                ("x-forwarded-for", forwarded_for(n)),
            ],
            body: None,
        }
    });
    let mut create_plan = plan(limited.address, cli, count, 201, true);
    create_plan.duration = Duration::from_secs(120);
    let created = load::run(&create_plan, create).await?;
    if created.errors > 0 {
        bail!(
            "creating pins to link failed: {}",
            created.first_error.unwrap_or_default()
        );
    }
    let pins = parse_pins(&created);
    let codes_file = work.join("limited-codes.txt");
    write_lines(&codes_file, pins.iter().map(|p| p.code.clone()))?;
    let tokens_file = work.join("limited-tokens.txt");
    write_lines(&tokens_file, tokens.iter().cloned())?;
    // As the limits-off link: sized to last at 0.3× the baseline's rate.
    let link_seconds =
        (pins.len() as f64 / (0.3 * baseline_per_second).max(1.0)).clamp(1.0, cli.seconds as f64);
    eprintln!("link, default limits: measuring …");
    let linked = measure(
        cli,
        &[limited.address],
        wrk::script("link_limited"),
        Duration::from_secs_f64(link_seconds),
        &[
            ("BENCH_TOKENS", tokens_file.display().to_string()),
            ("BENCH_CODES", codes_file.display().to_string()),
        ],
        |_| Vec::new(),
        work,
    )
    .await?;
    let mut rows = vec![Row {
        name: format!(
            "link, default limits, {accounts} accounts, a client address per request (durable)"
        ),
        figures: linked,
    }];
    eprintln!("sign-in, default limits: measuring …");
    let signed_in = measure(
        cli,
        &[limited.address],
        wrk::script("sign_in_limited"),
        Duration::from_secs(cli.seconds),
        &[
            ("BENCH_ACCOUNTS", accounts.to_string()),
            ("BENCH_PASSWORD", server::ACCOUNTS_PASSWORD.into()),
            ("BENCH_EXPECTED_STATUS", "201".into()),
        ],
        |_| Vec::new(),
        work,
    )
    .await?;
    let busy = if signed_in.refused > 0 {
        format!(
            "; {} of them answered 503 after waiting for a free password check",
            signed_in.refused
        )
    } else {
        String::new()
    };
    rows.push(Row {
        name: format!(
            "sign-in, default limits, {accounts} accounts, a client address per request (an Argon2id check each{busy})"
        ),
        figures: signed_in,
    });
    Ok(rows)
}

fn plan(
    address: std::net::SocketAddr,
    cli: &Cli,
    max_requests: u64,
    expected: u16,
    keep: bool,
) -> LoadPlan {
    LoadPlan {
        address,
        connections: cli.connections,
        duration: Duration::from_secs(cli.seconds),
        max_requests,
        expected_status: expected,
        keep_bodies: keep,
        pace: Duration::ZERO,
    }
}

/// Creates pins at a fixed rate while they expire after 30 s; samples the
/// server's RSS every 10 s.
async fn steady(cli: &Cli, server_bin: &std::path::Path, seconds: u64) -> anyhow::Result<()> {
    let work = server::TempDir::new()?;
    let lifetime = ["--link-pin-lifetime", "30", "--strong-pin-lifetime", "30"];
    let data = server::Data {
        dir: &work.path,
        database: None,
    };
    let pinlink = server::Pinlink::start(server_bin, &data, 0, &lifetime).await?;
    let connections = 16u64;
    let mut load_plan = plan(pinlink.address, cli, u64::MAX, 201, false);
    load_plan.connections = connections as usize;
    load_plan.duration = Duration::from_secs(seconds);
    load_plan.pace = Duration::from_micros(1_000_000 * connections / cli.steady_rate.max(1));
    let started = std::time::Instant::now();
    let load = tokio::spawn(async move { load::run(&load_plan, create_spec()).await });
    let mut samples = Vec::new();
    while !load.is_finished() {
        tokio::time::sleep(Duration::from_secs(10)).await;
        if let Ok(kib) = pinlink.rss_kib() {
            eprintln!(
                "steady: {:>4} s, RSS {:.1} MiB",
                started.elapsed().as_secs(),
                kib as f64 / 1024.0
            );
            samples.push((started.elapsed().as_secs(), kib));
        }
    }
    let result = load.await??;
    pinlink.stop().await?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "steady state: {} s, {:.0} creates/s, {} errors, pins expire after 30 s",
        seconds,
        result.per_second(),
        result.errors
    );
    let _ = writeln!(out, "\n| time s | RSS MiB |\n|---:|---:|");
    for (t, kib) in &samples {
        let _ = writeln!(out, "| {t} | {:.1} |", *kib as f64 / 1024.0);
    }
    // Compare the second minute (pins have reached their steady count) with the last.
    let after_warmup: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= 120)
        .map(|(_, k)| *k)
        .collect();
    if let (Some(first), Some(last)) = (after_warmup.first(), after_warmup.last()) {
        let _ = writeln!(
            out,
            "\nRSS change from 2 min to the end: {:+.1} MiB",
            (*last as f64 - *first as f64) / 1024.0
        );
    }
    println!("\n{out}");
    std::fs::write(&cli.markdown, &out)?;
    if result.errors > 0 {
        bail!(
            "{} requests failed: {}",
            result.errors,
            result.first_error.unwrap_or_default()
        );
    }
    Ok(())
}

/// The pinlink instances under test and what they share.
struct Target {
    instances: Vec<server::Pinlink>,
}

impl Target {
    fn first(&self) -> &server::Pinlink {
        &self.instances[0]
    }
}

/// Runs one scenario script with wrk against every instance at once (the
/// connections split between them).
async fn measure(
    cli: &Cli,
    target: &[SocketAddr],
    script: &str,
    duration: Duration,
    env: &[(&'static str, String)],
    per_instance_env: impl Fn(usize) -> Vec<(&'static str, String)>,
    work: &Path,
) -> anyhow::Result<Figures> {
    let n = target.len();
    let runs: Vec<wrk::Run<'_>> = target
        .iter()
        .enumerate()
        .map(|(i, address)| {
            let mut env = env.to_vec();
            env.extend(per_instance_env(i));
            wrk::Run {
                address: *address,
                script,
                threads: (cli.threads / n).max(1),
                connections: (cli.connections / n).max(1),
                duration,
                env,
            }
        })
        .collect();
    wrk::run(&runs, work).await
}

fn write_lines(path: &Path, lines: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let mut text = String::new();
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

async fn bench(cli: Cli) -> anyhow::Result<()> {
    if cli.instances > 1 && cli.database.is_none() {
        bail!("--instances above 1 needs --database postgres://… (SQLite is one process's)");
    }
    let server_bin = match &cli.server_bin {
        Some(path) => path.clone(),
        None => server::build_release()?,
    };
    if let Some(seconds) = cli.steady_seconds {
        return steady(&cli, &server_bin, seconds).await;
    }
    wrk::ensure_installed()?;
    let work = server::TempDir::new()?;
    let fresh = cli
        .database
        .as_deref()
        .map(server::FreshDatabase::create)
        .transpose()?;
    let data = server::Data {
        dir: &work.path,
        database: fresh.as_ref().map(|f| f.url.as_str()),
    };
    let backend = if fresh.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "pinlink-bench: {} on {backend}, {} instance(s), wrk with {} threads and {} connections, {} s per scenario, {} preloaded pins",
        server_bin.display(),
        cli.instances,
        cli.threads,
        cli.connections,
        cli.seconds,
        cli.pins
    );
    let mut target = Target {
        instances: Vec::new(),
    };
    let instance_args: &[&str] = if cli.cache_tokens {
        &["--cache-tokens"]
    } else {
        &[]
    };
    for instance in 0..cli.instances {
        target
            .instances
            .push(server::Pinlink::start(&server_bin, &data, instance, instance_args).await?);
    }
    let addresses: Vec<SocketAddr> = target.instances.iter().map(|p| p.address).collect();
    let address = target.first().address;
    let seconds = Duration::from_secs(cli.seconds);
    let rss_empty = target.first().rss_kib()?;

    // Preload: pins whose ids and codes the later scenarios use.
    let preload_started = std::time::Instant::now();
    let mut pins = Vec::new();
    while pins.len() < cli.pins {
        let missing = cli.pins - pins.len();
        eprintln!(
            "preload: {} of {} pins live, creating {missing} more …",
            pins.len(),
            cli.pins
        );
        let mut more_plan = plan(address, &cli, missing as u64, 201, true);
        more_plan.duration = Duration::from_secs(120);
        let more = load::run(&more_plan, create_spec()).await?;
        if more.errors > 0 {
            bail!(
                "creating pins failed: {}",
                more.first_error.unwrap_or_default()
            );
        }
        pins.extend(parse_pins(&more));
        if preload_started.elapsed() > Duration::from_secs(900) {
            bail!("preloading {} pins took over 15 minutes", cli.pins);
        }
    }
    let rss_loaded = target.first().rss_kib()?;
    let bytes_per_pin = (rss_loaded.saturating_sub(rss_empty) as f64 * 1024.0) / pins.len() as f64;
    let pins_file = work.path.join("pins.txt");
    write_lines(
        &pins_file,
        pins.iter().map(|p| format!("{} {}", p.id, p.client)),
    )?;
    let body_len = poll_body_len(address, &pins[0]).await?;

    eprintln!("baseline: a minimal hyper server with a {body_len}-byte body …");
    let baseline_server = server::Baseline::start(body_len).await?;
    let baseline = measure(
        &cli,
        &[baseline_server.address],
        wrk::script("baseline"),
        seconds,
        &[],
        |_| Vec::new(),
        &work.path,
    )
    .await?;

    let mut rows = Vec::new();
    // The headline: pinlink as operators run it, the default limits on and
    // the requests spread over many client addresses, on an instance of its
    // own (same database backend, its own SQLite file).
    let limited_dir = work.path.join("limited");
    std::fs::create_dir_all(&limited_dir)?;
    let limited_data = server::Data {
        dir: &limited_dir,
        database: fresh.as_ref().map(|f| f.url.as_str()),
    };
    let limited = server::Pinlink::start_with(
        &server_bin,
        &limited_data,
        cli.instances,
        server::Limits::Default,
        &[],
    )
    .await?;
    for (label, strong) in [("strong", "1"), ("4-character", "0")] {
        eprintln!("create {label}, default limits: measuring …");
        let figures = measure(
            &cli,
            &[limited.address],
            wrk::script("create_limited"),
            seconds,
            &[
                ("BENCH_STRONG", strong.into()),
                // 201, and for 4-character codes the cap's 503, are right.
                ("BENCH_EXPECTED_STATUS", "201".into()),
            ],
            |_| Vec::new(),
            &work.path,
        )
        .await?;
        let refused = if figures.refused > 0 {
            format!(
                "; {} of them refused at the cap on live 4-character codes (503)",
                figures.refused
            )
        } else {
            String::new()
        };
        rows.push(Row {
            name: format!(
                "create {label}, default limits, a client address per request (durable{refused})"
            ),
            figures,
        });
    }
    rows.extend(
        link_and_sign_in_limited(
            &cli,
            &server_bin,
            &limited,
            &limited_data,
            &work.path,
            baseline.per_second(),
        )
        .await?,
    );
    limited.stop().await?;

    eprintln!("create: measuring …");
    let created = measure(
        &cli,
        &addresses,
        wrk::script("create"),
        seconds,
        &[],
        |_| Vec::new(),
        &work.path,
    )
    .await?;
    let live = pins.len() as u64 + created.requests - created.errors;
    rows.push(Row {
        name: "create strong, limits off (durable)".into(),
        figures: created,
    });

    for (label, accept) in [("JSON", "application/json"), ("XML", "application/xml")] {
        eprintln!("poll {label}: measuring …");
        let figures = measure(
            &cli,
            &addresses,
            wrk::script("poll"),
            seconds,
            &[
                ("BENCH_PINS", pins_file.display().to_string()),
                ("BENCH_ACCEPT", accept.into()),
            ],
            |_| Vec::new(),
            &work.path,
        )
        .await?;
        rows.push(Row {
            name: format!("poll {label} (pending pin, {live} live)"),
            figures,
        });
    }

    eprintln!("link: measuring …");
    let user_token = target.first().sign_in().await?;
    // One codes file per instance, so no code is linked twice. Sized to last
    // the scenario at 0.3× the baseline's rate; if the codes run out first,
    // the figure is marked as a lower bound.
    let link_seconds =
        (pins.len() as f64 / (0.3 * baseline.per_second()).max(1.0)).clamp(1.0, cli.seconds as f64);
    let mut code_files = Vec::new();
    for i in 0..addresses.len() {
        let path = work.path.join(format!("codes-{i}.txt"));
        write_lines(
            &path,
            pins.iter()
                .skip(i)
                .step_by(addresses.len())
                .map(|p| p.code.clone()),
        )?;
        code_files.push(path);
    }
    let linked = measure(
        &cli,
        &addresses,
        wrk::script("link"),
        Duration::from_secs_f64(link_seconds),
        &[("BENCH_TOKEN", user_token.clone())],
        |i| vec![("BENCH_CODES", code_files[i].display().to_string())],
        &work.path,
    )
    .await?;
    let linked_count = usize::try_from(linked.requests - linked.errors).unwrap_or(0);
    rows.push(Row {
        name: "link, limits off (durable)".into(),
        figures: linked,
    });

    eprintln!("user: collecting device tokens, then measuring …");
    let tokens = collect_tokens(&cli, address, &pins, linked_count, addresses.len()).await?;
    let tokens_file = work.path.join("tokens.txt");
    write_lines(&tokens_file, tokens.iter().cloned())?;
    let user = measure(
        &cli,
        &addresses,
        wrk::script("user"),
        seconds,
        &[("BENCH_TOKENS", tokens_file.display().to_string())],
        |_| Vec::new(),
        &work.path,
    )
    .await?;
    rows.push(Row {
        name: format!(
            "user (token check, {} device tokens{})",
            tokens.len(),
            if cli.cache_tokens && cli.database.is_some() {
                "; --cache-tokens"
            } else {
                ""
            }
        ),
        figures: user,
    });
    let client_id = data.add_client(&server_bin).await?;
    let (grant_rows, wake_up) =
        grant::measure_grant(&cli, &addresses, &client_id, &user_token, &work.path).await?;
    rows.extend(grant_rows);
    let peak_rss = target.first().peak_rss_kib()?;
    for instance in target.instances {
        instance.stop().await?;
    }
    // The baseline again: the machine's speed drifts during a run, so the
    // ratios are to the mean of the first and the last measurement.
    eprintln!("baseline: measuring again …");
    let baseline_last = measure(
        &cli,
        &[baseline_server.address],
        wrk::script("baseline"),
        seconds,
        &[],
        |_| Vec::new(),
        &work.path,
    )
    .await?;
    drop(baseline_server);

    if let Some(peer) = cli.peer {
        rows.extend(peer::measure_peer(peer, &cli, &work.path).await?);
    }

    let report = render(
        &cli,
        backend,
        [&baseline, &baseline_last],
        &rows,
        Memory {
            bytes_per_pin,
            pins: pins.len(),
            peak_rss_kib: peak_rss,
        },
        &[wake_up],
    );
    println!("\n{report}");
    if let Some(dir) = cli.markdown.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&cli.markdown, &report)
        .with_context(|| format!("cannot write {}", cli.markdown.display()))?;
    println!("(written to {})", cli.markdown.display());
    let errors: u64 =
        rows.iter().map(|r| r.figures.errors).sum::<u64>() + baseline.errors + baseline_last.errors;
    if errors > 0 {
        for row in rows.iter().filter(|r| r.figures.errors > 0) {
            eprintln!(
                "{}: {} errors, first: {}",
                row.name,
                row.figures.errors,
                row.figures.first_error.as_deref().unwrap_or("?")
            );
        }
        bail!("{errors} requests failed");
    }
    Ok(())
}

/// The size of a pending pin's JSON answer (the baseline answers as much).
async fn poll_body_len(address: SocketAddr, pin: &LivePin) -> anyhow::Result<usize> {
    let (id, client) = (pin.id, pin.client.clone());
    let make: MakeRequest = Arc::new(move |_, _| RequestSpec {
        method: Method::GET,
        path: format!("/api/v2/pins/{id}"),
        headers: vec![
            ("x-plex-client-identifier", client.clone()),
            ("accept", "application/json".into()),
        ],
        body: None,
    });
    let plan = LoadPlan {
        address,
        connections: 1,
        duration: Duration::from_secs(10),
        max_requests: 1,
        expected_status: 200,
        keep_bodies: true,
        pace: Duration::ZERO,
    };
    let result = load::run(&plan, make).await?;
    result
        .bodies
        .first()
        .map(|b| b.len())
        .with_context(|| format!("polling a preloaded pin failed: {:?}", result.first_error))
}

/// Polls up to 2 000 linked pins for their device tokens.
async fn collect_tokens(
    cli: &Cli,
    address: SocketAddr,
    pins: &[LivePin],
    linked: usize,
    instances: usize,
) -> anyhow::Result<Vec<String>> {
    // The link scenario took codes in order, spread over the instances'
    // files: the first `linked` pins (rounded down per file) are linked.
    let take = (linked / instances.max(1) * instances.max(1)).min(2000);
    let token_pins = Arc::new(pins[..take.min(pins.len())].to_vec());
    let sequence = Arc::new(AtomicUsize::new(0));
    let collect_spec: MakeRequest = {
        let token_pins = token_pins.clone();
        Arc::new(move |_, _| {
            let pin =
                &token_pins[sequence.fetch_add(1, Ordering::Relaxed) % token_pins.len().max(1)];
            RequestSpec {
                method: Method::GET,
                path: format!("/api/v2/pins/{}", pin.id),
                headers: vec![
                    ("x-plex-client-identifier", pin.client.clone()),
                    ("accept", "application/json".into()),
                ],
                body: None,
            }
        })
    };
    let mut collect_plan = plan(address, cli, token_pins.len() as u64, 200, true);
    collect_plan.duration = Duration::from_secs(60);
    let collected = load::run(&collect_plan, collect_spec).await?;
    let tokens: Vec<String> = collected
        .bodies
        .iter()
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .filter_map(|v| v.get("authToken")?.as_str().map(str::to_owned))
        .collect();
    if tokens.is_empty() {
        bail!("no device tokens to measure the user endpoint with");
    }
    Ok(tokens)
}

fn render(
    cli: &Cli,
    backend: &str,
    baselines: [&Figures; 2],
    rows: &[Row],
    memory: Memory,
    notes: &[String],
) -> String {
    let Memory {
        bytes_per_pin,
        pins,
        peak_rss_kib,
    } = memory;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | requests/s | × baseline | p50 ms | p99 ms | requests | errors |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    let baseline = (baselines[0].per_second() + baselines[1].per_second()) / 2.0;
    let line = |out: &mut String, name: &str, f: &Figures| {
        let _ = writeln!(
            out,
            "| {name}{} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} |",
            if f.ran_out {
                " (ran out of codes: at least)"
            } else {
                ""
            },
            f.per_second(),
            f.per_second() / baseline.max(1e-9),
            f.p50_ms,
            f.p99_ms,
            f.requests,
            f.errors
        );
    };
    line(
        &mut out,
        "baseline, first (minimal hyper, fixed body)",
        baselines[0],
    );
    for row in rows {
        line(&mut out, &row.name, &row.figures);
    }
    line(&mut out, "baseline, last", baselines[1]);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "- × baseline: to the mean of the first and last baseline, {baseline:.0} requests/s"
    );
    let _ = writeln!(
        out,
        "- {backend}, {} instance(s); server peak RSS (first instance): {:.1} MiB",
        cli.instances,
        peak_rss_kib as f64 / 1024.0
    );
    let _ = writeln!(out, "- RSS per live pin: {bytes_per_pin:.0} bytes (growth from an empty server to {pins} preloaded pins)");
    for note in notes {
        let _ = writeln!(out, "{note}");
    }
    let _ = writeln!(
        out,
        "- settings: wrk, {} threads, {} connections, {} s per scenario, on the same machine ({} cores)",
        cli.threads,
        cli.connections,
        cli.seconds,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    out
}

fn instances_in_range(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n @ 1..=8) => Ok(n),
        _ => Err("expected a number from 1 to 8".into()),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.internal {
        Some(Internal::ServeBaseline { body_len }) => runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            println!("listening {}", listener.local_addr()?);
            baseline::serve(listener, body_len).await
        }),
        None => runtime.block_on(bench(cli)),
    }
}
