//! plex.tv's JWT login over HTTP: a device registers its Ed25519 key with
//! an account token, trades a device JWT (with one of our nonces) for a Plex
//! JWT, and uses that as its token. Every rule is checked the way a client
//! or an attacker would break it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

const CLIENT: &str = "jwt-device";

/// alice's account token from the device's own client identifier, and the
/// device's key registered with it.
async fn registered(app: &TestApp, device: &JwtDevice) -> String {
    let token = app.sign_in(device.client()).await;
    let answer = app
        .register_jwk(&token, device.client(), device.jwk())
        .await;
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    token
}

async fn plex_jwt(app: &TestApp, device: &JwtDevice) -> String {
    let nonce = app.jwt_nonce(device.client()).await;
    let answer = app
        .exchange_jwt(
            device.client(),
            &device.sign(device.claims(pinlink_core::Clock::now(&app.clock), &nonce)),
        )
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body["auth_token"], body["authToken"]);
    body["auth_token"].as_str().expect("auth_token").to_owned()
}

fn decode_claims(jwt: &str) -> Value {
    let body = jwt.split('.').nth(1).expect("claims part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).expect("base64url")).expect("json")
}

#[tokio::test]
async fn a_registered_device_trades_its_jwt_for_a_plex_jwt_that_works_as_a_token() {
    let app = TestApp::spawn().await;
    let device = JwtDevice::new(1, CLIENT);
    registered(&app, &device).await;
    let jwt = plex_jwt(&app, &device).await;

    let claims = decode_claims(&jwt);
    assert_eq!(claims["iss"], "plex.tv");
    assert_eq!(claims["aud"], json!(["plex.tv", CLIENT]));
    assert_eq!(claims["thumbprint"], device.kid());
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        7 * 24 * 3600
    );
    assert_eq!(claims["user"]["username"], USERNAME);
    assert_eq!(claims["user"]["email"], EMAIL);
    assert!(
        claims["user"].get("friendly_name").is_none(),
        "not in the scope"
    );

    // The header names a key /api/v2/auth/keys publishes.
    let keys: Value = app
        .request(Method::GET, "/api/v2/auth/keys")
        .header("Accept", "application/json")
        .json_value()
        .await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().expect("header"))
            .expect("base64url"),
    )
    .expect("json");
    assert_eq!(header["alg"], "EdDSA");
    assert!(keys["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .any(|k| k["kid"] == header["kid"] && k["crv"] == "Ed25519" && k.get("d").is_none()));

    // Accepted as a token; /api/v2/user answers the JWT itself as authToken.
    let me = app.user(&jwt).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["username"], USERNAME);
    assert_eq!(me["authToken"], jwt.as_str());

    // Each refresh is a different JWT.
    assert_ne!(plex_jwt(&app, &device).await, jwt);
}

#[tokio::test]
async fn a_nonce_is_used_once_and_only_by_its_client() {
    let app = TestApp::spawn().await;
    let device = JwtDevice::new(2, CLIENT);
    registered(&app, &device).await;
    let used = app.jwt_nonce(CLIENT).await;
    let jwt = device.sign(device.claims(pinlink_core::Clock::now(&app.clock), &used));
    assert_eq!(
        app.exchange_jwt(CLIENT, &jwt).await.status(),
        StatusCode::OK
    );
    assert_json_error(app.exchange_jwt(CLIENT, &jwt).await, 422, 1000).await;

    let someone_elses = app.jwt_nonce("another-client").await;
    let answer = app
        .exchange_jwt(
            CLIENT,
            &device.sign(device.claims(pinlink_core::Clock::now(&app.clock), &someone_elses)),
        )
        .await;
    assert_json_error(answer, 422, 1000).await;

    let made_up = device.sign(device.claims(
        pinlink_core::Clock::now(&app.clock),
        "00000000-0000-4000-8000-000000000000",
    ));
    assert_json_error(app.exchange_jwt(CLIENT, &made_up).await, 422, 1000).await;

    // Nonces expire after 5 minutes.
    let stale = app.jwt_nonce(CLIENT).await;
    app.clock.advance(301);
    let late = device.sign(device.claims(pinlink_core::Clock::now(&app.clock), &stale));
    assert_json_error(app.exchange_jwt(CLIENT, &late).await, 422, 1000).await;
}

#[tokio::test]
async fn device_jwts_with_a_wrong_key_issuer_audience_or_time_are_refused() {
    let app = TestApp::spawn().await;
    let device = JwtDevice::new(3, CLIENT);
    registered(&app, &device).await;

    // Signed by another key under the registered kid.
    let impostor = JwtDevice::new(99, CLIENT).with_kid(device.kid());
    let n = app.jwt_nonce(CLIENT).await;
    assert_json_error(
        app.exchange_jwt(
            CLIENT,
            &impostor.sign(device.claims(pinlink_core::Clock::now(&app.clock), &n)),
        )
        .await,
        422,
        1000,
    )
    .await;

    // A kid nobody registered.
    let stranger = JwtDevice::new(4, CLIENT);
    let n = app.jwt_nonce(CLIENT).await;
    assert_json_error(
        app.exchange_jwt(
            CLIENT,
            &stranger.sign(stranger.claims(pinlink_core::Clock::now(&app.clock), &n)),
        )
        .await,
        422,
        1000,
    )
    .await;

    // Another issuer than the client the key was registered for, and
    // another audience.
    for (claim, value) in [("iss", "someone-else"), ("aud", "example.org")] {
        let n = app.jwt_nonce(CLIENT).await;
        let mut claims = device.claims(pinlink_core::Clock::now(&app.clock), &n);
        claims[claim] = value.into();
        assert_json_error(
            app.exchange_jwt(CLIENT, &device.sign(claims)).await,
            422,
            1000,
        )
        .await;
    }

    // Issued, or valid from, a day ahead: refused (beyond a minute of skew).
    for claim in ["iat", "nbf"] {
        let n = app.jwt_nonce(CLIENT).await;
        let now = pinlink_core::Clock::now(&app.clock).0;
        let mut claims = device.claims(pinlink_core::Clock::now(&app.clock), &n);
        claims[claim] = (now + 86_400).into();
        assert_json_error(
            app.exchange_jwt(CLIENT, &device.sign(claims)).await,
            422,
            1000,
        )
        .await;
    }

    // Expired: 498, so that the client refreshes.
    let n = app.jwt_nonce(CLIENT).await;
    let mut claims = device.claims(pinlink_core::Clock::now(&app.clock), &n);
    claims["exp"] = (pinlink_core::Clock::now(&app.clock).0 - 120).into();
    let expired = app.exchange_jwt(CLIENT, &device.sign(claims)).await;
    assert_eq!(expired.status().as_u16(), 498);

    // Garbage.
    assert_json_error(app.exchange_jwt(CLIENT, "not.a.jwt").await, 422, 1000).await;
    let missing = app
        .request(Method::POST, "/api/v2/auth/token")
        .header("Accept", "application/json")
        .json(&json!({}))
        .go()
        .await;
    assert_json_error(missing, 400, 1000).await;
}

#[tokio::test]
async fn registering_a_key_needs_that_clients_token_and_a_free_kid() {
    let app = TestApp::spawn().await;
    let device = JwtDevice::new(5, CLIENT);
    assert_json_error(
        app.register_jwk("no-such-token", CLIENT, device.jwk())
            .await,
        401,
        1001,
    )
    .await;
    let token = app.sign_in(CLIENT).await;
    // The token of another client identifier.
    assert_json_error(
        app.register_jwk(&token, "other-client", device.jwk()).await,
        422,
        1000,
    )
    .await;
    // A private key is refused, not stored.
    let mut with_d = device.jwk();
    with_d["d"] = "c2VjcmV0".into();
    assert_json_error(app.register_jwk(&token, CLIENT, with_d).await, 400, 1000).await;
    assert_eq!(
        app.register_jwk(&token, CLIENT, device.jwk())
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    // Registering the same key again from the same device is fine...
    assert_eq!(
        app.register_jwk(&token, CLIENT, device.jwk())
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    // ...but another device cannot take its kid.
    let other_token = app.sign_in("second-device").await;
    let thief = JwtDevice::new(6, "second-device");
    let mut stolen = thief.jwk();
    stolen["kid"] = device.kid().to_owned().into();
    assert_json_error(
        app.register_jwk(&other_token, "second-device", stolen)
            .await,
        422,
        1000,
    )
    .await;
}

/// A device keeps its newest few keys (registering another drops the
/// oldest, and the Plex JWTs issued for it), and registrations are
/// budgeted per device: ten thousand keys from one token stop at the
/// budget, and the database holds a handful.
#[tokio::test]
async fn a_device_holds_a_few_keys_and_registering_more_is_budgeted() {
    let app = TestApp::spawn().await;
    let token = app.sign_in(CLIENT).await;
    let keys: Vec<JwtDevice> = (0..12u8)
        .map(|n| JwtDevice::new(20 + n, CLIENT).with_kid(&format!("{n:x}{}", "k".repeat(127))))
        .collect();
    let first = &keys[0];
    let _ = first.kid();
    assert_eq!(
        app.register_jwk(&token, CLIENT, first.jwk()).await.status(),
        StatusCode::NO_CONTENT
    );
    let first_jwt = plex_jwt(&app, first).await;
    let budget = pinlink_core::Budgets::default().device_keys_per_device.max as usize;
    let mut refused = 0;
    for device in &keys[1..] {
        let answer = app.register_jwk(&token, CLIENT, device.jwk()).await;
        match answer.status().as_u16() {
            204 => {}
            429 => {
                refused += 1;
                assert!(answer.headers().contains_key("retry-after"));
                assert_json_error(answer, 429, 1003).await;
            }
            other => panic!("registering a key: {other}"),
        }
    }
    assert_eq!(
        refused,
        keys.len() - budget,
        "the budget is {budget} a device"
    );
    // Of the keys registered, only the newest few still trade a device JWT
    // for a Plex JWT; the first was pushed out, and its JWT with it.
    let mut working = Vec::new();
    for (n, device) in keys[..budget].iter().enumerate() {
        let nonce = app.jwt_nonce(CLIENT).await;
        let answer = app
            .exchange_jwt(
                CLIENT,
                &device.sign(device.claims(pinlink_core::Clock::now(&app.clock), &nonce)),
            )
            .await;
        if answer.status() == StatusCode::OK {
            working.push(n);
        }
    }
    let kept = pinlink_core::store::MAX_KEYS_PER_DEVICE;
    assert_eq!(working, (budget - kept..budget).collect::<Vec<_>>());
    let dead = app
        .request(Method::GET, "/api/v2/user")
        .header("Accept", "application/json")
        .header("X-Plex-Token", &first_jwt)
        .header("X-Plex-Client-Identifier", CLIENT)
        .go()
        .await;
    assert_eq!(dead.status(), StatusCode::UNAUTHORIZED);
    // After the budget's window, the device may register again.
    app.clock.advance(10 * 60);
    let later = JwtDevice::new(90, CLIENT);
    assert_eq!(
        app.register_jwk(&token, CLIENT, later.jwk()).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn revoking_the_device_kills_its_jwts_and_refreshes_and_expired_jwts_get_498() {
    let app = TestApp::spawn().await;
    let device = JwtDevice::new(7, CLIENT);
    let account_token = registered(&app, &device).await;
    let jwt = plex_jwt(&app, &device).await;
    assert_eq!(app.user(&jwt).await.status(), StatusCode::OK);

    // Seven days later the JWT has expired: 498, and a refresh works.
    app.clock.advance(7 * 24 * 3600);
    assert_eq!(app.user(&jwt).await.status().as_u16(), 498);
    let fresh = plex_jwt(&app, &device).await;
    assert_eq!(app.user(&fresh).await.status(), StatusCode::OK);

    // Revoke the device: its JWT fails at once, and so does a refresh.
    let devices: Value = app.get_json("/api/v2/devices.json", &account_token).await;
    let id = devices
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["clientIdentifier"] == CLIENT)
        .and_then(|d| d["id"].as_i64())
        .expect("the device is listed");
    let revoked = app
        .request(Method::DELETE, &format!("/api/v2/devices/{id}"))
        .header("X-Plex-Token", &account_token)
        .go()
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_json_error(app.user(&fresh).await, 401, 1001).await;
    let n = app.jwt_nonce(CLIENT).await;
    assert_json_error(
        app.exchange_jwt(
            CLIENT,
            &device.sign(device.claims(pinlink_core::Clock::now(&app.clock), &n)),
        )
        .await,
        422,
        1000,
    )
    .await;

    // A forged JWT of ours (the signature of another server key) is not a token.
    let mut parts: Vec<&str> = fresh.split('.').collect();
    parts[2] = "AAAA";
    assert_json_error(app.user(&parts.join(".")).await, 401, 1001).await;
}

#[tokio::test]
async fn nonces_are_budgeted_per_client_and_address() {
    let app = TestApp::spawn().await;
    let budget = pinlink_core::Budgets::default().jwt_nonces_per_client.max;
    for _ in 0..budget {
        app.jwt_nonce(CLIENT).await;
    }
    let refused = app
        .request(Method::GET, "/api/v2/auth/nonce")
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", CLIENT)
        .go()
        .await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_json_error(refused, 429, 1003).await;
    // Another client is not held up...
    app.jwt_nonce("another-client").await;
    // ...but one address cannot mint nonces without end by varying the
    // client identifier: each is a stored row.
    let per_address = pinlink_core::Budgets::default().jwt_nonces_per_address.max;
    let mut refused_at = None;
    for i in 0..per_address {
        let answer = app
            .request(Method::GET, "/api/v2/auth/nonce")
            .header("Accept", "application/json")
            .header("X-Plex-Client-Identifier", format!("random-client-{i}"))
            .go()
            .await;
        if answer.status() == StatusCode::TOO_MANY_REQUESTS {
            refused_at = Some(i);
            break;
        }
    }
    // The per-client budget above and "another-client" spent from it too.
    assert_eq!(refused_at, Some(per_address - budget - 1));
    let without_client = app
        .request(Method::GET, "/api/v2/auth/nonce")
        .header("Accept", "application/json")
        .go()
        .await;
    assert_json_error(without_client, 400, 1000).await;
}

async fn create_jwt_pin(app: &TestApp, device: &JwtDevice, strong: bool) -> Value {
    let answer = app
        .request(Method::POST, "/api/v2/pins")
        .header("Accept", "application/json")
        .header("X-Plex-Product", "JWT Player")
        .header("X-Plex-Client-Identifier", device.client())
        .json(&json!({ "jwk": device.jwk(), "strong": strong }))
        .go()
        .await;
    assert_eq!(answer.status(), StatusCode::CREATED);
    answer.json().await.expect("json")
}

async fn poll_with(
    app: &TestApp,
    pin: &Value,
    device: &JwtDevice,
    device_jwt: Option<&str>,
) -> Value {
    let mut request = app
        .request(Method::GET, &format!("/api/v2/pins/{}", pin["id"]))
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", device.client());
    if let Some(jwt) = device_jwt {
        request = request.query(&[("deviceJWT", jwt)]);
    }
    let answer = request.go().await;
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.expect("json")
}

#[tokio::test]
async fn a_jwt_pin_hands_its_plex_jwt_only_to_a_poll_signed_with_its_key() {
    let app = TestApp::spawn().await;
    let device = JwtDevice::new(20, "jwt-pin-device");
    let pin = create_jwt_pin(&app, &device, false).await;
    let n = app.jwt_nonce(device.client()).await;
    let device_jwt = device.sign(device.claims(pinlink_core::Clock::now(&app.clock), &n));
    assert!(poll_with(&app, &pin, &device, Some(&device_jwt)).await["authToken"].is_null());

    let account_token = app.sign_in("browser").await;
    assert_eq!(
        app.link(&account_token, pin["code"].as_str().expect("code"))
            .await
            .status(),
        204
    );

    // Linked, but no device JWT, or one not signed by the pin's key: no token.
    assert!(poll_with(&app, &pin, &device, None).await["authToken"].is_null());
    let impostor = JwtDevice::new(21, "jwt-pin-device").with_kid(device.kid());
    let forged = impostor.sign(device.claims(pinlink_core::Clock::now(&app.clock), &n));
    assert!(poll_with(&app, &pin, &device, Some(&forged)).await["authToken"].is_null());
    let made_up_nonce =
        device.sign(device.claims(pinlink_core::Clock::now(&app.clock), "not-ours"));
    assert!(poll_with(&app, &pin, &device, Some(&made_up_nonce)).await["authToken"].is_null());

    // The device's own JWT, the same one on every poll: a Plex JWT each time.
    let first = poll_with(&app, &pin, &device, Some(&device_jwt)).await;
    let jwt = first["authToken"].as_str().expect("a Plex JWT").to_owned();
    let claims = decode_claims(&jwt);
    assert_eq!(claims["thumbprint"], device.kid());
    assert_eq!(claims["aud"], json!(["plex.tv", device.client()]));
    let again = poll_with(&app, &pin, &device, Some(&device_jwt)).await;
    assert!(again["authToken"]
        .as_str()
        .is_some_and(|t| decode_claims(t)["thumbprint"] == device.kid()));

    // It is a token of alice's, for the device the pin linked.
    let me: Value = app.user(&jwt).await.json().await.expect("json");
    assert_eq!(me["username"], USERNAME);
    let devices: Value = app.get_json("/api/v2/devices.json", &account_token).await;
    assert!(devices
        .as_array()
        .expect("devices")
        .iter()
        .any(|d| d["clientIdentifier"] == device.client() && d["product"] == "JWT Player"));

    // The key was bound at link: the device refreshes without an account token.
    assert_ne!(plex_jwt(&app, &device).await, jwt);

    // After the device JWT's five minutes, polls get no token.
    app.clock.advance(301 + 60);
    assert!(poll_with(&app, &pin, &device, Some(&device_jwt)).await["authToken"].is_null());
}

#[tokio::test]
async fn a_pin_with_a_malformed_jwk_is_refused() {
    let app = TestApp::spawn().await;
    let device = JwtDevice::new(22, "bad-jwk");
    let mut with_d = device.jwk();
    with_d["d"] = "c2VjcmV0".into();
    for jwk in [
        with_d,
        json!({"kty": "RSA"}),
        json!("a string"),
        json!([1, 2]),
    ] {
        let answer = app
            .request(Method::POST, "/api/v2/pins")
            .header("Accept", "application/json")
            .header("X-Plex-Product", "JWT Player")
            .header("X-Plex-Client-Identifier", "bad-jwk")
            .json(&json!({ "jwk": jwk }))
            .go()
            .await;
        assert_json_error(answer, 400, 1000).await;
    }
}

#[tokio::test]
async fn after_a_key_rotation_old_jwts_verify_until_they_expire_and_new_ones_use_the_new_key() {
    let app = TestApp::spawn().await;
    let device = JwtDevice::new(30, CLIENT);
    registered(&app, &device).await;
    let old = plex_jwt(&app, &device).await;
    let old_kid = decode_header(&old)["kid"].clone();

    let (_, newest) = app.core.rotate_signing_key().await.expect("rotated");
    let keys: Value = app
        .request(Method::GET, "/api/v2/auth/keys")
        .header("Accept", "application/json")
        .json_value()
        .await;
    let kids: Vec<&Value> = keys["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&&old_kid));

    let new = plex_jwt(&app, &device).await;
    assert_eq!(decode_header(&new)["kid"], newest.kid.as_str());
    assert_eq!(
        app.user(&old).await.status(),
        StatusCode::OK,
        "signed by the old key, still live"
    );
    assert_eq!(app.user(&new).await.status(), StatusCode::OK);

    // Seven days on (and the margin for instances still signing with the
    // old key until they next look), its JWTs have all expired and it is
    // withdrawn.
    app.clock.advance(7 * 24 * 3600 + 601);
    let keys: Value = app
        .request(Method::GET, "/api/v2/auth/keys")
        .header("Accept", "application/json")
        .json_value()
        .await;
    assert_eq!(keys["keys"].as_array().expect("keys").len(), 1);
    assert_eq!(keys["keys"][0]["kid"], newest.kid.as_str());
}

fn decode_header(jwt: &str) -> Value {
    let header = jwt.split('.').next().expect("header part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("json")
}

#[tokio::test]
async fn signing_out_with_a_plex_jwt_ends_the_device_and_its_refreshes() {
    let app = TestApp::spawn().await;
    let device = JwtDevice::new(40, CLIENT);
    registered(&app, &device).await;
    let jwt = plex_jwt(&app, &device).await;
    let out = app
        .request(Method::DELETE, "/api/v2/users/signout")
        .header("X-Plex-Token", &jwt)
        .go()
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_json_error(app.user(&jwt).await, 401, 1001).await;
    let n = app.jwt_nonce(CLIENT).await;
    let refresh = app
        .exchange_jwt(
            CLIENT,
            &device.sign(device.claims(pinlink_core::Clock::now(&app.clock), &n)),
        )
        .await;
    assert_json_error(refresh, 422, 1000).await;
}

#[tokio::test]
async fn a_revoked_devices_jwt_stays_dead_when_its_key_is_bound_again() {
    let app = TestApp::spawn().await;
    let device = JwtDevice::new(50, CLIENT);
    let account_token = registered(&app, &device).await;
    let stolen = plex_jwt(&app, &device).await;
    let devices: Value = app.get_json("/api/v2/devices.json", &account_token).await;
    let id = devices
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["clientIdentifier"] == CLIENT)
        .and_then(|d| d["id"].as_i64())
        .expect("listed");
    let revoked = app
        .request(Method::DELETE, &format!("/api/v2/devices/{id}"))
        .header("X-Plex-Token", &account_token)
        .go()
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    // The owner logs the same installation in again, with the same key.
    registered(&app, &device).await;
    assert_eq!(
        app.user(&plex_jwt(&app, &device).await).await.status(),
        StatusCode::OK
    );
    assert_json_error(app.user(&stolen).await, 401, 1001).await;
}

#[tokio::test]
async fn keys_are_registered_with_an_account_token_and_a_bound_kid_cannot_be_linked_elsewhere() {
    let app = TestApp::spawn().await;
    let device = JwtDevice::new(51, CLIENT);
    registered(&app, &device).await;
    let jwt = plex_jwt(&app, &device).await;
    // A Plex JWT (perhaps stolen) cannot add a key of its holder's choosing.
    let other_key = JwtDevice::new(52, CLIENT);
    assert_json_error(
        app.register_jwk(&jwt, CLIENT, other_key.jwk()).await,
        422,
        1000,
    )
    .await;
    // A JWT pin of another client carrying the bound key cannot be linked.
    let copycat = JwtDevice::new(51, "copycat").with_kid(device.kid());
    let pin = create_jwt_pin(&app, &copycat, false).await;
    let account_token = app.sign_in("browser").await;
    let linked = app
        .link(&account_token, pin["code"].as_str().expect("code"))
        .await;
    assert_json_error(linked, 422, 1000).await;
}

#[tokio::test]
async fn signing_out_the_bootstrap_token_keeps_the_jwt_device() {
    let app = TestApp::spawn().await;
    let device = JwtDevice::new(53, CLIENT);
    let bootstrap = registered(&app, &device).await;
    let out = app
        .request(Method::DELETE, "/api/v2/users/signout")
        .header("X-Plex-Token", &bootstrap)
        .go()
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_json_error(app.user(&bootstrap).await, 401, 1001).await;
    let jwt = plex_jwt(&app, &device).await;
    assert_eq!(app.user(&jwt).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_hundred_exchanges_of_one_device_jwt_at_once_give_one_plex_jwt_and_nonces_stop_at_the_budget(
) {
    let app = TestApp::spawn().await;
    let device = JwtDevice::new(60, CLIENT);
    registered(&app, &device).await;
    let n = app.jwt_nonce(CLIENT).await;
    let jwt = device.sign(device.claims(pinlink_core::Clock::now(&app.clock), &n));
    let answers =
        futures_util::future::join_all((0..100).map(|_| app.exchange_jwt(CLIENT, &jwt))).await;
    let issued = answers
        .iter()
        .filter(|a| a.status() == StatusCode::OK)
        .count();
    let refused = answers
        .iter()
        .filter(|a| a.status().as_u16() == 422)
        .count();
    assert_eq!(
        (issued, refused),
        (1, 99),
        "the nonce is used once, even at once"
    );

    // A hundred nonce requests at once: exactly the budget is granted (one
    // was spent above).
    let budget = pinlink_core::Budgets::default().jwt_nonces_per_client.max as usize;
    let answers = futures_util::future::join_all((0..100).map(|_| {
        app.request(Method::GET, "/api/v2/auth/nonce")
            .header("Accept", "application/json")
            .header("X-Plex-Client-Identifier", CLIENT)
            .go()
    }))
    .await;
    let granted = answers
        .iter()
        .filter(|a| a.status() == StatusCode::OK)
        .count();
    assert_eq!(granted, budget - 1);
}
