//! Keeping and moving the data, with the real binary: `pinlink backup` of a
//! running server under load, `pinlink copy` SQLite → PostgreSQL → SQLite
//! (three instances on the copy; a non-empty target refused; a copy killed
//! half-way leaves the target empty), upgrades from the first release of
//! the schema (fixtures made by that release), and databases pinlink must
//! refuse: not SQLite, someone else's, written by a newer pinlink.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// `pinlink` with `args`, with the key file of `dir` and no database from
/// the environment (each command names its own).
fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("PINLINK_KEY_FILE", dir.join("test.key"))
        .env(
            "PINLINK_DATABASE",
            format!("sqlite://{}", dir.join("test.db").display()),
        )
        .env_remove("PINLINK_CONFIG")
        .current_dir(dir)
        .output()
        .expect("pinlink runs")
}

async fn user_status(address: &str, token: &str) -> u16 {
    http()
        .get(format!("http://{address}/api/v2/user"))
        .header("Accept", "application/json")
        .header("X-Plex-Token", token)
        .send()
        .await
        .expect("user")
        .status()
        .as_u16()
}

async fn create_pin(http: &reqwest::Client, address: &str, client: &str) -> Value {
    let created = http
        .post(format!("http://{address}/api/v2/pins?strong=true"))
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", client)
        .header("X-Plex-Product", "Mover")
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    created.json().await.expect("json")
}

async fn poll(address: &str, id: &Value, client: &str) -> Value {
    let polled = http()
        .get(format!("http://{address}/api/v2/pins/{id}"))
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", client)
        .send()
        .await
        .expect("poll");
    assert_eq!(polled.status(), 200, "pin {id}");
    polled.json().await.expect("json")
}

/// Lets the server create pins from one address as fast as the test asks.
const NO_PIN_BUDGETS: &[&str] = &[
    "--pins-per-address",
    "0",
    "--pins-per-client",
    "0",
    "--max-live-pins-per-address",
    "0",
];

#[tokio::test]
async fn a_backup_of_a_running_server_under_load_is_whole_and_serves_the_earlier_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    add_alice(dir.path());
    let (_server, address, _log, _lines) = start_server(dir.path(), NO_PIN_BUDGETS);
    let http = http();
    let token = sign_in(&http, &address).await;
    let mut before = Vec::new();
    for n in 0..20 {
        before.push(create_pin(&http, &address, &format!("before-{n}")).await["id"].clone());
    }

    // A few hundred pins are created while the backup runs.
    let load = {
        let http = http.clone();
        let address = address.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut made = 0;
            while made < 400 && started.elapsed() < Duration::from_secs(60) {
                let batch = (0..8).map(|i| {
                    let http = http.clone();
                    let address = address.clone();
                    async move { create_pin(&http, &address, &format!("during-{made}-{i}")).await }
                });
                futures_util::future::join_all(batch).await;
                made += 8;
            }
            made
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let backup = dir.path().join("backup.db");
    let out = {
        let dir = dir.path().to_owned();
        let to = backup.display().to_string();
        tokio::task::spawn_blocking(move || run(&dir, &["backup", "--to", &to]))
            .await
            .expect("backup runs")
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("integrity check: ok"),
        "{}",
        text(&out.stdout)
    );
    let made = load.await.expect("load");
    assert!(made >= 400, "the load ran: {made}");

    // The copy is whole by SQLite's own check, and holds the earlier pins.
    let copy = rusqlite::Connection::open(&backup).expect("opens");
    let verdict: String = copy
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("checked");
    assert_eq!(verdict, "ok");
    let pins: i64 = copy
        .query_row("SELECT count(*) FROM pins", [], |row| row.get(0))
        .expect("counted");
    assert!(pins >= 20, "{pins}");
    drop(copy);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "only its owner reads a backup");
    }

    // A server on the copy, with the same key file, takes the earlier token
    // and answers the earlier pins.
    let database = format!("sqlite://{}", backup.display());
    let (_restored, restored, _log, _lines) = start_server(dir.path(), &["--database", &database]);
    assert_eq!(user_status(&restored, &token).await, 200);
    for (n, id) in before.iter().enumerate() {
        poll(&restored, id, &format!("before-{n}")).await;
    }

    // Never over an existing file.
    let again = run(
        dir.path(),
        &["backup", "--to", &backup.display().to_string()],
    );
    fails_saying(&again, "exists already");
}

/// What the copy tests fill a database with: alice, a device token, a
/// linked pin, an application's grant with a refresh token, a pin waiting.
struct Filled {
    token: String,
    client_id: String,
    refresh_token: String,
    waiting_pin: Value,
}

async fn fill(dir: &Path, address: &str) -> Filled {
    let http = http();
    let token = sign_in(&http, address).await;
    let waiting_pin = create_pin(&http, address, "waiting-box").await["id"].clone();
    let added = run(dir, &["client", "add", "Mover TV", "--json"]);
    assert!(added.status.success(), "{}", text(&added.stderr));
    let client: Value = serde_json::from_slice(&added.stdout).expect("json");
    let client_id = client["client_id"].as_str().expect("id").to_owned();
    let started: Value = http
        .post(format!("http://{address}/oauth/device_authorization"))
        .form(&[("client_id", client_id.as_str()), ("scope", "openid")])
        .send()
        .await
        .expect("device authorization")
        .json()
        .await
        .expect("json");
    approve(&http, address, started["user_code"].as_str().expect("code")).await;
    let tokens: Value = http
        .post(format!("http://{address}/oauth/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client_id.as_str()),
            (
                "device_code",
                started["device_code"].as_str().expect("device code"),
            ),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    Filled {
        token,
        client_id,
        refresh_token: tokens["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned(),
        waiting_pin,
    }
}

/// Starts `pinlink serve` on `database` with `dir`'s key file.
fn serve_on(
    dir: &Path,
    database: &str,
) -> (
    KillOnDrop,
    String,
    Vec<String>,
    std::sync::mpsc::Receiver<String>,
) {
    start_server(dir, &["--database", database])
}

async fn refresh(address: &str, client_id: &str, refresh_token: &str) -> reqwest::Response {
    http()
        .post(format!("http://{address}/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .expect("refresh")
}

#[tokio::test]
async fn a_copy_to_postgresql_and_back_keeps_every_token_and_three_instances_serve_it() {
    let Some(postgres) = pinlink_store::testing::fresh_postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    add_alice(dir.path());
    let filled = {
        let (_server, address, _log, _lines) = start_server(dir.path(), &[]);
        fill(dir.path(), &address).await
        // The server stops here, as the README says to before a copy.
    };
    let source = format!("sqlite://{}", dir.path().join("test.db").display());

    let copied = run(dir.path(), &["copy", "--from", &source, "--to", &postgres]);
    assert!(copied.status.success(), "{}", text(&copied.stderr));
    let report = text(&copied.stdout);
    for table in pinlink_store::TABLES {
        assert!(report.contains(table.name), "{table:?} in {report}");
    }
    let again = run(dir.path(), &["copy", "--from", &source, "--to", &postgres]);
    fails_saying(&again, "already holds data");

    // Three instances on the copy: the token, the device list, the pin
    // waiting, and the grant's refresh token on each.
    let instances: Vec<_> = (0..3).map(|_| serve_on(dir.path(), &postgres)).collect();
    let http = http();
    for (_, address, _, _) in &instances {
        assert_eq!(user_status(address, &filled.token).await, 200);
        let devices = http
            .get(format!("http://{address}/devices.xml"))
            .header("X-Plex-Token", &filled.token)
            .send()
            .await
            .expect("devices")
            .text()
            .await
            .expect("text");
        assert!(devices.contains("Mover TV"), "{devices}");
        let waiting = poll(address, &filled.waiting_pin, "waiting-box").await;
        assert!(waiting["authToken"].is_null());
    }
    let rotated = refresh(&instances[1].1, &filled.client_id, &filled.refresh_token).await;
    assert_eq!(rotated.status(), 200, "the refresh token works on the copy");
    let rotated: Value = rotated.json().await.expect("json");
    // New accounts on the copy do not collide with the copied ids.
    let bob = {
        let mut child = Command::new(BIN)
            .args([
                "user",
                "add",
                "bob",
                "--email",
                "bob@example.org",
                "--password-stdin",
            ])
            .args(["--database", &postgres])
            .env("PINLINK_KEY_FILE", dir.path().join("test.key"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"bob's long password\n")
            .expect("write");
        child.wait_with_output().expect("done")
    };
    assert!(bob.status.success(), "{}", text(&bob.stderr));
    drop(instances);

    // And back to SQLite: the same tokens again.
    let back = dir.path().join("back.db");
    let back_url = format!("sqlite://{}", back.display());
    let copied = run(
        dir.path(),
        &["copy", "--from", &postgres, "--to", &back_url],
    );
    assert!(copied.status.success(), "{}", text(&copied.stderr));
    let (_server, address, _log, _lines) = serve_on(dir.path(), &back_url);
    assert_eq!(user_status(&address, &filled.token).await, 200);
    assert_eq!(
        user_status(&address, rotated["access_token"].as_str().expect("token")).await,
        200
    );
    let next = refresh(
        &address,
        &filled.client_id,
        rotated["refresh_token"].as_str().expect("refresh"),
    )
    .await;
    assert_eq!(next.status(), 200);
    // The used refresh token is remembered as used: presented again, the
    // grant ends, on the copy of the copy too.
    let reused = refresh(&address, &filled.client_id, &filled.refresh_token).await;
    assert_eq!(reused.status(), 400);
    let signed_in = http
        .post(format!("http://{address}/api/v2/users/signin"))
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", "after-the-move")
        .form(&[("login", "bob"), ("password", "bob's long password")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(
        signed_in.status(),
        201,
        "bob, added on PostgreSQL, came back"
    );
}

#[tokio::test]
async fn a_copy_killed_half_way_leaves_the_target_empty_and_can_run_again() {
    let Some(postgres) = pinlink_store::testing::fresh_postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    add_alice(dir.path());
    // Enough rows that the copy takes a while: budget spends, as a busy
    // server keeps.
    {
        let db = rusqlite::Connection::open(dir.path().join("test.db")).expect("opens");
        db.execute_batch("BEGIN").expect("begin");
        let mut insert = db
            .prepare("INSERT INTO spends (key, at) VALUES (?1, ?2)")
            .expect("prepare");
        for n in 0..30_000_i64 {
            insert
                .execute(rusqlite::params![
                    n.to_le_bytes().to_vec(),
                    1_800_000_000 + n
                ])
                .expect("insert");
        }
        drop(insert);
        db.execute_batch("COMMIT").expect("commit");
    }
    let source = format!("sqlite://{}", dir.path().join("test.db").display());
    let mut copying = KillOnDrop(
        Command::new(BIN)
            .args(["copy", "--from", &source, "--to", &postgres])
            .env("PINLINK_KEY_FILE", dir.path().join("test.key"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("copy starts"),
    );
    let progress = log_lines(copying.0.stderr.take().expect("stderr"));
    let started = Instant::now();
    loop {
        let line = progress
            .recv_timeout(Duration::from_secs(60))
            .expect("the copy reports its progress");
        if line.contains("spends: 5000 of 30000") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
    }
    // SIGKILL, half-way through the spends.
    copying.0.kill().expect("killed");
    let _ = copying.0.wait();

    let counted = Command::new("psql")
        .args([
            &postgres,
            "-Atc",
            "SELECT (SELECT count(*) FROM accounts) + (SELECT count(*) FROM spends)",
        ])
        .output()
        .expect("psql");
    assert_eq!(
        text(&counted.stdout).trim(),
        "0",
        "{}",
        text(&counted.stderr)
    );

    let rerun = run(dir.path(), &["copy", "--from", &source, "--to", &postgres]);
    assert!(rerun.status.success(), "{}", text(&rerun.stderr));
    assert!(
        text(&rerun.stdout).contains("30000"),
        "{}",
        text(&rerun.stdout)
    );
}

/// The first release of the schema's databases (made by that release:
/// `tests/fixtures/early-schema/make.py`) come up with today's migrations;
/// their tokens work, their devices are listed, their pins answer.
async fn check_early_database(dir: &Path, database: &str, fixture_env: &str) {
    let values: std::collections::HashMap<&str, &str> = fixture_env
        .lines()
        .filter_map(|l| l.split_once('='))
        .collect();
    let tv = values["TV_TOKEN"];
    let (_server, address, _log, _lines) = serve_on(dir, database);
    let http = http();
    assert_eq!(user_status(&address, tv).await, 200, "the TV's token");
    let devices = http
        .get(format!("http://{address}/devices.xml"))
        .header("X-Plex-Token", tv)
        .send()
        .await
        .expect("devices")
        .text()
        .await
        .expect("text");
    assert!(devices.contains("Fixture TV"), "{devices}");
    assert!(devices.contains("Fixture Phone"), "{devices}");

    // The linked pin hands its device its token; it works.
    let phone = poll(
        &address,
        &Value::from(values["PHONE_PIN_ID"].parse::<u64>().expect("id")),
        "fixture-phone",
    )
    .await;
    let phone_token = phone["authToken"].as_str().expect("a linked pin's token");
    assert_eq!(user_status(&address, phone_token).await, 200);
    // The waiting one can still be linked, and then answers its token.
    let box_id = Value::from(values["BOX_PIN_ID"].parse::<u64>().expect("id"));
    let waiting = poll(&address, &box_id, "fixture-box").await;
    assert!(waiting["authToken"].is_null());
    let linked = http
        .put(format!("http://{address}/api/v2/pins/link"))
        .header("X-Plex-Token", tv)
        .form(&[("code", waiting["code"].as_str().expect("code"))])
        .send()
        .await
        .expect("link");
    assert_eq!(linked.status(), 204);
    let linked = poll(&address, &box_id, "fixture-box").await;
    assert!(linked["authToken"].is_string());
    // The password hashed by that release still signs in.
    let signed_in = http
        .post(format!("http://{address}/api/v2/users/signin"))
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", "after-upgrade")
        .form(&[("login", "alice"), ("password", "fixture password")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), 201);
}

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/early-schema")
}

#[tokio::test]
async fn a_sqlite_database_of_the_first_schema_upgrades_and_keeps_every_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(fixtures().join("early.db"), dir.path().join("test.db")).expect("copy db");
    std::fs::copy(fixtures().join("early.key"), dir.path().join("test.key")).expect("copy key");
    let env = std::fs::read_to_string(fixtures().join("sqlite.env")).expect("env");
    let database = format!("sqlite://{}", dir.path().join("test.db").display());
    check_early_database(dir.path(), &database, &env).await;
}

#[tokio::test]
async fn a_postgresql_database_of_the_first_schema_upgrades_and_keeps_every_token() {
    let Some(postgres) = pinlink_store::testing::fresh_postgres_database().await else {
        return;
    };
    let restored = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", &postgres, "-f"])
        .arg(fixtures().join("early.sql"))
        .output()
        .expect("psql");
    assert!(restored.status.success(), "{}", text(&restored.stderr));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(fixtures().join("early.key"), dir.path().join("test.key")).expect("copy key");
    let env = std::fs::read_to_string(fixtures().join("postgres.env")).expect("env");
    check_early_database(dir.path(), &postgres, &env).await;
}

#[test]
fn damaged_foreign_and_newer_databases_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let migrate = |file: &str| {
        Command::new(BIN)
            .args([
                "migrate",
                "--database",
                &format!("sqlite://{}", dir.path().join(file).display()),
            ])
            .env("PINLINK_KEY_FILE", dir.path().join("test.key"))
            .output()
            .expect("runs")
    };
    std::fs::write(dir.path().join("junk.db"), vec![0x5a_u8; 8192]).expect("write");
    fails_saying(
        &migrate("junk.db"),
        "is not a SQLite database, or it is damaged",
    );

    {
        let other = rusqlite::Connection::open(dir.path().join("other.db")).expect("opens");
        other
            .execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)")
            .expect("table");
    }
    fails_saying(&migrate("other.db"), "of something else");
    let untouched = rusqlite::Connection::open(dir.path().join("other.db")).expect("opens");
    let tables: i64 = untouched
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .expect("counted");
    assert_eq!(tables, 1, "nothing was added to someone else's database");

    // A database a newer pinlink wrote: one more migration than this one has.
    assert!(migrate("newer.db").status.success());
    {
        let newer = rusqlite::Connection::open(dir.path().join("newer.db")).expect("opens");
        newer
            .execute(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 SELECT max(version) + 1, 'from the future', 1, x'00', 0 FROM _sqlx_migrations",
                [],
            )
            .expect("a future migration");
    }
    fails_saying(&migrate("newer.db"), "written by a newer pinlink");
    let (serve_fails, _) = {
        let out = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--database"])
            .arg(format!(
                "sqlite://{}",
                dir.path().join("newer.db").display()
            ))
            .env("PINLINK_KEY_FILE", dir.path().join("test.key"))
            .output()
            .expect("runs");
        (out, ())
    };
    fails_saying(&serve_fails, "newer pinlink");
}
