//! Every acknowledged write survives a crash: the real `pinlink serve` is
//! killed with SIGKILL (no shutdown, no flush) in the middle of create and
//! link load, restarted on the same database and key, and every pin that got
//! its 201 and every link that got its 204 must be there. On SQLite
//! (`synchronous = FULL`, group commit) and on PostgreSQL.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pinlink");
const PASSWORD: &str = "a long password";

/// The load comes from one address, at rates the budgets exist to stop:
/// they are turned off here, as in the benchmark.
const NO_LIMITS: &[&str] = &[
    "--pins-per-address",
    "0",
    "--pins-per-client",
    "0",
    "--max-live-pins-per-address",
    "0",
    "--max-live-link-codes-per-address",
    "0",
    "--max-live-link-codes",
    "65536",
    "--wrong-codes-per-account",
    "0",
    "--wrong-codes-per-address",
    "0",
];

struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env(database: &str, dir: &Path) -> [(&'static str, String); 2] {
    [
        ("PINLINK_DATABASE", database.to_owned()),
        (
            "PINLINK_KEY_FILE",
            dir.join("pinlink.key").display().to_string(),
        ),
    ]
}

fn add_alice(database: &str, dir: &Path) {
    let mut child = Command::new(BIN)
        .args([
            "user",
            "add",
            "alice",
            "--email",
            "alice@example.org",
            "--password-stdin",
        ])
        .envs(env(database, dir))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("pinlink runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("password");
    assert!(child.wait().expect("user add").success());
}

fn serve(database: &str, dir: &Path) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(NO_LIMITS)
        .envs(env(database, dir))
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let (found, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut found = Some(found);
        // Keep reading, so that the server never blocks on a full pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("address=").nth(1) {
                if let Some(found) = found.take() {
                    let _ = found.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
            }
        }
    });
    let address = address
        .recv_timeout(Duration::from_secs(30))
        .expect("serve logs its address");
    Server { child, address }
}

/// What the clients were told before the crash.
#[derive(Default)]
struct Acknowledged {
    /// pin id → (client identifier, linked)
    pins: HashMap<u64, (String, bool)>,
}

async fn crash_under_load(database: &str, dir: &Path) {
    add_alice(database, dir);
    let server = serve(database, dir);
    let base = format!("http://{}", server.address);
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let user: serde_json::Value = http
        .post(format!("{base}/api/v2/users/signin"))
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", "durability-test")
        .form(&[("login", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .expect("sign-in")
        .json()
        .await
        .expect("json");
    let token = user["authToken"].as_str().expect("token").to_owned();

    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut workers = Vec::new();
    for worker in 0..16 {
        let (http, base, token, acknowledged) = (
            http.clone(),
            base.clone(),
            token.clone(),
            acknowledged.clone(),
        );
        workers.push(tokio::spawn(async move {
            // Each worker creates a pin, records it once acknowledged, links
            // every second one and records the link once acknowledged; it
            // stops at the first refused or failed request (the crash).
            for n in 0.. {
                if Instant::now() > deadline {
                    break;
                }
                let client = format!("durable-{worker}-{n}");
                let Ok(response) = http
                    .post(format!("{base}/api/v2/pins"))
                    .header("Accept", "application/json")
                    .header("X-Plex-Product", "Durability")
                    .header("X-Plex-Client-Identifier", &client)
                    .send()
                    .await
                else {
                    break;
                };
                if response.status() != 201 {
                    break;
                }
                let Ok(pin) = response.json::<serde_json::Value>().await else {
                    break;
                };
                let id = pin["id"].as_u64().expect("id");
                acknowledged
                    .lock()
                    .expect("lock")
                    .pins
                    .insert(id, (client, false));
                if n % 2 == 1 {
                    let code = pin["code"].as_str().expect("code").to_owned();
                    let Ok(linked) = http
                        .put(format!("{base}/api/v2/pins/link"))
                        .header("X-Plex-Token", &token)
                        .form(&[("code", code)])
                        .send()
                        .await
                    else {
                        break;
                    };
                    if linked.status() != 204 {
                        break;
                    }
                    if let Some(entry) = acknowledged.lock().expect("lock").pins.get_mut(&id) {
                        entry.1 = true;
                    }
                }
            }
        }));
    }

    // Let the load run, then crash the server in the middle of it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill")
        .success());
    for worker in workers {
        worker.await.expect("worker");
    }
    drop(server);

    let acknowledged = std::mem::take(&mut *acknowledged.lock().expect("lock"));
    let linked = acknowledged.pins.values().filter(|(_, l)| *l).count();
    eprintln!(
        "{database}: {} pins and {linked} links acknowledged before the crash",
        acknowledged.pins.len()
    );
    assert!(
        acknowledged.pins.len() > 50 && linked > 20,
        "the load ran long enough to mean something"
    );

    let server = serve(database, dir);
    let base = format!("http://{}", server.address);
    for (id, (client, was_linked)) in &acknowledged.pins {
        let response = http
            .get(format!("{base}/api/v2/pins/{id}"))
            .header("Accept", "application/json")
            .header("X-Plex-Client-Identifier", client)
            .send()
            .await
            .expect("poll");
        assert_eq!(response.status(), 200, "{database}: pin {id} was lost");
        let pin: serde_json::Value = response.json().await.expect("json");
        if *was_linked {
            assert!(
                pin["authToken"].is_string(),
                "{database}: the link of pin {id} was lost"
            );
        }
    }
}

#[tokio::test]
async fn acknowledged_pins_and_links_survive_a_kill_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite://{}", dir.path().join("pinlink.db").display());
    crash_under_load(&database, dir.path()).await;
}

#[tokio::test]
async fn acknowledged_pins_and_links_survive_a_kill_on_postgres() {
    let Some(database) = pinlink_store::testing::fresh_postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    crash_under_load(&database, dir.path()).await;
}
