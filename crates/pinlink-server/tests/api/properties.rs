//! Every parser of client input, through the real server: whatever a client
//! sends in `X-Plex-*` fields, `strong`, `Accept`, pin ids and codes, the
//! answer is never a 5xx and never malformed JSON or XML.

use std::sync::OnceLock;

use pinlink_core::Limit;
use pinlink_server::Config;
use proptest::prelude::*;
use reqwest::Method;
use tokio::runtime::Runtime;

use crate::harness::*;

/// One server for all cases (budgets off, so that cases reach the parsers
/// rather than the rate limits).
fn server() -> &'static (Runtime, TestApp, String) {
    static SERVER: OnceLock<(Runtime, TestApp, String)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (app, token) = runtime.block_on(async {
            let mut config = Config::for_test();
            let budgets = &mut config.settings.budgets;
            budgets.pins_per_address = Limit::OFF;
            budgets.pins_per_client = Limit::OFF;
            budgets.link_per_account = Limit::OFF;
            budgets.link_per_account_daily = Limit::OFF;
            budgets.link_per_address = Limit::OFF;
            budgets.link_per_address_daily = Limit::OFF;
            config.settings.caps.per_address = u32::MAX;
            let app = TestApp::spawn_with(config).await;
            app.add_account(USERNAME, EMAIL, PASSWORD).await;
            let token = app.sign_in("property-tests").await;
            (app, token)
        });
        (runtime, app, token)
    })
}

/// Checks that an answer is well-formed in the format it claims.
fn assert_well_formed(status: u16, content_type: &str, body: &str) -> Result<(), TestCaseError> {
    prop_assert!(status < 500, "status {status}: {body}");
    if content_type.starts_with("application/json") {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(body);
        prop_assert!(parsed.is_ok(), "malformed JSON: {body}");
    } else if content_type.starts_with("application/xml") {
        prop_assert!(
            body.chars().all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)),
            "a character XML forbids: {body:?}"
        );
        let mut reader = quick_xml::Reader::from_str(body);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)) => {
                    for attribute in e.attributes() {
                        let attribute =
                            attribute.map_err(|e| TestCaseError::fail(format!("{e}: {body}")))?;
                        prop_assert!(attribute.unescape_value().is_ok(), "bad escape: {body}");
                    }
                }
                Ok(_) => {}
                Err(e) => prop_assert!(false, "malformed XML ({e}): {body}"),
            }
        }
    } else {
        prop_assert!(
            content_type.starts_with("image/png") || status == 204,
            "unexpected content type {content_type:?} ({status})"
        );
    }
    Ok(())
}

fn send(request: reqwest::RequestBuilder) -> (u16, String, String) {
    let (runtime, _, _) = server();
    runtime.block_on(async {
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = response.bytes().await.expect("body");
        (
            status,
            content_type,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    })
}

/// Any text, weighted towards what causes trouble: control and bidi
/// characters, non-characters, markup, long runs of multi-byte characters.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\u{0}-\\u{1f}\\u{202e}\\u{2066}\\u{fdd0}\\u{fffe}\\u{ffff}<>&\"' a-zA-Z0-9-]{0,30}",
        "\\PC{200,300}",
        Just(String::new()),
    ]
}

fn accept() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/json".to_owned())),
        Just(Some("application/xml".to_owned())),
        "[a-z/*;=,. ]{0,30}".prop_map(Some),
    ]
}

fn with_accept(
    request: reqwest::RequestBuilder,
    accept: &Option<String>,
) -> reqwest::RequestBuilder {
    match accept {
        Some(value) => request.header("Accept", value.as_str()),
        None => request,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn creating_a_pin_with_any_fields(
        product in hostile_text(),
        client in hostile_text(),
        name in hostile_text(),
        strong in prop_oneof![Just("true".to_owned()), Just("True".to_owned()), hostile_text()],
        accept in accept(),
    ) {
        let (_, app, _) = server();
        let request = app.request(Method::POST, "/api/v2/pins").form(&[
            ("X-Plex-Product", product.as_str()),
            ("X-Plex-Client-Identifier", client.as_str()),
            ("X-Plex-Device-Name", name.as_str()),
            ("strong", strong.as_str()),
        ]);
        let (status, content_type, body) = send(with_accept(request, &accept));
        prop_assert!(status == 201 || status == 400, "{status}: {body}");
        assert_well_formed(status, &content_type, &body)?;
    }

    #[test]
    fn polling_any_id_with_any_client(id in hostile_text(), client in hostile_text(), accept in accept()) {
        let (_, app, _) = server();
        let path: String = url_encode(&id);
        let request = app
            .request(Method::GET, &format!("/api/v2/pins/{path}"))
            .query(&[("X-Plex-Client-Identifier", client.as_str())]);
        let (status, content_type, body) = send(with_accept(request, &accept));
        prop_assert!(matches!(status, 200 | 400 | 404 | 405), "{status}: {body}");
        assert_well_formed(status, &content_type, &body)?;
    }

    #[test]
    fn linking_and_drawing_any_code(code in hostile_text(), accept in accept()) {
        let (_, app, token) = server();
        let request = app
            .request(Method::PUT, "/api/v2/pins/link")
            .header("X-Plex-Token", token.as_str())
            .form(&[("code", code.as_str())]);
        let (status, content_type, body) = send(with_accept(request, &accept));
        prop_assert!(matches!(status, 204 | 400 | 404), "{status}: {body}");
        assert_well_formed(status, &content_type, &body)?;
        let request = app.request(Method::GET, &format!("/api/v2/pins/qr/{}", url_encode(&code)));
        let (status, content_type, body) = send(with_accept(request, &accept));
        prop_assert!(matches!(status, 200 | 404), "{status}: {body}");
        assert_well_formed(status, &content_type, &body)?;
    }
}

/// Percent-encodes a path segment.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
