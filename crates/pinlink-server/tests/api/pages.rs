//! The web pages over plain HTTP: what a browser test cannot see easily
//! (headers, status codes, forged posts). The flows themselves run in a real
//! browser in `tests/browser`.

use reqwest::header::{HeaderMap, ACCEPT, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{Method, Response, StatusCode};

use crate::harness::{TestApp, PASSWORD, USERNAME};

/// A browser without a browser: keeps the cookies it is given and reads the
/// form token off each page.
struct WebSession<'a> {
    app: &'a TestApp,
    /// Redirects are looked at, not followed.
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
    csrf: String,
}

/// The `Set-Cookie` header that sets `name`.
fn set_cookie(headers: &HeaderMap, name: &str) -> String {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("text").to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie set"))
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

impl<'a> WebSession<'a> {
    fn new(app: &'a TestApp) -> Self {
        WebSession {
            app,
            http: no_redirects(),
            cookies: Vec::new(),
            csrf: String::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let text = value.to_str().expect("cookie text");
            let pair = text.split(';').next().expect("pair");
            let (name, value) = pair.split_once('=').expect("name=value");
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    async fn get(&mut self, path: &str) -> (StatusCode, HeaderMap, String) {
        let response = self
            .http
            .get(self.app.url(path))
            .header(ACCEPT, "text/html")
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .expect("get");
        self.keep_cookies(response.headers());
        let (headers, status) = (response.headers().clone(), response.status());
        let body = response.text().await.expect("body");
        if let Some(token) = body.split("name=\"csrf\" value=\"").nth(1) {
            self.csrf = token.split('"').next().unwrap_or_default().to_owned();
        }
        (status, headers, body)
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)], origin: Option<&str>) -> Response {
        let mut request = self
            .http
            .post(self.app.url(path))
            .header(ACCEPT, "text/html")
            .header(COOKIE, self.cookie_header())
            .form(form);
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        let response = request.send().await.expect("post");
        self.keep_cookies(response.headers());
        response
    }

    /// Opens the sign-in page and posts alice's password (and `next`).
    async fn post_login(&mut self, next: &str) -> Response {
        self.get("/login").await;
        let csrf = self.csrf.clone();
        let base = self.app.base.clone();
        let form = [
            ("csrf", csrf.as_str()),
            ("login", USERNAME),
            ("password", PASSWORD),
            ("next", next),
        ];
        self.post("/login", &form, Some(&base)).await
    }

    async fn sign_in(&mut self) {
        let response = self.post_login("/").await;
        assert_eq!(response.status(), 303, "signed in");
        assert!(self.cookies.iter().any(|(k, _)| k == "pinlink_session"));
    }
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let app = TestApp::spawn().await;
    let mut web = WebSession::new(&app);
    let (status, headers, body) = web.get("/login").await;
    assert_eq!(status, 200);
    assert!(body.contains("<form"));
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["cache-control"], "no-store");
    let form_cookie = set_cookie(&headers, "pinlink_form");
    assert!(form_cookie.contains("HttpOnly") && form_cookie.contains("SameSite=Strict"));
    // No inline script or style anywhere in a page.
    assert!(!body.contains("<script>") && !body.contains("style="));
}

#[tokio::test]
async fn session_cookie_is_http_only_and_lax() {
    let app = TestApp::spawn().await;
    let mut web = WebSession::new(&app);
    let response = web.post_login("/").await;
    let cookie = set_cookie(response.headers(), "pinlink_session");

    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http public URL: no Secure flag"
    );
}

#[tokio::test]
async fn a_post_without_the_form_token_is_refused_and_links_nothing() {
    let app = TestApp::spawn().await;
    let pin = app.create_pin("tv", false).await;
    let code = pin["code"].as_str().expect("code");
    let mut web = WebSession::new(&app);
    web.sign_in().await;

    let base = app.base.clone();
    let refused = web
        .post("/link/approve", &[("code", code)], Some(&base))
        .await;
    assert_eq!(refused.status(), 403);
    assert!(refused
        .text()
        .await
        .expect("body")
        .contains("This form has expired"));
    let wrong = web
        .post(
            "/link/approve",
            &[("code", code), ("csrf", "0000")],
            Some(&base),
        )
        .await;
    assert_eq!(wrong.status(), 403);
    // The right token from another site's page is refused too.
    let csrf = web.csrf.clone();
    let cross_site = web
        .post(
            "/link/approve",
            &[("code", code), ("csrf", &csrf)],
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(cross_site.status(), 403);
    let polled: serde_json::Value = app.poll(&pin["id"], "tv").await.json().await.expect("json");
    assert!(polled["authToken"].is_null(), "nothing was linked");

    // With the token, from this site, the same post links the pin.
    let ok = web
        .post(
            "/link/approve",
            &[("code", code), ("csrf", &csrf)],
            Some(&base),
        )
        .await;
    assert_eq!(ok.status(), 200);
    let polled: serde_json::Value = app.poll(&pin["id"], "tv").await.json().await.expect("json");
    assert!(polled["authToken"].is_string());
}

#[tokio::test]
async fn signing_in_returns_only_to_local_paths() {
    let app = TestApp::spawn().await;
    let mut web = WebSession::new(&app);
    let response = web.post_login("//evil.example/x").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[LOCATION], "/");
}

#[tokio::test]
async fn whitespace_control_and_non_ascii_in_next_never_leave_the_site() {
    let app = TestApp::spawn().await;
    // Browsers drop tabs and newlines from URLs: "/\t/evil.example" would
    // be "//evil.example", another site. A newline would also not fit in a
    // Location header (it used to give a 500 after the session was made).
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/x\ny",
        "/ /evil",
        "/caf\u{e9}",
    ] {
        let mut web = WebSession::new(&app);
        let response = web.post_login(next).await;
        assert_eq!(response.status(), 303, "{next:?}");
        assert_eq!(response.headers()[LOCATION], "/", "{next:?}");
    }
}

#[tokio::test]
async fn opening_approval_links_spends_no_budget() {
    let app = TestApp::spawn().await;
    let budget = app.core.settings().budgets.link_per_account;
    let mut web = WebSession::new(&app);
    web.sign_in().await;
    // Another site can send a signed-in browser to any /auth link, as often
    // as it likes: a short code is refused without a lookup, and strong
    // codes cannot be guessed, so none of this counts.
    for i in 0..(budget.max * 2) {
        let short = format!(
            "/auth?clientID=x&code=ZZZ{}",
            (b'A' + (i % 20) as u8) as char
        );
        let (status, _, _) = web.get(&short).await;
        assert_eq!(status, 400, "{short}");
        let strong = format!("/auth?clientID=x&code={:0>25}", i);
        let (status, _, _) = web.get(&strong).await;
        assert_eq!(status, 404, "{strong}");
    }
    let pin = app.create_pin("tv", false).await;
    let code = pin["code"].as_str().expect("code");
    web.get("/link").await;
    let (csrf, base) = (web.csrf.clone(), app.base.clone());
    let confirm = web
        .post("/link", &[("code", code), ("csrf", &csrf)], Some(&base))
        .await;
    assert_eq!(confirm.status(), 200, "the budget is untouched");
}

#[tokio::test]
async fn a_forward_url_cannot_write_into_the_security_policy() {
    let app = TestApp::spawn().await;
    let strong = app.create_pin("app", true).await;
    let code = strong["code"].as_str().expect("code");
    let mut web = WebSession::new(&app);
    web.sign_in().await;
    for forward in [
        "https://evil.example;script-src%20*",
        "https://evil.example%3Bscript-src",
        "https://user@evil.example/",
    ] {
        let (status, headers, _) = web
            .get(&format!(
                "/auth?clientID=app&code={code}&forwardUrl={forward}"
            ))
            .await;
        assert_eq!(status, 200);
        let policy = headers["content-security-policy"].to_str().expect("ascii");
        assert!(!policy.contains("evil"), "{forward}: {policy}");
    }
    let (_, headers, _) = web
        .get(&format!(
            "/auth?clientID=app&code={code}&forwardUrl=https://app.example:8443/done"
        ))
        .await;
    let policy = headers["content-security-policy"].to_str().expect("ascii");
    assert!(
        policy.contains("form-action 'self' https://app.example:8443;"),
        "{policy}"
    );
}

#[tokio::test]
async fn pages_that_need_an_account_send_to_sign_in() {
    let app = TestApp::spawn().await;
    let mut web = WebSession::new(&app);
    for (path, next) in [
        ("/link?pin=ABCD", "%2Flink%3Fpin%3DABCD"),
        ("/devices", "%2Fdevices"),
    ] {
        let response = no_redirects()
            .get(app.url(path))
            .header(ACCEPT, "text/html")
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(response.headers()[LOCATION], format!("/login?next={next}"));
    }
    // Signed in, /devices is the page; with a token it is still plex.tv's list.
    web.sign_in().await;
    let (status, _, body) = web.get("/devices").await;
    assert_eq!(status, 200);
    assert!(body.contains("Your devices"));
    let token = app.sign_in("api-client").await;
    let xml = app.get_text("/devices.xml", &token).await;
    assert!(
        xml.starts_with("<?xml") && xml.contains("<MediaContainer"),
        "{xml}"
    );
}

#[tokio::test]
async fn unknown_paths_get_an_html_page_in_a_browser_and_errors_elsewhere() {
    let app = TestApp::spawn().await;
    let page = app
        .request(Method::GET, "/no/such/page")
        .header(ACCEPT, "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("get");
    assert_eq!(page.status(), 404);
    assert!(page.headers()["content-type"]
        .to_str()
        .expect("ct")
        .starts_with("text/html"));
    assert!(page.text().await.expect("body").contains("Page not found"));
    let api = app
        .request(Method::GET, "/no/such/page")
        .header(ACCEPT, "application/json")
        .send()
        .await
        .expect("get");
    crate::harness::assert_json_error(api, 404, 1900).await;
}

#[tokio::test]
async fn signup_is_off_unless_opened() {
    let app = TestApp::spawn().await;
    let mut web = WebSession::new(&app);
    let (status, _, _) = web.get("/signup").await;
    assert_eq!(status, 404);

    let mut config = pinlink_server::Config::for_test();
    config.open_signup = true;
    let open = TestApp::spawn_with(config).await;
    let mut web = WebSession::new(&open);
    let (status, _, body) = web.get("/signup").await;
    assert_eq!(status, 200, "{body}");
    let csrf = web.csrf.clone();
    let response = web
        .post(
            "/signup",
            &[
                ("csrf", &csrf),
                ("username", "dora"),
                ("email", "dora@example.org"),
                ("password", PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(response.status(), 303);
    assert!(web.cookies.iter().any(|(k, _)| k == "pinlink_session"));
    let (_, _, home) = web.get("/").await;
    assert!(home.contains("Hello, dora"), "{home}");
}

#[tokio::test]
async fn the_session_cookie_is_secure_behind_an_https_public_url() {
    let mut config = pinlink_server::Config::for_test();
    config.public_url = Some("https://link.example".into());
    let app = TestApp::spawn_with(config).await;
    app.add_account(USERNAME, crate::harness::EMAIL, PASSWORD)
        .await;
    let mut web = WebSession::new(&app);
    let (_, headers, _) = web.get("/login").await;
    assert!(set_cookie(&headers, "pinlink_form").contains("Secure"));
    let response = web.post_login("/").await;
    assert_eq!(response.status(), 303);
    assert!(set_cookie(response.headers(), "pinlink_session").contains("Secure"));
}

#[tokio::test]
async fn the_sign_in_page_locks_out_like_the_api() {
    let app = TestApp::spawn().await;
    let budget = app.core.settings().budgets.sign_in_per_account_and_address;
    let mut web = WebSession::new(&app);
    let base = app.base.clone();
    // The same budget as the API's sign-in.
    for attempt in 0..=budget.max {
        web.get("/login").await;
        let csrf = web.csrf.clone();
        let form = [
            ("csrf", csrf.as_str()),
            ("login", USERNAME),
            ("password", "not it at all"),
        ];
        let response = web.post("/login", &form, Some(&base)).await;
        assert_eq!(response.status(), 401);
        let page = response.text().await.expect("page");
        let expected = if attempt < budget.max {
            "Wrong username or password."
        } else {
            "Too many failed sign-ins. Try again in 15 minutes."
        };
        assert!(page.contains(expected), "attempt {attempt}: {page}");
    }
    let response = web.post_login("/").await;
    assert_eq!(response.status(), 401, "even the right password waits now");
}

#[tokio::test]
async fn signing_out_ends_the_browser_session() {
    let app = TestApp::spawn().await;
    let mut web = WebSession::new(&app);
    web.sign_in().await;
    let (status, _, home) = web.get("/").await;
    assert_eq!(status, 200);
    assert!(home.contains("Hello, alice"));
    let session = web
        .cookies
        .iter()
        .find(|(k, _)| k == "pinlink_session")
        .map(|(_, v)| v.clone())
        .expect("session cookie");

    let csrf = web.csrf.clone();
    let base = app.base.clone();
    let response = web.post("/logout", &[("csrf", &csrf)], Some(&base)).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[LOCATION], "/login");
    assert!(!web.cookies.iter().any(|(k, _)| k == "pinlink_session"));
    // The browser's token is dead, not just forgotten by the browser.
    let (token, _seal) = session.rsplit_once('.').expect("a sealed cookie");
    assert_eq!(app.user(token).await.status(), 401);
    let (status, headers, _) = web.get("/").await;
    assert_eq!(status, 303);
    assert_eq!(headers[LOCATION], "/login");
    // A browser that still sends the dead token is told to drop it.
    web.cookies.push(("pinlink_session".into(), session));
    let (status, headers, _) = web.get("/").await;
    assert_eq!(status, 303);
    assert!(set_cookie(&headers, "pinlink_session").contains("Max-Age=0"));
    assert!(!web.cookies.iter().any(|(k, _)| k == "pinlink_session"));
}

#[tokio::test]
async fn a_devices_token_is_no_page_session() {
    // An app linked by a pin holds a token of the account; set as the
    // session cookie it must not reach the account page (where it could
    // turn two-step on or add a passkey), sealed or not.
    let app = TestApp::spawn().await;
    let device_token = app.sign_in("an-app").await;
    assert_eq!(app.user(&device_token).await.status(), 200);
    let mut browser = WebSession::new(&app);
    browser.sign_in().await;
    let sealed = browser
        .cookies
        .iter()
        .find(|(k, _)| k == "pinlink_session")
        .map(|(_, v)| v.clone())
        .expect("session cookie");
    let (_, seal) = sealed.rsplit_once('.').expect("sealed");
    for cookie in [
        device_token.clone(),
        format!("{device_token}.{seal}"),
        format!("{device_token}."),
    ] {
        let mut web = WebSession::new(&app);
        web.cookies.push(("pinlink_session".into(), cookie.clone()));
        let (status, headers, _) = web.get("/account").await;
        assert_eq!(status, 303, "{cookie}");
        assert!(
            headers[LOCATION]
                .to_str()
                .expect("location")
                .starts_with("/login"),
            "{cookie}"
        );
        let (status, headers, _) = web.get("/").await;
        assert_eq!(status, 303, "{cookie}");
        assert!(set_cookie(&headers, "pinlink_session").contains("Max-Age=0"));
    }
    // The page's own session still opens it.
    let (status, _, page) = browser.get("/account").await;
    assert_eq!(status, 200);
    assert!(page.contains("alice"));
}
