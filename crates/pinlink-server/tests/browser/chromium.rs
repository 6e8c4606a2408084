//! A real headless Chromium, driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`; `.ci/run` installs them). Each test gets its own
//! ChromeDriver, browser and empty profile.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Browser {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(program).exists(),
                "{program} is missing: install Debian's chromium and chromium-driver (scripts/test does)"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1000,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let builder = ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await;
            match builder {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot start a Chromium session: {e}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigates");
    }

    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current url")
            .to_string()
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clears");
        field.send_keys(text).await.expect("types");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("clicks");
    }

    /// Clicks something that loads a new page (a form's button, a link) and
    /// waits until the new page has loaded, so that nothing is read from the
    /// old one.
    pub async fn click_to_load(&self, css: &str) {
        self.client
            .execute("window.__pinlinkOldPage = true; return null;", vec![])
            .await
            .expect("marks the page");
        self.click(css).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let loaded = self
                .client
                .execute(
                    "return window.__pinlinkOldPage === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await;
            // An error means the old page is going away: keep waiting.
            if matches!(loaded, Ok(serde_json::Value::Bool(true))) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "clicking {css} loaded no new page"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The page's visible text ("" while a page is being replaced).
    pub async fn text(&self) -> String {
        match self
            .client
            .execute(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await
        {
            Ok(serde_json::Value::String(text)) => text,
            _ => String::new(),
        }
    }

    /// Waits until the page's text contains `needle`, and returns the text.
    pub async fn wait_for_text(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.text().await;
            if text.contains(needle) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("the page never said {needle:?}; it says:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn sign_in(&self, base: &str, username: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.sign_in_here(username, password).await;
    }

    /// Fills in the sign-in form the browser is looking at.
    pub async fn sign_in_here(&self, username: &str, password: &str) {
        self.fill("input[name=login]", username).await;
        self.fill("input[name=password]", password).await;
        self.click_to_load("main button[type=submit]").await;
        assert!(
            self.client
                .find(Locator::Css("input[name=password]"))
                .await
                .is_err(),
            "still on the sign-in page:\n{}",
            self.text().await
        );
    }

    /// Saves a screenshot as `target/screenshots/{name}.png` for a person to
    /// look at (the committed set lives in docs/screenshots/).
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }

    /// The whole of a long page, in a window tall enough for it.
    pub async fn tall_screenshot(&self, name: &str) {
        let (width, height) = self.client.get_window_size().await.expect("size");
        let tall = self
            .client
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .ok()
            .and_then(|h| h.as_u64())
            .unwrap_or(height)
            .clamp(height, 4000);
        self.client
            .set_window_size(width as u32, tall as u32 + 120)
            .await
            .expect("resize");
        self.screenshot(name).await;
        self.client
            .set_window_size(width as u32, height as u32)
            .await
            .expect("resize back");
    }

    /// The same page on a phone-sized screen.
    pub async fn phone_screenshot(&self, name: &str) {
        let (width, height) = self.client.get_window_size().await.expect("size");
        self.client.set_window_size(390, 844).await.expect("resize");
        self.screenshot(name).await;
        self.client
            .set_window_size(width as u32, height as u32)
            .await
            .expect("resize back");
    }

    /// A virtual authenticator (WebDriver's WebAuthn extension): a
    /// platform authenticator that keeps discoverable credentials, verifies
    /// its user and consents by itself, as a phone's or laptop's would.
    /// Returns its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let id = self
            .client
            .issue_cmd(SessionCommand {
                method: http::Method::POST,
                path: "webauthn/authenticator".into(),
                body: Some(json!({
                    "protocol": "ctap2", "transport": "internal",
                    "hasResidentKey": true, "hasUserVerification": true,
                    "isUserConsenting": true, "isUserVerified": true,
                })),
            })
            .await
            .expect("a virtual authenticator");
        id.as_str().expect("its id").to_owned()
    }

    /// The credentials the virtual authenticator `id` holds.
    pub async fn authenticator_credentials(&self, id: &str) -> Vec<serde_json::Value> {
        let credentials = self
            .client
            .issue_cmd(SessionCommand {
                method: http::Method::GET,
                path: format!("webauthn/authenticator/{id}/credentials"),
                body: None,
            })
            .await
            .expect("credentials");
        credentials.as_array().cloned().unwrap_or_default()
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A WebDriver command on the session that fantoccini has no method for.
#[derive(Debug)]
struct SessionCommand {
    method: http::Method,
    path: String,
    body: Option<serde_json::Value>,
}

impl fantoccini::wd::WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/{}",
            session.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(serde_json::Value::to_string),
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("screenshots")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
