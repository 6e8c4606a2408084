//! What apps call right after a login: ping, friends, home users, webhooks,
//! resources and the legacy HTTP Basic sign-in, in JSON and XML as each
//! caller needs, and 401 for a dead token on every one.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::*;

/// `path` with `token`, asking for JSON (`json`) or sending no Accept (XML).
async fn get(app: &TestApp, path: &str, token: &str, json: bool) -> reqwest::Response {
    let mut request = app
        .request(Method::GET, path)
        .header("X-Plex-Token", token)
        .header("X-Plex-Client-Identifier", "some-other-client");
    if json {
        request = request.header("Accept", "application/json");
    }
    request.go().await
}

const AFTER_LOGIN: [&str; 8] = [
    "/api/v2/ping",
    "/api/v2/resources",
    "/api/resources",
    "/api/users",
    "/api/users/",
    "/api/v2/home/users",
    "/api/home/users",
    "/api/v2/user/webhooks",
];

#[tokio::test]
async fn ping_answers_pong_in_both_formats_whatever_the_client_identifier() {
    let app = TestApp::spawn().await;
    let token = app.sign_in("laptop").await;
    let json: Value = get(&app, "/api/v2/ping", &token, true)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(json, serde_json::json!({ "pong": true }));
    let xml = get(&app, "/api/v2/ping", &token, false).await;
    assert_eq!(xml.status(), StatusCode::OK);
    assert!(xml.text().await.expect("xml").contains("<pong>true</pong>"));
}

#[tokio::test]
async fn every_after_login_endpoint_refuses_a_dead_token() {
    let app = TestApp::spawn().await;
    let token = app.sign_in("laptop").await;
    app.request(Method::DELETE, "/api/v2/users/signout")
        .header("X-Plex-Token", &token)
        .go()
        .await;
    for path in AFTER_LOGIN {
        assert_json_error(get(&app, path, &token, true).await, 401, 1001).await;
        assert_json_error(get(&app, path, "made-up-token", true).await, 401, 1001).await;
    }
}

#[tokio::test]
async fn v1_lists_answer_xml_even_to_a_json_accept_header() {
    let app = TestApp::spawn().await;
    let token = app.sign_in("laptop").await;
    for path in [
        "/api/resources",
        "/api/users",
        "/api/users/",
        "/api/home/users",
    ] {
        let response = get(&app, path, &token, true).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("application/xml"),
            "{path}: {content_type}"
        );
        let body = response.text().await.expect("body");
        assert!(body.contains("<MediaContainer"), "{path}: {body}");
    }
}

#[tokio::test]
async fn an_account_without_servers_or_friends_gets_empty_lists_not_404() {
    let app = TestApp::spawn().await;
    let token = app.sign_in("laptop").await;
    let resources: Value = get(
        &app,
        "/api/v2/resources?includeHttps=1&includeRelay=1",
        &token,
        true,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(resources, serde_json::json!([]));
    let resources_xml = get(&app, "/api/v2/resources", &token, false)
        .await
        .text()
        .await
        .expect("xml");
    assert!(
        resources_xml.contains("<resources size=\"0\"/>"),
        "{resources_xml}"
    );
    let v1 = get(&app, "/api/resources?includeHttps=1", &token, false)
        .await
        .text()
        .await
        .expect("xml");
    assert!(v1.contains("<MediaContainer size=\"0\"/>"), "{v1}");
    let friends = get(&app, "/api/users/", &token, false)
        .await
        .text()
        .await
        .expect("xml");
    assert_eq!(
        xml_attr(&friends, "identifier").as_deref(),
        Some("com.plexapp.plugins.myplex")
    );
    assert_eq!(xml_attr(&friends, "size").as_deref(), Some("0"));
    let webhooks: Value = get(&app, "/api/v2/user/webhooks", &token, true)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(webhooks, serde_json::json!([]));
}

#[tokio::test]
async fn the_home_has_the_owner_as_its_only_user() {
    let app = TestApp::spawn().await;
    let token = app.sign_in("laptop").await;
    let me: Value = app.user(&token).await.json().await.expect("json");
    let home: Value = get(&app, "/api/v2/home/users", &token, true)
        .await
        .json()
        .await
        .expect("json");
    let users = home["users"].as_array().expect("users");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["id"], me["id"]);
    assert_eq!(users[0]["uuid"], me["uuid"]);
    assert_eq!(users[0]["username"], USERNAME);
    assert_eq!(users[0]["admin"], true);
    let xml = get(&app, "/api/home/users", &token, false)
        .await
        .text()
        .await
        .expect("xml");
    for attr in [
        "friendlyName",
        "identifier",
        "machineIdentifier",
        "totalSize",
        "size",
        "guestUserID",
    ] {
        assert!(xml_attr(&xml, attr).is_some(), "{attr} missing: {xml}");
    }
    assert!(xml.contains(&format!("<User id=\"{}\"", me["id"])), "{xml}");
    assert!(xml.contains("admin=\"1\""), "{xml}");
}

async fn legacy_sign_in(
    app: &TestApp,
    path: &str,
    basic: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut request = app
        .request(Method::POST, path)
        .header("X-Plex-Client-Identifier", "legacy-script")
        .header("X-Plex-Product", "Old Script");
    if let Some((login, password)) = basic {
        request = request.basic_auth(login, Some(password));
    }
    request.go().await
}

#[tokio::test]
async fn the_legacy_sign_in_takes_http_basic_and_answers_the_wrapped_user() {
    let app = TestApp::spawn().await;
    let response = legacy_sign_in(&app, "/users/sign_in.json", Some((USERNAME, PASSWORD))).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    let token = body["user"]["authToken"]
        .as_str()
        .expect("authToken")
        .to_owned();
    assert_eq!(
        body["user"]["authenticationToken"],
        body["user"]["authToken"]
    );
    assert_eq!(body["user"]["username"], USERNAME);
    assert_eq!(
        app.user(&token).await.status(),
        StatusCode::OK,
        "a usable token"
    );

    let xml = legacy_sign_in(&app, "/users/sign_in.xml", Some((EMAIL, PASSWORD))).await;
    assert_eq!(xml.status(), StatusCode::CREATED);
    let xml = xml.text().await.expect("xml");
    assert!(xml.contains("<user "), "{xml}");
    assert!(xml_attr(&xml, "authenticationToken").is_some(), "{xml}");

    assert_json_error(
        legacy_sign_in(&app, "/users/sign_in.json", Some((USERNAME, "wrong"))).await,
        401,
        1001,
    )
    .await;
    let missing = legacy_sign_in(&app, "/users/sign_in.json", None).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_legacy_sign_in_spends_the_same_budget_as_the_v2_one() {
    let app = TestApp::spawn().await;
    let budget = pinlink_core::Budgets::default().sign_in_per_account_and_address;
    for _ in 0..budget.max {
        let wrong = legacy_sign_in(&app, "/users/sign_in.json", Some((USERNAME, "wrong"))).await;
        assert_json_error(wrong, 401, 1001).await;
    }
    // Spent through the legacy door: the v2 one is locked too, even with
    // the right password.
    let v2 = app
        .request(Method::POST, "/api/v2/users/signin")
        .header("X-Plex-Client-Identifier", "legacy-script")
        .header("Accept", "application/json")
        .form(&[("login", USERNAME), ("password", PASSWORD)])
        .go()
        .await;
    assert_json_error(v2, 401, 1031).await;
    let legacy = legacy_sign_in(&app, "/users/sign_in.json", Some((USERNAME, PASSWORD))).await;
    assert_json_error(legacy, 401, 1031).await;
}

#[tokio::test]
async fn the_user_profile_has_every_field_the_generated_sdks_read() {
    let app = TestApp::spawn().await;
    let token = app.sign_in("laptop").await;
    let me: Value = app.user(&token).await.json().await.expect("json");
    for field in [
        "autoSelectAudio",
        "defaultAudioLanguage",
        "defaultSubtitleLanguage",
        "autoSelectSubtitle",
        "defaultSubtitleAccessibility",
        "defaultSubtitleForced",
        "watchedIndicator",
        "mediaReviewsVisibility",
    ] {
        assert!(
            me["profile"].get(field).is_some(),
            "profile.{field} missing: {me}"
        );
    }
}

/// A Plex Media Server links itself with a pin (`X-Plex-Provides: server`)
/// and publishes how to reach it; returns its device token.
async fn link_a_server(app: &TestApp, account_token: &str) -> String {
    let pin: Value = app
        .request(Method::POST, "/api/v2/pins")
        .header("Accept", "application/json")
        .header("X-Plex-Product", "Plex Media Server")
        .header("X-Plex-Client-Identifier", "pms-basement")
        .header("X-Plex-Device-Name", "Basement")
        .header("X-Plex-Provides", "server")
        .header("X-Plex-Version", "1.40.0")
        .json_value()
        .await;
    assert_eq!(
        app.link(account_token, pin["code"].as_str().expect("code"))
            .await
            .status(),
        204
    );
    app.device_token(&pin["id"], "pms-basement").await
}

async fn publish(app: &TestApp, token: &str, device: &str, query: &str) -> reqwest::Response {
    app.request(Method::PUT, &format!("/devices/{device}?{query}"))
        .header("Accept", "application/json")
        .header("X-Plex-Token", token)
        .header("X-Plex-Client-Identifier", "pms-basement")
        .go()
        .await
}

#[tokio::test]
async fn a_server_that_publishes_its_connections_is_a_resource_in_every_format() {
    let app = TestApp::spawn().await;
    let account_token = app.sign_in("laptop").await;
    let server_token = link_a_server(&app, &account_token).await;
    // A player is not a resource.
    let player = app.create_pin("a-player", false).await;
    app.link(&account_token, player["code"].as_str().expect("code"))
        .await;

    let published = publish(
        &app,
        &server_token,
        "pms-basement",
        "Connection[][uri]=http%3A%2F%2F192.168.1.10%3A32400&Connection[][uri]=https%3A%2F%2Fplex.example.org%3A443",
    )
    .await;
    assert_eq!(published.status(), StatusCode::OK);

    let v2: Value = get(
        &app,
        "/api/v2/resources?includeHttps=1&includeRelay=1",
        &account_token,
        true,
    )
    .await
    .json()
    .await
    .expect("json");
    let list = v2.as_array().expect("list");
    assert_eq!(list.len(), 1, "{v2}");
    let server = &list[0];
    assert_eq!(server["name"], "Basement");
    assert_eq!(server["clientIdentifier"], "pms-basement");
    assert_eq!(server["provides"], "server");
    assert_eq!(server["accessToken"], server_token.as_str());
    assert!(server["createdAt"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let connections = server["connections"].as_array().expect("connections");
    assert_eq!(connections.len(), 2);
    assert_eq!(connections[0]["address"], "192.168.1.10");
    assert_eq!(connections[0]["port"], 32400);
    assert_eq!(connections[0]["local"], true);
    assert_eq!(connections[1]["protocol"], "https");
    assert_eq!(connections[1]["local"], false);

    let v1 = get(&app, "/api/resources?includeHttps=1", &account_token, true)
        .await
        .text()
        .await
        .expect("xml");
    assert!(v1.contains("<Device name=\"Basement\""), "{v1}");
    assert!(
        v1.contains("<Connection protocol=\"http\" address=\"192.168.1.10\" port=\"32400\""),
        "{v1}"
    );
    let devices = app.get_text("/devices.xml", &account_token).await;
    assert!(
        devices.contains("<Connection uri=\"http://192.168.1.10:32400\"/>"),
        "{devices}"
    );

    // Published again (by numeric id, as some clients do): the list is replaced.
    let all: Value = app.get_json("/api/v2/devices.json", &account_token).await;
    let id = all
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["clientIdentifier"] == "pms-basement")
        .and_then(|d| d["id"].as_i64())
        .expect("listed");
    let again = publish(
        &app,
        &server_token,
        &id.to_string(),
        "Connection[][uri]=http%3A%2F%2F10.0.0.9%3A32400",
    )
    .await;
    assert_eq!(again.status(), StatusCode::OK);
    let v2: Value = get(&app, "/api/v2/resources", &account_token, true)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v2[0]["connections"].as_array().map(Vec::len), Some(1));
    assert_eq!(v2[0]["connections"][0]["address"], "10.0.0.9");
}

#[tokio::test]
async fn connections_are_checked_and_only_the_accounts_own_devices_take_them() {
    let app = TestApp::spawn().await;
    let account_token = app.sign_in("laptop").await;
    let server_token = link_a_server(&app, &account_token).await;
    let bad = publish(
        &app,
        &server_token,
        "pms-basement",
        "Connection[][uri]=javascript%3Aalert(1)",
    )
    .await;
    assert_json_error(bad, 400, 1000).await;
    let too_many: String = (0..17)
        .map(|i| format!("Connection[][uri]=http%3A%2F%2F10.0.0.{i}%3A32400"))
        .collect::<Vec<_>>()
        .join("&");
    assert_json_error(
        publish(&app, &server_token, "pms-basement", &too_many).await,
        400,
        1000,
    )
    .await;
    // Another account has no such device.
    app.add_account("bob", "bob@example.org", "bob's long password")
        .await;
    let bob = app
        .request(Method::POST, "/api/v2/users/signin")
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", "bobs-laptop")
        .form(&[("login", "bob"), ("password", "bob's long password")])
        .json_value()
        .await;
    let bob_token = bob["authToken"].as_str().expect("token");
    let hijack = publish(
        &app,
        bob_token,
        "pms-basement",
        "Connection[][uri]=http%3A%2F%2Fevil.example%3A80",
    )
    .await;
    assert_json_error(hijack, 404, 1900).await;
    let unauthenticated = publish(
        &app,
        "nope",
        "pms-basement",
        "Connection[][uri]=http%3A%2F%2Fa%3A1",
    )
    .await;
    assert_json_error(unauthenticated, 401, 1001).await;
}
