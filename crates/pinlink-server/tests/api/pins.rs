//! `POST /api/v2/pins`, `GET /api/v2/pins/{id}`, `PUT /api/v2/pins/link`, QR.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::*;

/// What a created pin says its product and client identifier are.
fn identity_of(pin: &Value) -> (Option<&str>, Option<&str>) {
    (pin["product"].as_str(), pin["clientIdentifier"].as_str())
}

const LINK_ALPHABET: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

#[tokio::test]
async fn a_new_pin_has_every_field_plex_clients_validate() {
    let app = TestApp::spawn().await;
    let pin = app.create_pin("device-1", false).await;

    let id = pin["id"].as_u64().expect("integer id");
    assert!((100_000_000..(1u64 << 32)).contains(&id), "id {id}");
    let code = pin["code"].as_str().expect("code");
    assert_eq!(code.len(), 4);
    assert!(code.chars().all(|c| LINK_ALPHABET.contains(c)), "{code}");
    assert_eq!(pin["product"], "Test Player");
    assert_eq!(pin["trusted"], false);
    assert_eq!(pin["qr"], format!("{}/api/v2/pins/qr/{code}", app.base));
    assert_eq!(pin["clientIdentifier"], "device-1");
    assert_eq!(pin["expiresIn"], 900);
    assert_eq!(pin["createdAt"], "2027-01-15T08:00:00Z");
    assert_eq!(pin["expiresAt"], "2027-01-15T08:15:00Z");
    assert!(pin["authToken"].is_null() && pin.get("authToken").is_some());
    assert!(pin["newRegistration"].is_null() && pin.get("newRegistration").is_some());
    let location = pin["location"].as_object().expect("location object");
    for field in [
        "code",
        "continent_code",
        "country",
        "city",
        "time_zone",
        "postal_code",
        "subdivisions",
        "coordinates",
    ] {
        assert!(
            location[field].is_string(),
            "location.{field} must be a string"
        );
    }
    for field in [
        "european_union_member",
        "in_privacy_restricted_country",
        "in_privacy_restricted_region",
    ] {
        assert!(
            location[field].is_boolean(),
            "location.{field} must be a boolean"
        );
    }
}

#[tokio::test]
async fn strong_pins_have_long_lower_case_codes_and_live_longer() {
    let app = TestApp::spawn().await;
    let pin = app.create_pin("device-1", true).await;
    let code = pin["code"].as_str().expect("code");
    assert_eq!(code.len(), 25);
    assert!(
        code.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{code}"
    );
    assert_eq!(pin["expiresIn"], 1800);
}

#[tokio::test]
async fn strong_is_read_in_every_spelling_and_place_clients_use() {
    let app = TestApp::spawn().await;
    let strong_len = |pin: &Value| pin["code"].as_str().map(str::len);
    let base = |path: &str| {
        app.request(Method::POST, path)
            .header("Accept", "application/json")
            .header("X-Plex-Product", "P")
            .header("X-Plex-Client-Identifier", "c")
    };
    for query in ["strong=true", "strong=True", "strong=1", "STRONG=true"] {
        let pin: Value = base(&format!("/api/v2/pins?{query}")).json_value().await;
        assert_eq!(strong_len(&pin), Some(25), "{query}");
    }
    for query in ["strong=false", "strong=False", "strong=0", ""] {
        let pin: Value = base(&format!("/api/v2/pins?{query}")).json_value().await;
        assert_eq!(strong_len(&pin), Some(4), "{query}");
    }
    let form: Value = base("/api/v2/pins")
        .form(&[("strong", "true")])
        .json_value()
        .await;
    assert_eq!(strong_len(&form), Some(25));
    let json: Value = base("/api/v2/pins")
        .json(&serde_json::json!({"strong": true, "jwk": JwtDevice::new(1, "c").jwk()}))
        .json_value()
        .await;
    assert_eq!(strong_len(&json), Some(25));
    let bad = base("/api/v2/pins?strong=maybe").go().await;
    assert_json_error(bad, 400, 1000).await;
}

#[tokio::test]
async fn x_plex_parameters_come_from_query_form_or_json_body_in_any_case() {
    let app = TestApp::spawn().await;
    let from_query: Value = app
        .request(
            Method::POST,
            "/api/v2/pins?x-plex-product=Q&X-PLEX-CLIENT-IDENTIFIER=q1",
        )
        .header("Accept", "application/json")
        .json_value()
        .await;
    assert_eq!(identity_of(&from_query), (Some("Q"), Some("q1")));

    let from_form: Value = app
        .request(Method::POST, "/api/v2/pins")
        .header("Accept", "application/json")
        .form(&[
            ("X-Plex-Product", "F"),
            ("X-Plex-Client-Identifier", "f1"),
            ("strong", "true"),
        ])
        .json_value()
        .await;
    assert_eq!(identity_of(&from_form), (Some("F"), Some("f1")));

    let from_json: Value = app
        .request(Method::POST, "/api/v2/pins")
        .header("Accept", "application/json")
        .json(&serde_json::json!({"X-Plex-Product": "J", "x-plex-client-identifier": "j1"}))
        .json_value()
        .await;
    assert_eq!(identity_of(&from_json), (Some("J"), Some("j1")));

    // A header wins over the query string.
    let both: Value = app
        .request(Method::POST, "/api/v2/pins?X-Plex-Product=FromQuery")
        .header("Accept", "application/json")
        .header("X-Plex-Product", "FromHeader")
        .header("X-Plex-Client-Identifier", "h1")
        .json_value()
        .await;
    assert_eq!(both["product"], "FromHeader");
}

#[tokio::test]
async fn a_pin_needs_a_client_identifier_and_a_product() {
    let app = TestApp::spawn().await;
    let missing = app
        .request(Method::POST, "/api/v2/pins")
        .header("Accept", "application/json")
        .header("X-Plex-Product", "P")
        .go()
        .await;
    let body = assert_json_error(missing, 400, 1000).await;
    assert_eq!(
        body["errors"][0]["message"],
        "X-Plex-Client-Identifier is missing"
    );

    let empty = app
        .request(Method::POST, "/api/v2/pins")
        .header("X-Plex-Product", "P")
        .header("X-Plex-Client-Identifier", "")
        .go()
        .await;
    let xml = assert_xml_error(empty, 400, 1000).await;
    assert!(xml.contains("X-Plex-Client-Identifier is missing"), "{xml}");

    let no_product = app
        .request(Method::POST, "/api/v2/pins")
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", "c")
        .go()
        .await;
    let body = assert_json_error(no_product, 400, 1000).await;
    assert_eq!(body["errors"][0]["message"], "X-Plex-Product is missing");

    let too_long = app
        .request(Method::POST, "/api/v2/pins")
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", "c")
        .header("X-Plex-Product", "P")
        .header("X-Plex-Device-Name", "n".repeat(300))
        .go()
        .await;
    assert_json_error(too_long, 400, 1000).await;
}

#[tokio::test]
async fn pin_ids_are_not_sequential_and_codes_are_unique() {
    // Twenty short codes from one address: more than it may hold by default.
    let mut config = pinlink_server::Config::for_test();
    config.settings.caps.link_codes_per_address = 20;
    let app = TestApp::spawn_with(config).await;
    let mut ids = Vec::new();
    let mut codes = std::collections::HashSet::new();
    for _ in 0..20 {
        let pin = app.create_pin("c", false).await;
        ids.push(pin["id"].as_u64().expect("id"));
        assert!(
            codes.insert(pin["code"].as_str().expect("code").to_owned()),
            "duplicate live code"
        );
    }
    let consecutive = ids.windows(2).filter(|w| w[1] == w[0] + 1).count();
    assert_eq!(consecutive, 0, "ids {ids:?}");
}

#[tokio::test]
async fn polling_counts_down_and_the_pin_expires() {
    let app = TestApp::spawn().await;
    let pin = app.create_pin("device-1", false).await;

    let first: Value = app
        .poll(&pin["id"], "device-1")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(first["code"], pin["code"]);
    assert_eq!(first["expiresIn"], 900);
    assert!(first["authToken"].is_null());

    app.clock.advance(124);
    let later: Value = app
        .poll(&pin["id"], "device-1")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(later["expiresIn"], 776);
    assert_eq!(later["createdAt"], pin["createdAt"]);

    app.clock.advance(776);
    assert_json_error(app.poll(&pin["id"], "device-1").await, 404, 1020).await;
}

#[tokio::test]
async fn polling_someone_elses_unknown_or_malformed_pin_fails() {
    let app = TestApp::spawn().await;
    let pin = app.create_pin("device-1", false).await;
    let other = app.poll(&pin["id"], "device-2").await;
    let body = assert_json_error(other, 404, 1020).await;
    assert_eq!(body["errors"][0]["message"], "Code not found or expired");

    assert_json_error(
        app.poll(&Value::from(123_456_789u64), "device-1").await,
        404,
        1020,
    )
    .await;
    assert_json_error(
        app.poll(&Value::from(987_654_321_987u64), "device-1").await,
        404,
        1020,
    )
    .await;
    assert_json_error(
        app.poll(&Value::from("undefined"), "device-1").await,
        400,
        1000,
    )
    .await;
    let no_client = app
        .request(Method::GET, &format!("/api/v2/pins/{}", pin["id"]))
        .header("Accept", "application/json")
        .go()
        .await;
    assert_json_error(no_client, 400, 1000).await;
}

#[tokio::test]
async fn linking_hands_the_device_a_new_token_on_its_next_poll() {
    let app = TestApp::spawn().await;
    let pin = app.create_pin("tv-1", false).await;
    let user_token = app.sign_in("browser-1").await;

    let code = pin["code"].as_str().expect("code");
    // Typed sloppily: lower case with a dash and a space.
    let typed = format!(
        "{}-{} ",
        &code[..2].to_lowercase(),
        &code[2..].to_lowercase()
    );
    let linked = app.link(&user_token, &typed).await;
    assert_eq!(linked.status(), StatusCode::NO_CONTENT);

    let polled: Value = app
        .poll(&pin["id"], "tv-1")
        .await
        .json()
        .await
        .expect("json");
    let token = polled["authToken"].as_str().expect("token after linking");
    assert_ne!(token, user_token, "the device gets its own token");
    assert_eq!(polled["newRegistration"], false);
    // Still there on the next poll, until the pin expires.
    let again: Value = app
        .poll(&pin["id"], "tv-1")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(again["authToken"], token);

    // A code links once.
    assert_json_error(app.link(&user_token, code).await, 404, 1020).await;
}

#[tokio::test]
async fn linking_needs_a_valid_token_and_a_live_code() {
    let app = TestApp::spawn().await;
    let pin = app.create_pin("tv-1", false).await;
    let code = pin["code"].as_str().expect("code").to_owned();
    let token = app.sign_in("browser-1").await;

    let anonymous = app
        .request(Method::PUT, "/api/v2/pins/link")
        .header("Accept", "application/json")
        .form(&[("code", code.as_str())])
        .go()
        .await;
    assert_json_error(anonymous, 401, 1001).await;
    assert_json_error(app.link("not-a-token", &code).await, 401, 1001).await;
    assert_json_error(app.link(&token, "ZZZZ").await, 404, 1020).await;
    assert_json_error(app.link(&token, "not a code at all").await, 404, 1020).await;

    app.clock.advance(900);
    assert_json_error(app.link(&token, &code).await, 404, 1020).await;
}

#[tokio::test]
async fn strong_codes_link_too_and_the_json_suffix_works() {
    let app = TestApp::spawn().await;
    let pin = app.create_pin("web-1", true).await;
    let token = app.sign_in("browser-1").await;
    let response = app
        .request(Method::PUT, "/api/v2/pins/link.json")
        .header("X-Plex-Token", &token)
        .form(&[("code", pin["code"].as_str().expect("code"))])
        .go()
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let polled: Value = app
        .poll(&pin["id"], "web-1")
        .await
        .json()
        .await
        .expect("json");
    assert!(polled["authToken"].is_string());
}

#[tokio::test]
async fn wrong_codes_are_budgeted_per_account() {
    let app = TestApp::spawn().await;
    let budget = app.core.settings().budgets.link_per_account;
    let token = app.sign_in("browser-1").await;
    let pin = app.create_pin("tv-1", false).await;
    let code = pin["code"].as_str().expect("code").to_owned();
    let wrong = if code == "ZZZZ" { "YYYY" } else { "ZZZZ" };
    for _ in 0..budget.max {
        assert_json_error(app.link(&token, wrong).await, 404, 1020).await;
    }
    let refused = app.link(&token, &code).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_json_error(refused, 429, 1929).await;

    app.clock.advance(budget.window_secs + 1);
    let pin = app.create_pin("tv-2", false).await;
    let ok = app.link(&token, pin["code"].as_str().expect("code")).await;
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
}

/// The QR image is made from the code alone: a live code and a made-up one
/// get the same answer, so the endpoint cannot be used to list live codes.
#[tokio::test]
async fn the_qr_image_says_nothing_about_whether_a_code_is_live() {
    let app = TestApp::spawn().await;
    let pin = app.create_pin("tv-1", false).await;
    let code = pin["code"].as_str().expect("code");
    let dead = if code == "ZZZZ" { "YYYY" } else { "ZZZZ" };
    let mut answers = Vec::new();
    for url in [
        pin["qr"].as_str().expect("qr").to_owned(),
        app.url(&format!("/api/v2/pins/qr/{dead}")),
    ] {
        let response = app.http.get(url).go().await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "image/png");
        let png = response.bytes().await.expect("bytes");
        answers.push(read_qr_code(&png));
    }
    assert_eq!(answers[0], app.url(&format!("/link?pin={code}")));
    assert_eq!(answers[1], app.url(&format!("/link?pin={dead}")));
    // Only what cannot be a code at all is "not found".
    let malformed = app
        .request(Method::GET, "/api/v2/pins/qr/not-a-code")
        .header("Accept", "application/json")
        .go()
        .await;
    assert_json_error(malformed, 404, 1020).await;
}

#[tokio::test]
async fn pins_and_links_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = pinlink_core::ServerKey::generate();
    let app = TestApp::spawn_with(TestApp::file_config(dir.path(), &key)).await;
    app.add_account(USERNAME, EMAIL, PASSWORD).await;
    let pin = app.create_pin("tv-1", false).await;
    let strong = app.create_pin("tv-1", true).await;
    app.shutdown().await;

    let app = TestApp::spawn_with(TestApp::file_config(dir.path(), &key)).await;
    let polled: Value = app
        .poll(&pin["id"], "tv-1")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(polled["code"], pin["code"]);
    let token = app.sign_in("browser-1").await;
    assert_eq!(
        app.link(&token, pin["code"].as_str().expect("code"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let polled: Value = app
        .poll(&pin["id"], "tv-1")
        .await
        .json()
        .await
        .expect("json");
    let device_token = polled["authToken"].as_str().expect("token").to_owned();
    // People type passwords into login fields: what was typed as a login
    // is not kept either (budgets count under keyed hashes).
    let typed_login = "hunter2-typed-into-the-login-field";
    let failed = app
        .request(Method::POST, "/api/v2/users/signin")
        .header("X-Plex-Client-Identifier", "browser-1")
        .form(&[("login", typed_login), ("password", "x")])
        .go()
        .await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    app.shutdown().await;

    // Nothing secret is stored in plain text.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        bytes.extend(std::fs::read(entry.expect("entry").path()).expect("read"));
    }
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains("tv-1"), "sanity: the client identifier is stored");
    let strong_code = strong["code"].as_str().expect("code");
    for secret in [
        device_token.as_str(),
        token.as_str(),
        PASSWORD,
        strong_code,
        typed_login,
    ] {
        assert!(!contains(secret), "a secret is stored in plain text");
    }
}
