//! plex.tv's two-step sign-in over HTTP, on every sign-in route, the way
//! clients and attackers use it: 401/1029 "Please enter the verification
//! code" without a code (JSON and XML), `verificationCode`, the code
//! appended to the password, recovery codes, codes good once, a step of
//! clock skew, and wrong codes spending the password's budgets — also a
//! hundred at once. And a disabled account.

use pinlink_core::two_step::TotpSecret;
use pinlink_core::{Clock, UnixTime};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::*;

/// alice with two-step verification on, and her secret.
async fn alice_with_two_step(app: &TestApp) -> TotpSecret {
    let secret = TotpSecret::generate();
    let alice = app
        .core
        .find_account(USERNAME)
        .await
        .expect("alice")
        .account;
    app.core
        .set_two_step_secret(&alice, &secret)
        .await
        .expect("two-step on");
    secret
}

/// `POST /api/v2/users/signin` as `client`, with `fields` beside login.
async fn sign_in(
    app: &TestApp,
    client: &str,
    password: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("login", USERNAME), ("password", password)];
    form.extend_from_slice(fields);
    app.request(Method::POST, "/api/v2/users/signin")
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", client)
        .header("X-Plex-Product", "Two-step test")
        .form(&form)
        .go()
        .await
}

fn now(app: &TestApp) -> UnixTime {
    app.clock.now()
}

#[tokio::test]
async fn without_a_code_the_answer_is_1029_in_json_and_xml_and_with_it_a_token() {
    let app = TestApp::spawn().await;
    let secret = alice_with_two_step(&app).await;

    let missing = sign_in(&app, "laptop", PASSWORD, &[]).await;
    let body = assert_json_error(missing, 401, 1029).await;
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(
        message.to_lowercase().contains("verification code"),
        "python-plexapi raises TwoFactorRequired only on this text: {message}"
    );
    let xml = app
        .request(Method::POST, "/api/v2/users/signin")
        .header("X-Plex-Client-Identifier", "laptop")
        .form(&[("login", USERNAME), ("password", PASSWORD)])
        .go()
        .await;
    let xml = assert_xml_error(xml, 401, 1029).await;
    assert!(xml.contains("verification code"), "{xml}");

    // The password stays checked first: a wrong one is the usual 1001.
    assert_json_error(sign_in(&app, "laptop", "wrong", &[]).await, 401, 1001).await;

    let code = secret.code_at(now(&app));
    let answer = sign_in(&app, "laptop", PASSWORD, &[("verificationCode", &code)]).await;
    assert_eq!(answer.status(), StatusCode::CREATED);
    let user: Value = answer.json().await.expect("json");
    let token = user["authToken"].as_str().expect("token");
    assert_eq!(app.user(token).await.status(), 200);

    // Good once: the same code again is refused (1029 again, so a client
    // asks for a fresh one).
    let replay = sign_in(&app, "phone", PASSWORD, &[("verificationCode", &code)]).await;
    assert_json_error(replay, 401, 1029).await;
}

#[tokio::test]
async fn one_step_of_clock_skew_is_allowed_either_way_and_two_are_not() {
    let app = TestApp::spawn().await;
    let secret = alice_with_two_step(&app).await;
    let at = |offset: i64| secret.code_at(UnixTime(now(&app).0 + offset));
    // The phone runs 30 s behind, then 30 s ahead.
    assert_eq!(
        sign_in(&app, "a", PASSWORD, &[("verificationCode", &at(-30))])
            .await
            .status(),
        201
    );
    app.clock.advance(60);
    assert_eq!(
        sign_in(&app, "b", PASSWORD, &[("verificationCode", &at(30))])
            .await
            .status(),
        201
    );
    app.clock.advance(120);
    assert_json_error(
        sign_in(&app, "c", PASSWORD, &[("verificationCode", &at(-60))]).await,
        401,
        1029,
    )
    .await;
    assert_json_error(
        sign_in(&app, "c", PASSWORD, &[("verificationCode", &at(61))]).await,
        401,
        1029,
    )
    .await;
}

#[tokio::test]
async fn the_legacy_routes_and_the_code_appended_to_the_password_work_too() {
    let app = TestApp::spawn().await;
    let secret = alice_with_two_step(&app).await;
    // Legacy sign-in with HTTP Basic: 1029 without the code, JSON and XML.
    for path in ["/users/sign_in.json", "/users/sign_in.xml"] {
        let answer = app
            .request(Method::POST, path)
            .basic_auth(USERNAME, Some(PASSWORD))
            .header("X-Plex-Client-Identifier", "legacy")
            .go()
            .await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{path}");
        let text = answer.text().await.expect("body");
        assert!(
            text.contains("1029") && text.contains("verification code"),
            "{path}: {text}"
        );
    }
    let code = secret.code_at(now(&app));
    let answer = app
        .request(Method::POST, "/users/sign_in.json")
        .basic_auth(USERNAME, Some(PASSWORD))
        .header("X-Plex-Client-Identifier", "legacy")
        .form(&[("verificationCode", code.as_str())])
        .go()
        .await;
    assert_eq!(answer.status(), StatusCode::CREATED);
    // plex.tv's "password123456" for clients without a code field.
    app.clock.advance(30);
    let appended = format!("{PASSWORD}{}", secret.code_at(now(&app)));
    assert_eq!(
        sign_in(&app, "tautulli", &appended, &[]).await.status(),
        201
    );
}

#[tokio::test]
async fn recovery_codes_work_once_each_in_any_case() {
    let app = TestApp::spawn().await;
    let token = app.sign_in("browser").await;
    let session = app.core.authenticate(&token).await.expect("session");
    let enrollment = app.core.begin_two_step(&session).await.expect("enrolling");
    let secret = TotpSecret::from_base32(&enrollment.secret).expect("secret");
    let origin = pinlink_core::Origin::operator();
    let codes = app
        .core
        .confirm_two_step(&session, &secret.code_at(now(&app)), &origin)
        .await
        .expect("on");
    let first = codes[0].to_uppercase().replace('-', " ");
    assert_eq!(
        sign_in(&app, "phone", PASSWORD, &[("verificationCode", &first)])
            .await
            .status(),
        201
    );
    assert_json_error(
        sign_in(&app, "tv", PASSWORD, &[("verificationCode", &codes[0])]).await,
        401,
        1029,
    )
    .await;
    assert_eq!(
        sign_in(&app, "tv", PASSWORD, &[("verificationCode", &codes[1])])
            .await
            .status(),
        201
    );
    let security = app
        .core
        .account_security(&session.account)
        .await
        .expect("security");
    assert_eq!(security.recovery_codes_left, 8);
}

/// A hundred wrong codes at once, with the right password, from one
/// address (behind a trusted proxy): they spend the same budget as wrong
/// passwords — at most ten are checked, the rest are refused without a
/// look — and then even the right code from that address waits, while the
/// owner elsewhere signs in.
#[tokio::test]
async fn a_hundred_wrong_codes_at_once_spend_the_password_budget() {
    let mut config = pinlink_server::Config::for_test();
    config.trusted_proxies = pinlink_server::client_address::TrustedProxies::new(vec![
        pinlink_server::client_address::TrustedProxies::parse_network("127.0.0.0/8").expect("net"),
    ]);
    let app = TestApp::spawn_with(config).await;
    app.add_account(USERNAME, EMAIL, PASSWORD).await;
    let secret = alice_with_two_step(&app).await;
    let from = |address: &'static str, code: String| {
        let app = &app;
        async move {
            app.request(Method::POST, "/api/v2/users/signin")
                .header("Accept", "application/json")
                .header("X-Plex-Client-Identifier", "attacker")
                .header("X-Forwarded-For", address)
                .form(&[
                    ("login", USERNAME),
                    ("password", PASSWORD),
                    ("verificationCode", &code),
                ])
                .go()
                .await
        }
    };
    let attempts = (0..100).map(|i| {
        let code = format!("{:06}", (i * 7919 + 13) % 1_000_000);
        let attempt = from("203.0.113.66", code);
        async move {
            attempt.await.json::<Value>().await.expect("json")["errors"][0]["code"]
                .as_i64()
                .unwrap_or(0)
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let checked = answers.iter().filter(|code| **code == 1029).count();
    let refused = answers.iter().filter(|code| **code == 1031).count();
    let budget = pinlink_core::Budgets::default()
        .sign_in_per_account_and_address
        .max as usize;
    assert_eq!(
        checked, budget,
        "exactly the budget was checked: {answers:?}"
    );
    assert_eq!(checked + refused, 100, "{answers:?}");
    let right = secret.code_at(now(&app));
    assert_json_error(from("203.0.113.66", right.clone()).await, 401, 1031).await;
    // Ten wrong codes are also all the account takes in 15 minutes, from
    // anywhere: whoever sent them has the password, and six digits are
    // few. The owner waits too (or signs in with a passkey).
    assert_json_error(from("198.51.100.20", right).await, 401, 1031).await;
    app.clock.advance(15 * 60 + 1);
    let right = secret.code_at(now(&app));
    assert_eq!(
        from("198.51.100.20", right).await.status(),
        StatusCode::CREATED
    );
}

/// A client identifier the account used before is no secret: wrong codes
/// sent with one, from many addresses, are stopped by the account's own
/// budget of wrong codes.
#[tokio::test]
async fn wrong_codes_from_a_known_client_and_many_addresses_stop_at_the_accounts_budget() {
    let mut config = pinlink_server::Config::for_test();
    config.trusted_proxies = pinlink_server::client_address::TrustedProxies::new(vec![
        pinlink_server::client_address::TrustedProxies::parse_network("127.0.0.0/8").expect("net"),
    ]);
    let app = TestApp::spawn_with(config).await;
    app.add_account(USERNAME, EMAIL, PASSWORD).await;
    let secret = alice_with_two_step(&app).await;
    let owner = sign_in(
        &app,
        "alice-phone",
        PASSWORD,
        &[("verificationCode", &secret.code_at(now(&app)))],
    )
    .await;
    assert_eq!(owner.status(), StatusCode::CREATED);
    let right = secret.code_at(now(&app));
    let attempts = (0..60).map(|i| {
        let mut code = format!("{:06}", (i * 7919 + 17) % 1_000_000);
        if code == right {
            code = format!("{:06}", (i * 7919 + 18) % 1_000_000);
        }
        let app = &app;
        async move {
            let answer = app
                .request(Method::POST, "/api/v2/users/signin")
                .header("Accept", "application/json")
                .header("X-Plex-Client-Identifier", "alice-phone")
                .header(
                    "X-Forwarded-For",
                    format!("198.51.{}.{}", i / 200, i % 200 + 1),
                )
                .form(&[
                    ("login", USERNAME),
                    ("password", PASSWORD),
                    ("verificationCode", &code),
                ])
                .go()
                .await;
            answer.json::<Value>().await.expect("json")["errors"][0]["code"]
                .as_i64()
                .unwrap_or(0)
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let checked = answers.iter().filter(|code| **code == 1029).count();
    let budget = pinlink_core::Budgets::default()
        .second_factor_per_account
        .max as usize;
    assert_eq!(checked, budget, "{answers:?}");
    assert_eq!(
        answers.iter().filter(|code| **code == 1031).count(),
        60 - budget,
        "{answers:?}"
    );
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in_and_its_tokens_stop_at_once() {
    let app = TestApp::spawn().await;
    let token = app.sign_in("tv").await;
    assert_eq!(app.user(&token).await.status(), 200);
    app.core
        .set_disabled(USERNAME, true)
        .await
        .expect("disabled");
    assert_eq!(
        app.user(&token).await.status(),
        401,
        "its token stops at once"
    );
    let refused = sign_in(&app, "tv", PASSWORD, &[]).await;
    let body = assert_json_error(refused, 401, 1001).await;
    assert!(body["errors"][0]["message"]
        .as_str()
        .expect("message")
        .contains("disabled"));
    // A wrong password says nothing about it.
    let wrong = assert_json_error(sign_in(&app, "tv", "guess", &[]).await, 401, 1001).await;
    assert!(!wrong["errors"][0]["message"]
        .as_str()
        .expect("message")
        .contains("disabled"));
    app.core
        .set_disabled(USERNAME, false)
        .await
        .expect("enabled");
    assert_eq!(app.user(&token).await.status(), 200, "nothing was deleted");
}
