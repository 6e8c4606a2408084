//! Several pinlink instances on one PostgreSQL database behave as one: each
//! test starts three real servers (A, B, C) on a fresh database of the test
//! cluster that `scripts/test` runs, and talks HTTP to them.

use pinlink_testkit as harness;

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use harness::{JwtDevice, TestApp, EMAIL, PASSWORD, USERNAME};
use pinlink_core::ServerKey;
use pinlink_server::Config;
use serde_json::Value;

/// Three instances sharing a database and a server key, with alice's
/// account, each hearing the others' changes. `None` without a cluster.
async fn three_instances() -> Option<Vec<TestApp>> {
    three_instances_with(|_| {}).await
}

async fn three_instances_with(adjust: impl Fn(&mut Config)) -> Option<Vec<TestApp>> {
    let url = pinlink_store::testing::fresh_postgres_database().await?;
    Some(three_instances_on(&url, adjust).await)
}

/// Three instances on the database at `url`.
async fn three_instances_on(url: &str, adjust: impl Fn(&mut Config)) -> Vec<TestApp> {
    let url = url.to_owned();
    let key = ServerKey::generate();
    let mut apps = Vec::new();
    for _ in 0..3 {
        let mut config = Config::for_test();
        config.database_url = url.clone();
        config.key = key.clone();
        adjust(&mut config);
        apps.push(TestApp::spawn_with(config).await);
    }
    apps[0].add_account(USERNAME, EMAIL, PASSWORD).await;
    for app in &apps {
        wait_until("the instance hears changes", || async {
            app.core.caches_pins()
        })
        .await;
    }
    apps
}

async fn wait_until<F, Fut>(what: &str, check: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

async fn poll_json(app: &TestApp, id: &Value, client: &str) -> Value {
    let response = app.poll(id, client).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

#[tokio::test]
async fn a_pin_created_on_a_is_polled_on_b_linked_on_c_and_its_token_works_on_a() {
    let Some(apps) = three_instances().await else {
        return;
    };
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);

    let pin = a.create_pin("tv", false).await;
    let pending = poll_json(b, &pin["id"], "tv").await;
    assert!(pending["authToken"].is_null());
    assert_eq!(
        b.core.live_pins_cached(),
        1,
        "B now answers this pin from memory"
    );
    // Someone else's identifier is refused on every instance.
    assert_eq!(c.poll(&pin["id"], "someone-else").await.status(), 404);

    let account_token = c.sign_in("laptop").await;
    assert_eq!(
        c.link(&account_token, pin["code"].as_str().expect("code"))
            .await
            .status(),
        204
    );

    // B held the pending pin; C's NOTIFY makes it forget it.
    let waited = wait_until("B sees the link", || async {
        poll_json(b, &pin["id"], "tv").await["authToken"].is_string()
    })
    .await;
    eprintln!("B saw C's link after {waited:?}");
    let token = poll_json(a, &pin["id"], "tv").await["authToken"]
        .as_str()
        .expect("A sees the token too")
        .to_owned();
    assert_eq!(a.user(&token).await.status(), 200);
    assert_eq!(
        poll_json(b, &pin["id"], "tv").await["authToken"],
        token.as_str()
    );
}

#[tokio::test]
async fn a_pin_denied_on_one_instance_is_gone_on_the_others() {
    let Some(apps) = three_instances().await else {
        return;
    };
    let (a, b) = (&apps[0], &apps[1]);
    let pin = a.create_pin("tv", false).await;
    assert!(poll_json(a, &pin["id"], "tv").await["authToken"].is_null());
    let account = b
        .core
        .accounts()
        .await
        .expect("accounts")
        .into_iter()
        .next()
        .expect("alice");
    b.core
        .deny_code(
            &account,
            pin["code"].as_str().expect("code"),
            &pinlink_core::ClientAddress::new([127, 0, 0, 1].into()),
            pinlink_core::Expect::ANY,
        )
        .await
        .expect("denied on B");
    wait_until("A forgets the denied pin", || async {
        a.poll(&pin["id"], "tv").await.status() == 404
    })
    .await;
}

#[tokio::test]
async fn a_device_revoked_on_b_is_refused_on_a_and_c_at_once() {
    let Some(apps) = three_instances().await else {
        return;
    };
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    let pin = a.create_pin("tv", false).await;
    let account_token = a.sign_in("laptop").await;
    assert_eq!(
        a.link(&account_token, pin["code"].as_str().expect("code"))
            .await
            .status(),
        204
    );
    let device_token = a.device_token(&pin["id"], "tv").await;
    for app in [a, b, c] {
        assert_eq!(app.user(&device_token).await.status(), 200);
    }

    revoke_device(b, &account_token, "tv").await;
    // No waiting: with a shared database, tokens are never answered from
    // memory (another instance's revocation would arrive a moment late).
    assert_eq!(a.user(&device_token).await.status(), 401);
    assert_eq!(c.user(&device_token).await.status(), 401);
}

#[tokio::test]
async fn a_token_signed_out_on_b_is_refused_on_a_and_c_at_once() {
    let Some(apps) = three_instances().await else {
        return;
    };
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    let token = a.sign_in("laptop").await;
    for app in [a, b, c] {
        assert_eq!(app.user(&token).await.status(), 200);
    }
    let out = b
        .request(reqwest::Method::DELETE, "/api/v2/users/signout")
        .header("X-Plex-Token", &token)
        .send()
        .await
        .expect("sign out");
    assert_eq!(out.status(), 204);
    assert_eq!(a.user(&token).await.status(), 401);
    assert_eq!(c.user(&token).await.status(), 401);
}

#[tokio::test]
async fn sign_in_lockouts_count_guesses_on_every_instance() {
    let Some(apps) = three_instances().await else {
        return;
    };
    let budget = apps[0]
        .core
        .settings()
        .budgets
        .sign_in_per_account_and_address;
    // The budget's failures spread over A, B, C, one after another.
    for (i, app) in apps.iter().cycle().take(budget.max as usize).enumerate() {
        let response = sign_in(app, &format!("guesser-{i}"), "wrong password!").await;
        assert_eq!(response.status(), 401);
    }
    // Even the right password is refused now, on any instance.
    for app in &apps {
        let response = sign_in(app, "owner", PASSWORD).await;
        harness::assert_json_error(response, 401, 1031).await;
    }
}

async fn sign_in(app: &TestApp, client: &str, password: &str) -> reqwest::Response {
    app.http
        .post(app.url("/api/v2/users/signin"))
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", client)
        .form(&[("login", USERNAME), ("password", password)])
        .send()
        .await
        .expect("sign-in")
}

/// Status and `errors[0].code` (0 for success) of an answer.
async fn outcome(response: reqwest::Response) -> (u16, i64) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["errors"][0]["code"].as_i64().unwrap_or(0))
}

#[tokio::test]
async fn a_hundred_wrong_passwords_at_once_over_three_instances_are_checked_at_most_the_budget() {
    let Some(apps) = three_instances().await else {
        return;
    };
    let budget = apps[0]
        .core
        .settings()
        .budgets
        .sign_in_per_account_and_address;
    let attempts = (0..100).map(|i| {
        let app = &apps[i % 3];
        async move { outcome(sign_in(app, &format!("bot-{i}"), "guess").await).await }
    });
    let answers = join_all(attempts).await;
    let checked = answers.iter().filter(|a| **a == (401, 1001)).count();
    let refused = answers.iter().filter(|a| **a == (401, 1031)).count();
    assert_eq!(checked, budget.max as usize, "{answers:?}");
    assert_eq!(checked + refused, 100, "{answers:?}");
}

#[tokio::test]
async fn a_hundred_wrong_codes_at_once_over_three_instances_are_checked_at_most_the_budget() {
    let Some(apps) = three_instances().await else {
        return;
    };
    let budget = apps[0].core.settings().budgets.link_per_account;
    let token = apps[0].sign_in("laptop").await;
    let attempts = (0..100).map(|i| {
        let (app, token) = (&apps[i % 3], token.clone());
        async move { outcome(app.link(&token, "ZZZZ").await).await }
    });
    let answers = join_all(attempts).await;
    let looked_up = answers.iter().filter(|a| **a == (404, 1020)).count();
    let refused = answers.iter().filter(|a| **a == (429, 1929)).count();
    assert_eq!(looked_up, budget.max as usize, "{answers:?}");
    assert_eq!(looked_up + refused, 100, "{answers:?}");
}

#[tokio::test]
async fn live_pins_from_one_address_are_capped_over_three_instances() {
    let Some(apps) = three_instances_with(|config| {
        config.settings.budgets.pins_per_address = pinlink_core::Limit::OFF;
        config.settings.budgets.pins_per_client = pinlink_core::Limit::OFF;
        config.settings.caps.per_address = 5;
    })
    .await
    else {
        return;
    };
    let creates = (0..30).map(|i| {
        let app = &apps[i % 3];
        async move {
            let response = app
                .request(reqwest::Method::POST, "/api/v2/pins")
                .header("Accept", "application/json")
                .header("X-Plex-Product", "Flood")
                .header("X-Plex-Client-Identifier", format!("c{i}"))
                .send()
                .await
                .expect("create");
            outcome(response).await
        }
    });
    let answers = join_all(creates).await;
    assert_eq!(
        answers.iter().filter(|a| a.0 == 201).count(),
        5,
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|a| **a == (429, 1003)).count(),
        25,
        "{answers:?}"
    );
}

#[tokio::test]
async fn wrong_link_codes_count_on_every_instance() {
    let Some(apps) = three_instances().await else {
        return;
    };
    let budget = apps[0].core.settings().budgets.link_per_account;
    let token = apps[0].sign_in("laptop").await;
    for app in apps.iter().cycle().take(budget.max as usize) {
        assert_eq!(app.link(&token, "ZZZZ").await.status(), 404);
    }
    let pin = apps[0].create_pin("tv", false).await;
    for app in &apps {
        let refused = app.link(&token, pin["code"].as_str().expect("code")).await;
        harness::assert_json_error(refused, 429, 1929).await;
    }
}

#[tokio::test]
async fn expired_pins_are_swept_once_without_loss_or_double_work() {
    // Thirty short codes from one address: more than it may hold by default.
    let Some(apps) = three_instances_with(|config| {
        config.settings.caps.link_codes_per_address = 30;
    })
    .await
    else {
        return;
    };
    let mut ids = Vec::new();
    for (i, app) in apps.iter().cycle().take(30).enumerate() {
        ids.push(app.create_pin(&format!("device-{i}"), false).await["id"].clone());
    }
    for app in &apps {
        app.clock.advance(901);
    }
    let (ra, rb, rc) = tokio::join!(
        apps[0].core.sweep(),
        apps[1].core.sweep(),
        apps[2].core.sweep()
    );
    let removed = [ra, rb, rc].map(|r| r.expect("sweep"));
    eprintln!("removed per instance: {removed:?}");
    assert_eq!(
        removed.iter().sum::<u64>(),
        30,
        "every expired pin deleted exactly once"
    );
    for app in &apps {
        assert_eq!(
            app.core.sweep().await.expect("sweep again"),
            0,
            "nothing left"
        );
    }
}

#[tokio::test]
async fn instances_starting_together_migrate_once() {
    let Some(url) = pinlink_store::testing::fresh_postgres_database().await else {
        return;
    };
    let (a, b, c) = tokio::join!(
        pinlink_store::open(&url),
        pinlink_store::open(&url),
        pinlink_store::open(&url)
    );
    for store in [a, b, c] {
        store.expect("every instance starts").close().await;
    }
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("connect");
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .expect("migrations table");
    let files = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pinlink-store/migrations/postgres"
    ))
    .expect("migrations dir")
    .count();
    assert_eq!(applied, i64::try_from(files).expect("count"));
}

/// The URL's `sslmode` decides: `require` connects over TLS (the test
/// cluster has a self-signed certificate), `disable` does not.
#[tokio::test]
async fn sslmode_in_the_url_decides_tls() {
    for (mode, expect_tls) in [("require", true), ("disable", false)] {
        let Some(url) = pinlink_store::testing::fresh_postgres_database().await else {
            return;
        };
        let mut config = Config::for_test();
        config.database_url = format!("{url}?sslmode={mode}");
        let app = TestApp::spawn_with(config).await;
        app.add_account(USERNAME, EMAIL, PASSWORD).await;
        let pin = app.create_pin("tv", false).await;
        assert!(poll_json(&app, &pin["id"], "tv").await["authToken"].is_null());

        // What the database sees of pinlink's connections to this database.
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("connect");
        let (encrypted, plain): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
             FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.application_name = 'pinlink' AND a.datname = current_database()",
        )
        .fetch_one(&mut conn)
        .await
        .expect("pg_stat_ssl");
        if expect_tls {
            assert!(
                encrypted >= 1 && plain == 0,
                "sslmode={mode}: {encrypted} TLS, {plain} plain"
            );
        } else {
            assert!(
                plain >= 1 && encrypted == 0,
                "sslmode={mode}: {encrypted} TLS, {plain} plain"
            );
        }
        app.shutdown().await;
    }
}

#[tokio::test]
async fn a_jwt_device_registers_on_a_gets_its_nonce_on_b_its_jwt_on_c_and_revocation_holds_everywhere(
) {
    let Some(apps) = three_instances().await else {
        return;
    };
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    let device = JwtDevice::new(11, "jwt-tv");
    let account_token = a.sign_in("jwt-tv").await;
    let registered = a.register_jwk(&account_token, "jwt-tv", device.jwk()).await;
    assert_eq!(registered.status(), 204);
    let nonce = b.jwt_nonce("jwt-tv").await;
    let device_jwt = device.sign(device.claims(pinlink_core::Clock::now(&c.clock), &nonce));
    let issued: Value = c
        .exchange_jwt("jwt-tv", &device_jwt)
        .await
        .json()
        .await
        .expect("json");
    let jwt = issued["auth_token"]
        .as_str()
        .expect("auth_token")
        .to_owned();
    // The nonce was used up on C: not again on A.
    assert_eq!(a.exchange_jwt("jwt-tv", &device_jwt).await.status(), 422);
    // Signed on C with the key every instance derives: valid on all three.
    for app in [a, b, c] {
        assert_eq!(app.user(&jwt).await.status(), 200);
    }
    // A key rotated on C signs there at once, and A and B, which have not
    // looked at the keys since, accept what it signs at once too.
    let (_, newest) = c.core.rotate_signing_key().await.expect("rotated");
    let nonce = c.jwt_nonce("jwt-tv").await;
    let rotated_jwt = device.sign(device.claims(pinlink_core::Clock::now(&c.clock), &nonce));
    let issued: Value = c
        .exchange_jwt("jwt-tv", &rotated_jwt)
        .await
        .json()
        .await
        .expect("json");
    let new_jwt = issued["auth_token"]
        .as_str()
        .expect("auth_token")
        .to_owned();
    let header: Value = {
        use base64::Engine as _;
        let part = new_jwt.split('.').next().expect("header");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("json")
    };
    assert_eq!(
        header["kid"],
        newest.kid.as_str(),
        "signed with the new key"
    );
    for app in [a, b, c] {
        assert_eq!(app.user(&new_jwt).await.status(), 200);
        assert_eq!(
            app.user(&jwt).await.status(),
            200,
            "the old key's JWT is still live"
        );
    }
    let devices = b.get_json("/api/v2/devices.json", &account_token).await;
    let id = devices
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["clientIdentifier"] == "jwt-tv")
        .and_then(|d| d["id"].as_i64())
        .expect("listed");
    let revoked = b
        .request(reqwest::Method::DELETE, &format!("/api/v2/devices/{id}"))
        .header("X-Plex-Token", &account_token)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);
    assert_eq!(a.user(&jwt).await.status(), 401);
    assert_eq!(c.user(&jwt).await.status(), 401);
}

/// RFC 8628 across instances: the grant started on A, held as a long poll
/// on B, approved on C; B's held request learns of it from C's change
/// notification and answers with the token, which A accepts. The code is
/// redeemed once over all three.
#[tokio::test]
async fn a_long_poll_on_b_wakes_when_c_approves_and_the_code_is_redeemed_once() {
    let Some(apps) = three_instances().await else {
        return;
    };
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    let (client, _) = a.register_application("TV", false).await;
    let started = a.device_authorization(&client, &[]).await;
    let device_code = started["device_code"].as_str().expect("device_code");
    let user_code = started["user_code"].as_str().expect("user_code");

    let approve = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let token = c.sign_in("browser").await;
        assert_eq!(c.link(&token, user_code).await.status(), 204);
        Instant::now()
    };
    let held = async {
        let response = b
            .token_request(&client, device_code, &[("wait", "20")])
            .await;
        (response, Instant::now())
    };
    let ((response, answered), approved) = tokio::join!(held, approve);
    assert_eq!(response.status(), 200);
    let lag = answered.saturating_duration_since(approved);
    assert!(
        lag < Duration::from_secs(3),
        "B answered {lag:?} after C's approval"
    );
    let issued: Value = response.json().await.expect("json");
    let token = issued["access_token"].as_str().expect("token");
    assert_eq!(a.user(token).await.status(), 200);

    for app in [a, c] {
        let again = app.token_request(&client, device_code, &[]).await;
        let body: Value = again.json().await.expect("json");
        assert_eq!(body["error"], "invalid_grant");
    }
}

async fn refresh(app: &TestApp, client: &str, refresh_token: &str) -> reqwest::Response {
    app.request(reqwest::Method::POST, "/oauth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .expect("refresh")
}

#[tokio::test]
async fn a_refresh_on_a_then_the_used_token_on_b_ends_the_grant_everywhere() {
    let Some(apps) = three_instances().await else {
        return;
    };
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    let (client, _) = a.register_application("TV", false).await;
    let started = a
        .device_authorization(&client, &[("scope", "openid offline_access")])
        .await;
    let token = c.sign_in("browser").await;
    let user_code = started["user_code"].as_str().expect("user_code");
    assert_eq!(c.link(&token, user_code).await.status(), 204);
    let first: Value = b
        .token_request(&client, started["device_code"].as_str().expect("code"), &[])
        .await
        .json()
        .await
        .expect("json");
    let used = first["refresh_token"].as_str().expect("refresh_token");

    let rotated = refresh(a, &client, used).await;
    assert_eq!(rotated.status(), 200);
    let second: Value = rotated.json().await.expect("json");
    let access = second["access_token"].as_str().expect("access_token");
    for app in [a, b, c] {
        assert_eq!(app.user(access).await.status(), 200);
    }
    // The used one, on B: it leaked, and the grant ends on every instance.
    let reused: Value = refresh(b, &client, used).await.json().await.expect("json");
    assert_eq!(reused["error"], "invalid_grant");
    for app in [a, b, c] {
        assert_eq!(app.user(access).await.status(), 401);
    }
    let live = second["refresh_token"].as_str().expect("refresh_token");
    let after: Value = refresh(c, &client, live).await.json().await.expect("json");
    assert_eq!(after["error"], "invalid_grant");
}

#[tokio::test]
async fn one_refresh_token_sent_to_three_instances_at_once_is_rotated_at_most_once() {
    let Some(apps) = three_instances().await else {
        return;
    };
    let (client, _) = apps[0].register_application("TV", false).await;
    let started = apps[0].device_authorization(&client, &[]).await;
    let token = apps[1].sign_in("browser").await;
    let user_code = started["user_code"].as_str().expect("user_code");
    assert_eq!(apps[1].link(&token, user_code).await.status(), 204);
    let first: Value = apps[2]
        .token_request(&client, started["device_code"].as_str().expect("code"), &[])
        .await
        .json()
        .await
        .expect("json");
    let used = first["refresh_token"].as_str().expect("refresh_token");
    let answers = join_all((0..30).map(|i| refresh(&apps[i % 3], &client, used))).await;
    let rotated = answers.iter().filter(|r| r.status() == 200).count();
    assert!(rotated <= 1, "{rotated} rotations");
    for app in &apps {
        assert_eq!(
            app.user(first["access_token"].as_str().expect("token"))
                .await
                .status(),
            401,
            "reuse ended the grant"
        );
    }
}

/// Removes the account's device with `client` from its device list (on
/// `app`, with the account's `token`), as plex.tv's `/devices/{id}.xml`.
async fn revoke_device(app: &TestApp, token: &str, client: &str) {
    let devices = app.get_json("/api/v2/devices.json", token).await;
    let device_id = devices
        .as_array()
        .expect("device list")
        .iter()
        .find(|d| d["clientIdentifier"] == client)
        .and_then(|d| d["id"].as_i64())
        .unwrap_or_else(|| panic!("{client} is listed"));
    let revoked = app
        .request(
            reqwest::Method::DELETE,
            &format!("/devices/{device_id}.xml"),
        )
        .header("X-Plex-Token", token)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);
}

/// Asks `app` for `/api/v2/user` with `token` until it is refused; how long
/// that took.
async fn until_refused(app: &TestApp, token: &str) -> Duration {
    let start = Instant::now();
    loop {
        let status = app.user(token).await.status();
        if status == 401 {
            return start.elapsed();
        }
        assert_eq!(status, 200, "a token is accepted or refused");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "a revoked token still accepted after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn with_cached_tokens_a_revocation_reaches_every_instance_within_50_ms() {
    let Some(apps) = three_instances_with(|config| {
        config.settings.cache_tokens_on_shared_store = true;
    })
    .await
    else {
        return;
    };
    let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
    for app in [a, b, c] {
        wait_until("the instance keeps tokens", || async {
            app.core.caches_tokens()
        })
        .await;
    }
    let mut delays = Vec::new();
    for round in 0..30 {
        // A token each round, used on B and C so that they keep it.
        let token = a.sign_in(&format!("laptop-{round}")).await;
        for app in [b, c] {
            let kept = app.core.sessions_cached();
            assert_eq!(app.user(&token).await.status(), 200);
            assert_eq!(
                app.core.sessions_cached(),
                kept + 1,
                "the token is answered from memory from now on"
            );
        }
        // Revoked on A, by signing out, by removing its device, or with
        // every token of the account (a password change that signs out the
        // others, seen from a token kept apart).
        match round % 2 {
            0 => {
                let out = a
                    .request(reqwest::Method::DELETE, "/api/v2/users/signout")
                    .header("X-Plex-Token", &token)
                    .send()
                    .await
                    .expect("sign out");
                assert_eq!(out.status(), 204);
            }
            _ => {
                let keeper = a.sign_in(&format!("keeper-{round}")).await;
                revoke_device(a, &keeper, &format!("laptop-{round}")).await;
            }
        }
        // The instance that revoked refuses at once.
        assert_eq!(a.user(&token).await.status(), 401, "round {round}");
        let (on_b, on_c) = tokio::join!(until_refused(b, &token), until_refused(c, &token));
        delays.extend([on_b, on_c]);
    }
    delays.sort();
    let p99 = delays[(delays.len() * 99).div_ceil(100) - 1];
    let median = delays[delays.len() / 2];
    println!(
        "revocation reached the other instances: median {median:?}, p99 {p99:?}, slowest {:?} ({} revocations)",
        delays[delays.len() - 1],
        delays.len()
    );
    assert!(p99 <= Duration::from_millis(50), "p99 {p99:?}");
}

#[tokio::test]
async fn with_cached_tokens_changes_made_outside_any_instance_reach_every_instance() {
    let Some(url) = pinlink_store::testing::fresh_postgres_database().await else {
        return;
    };
    let apps = three_instances_on(&url, |config| {
        config.settings.cache_tokens_on_shared_store = true;
    })
    .await;
    for app in &apps {
        wait_until("the instance keeps tokens", || async {
            app.core.caches_tokens()
        })
        .await;
    }
    // What an operator's command or a database administrator does, from a
    // connection of its own.
    let admin = sqlx::PgPool::connect(&url).await.expect("connect");
    let token = apps[0].sign_in("laptop").await;
    for app in &apps {
        assert_eq!(app.user(&token).await.status(), 200);
        assert_eq!(app.core.sessions_cached(), 1, "kept");
    }
    sqlx::query("UPDATE accounts SET disabled = TRUE")
        .execute(&admin)
        .await
        .expect("disable");
    for app in &apps {
        let delay = until_refused(app, &token).await;
        assert!(delay <= Duration::from_millis(50), "disabled: {delay:?}");
    }
    sqlx::query("UPDATE accounts SET disabled = FALSE")
        .execute(&admin)
        .await
        .expect("enable");
    let token = apps[0].sign_in("laptop").await;
    for app in &apps {
        assert_eq!(app.user(&token).await.status(), 200);
    }
    sqlx::query("TRUNCATE tokens")
        .execute(&admin)
        .await
        .expect("truncate");
    for app in &apps {
        let delay = until_refused(app, &token).await;
        assert!(delay <= Duration::from_millis(50), "truncated: {delay:?}");
    }
}
