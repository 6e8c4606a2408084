//! The whole story, as a device and a person live it.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::*;

/// create → poll (no token) → sign in → link → poll (token) → who am I →
/// device listed with its product → revoke → 401.
#[tokio::test]
async fn a_device_links_uses_its_token_and_is_revoked() {
    let app = TestApp::spawn().await;

    // The device asks for a pin and shows the code.
    let pin = app.create_pin("kitchen-radio", false).await;
    let pending: Value = app
        .poll(&pin["id"], "kitchen-radio")
        .await
        .json()
        .await
        .expect("json");
    assert!(pending["authToken"].is_null());

    // A person signs in elsewhere and types the code.
    let user_token = app.sign_in("phone-browser").await;
    app.clock.advance(30);
    assert_eq!(
        app.link(&user_token, pin["code"].as_str().expect("code"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    // The device's next poll carries its token.
    let linked: Value = app
        .poll(&pin["id"], "kitchen-radio")
        .await
        .json()
        .await
        .expect("json");
    let device_token = linked["authToken"].as_str().expect("token").to_owned();
    assert_eq!(linked["expiresIn"], 870);

    // The token identifies the account.
    let me: Value = app.user(&device_token).await.json().await.expect("json");
    assert_eq!(me["username"], USERNAME);

    // The account sees the device under the product name it asked with.
    let devices: Value = app
        .request(Method::GET, "/api/v2/devices")
        .header("Accept", "application/json")
        .header("X-Plex-Token", &user_token)
        .json_value()
        .await;
    let radio = devices
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["clientIdentifier"] == "kitchen-radio")
        .expect("listed")
        .clone();
    assert_eq!(radio["product"], "Test Player");

    // Revoking it ends its access at once.
    let revoked = app
        .request(Method::DELETE, &format!("/devices/{}.xml", radio["id"]))
        .header("X-Plex-Token", &user_token)
        .go()
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_json_error(app.user(&device_token).await, 401, 1001).await;
}

/// The same flow spoken in XML, as python-plexapi does it.
#[tokio::test]
async fn the_flow_in_xml() {
    let app = TestApp::spawn().await;
    let created = app
        .request(Method::POST, "/api/v2/pins?strong=True")
        .header("X-Plex-Product", "XML Client")
        .header("X-Plex-Client-Identifier", "xml-1")
        .go()
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert!(created.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("application/xml"));
    let xml = created.text().await.expect("body");
    assert!(xml.starts_with("<?xml"), "{xml}");
    let id = xml_attr(&xml, "id").expect("id");
    let code = xml_attr(&xml, "code").expect("code");
    assert_eq!(code.len(), 25);
    assert_eq!(xml_attr(&xml, "authToken").as_deref(), Some(""));
    assert_eq!(xml_attr(&xml, "trusted").as_deref(), Some("0"));
    assert_eq!(
        xml_attr(&xml, "expiresAt").as_deref(),
        Some("2027-01-15 08:30:00 UTC")
    );
    assert!(xml.contains("<location "), "{xml}");

    let token = app.sign_in("browser").await;
    assert_eq!(
        app.link(&token, &code).await.status(),
        StatusCode::NO_CONTENT
    );
    let polled = app
        .request(Method::GET, &format!("/api/v2/pins/{id}"))
        .header("X-Plex-Client-Identifier", "xml-1")
        .go()
        .await
        .text()
        .await
        .expect("body");
    let device_token = xml_attr(&polled, "authToken").expect("authToken");
    assert_eq!(device_token.len(), 20);
    assert_eq!(xml_attr(&polled, "newRegistration").as_deref(), Some("0"));
    let devices = app.get_text("/devices.xml", &token).await;
    assert!(devices.contains("product=\"XML Client\""), "{devices}");
    assert!(
        devices.contains(&format!("token=\"{device_token}\"")),
        "{devices}"
    );
}
