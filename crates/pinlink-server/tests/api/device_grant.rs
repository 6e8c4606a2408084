//! RFC 8628 (the device authorization grant), RFC 8414 discovery and RFC
//! 7009 revocation, on the wire: every answer the issue and the client
//! libraries (protocol reference §D.2) require, with the server's fake
//! clock for `slow_down` and expiry.

use std::time::{Duration, Instant};

use pinlink_core::{ClientAddress, Expect};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::harness::{SendExt, TestApp};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// An RFC 6749 §5.2 error: status, JSON, `error`, no-store, and
/// `WWW-Authenticate` only on 401.
async fn assert_oauth_error(response: Response, status: u16, error: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "for {error}");
    let headers = response.headers().clone();
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert_eq!(
        headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert_eq!(
        headers.contains_key("www-authenticate"),
        status == 401,
        "WWW-Authenticate only for invalid_client"
    );
    let body: Value = response.json().await.expect("json error");
    assert_eq!(body["error"], error, "{body}");
    body
}

/// alice approves `user_code` the way a person typing it at /link does
/// (the same core operation), through `PUT /api/v2/pins/link`.
async fn approve(app: &TestApp, user_code: &str) {
    let token = app.sign_in("alice-browser").await;
    let response = app.link(&token, user_code).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

fn device_code(started: &Value) -> &str {
    started["device_code"].as_str().expect("device_code")
}

fn user_code(started: &Value) -> &str {
    started["user_code"].as_str().expect("user_code")
}

#[tokio::test]
async fn discovery_names_the_endpoints_under_the_exact_issuer() {
    let app = TestApp::spawn().await;
    let meta = app
        .request(Method::GET, "/.well-known/oauth-authorization-server")
        .json_value()
        .await;
    assert_eq!(meta["issuer"], app.base.as_str());
    for (field, path) in [
        (
            "device_authorization_endpoint",
            "/oauth/device_authorization",
        ),
        ("token_endpoint", "/oauth/token"),
        ("revocation_endpoint", "/oauth/revoke"),
    ] {
        assert_eq!(meta[field], app.url(path), "{field}");
    }
    let grants = meta["grant_types_supported"].as_array().expect("grants");
    assert!(grants.contains(&Value::from(GRANT)));
    let methods = meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .expect("auth methods");
    for method in ["none", "client_secret_basic", "client_secret_post"] {
        assert!(methods.contains(&Value::from(method)), "{method}");
    }
}

#[tokio::test]
async fn a_device_authorization_answers_as_rfc_8628_section_3_2_says() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("Kitchen TV", false).await;
    let response = app
        .request(Method::POST, "/oauth/device_authorization")
        .form(&[("client_id", client.as_str()), ("scope", "read tv")])
        .go()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "exactly JSON"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let started: Value = response.json().await.expect("json");
    let code = user_code(&started);
    assert_eq!(code.len(), 9, "{code}");
    assert_eq!(&code[4..5], "-");
    assert!(code
        .bytes()
        .filter(|b| *b != b'-')
        .all(|b| b"BCDFGHJKLMNPQRSTVWXZ".contains(&b)));
    assert_eq!(started["verification_uri"], app.url("/link"));
    assert_eq!(
        started["verification_uri_complete"],
        app.url(&format!("/link?pin={code}"))
    );
    assert_eq!(started["expires_in"], 900);
    assert_eq!(started["interval"], 5);
    assert!(device_code(&started).len() > 40, "the device code is long");
}

#[tokio::test]
async fn client_authentication_public_confidential_and_failed() {
    let app = TestApp::spawn().await;
    let (public, _) = app.register_application("TV", false).await;
    let (private, secret) = app.register_application("Backend", true).await;
    let secret = secret.expect("a confidential client has a secret");
    let device_authorization = |form: Vec<(&'static str, String)>| {
        app.request(Method::POST, "/oauth/device_authorization")
            .form(&form)
    };

    // HTTP Basic, and the secret in the body, both work.
    let basic = device_authorization(vec![])
        .basic_auth(&private, Some(&secret))
        .go()
        .await;
    assert_eq!(basic.status(), StatusCode::OK);
    let post = device_authorization(vec![
        ("client_id", private.clone()),
        ("client_secret", secret.clone()),
    ])
    .go()
    .await;
    assert_eq!(post.status(), StatusCode::OK);
    // A public client may send an empty secret (yup-oauth2 does).
    let empty = device_authorization(vec![
        ("client_id", public.clone()),
        ("client_secret", String::new()),
    ])
    .go()
    .await;
    assert_eq!(empty.status(), StatusCode::OK);

    // A wrong secret, no secret, an unknown client: 401 invalid_client.
    let wrong = device_authorization(vec![])
        .basic_auth(&private, Some("not-the-secret"))
        .go()
        .await;
    assert_oauth_error(wrong, 401, "invalid_client").await;
    let missing = device_authorization(vec![("client_id", private.clone())])
        .go()
        .await;
    assert_oauth_error(missing, 401, "invalid_client").await;
    let unknown = device_authorization(vec![("client_id", "pl-aaaaaaaaaaaaaaaaaaaa".into())])
        .go()
        .await;
    assert_oauth_error(unknown, 401, "invalid_client").await;
    // No client at all is a malformed request, not a failed authentication.
    let none = device_authorization(vec![]).go().await;
    assert_oauth_error(none, 400, "invalid_request").await;
    // The wrong secret on the token endpoint too.
    let started: Value = device_authorization(vec![])
        .basic_auth(&private, Some(&secret))
        .json_value()
        .await;
    let token = app
        .request(Method::POST, "/oauth/token")
        .basic_auth(&private, Some("nope"))
        .form(&[
            ("grant_type", GRANT),
            ("device_code", device_code(&started)),
        ])
        .go()
        .await;
    assert_oauth_error(token, 401, "invalid_client").await;
}

#[tokio::test]
async fn pending_then_slow_down_when_early_and_the_interval_stays_grown() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("TV", false).await;
    let started = app.device_authorization(&client, &[]).await;
    let code = device_code(&started);
    // The first poll, right after the device authorization, is never early.
    let first = app.token_request(&client, code, &[]).await;
    assert_oauth_error(first, 400, "authorization_pending").await;
    // At once again: slow_down, and the interval is now 10 s.
    let early = app.token_request(&client, code, &[]).await;
    assert_oauth_error(early, 400, "slow_down").await;
    app.clock.advance(10);
    let on_time = app.token_request(&client, code, &[]).await;
    assert_oauth_error(on_time, 400, "authorization_pending").await;
    // 5 s (the old interval) is early now...
    app.clock.advance(5);
    let old_interval = app.token_request(&client, code, &[]).await;
    assert_oauth_error(old_interval, 400, "slow_down").await;
    // ...and a device that keeps to its interval (15 s now) is never told
    // to slow down, jitter of most of a second included.
    for _ in 0..5 {
        app.clock.advance_millis(14_200);
        let polled = app.token_request(&client, code, &[]).await;
        assert_oauth_error(polled, 400, "authorization_pending").await;
    }
}

#[tokio::test]
async fn an_approved_code_is_redeemed_once_for_a_bearer_token_that_works_everywhere() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("Kitchen TV", false).await;
    let started = app
        .device_authorization(&client, &[("scope", "read tv"), ("device_name", "Kitchen")])
        .await;
    // Typed in lower case and without the dash.
    let typed = user_code(&started).replace('-', "").to_ascii_lowercase();
    approve(&app, &typed).await;

    let response = app.token_request(&client, device_code(&started), &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(!response.headers().contains_key("www-authenticate"));
    let issued: Value = response.json().await.expect("json");
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["scope"], "read tv");
    let token = issued["access_token"].as_str().expect("token").to_owned();

    // Redeemed once: a second request is invalid_grant.
    app.clock.advance(5);
    let again = app.token_request(&client, device_code(&started), &[]).await;
    assert_oauth_error(again, 400, "invalid_grant").await;

    // An ordinary device token: X-Plex-Token and Authorization: Bearer.
    assert_eq!(app.user(&token).await.status(), StatusCode::OK);
    let bearer = app
        .request(Method::GET, "/api/v2/user")
        .header("Accept", "application/json")
        .bearer_auth(&token)
        .go()
        .await;
    assert_eq!(bearer.status(), StatusCode::OK);
    // Listed under the application's name, with the name the device gave.
    let devices = app.get_json("/api/v2/devices.json", &token).await;
    let listed = devices
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["product"] == "Kitchen TV")
        .unwrap_or_else(|| panic!("the device is listed: {devices}"));
    assert_eq!(listed["name"], "Kitchen");
}

#[tokio::test]
async fn deny_is_access_denied_and_expiry_is_expired_token() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("TV", false).await;
    let denied = app.device_authorization(&client, &[]).await;
    let expiring = app.device_authorization(&client, &[]).await;

    let alice = app.core.accounts().await.expect("accounts").remove(0);
    app.core
        .deny_code(
            &alice,
            user_code(&denied),
            &ClientAddress::UNKNOWN,
            Expect::ANY,
        )
        .await
        .expect("denied");
    let answer = app.token_request(&client, device_code(&denied), &[]).await;
    assert_oauth_error(answer, 400, "access_denied").await;
    // Denied stays denied: the code cannot be approved afterwards.
    let token = app.sign_in("alice-browser").await;
    let late = app.link(&token, user_code(&denied)).await;
    assert_eq!(late.status(), StatusCode::NOT_FOUND);
    app.clock.advance(5);
    let answer = app.token_request(&client, device_code(&denied), &[]).await;
    assert_oauth_error(answer, 400, "access_denied").await;

    app.clock.advance(900);
    let answer = app
        .token_request(&client, device_code(&expiring), &[])
        .await;
    assert_oauth_error(answer, 400, "expired_token").await;
    // And once the sweep forgot it: unknown.
    app.clock
        .advance(pinlink_core::store::GRANT_EXPIRY_MEMORY_SECS);
    app.core.sweep().await.expect("sweep");
    let answer = app
        .token_request(&client, device_code(&expiring), &[])
        .await;
    assert_oauth_error(answer, 400, "invalid_grant").await;
}

#[tokio::test]
async fn malformed_foreign_and_unsupported_requests() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("TV", false).await;
    let (other, _) = app.register_application("Other", false).await;
    let started = app.device_authorization(&client, &[]).await;

    // Another application's device code names nothing for this one.
    let foreign = app.token_request(&other, device_code(&started), &[]).await;
    assert_oauth_error(foreign, 400, "invalid_grant").await;
    for bogus in ["", "x", "123.abc", "99999999999.abc", "\u{202e}.x"] {
        let answer = app.token_request(&client, bogus, &[]).await;
        let status = answer.status().as_u16();
        assert_eq!(status, 400, "{bogus:?}");
    }
    let password_grant = app
        .request(Method::POST, "/oauth/token")
        .form(&[("grant_type", "password"), ("client_id", client.as_str())])
        .go()
        .await;
    assert_oauth_error(password_grant, 400, "unsupported_grant_type").await;
    let no_grant = app
        .request(Method::POST, "/oauth/token")
        .form(&[("client_id", client.as_str())])
        .go()
        .await;
    assert_oauth_error(no_grant, 400, "invalid_request").await;
    let no_code = app
        .request(Method::POST, "/oauth/token")
        .form(&[("grant_type", GRANT), ("client_id", client.as_str())])
        .go()
        .await;
    assert_oauth_error(no_code, 400, "invalid_request").await;
    // Hostile device metadata and scopes: a clear 400, never a 5xx.
    for (field, value) in [
        ("device_name", "Evil\u{202e}VT"),
        ("platform", "a\u{0}b"),
        ("scope", "read\nwrite"),
        ("scope", "read\u{202e}etirw"),
        ("device_name", &"x".repeat(300)),
        ("X-Plex-Client-Identifier", "\u{ffff}"),
    ] {
        let response = app
            .request(Method::POST, "/oauth/device_authorization")
            .form(&[("client_id", client.as_str()), (field, value)])
            .go()
            .await;
        assert_oauth_error(response, 400, "invalid_request").await;
    }
    for wait in ["-1", "1.5", "99999999999999999999999", "soon"] {
        let answer = app
            .token_request(&client, device_code(&started), &[("wait", wait)])
            .await;
        assert_oauth_error(answer, 400, "invalid_request").await;
    }
    // A device grant's pin is not a plex.tv pin: polling its id finds nothing.
    let id = device_code(&started).split('.').next().expect("id");
    let poll = app
        .request(Method::GET, &format!("/api/v2/pins/{id}"))
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", "anyone")
        .go()
        .await;
    assert_eq!(poll.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn revocation_through_rfc_7009_the_device_list_and_client_removal() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("TV", false).await;
    let (other, _) = app.register_application("Other", false).await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let started = app.device_authorization(&client, &[]).await;
        approve(&app, user_code(&started)).await;
        let issued: Value = app
            .token_request(&client, device_code(&started), &[])
            .await
            .json()
            .await
            .expect("json");
        tokens.push(issued["access_token"].as_str().expect("token").to_owned());
    }
    let revoke = |client: String, token: String| {
        app.request(Method::POST, "/oauth/revoke")
            .form(&[("client_id", client), ("token", token)])
    };
    // RFC 7009: the token dies at once; an unknown token is not an error;
    // another application's request leaves it alone, with the same answer
    // (so the endpoint tells no one which tokens are valid).
    let foreign = revoke(other.clone(), tokens[0].clone()).go().await;
    assert_eq!(foreign.status(), StatusCode::OK);
    assert_eq!(app.user(&tokens[0]).await.status(), StatusCode::OK);
    let revoked = revoke(client.clone(), tokens[0].clone()).go().await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        app.user(&tokens[0]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let unknown = revoke(client.clone(), "no-such-token".into()).go().await;
    assert_eq!(unknown.status(), StatusCode::OK);

    // Revoked from the account's device list, like any device.
    let devices = app.get_json("/api/v2/devices.json", &tokens[1]).await;
    let id = devices
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["token"] == tokens[1].as_str())
        .map(|d| d["id"].clone())
        .unwrap_or_else(|| panic!("listed: {devices}"));
    let browser = app.sign_in("alice-browser").await;
    let deleted = app
        .request(Method::DELETE, &format!("/api/v2/devices/{id}"))
        .header("X-Plex-Token", &browser)
        .go()
        .await;
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let bearer = app
        .request(Method::GET, "/api/v2/user")
        .bearer_auth(&tokens[1])
        .go()
        .await;
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);

    // Removing the application (`pinlink client remove`) kills the rest.
    assert_eq!(app.user(&tokens[2]).await.status(), StatusCode::OK);
    assert!(app.core.remove_application(&client).await.expect("removed"));
    assert_eq!(
        app.user(&tokens[2]).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_grant_never_takes_over_a_plex_device_or_another_applications() {
    let app = TestApp::spawn().await;
    let (tv_app, _) = app.register_application("TV", false).await;
    let (radio_app, _) = app.register_application("Radio", false).await;
    // A plex.tv device with the identifier the grants will send.
    let pin = app.create_pin("shared-id", false).await;
    approve(&app, pin["code"].as_str().expect("code")).await;
    let plex_token = app.device_token(&pin["id"], "shared-id").await;
    let mut grant_tokens = Vec::new();
    for client in [&tv_app, &radio_app] {
        let started = app
            .device_authorization(client, &[("X-Plex-Client-Identifier", "shared-id")])
            .await;
        approve(&app, user_code(&started)).await;
        let issued: Value = app
            .token_request(client, device_code(&started), &[])
            .await
            .json()
            .await
            .expect("json");
        grant_tokens.push(issued["access_token"].as_str().expect("token").to_owned());
    }
    let devices = app.get_json("/api/v2/devices.json", &plex_token).await;
    let shared: Vec<&Value> = devices
        .as_array()
        .expect("devices")
        .iter()
        .filter(|d| {
            d["clientIdentifier"]
                .as_str()
                .is_some_and(|c| c.ends_with("shared-id"))
        })
        .collect();
    assert_eq!(shared.len(), 3, "three devices, not one: {devices}");
    // Removing one application leaves the plex.tv device and the other's.
    assert!(app.core.remove_application(&tv_app).await.expect("removed"));
    assert_eq!(app.user(&plex_token).await.status(), StatusCode::OK);
    assert_eq!(app.user(&grant_tokens[1]).await.status(), StatusCode::OK);
    assert_eq!(
        app.user(&grant_tokens[0]).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_hundred_redemptions_at_once_get_exactly_one_token() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("TV", false).await;
    let started = app.device_authorization(&client, &[]).await;
    approve(&app, user_code(&started)).await;
    let code = device_code(&started).to_owned();
    let answers =
        futures_util::future::join_all((0..100).map(|_| app.token_request(&client, &code, &[])))
            .await;
    let ok = answers
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "exactly one redemption");
    assert!(answers
        .iter()
        .all(|r| r.status() == StatusCode::OK || r.status() == StatusCode::BAD_REQUEST));
}

#[tokio::test]
async fn a_long_poll_learns_of_the_approval_at_once() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("TV", false).await;
    let started = app.device_authorization(&client, &[]).await;
    let code = device_code(&started).to_owned();
    let user = user_code(&started).to_owned();

    // Nothing happens: the wait runs out and the answer is pending.
    let t = Instant::now();
    let waited = app.token_request(&client, &code, &[("wait", "1")]).await;
    assert_oauth_error(waited, 400, "authorization_pending").await;
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );

    // Approved while the request waits: answered at once, with the token.
    app.clock.advance(5);
    let approver = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        approve(&app, &user).await;
        Instant::now()
    };
    let (answer, approved_at) = tokio::join!(
        async {
            let r = app.token_request(&client, &code, &[("wait", "20")]).await;
            (r, Instant::now())
        },
        approver
    );
    let (response, answered_at) = answer;
    assert_eq!(response.status(), StatusCode::OK);
    let lag = answered_at.saturating_duration_since(approved_at);
    assert!(
        lag < Duration::from_secs(2),
        "woken {lag:?} after the approval"
    );

    // The plex.tv poll too: GET /api/v2/pins/{id}?wait=N.
    let pin = app.create_pin("long-poller", false).await;
    let code = pin["code"].as_str().expect("code").to_owned();
    let (polled, ()) = tokio::join!(
        app.request(Method::GET, &format!("/api/v2/pins/{}?wait=20", pin["id"]))
            .header("Accept", "application/json")
            .header("X-Plex-Client-Identifier", "long-poller")
            .json_value(),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            approve(&app, &code).await;
        }
    );
    assert!(polled["authToken"].is_string(), "{polled}");
}

#[tokio::test]
async fn held_requests_are_answered_when_the_server_stops() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("TV", false).await;
    let started = app.device_authorization(&client, &[]).await;
    let held = app
        .request(Method::POST, "/oauth/token")
        .form(&[
            ("grant_type", GRANT),
            ("client_id", client.as_str()),
            ("device_code", device_code(&started)),
            ("wait", "20"),
        ])
        .send();
    let t = Instant::now();
    let (answer, ()) = tokio::join!(held, async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.shutdown().await;
    });
    let answer = answer.expect("answered, not cut off");
    assert_oauth_error(answer, 400, "authorization_pending").await;
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}
