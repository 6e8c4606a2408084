//! A loopback stand-in for plex.tv that serves recorded-shape fixtures.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use pinlink_client::{Client, Error, Identity, Wait};

const PINS_NEW: &str = include_str!("../fixtures/pins_new.json");
const PINS_LINKED: &str = include_str!("../fixtures/pins_linked.json");
const PINS_NEW_XML: &str = include_str!("../fixtures/pins_new.xml");
const USER: &str = include_str!("../fixtures/user.json");
const DEVICES: &str = include_str!("../fixtures/devices.xml");
const ERROR_1020: &str = include_str!("../fixtures/error_1020.json");
const ERROR_1029: &str = include_str!("../fixtures/error_1029.xml");

fn json(status: StatusCode, body: &'static str) -> axum::response::Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

fn xml(status: StatusCode, body: &'static str) -> axum::response::Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Serves the fixtures. Polls answer: 429 with Retry-After, then pending,
/// then linked.
async fn stand_in() -> String {
    let polls = Arc::new(AtomicU32::new(0));
    let app = Router::new()
        .route(
            "/api/v2/pins",
            post(|| async { json(StatusCode::CREATED, PINS_NEW) }),
        )
        .route(
            "/api/v2/pins/{id}",
            get(
                move |axum::extract::Path(id): axum::extract::Path<String>| {
                    let polls = polls.clone();
                    async move {
                        if id != "1234567890" {
                            return json(StatusCode::NOT_FOUND, ERROR_1020);
                        }
                        match polls.fetch_add(1, Ordering::SeqCst) {
                            0 => (
                                StatusCode::TOO_MANY_REQUESTS,
                                [(header::RETRY_AFTER, "1")],
                                "",
                            )
                                .into_response(),
                            1 => json(StatusCode::OK, PINS_NEW),
                            _ => json(StatusCode::OK, PINS_LINKED),
                        }
                    }
                },
            ),
        )
        .route("/api/v2/user", get(|| async { json(StatusCode::OK, USER) }))
        .route(
            "/devices.xml",
            get(|| async { xml(StatusCode::OK, DEVICES) }),
        )
        .route(
            "/api/v2/users/signin",
            post(|| async { xml(StatusCode::UNAUTHORIZED, ERROR_1029) }),
        )
        .route(
            "/xmlpin/api/v2/pins",
            post(|| async { xml(StatusCode::CREATED, PINS_NEW_XML) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn client(base: &str) -> Client {
    let identity = Identity::new("Fixture Test")
        .expect("identity")
        .with_client_identifier("fixture-client")
        .expect("id");
    Client::new(identity).with_base_url(base).expect("url")
}

#[tokio::test]
async fn reads_plex_tv_pins_and_waits_through_a_rate_limit() {
    let base = stand_in().await;
    let client = client(&base);
    let pin = client.create_pin(false).await.expect("pin");
    assert_eq!(
        (pin.id, pin.code.as_str(), pin.expires_in),
        (1234567890, "7RQZ", 900)
    );
    assert_eq!(pin.expires_at - pin.created_at, 900);
    assert_eq!(
        pin.product, "0",
        "plex.tv sometimes echoes product as \"0\""
    );
    assert!(pin.auth_token.is_none());

    let mut reports = Vec::new();
    let started = std::time::Instant::now();
    let token = client
        .wait_for_token(
            &pin,
            Wait {
                interval: Duration::from_millis(50),
                ..Wait::default()
            },
            |p| reports.push(p.clone()),
        )
        .await
        .expect("token");
    assert_eq!(token, "CxoUzBTSV5hsxjTpFKaf");
    assert_eq!(reports.len(), 3, "one report before each poll");
    assert!(
        reports[1]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("rate limited")),
        "{reports:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert!(reports
        .iter()
        .all(|p| p.seconds_left <= 900 && p.seconds_left > 800));
}

#[tokio::test]
async fn reads_xml_pins_users_devices_and_errors() {
    let base = stand_in().await;
    let pin = client(&format!("{base}/xmlpin"))
        .create_pin(true)
        .await
        .expect("xml pin");
    assert_eq!(pin.code.len(), 25);
    assert!(pin.is_strong());
    assert_eq!(pin.product, "Fixture & Co");
    assert_eq!(pin.expires_in, 1800);
    assert!(
        pin.auth_token.is_none(),
        "an empty authToken attribute is no token"
    );

    let client = client(&base);
    let me = client.user("token").await.expect("user");
    assert_eq!((me.id, me.username.as_str()), (12345678, "fixtureuser"));

    let devices = client.devices("token").await.expect("devices");
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[0].product, "Tautulli");
    assert_eq!(devices[0].token.as_deref(), Some("TautulliTokenFixture"));
    assert_eq!(devices[0].created_at, Some(1_700_000_000));
    assert_eq!(devices[1].token, None);
    assert_eq!(devices[1].vendor, "LG");

    match client.sign_in("someone", "pw").await {
        Err(Error::Unauthorized {
            code: Some(1029),
            message,
        }) => assert!(message.contains("verification code")),
        other => panic!("expected 1029, got {other:?}"),
    }
    let mut unknown = client.create_pin(false).await.expect("pin");
    unknown.id = 1;
    match client.poll(&unknown).await {
        Err(Error::NotFound {
            code: Some(1020), ..
        }) => {}
        other => panic!("expected 1020, got {other:?}"),
    }
}

#[test]
fn approval_urls_follow_plex_tv_conventions() {
    let identity = Identity::new("My App")
        .expect("identity")
        .with_client_identifier("cid-1")
        .expect("id")
        .version("2.0");
    let plex = Client::new(identity.clone());
    let pin = pinlink_client::Pin {
        id: 1,
        code: "abcdefghijklmnopqrstuvwxy".into(),
        product: "My App".into(),
        client_identifier: "cid-1".into(),
        qr: String::new(),
        created_at: 0,
        expires_at: 1800,
        expires_in: 1800,
        auth_token: None,
    };
    let url = plex.auth_url(&pin, Some("https://app.example/done"));
    assert!(
        url.starts_with("https://app.plex.tv/auth#?clientID=cid-1&code=abcdefghijklmnopqrstuvwxy&"),
        "{url}"
    );
    assert!(
        url.contains("context%5Bdevice%5D%5Bproduct%5D=My+App"),
        "{url}"
    );
    assert!(
        url.contains("context%5Bdevice%5D%5Bversion%5D=2.0"),
        "{url}"
    );
    assert!(
        url.ends_with("forwardUrl=https%3A%2F%2Fapp.example%2Fdone"),
        "{url}"
    );

    let own = Client::new(identity)
        .with_base_url("http://127.0.0.1:8080/")
        .expect("url");
    assert!(own
        .auth_url(&pin, None)
        .starts_with("http://127.0.0.1:8080/auth#?clientID=cid-1&code="));
    let short = pinlink_client::Pin {
        code: "7RQZ".into(),
        ..pin
    };
    assert_eq!(own.link_url(&short), "http://127.0.0.1:8080/link?pin=7RQZ");
    assert_eq!(plex.link_url(&short), "https://plex.tv/link/?pin=7RQZ");
    assert!(Client::new(Identity::new("x").expect("id"))
        .with_base_url("ftp://x")
        .is_err());
    assert!(Identity::new(" ").is_err());
}
