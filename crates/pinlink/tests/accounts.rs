//! The operator's account commands against running servers: each takes
//! effect at the server's next request — on SQLite, where the server keeps
//! tokens and pins in memory and the command is another process, and on
//! PostgreSQL with three instances.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::Value;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

async fn user_status(http: &reqwest::Client, address: &str, token: &str) -> u16 {
    http.get(format!("http://{address}/api/v2/user"))
        .header("Accept", "application/json")
        .header("X-Plex-Token", token)
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

async fn sign_in_with(
    http: &reqwest::Client,
    address: &str,
    password: &str,
) -> Result<String, u16> {
    let answer = http
        .post(format!("http://{address}/api/v2/users/signin"))
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", "accounts-test")
        .form(&[("login", "alice"), ("password", password)])
        .send()
        .await
        .expect("send");
    if answer.status() != 201 {
        return Err(answer.status().as_u16());
    }
    let user: Value = answer.json().await.expect("json");
    Ok(user["authToken"].as_str().expect("token").to_owned())
}

/// `pinlink ARGS` on the database in `dir` (or `database`), with no input.
fn operator(dir: &Path, database: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env(
            "PINLINK_DATABASE",
            database.map_or_else(
                || format!("sqlite://{}", dir.join("test.db").display()),
                str::to_owned,
            ),
        )
        .env("PINLINK_KEY_FILE", dir.join("test.key"))
        .env_remove("PINLINK_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("pinlink runs")
}

fn succeeds(out: Output) -> String {
    assert!(out.status.success(), "failed: {}", text(&out.stderr));
    text(&out.stdout)
}

#[tokio::test]
async fn operator_commands_take_effect_at_once_on_a_running_sqlite_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    add_alice(dir.path());
    let (_server, address, _log, _lines) = start_server(dir.path(), &[]);
    let http = http();
    let token = sign_in(&http, &address).await;
    // Checked twice: the second answer comes from the server's memory.
    assert_eq!(user_status(&http, &address, &token).await, 200);
    assert_eq!(user_status(&http, &address, &token).await, 200);
    // A device linked with a pin: its poll hands out its token from memory.
    let pin: Value = http
        .post(format!("http://{address}/api/v2/pins"))
        .header("Accept", "application/json")
        .header("X-Plex-Product", "Radio")
        .header("X-Plex-Client-Identifier", "radio")
        .send()
        .await
        .expect("pin")
        .json()
        .await
        .expect("json");
    approve(&http, &address, pin["code"].as_str().expect("code")).await;
    let poll = || {
        http.get(format!("http://{address}/api/v2/pins/{}", pin["id"]))
            .header("Accept", "application/json")
            .header("X-Plex-Client-Identifier", "radio")
            .send()
    };
    let polled: Value = poll().await.expect("poll").json().await.expect("json");
    let radio = polled["authToken"].as_str().expect("linked").to_owned();

    succeeds(operator(dir.path(), None, &["user", "disable", "alice"]));
    assert_eq!(
        user_status(&http, &address, &token).await,
        401,
        "refused at the next request"
    );
    assert_eq!(user_status(&http, &address, &radio).await, 401);
    assert_eq!(
        sign_in_with(&http, &address, "a long password").await,
        Err(401)
    );
    let listed: Value = serde_json::from_str(&succeeds(operator(
        dir.path(),
        None,
        &["user", "list", "--json"],
    )))
    .expect("json list");
    assert_eq!(listed[0]["disabled"], true);
    assert_eq!(listed[0]["twoStep"], false);
    assert_eq!(listed[0]["passkeys"], 0);
    let table = succeeds(operator(dir.path(), None, &["user", "list"]));
    assert!(
        table.contains("TWO-STEP") && table.contains("disabled"),
        "{table}"
    );

    succeeds(operator(dir.path(), None, &["user", "enable", "alice"]));
    assert_eq!(
        user_status(&http, &address, &token).await,
        200,
        "nothing was deleted"
    );

    // A new password, everyone signed out.
    let out = Command::new(BIN)
        .args(["user", "passwd", "alice", "--password-stdin", "--sign-out"])
        .env(
            "PINLINK_DATABASE",
            format!("sqlite://{}", dir.path().join("test.db").display()),
        )
        .env("PINLINK_KEY_FILE", dir.path().join("test.key"))
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
                .write_all(b"the operator's choice\n")?;
            child.wait_with_output()
        })
        .expect("passwd runs");
    succeeds(out);
    assert_eq!(user_status(&http, &address, &token).await, 401);
    assert_eq!(user_status(&http, &address, &radio).await, 401);
    assert_eq!(
        sign_in_with(&http, &address, "a long password").await,
        Err(401)
    );
    let fresh = sign_in_with(&http, &address, "the operator's choice")
        .await
        .expect("the new password");

    // A reset link for a person who forgot: printed, and it opens the page.
    let said = succeeds(operator(
        dir.path(),
        None,
        &[
            "user",
            "reset",
            "alice",
            "--public-url",
            &format!("http://{address}"),
        ],
    ));
    let link = said
        .lines()
        .find(|l| l.contains("/reset?token="))
        .expect("the link is printed")
        .trim()
        .to_owned();
    let page = http.get(&link).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .expect("html")
        .contains("Set a new password"));

    // Removed: asked first (refused without a terminal), then at once.
    let asked = operator(dir.path(), None, &["user", "remove", "alice"]);
    fails_saying(&asked, "--yes");
    assert_eq!(user_status(&http, &address, &fresh).await, 200);
    succeeds(operator(
        dir.path(),
        None,
        &["user", "remove", "alice", "--yes"],
    ));
    assert_eq!(user_status(&http, &address, &fresh).await, 401);
    assert_eq!(
        poll().await.expect("poll").status(),
        404,
        "its linked pin went too"
    );
    assert_eq!(
        sign_in_with(&http, &address, "the operator's choice").await,
        Err(401)
    );
    let gone = operator(dir.path(), None, &["user", "disable", "alice"]);
    fails_saying(&gone, "no account");
}

/// Three `pinlink serve` instances on one PostgreSQL database: disabling
/// alice from the command line is refused by all three at once, enabling
/// brings her back on all three, removing her ends her everywhere.
#[tokio::test]
async fn operator_commands_reach_three_instances_on_postgres_at_once() {
    let Some(url) = pinlink_store::testing::fresh_postgres_database().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let added = Command::new(BIN)
        .args([
            "user",
            "add",
            "alice",
            "--email",
            "a@example.org",
            "--password-stdin",
        ])
        .env("PINLINK_DATABASE", &url)
        .env("PINLINK_KEY_FILE", dir.path().join("test.key"))
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
                .write_all(b"a long password\n")?;
            child.wait_with_output()
        })
        .expect("user add");
    succeeds(added);
    let mut servers = Vec::new();
    let mut addresses = Vec::new();
    for _ in 0..3 {
        let (server, address, _log, _lines) =
            start_server_by(dir.path(), Command::new(BIN), &["--database", &url]);
        servers.push(server);
        addresses.push(address);
    }
    let http = http();
    let token = sign_in(&http, &addresses[0]).await;
    for address in &addresses {
        assert_eq!(user_status(&http, address, &token).await, 200);
    }
    succeeds(operator(
        dir.path(),
        Some(&url),
        &["user", "disable", "alice"],
    ));
    for address in &addresses {
        assert_eq!(
            user_status(&http, address, &token).await,
            401,
            "refused on {address} at once"
        );
    }
    succeeds(operator(
        dir.path(),
        Some(&url),
        &["user", "enable", "alice"],
    ));
    for address in &addresses {
        assert_eq!(
            user_status(&http, address, &token).await,
            200,
            "back on {address}"
        );
    }
    succeeds(operator(
        dir.path(),
        Some(&url),
        &["user", "remove", "alice", "--yes"],
    ));
    for address in &addresses {
        assert_eq!(
            user_status(&http, address, &token).await,
            401,
            "gone on {address}"
        );
    }
}
