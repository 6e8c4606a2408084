//! What pinlink's integration tests share (one crate, rather than a file
//! every test binary includes): [`TestApp`], a real pinlink server on a
//! random port with a fresh database and a fake clock for one test, and
//! small helpers to talk to it and check plex.tv's error shapes.

use std::path::Path;
use std::sync::Arc;

use pinlink_core::{FakeClock, ServerKey, UnixTime};
use pinlink_server::{App, Config};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const USERNAME: &str = "alice";
pub const EMAIL: &str = "alice@example.org";
pub const PASSWORD: &str = "correct horse battery";
/// 2027-01-15 08:00:00 UTC: a fixed start so times are predictable.
pub const START: i64 = 1_800_000_000;

pub struct TestApp {
    pub base: String,
    pub clock: FakeClock,
    pub http: reqwest::Client,
    pub core: Arc<pinlink_core::Pinlink>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// A server on an in-memory database with one account, alice.
    pub async fn spawn() -> TestApp {
        let app = TestApp::spawn_with(Config::for_test()).await;
        app.add_account(USERNAME, EMAIL, PASSWORD).await;
        app
    }

    pub async fn spawn_with(config: Config) -> TestApp {
        let clock = FakeClock::new(UnixTime(START));
        let app = App::build(config, Arc::new(clock.clone()))
            .await
            .expect("server builds");
        let base = format!("http://{}", app.local_addr());
        let core = app.core();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        TestApp {
            base,
            clock,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
            core,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// A server on an SQLite file in `dir` with a fixed key, for restart tests.
    pub fn file_config(dir: &Path, key: &ServerKey) -> Config {
        let mut config = Config::for_test();
        config.database_url = format!("sqlite://{}", dir.join("pinlink.db").display());
        config.key = key.clone();
        config
    }

    pub async fn add_account(&self, username: &str, email: &str, password: &str) {
        self.core
            .add_account(username, email, password.into())
            .await
            .expect("account created");
    }

    /// Stops the server gracefully and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// `POST /api/v2/pins` asking for JSON.
    pub async fn create_pin(&self, client_id: &str, strong: bool) -> Value {
        let response = self
            .request(Method::POST, &format!("/api/v2/pins?strong={strong}"))
            .header("Accept", "application/json")
            .header("X-Plex-Product", "Test Player")
            .header("X-Plex-Client-Identifier", client_id)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("json pin")
    }

    pub async fn poll(&self, id: &Value, client_id: &str) -> Response {
        self.request(Method::GET, &format!("/api/v2/pins/{id}"))
            .header("Accept", "application/json")
            .header("X-Plex-Client-Identifier", client_id)
            .send()
            .await
            .expect("request")
    }

    /// The Rust client library, as the device or browser `client_id` (for
    /// tests that play a device or an account rather than check the wire).
    pub fn client(&self, client_id: &str) -> pinlink_client::Client {
        let identity = pinlink_client::Identity::new("Test Player")
            .and_then(|identity| identity.with_client_identifier(client_id))
            .expect("identity");
        pinlink_client::Client::new(identity)
            .with_base_url(&self.base)
            .expect("base URL")
    }

    /// Signs alice in from `client_id` (with the client library); returns
    /// the token.
    pub async fn sign_in(&self, client_id: &str) -> String {
        self.client(client_id)
            .sign_in(USERNAME, PASSWORD)
            .await
            .expect("alice signs in")
            .auth_token
    }

    pub async fn link(&self, token: &str, code: &str) -> Response {
        self.request(Method::PUT, "/api/v2/pins/link")
            .header("Accept", "application/json")
            .header("X-Plex-Token", token)
            .header("X-Plex-Client-Identifier", "linker")
            .header("X-Plex-Product", "Plex SSO")
            .form(&[("code", code)])
            .send()
            .await
            .expect("request")
    }

    /// `GET path` with a token and no Accept header (XML); the body.
    pub async fn get_text(&self, path: &str, token: &str) -> String {
        let response = self
            .request(Method::GET, path)
            .header("X-Plex-Token", token)
            .go()
            .await;
        response.text().await.expect("body")
    }

    /// `GET path` with a token, parsed as JSON (for paths whose `.json`
    /// suffix asks for it).
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        self.request(Method::GET, path)
            .header("X-Plex-Token", token)
            .json_value()
            .await
    }

    /// Polls a linked pin (with the client library, as the device) and
    /// returns the device token it carries.
    pub async fn device_token(&self, id: &Value, client_id: &str) -> String {
        let device = self.client(client_id);
        let id = u32::try_from(id.as_u64().expect("numeric pin id")).expect("u32 pin id");
        let polled = device.poll_id(id).await.expect("the device polls");
        polled.auth_token.expect("token after linking")
    }

    /// `POST /api/v2/auth/jwk`: registers `jwk` with `token`, as `client`.
    pub async fn register_jwk(&self, token: &str, client: &str, jwk: Value) -> Response {
        self.request(Method::POST, "/api/v2/auth/jwk")
            .header("Accept", "application/json")
            .header("X-Plex-Token", token)
            .header("X-Plex-Client-Identifier", client)
            .json(&serde_json::json!({ "jwk": jwk }))
            .go()
            .await
    }

    /// `GET /api/v2/auth/nonce` as `client`; the nonce.
    pub async fn jwt_nonce(&self, client: &str) -> String {
        let answer: Value = self
            .request(Method::GET, "/api/v2/auth/nonce")
            .header("Accept", "application/json")
            .header("X-Plex-Client-Identifier", client)
            .json_value()
            .await;
        answer["nonce"].as_str().expect("nonce").to_owned()
    }

    /// `POST /api/v2/auth/token` with a device JWT, as `client`.
    pub async fn exchange_jwt(&self, client: &str, jwt: &str) -> Response {
        self.request(Method::POST, "/api/v2/auth/token")
            .header("Accept", "application/json")
            .header("X-Plex-Client-Identifier", client)
            .json(&serde_json::json!({ "jwt": jwt }))
            .go()
            .await
    }

    /// Registers an application for the device grant (RFC 8628); its
    /// `client_id` and, if confidential, its secret.
    pub async fn register_application(
        &self,
        name: &str,
        confidential: bool,
    ) -> (String, Option<String>) {
        self.register_application_with(name, confidential, Default::default())
            .await
    }

    /// [`Self::register_application`] with its access-token lifetime and ID
    /// token algorithm.
    pub async fn register_application_with(
        &self,
        name: &str,
        confidential: bool,
        settings: pinlink_core::ApplicationSettings,
    ) -> (String, Option<String>) {
        let (application, secret) = self
            .core
            .add_application(name, confidential, settings)
            .await
            .expect("application registered");
        (application.id.as_str().to_owned(), secret)
    }

    /// `POST /oauth/device_authorization` as the public client `client_id`
    /// (with `extra` form fields); the 200 answer's JSON.
    pub async fn device_authorization(&self, client_id: &str, extra: &[(&str, &str)]) -> Value {
        let mut form = vec![("client_id", client_id)];
        form.extend_from_slice(extra);
        let response = self
            .request(Method::POST, "/oauth/device_authorization")
            .form(&form)
            .go()
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    /// `POST /oauth/token` with the device code grant as the public client
    /// `client_id`, plus `extra` form fields.
    pub async fn token_request(
        &self,
        client_id: &str,
        device_code: &str,
        extra: &[(&str, &str)],
    ) -> Response {
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client_id),
            ("device_code", device_code),
        ];
        form.extend_from_slice(extra);
        self.request(Method::POST, "/oauth/token")
            .form(&form)
            .go()
            .await
    }

    pub async fn user(&self, token: &str) -> Response {
        self.request(Method::GET, "/api/v2/user")
            .header("Accept", "application/json")
            .header("X-Plex-Token", token)
            .send()
            .await
            .expect("request")
    }
}

/// Sending a request in a test: any transport failure fails the test.
pub trait SendExt {
    fn go(self) -> impl std::future::Future<Output = Response> + Send;
    /// Sends and parses the answer as JSON.
    fn json_value(self) -> impl std::future::Future<Output = Value> + Send;
}

impl SendExt for RequestBuilder {
    async fn go(self) -> Response {
        self.send().await.expect("send")
    }
    async fn json_value(self) -> Value {
        self.go().await.json().await.expect("json")
    }
}

/// Asserts a plex.tv JSON error body with this code and status.
pub async fn assert_json_error(response: Response, status: u16, code: i64) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type}"
    );
    let body: Value = response.json().await.expect("json error body");
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    assert_eq!(body["errors"][0]["status"], status, "{body}");
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    body
}

/// Asserts a plex.tv XML error body with this code and status.
pub async fn assert_xml_error(response: Response, status: u16, code: i64) -> String {
    assert_eq!(response.status().as_u16(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("application/xml"),
        "content-type {content_type}"
    );
    let body = response.text().await.expect("body");
    assert!(
        body.contains(&format!("<errors><error code=\"{code}\""))
            && body.contains(&format!("status=\"{status}\"")),
        "{body}"
    );
    body
}

/// The value of attribute `name` on the first element in `xml`.
pub fn xml_attr(xml: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = xml.find(&needle)? + needle.len();
    let end = xml[start..].find('"')? + start;
    Some(xml[start..end].to_owned())
}

/// The text in a QR code image, as a phone's camera reads it.
pub fn read_qr_code(png_bytes: &[u8]) -> String {
    let mut decoder = png::Decoder::new(png_bytes);
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).expect("a frame");
    let channels = frame.color_type.samples();
    let (width, height) = (frame.width as usize, frame.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        pixels[(y * width + x) * channels]
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    let (_, content) = grids[0].decode().expect("the QR code decodes");
    content
}

/// A device of plex.tv's JWT login: its own Ed25519 key pair, the JWK it
/// registers, and device JWTs signed with it (built here by hand, so the
/// tests do not lean on the server's own JWT code).
pub struct JwtDevice {
    key: ed25519_dalek::SigningKey,
    kid: String,
    client: String,
}

impl JwtDevice {
    /// A key made from `seed`, for the client identifier `client`.
    pub fn new(seed: u8, client: &str) -> JwtDevice {
        JwtDevice {
            key: ed25519_dalek::SigningKey::from_bytes(&[seed; 32]),
            kid: format!("kid-{seed}-{client}"),
            client: client.to_owned(),
        }
    }

    /// The same key pair under another `kid` (an impostor's claim).
    pub fn with_kid(mut self, kid: &str) -> JwtDevice {
        self.kid = kid.to_owned();
        self
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn client(&self) -> &str {
        &self.client
    }

    /// The public JWK, as clients send it to `/api/v2/auth/jwk`.
    pub fn jwk(&self) -> Value {
        use base64::Engine as _;
        serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
            "x": base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(self.key.verifying_key().as_bytes()),
            "kid": self.kid,
        })
    }

    /// A device JWT over `claims`, signed with this device's key.
    pub fn sign(&self, claims: Value) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        use ed25519_dalek::Signer as _;
        let header = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": self.kid}))
                .unwrap_or_default(),
        );
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signed = format!("{header}.{body}");
        let signature = URL_SAFE_NO_PAD.encode(self.key.sign(signed.as_bytes()).to_bytes());
        format!("{signed}.{signature}")
    }

    /// The claims clients send: this client as issuer, `plex.tv` as
    /// audience, five minutes, `nonce`.
    pub fn claims(&self, now: UnixTime, nonce: &str) -> Value {
        serde_json::json!({
            "iss": self.client, "aud": "plex.tv", "iat": now.0, "exp": now.0 + 300,
            "nonce": nonce, "scope": "username,email",
        })
    }
}
