//! Sign-in, `GET /api/v2/user`, sign-out and the lock-out.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::*;

async fn sign_in_raw(app: &TestApp, login: &str, password: &str, json: bool) -> reqwest::Response {
    let mut request = app
        .request(Method::POST, "/api/v2/users/signin")
        .header("X-Plex-Client-Identifier", "browser-1")
        .form(&[("login", login), ("password", password)]);
    if json {
        request = request.header("Accept", "application/json");
    }
    request.go().await
}

#[tokio::test]
async fn sign_in_returns_the_user_with_every_field_clients_require() {
    let app = TestApp::spawn().await;
    let response = sign_in_raw(&app, USERNAME, PASSWORD, true).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.expect("json");
    assert!(user["id"].as_i64().is_some_and(|id| id > 0));
    assert_eq!(user["username"], USERNAME);
    assert_eq!(user["email"], EMAIL);
    assert_eq!(user["uuid"].as_str().map(str::len), Some(16));
    assert_eq!(user["authToken"].as_str().map(str::len), Some(20));
    // Fields the plex-api crate and the generated SDK deserialise strictly.
    for field in [
        "title",
        "friendlyName",
        "thumb",
        "scrobbleTypes",
        "country",
        "mailingListStatus",
    ] {
        assert!(user[field].is_string(), "{field}");
    }
    for field in [
        "confirmed",
        "emailOnlyAuth",
        "hasPassword",
        "protected",
        "restricted",
        "home",
        "guest",
        "homeAdmin",
        "mailingListActive",
        "experimentalFeatures",
        "twoFactorEnabled",
        "backupCodesCreated",
    ] {
        assert!(user[field].is_boolean(), "{field}");
    }
    for field in ["homeSize", "maxHomeSize", "joinedAt", "rememberExpiresAt"] {
        assert!(user[field].is_i64(), "{field}");
    }
    for field in [
        "entitlements",
        "services",
        "pastSubscriptions",
        "trials",
        "subscriptions",
        "roles",
    ] {
        assert!(user[field].is_array(), "{field}");
    }
    assert!(
        user["subscription"]["active"].is_boolean() && user["subscription"]["features"].is_array()
    );
    assert!(user["profile"]["autoSelectSubtitle"].is_i64());
    assert!(user.get("locale").is_some() && user.get("subscriptionDescription").is_some());

    // Signing in by e-mail, in another case, works too.
    let by_email = sign_in_raw(&app, &EMAIL.to_uppercase(), PASSWORD, true).await;
    assert_eq!(by_email.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn the_xml_user_has_what_python_plexapi_reads() {
    let app = TestApp::spawn().await;
    let response = sign_in_raw(&app, USERNAME, PASSWORD, false).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let xml = response.text().await.expect("body");
    assert!(xml.contains("<user "), "{xml}");
    assert!(
        xml.contains("<subscription ") && xml.contains("<profile "),
        "{xml}"
    );
    assert_eq!(xml_attr(&xml, "scrobbleTypes").as_deref(), Some(""));
    assert_eq!(xml_attr(&xml, "username").as_deref(), Some(USERNAME));
    assert_eq!(xml_attr(&xml, "confirmed").as_deref(), Some("1"));
    // No boolean attribute may be empty: plexapi raises on it.
    for boolean in ["anonymous", "home", "guest", "restricted", "protected"] {
        assert_ne!(xml_attr(&xml, boolean).as_deref(), Some(""), "{boolean}");
    }
}

#[tokio::test]
async fn wrong_passwords_and_unknown_accounts_get_1001() {
    let app = TestApp::spawn().await;
    assert_json_error(
        sign_in_raw(&app, USERNAME, "wrong password", true).await,
        401,
        1001,
    )
    .await;
    assert_json_error(sign_in_raw(&app, "nobody", PASSWORD, true).await, 401, 1001).await;
    assert_xml_error(
        sign_in_raw(&app, USERNAME, "wrong password", false).await,
        401,
        1001,
    )
    .await;
    let missing = app
        .request(Method::POST, "/api/v2/users/signin")
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", "b")
        .form(&[("login", USERNAME)])
        .go()
        .await;
    assert_json_error(missing, 400, 1000).await;
}

#[tokio::test]
async fn repeated_failures_lock_the_account_out_for_a_while() {
    let app = TestApp::spawn().await;
    for _ in 0..10 {
        assert_json_error(
            sign_in_raw(&app, USERNAME, "wrong password", true).await,
            401,
            1001,
        )
        .await;
    }
    // Now even the right password is refused, with plex.tv's lock-out code.
    let locked = sign_in_raw(&app, USERNAME, PASSWORD, true).await;
    assert!(locked.headers().contains_key("retry-after"));
    let body = assert_json_error(locked, 401, 1031).await;
    assert!(body["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("repeated failures")));

    app.clock.advance(15 * 60 + 1);
    assert_eq!(
        sign_in_raw(&app, USERNAME, PASSWORD, true).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn the_user_endpoint_answers_for_valid_tokens_only() {
    let app = TestApp::spawn().await;
    let token = app.sign_in("browser-1").await;

    let response = app.user(&token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let user: Value = response.json().await.expect("json");
    assert_eq!(user["username"], USERNAME);
    assert_eq!(user["authToken"], token, "the caller's own token");

    let xml = app.get_text("/api/v2/user", &token).await;
    assert_eq!(xml_attr(&xml, "authToken").as_deref(), Some(token.as_str()));

    // The token is accepted as a query parameter too.
    let by_query = app
        .request(Method::GET, &format!("/api/v2/user?X-Plex-Token={token}"))
        .header("Accept", "application/json")
        .go()
        .await;
    assert_eq!(by_query.status(), StatusCode::OK);

    assert_json_error(app.user("bogus").await, 401, 1001).await;
    let none = app
        .request(Method::GET, "/api/v2/user")
        .header("Accept", "application/json")
        .go()
        .await;
    assert_json_error(none, 401, 1001).await;
}

#[tokio::test]
async fn the_legacy_account_endpoint_wraps_the_user() {
    let app = TestApp::spawn().await;
    let token = app.sign_in("browser-1").await;
    let wrapped: Value = app.get_json("/users/account.json", &token).await;
    assert_eq!(wrapped["user"]["username"], USERNAME);
    let xml = app.get_text("/users/account", &token).await;
    assert!(xml.contains("<user "), "{xml}");
}

#[tokio::test]
async fn signing_out_kills_that_token_only() {
    let app = TestApp::spawn().await;
    let first = app.sign_in("browser-1").await;
    let second = app.sign_in("browser-2").await;
    // Checked once before, so a kept (in-memory) answer exists to forget.
    assert_eq!(app.user(&first).await.status(), StatusCode::OK);
    let out = app
        .request(Method::DELETE, "/api/v2/users/signout")
        .header("X-Plex-Token", &first)
        .go()
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_json_error(app.user(&first).await, 401, 1001).await;
    assert_eq!(app.user(&second).await.status(), StatusCode::OK);
}
