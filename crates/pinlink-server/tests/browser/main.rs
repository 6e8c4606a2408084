//! End-to-end tests of the web pages in headless Chromium: a device talks
//! HTTP to a real pinlink server, a person uses the pages in a real browser,
//! and the device's next poll shows the result. Each test saves screenshots
//! under target/screenshots/.

mod account;
mod chromium;
use pinlink_testkit as harness;

use axum::response::Html;
use axum::routing::get;
use chromium::Browser;
use harness::{TestApp, PASSWORD, USERNAME};
use pinlink_server::Config;
use serde_json::Value;

const DEVICE: &str = "tv-living-room-0001";

/// A device with a screen asks for a pin, as a real one would.
async fn device_pin(app: &TestApp, strong: bool) -> Value {
    let response = app
        .http
        .post(app.url("/api/v2/pins"))
        .header("Accept", "application/json")
        .header("X-Plex-Product", "Couch Cinema")
        .header("X-Plex-Client-Identifier", DEVICE)
        .header("X-Plex-Device-Name", "Living room TV")
        .header("X-Plex-Platform", "webOS")
        .header("X-Plex-Platform-Version", "6.3")
        .header("X-Plex-Version", "2.4.1")
        .query(&[("strong", strong.to_string())])
        .send()
        .await
        .expect("pin created");
    assert_eq!(response.status(), 201);
    response.json().await.expect("pin json")
}

async fn poll_token(app: &TestApp, pin: &Value) -> Option<String> {
    let response = app.poll(&pin["id"], DEVICE).await;
    assert_eq!(response.status(), 200, "the pin is still there");
    let body: Value = response.json().await.expect("json");
    body["authToken"].as_str().map(str::to_owned)
}

fn code(pin: &Value) -> String {
    pin["code"].as_str().expect("code").to_owned()
}

#[tokio::test]
async fn a_typed_code_is_confirmed_then_approved() {
    let app = TestApp::spawn().await;
    let pin = device_pin(&app, false).await;
    let browser = Browser::start().await;

    // Signed out, /link sends the person to sign in first, then back.
    browser.goto(&app.url("/link")).await;
    browser.wait_for_text("Sign in").await;
    browser.screenshot("login").await;
    browser.sign_in_here(USERNAME, PASSWORD).await;
    browser
        .wait_for_text("Enter the code your device shows")
        .await;

    // Lower case and a dash: still the code.
    let typed = code(&pin).to_lowercase();
    browser
        .fill(
            "input[name=code]",
            &format!("{}-{}", &typed[..2], &typed[2..]),
        )
        .await;
    browser.screenshot("link").await;
    browser.click_to_load("main button[type=submit]").await;

    let confirmation = browser.wait_for_text("to your account?").await;
    for fact in [
        "Couch Cinema",
        "Living room TV",
        "webOS 6.3",
        "2.4.1",
        "127.0.0.1",
        "2027-01-15 08:00 UTC",
    ] {
        assert!(
            confirmation.contains(fact),
            "confirmation shows {fact}:\n{confirmation}"
        );
    }
    assert!(confirmation.contains("Only continue if you started this on your own device"));
    browser.screenshot("confirm").await;
    browser.phone_screenshot("confirm-phone").await;
    assert_eq!(
        poll_token(&app, &pin).await,
        None,
        "nothing linked before Approve"
    );

    browser.click_to_load("#approve").await;
    browser.wait_for_text("Device linked").await;
    browser.screenshot("linked").await;
    let token = poll_token(&app, &pin)
        .await
        .expect("the device has a token");
    assert_eq!(app.user(&token).await.status(), 200);
    browser.close().await;
}

#[tokio::test]
async fn the_qr_link_opens_the_prefilled_form_without_submitting_it() {
    let app = TestApp::spawn().await;
    let pin = device_pin(&app, false).await;
    let browser = Browser::start().await;
    browser.sign_in(&app.base, USERNAME, PASSWORD).await;

    // The pin's `qr` is a PNG; a phone's camera would read the link in it.
    let png = app
        .http
        .get(pin["qr"].as_str().expect("qr image url"))
        .send()
        .await
        .expect("qr image")
        .bytes()
        .await
        .expect("png bytes");
    let qr_target = harness::read_qr_code(&png);
    assert_eq!(qr_target, app.url(&format!("/link?pin={}", code(&pin))));
    browser.goto(&qr_target).await;
    browser
        .wait_for_text("Enter the code your device shows")
        .await;
    let field = browser.find("input[name=code]").await;
    assert_eq!(
        field.prop("value").await.expect("value").as_deref(),
        Some(code(&pin).as_str())
    );
    assert_eq!(
        poll_token(&app, &pin).await,
        None,
        "opening the link links nothing"
    );
    browser.close().await;
}

#[tokio::test]
async fn deny_makes_the_pin_unusable() {
    let app = TestApp::spawn().await;
    let pin = device_pin(&app, false).await;
    let browser = Browser::start().await;
    browser.sign_in(&app.base, USERNAME, PASSWORD).await;
    browser
        .goto(&app.url(&format!("/link?pin={}", code(&pin))))
        .await;
    browser.click_to_load("main button[type=submit]").await;
    browser.wait_for_text("Couch Cinema").await;

    browser.click_to_load("#deny").await;
    browser.wait_for_text("Nothing was linked").await;
    browser.screenshot("denied").await;
    assert_eq!(app.poll(&pin["id"], DEVICE).await.status(), 404);
    browser.close().await;
}

#[tokio::test]
async fn wrong_codes_get_a_clear_message_until_the_budget_is_spent() {
    let mut config = Config::for_test();
    config.settings.budgets.link_per_account.max = 3;
    let app = TestApp::spawn_with(config).await;
    app.add_account(USERNAME, harness::EMAIL, PASSWORD).await;
    let pin = device_pin(&app, false).await;
    let browser = Browser::start().await;
    browser.sign_in(&app.base, USERNAME, PASSWORD).await;
    browser.goto(&app.url("/link")).await;

    for _ in 0..3 {
        browser.fill("input[name=code]", "ZZZZ").await;
        browser.click_to_load("main button[type=submit]").await;
        browser
            .wait_for_text("That code is wrong or has expired")
            .await;
    }
    browser.screenshot("wrong-code").await;
    // The budget is spent: even the right code waits now.
    browser.fill("input[name=code]", &code(&pin)).await;
    browser.click_to_load("main button[type=submit]").await;
    let text = browser.wait_for_text("Too many wrong codes").await;
    assert!(text.contains("Try again in 15 minutes"), "{text}");
    assert_eq!(poll_token(&app, &pin).await, None);
    browser.close().await;
}

/// A stand-in for the app's own web page that `forwardUrl` returns to.
async fn app_page() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr");
    let router = axum::Router::new().route(
        "/signed-in",
        get(|| async { Html("<h1>Back in Couch Cinema</h1>") }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/signed-in")
}

#[tokio::test]
async fn a_strong_code_is_approved_through_the_auth_fragment_and_forwards() {
    let app = TestApp::spawn().await;
    let pin = device_pin(&app, true).await;
    let forward = app_page().await;
    let browser = Browser::start().await;

    // plex.tv's approval-link shape, fragment and all, opened signed out.
    let fragment = serde_urlencoded::to_string([
        ("clientID", DEVICE),
        ("code", &code(&pin)),
        ("context[device][product]", "Couch Cinema"),
        ("forwardUrl", &forward),
    ])
    .expect("query");
    browser.goto(&app.url(&format!("/auth#?{fragment}"))).await;
    browser.wait_for_text("Sign in").await;
    browser.sign_in_here(USERNAME, PASSWORD).await;

    let confirmation = browser.wait_for_text("to your account?").await;
    assert!(confirmation.contains("Couch Cinema"), "{confirmation}");
    browser.screenshot("auth-confirm").await;
    browser.click_to_load("#approve").await;
    browser.wait_for_text("Back in Couch Cinema").await;
    assert!(browser.url().await.starts_with(&forward));
    assert!(poll_token(&app, &pin).await.is_some());
    browser.close().await;
}

#[tokio::test]
async fn the_auth_page_refuses_short_codes_and_other_clients() {
    let app = TestApp::spawn().await;
    let short = device_pin(&app, false).await;
    let strong = device_pin(&app, true).await;
    let browser = Browser::start().await;
    browser.sign_in(&app.base, USERNAME, PASSWORD).await;

    browser
        .goto(&app.url(&format!("/auth#!?clientID={DEVICE}&code={}", code(&short))))
        .await;
    browser.wait_for_text("needs the long code").await;
    browser
        .goto(&app.url(&format!(
            "/auth?clientID=someone-else&code={}",
            code(&strong)
        )))
        .await;
    browser.wait_for_text("does not belong to the app").await;
    browser.screenshot("auth-refused").await;
    assert_eq!(poll_token(&app, &short).await, None);
    assert_eq!(poll_token(&app, &strong).await, None);

    // Deny on /auth: nothing linked, the pin is gone.
    browser
        .goto(&app.url(&format!("/auth?clientID={DEVICE}&code={}", code(&strong))))
        .await;
    browser.click_to_load("#deny").await;
    browser.wait_for_text("Nothing was linked").await;
    assert_eq!(app.poll(&strong["id"], DEVICE).await.status(), 404);
    browser.close().await;
}

#[tokio::test]
async fn revoking_on_the_devices_page_kills_the_token() {
    let app = TestApp::spawn().await;
    let pin = device_pin(&app, false).await;
    let account_token = app.sign_in("cli-for-setup").await;
    assert_eq!(app.link(&account_token, &code(&pin)).await.status(), 204);
    let device_token = poll_token(&app, &pin).await.expect("linked");
    assert_eq!(app.user(&device_token).await.status(), 200);

    let browser = Browser::start().await;
    browser.sign_in(&app.base, USERNAME, PASSWORD).await;
    browser.goto(&app.url("/devices")).await;
    let list = browser.wait_for_text("Your devices").await;
    assert!(
        list.contains("Couch Cinema") && list.contains("this browser"),
        "{list}"
    );
    browser.screenshot("devices").await;

    browser
        .click_to_load("button[aria-label='Revoke Couch Cinema']")
        .await;
    browser.wait_for_text("Your devices").await;
    let list = browser.text().await;
    assert!(
        !list.contains("Couch Cinema"),
        "revoked device still listed:\n{list}"
    );
    assert_eq!(app.user(&device_token).await.status(), 401);
    browser.close().await;
}

#[tokio::test]
async fn the_first_account_is_created_with_the_setup_token() {
    let app = TestApp::spawn_with(Config::for_test()).await;
    let token = app
        .core
        .first_start_token()
        .await
        .expect("checked")
        .expect("no account yet, so a token");
    let browser = Browser::start().await;

    browser.goto(&app.url("/")).await;
    browser.wait_for_text("Welcome to pinlink").await;
    browser.fill("input[name=token]", "not-the-token").await;
    browser.fill("input[name=username]", "bob").await;
    browser.fill("input[name=email]", "bob@example.org").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser.click_to_load("main button[type=submit]").await;
    browser.wait_for_text("setup token is wrong").await;

    browser.goto(&app.url(&format!("/?token={token}"))).await;
    browser.fill("input[name=username]", "bob").await;
    browser.fill("input[name=email]", "bob@example.org").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser.screenshot("setup").await;
    browser.click_to_load("main button[type=submit]").await;
    browser.wait_for_text("Hello, bob").await;
    browser.screenshot("home").await;
    assert_eq!(app.core.accounts().await.expect("accounts").len(), 1);
    assert_eq!(app.core.first_start_token().await.expect("checked"), None);
    browser.close().await;
}

/// An attacker's page on another site (localhost is not 127.0.0.1) posts
/// an approval of the attacker's own code from the victim's signed-in
/// browser. Nothing may be linked.
#[tokio::test]
async fn a_cross_site_post_cannot_link_a_code() {
    let app = TestApp::spawn().await;
    let pin = device_pin(&app, false).await;
    let browser = Browser::start().await;
    browser.sign_in(&app.base, USERNAME, PASSWORD).await;

    let target = app.url("/link/approve");
    let attack = format!(
        "<form method=post action='{target}'><input name=code value='{}'><input name=csrf value='guess'></form>\
         <script>document.forms[0].submit()</script>",
        code(&pin)
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let router = axum::Router::new().route("/", get(move || async move { Html(attack) }));
    tokio::spawn(async move { axum::serve(listener, router).await });

    browser.goto(&format!("http://localhost:{port}/")).await;
    browser.wait_for_text("This form has expired").await;
    assert_eq!(
        poll_token(&app, &pin).await,
        None,
        "the cross-site post linked nothing"
    );
    browser.close().await;
}

/// RFC 8628: a device that signs in through an OAuth library shows a
/// `user_code`; the person types it at /link, sees the registered
/// application's name beside the device's, approves, and the device's next
/// token request gets its token. Deny, on another code, is `access_denied`.
#[tokio::test]
async fn a_device_grant_user_code_is_approved_and_denied_at_link() {
    let app = TestApp::spawn().await;
    let (client, _) = app.register_application("Weather Station", false).await;
    let approved = app
        .device_authorization(
            &client,
            &[("device_name", "Garden sensor"), ("platform", "ESP32")],
        )
        .await;
    let denied = app.device_authorization(&client, &[]).await;
    let browser = Browser::start().await;
    browser.sign_in(&app.base, USERNAME, PASSWORD).await;
    let token_request = |started: &Value| {
        let device_code = started["device_code"]
            .as_str()
            .expect("device_code")
            .to_owned();
        let app = &app;
        let client = client.clone();
        async move { app.token_request(&client, &device_code, &[]).await }
    };
    let pending: Value = token_request(&approved).await.json().await.expect("json");
    assert_eq!(pending["error"], "authorization_pending");

    browser.goto(&app.url("/link")).await;
    browser
        .wait_for_text("Enter the code your device shows")
        .await;
    // Typed as people do: lower case, no dash.
    let typed = approved["user_code"]
        .as_str()
        .expect("user_code")
        .replace('-', "")
        .to_lowercase();
    browser.fill("input[name=code]", &typed).await;
    browser.click_to_load("main button[type=submit]").await;
    let confirmation = browser.wait_for_text("to your account?").await;
    for fact in ["Application", "Weather Station", "Garden sensor", "ESP32"] {
        assert!(
            confirmation.contains(fact),
            "confirmation shows {fact}:\n{confirmation}"
        );
    }
    browser.screenshot("device-grant-confirm").await;
    browser.click_to_load("#approve").await;
    browser.wait_for_text("Device linked").await;

    app.clock.advance(5);
    let response = token_request(&approved).await;
    assert_eq!(response.status(), 200);
    let issued: Value = response.json().await.expect("json");
    assert_eq!(issued["token_type"], "Bearer");
    let token = issued["access_token"].as_str().expect("token");
    assert_eq!(app.user(token).await.status(), 200);

    // The complete URI prefills the form; Deny is access_denied.
    let complete = denied["verification_uri_complete"]
        .as_str()
        .expect("complete URI");
    browser.goto(complete).await;
    browser.click_to_load("main button[type=submit]").await;
    browser.wait_for_text("Weather Station").await;
    browser.click_to_load("#deny").await;
    browser.wait_for_text("Nothing was linked").await;
    let refused: Value = token_request(&denied).await.json().await.expect("json");
    assert_eq!(refused["error"], "access_denied");
    browser.close().await;
}
