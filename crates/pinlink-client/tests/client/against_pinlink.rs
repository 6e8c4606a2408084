//! The client against a real pinlink server on a random port.

use std::sync::Arc;
use std::time::Duration;

use pinlink_client::{Client, DeviceKey, Error, Identity, Wait};
use pinlink_core::SystemClock;
use pinlink_server::{App, Config};

const PASSWORD: &str = "a long password";

async fn server(link_pin_lifetime_secs: i64) -> String {
    let mut config = Config::for_test();
    config.settings.link_pin_lifetime_secs = link_pin_lifetime_secs;
    let app = App::build(config, Arc::new(SystemClock))
        .await
        .expect("server");
    app.core()
        .add_account("alice", "alice@example.org", PASSWORD.into())
        .await
        .expect("account");
    let base = app.public_url().to_owned();
    tokio::spawn(app.run(std::future::pending()));
    base
}

fn client(base: &str, product: &str) -> Client {
    let identity = Identity::new(product)
        .expect("identity")
        .version("1.2.3")
        .device_name("Test rig");
    Client::new(identity).with_base_url(base).expect("url")
}

#[tokio::test]
async fn a_device_logs_in_with_a_pin_end_to_end() {
    let base = server(900).await;
    let device = client(&base, "Client Test Device");
    let browser = client(&base, "Client Test Browser");

    let pin = device.create_pin(false).await.expect("pin");
    assert_eq!(pin.code.len(), 4);
    assert_eq!(pin.client_identifier, device.identity().client_identifier());
    let account = browser.sign_in("alice", PASSWORD).await.expect("sign in");
    assert_eq!(account.username, "alice");

    let (token, ()) = tokio::join!(
        device.wait_for_token(
            &pin,
            Wait {
                interval: Duration::from_millis(100),
                ..Wait::default()
            },
            |_| {}
        ),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            browser
                .link(&account.auth_token, &pin.code)
                .await
                .expect("link");
        }
    );
    let token = token.expect("token");
    assert_eq!(device.user(&token).await.expect("user").username, "alice");

    let devices = browser.devices(&account.auth_token).await.expect("devices");
    let listed = devices
        .iter()
        .find(|d| d.client_identifier == device.identity().client_identifier())
        .expect("the device is listed");
    assert_eq!(listed.product, "Client Test Device");
    assert_eq!(listed.product_version, "1.2.3");
    assert_eq!(listed.name, "Test rig");
    assert_eq!(listed.token.as_deref(), Some(token.as_str()));

    browser
        .revoke(&account.auth_token, listed.id)
        .await
        .expect("revoke");
    assert!(matches!(
        device.user(&token).await,
        Err(Error::Unauthorized {
            code: Some(1001),
            ..
        })
    ));

    browser
        .sign_out(&account.auth_token)
        .await
        .expect("sign out");
    assert!(matches!(
        browser.user(&account.auth_token).await,
        Err(Error::Unauthorized { .. })
    ));
}

#[tokio::test]
async fn waiting_stops_with_a_typed_error_when_the_pin_expires() {
    let base = server(2).await;
    let device = client(&base, "Expiring Device");
    let pin = device.create_pin(false).await.expect("pin");
    assert_eq!(pin.expires_in, 2);
    let mut reports = 0;
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        device.wait_for_token(
            &pin,
            Wait {
                interval: Duration::from_millis(200),
                ..Wait::default()
            },
            |_| reports += 1,
        ),
    )
    .await
    .expect("the wait ends by itself");
    assert!(matches!(result, Err(Error::PinExpired)), "{result:?}");
    assert!(reports >= 3, "progress was reported ({reports})");
}

#[tokio::test]
async fn errors_are_typed() {
    let base = server(900).await;
    let c = client(&base, "Errors");
    match c.sign_in("alice", "wrong").await {
        Err(Error::Unauthorized {
            code: Some(1001), ..
        }) => {}
        other => panic!("expected 1001, got {other:?}"),
    }
    match c.link("bogus-token", "ABCD").await {
        Err(Error::Unauthorized {
            code: Some(1001), ..
        }) => {}
        other => panic!("expected 1001, got {other:?}"),
    }
    let account = c.sign_in("alice", PASSWORD).await.expect("sign in");
    match c.link(&account.auth_token, "ZZZZ").await {
        Err(Error::NotFound {
            code: Some(1020), ..
        }) => {}
        other => panic!("expected 1020, got {other:?}"),
    }
    match c.revoke(&account.auth_token, 999_999).await {
        Err(Error::NotFound { .. }) => {}
        other => panic!("expected not found, got {other:?}"),
    }
    let unreachable = Client::new(Identity::new("x").expect("id"))
        .with_base_url("http://127.0.0.1:9")
        .expect("url");
    assert!(matches!(
        unreachable.create_pin(false).await,
        Err(Error::Network(_))
    ));
}

#[tokio::test]
async fn a_device_logs_in_with_a_jwt_pin_and_refreshes_with_its_key() {
    let base = server(900).await;
    let device = client(&base, "JWT Device");
    let browser = client(&base, "Client Test Browser");
    let key = DeviceKey::generate();

    let pin = device.create_jwt_pin(&key, false).await.expect("pin");
    let account = browser.sign_in("alice", PASSWORD).await.expect("sign in");
    let (jwt, ()) = tokio::join!(
        device.wait_for_jwt(
            &pin,
            &key,
            Wait {
                interval: Duration::from_millis(100),
                ..Wait::default()
            },
            |_| {}
        ),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            browser
                .link(&account.auth_token, &pin.code)
                .await
                .expect("link");
        }
    );
    let jwt = jwt.expect("a Plex JWT");
    let claims = device.verify_jwt(&jwt, &key).await.expect("verifies");
    assert_eq!(claims.user["username"], "alice");
    assert!(claims.expires_in() > 6 * 24 * 3600);
    assert_eq!(device.user(&jwt).await.expect("user").username, "alice");

    let fresh = device.refresh_jwt(&key).await.expect("refresh");
    assert_ne!(fresh, jwt);
    // Another key cannot refresh this device's JWT, nor pass for it.
    let other = DeviceKey::generate();
    assert!(device.refresh_jwt(&other).await.is_err());
    assert!(device.verify_jwt(&fresh, &other).await.is_err());
}

#[tokio::test]
async fn a_signed_in_device_registers_its_key_then_refreshes() {
    let base = server(900).await;
    let device = client(&base, "Registering Device");
    let key = DeviceKey::generate();
    let account = device.sign_in("alice", PASSWORD).await.expect("sign in");
    assert!(
        device.refresh_jwt(&key).await.is_err(),
        "not registered yet"
    );
    device
        .register_key(&account.auth_token, &key)
        .await
        .expect("register");
    let jwt = device.refresh_jwt(&key).await.expect("refresh");
    assert_eq!(device.user(&jwt).await.expect("user").username, "alice");
}
