//! The account page in a real browser: two-step verification enrolled from
//! the key the page shows (the code computed from it, as an authenticator
//! app would), `/login`'s second step, recovery codes, the password and
//! e-mail, passkeys through a virtual authenticator, the security log,
//! removing the account, and an operator's reset link.

use pinlink_core::two_step::TotpSecret;
use pinlink_core::Clock;

use crate::chromium::Browser;
use crate::harness::{TestApp, EMAIL, PASSWORD, USERNAME};

/// A server whose public URL is `http://localhost:PORT` (browsers allow
/// passkeys on a host name, not on 127.0.0.1), with alice.
async fn on_localhost() -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut config = pinlink_server::Config::for_test();
    config.listen = ([127, 0, 0, 1], port).into();
    config.public_url = Some(format!("http://localhost:{port}"));
    let app = TestApp::spawn_with(config).await;
    app.add_account(USERNAME, EMAIL, PASSWORD).await;
    app
}

fn local(app: &TestApp, path: &str) -> String {
    app.url(path).replace("127.0.0.1", "localhost")
}

/// The recovery codes the page shows, once.
async fn shown_recovery_codes(browser: &Browser) -> Vec<String> {
    let text = browser.wait_for_text("Your recovery codes").await;
    let codes: Vec<String> = text
        .split_whitespace()
        .filter(|word| {
            pinlink_core::two_step::normal_recovery_code(word).is_some() && word.contains('-')
        })
        .map(str::to_owned)
        .collect();
    assert_eq!(codes.len(), 10, "ten recovery codes on the page:\n{text}");
    codes
}

async fn sign_out(browser: &Browser) {
    browser.click_to_load("header form button").await;
    browser.wait_for_text("Sign in").await;
}

#[tokio::test]
async fn two_step_is_set_up_from_the_page_and_then_asked_for_at_sign_in() {
    let app = on_localhost().await;
    let browser = Browser::start().await;
    browser.sign_in(&local(&app, ""), USERNAME, PASSWORD).await;
    browser.goto(&local(&app, "/account")).await;
    let page = browser.wait_for_text("Your account").await;
    assert!(
        page.contains(EMAIL) && page.contains("Two-step verification"),
        "{page}"
    );
    browser.tall_screenshot("account").await;

    browser
        .click_to_load("form[action^='/account/two-step/start'] button")
        .await;
    browser
        .wait_for_text("Scan this with your authenticator app")
        .await;
    // The QR code holds the otpauth:// URI of the key shown as text.
    let qr = app
        .http
        .get(local(&app, "/account/two-step/qr.png"))
        .send()
        .await
        .expect("qr");
    let kind = qr.headers().get("content-type").cloned();
    assert_ne!(
        kind.as_ref().and_then(|k| k.to_str().ok()),
        Some("image/png"),
        "the QR code is the signed-in account's only"
    );
    let shown = browser
        .find("#two-step-secret")
        .await
        .text()
        .await
        .expect("key");
    let secret = TotpSecret::from_base32(&shown).expect("the key on the page is base32");
    browser.tall_screenshot("account-two-step-enroll").await;

    // A wrong code first, then the app's code.
    browser.fill("input[name=code]", "000000").await;
    browser
        .click_to_load("form[action^='/account/two-step/confirm'] button")
        .await;
    browser.wait_for_text("wrong").await;
    browser
        .fill("input[name=code]", &secret.code_at(app.clock.now()))
        .await;
    browser
        .click_to_load("form[action^='/account/two-step/confirm'] button")
        .await;
    let codes = shown_recovery_codes(&browser).await;
    browser.tall_screenshot("account-recovery-codes").await;

    // /login asks for the code on a second step.
    sign_out(&browser).await;
    browser.sign_in_here(USERNAME, PASSWORD).await;
    browser.wait_for_text("Two-step verification").await;
    browser.screenshot("login-code").await;
    // The code that turned it on is used; the next step's works.
    app.clock.advance(30);
    browser.fill("input[name=code]", "123456").await;
    browser.click_to_load("main button[type=submit]").await;
    browser.wait_for_text("wrong or was used already").await;
    browser
        .fill("input[name=code]", &secret.code_at(app.clock.now()))
        .await;
    browser.click_to_load("main button[type=submit]").await;
    browser.wait_for_text(&format!("Hello, {USERNAME}")).await;

    // A recovery code instead, once.
    sign_out(&browser).await;
    browser.sign_in_here(USERNAME, PASSWORD).await;
    browser
        .fill("input[name=code]", &codes[3].to_uppercase())
        .await;
    browser.click_to_load("main button[type=submit]").await;
    browser.wait_for_text(&format!("Hello, {USERNAME}")).await;
    browser.goto(&local(&app, "/account")).await;
    let page = browser.wait_for_text("9 recovery codes left").await;
    for logged in [
        "Recovery code used",
        "Two-step verification turned on",
        "Sign-in refused",
    ] {
        assert!(page.contains(logged), "the log shows {logged:?}:\n{page}");
    }
    browser.tall_screenshot("account-log").await;

    // Off again: the password and a code.
    app.clock.advance(30);
    browser
        .fill(
            "form[action^='/account/two-step/off'] input[name=password]",
            PASSWORD,
        )
        .await;
    browser
        .fill(
            "form[action^='/account/two-step/off'] input[name=code]",
            &secret.code_at(app.clock.now()),
        )
        .await;
    browser
        .click_to_load("form[action^='/account/two-step/off'] button")
        .await;
    browser.wait_for_text("Two-step verification is off").await;
    browser.close().await;
}

#[tokio::test]
async fn a_new_password_can_sign_every_other_device_out_and_the_email_changes() {
    let app = on_localhost().await;
    let device_token = app.sign_in("kitchen-radio").await;
    assert_eq!(app.user(&device_token).await.status(), 200);
    let browser = Browser::start().await;
    browser.sign_in(&local(&app, ""), USERNAME, PASSWORD).await;
    browser.goto(&local(&app, "/account")).await;
    browser.wait_for_text("Change the password").await;

    browser.fill("input[name=current]", "not my password").await;
    browser
        .fill("input[name=new]", "a brand new password")
        .await;
    browser
        .fill("input[name=again]", "a brand new password")
        .await;
    browser
        .click_to_load("form[action^='/account/password'] button")
        .await;
    browser.wait_for_text("The password is wrong").await;

    browser.fill("input[name=current]", PASSWORD).await;
    browser
        .fill("input[name=new]", "a brand new password")
        .await;
    browser
        .fill("input[name=again]", "a brand new password")
        .await;
    browser.click("input[name=sign_out_others]").await;
    browser
        .click_to_load("form[action^='/account/password'] button")
        .await;
    browser
        .wait_for_text("your other browsers and devices are signed out")
        .await;
    assert_eq!(
        app.user(&device_token).await.status(),
        401,
        "the radio is signed out"
    );

    browser
        .fill(
            "form[action^='/account/email'] input[name=email]",
            "alice@new.example",
        )
        .await;
    browser
        .fill(
            "form[action^='/account/email'] input[name=password]",
            "a brand new password",
        )
        .await;
    browser
        .click_to_load("form[action^='/account/email'] button")
        .await;
    let page = browser.wait_for_text("Your e-mail is changed").await;
    assert!(page.contains("alice@new.example"), "{page}");
    assert!(
        page.contains("Password changed") && page.contains("E-mail changed"),
        "{page}"
    );
    // This browser stayed signed in; the new password is the one.
    let client = app.client("phone");
    assert!(client.sign_in(USERNAME, PASSWORD).await.is_err());
    client
        .sign_in("alice@new.example", "a brand new password")
        .await
        .expect("the new e-mail and password sign in");
    browser.close().await;
}

#[tokio::test]
async fn a_passkey_is_added_signs_in_on_its_own_and_is_removed() {
    let app = on_localhost().await;
    let browser = Browser::start().await;
    let authenticator = browser.add_virtual_authenticator().await;
    browser.sign_in(&local(&app, ""), USERNAME, PASSWORD).await;
    browser.goto(&local(&app, "/account")).await;
    browser.wait_for_text("No passkey yet").await;
    browser
        .fill("#add-passkey input[name=name]", "Laptop")
        .await;
    browser.click_to_load("#add-passkey button").await;
    let page = browser.wait_for_text("Laptop").await;
    assert!(page.contains("never"), "not used yet:\n{page}");
    let credentials = browser.authenticator_credentials(&authenticator).await;
    assert_eq!(credentials.len(), 1);
    assert_eq!(
        credentials[0]["isResidentCredential"], true,
        "a discoverable credential"
    );
    browser.tall_screenshot("account-passkey").await;

    // Signed out, the passkey alone signs in: no name, no password.
    sign_out(&browser).await;
    browser.goto(&local(&app, "/login?next=/devices")).await;
    browser.wait_for_text("Sign in with a passkey").await;
    browser.screenshot("login-passkey").await;
    browser.click_to_load("#passkey-sign-in button").await;
    browser.wait_for_text("Your devices").await;
    browser.goto(&local(&app, "/account")).await;
    let page = browser.wait_for_text("Passkeys").await;
    assert!(page.contains("with the passkey \"Laptop\""), "{page}");

    browser
        .click_to_load("button[aria-label='Remove the passkey Laptop']")
        .await;
    browser.wait_for_text("The passkey is removed").await;
    browser.wait_for_text("No passkey yet").await;
    // Removed here, the authenticator's credential signs in no more.
    sign_out(&browser).await;
    browser.goto(&local(&app, "/login")).await;
    browser.click("#passkey-sign-in button").await;
    browser.wait_for_text("could not be used").await;
    browser.close().await;
}

#[tokio::test]
async fn removing_the_account_takes_its_devices_and_an_operators_reset_link_sets_a_password() {
    let app = on_localhost().await;
    app.add_account("bob", "bob@example.org", PASSWORD).await;
    let bobs_tv = app
        .client("bob-tv")
        .sign_in("bob", PASSWORD)
        .await
        .expect("bob")
        .auth_token;

    // An operator's reset link for bob: his devices are signed out.
    let (_, token, _) = app
        .core
        .issue_password_reset("bob", false)
        .await
        .expect("a reset link");
    let browser = Browser::start().await;
    browser
        .goto(&local(&app, "/reset?token=not-the-token"))
        .await;
    browser.wait_for_text("This link does not work").await;
    browser
        .goto(&local(&app, &format!("/reset?token={token}")))
        .await;
    browser.wait_for_text("Set a new password").await;
    browser
        .fill("input[name=password]", "bob's new password")
        .await;
    browser
        .fill("input[name=again]", "bob's new password")
        .await;
    browser.screenshot("reset").await;
    browser.click_to_load("main button[type=submit]").await;
    browser.wait_for_text("Your password is set").await;
    assert_eq!(app.user(&bobs_tv).await.status(), 401);
    browser
        .goto(&local(&app, &format!("/reset?token={token}")))
        .await;
    browser.wait_for_text("This link does not work").await;
    browser
        .sign_in(&local(&app, ""), "bob", "bob's new password")
        .await;
    sign_out(&browser).await;

    // alice removes her own account.
    let alices_tv = app.sign_in("alice-tv").await;
    browser.sign_in_here(USERNAME, PASSWORD).await;
    browser.goto(&local(&app, "/account")).await;
    browser.wait_for_text("Remove the account").await;
    browser
        .fill(
            "form[action^='/account/delete'] input[name=password]",
            PASSWORD,
        )
        .await;
    browser
        .click("form[action^='/account/delete'] input[name=confirm]")
        .await;
    browser
        .click_to_load("form[action^='/account/delete'] button")
        .await;
    browser.wait_for_text("Your account is removed").await;
    assert_eq!(app.user(&alices_tv).await.status(), 401);
    assert!(app
        .client("phone")
        .sign_in(USERNAME, PASSWORD)
        .await
        .is_err());
    let accounts = app.core.accounts().await.expect("accounts");
    assert_eq!(accounts.len(), 1, "bob's account stays");
    browser.close().await;
}
