//! The device list and revoking a device.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::*;

async fn devices_json(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app
        .request(Method::GET, "/api/v2/devices")
        .header("Accept", "application/json")
        .header("X-Plex-Token", token)
        .go()
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json list")
}

#[tokio::test]
async fn a_linked_device_is_listed_with_what_it_said_about_itself() {
    let app = TestApp::spawn().await;
    let pin: Value = app
        .request(Method::POST, "/api/v2/pins")
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", "tv-42")
        .header("X-Plex-Product", "Couch Player")
        .header("X-Plex-Version", "2.1.0")
        .header("X-Plex-Platform", "Linux")
        .header("X-Plex-Platform-Version", "6.1")
        .header("X-Plex-Device", "Raspberry Pi")
        .header("X-Plex-Device-Name", "Living room")
        .header("X-Plex-Model", "4B")
        .header("X-Plex-Device-Vendor", "RPi Foundation")
        .json_value()
        .await;
    let user_token = app.sign_in("browser-1").await;
    assert_eq!(
        app.link(&user_token, pin["code"].as_str().expect("code"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let device_token = app.device_token(&pin["id"], "tv-42").await;

    let devices = devices_json(&app, &user_token).await;
    let tv = devices
        .iter()
        .find(|d| d["clientIdentifier"] == "tv-42")
        .expect("tv listed");
    assert_eq!(tv["product"], "Couch Player");
    assert_eq!(tv["productVersion"], "2.1.0");
    assert_eq!(tv["platform"], "Linux");
    assert_eq!(tv["platformVersion"], "6.1");
    assert_eq!(tv["device"], "Raspberry Pi");
    assert_eq!(tv["name"], "Living room");
    assert_eq!(tv["model"], "4B");
    assert_eq!(tv["vendor"], "RPi Foundation");
    assert_eq!(tv["token"], device_token.as_str());
    assert_eq!(tv["createdAt"], START);
    assert_eq!(tv["lastSeenAt"], START);
    // The linking request's own identity (Plex SSO) names no device.
    assert!(devices.iter().all(|d| d["product"] != "Plex SSO"));

    let xml = app.get_text("/devices.xml", &user_token).await;
    assert!(xml.contains("<MediaContainer "), "{xml}");
    assert!(xml.contains("<Device name=\"Living room\""), "{xml}");
    assert!(xml.contains(&format!("createdAt=\"{START}\"")), "{xml}");

    // Using the token moves lastSeenAt (at most once a minute).
    app.clock.advance(120);
    assert_eq!(app.user(&device_token).await.status(), StatusCode::OK);
    let devices = devices_json(&app, &user_token).await;
    let tv = devices
        .iter()
        .find(|d| d["clientIdentifier"] == "tv-42")
        .expect("tv listed");
    assert_eq!(tv["lastSeenAt"], START + 120);
}

#[tokio::test]
async fn revoking_a_device_kills_its_token_at_once() {
    let app = TestApp::spawn().await;
    let pin = app.create_pin("tv-1", false).await;
    let user_token = app.sign_in("browser-1").await;
    app.link(&user_token, pin["code"].as_str().expect("code"))
        .await;
    let device_token = app.device_token(&pin["id"], "tv-1").await;
    assert_eq!(app.user(&device_token).await.status(), StatusCode::OK);

    let id = devices_json(&app, &user_token)
        .await
        .into_iter()
        .find(|d| d["clientIdentifier"] == "tv-1")
        .expect("listed")["id"]
        .clone();
    let deleted = app
        .request(Method::DELETE, &format!("/devices/{id}.xml"))
        .header("X-Plex-Token", &user_token)
        .go()
        .await;
    assert_eq!(deleted.status(), StatusCode::OK);

    assert_json_error(app.user(&device_token).await, 401, 1001).await;
    assert_eq!(
        app.user(&user_token).await.status(),
        StatusCode::OK,
        "other devices keep working"
    );
    assert!(devices_json(&app, &user_token)
        .await
        .iter()
        .all(|d| d["clientIdentifier"] != "tv-1"));

    // Deleting it again, or a device of another account, is not found.
    let again = app
        .request(Method::DELETE, &format!("/api/v2/devices/{id}"))
        .header("Accept", "application/json")
        .header("X-Plex-Token", &user_token)
        .go()
        .await;
    assert_json_error(again, 404, 1900).await;
}

#[tokio::test]
async fn an_account_cannot_touch_another_accounts_devices() {
    let app = TestApp::spawn().await;
    app.add_account("bob", "bob@example.org", "bob's long password")
        .await;
    let alice = app.sign_in("browser-a").await;
    let bob: Value = app
        .request(Method::POST, "/api/v2/users/signin")
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", "browser-b")
        .form(&[("login", "bob"), ("password", "bob's long password")])
        .json_value()
        .await;
    let bob_token = bob["authToken"].as_str().expect("token");
    let bob_devices = devices_json(&app, bob_token).await;
    assert_eq!(bob_devices.len(), 1);
    assert!(devices_json(&app, &alice)
        .await
        .iter()
        .all(|d| d["clientIdentifier"] != "browser-b"));

    let attempt = app
        .request(
            Method::DELETE,
            &format!("/api/v2/devices/{}", bob_devices[0]["id"]),
        )
        .header("Accept", "application/json")
        .header("X-Plex-Token", &alice)
        .go()
        .await;
    assert_json_error(attempt, 404, 1900).await;
    assert_eq!(app.user(bob_token).await.status(), StatusCode::OK);

    let unauthenticated = app.request(Method::GET, "/devices.xml").go().await;
    assert_xml_error(unauthenticated, 401, 1001).await;
}
