//! The `pinlink` binary as a user runs it: accounts from the command line,
//! `serve` answering HTTP, and a clean stop on SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_pinlink");

fn pinlink(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env(
            "PINLINK_DATABASE",
            format!("sqlite://{}", dir.join("test.db").display()),
        )
        .env("PINLINK_KEY_FILE", dir.join("test.key"))
        .env_remove("PINLINK_CONFIG")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pinlink runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("pinlink finishes")
}

/// Kills the server if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

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
    ] {
        assert!(serve.contains(flag), "serve --help lacks {flag}: {serve}");
    }
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
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );

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
    assert!(!short.status.success());
    assert!(
        text(&short.stderr).contains("8 to 1024 characters"),
        "{}",
        text(&short.stderr)
    );

    let bad_url = Command::new(BIN)
        .args(["user", "list", "--database", "mysql://nope", "--key-file"])
        .arg(dir.path().join("test.key"))
        .output()
        .expect("runs");
    assert!(!bad_url.status.success());
    assert!(
        text(&bad_url.stderr).contains("unsupported database URL"),
        "{}",
        text(&bad_url.stderr)
    );
}

#[tokio::test]
async fn serve_answers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let added = pinlink(
        dir.path(),
        &[
            "user",
            "add",
            "alice",
            "--email",
            "a@example.org",
            "--password-stdin",
        ],
        "a long password\n",
    );
    assert!(added.status.success(), "{}", text(&added.stderr));

    let mut child = KillOnDrop(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env(
                "PINLINK_DATABASE",
                format!("sqlite://{}", dir.path().join("test.db").display()),
            )
            .env("PINLINK_KEY_FILE", dir.path().join("test.key"))
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts"),
    );
    let stderr = child.0.stderr.take().expect("stderr");
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = Vec::new();
    let address = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("serve logs its address");
        log.push(line.clone());
        if let Some(rest) = line.split("address=").nth(1) {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };

    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let signed_in = http
        .post(format!("http://{address}/api/v2/users/signin"))
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", "cli-test")
        .form(&[("login", "alice"), ("password", "a long password")])
        .send()
        .await
        .expect("send");
    assert_eq!(signed_in.status(), 201);
    let user: serde_json::Value = signed_in.json().await.expect("json");
    let token = user["authToken"].as_str().expect("token").to_owned();

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
