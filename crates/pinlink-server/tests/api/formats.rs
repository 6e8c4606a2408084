//! Content negotiation, CORS and malformed input: always a 4xx in plex.tv's
//! error shape, never a panic or a 500.

use reqwest::{Method, StatusCode};

use crate::harness::*;

#[tokio::test]
async fn json_only_when_asked_for_it_alone() {
    let app = TestApp::spawn().await;
    let ask = |accept: Option<&'static str>, path: &'static str| {
        let mut request = app
            .request(Method::POST, path)
            .header("X-Plex-Product", "P")
            .header("X-Plex-Client-Identifier", "c");
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        async move {
            let response = request.go().await;
            response.headers()["content-type"]
                .to_str()
                .expect("ascii")
                .to_owned()
        }
    };
    assert!(ask(Some("application/json"), "/api/v2/pins")
        .await
        .starts_with("application/json"));
    assert!(
        ask(Some("application/json, text/plain, */*"), "/api/v2/pins")
            .await
            .starts_with("application/xml")
    );
    assert!(ask(None, "/api/v2/pins")
        .await
        .starts_with("application/xml"));
    assert!(ask(None, "/api/v2/pins.json")
        .await
        .starts_with("application/json"));
    assert!(ask(Some("application/json"), "/api/v2/pins.xml")
        .await
        .starts_with("application/xml"));
}

#[tokio::test]
async fn browsers_get_cors_for_the_pin_endpoints() {
    let app = TestApp::spawn().await;
    let preflight = app
        .request(Method::OPTIONS, "/api/v2/pins")
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "x-plex-product,x-plex-client-identifier,accept",
        )
        .go()
        .await;
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );

    let created = app
        .request(Method::POST, "/api/v2/pins")
        .header("Origin", "https://app.example.com")
        .header("X-Plex-Product", "P")
        .header("X-Plex-Client-Identifier", "c")
        .go()
        .await;
    assert_eq!(created.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn oversized_and_malformed_requests_get_a_clear_4xx() {
    let app = TestApp::spawn().await;
    let big = app
        .request(Method::POST, "/api/v2/pins")
        .header("Accept", "application/json")
        .header("X-Plex-Product", "P")
        .header("X-Plex-Client-Identifier", "c")
        .body(vec![b'a'; 200 * 1024])
        .go()
        .await;
    assert_json_error(big, 413, 1913).await;

    let huge_headers = app
        .request(Method::GET, "/api/v2/user")
        .header("Accept", "application/json")
        .header("X-Filler", "x".repeat(20 * 1024))
        .go()
        .await;
    assert_json_error(huge_headers, 431, 1913).await;

    let bad_json = app
        .request(Method::POST, "/api/v2/pins")
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .header("X-Plex-Product", "P")
        .header("X-Plex-Client-Identifier", "c")
        .body("{not json")
        .go()
        .await;
    assert_json_error(bad_json, 400, 1000).await;

    let binary_header = app
        .request(Method::POST, "/api/v2/pins")
        .header("Accept", "application/json")
        .header("X-Plex-Client-Identifier", "c")
        .header(
            "X-Plex-Product",
            reqwest::header::HeaderValue::from_bytes(b"\xff\xfe").expect("bytes"),
        )
        .go()
        .await;
    assert_json_error(binary_header, 400, 1000).await;

    let control = app
        .request(
            Method::POST,
            "/api/v2/pins?X-Plex-Product=a%00b&X-Plex-Client-Identifier=c",
        )
        .header("Accept", "application/json")
        .go()
        .await;
    assert_json_error(control, 400, 1000).await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let missing = app
        .request(Method::GET, "/api/v2/nothing-here")
        .header("Accept", "application/json")
        .go()
        .await;
    assert_json_error(missing, 404, 1900).await;
    let wrong_method = app.request(Method::DELETE, "/api/v2/pins").go().await;
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_xml_error(wrong_method, 405, 1000).await;
}

#[tokio::test]
async fn health_and_readiness_answer_for_load_balancers() {
    let app = TestApp::spawn().await;
    for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let answer = app.request(reqwest::Method::GET, path).go().await;
        assert_eq!(answer.status(), 200, "{path}");
        let body: serde_json::Value = answer.json().await.expect("json");
        assert_eq!(body["status"], status);
    }
}

#[tokio::test]
async fn every_answer_names_its_request() {
    let app = TestApp::spawn().await;
    let mut ids = std::collections::HashSet::new();
    for path in ["/healthz", "/api/v2/pins/1", "/no/such/route"] {
        let answer = app.request(reqwest::Method::GET, path).go().await;
        let id = answer
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("an X-Request-Id")
            .to_owned();
        assert!(ids.insert(id), "each request has its own id");
    }
}
