//! The OpenAPI document: served at `/openapi.json`, generated from the
//! handlers (so the routes and their descriptions cannot part), and kept
//! equal to the committed `docs/openapi.json`. After changing the API, run
//! `PINLINK_UPDATE_OPENAPI=1 cargo test -p pinlink-server --test api openapi`
//! to write the new document, and commit it.

use reqwest::Method;
use serde_json::Value;

use crate::harness::{SendExt, TestApp};

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[tokio::test]
async fn the_served_document_is_the_committed_one_and_describes_the_api() {
    let app = TestApp::spawn().await;
    let served = app
        .request(Method::GET, "/openapi.json")
        .go()
        .await
        .text()
        .await
        .expect("text");
    if std::env::var_os("PINLINK_UPDATE_OPENAPI").is_some() {
        std::fs::write(committed_path(), &served).expect("write docs/openapi.json");
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        served == committed,
        "docs/openapi.json is out of date: run PINLINK_UPDATE_OPENAPI=1 cargo test -p pinlink-server --test api openapi"
    );

    let document: Value = serde_json::from_str(&served).expect("JSON");
    assert_eq!(document["openapi"], "3.1.0");
    for (path, method) in [
        ("/api/v2/pins", "post"),
        ("/api/v2/pins/{id}", "get"),
        ("/api/v2/pins/link", "put"),
        ("/api/v2/user", "get"),
        ("/api/v2/auth/token", "post"),
        ("/oauth/device_authorization", "post"),
        ("/oauth/token", "post"),
        ("/.well-known/oauth-authorization-server", "get"),
        ("/healthz", "get"),
    ] {
        assert!(
            document["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    // Every documented operation is routed: none answers "no such route".
    let paths = document["paths"].as_object().expect("paths");
    for (path, operations) in paths {
        for method in operations.as_object().expect("operations").keys() {
            let concrete = path.replace("{id}", "123456789").replace("{code}", "ABCD");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let status = app.request(method.clone(), &concrete).go().await.status();
            assert!(
                status != 404 && status != 405 || path.contains('{') || concrete.ends_with("/link"),
                "{method} {path} answered {status}"
            );
        }
    }
}
