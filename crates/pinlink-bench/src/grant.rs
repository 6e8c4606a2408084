//! The RFC 8628 device grant on pinlink: the token request of a pending
//! device code (`POST /oauth/token`, answered 400), beside the plex.tv poll
//! of the same run, and how soon a long poll (`wait=N`) learns of an
//! approval.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hyper::Method;

use crate::load::{self, LoadPlan, MakeRequest, RequestSpec};
use crate::{measure, write_lines, Cli, Row};

/// Device codes the token requests are spread over. wrk asks far faster
/// than any code's interval allows, so most answers are `slow_down` (the
/// same work as `authorization_pending`: the client, the code and the pace
/// are checked; neither writes).
const POLLED_CODES: u64 = 2_000;
/// Rounds of the wake-up measurement.
const WAKE_ROUNDS: usize = 20;

const GRANT: &str = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code";

/// The rows for the token request and a line on the long poll's wake-up.
pub async fn measure_grant(
    cli: &Cli,
    addresses: &[SocketAddr],
    client_id: &str,
    user_token: &str,
    work: &Path,
) -> anyhow::Result<(Vec<Row>, String)> {
    let address = addresses[0];
    eprintln!("device grant: making {POLLED_CODES} device codes, then polling …");
    let codes_file = work.join("grant-codes.txt");
    make_device_codes(
        "pinlink",
        address,
        device_authorization("/oauth/device_authorization", client_id),
        POLLED_CODES,
        &codes_file,
    )
    .await?;
    let polled = measure(
        cli,
        addresses,
        crate::wrk::script("token_poll"),
        Duration::from_secs(cli.seconds),
        &[
            ("BENCH_PATH", "/oauth/token".into()),
            ("BENCH_CODES", codes_file.display().to_string()),
            ("BENCH_CLIENT", client_id.into()),
            ("BENCH_EXPECTED_STATUS", "400".into()),
        ],
        |_| Vec::new(),
        work,
    )
    .await?;
    let rows = vec![Row {
        name: format!("device grant: token request (pending code, 400; {POLLED_CODES} codes)"),
        figures: polled,
    }];

    eprintln!("device grant: long-poll wake-up, {WAKE_ROUNDS} rounds …");
    let mut lags = Vec::new();
    for _ in 0..WAKE_ROUNDS {
        lags.push(wake_up(address, client_id, user_token).await?);
    }
    lags.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let line = format!(
        "- device grant long poll (`wait=10`): answered {:.1} ms (median) and {:.1} ms (slowest of {WAKE_ROUNDS}) after the approval's answer; a device polling every 5 s learns of it 2.5 s later on average",
        ms(lags[lags.len() / 2]),
        ms(lags[lags.len() - 1]),
    );
    Ok((rows, line))
}

/// RFC 8628 device authorization requests to `path` as the public client
/// `client_id` (pinlink's, and the peer's).
pub fn device_authorization(path: &'static str, client_id: &str) -> MakeRequest {
    let body = format!("client_id={client_id}");
    Arc::new(move |_, _| RequestSpec {
        method: Method::POST,
        path: path.into(),
        headers: vec![("content-type", "application/x-www-form-urlencoded".into())],
        body: Some(body.clone()),
    })
}

/// Makes `count` device codes with `make` and writes them to `path`, one
/// per line, for the token-request scenario (`lua/token_poll.lua`).
pub async fn make_device_codes(
    server: &str,
    address: SocketAddr,
    make: MakeRequest,
    count: u64,
    path: &Path,
) -> anyhow::Result<()> {
    let plan = LoadPlan {
        address,
        connections: 16,
        duration: Duration::from_secs(120),
        max_requests: count,
        expected_status: 200,
        keep_bodies: true,
        pace: Duration::ZERO,
    };
    let made = load::run(&plan, make).await?;
    let codes: Vec<String> = made
        .bodies
        .iter()
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .filter_map(|v| v.get("device_code")?.as_str().map(str::to_owned))
        .collect();
    if codes.is_empty() {
        bail!(
            "{server} made no device codes: {}",
            made.first_error.unwrap_or_default()
        );
    }
    write_lines(path, codes.into_iter())
}

/// One request, its answer's body.
async fn one(address: SocketAddr, spec: RequestSpec, expected: u16) -> anyhow::Result<Vec<u8>> {
    let result = load::run(
        &LoadPlan {
            address,
            connections: 1,
            duration: Duration::from_secs(30),
            max_requests: 1,
            expected_status: expected,
            keep_bodies: true,
            pace: Duration::ZERO,
        },
        Arc::new(move |_, _| RequestSpec {
            method: spec.method.clone(),
            path: spec.path.clone(),
            headers: spec.headers.clone(),
            body: spec.body.clone(),
        }),
    )
    .await?;
    if result.errors > 0 {
        bail!(
            "{}",
            result
                .first_error
                .unwrap_or_else(|| "a request failed".into())
        );
    }
    Ok(result
        .bodies
        .first()
        .map(|b| b.to_vec())
        .unwrap_or_default())
}

/// A device holds a token request (`wait=10`); a moment later the account
/// approves its code. How long after the approval's answer the device's
/// answer came.
async fn wake_up(
    address: SocketAddr,
    client_id: &str,
    user_token: &str,
) -> anyhow::Result<Duration> {
    let started = one(
        address,
        RequestSpec {
            method: Method::POST,
            path: "/oauth/device_authorization".into(),
            headers: vec![("content-type", "application/x-www-form-urlencoded".into())],
            body: Some(format!("client_id={client_id}")),
        },
        200,
    )
    .await?;
    let started: serde_json::Value = serde_json::from_slice(&started)?;
    let field = |name: &str| {
        started[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no {name}"))
    };
    let (device_code, user_code) = (field("device_code")?, field("user_code")?);
    let held = tokio::spawn(one(
        address,
        RequestSpec {
            method: Method::POST,
            path: "/oauth/token".into(),
            headers: vec![("content-type", "application/x-www-form-urlencoded".into())],
            body: Some(format!(
                "{GRANT}&client_id={client_id}&device_code={device_code}&wait=10"
            )),
        },
        200,
    ));
    // Let the held request arrive and wait before the approval.
    tokio::time::sleep(Duration::from_millis(100)).await;
    one(
        address,
        RequestSpec {
            method: Method::PUT,
            path: "/api/v2/pins/link".into(),
            headers: vec![
                ("x-plex-token", user_token.to_owned()),
                ("x-plex-client-identifier", "bench-browser".into()),
                ("content-type", "application/x-www-form-urlencoded".into()),
            ],
            body: Some(format!("code={user_code}")),
        },
        204,
    )
    .await?;
    let approved = Instant::now();
    held.await.context("the held request's task")??;
    Ok(approved.elapsed())
}
