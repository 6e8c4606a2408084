//! `pinlink-bench`: pinlink under load, next to a minimal hyper server
//! measured in the same run, so the figures are ratios a noisy shared machine
//! cannot skew much.
//!
//! It builds `pinlink` in release mode, starts it on loopback with a fresh
//! SQLite database, creates pins (the *create* figure, then more until the
//! preload count is reached), and drives *poll* (JSON and XML), *link* and
//! *user* load at it, then the same load at the baseline. Everything is
//! bounded in time and count and stays on 127.0.0.1.

mod baseline;
mod load;
mod server;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use hyper::Method;
use load::{LoadPlan, LoadResult, MakeRequest, RequestSpec};

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
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
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

struct Row {
    name: &'static str,
    result: LoadResult,
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

fn create_spec() -> MakeRequest {
    Arc::new(|connection, sequence| RequestSpec {
        method: Method::POST,
        // Mostly strong codes: live 4-character codes are capped (at most
        // 65,536 with --max-live-link-codes), as on a real server.
        path: format!("/api/v2/pins?strong={}", sequence % 64 != 0),
        headers: vec![
            ("accept", "application/json".into()),
            ("x-plex-product", "pinlink-bench".into()),
            ("x-plex-client-identifier", format!("bench-{connection}")),
            ("x-plex-device-name", "bench rig".into()),
        ],
        body: None,
    })
}

fn poll_spec(pins: Arc<Vec<LivePin>>, json: bool) -> MakeRequest {
    Arc::new(move |_, _| {
        let pin = &pins[rand::random::<usize>() % pins.len()];
        let mut headers = vec![("x-plex-client-identifier", pin.client.clone())];
        if json {
            headers.push(("accept", "application/json".into()));
        }
        RequestSpec {
            method: Method::GET,
            path: format!("/api/v2/pins/{}", pin.id),
            headers,
            body: None,
        }
    })
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
    let pinlink = server::Pinlink::start(server_bin, &work.path, &lifetime).await?;
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

async fn bench(cli: Cli) -> anyhow::Result<()> {
    let server_bin = match &cli.server_bin {
        Some(path) => path.clone(),
        None => server::build_release()?,
    };
    if let Some(seconds) = cli.steady_seconds {
        return steady(&cli, &server_bin, seconds).await;
    }
    let work = server::TempDir::new()?;
    println!(
        "pinlink-bench: {} connections, {} s per scenario, {} preloaded pins",
        cli.connections, cli.seconds, cli.pins
    );
    let pinlink = server::Pinlink::start(&server_bin, &work.path, &[]).await?;
    let address = pinlink.address;
    let rss_empty = pinlink.rss_kib()?;
    let mut rows = Vec::new();

    // create: the measured figure, then more until the preload count.
    eprintln!("create: measuring for {} s …", cli.seconds);
    let created = load::run(
        &plan(address, &cli, cli.pins as u64, 201, true),
        create_spec(),
    )
    .await?;
    let mut pins = parse_pins(&created);
    rows.push(Row {
        name: "create (durable)",
        result: created,
    });
    let preload_started = std::time::Instant::now();
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
        if preload_started.elapsed() > Duration::from_secs(600) {
            bail!("preloading {} pins took over 10 minutes", cli.pins);
        }
    }
    let rss_loaded = pinlink.rss_kib()?;
    let bytes_per_pin = (rss_loaded.saturating_sub(rss_empty) as f64 * 1024.0) / pins.len() as f64;
    let pins = Arc::new(pins);

    eprintln!("poll: measuring JSON and XML …");
    let poll_json = load::run(
        &plan(address, &cli, u64::MAX, 200, true),
        poll_spec(pins.clone(), true),
    )
    .await?;
    let body_len = poll_json.bodies.first().map(|b| b.len()).unwrap_or(550);
    let mut poll_json = poll_json;
    poll_json.bodies.clear();
    rows.push(Row {
        name: "poll JSON (pending pin)",
        result: poll_json,
    });
    let poll_xml = load::run(
        &plan(address, &cli, u64::MAX, 200, false),
        poll_spec(pins.clone(), false),
    )
    .await?;
    rows.push(Row {
        name: "poll XML (pending pin)",
        result: poll_xml,
    });

    eprintln!("link: measuring …");
    let user_token = pinlink.sign_in().await?;
    let next_code = Arc::new(AtomicUsize::new(0));
    let link_spec: MakeRequest = {
        let pins = pins.clone();
        let next = next_code.clone();
        Arc::new(move |_, _| {
            let pin = &pins[next.fetch_add(1, Ordering::Relaxed) % pins.len()];
            RequestSpec {
                method: Method::PUT,
                path: "/api/v2/pins/link".into(),
                headers: vec![
                    ("x-plex-token", user_token.clone()),
                    ("content-type", "application/x-www-form-urlencoded".into()),
                ],
                body: Some(format!("code={}", pin.code)),
            }
        })
    };
    let linked = load::run(
        &plan(address, &cli, pins.len() as u64, 204, false),
        link_spec,
    )
    .await?;
    let linked_count = usize::try_from(linked.requests - linked.errors)
        .unwrap_or(0)
        .min(pins.len());
    rows.push(Row {
        name: "link",
        result: linked,
    });

    eprintln!("user: collecting device tokens, then measuring …");
    let token_pins = Arc::new(pins[..linked_count.min(2000)].to_vec());
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
    let mut collect_plan = plan(address, &cli, token_pins.len() as u64, 200, true);
    collect_plan.duration = Duration::from_secs(60);
    let collected = load::run(&collect_plan, collect_spec).await?;
    let tokens: Arc<Vec<String>> = Arc::new(
        collected
            .bodies
            .iter()
            .filter_map(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
            .filter_map(|v| v.get("authToken")?.as_str().map(str::to_owned))
            .collect(),
    );
    if tokens.is_empty() {
        bail!("no device tokens to measure the user endpoint with");
    }
    let user_spec: MakeRequest = {
        let tokens = tokens.clone();
        Arc::new(move |_, _| RequestSpec {
            method: Method::GET,
            path: "/api/v2/user".into(),
            headers: vec![
                (
                    "x-plex-token",
                    tokens[rand::random::<usize>() % tokens.len()].clone(),
                ),
                ("accept", "application/json".into()),
            ],
            body: None,
        })
    };
    let user = load::run(&plan(address, &cli, u64::MAX, 200, false), user_spec).await?;
    rows.push(Row {
        name: "user (device token)",
        result: user,
    });
    let peak_rss = pinlink.peak_rss_kib()?;
    pinlink.stop().await?;

    eprintln!("baseline: measuring a minimal hyper server with a {body_len}-byte body …");
    let baseline_server = server::Baseline::start(body_len).await?;
    let fixed: MakeRequest = Arc::new(|_, _| RequestSpec {
        method: Method::GET,
        path: "/api/v2/pins/1".into(),
        headers: vec![("accept", "application/json".into())],
        body: None,
    });
    let baseline = load::run(
        &plan(baseline_server.address, &cli, u64::MAX, 200, false),
        fixed,
    )
    .await?;
    drop(baseline_server);

    let report = render(&cli, &baseline, &rows, bytes_per_pin, pins.len(), peak_rss);
    println!("\n{report}");
    if let Some(dir) = cli.markdown.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&cli.markdown, &report)
        .with_context(|| format!("cannot write {}", cli.markdown.display()))?;
    println!("(written to {})", cli.markdown.display());
    let errors: u64 = rows.iter().map(|r| r.result.errors).sum::<u64>() + baseline.errors;
    if errors > 0 {
        for row in rows.iter().filter(|r| r.result.errors > 0) {
            eprintln!(
                "{}: {} errors, first: {}",
                row.name,
                row.result.errors,
                row.result.first_error.as_deref().unwrap_or("?")
            );
        }
        bail!("{errors} requests failed");
    }
    Ok(())
}

fn render(
    cli: &Cli,
    baseline: &LoadResult,
    rows: &[Row],
    bytes_per_pin: f64,
    pins: usize,
    peak_rss_kib: u64,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | requests/s | × baseline | p50 ms | p99 ms | requests | errors |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    let line = |out: &mut String, name: &str, r: &LoadResult| {
        let _ = writeln!(
            out,
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} |",
            r.per_second(),
            r.per_second() / baseline.per_second().max(1e-9),
            r.percentile_ms(0.5),
            r.percentile_ms(0.99),
            r.requests,
            r.errors
        );
    };
    line(&mut out, "baseline (minimal hyper, fixed body)", baseline);
    for row in rows {
        line(&mut out, row.name, &row.result);
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "- server peak RSS: {:.1} MiB",
        peak_rss_kib as f64 / 1024.0
    );
    let _ = writeln!(out, "- RSS per live pin: {bytes_per_pin:.0} bytes (growth from an empty server to {pins} live pins)");
    let _ = writeln!(
        out,
        "- settings: {} connections, {} s per scenario, load generator on the same machine ({} cores)",
        cli.connections,
        cli.seconds,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    out
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
