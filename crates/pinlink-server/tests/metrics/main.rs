//! A real Prometheus (Debian's `prometheus`) scrapes a running pinlink every
//! second, and a PromQL query over its HTTP API returns the pins this test
//! created and linked. One test per binary: the metrics recorder is global
//! to the process.

use pinlink_testkit as harness;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::TestApp;
use pinlink_server::Config;
use serde_json::Value;

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The value of a PromQL query, once it has one.
async fn query(http: &reqwest::Client, prometheus: &str, promql: &str) -> Option<f64> {
    let answer: Value = http
        .get(format!("{prometheus}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    answer["data"]["result"][0]["value"][1]
        .as_str()?
        .parse()
        .ok()
}

#[tokio::test]
async fn prometheus_scrapes_the_login_funnel() {
    let binary =
        std::env::var("PINLINK_PROMETHEUS").unwrap_or_else(|_| "/usr/bin/prometheus".into());
    if !std::path::Path::new(&binary).exists() {
        assert_ne!(
            std::env::var("PINLINK_REQUIRE_PROMETHEUS").as_deref(),
            Ok("1"),
            "PINLINK_REQUIRE_PROMETHEUS=1 but {binary} is missing"
        );
        eprintln!("{binary} is missing: skipping (scripts/test installs Debian's prometheus)");
        return;
    }
    let metrics_port = free_port();
    let mut config = Config::for_test();
    config.metrics_listen = Some(([127, 0, 0, 1], metrics_port).into());
    let app = TestApp::spawn_with(config).await;
    app.add_account(harness::USERNAME, harness::EMAIL, harness::PASSWORD)
        .await;

    let dir = tempfile::tempdir().expect("tempdir");
    let config_file = dir.path().join("prometheus.yml");
    std::fs::write(
        &config_file,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pinlink\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
        ),
    )
    .expect("config");
    let prometheus_port = free_port();
    let _prometheus = KillOnDrop(
        Command::new(&binary)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    let prometheus = format!("http://127.0.0.1:{prometheus_port}");

    // The funnel: three pins, two linked, one wrong code.
    let token = app.sign_in("browser").await;
    let mut pins = Vec::new();
    for i in 0..3 {
        pins.push(app.create_pin(&format!("metrics-device-{i}"), i == 2).await);
    }
    for pin in &pins[..2] {
        assert_eq!(
            app.link(&token, pin["code"].as_str().expect("code"))
                .await
                .status(),
            204
        );
    }
    assert_eq!(app.link(&token, "ZZZZ").await.status(), 404);

    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(60);
    let wanted = [
        ("sum(pinlink_pins_created_total)", 3.0),
        ("pinlink_pins_created_total{kind=\"strong\"}", 1.0),
        ("pinlink_pins_linked_total", 2.0),
        ("pinlink_wrong_codes_total", 1.0),
        (
            "sum(pinlink_request_duration_seconds_count{route=\"/api/v2/pins\"})",
            3.0,
        ),
    ];
    for (promql, value) in wanted {
        loop {
            if query(&http, &prometheus, promql).await == Some(value) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus never reported {promql} = {value} (last: {:?})",
                query(&http, &prometheus, promql).await
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    // Raw paths (which can hold codes) never become labels.
    let raw: String = http
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let code = pins[0]["code"].as_str().expect("code");
    assert!(!raw.contains(code), "a pin code leaked into the metrics");
    assert!(
        raw.contains("route=\"/api/v2/pins/{id}\"") || raw.contains("route=\"/api/v2/pins/link\""),
        "{raw}"
    );
}
