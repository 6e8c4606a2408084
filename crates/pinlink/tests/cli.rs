//! The `pinlink` binary as a user runs it: accounts from the command line,
//! `serve` answering HTTP, and a clean stop on SIGTERM.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn help_explains_the_commands() {
    let out = Command::new(BIN).arg("--help").output().expect("runs");
    assert!(out.status.success());
    let help = text(&out.stdout);
    for word in ["serve", "user", "plex.tv"] {
        assert!(help.contains(word), "--help lacks {word}: {help}");
    }
    let serve = text(
        &Command::new(BIN)
            .args(["serve", "--help"])
            .output()
            .expect("runs")
            .stdout,
    );
    for flag in [
        "--listen",
        "--database",
        "--public-url",
        "--key-file",
        "PINLINK_DATABASE",
        "postgres://",
        "--database-pool-size",
        "--database-timeout",
        "--open-signup",
    ] {
        assert!(serve.contains(flag), "serve --help lacks {flag}: {serve}");
    }
}

#[tokio::test]
async fn migrate_applies_postgres_migrations_once() {
    let Some(url) = pinlink_store::testing::fresh_postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let migrate = |expected: &str| {
        let out = Command::new(BIN)
            .args(["migrate", "--database", &url])
            .current_dir(dir.path())
            .output()
            .expect("runs");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let said = text(&out.stdout);
        assert!(said.contains(expected), "{said}");
    };
    migrate("applied migration(s) 1");
    migrate("up to date");
    // The accounts it migrated for are usable by `user add` at once.
    let out = Command::new(BIN)
        .args([
            "user",
            "add",
            "erin",
            "--email",
            "erin@example.org",
            "--password-stdin",
            "--database",
            &url,
        ])
        .env("PINLINK_KEY_FILE", dir.path().join("k.key"))
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"correct horse battery\n")?;
            child.wait_with_output()
        })
        .expect("runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_database_that_cannot_be_reached_is_named_without_its_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args([
            "migrate",
            "--database",
            "postgres://pinlink:s3cret@127.0.0.1:1/pinlink",
            "--database-timeout",
            "1",
        ])
        .current_dir(dir.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(
        said.contains("postgres://pinlink:***@127.0.0.1:1/pinlink"),
        "{said}"
    );
    assert!(!said.contains("s3cret"), "{said}");
}

#[test]
fn signing_keys_rotate_and_the_old_one_stays_published() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listed = pinlink(dir.path(), &["keys", "list"], "");
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    // The Plex JWT keys, then OpenID Connect's (an RSA and an Ed25519 key
    // per generation).
    let keys = |out: &str| -> (Vec<String>, Vec<String>) {
        let (plex, oidc) = out.split_once("OpenID Connect keys").expect("both lists");
        let listed = |part: &str| {
            part.lines()
                .filter_map(|l| l.strip_prefix("  ").map(str::to_owned))
                .collect::<Vec<_>>()
        };
        (listed(plex), listed(oidc))
    };
    let (before, oidc_before) = keys(&text(&listed.stdout));
    assert_eq!(before.len(), 1, "{}", text(&listed.stdout));
    assert_eq!(oidc_before.len(), 2, "{}", text(&listed.stdout));
    assert!(oidc_before.iter().any(|k| k.ends_with("(RS256)")));
    assert!(oidc_before.iter().any(|k| k.ends_with("(EdDSA)")));

    let rotated = pinlink(dir.path(), &["keys", "rotate"], "");
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    assert!(
        text(&rotated.stdout).contains("generation 1"),
        "{}",
        text(&rotated.stdout)
    );

    let listed = pinlink(dir.path(), &["keys", "list"], "");
    let (after, oidc_after) = keys(&text(&listed.stdout));
    assert_eq!(after.len(), 2, "{}", text(&listed.stdout));
    assert_eq!(oidc_after.len(), 4, "{}", text(&listed.stdout));
    assert!(
        oidc_before.iter().all(|k| oidc_after.contains(k)),
        "the old ID token keys stay published"
    );
    assert_eq!(after[0], before[0], "the old key is still published");
    assert!(
        text(&rotated.stdout).contains(&after[1]),
        "the new key signs"
    );
    // The same key file and database give the same keys: nothing random.
    let again = pinlink(dir.path(), &["keys", "list"], "");
    assert_eq!(text(&again.stdout), text(&listed.stdout));
}

#[tokio::test]
async fn a_declared_server_is_listed_as_the_accounts_resource() {
    let dir = tempfile::tempdir().expect("tempdir");
    add_alice(dir.path());
    let declared = pinlink(
        dir.path(),
        &[
            "resource",
            "add",
            "--user",
            "alice",
            "--name",
            "CI Server",
            "--uri",
            "http://127.0.0.1:32400",
        ],
        "",
    );
    assert!(declared.status.success(), "{}", text(&declared.stderr));
    let unknown = pinlink(
        dir.path(),
        &[
            "resource",
            "add",
            "--user",
            "nobody",
            "--name",
            "X",
            "--uri",
            "http://a:1",
        ],
        "",
    );
    fails_saying(&unknown, "nobody");

    let (_server, address, _, _) = start_server(dir.path(), &[]);
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let token = sign_in(&http, &address).await;
    let resources: serde_json::Value = http
        .get(format!("http://{address}/api/v2/resources"))
        .header("Accept", "application/json")
        .header("X-Plex-Token", &token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(resources[0]["name"], "CI Server");
    assert_eq!(resources[0]["provides"], "server");
    assert_eq!(
        resources[0]["connections"][0]["uri"],
        "http://127.0.0.1:32400"
    );
    let access = resources[0]["accessToken"].as_str().expect("accessToken");
    let as_server = http
        .get(format!("http://{address}/api/v2/user"))
        .header("X-Plex-Token", access)
        .send()
        .await
        .expect("send");
    assert_eq!(
        as_server.status(),
        200,
        "the server's accessToken is a live token"
    );
}

#[test]
fn accounts_are_added_and_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let added = pinlink(
        dir.path(),
        &[
            "user",
            "add",
            "alice",
            "--email",
            "alice@example.org",
            "--password-stdin",
        ],
        "a long password\n",
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    assert!(text(&added.stdout).contains("created account alice"));

    let listed = pinlink(dir.path(), &["user", "list", "--json"], "");
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let accounts: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(accounts[0]["username"], "alice");
    assert_eq!(accounts[0]["email"], "alice@example.org");

    let again = pinlink(
        dir.path(),
        &[
            "user",
            "add",
            "ALICE",
            "--email",
            "other@example.org",
            "--password-stdin",
        ],
        "a long password\n",
    );
    fails_saying(&again, "already exists");

    let short = pinlink(
        dir.path(),
        &[
            "user",
            "add",
            "bob",
            "--email",
            "bob@example.org",
            "--password-stdin",
        ],
        "short\n",
    );
    fails_saying(&short, "8 to 1024 characters");

    let bad_url = Command::new(BIN)
        .args(["user", "list", "--database", "mysql://nope", "--key-file"])
        .arg(dir.path().join("test.key"))
        .output()
        .expect("runs");
    fails_saying(&bad_url, "unsupported database URL");
}

/// The 4-character code `pinlink login` shows on its standard error.
fn shown_code(stderr: &mpsc::Receiver<String>) -> String {
    loop {
        let line = stderr
            .recv_timeout(Duration::from_secs(30))
            .expect("login shows a code");
        if let Some(code) = line.strip_prefix("Code: ") {
            return code.trim().to_owned();
        }
    }
}

fn login_command(dir: &Path, address: &str) -> Command {
    let mut command = Command::new(BIN);
    command
        .args([
            "login",
            "--server",
            &format!("http://{address}"),
            "--product",
            "CLI Login Test",
            "--json",
            "--token-file",
        ])
        .arg(dir.join("login.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[tokio::test]
async fn login_waits_for_approval_and_stores_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    add_alice(dir.path());
    let (_server, address, _, _) = start_server(dir.path(), &[]);
    let mut login = KillOnDrop(
        login_command(dir.path(), &address)
            .spawn()
            .expect("login starts"),
    );
    let stderr = log_lines(login.0.stderr.take().expect("stderr"));
    let code = shown_code(&stderr);
    assert_eq!(code.len(), 4);

    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    approve(&http, &address, &code).await;

    let out = login.wait_with_output();
    assert!(
        out.status.success(),
        "login failed: {}",
        stderr.try_iter().collect::<Vec<_>>().join("\n")
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json result");
    assert_eq!(result["username"], "alice");

    let file = dir.path().join("login.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file)
                .expect("stored")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    let token_file = file.to_str().expect("utf-8 path");
    let whoami = pinlink(
        dir.path(),
        &["whoami", "--json", "--token-file", token_file],
        "",
    );
    assert!(whoami.status.success(), "{}", text(&whoami.stderr));
    let me: serde_json::Value = serde_json::from_slice(&whoami.stdout).expect("json");
    assert_eq!(me["username"], "alice");

    let devices = pinlink(
        dir.path(),
        &["devices", "--json", "--token-file", token_file],
        "",
    );
    assert!(devices.status.success(), "{}", text(&devices.stderr));
    let list: serde_json::Value = serde_json::from_slice(&devices.stdout).expect("json");
    let this = list
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["current"] == true)
        .expect("this device listed");
    assert_eq!(this["product"], "CLI Login Test");

    let logout = pinlink(dir.path(), &["logout", "--token-file", token_file], "");
    assert!(logout.status.success(), "{}", text(&logout.stderr));
    assert!(!file.exists());
    let after = pinlink(dir.path(), &["whoami", "--token-file", token_file], "");
    fails_saying(&after, "pinlink login");
}

#[tokio::test]
async fn login_fails_clearly_when_the_code_expires() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_server, address, _, _) = start_server(dir.path(), &["--link-pin-lifetime", "2"]);
    let started = std::time::Instant::now();
    let out = login_command(dir.path(), &address)
        .output()
        .expect("login runs");
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(20));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("expired before it was approved"),
        "{stderr}"
    );
    assert!(!dir.path().join("login.json").exists(), "nothing is stored");
}

#[tokio::test]
async fn serve_answers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    add_alice(dir.path());
    let (mut child, address, mut log, lines) = start_server(dir.path(), &[]);
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let token = sign_in(&http, &address).await;

    let killed = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.0.wait().expect("serve exits");
    assert!(status.success(), "serve exited with {status}");
    log.extend(lines.try_iter());
    let log = log.join("\n");
    assert!(log.contains("pinlink stopped"), "{log}");
    assert!(
        !log.contains(&token) && !log.contains("a long password"),
        "a secret was logged: {log}"
    );
}

/// Each password check takes about 19 MiB; 200 at once used to take the
/// server from 10 MB to 3.9 GB. Now a few run at a time and the rest wait
/// briefly or are told to come back.
#[tokio::test]
async fn two_hundred_sign_ins_at_once_keep_memory_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    add_alice(dir.path());
    let (child, address, _log, _lines) = start_server(dir.path(), &[]);
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    // One sign-in first, so that the client is one alice has used: her
    // budgets then only count per address, and every attempt below (each
    // from its own address) reaches the password check.
    sign_in(&http, &address).await;
    let before = peak_rss_kib(child.0.id());
    let attempts = (0..200u32).map(|i| {
        let from = std::net::IpAddr::from([127, 0, 10 + (i / 250) as u8, 1 + (i % 250) as u8]);
        let http = reqwest::Client::builder()
            .no_proxy()
            .local_address(from)
            .build()
            .expect("client");
        let url = format!("http://{address}/api/v2/users/signin");
        async move {
            let response = http
                .post(url)
                .header("X-Plex-Client-Identifier", "cli-test")
                .form(&[("login", "alice"), ("password", "a long password")])
                .send()
                .await
                .expect("sign-in");
            (
                response.status().as_u16(),
                response.headers().contains_key("retry-after"),
            )
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let peak = peak_rss_kib(child.0.id());
    let signed_in = answers.iter().filter(|a| a.0 == 201).count();
    let busy = answers.iter().filter(|a| **a == (503, true)).count();
    assert_eq!(signed_in + busy, 200, "{answers:?}");
    assert!(signed_in > 0, "{answers:?}");
    eprintln!(
        "200 sign-ins at once: {signed_in} signed in, {busy} told to come back; peak RSS {} -> {} MiB",
        before / 1024,
        peak / 1024
    );
    assert!(peak < 128 * 1024, "peak RSS {} MiB", peak / 1024);
}

#[tokio::test]
async fn login_with_jwt_stores_a_key_and_a_plex_jwt_and_refreshes_it_when_due() {
    let dir = tempfile::tempdir().expect("tempdir");
    add_alice(dir.path());
    let (_server, address, _, _) = start_server(dir.path(), &[]);
    let mut login = KillOnDrop(
        login_command(dir.path(), &address)
            .arg("--jwt")
            .spawn()
            .expect("login starts"),
    );
    let stderr = log_lines(login.0.stderr.take().expect("stderr"));
    let code = shown_code(&stderr);
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    approve(&http, &address, &code).await;
    let out = login.wait_with_output();
    assert!(
        out.status.success(),
        "login failed: {}",
        stderr.try_iter().collect::<Vec<_>>().join("\n")
    );

    let file = dir.path().join("login.json");
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("stored")).expect("json");
    let jwt = stored["token"].as_str().expect("token").to_owned();
    assert!(
        jwt.starts_with("eyJ") && jwt.matches('.').count() == 2,
        "{jwt}"
    );
    assert!(stored["jwtKey"].as_str().is_some_and(|k| !k.is_empty()));

    let token_file = file.to_str().expect("utf-8 path");
    let whoami = pinlink(
        dir.path(),
        &["whoami", "--json", "--token-file", token_file],
        "",
    );
    assert!(whoami.status.success(), "{}", text(&whoami.stderr));
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("stored")).expect("json");
    assert_eq!(after["token"], jwt.as_str(), "7 days left: not refreshed");

    // A stored JWT past its time is refreshed with the key before use.
    let mut expired = after.clone();
    expired["token"] = "eyJhbGciOiJFZERTQSJ9.eyJleHAiOjF9.AAAA".into();
    std::fs::write(&file, expired.to_string()).expect("write");
    let whoami = pinlink(
        dir.path(),
        &["whoami", "--json", "--token-file", token_file],
        "",
    );
    assert!(whoami.status.success(), "{}", text(&whoami.stderr));
    let refreshed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("stored")).expect("json");
    let new_jwt = refreshed["token"].as_str().expect("token");
    assert!(new_jwt.starts_with("eyJ") && new_jwt != jwt);

    // Logging out ends the device: the JWT stops working.
    let logout = pinlink(dir.path(), &["logout", "--token-file", token_file], "");
    assert!(logout.status.success(), "{}", text(&logout.stderr));
    let me = http
        .get(format!("http://{address}/api/v2/user"))
        .header("X-Plex-Token", new_jwt)
        .send()
        .await
        .expect("send");
    assert_eq!(me.status(), 401);
}

#[tokio::test]
async fn test_mode_seeds_accounts_and_approves_matching_pins_by_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("test-mode.toml");
    std::fs::write(
        &file,
        "[[account]]\nname = \"alice\"\nemail = \"alice@example.org\"\npassword = \"correct horse\"\n\n\
         [auto_approve]\naccount = \"alice\"\nafter_seconds = 2\nproducts = [\"My App\"]\n",
    )
    .expect("write");
    let file_arg = file.to_str().expect("utf-8 path");
    let (_server, address, log, _) = start_server(dir.path(), &["--test-mode", file_arg]);
    assert!(
        log.iter().any(|l| l.contains("TEST MODE")),
        "the log says so: {log:?}"
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let create = |product: &'static str, client: &'static str| {
        http.post(format!("http://{address}/api/v2/pins"))
            .header("Accept", "application/json")
            .header("X-Plex-Product", product)
            .header("X-Plex-Client-Identifier", client)
            .send()
    };
    let mine: serde_json::Value = create("My App", "ci-app")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let other: serde_json::Value = create("Other App", "other")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let poll = |pin: &serde_json::Value, client: &'static str| {
        http.get(format!("http://{address}/api/v2/pins/{}", pin["id"]))
            .header("Accept", "application/json")
            .header("X-Plex-Client-Identifier", client)
            .send()
    };
    // Polled at once: too young (whole seconds: at most one has passed).
    // Two seconds on: linked, for alice.
    let first: serde_json::Value = poll(&mine, "ci-app")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(first["authToken"].is_null());
    let started = Instant::now();
    let token = loop {
        let polled: serde_json::Value = poll(&mine, "ci-app")
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        if let Some(token) = polled["authToken"].as_str() {
            break token.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never approved"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let me: serde_json::Value = http
        .get(format!("http://{address}/api/v2/user"))
        .header("Accept", "application/json")
        .header("X-Plex-Token", &token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(me["username"], "alice");
    // Another product's pin is left alone.
    let polled: serde_json::Value = poll(&other, "other")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert!(polled["authToken"].is_null());
    // Every page says so.
    let page = http
        .get(format!("http://{address}/login"))
        .header("Accept", "text/html")
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    assert!(page.contains("TEST MODE"), "{page}");
}

/// An app's CI logs in over and over from loopback: in test mode the
/// anonymous budgets and caps are off, unless the file's `[limits]` (or a
/// flag, which wins) sets one.
#[tokio::test]
async fn test_mode_lifts_the_anonymous_budgets_unless_told_otherwise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    /// Short-code pins created one after another from loopback: how many
    /// got 201, and the first other status.
    async fn create_pins(http: &reqwest::Client, address: &str, n: usize) -> (usize, Option<u16>) {
        let mut created = 0;
        for i in 0..n {
            let answer = http
                .post(format!("http://{address}/api/v2/pins"))
                .header("X-Plex-Product", "My App")
                .header("X-Plex-Client-Identifier", format!("ci-run-{}", i % 3))
                .send()
                .await
                .expect("send");
            match answer.status().as_u16() {
                201 => created += 1,
                other => return (created, Some(other)),
            }
        }
        (created, None)
    }
    let write = |text: &str| {
        let file = dir.path().join("test-mode.toml");
        std::fs::write(&file, text).expect("write");
        file.to_str().expect("utf-8 path").to_owned()
    };

    let plain = write(
        "[[account]]\nname = \"alice\"\nemail = \"a@example.org\"\npassword = \"correct horse\"\n",
    );
    let (server, address, _, _) = start_server(dir.path(), &["--test-mode", &plain]);
    assert_eq!(create_pins(&http, &address, 75).await, (75, None));
    for _ in 0..40 {
        let nonce = http
            .get(format!("http://{address}/api/v2/auth/nonce"))
            .header("X-Plex-Client-Identifier", "ci-run-0")
            .send()
            .await
            .expect("send");
        assert_eq!(nonce.status(), 200);
    }
    drop(server);

    // The file sets a budget back.
    let limited = write("[limits]\npins_per_address = 5\n");
    let (server, address, _, _) = start_server(dir.path(), &["--test-mode", &limited]);
    assert_eq!(create_pins(&http, &address, 10).await, (5, Some(429)));
    drop(server);

    // A flag wins over the file (a fresh database: budgets are kept in it).
    let fresh = tempfile::tempdir().expect("tempdir");
    let (server, address, _, _) = start_server(
        fresh.path(),
        &["--test-mode", &limited, "--pins-per-address", "2"],
    );
    assert_eq!(create_pins(&http, &address, 10).await, (2, Some(429)));
    drop(server);

    // A name that is no limit is an error that names it.
    let wrong = write("[limits]\npins_per_adress = 5\n");
    let out = pinlink(
        dir.path(),
        &["serve", "--listen", "127.0.0.1:0", "--test-mode", &wrong],
        "",
    );
    fails_saying(&out, "pins_per_adress");
}

#[test]
fn test_mode_refuses_unknown_keys_and_public_addresses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("test-mode.toml");
    std::fs::write(
        &file,
        "[auto_approve]\naccount = \"alice\"\nafter_secs = 2\n",
    )
    .expect("write");
    let file_arg = file.to_str().expect("utf-8 path");
    let out = pinlink(
        dir.path(),
        &["serve", "--listen", "127.0.0.1:0", "--test-mode", file_arg],
        "",
    );
    fails_saying(&out, "after_secs");

    std::fs::write(
        &file,
        "[[account]]\nname = \"a\"\nemail = \"a@example.org\"\npassword = \"long password\"\n",
    )
    .expect("write");
    let out = pinlink(
        dir.path(),
        &["serve", "--listen", "0.0.0.0:0", "--test-mode", file_arg],
        "",
    );
    fails_saying(&out, "--test-mode-public");
}

#[tokio::test]
async fn json_logs_name_route_status_latency_and_request_id_but_no_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = KillOnDrop(
        Command::new(BIN)
            .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
            .env(
                "PINLINK_DATABASE",
                format!("sqlite://{}", dir.path().join("test.db").display()),
            )
            .env("PINLINK_KEY_FILE", dir.path().join("test.key"))
            .env("PINLINK_LOG", "debug,sqlx=warn,hyper=warn")
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts"),
    );
    let lines = log_lines(child.0.stderr.take().expect("stderr"));
    let address = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("a log line");
        let entry: serde_json::Value = serde_json::from_str(&line).expect("every line is JSON");
        if let Some(address) = entry["address"].as_str() {
            break address.to_owned();
        }
    };
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let pin: serde_json::Value = http
        .post(format!("http://{address}/api/v2/pins"))
        .header("Accept", "application/json")
        .header("X-Plex-Product", "Log Test")
        .header("X-Plex-Client-Identifier", "log-test")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let code = pin["code"].as_str().expect("code").to_owned();
    let answer = http
        .get(format!(
            "http://{address}/api/v2/pins/{}?X-Plex-Token=secret-token-123",
            pin["id"]
        ))
        .header("X-Plex-Client-Identifier", "log-test")
        .send()
        .await
        .expect("send");
    let id = answer
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("id")
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let entry = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("the request's line");
        assert!(
            !line.contains(&code) && !line.contains("secret-token-123"),
            "a secret in the log: {line}"
        );
        seen.push(line.clone());
        let entry: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        if entry["request_id"] == id.as_str() {
            break entry;
        }
        assert!(
            Instant::now() < deadline,
            "no line for request {id}: {seen:?}"
        );
    };
    assert_eq!(entry["route"], "/api/v2/pins/{id}");
    assert_eq!(entry["status"], 200);
    assert!(entry["latency_ms"].as_f64().is_some());
}

#[test]
fn client_commands_register_list_and_remove_applications() {
    let dir = tempfile::tempdir().expect("temp dir");
    let added = pinlink(
        dir.path(),
        &["client", "add", "Kitchen TV", "--confidential", "--json"],
        "",
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let credentials: serde_json::Value =
        serde_json::from_slice(&added.stdout).expect("--json prints JSON");
    let id = credentials["client_id"].as_str().expect("client_id");
    assert!(credentials["client_secret"]
        .as_str()
        .is_some_and(|s| s.len() >= 40));
    let public = pinlink(dir.path(), &["client", "add", "Radio", "--json"], "");
    let public: serde_json::Value = serde_json::from_slice(&public.stdout).expect("JSON");
    assert!(
        public["client_secret"].is_null(),
        "a public client has no secret"
    );

    let listed = pinlink(dir.path(), &["client", "list", "--json"], "");
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let names: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Kitchen TV") && names.contains(&"Radio"));
    // The secret is shown once, never listed.
    let table = pinlink(dir.path(), &["client", "list"], "");
    let secret = credentials["client_secret"].as_str().expect("secret");
    assert!(!text(&table.stdout).contains(secret));
    assert!(text(&table.stdout).contains(id));

    let removed = pinlink(dir.path(), &["client", "remove", id], "");
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    let again = pinlink(dir.path(), &["client", "remove", id], "");
    fails_saying(&again, "no client");
    let empty_name = pinlink(dir.path(), &["client", "add", "  "], "");
    assert!(!empty_name.status.success());

    // Token settings: shown in the list, changed with `set`, checked.
    let added = pinlink(
        dir.path(),
        &[
            "client",
            "add",
            "Kiosk",
            "--access-token-lifetime",
            "120",
            "--id-token-alg",
            "eddsa",
            "--json",
        ],
        "",
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let kiosk: serde_json::Value = serde_json::from_slice(&added.stdout).expect("JSON");
    let kiosk = kiosk["client_id"].as_str().expect("id").to_owned();
    let listed = pinlink(dir.path(), &["client", "list", "--json"], "");
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let entry = listed
        .as_array()
        .expect("list")
        .iter()
        .find(|a| a["client_id"] == kiosk.as_str())
        .expect("listed")
        .clone();
    assert_eq!(entry["accessTokenLifetime"], 120);
    assert_eq!(entry["idTokenAlg"], "EdDSA");
    let set = pinlink(
        dir.path(),
        &["client", "set", &kiosk, "--access-token-lifetime", "0"],
        "",
    );
    assert!(set.status.success(), "{}", text(&set.stderr));
    assert!(
        text(&set.stdout).contains("forever"),
        "{}",
        text(&set.stdout)
    );
    for bad in ["-1", "99999999999", "soon"] {
        let refused = pinlink(
            dir.path(),
            &["client", "set", &kiosk, "--access-token-lifetime", bad],
            "",
        );
        assert!(!refused.status.success(), "{bad}");
    }
    fails_saying(
        &pinlink(dir.path(), &["client", "set", &kiosk], ""),
        "nothing to change",
    );
    fails_saying(
        &pinlink(
            dir.path(),
            &[
                "client",
                "set",
                "pl-nosuchclient000000",
                "--id-token-alg",
                "RS256",
            ],
            "",
        ),
        "no client",
    );
}

/// The Rust `oauth2` crate (5.x), unchanged, runs the whole device flow
/// against `pinlink serve`: discovery read by hand (the crate has none),
/// the device authorization, polling while pending, approval over HTTP by
/// a signed-in account, and the token then works on `/api/v2/user`.
#[tokio::test]
async fn the_oauth2_crate_runs_the_device_flow_against_pinlink_serve() {
    use oauth2::basic::BasicClient;
    use oauth2::{
        ClientId, DeviceAuthorizationUrl, Scope, StandardDeviceAuthorizationResponse,
        TokenResponse, TokenUrl,
    };

    let dir = tempfile::tempdir().expect("temp dir");
    add_alice(dir.path());
    let added = pinlink(dir.path(), &["client", "add", "Kitchen TV", "--json"], "");
    let credentials: serde_json::Value = serde_json::from_slice(&added.stdout).expect("JSON");
    let client_id = credentials["client_id"].as_str().expect("id").to_owned();
    let (_server, address, _log, _lines) = start_server(dir.path(), &[]);
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let meta: serde_json::Value = http
        .get(format!(
            "http://{address}/.well-known/oauth-authorization-server"
        ))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    let endpoint = |name: &str| meta[name].as_str().expect(name).to_owned();
    let client = BasicClient::new(ClientId::new(client_id))
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(endpoint("device_authorization_endpoint")).expect("url"),
        )
        .set_token_uri(TokenUrl::new(endpoint("token_endpoint")).expect("url"));
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("read".into()))
        .request_async(&http)
        .await
        .expect("device authorization");
    assert_eq!(details.interval(), Duration::from_secs(5));

    // The person approves a moment later, while the crate polls.
    let user_code = details.user_code().secret().to_owned();
    let approver = {
        let http = http.clone();
        let address = address.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            approve(&http, &address, &user_code).await;
        })
    };
    let polled = tokio::time::timeout(
        Duration::from_secs(60),
        client.exchange_device_access_token(&details).request_async(
            &http,
            tokio::time::sleep,
            Some(Duration::from_secs(60)),
        ),
    )
    .await
    .expect("the flow ends within a minute")
    .expect("a token");
    approver.await.expect("approved");
    assert_eq!(polled.token_type().as_ref(), "bearer");
    assert_eq!(
        polled
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        Some(vec!["read".to_owned()])
    );

    let me = http
        .get(format!("http://{address}/api/v2/user"))
        .header("Accept", "application/json")
        .bearer_auth(polled.access_token().secret())
        .send()
        .await
        .expect("user");
    assert_eq!(me.status().as_u16(), 200);
    let me: serde_json::Value = me.json().await.expect("json");
    assert_eq!(me["username"], "alice");
}

/// The Rust `openidconnect` crate (4.x), unchanged, against `pinlink
/// serve`: OpenID Connect discovery (with the device endpoint as extra
/// metadata), the device grant with `openid profile email
/// offline_access`, the ID token verified against `jwks_uri` (RS256, then
/// EdDSA after `pinlink client set`), refresh with rotation (the old
/// refresh token refused), and UserInfo with the subject pinned.
#[tokio::test]
async fn the_openidconnect_crate_verifies_id_tokens_refreshes_and_reads_userinfo() {
    use openidconnect::core::{
        CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
        CoreDeviceAuthorizationResponse, CoreGrantType, CoreJsonWebKey,
        CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
        CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType, CoreUserInfoClaims,
    };
    use openidconnect::{
        AdditionalProviderMetadata, ClientId, DeviceAuthorizationUrl, IssuerUrl, Nonce,
        OAuth2TokenResponse, ProviderMetadata, Scope,
    };

    #[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
    struct DeviceMetadata {
        device_authorization_endpoint: DeviceAuthorizationUrl,
    }
    impl AdditionalProviderMetadata for DeviceMetadata {}
    type DeviceProviderMetadata = ProviderMetadata<
        DeviceMetadata,
        CoreAuthDisplay,
        CoreClientAuthMethod,
        CoreClaimName,
        CoreClaimType,
        CoreGrantType,
        CoreJweContentEncryptionAlgorithm,
        CoreJweKeyManagementAlgorithm,
        CoreJsonWebKey,
        CoreResponseMode,
        CoreResponseType,
        CoreSubjectIdentifierType,
    >;

    let dir = tempfile::tempdir().expect("temp dir");
    add_alice(dir.path());
    let added = pinlink(
        dir.path(),
        &[
            "client",
            "add",
            "Living room",
            "--access-token-lifetime",
            "300",
            "--json",
        ],
        "",
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let credentials: serde_json::Value = serde_json::from_slice(&added.stdout).expect("JSON");
    let client_id = credentials["client_id"].as_str().expect("id").to_owned();
    let (_server, address, _log, _lines) = start_server(dir.path(), &[]);
    let issuer = format!("http://{address}");
    let http = openidconnect::reqwest::Client::builder()
        .no_proxy()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let meta = DeviceProviderMetadata::discover_async(
        IssuerUrl::new(issuer.clone()).expect("issuer"),
        &http,
    )
    .await
    .expect("discovery");
    let device_url = meta
        .additional_metadata()
        .device_authorization_endpoint
        .clone();
    let client = CoreClient::from_provider_metadata(meta, ClientId::new(client_id.clone()), None)
        .set_device_authorization_url(device_url);
    let details: CoreDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .request_async(&http)
        .await
        .expect("device authorization");
    let user_code = details.user_code().secret().to_owned();
    let approver = {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let address = address.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            approve(&http, &address, &user_code).await;
        })
    };
    let token = tokio::time::timeout(
        Duration::from_secs(60),
        client
            .exchange_device_access_token(&details)
            .expect("a token endpoint")
            .request_async(&http, tokio::time::sleep, Some(Duration::from_secs(60))),
    )
    .await
    .expect("the flow ends within a minute")
    .expect("tokens");
    approver.await.expect("approved");
    // The lifetime counts from the approval, a poll interval ago at most.
    let expires_in = token.expires_in().expect("expires_in").as_secs();
    assert!((290..=300).contains(&expires_in), "{expires_in}");

    let verifier = client.id_token_verifier();
    let id_token = token.extra_fields().id_token().expect("an ID token");
    assert_eq!(
        id_token.signing_alg().expect("alg"),
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
    );
    let claims = id_token
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))
        .expect("the ID token verifies");
    let sub = claims.subject().clone();
    assert_ne!(sub.as_str(), "alice");
    assert_eq!(
        claims.preferred_username().map(|u| u.as_str().to_owned()),
        Some("alice".to_owned())
    );
    assert!(claims.email().is_some());

    // The application now signs with EdDSA; a refresh brings one such.
    let set = pinlink(
        dir.path(),
        &["client", "set", &client_id, "--id-token-alg", "EdDSA"],
        "",
    );
    assert!(set.status.success(), "{}", text(&set.stderr));
    assert!(text(&set.stdout).contains("EdDSA"), "{}", text(&set.stdout));
    // The server reads applications again within a few seconds.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let first_refresh = token.refresh_token().expect("a refresh token");
    let refreshed = client
        .exchange_refresh_token(first_refresh)
        .expect("a token endpoint")
        .request_async(&http)
        .await
        .expect("refreshed");
    let id_token = refreshed.extra_fields().id_token().expect("an ID token");
    assert_eq!(
        id_token.signing_alg().expect("alg"),
        &CoreJwsSigningAlgorithm::EdDsa
    );
    let again = id_token
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))
        .expect("the EdDSA ID token verifies");
    assert_eq!(again.subject(), &sub, "the subject never changes");
    assert!(refreshed.refresh_token().is_some());

    let info: CoreUserInfoClaims = client
        .user_info(refreshed.access_token().clone(), Some(sub))
        .expect("a userinfo endpoint")
        .request_async(&http)
        .await
        .expect("userinfo");
    assert!(info.email().is_some());

    // The first refresh token was used: presented again, refused, and the
    // grant is over.
    assert!(client
        .exchange_refresh_token(first_refresh)
        .expect("a token endpoint")
        .request_async(&http)
        .await
        .is_err());
    let gone = http
        .get(format!("{issuer}/userinfo"))
        .bearer_auth(refreshed.access_token().secret())
        .send()
        .await
        .expect("userinfo");
    assert_eq!(gone.status().as_u16(), 401);
}

/// An HTTPS client that trusts only `ca_pem` (keep-alive, HTTP/1.1).
fn trusting(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA"))
        .build()
        .expect("client")
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--noproxy",
            "*",
            "--max-time",
            "20",
        ])
        .args(args)
        .output()
        .expect("curl runs (Debian's curl package)");
    assert!(out.status.success(), "curl {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// HTTPS: curl runs the PIN flow over HTTP/2 against a test CA; plain HTTP
/// on the port gets a clear 400; SIGHUP reloads the certificate without
/// dropping an open connection, and a broken file on reload keeps the
/// certificate in use.
#[tokio::test]
async fn tls_serves_the_pin_flow_reloads_on_sighup_and_refuses_plain_http() {
    let dir = tempfile::tempdir().expect("temp dir");
    add_alice(dir.path());
    let (ca1, cert1, key1) = test_certificates("pinlink test CA one");
    let (ca2, cert2, key2) = test_certificates("pinlink test CA two");
    let path = |name: &str| dir.path().join(name);
    for (name, pem) in [
        ("ca1.pem", &ca1),
        ("ca2.pem", &ca2),
        ("tls.pem", &cert1),
        ("tls.key", &key1),
    ] {
        std::fs::write(path(name), pem).expect("write PEM");
    }
    let (server, address, _log, lines) = start_server(
        dir.path(),
        &[
            "--tls-cert",
            path("tls.pem").to_str().expect("path"),
            "--tls-key",
            path("tls.key").to_str().expect("path"),
        ],
    );
    let base = format!("https://{address}");
    let ca1_path = path("ca1.pem");
    let cacert = ca1_path.to_str().expect("path");

    // curl, over HTTP/2: a pin, alice signs in and links it, the poll
    // carries the token.
    let version = curl(&[
        "--http2",
        "--cacert",
        cacert,
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}",
        &format!("{base}/healthz"),
    ]);
    assert_eq!(version, "2", "HTTP/2 over TLS");
    let pin: serde_json::Value = serde_json::from_str(&curl(&[
        "--cacert",
        cacert,
        "-X",
        "POST",
        "-H",
        "Accept: application/json",
        "-H",
        "X-Plex-Product: curl",
        "-H",
        "X-Plex-Client-Identifier: curl-device",
        &format!("{base}/api/v2/pins"),
    ]))
    .expect("pin JSON");
    let signed_in: serde_json::Value = serde_json::from_str(&curl(&[
        "--cacert",
        cacert,
        "-H",
        "Accept: application/json",
        "-H",
        "X-Plex-Client-Identifier: curl-browser",
        "--data-urlencode",
        "login=alice",
        "--data-urlencode",
        "password=a long password",
        &format!("{base}/api/v2/users/signin"),
    ]))
    .expect("user JSON");
    let token = signed_in["authToken"].as_str().expect("token");
    let linked = curl(&[
        "--cacert",
        cacert,
        "-X",
        "PUT",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &format!("X-Plex-Token: {token}"),
        "-H",
        "X-Plex-Client-Identifier: curl-browser",
        "--data-urlencode",
        &format!("code={}", pin["code"].as_str().expect("code")),
        &format!("{base}/api/v2/pins/link"),
    ]);
    assert_eq!(linked, "204");
    let polled: serde_json::Value = serde_json::from_str(&curl(&[
        "--cacert",
        cacert,
        "-H",
        "Accept: application/json",
        "-H",
        "X-Plex-Client-Identifier: curl-device",
        &format!("{base}/api/v2/pins/{}", pin["id"]),
    ]))
    .expect("poll JSON");
    assert!(polled["authToken"].is_string(), "{polled}");

    // Plain HTTP to the TLS port: an answer that says what is wrong.
    let plain = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("http://{address}/healthz"))
        .send()
        .await
        .expect("plain HTTP gets an answer, not a hang");
    assert_eq!(plain.status().as_u16(), 400);
    assert!(plain.text().await.expect("body").contains("https://"));

    // A connection made with the first certificate...
    let old = trusting(&ca1);
    let health = format!("{base}/healthz");
    assert!(old
        .get(&health)
        .send()
        .await
        .expect("https")
        .status()
        .is_success());
    // ...outlives a reload to the second.
    std::fs::write(path("tls.pem"), &cert2).expect("write");
    std::fs::write(path("tls.key"), &key2).expect("write");
    let hangup = |expect: &str| {
        let sent = Command::new("kill")
            .args(["-HUP", &server.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("the server logs {expect:?}"));
            if line.contains(expect) {
                break;
            }
        }
    };
    hangup("reloaded the TLS certificate");
    let kept = old
        .get(&health)
        .send()
        .await
        .expect("the open connection still works");
    assert!(kept.status().is_success());
    assert!(
        trusting(&ca1).get(&health).send().await.is_err(),
        "a new connection gets the new certificate"
    );
    let new = trusting(&ca2);
    assert!(new
        .get(&health)
        .send()
        .await
        .expect("https")
        .status()
        .is_success());

    // A broken file: logged, and the certificate in use stays.
    std::fs::write(path("tls.pem"), "not a certificate").expect("write");
    hangup("kept the TLS certificate in use");
    assert!(trusting(&ca2)
        .get(&health)
        .send()
        .await
        .expect("still served")
        .status()
        .is_success());
    drop(server);

    // A key that does not match the certificate: a clear error at start.
    std::fs::write(path("tls.pem"), &cert1).expect("write");
    let refused = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(path("tls.pem"))
        .arg("--tls-key")
        .arg(path("tls.key"))
        .env(
            "PINLINK_DATABASE",
            format!("sqlite://{}", path("test.db").display()),
        )
        .env("PINLINK_KEY_FILE", path("test.key"))
        .output()
        .expect("runs");
    fails_saying(&refused, "does not belong to the certificate");
}
