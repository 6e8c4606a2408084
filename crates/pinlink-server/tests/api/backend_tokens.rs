//! The tokens a backend can use, on the wire: access tokens that expire,
//! refresh tokens rotated at every use (a used one coming back ends the
//! grant), RFC 7662 introspection, and OpenID Connect (discovery, ID tokens
//! verified against `jwks_uri`, UserInfo) — with the server's fake clock for
//! expiry.

use pinlink_core::{ApplicationSettings, IdTokenAlg};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::harness::{SendExt, TestApp, EMAIL, PASSWORD, USERNAME};

const FULL_SCOPE: &str = "openid profile email offline_access";

/// A device's first tokens: a grant of `client_id` with `scope`, approved
/// by alice, redeemed.
async fn granted(app: &TestApp, client_id: &str, scope: &str) -> Value {
    let started = app
        .device_authorization(client_id, &[("scope", scope)])
        .await;
    let alice = app.sign_in("alice-browser").await;
    let user_code = started["user_code"].as_str().expect("user_code");
    assert_eq!(
        app.link(&alice, user_code).await.status(),
        StatusCode::NO_CONTENT
    );
    let answer = app
        .token_request(
            client_id,
            started["device_code"].as_str().expect("device_code"),
            &[],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.expect("json")
}

fn field<'a>(answer: &'a Value, name: &str) -> &'a str {
    answer[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {answer}"))
}

async fn refresh(app: &TestApp, client_id: &str, refresh_token: &str) -> Response {
    app.request(Method::POST, "/oauth/token")
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh_token),
        ])
        .go()
        .await
}

async fn introspect(app: &TestApp, client_id: &str, secret: &str, token: &str) -> Response {
    app.request(Method::POST, "/oauth/introspect")
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .go()
        .await
}

async fn bearer(app: &TestApp, method: Method, path: &str, token: &str) -> Response {
    app.request(method, path)
        .header("Accept", "application/json")
        .bearer_auth(token)
        .go()
        .await
}

async fn oauth_error(response: Response) -> String {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert!(status.is_client_error(), "{status} {body}");
    body["error"].as_str().expect("error").to_owned()
}

fn lasting(secs: i64) -> ApplicationSettings {
    ApplicationSettings {
        access_token_lifetime_secs: secs,
        ..ApplicationSettings::default()
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_used_one_coming_back_ends_the_grant() {
    let app = TestApp::spawn().await;
    let (client, _) = app
        .register_application_with("Kitchen TV", false, lasting(600))
        .await;
    let first = granted(&app, &client, FULL_SCOPE).await;
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["expires_in"], 600);
    assert_eq!(first["scope"], FULL_SCOPE);
    let access = field(&first, "access_token");
    let refresh_1 = field(&first, "refresh_token");
    assert_ne!(access, refresh_1);
    assert_eq!(app.user(access).await.status(), StatusCode::OK);

    // A refresh: new tokens, both; the old access token keeps working
    // until it expires, the old refresh token is used up.
    let second: Value = refresh(&app, &client, refresh_1)
        .await
        .json()
        .await
        .expect("json");
    let refresh_2 = field(&second, "refresh_token");
    let access_2 = field(&second, "access_token");
    assert_ne!(refresh_2, refresh_1);
    assert_ne!(access_2, access);
    assert_eq!(second["expires_in"], 600);
    assert_eq!(second["scope"], FULL_SCOPE);
    assert!(second["id_token"].is_string(), "openid: a new ID token");
    assert_eq!(app.user(access_2).await.status(), StatusCode::OK);

    // Someone else's client_id cannot use it, and does not spend it.
    let (other, _) = app.register_application("Other", false).await;
    assert_eq!(
        oauth_error(refresh(&app, &other, refresh_2).await).await,
        "invalid_grant"
    );

    // The used one comes back: it leaked. The whole grant ends.
    assert_eq!(
        oauth_error(refresh(&app, &client, refresh_1).await).await,
        "invalid_grant"
    );
    for token in [access, access_2] {
        assert_eq!(app.user(token).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        oauth_error(refresh(&app, &client, refresh_2).await).await,
        "invalid_grant",
        "the live refresh token went with the grant"
    );
    let alice = app.sign_in("alice-laptop").await;
    let devices = app.get_text("/devices.xml", &alice).await;
    assert!(!devices.contains("Kitchen TV"), "{devices}");
}

#[tokio::test]
async fn an_expired_access_token_is_refused_and_a_bearer_is_told_why() {
    let app = TestApp::spawn().await;
    let (client, _) = app
        .register_application_with("Kiosk", false, lasting(60))
        .await;
    let first = granted(&app, &client, "openid").await;
    let access = field(&first, "access_token");
    assert_eq!(
        bearer(&app, Method::GET, "/api/v2/user", access)
            .await
            .status(),
        StatusCode::OK
    );
    app.clock.advance(61);

    // As X-Plex-Token: plex.tv's 401.
    let plex = app.user(access).await;
    assert_eq!(plex.status(), StatusCode::UNAUTHORIZED);
    assert!(!plex.headers().contains_key("www-authenticate"));
    let body: Value = plex.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], 1001);
    // As a Bearer token: the same body, and RFC 6750's challenge.
    let as_bearer = bearer(&app, Method::GET, "/api/v2/user", access).await;
    assert_eq!(as_bearer.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        as_bearer.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    let body: Value = as_bearer.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], 1001);
    let info = bearer(&app, Method::GET, "/userinfo", access).await;
    assert_eq!(info.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        info.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );

    // The refresh token still gets a fresh one.
    let second: Value = refresh(&app, &client, field(&first, "refresh_token"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        app.user(field(&second, "access_token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_lifetime_of_zero_keeps_tokens_that_never_expire_and_no_refresh_token() {
    let app = TestApp::spawn().await;
    let (client, _) = app
        .register_application_with("Old style", false, lasting(0))
        .await;
    let first = granted(&app, &client, "").await;
    assert!(first.get("expires_in").is_none(), "{first}");
    assert!(first.get("refresh_token").is_none(), "{first}");
    assert!(first.get("id_token").is_none(), "no openid: {first}");
    app.clock.advance(400 * 24 * 3600);
    assert_eq!(
        app.user(field(&first, "access_token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn introspection_is_for_confidential_clients_and_tells_nothing_of_dead_tokens() {
    let app = TestApp::spawn().await;
    let (backend, secret) = app.register_application("Backend", true).await;
    let secret = secret.expect("a confidential client's secret");
    let (device_app, _) = app
        .register_application_with("TV app", false, lasting(120))
        .await;
    let first = granted(&app, &device_app, "openid profile").await;
    let access = field(&first, "access_token");

    let live: Value = introspect(&app, &backend, &secret, access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(live["active"], true);
    assert_eq!(live["client_id"], device_app.as_str());
    assert_eq!(live["username"], "alice");
    assert_eq!(live["scope"], "openid profile");
    assert_eq!(live["token_type"], "Bearer");
    let sub = live["sub"].as_str().expect("sub");
    assert_ne!(sub, "alice", "sub is stable, never the name");
    let (iat, exp) = (
        live["iat"].as_i64().expect("iat"),
        live["exp"].as_i64().expect("exp"),
    );
    assert_eq!(exp - iat, 120);
    // client_secret_post works too.
    let posted = app
        .request(Method::POST, "/oauth/introspect")
        .form(&[
            ("client_id", backend.as_str()),
            ("client_secret", secret.as_str()),
            ("token", access),
        ])
        .json_value()
        .await;
    assert_eq!(posted["active"], true);

    // Exactly {"active": false} for everything else.
    let plex_token = app.sign_in("alice-phone").await;
    let inactive = [
        "no-such-token".to_owned(),
        field(&first, "refresh_token").to_owned(),
        plex_token,
        "x".repeat(600),
    ];
    for token in &inactive {
        let answer: Value = introspect(&app, &backend, &secret, token)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(answer, serde_json::json!({ "active": false }), "{token}");
    }
    app.clock.advance(121);
    let expired: Value = introspect(&app, &backend, &secret, access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(expired, serde_json::json!({ "active": false }));

    // Public clients and wrong secrets: 401 invalid_client.
    let public = app
        .request(Method::POST, "/oauth/introspect")
        .form(&[("client_id", device_app.as_str()), ("token", access)])
        .go()
        .await;
    assert_eq!(public.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(oauth_error(public).await, "invalid_client");
    let wrong = introspect(&app, &backend, "wrong", access).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn id_tokens_verify_against_the_published_keys_and_userinfo_agrees() {
    let app = TestApp::spawn().await;
    let discovery = app
        .request(Method::GET, "/.well-known/openid-configuration")
        .json_value()
        .await;
    let rfc8414 = app
        .request(Method::GET, "/.well-known/oauth-authorization-server")
        .json_value()
        .await;
    assert_eq!(discovery["issuer"], app.base.as_str());
    assert_eq!(discovery["issuer"], rfc8414["issuer"]);
    for (name, path) in [
        ("jwks_uri", "/oauth/jwks"),
        ("userinfo_endpoint", "/userinfo"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("token_endpoint", "/oauth/token"),
        (
            "device_authorization_endpoint",
            "/oauth/device_authorization",
        ),
    ] {
        assert_eq!(discovery[name], app.url(path), "{name}");
        assert_eq!(rfc8414[name], app.url(path), "{name} in RFC 8414's");
    }
    for scope in ["openid", "profile", "email", "offline_access"] {
        assert!(discovery["scopes_supported"]
            .as_array()
            .expect("scopes")
            .contains(&Value::from(scope)));
    }
    assert!(discovery["grant_types_supported"]
        .as_array()
        .expect("grants")
        .contains(&Value::from("refresh_token")));
    let jwks = app.request(Method::GET, "/oauth/jwks").json_value().await;

    for (alg, name) in [(IdTokenAlg::Rs256, "RS256"), (IdTokenAlg::EdDsa, "EdDSA")] {
        let settings = ApplicationSettings {
            id_token_alg: alg,
            ..ApplicationSettings::default()
        };
        let (client, _) = app
            .register_application_with(&format!("{name} app"), false, settings)
            .await;
        let first = granted(&app, &client, "openid profile email").await;
        let id_token = field(&first, "id_token");
        let header = jsonwebtoken::decode_header(id_token).expect("header");
        assert_eq!(format!("{:?}", header.alg), name);
        let kid = header.kid.expect("kid");
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(
            jwks["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .find(|k| k["kid"] == kid.as_str())
                .expect("its kid is published")
                .clone(),
        )
        .expect("jwk");
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_audience(&[client.as_str()]);
        validation.set_issuer(&[app.base.as_str()]);
        validation.validate_exp = false; // the server's clock is a fake one
        let claims = jsonwebtoken::decode::<Value>(
            id_token,
            &jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("key"),
            &validation,
        )
        .expect("the ID token verifies")
        .claims;
        let now = pinlink_core::Clock::now(&app.clock).0;
        assert_eq!(claims["iat"], now);
        assert!(claims["exp"].as_i64().expect("exp") > now);
        assert_eq!(claims["auth_time"], now, "approved just now");
        assert_eq!(claims["preferred_username"], "alice");
        assert_eq!(claims["email"], "alice@example.org");
        // A tampered token does not verify.
        let mut parts: Vec<String> = id_token.split('.').map(str::to_owned).collect();
        parts[1] = parts[1].replace('A', "B");
        assert!(jsonwebtoken::decode::<Value>(
            &parts.join("."),
            &jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("key"),
            &validation,
        )
        .is_err());

        // UserInfo: the same sub, the claims of the scopes; GET and POST.
        let access = field(&first, "access_token");
        for method in [Method::GET, Method::POST] {
            let info: Value = bearer(&app, method, "/userinfo", access)
                .await
                .json()
                .await
                .expect("json");
            assert_eq!(info["sub"], claims["sub"]);
            assert_eq!(info["email"], "alice@example.org");
        }
    }

    // Without openid: no ID token, and UserInfo says which scope is missing.
    let (client, _) = app.register_application("Plain", false).await;
    let plain = granted(&app, &client, "profile").await;
    assert!(plain.get("id_token").is_none());
    let refused = bearer(
        &app,
        Method::GET,
        "/userinfo",
        field(&plain, "access_token"),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .contains("insufficient_scope"));
    // No token at all.
    let none = app.request(Method::GET, "/userinfo").go().await;
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn revoking_either_token_or_the_device_ends_the_grant() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("Revocable", false).await;
    let revoke = |token: String| {
        let app = &app;
        let client = client.clone();
        async move {
            let answer = app
                .request(Method::POST, "/oauth/revoke")
                .form(&[("client_id", client.as_str()), ("token", token.as_str())])
                .go()
                .await;
            assert_eq!(answer.status(), StatusCode::OK);
        }
    };
    // By the refresh token.
    let first = granted(&app, &client, "").await;
    revoke(field(&first, "refresh_token").to_owned()).await;
    assert_eq!(
        app.user(field(&first, "access_token")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // By the access token: the refresh token goes too.
    let second = granted(&app, &client, "").await;
    revoke(field(&second, "access_token").to_owned()).await;
    assert_eq!(
        oauth_error(refresh(&app, &client, field(&second, "refresh_token")).await).await,
        "invalid_grant"
    );
    // From the device list.
    let third = granted(&app, &client, "").await;
    let alice = app.sign_in("alice-laptop").await;
    let devices = app.get_json("/api/v2/devices.json", &alice).await;
    let id = devices
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["product"] == "Revocable")
        .and_then(|d| d["id"].as_i64())
        .expect("the grant's device is listed");
    let removed = app
        .request(Method::DELETE, &format!("/api/v2/devices/{id}"))
        .header("X-Plex-Token", &alice)
        .go()
        .await;
    assert!(removed.status().is_success(), "{}", removed.status());
    assert_eq!(
        oauth_error(refresh(&app, &client, field(&third, "refresh_token")).await).await,
        "invalid_grant"
    );
}

#[tokio::test]
async fn one_refresh_token_sent_many_times_at_once_rotates_once_and_ends_the_grant() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("Racer", false).await;
    let first = granted(&app, &client, "").await;
    let token = field(&first, "refresh_token");
    let answers =
        futures_util::future::join_all((0..20).map(|_| refresh(&app, &client, token))).await;
    let ok = answers
        .iter()
        .filter(|a| a.status() == StatusCode::OK)
        .count();
    assert!(ok <= 1, "{ok} rotations of one refresh token");
    let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 400),
        "{statuses:?}"
    );
    // The others were reuse: the grant is over, whatever the first got.
    for answer in answers {
        if answer.status() == StatusCode::OK {
            let second: Value = answer.json().await.expect("json");
            assert_eq!(
                app.user(field(&second, "access_token")).await.status(),
                StatusCode::UNAUTHORIZED
            );
        }
    }
    assert_eq!(
        app.user(field(&first, "access_token")).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn refreshes_are_budgeted_per_address_under_parallel_load() {
    let mut config = pinlink_server::Config::for_test();
    config.settings.budgets.refreshes_per_address = pinlink_core::Limit::new(5, 600);
    let app = TestApp::spawn_with(config).await;
    app.add_account(USERNAME, EMAIL, PASSWORD).await;
    let (client, _) = app.register_application("Busy", false).await;
    // Ten grants, each refreshed once, all at once from one address.
    let mut tokens = Vec::new();
    for _ in 0..10 {
        let first = granted(&app, &client, "").await;
        tokens.push(field(&first, "refresh_token").to_owned());
    }
    let answers =
        futures_util::future::join_all(tokens.iter().map(|t| refresh(&app, &client, t))).await;
    let ok = answers
        .iter()
        .filter(|a| a.status() == StatusCode::OK)
        .count();
    assert_eq!(ok, 5, "exactly the budget");
    for answer in answers {
        if answer.status() != StatusCode::OK {
            assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(answer.headers().contains_key("retry-after"));
            assert_eq!(oauth_error_any(answer).await, "temporarily_unavailable");
        }
    }
}

/// `error` of an OAuth error answer of any status.
async fn oauth_error_any(response: Response) -> String {
    let body: Value = response.json().await.expect("json");
    body["error"].as_str().expect("error").to_owned()
}

/// A second reader's attack: a grant's access token, while live, must not
/// leave behind anything that outlives it.
#[tokio::test]
async fn a_grant_token_cannot_approve_codes_register_keys_or_change_devices() {
    let app = TestApp::spawn().await;
    let (client, _) = app
        .register_application_with("Short lived", false, lasting(60))
        .await;
    let first = granted(&app, &client, "").await;
    let access = field(&first, "access_token");
    assert_eq!(app.user(access).await.status(), StatusCode::OK, "it reads");

    // Approve a plex.tv pin (that would give a token that never expires).
    let pin = app.create_pin("thief-device", true).await;
    let approve = app.link(access, pin["code"].as_str().expect("code")).await;
    assert_eq!(approve.status(), StatusCode::FORBIDDEN);
    // Register a device key (Plex JWTs for a week, after it expired).
    let devices = app.get_json("/api/v2/devices.json", access).await;
    let own = devices
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["product"] == "Short lived")
        .cloned()
        .expect("listed");
    let device = crate::harness::JwtDevice::new(7, own["clientIdentifier"].as_str().expect("id"));
    let key = app
        .register_jwk(access, device.client(), device.jwk())
        .await;
    assert!(key.status().is_client_error(), "{}", key.status());
    // Remove a device, publish connections.
    let alice = app.sign_in("alice-laptop").await;
    let laptop = app
        .get_json("/api/v2/devices.json", &alice)
        .await
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["clientIdentifier"] == "alice-laptop")
        .and_then(|d| d["id"].as_i64())
        .expect("laptop");
    let removed = app
        .request(Method::DELETE, &format!("/api/v2/devices/{laptop}"))
        .header("X-Plex-Token", access)
        .go()
        .await;
    assert_eq!(removed.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.user(&alice).await.status(), StatusCode::OK);
    // And nobody may create a pin in a grant's namespace (it would take the
    // grant's device over).
    let namespaced = app
        .request(Method::POST, "/api/v2/pins")
        .header("Accept", "application/json")
        .header(
            "X-Plex-Client-Identifier",
            own["clientIdentifier"].as_str().expect("id"),
        )
        .header("X-Plex-Product", "Thief")
        .go()
        .await;
    assert_eq!(namespaced.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_grant_keeps_two_access_tokens_and_its_lifetime_counts_from_redemption() {
    let app = TestApp::spawn().await;
    let (client, _) = app
        .register_application_with("Counted", false, lasting(60))
        .await;
    // Redeemed 30 s after the approval: still the whole lifetime.
    let started = app.device_authorization(&client, &[]).await;
    let alice = app.sign_in("alice-browser").await;
    assert_eq!(
        app.link(&alice, started["user_code"].as_str().expect("code"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    app.clock.advance(30);
    let first: Value = app
        .token_request(&client, started["device_code"].as_str().expect("dc"), &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(first["expires_in"], 60);

    // Refreshed three times: the oldest access tokens are gone, the two
    // newest work.
    let mut access = vec![field(&first, "access_token").to_owned()];
    let mut refresh_token = field(&first, "refresh_token").to_owned();
    for _ in 0..3 {
        app.clock.advance(1);
        let next: Value = refresh(&app, &client, &refresh_token)
            .await
            .json()
            .await
            .expect("json");
        access.push(field(&next, "access_token").to_owned());
        refresh_token = field(&next, "refresh_token").to_owned();
    }
    for (n, token) in access.iter().enumerate() {
        let expected = if n >= access.len() - 2 {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(app.user(token).await.status(), expected, "token {n}");
    }
}

#[tokio::test]
async fn revoking_an_expired_access_token_still_ends_its_grant() {
    let app = TestApp::spawn().await;
    let (client, _) = app
        .register_application_with("Expiring", false, lasting(60))
        .await;
    let first = granted(&app, &client, "").await;
    app.clock.advance(61);
    let revoked = app
        .request(Method::POST, "/oauth/revoke")
        .form(&[
            ("client_id", client.as_str()),
            ("token", field(&first, "access_token")),
        ])
        .go()
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        oauth_error(refresh(&app, &client, field(&first, "refresh_token")).await).await,
        "invalid_grant"
    );
}

#[tokio::test]
async fn a_disabled_account_s_refresh_waits_and_works_again_once_enabled() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("Paused", false).await;
    let first = granted(&app, &client, "").await;
    app.core
        .set_disabled(USERNAME, true)
        .await
        .expect("disabled");
    assert_eq!(
        oauth_error(refresh(&app, &client, field(&first, "refresh_token")).await).await,
        "invalid_grant"
    );
    app.core
        .set_disabled(USERNAME, false)
        .await
        .expect("enabled");
    let again = refresh(&app, &client, field(&first, "refresh_token")).await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "the refresh token was not used up"
    );
}

#[tokio::test]
async fn a_lifetime_set_to_zero_later_gives_a_last_token_that_does_not_expire() {
    let app = TestApp::spawn().await;
    let (client, _) = app
        .register_application_with("Changed", false, lasting(60))
        .await;
    let first = granted(&app, &client, "").await;
    app.core
        .set_application_settings(&client, Some(0), None)
        .await
        .expect("set");
    app.clock.advance(6); // the application is read again
    let last: Value = refresh(&app, &client, field(&first, "refresh_token"))
        .await
        .json()
        .await
        .expect("json");
    assert!(last.get("refresh_token").is_none(), "{last}");
    assert!(last.get("expires_in").is_none(), "{last}");
    app.clock.advance(30 * 24 * 3600);
    assert_eq!(
        app.user(field(&last, "access_token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_second_grant_on_the_same_device_replaces_the_first() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("Twice", false).await;
    let grant = |scope: &'static str| {
        let app = &app;
        let client = client.clone();
        async move {
            let started = app
                .device_authorization(
                    &client,
                    &[("scope", scope), ("X-Plex-Client-Identifier", "same-tv")],
                )
                .await;
            let alice = app.sign_in("alice-browser").await;
            app.link(&alice, started["user_code"].as_str().expect("code"))
                .await;
            let answer: Value = app
                .token_request(&client, started["device_code"].as_str().expect("dc"), &[])
                .await
                .json()
                .await
                .expect("json");
            answer
        }
    };
    let first = grant("openid").await;
    let second = grant("openid profile email").await;
    assert_eq!(
        app.user(field(&first, "access_token")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        oauth_error(refresh(&app, &client, field(&first, "refresh_token")).await).await,
        "invalid_grant"
    );
    assert_eq!(
        refresh(&app, &client, field(&second, "refresh_token"))
            .await
            .status(),
        StatusCode::OK,
        "the old grant's used refresh token did not end the new grant"
    );
}

#[tokio::test]
async fn credentials_in_the_url_are_refused() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("Careful", false).await;
    let first = granted(&app, &client, "openid").await;
    let access = field(&first, "access_token");
    for path in [
        format!(
            "/oauth/token?grant_type=refresh_token&client_id={client}&refresh_token={}",
            field(&first, "refresh_token")
        ),
        format!("/oauth/introspect?client_id={client}&token={access}"),
        format!("/oauth/revoke?client_id={client}&token={access}"),
    ] {
        let answer = app.request(Method::POST, &path).go().await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(oauth_error(answer).await, "invalid_request");
    }
    let info = app
        .request(Method::GET, &format!("/userinfo?access_token={access}"))
        .go()
        .await;
    assert_eq!(info.status(), StatusCode::BAD_REQUEST);
    // Nothing was used or revoked on the way.
    assert_eq!(app.user(access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn userinfo_takes_a_bearer_token_not_a_plex_header() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("Plain header", false).await;
    let first = granted(&app, &client, "openid").await;
    let plex = app
        .request(Method::GET, "/userinfo")
        .header("X-Plex-Token", field(&first, "access_token"))
        .go()
        .await;
    assert_eq!(plex.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(plex.headers()["www-authenticate"], "Bearer");
    let posted = app
        .request(Method::POST, "/userinfo")
        .form(&[("access_token", field(&first, "access_token"))])
        .go()
        .await;
    assert_eq!(posted.status(), StatusCode::OK, "a form body is fine");
}
