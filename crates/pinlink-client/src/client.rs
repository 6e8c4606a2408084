//! [`Client`]: the device side (create a pin, wait for its token) and the
//! account side (sign in, link a code, list and revoke devices).

use std::time::{Duration, Instant};

use reqwest::{header, Method, RequestBuilder, Response, StatusCode};

use crate::error::Error;
use crate::identity::Identity;
use crate::jwt::{DeviceKey, PlexJwtClaims};
use crate::wire::{self, Body, Device, Pin, User};

/// plex.tv itself, the default server.
pub const PLEX_TV: &str = "https://plex.tv";
/// Where plex.tv serves its JWT login (`/api/v2/auth/*` and JWT pins).
pub const CLIENTS_PLEX_TV: &str = "https://clients.plex.tv";

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    identity: Identity,
}

/// How [`Client::wait_for_token`] polls.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    /// Between polls while the pin is pending (plex.tv asks for one second).
    pub interval: Duration,
    /// The longest back-off after 429/5xx/network errors without `Retry-After`.
    pub max_backoff: Duration,
}

impl Default for Wait {
    fn default() -> Self {
        Wait {
            interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// Where a wait stands, reported before every poll.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Until the pin expires.
    pub seconds_left: u64,
    /// Polls sent so far.
    pub polls: u32,
    /// The last transient error, if the last poll failed.
    pub last_error: Option<String>,
}

impl Client {
    /// A client for plex.tv.
    pub fn new(identity: Identity) -> Client {
        Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .user_agent(concat!("pinlink-client/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
            base_url: PLEX_TV.to_owned(),
            identity,
        }
    }

    /// Talk to another server (a pinlink instance) instead of plex.tv.
    pub fn with_base_url(mut self, base_url: &str) -> Result<Client, Error> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let parsed = reqwest::Url::parse(trimmed)
            .map_err(|e| Error::Config(format!("bad server URL {trimmed:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "the server URL must be http(s), not {trimmed:?}"
            )));
        }
        self.base_url = trimmed.to_owned();
        Ok(self)
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
    fn is_plex_tv(&self) -> bool {
        self.base_url == PLEX_TV
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        self.request_to(&self.base_url, method, path, token)
    }

    /// plex.tv serves its JWT login on another host; a pinlink server on its one.
    fn auth_request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let base = if self.is_plex_tv() {
            CLIENTS_PLEX_TV
        } else {
            &self.base_url
        };
        self.request_to(base, method, path, token)
    }

    fn request_to(
        &self,
        base: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{base}{path}"))
            .header(header::ACCEPT, "application/json");
        for (name, value) in self.identity.headers() {
            request = request.header(name, value);
        }
        if let Some(token) = token {
            request = request.header("X-Plex-Token", token);
        }
        request
    }

    /// Sends, and turns a non-2xx answer into a typed error.
    async fn send(&self, request: RequestBuilder) -> Result<Body, Error> {
        let response: Response = request.send().await?;
        let status = response.status();
        let retry_after = wire::retry_after(response.headers());
        let json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        let body = Body {
            text: response.text().await?,
            json,
        };
        if status.is_success() {
            return Ok(body);
        }
        let (code, message) = wire::parse_error(&body);
        Err(match status {
            StatusCode::NOT_FOUND => Error::NotFound { code, message },
            StatusCode::UNAUTHORIZED => Error::Unauthorized { code, message },
            // Older plex.tv answers a revoked token with 422 "Invalid token".
            StatusCode::UNPROCESSABLE_ENTITY if message.contains("Invalid token") => {
                Error::Unauthorized { code, message }
            }
            StatusCode::TOO_MANY_REQUESTS => Error::RateLimited { retry_after },
            s if s.as_u16() == 498 => Error::TokenExpired { message },
            s if s.is_server_error() => Error::Server {
                status: s.as_u16(),
                message,
                retry_after,
            },
            s => Error::Rejected {
                status: s.as_u16(),
                code,
                message,
            },
        })
    }

    // ---------------------------------------------------------- device side

    /// Asks for a pin: a 4-character code to type at the link page, or with
    /// `strong` a 25-character one for the approval URL.
    pub async fn create_pin(&self, strong: bool) -> Result<Pin, Error> {
        let path = if strong {
            "/api/v2/pins?strong=true"
        } else {
            "/api/v2/pins"
        };
        let body = self.send(self.request(Method::POST, path, None)).await?;
        wire::parse_pin(&body)
    }

    /// The pin as it stands now; `auth_token` is set once it was approved.
    pub async fn poll(&self, pin: &Pin) -> Result<Pin, Error> {
        self.poll_id(pin.id).await
    }

    /// The pin with this id, for a device that kept only the id (across a
    /// restart, say). It must be the client identifier that asked for it.
    pub async fn poll_id(&self, id: u32) -> Result<Pin, Error> {
        let body = self
            .send(self.request(Method::GET, &format!("/api/v2/pins/{id}"), None))
            .await?;
        wire::parse_pin(&body)
    }

    /// Polls until the pin is approved and returns its token. Stops with
    /// [`Error::PinExpired`] when the pin runs out; backs off on 429, 5xx and
    /// network errors (honouring `Retry-After`). `progress` is called before
    /// every poll. Cancel by dropping the future.
    pub async fn wait_for_token(
        &self,
        pin: &Pin,
        wait: Wait,
        progress: impl FnMut(&Progress),
    ) -> Result<String, Error> {
        self.wait_polling(pin, None, wait, progress).await
    }

    /// [`Client::wait_for_token`] for a JWT pin ([`Client::create_jwt_pin`]):
    /// every poll carries a device JWT signed with `key` (renewed, with a
    /// fresh nonce, before it runs out); returns the Plex JWT.
    pub async fn wait_for_jwt(
        &self,
        pin: &Pin,
        key: &DeviceKey,
        wait: Wait,
        progress: impl FnMut(&Progress),
    ) -> Result<String, Error> {
        self.wait_polling(pin, Some(key), wait, progress).await
    }

    async fn wait_polling(
        &self,
        pin: &Pin,
        key: Option<&DeviceKey>,
        wait: Wait,
        mut progress: impl FnMut(&Progress),
    ) -> Result<String, Error> {
        // A device JWT lives five minutes: make a new one after four.
        let mut device_jwt: Option<(String, Instant)> = None;
        // A local deadline: immune to a skewed clock on either side.
        let deadline = Instant::now() + Duration::from_secs(pin.expires_in.max(0).unsigned_abs());
        let mut backoff = wait.interval;
        let mut state = Progress {
            seconds_left: 0,
            polls: 0,
            last_error: None,
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::PinExpired);
            }
            state.seconds_left = left.as_secs();
            progress(&state);
            state.polls += 1;
            if let Some(key) = key {
                if device_jwt
                    .as_ref()
                    .is_none_or(|(_, made)| made.elapsed() > Duration::from_secs(240))
                {
                    let nonce = self.jwt_nonce().await?;
                    let jwt = key.device_jwt(
                        self.identity.client_identifier(),
                        &nonce,
                        crate::jwt::DEFAULT_SCOPES,
                    );
                    device_jwt = Some((jwt, Instant::now()));
                }
            }
            let polled = match &device_jwt {
                Some((jwt, _)) => self.poll_with_device_jwt(pin.id, jwt).await,
                None => self.poll(pin).await,
            };
            let delay = match polled {
                Ok(polled) => {
                    if let Some(token) = polled.auth_token {
                        return Ok(token);
                    }
                    state.last_error = None;
                    backoff = wait.interval;
                    wait.interval
                }
                // Gone before the deadline: expired by the server's clock, or
                // denied. Either way it will never carry a token.
                Err(Error::NotFound { .. }) => return Err(Error::PinExpired),
                Err(e) if e.is_transient() => {
                    let told = match &e {
                        Error::RateLimited { retry_after } | Error::Server { retry_after, .. } => {
                            *retry_after
                        }
                        _ => None,
                    };
                    state.last_error = Some(e.to_string());
                    backoff = (backoff * 2).min(wait.max_backoff);
                    told.unwrap_or(backoff)
                }
                Err(e) => return Err(e),
            };
            tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    // ------------------------------------------------------ the JWT login

    /// A JWT pin: like [`Client::create_pin`], with the device's public key,
    /// so that once approved it hands out a Plex JWT
    /// ([`Client::wait_for_jwt`]).
    pub async fn create_jwt_pin(&self, key: &DeviceKey, strong: bool) -> Result<Pin, Error> {
        let mut body = serde_json::json!({ "jwk": key.jwk() });
        if strong {
            body["strong"] = true.into();
        }
        let request = self
            .auth_request(Method::POST, "/api/v2/pins", None)
            .json(&body);
        wire::parse_pin(&self.send(request).await?)
    }

    async fn poll_with_device_jwt(&self, id: u32, device_jwt: &str) -> Result<Pin, Error> {
        let request = self
            .auth_request(Method::GET, &format!("/api/v2/pins/{id}"), None)
            .query(&[("deviceJWT", device_jwt)]);
        wire::parse_pin(&self.send(request).await?)
    }

    /// A nonce for the next device JWT (valid five minutes).
    pub async fn jwt_nonce(&self) -> Result<String, Error> {
        let body = self
            .send(self.auth_request(Method::GET, "/api/v2/auth/nonce", None))
            .await?;
        json_field(&body, "nonce")
    }

    /// Registers the device's key with an account token of this device (a
    /// legacy token from a PIN login or a sign-in).
    pub async fn register_key(&self, token: &str, key: &DeviceKey) -> Result<(), Error> {
        let request = self
            .auth_request(Method::POST, "/api/v2/auth/jwk", Some(token))
            .json(&serde_json::json!({ "jwk": key.jwk() }));
        self.send(request).await.map(|_| ())
    }

    /// The server's public keys for Plex JWTs.
    pub async fn jwt_keys(&self) -> Result<Vec<serde_json::Value>, Error> {
        let body = self
            .send(self.auth_request(Method::GET, "/api/v2/auth/keys", None))
            .await?;
        let value: serde_json::Value = serde_json::from_str(&body.text)
            .map_err(|e| Error::Unexpected(format!("the keys are not JSON: {e}")))?;
        value["keys"]
            .as_array()
            .cloned()
            .ok_or_else(|| Error::Unexpected("no keys in the answer".into()))
    }

    /// Checks a Plex JWT against the server's published keys, for this
    /// client and `key` ([`crate::jwt::verify_plex_jwt`]).
    pub async fn verify_jwt(&self, jwt: &str, key: &DeviceKey) -> Result<PlexJwtClaims, Error> {
        let keys = self.jwt_keys().await?;
        crate::jwt::verify_plex_jwt(jwt, &keys, self.identity.client_identifier(), &key.kid())
    }

    /// A new Plex JWT for a device whose key the server knows (registered,
    /// or bound by a JWT pin): a nonce, a device JWT, the exchange, and a
    /// check of what came back. Works after the old JWT expired.
    pub async fn refresh_jwt(&self, key: &DeviceKey) -> Result<String, Error> {
        let nonce = self.jwt_nonce().await?;
        let device_jwt = key.device_jwt(
            self.identity.client_identifier(),
            &nonce,
            crate::jwt::DEFAULT_SCOPES,
        );
        let request = self
            .auth_request(Method::POST, "/api/v2/auth/token", None)
            .json(&serde_json::json!({ "jwt": device_jwt }));
        let jwt = json_field(&self.send(request).await?, "auth_token")?;
        self.verify_jwt(&jwt, key).await?;
        Ok(jwt)
    }

    /// Where a person types a 4-character code, prefilled.
    pub fn link_url(&self, pin: &Pin) -> String {
        if self.is_plex_tv() {
            format!("https://plex.tv/link/?pin={}", pin.code)
        } else {
            format!("{}/link?pin={}", self.base_url, pin.code)
        }
    }

    /// The approval URL for a strong pin, in plex.tv's fragment form
    /// (`…/auth#?clientID=…&code=…&context[device][product]=…`): the Plex app
    /// for plex.tv, `/auth` on a pinlink server. After approval the browser
    /// goes to `forward_url`, if given.
    pub fn auth_url(&self, pin: &Pin, forward_url: Option<&str>) -> String {
        let base = if self.is_plex_tv() {
            "https://app.plex.tv/auth".to_owned()
        } else {
            format!("{}/auth", self.base_url)
        };
        let mut params = vec![
            ("clientID", self.identity.client_identifier()),
            ("code", pin.code.as_str()),
        ];
        params.extend(self.identity.auth_context());
        if let Some(forward) = forward_url {
            params.push(("forwardUrl", forward));
        }
        format!(
            "{base}#?{}",
            serde_urlencoded::to_string(params).unwrap_or_default()
        )
    }

    // --------------------------------------------------------- account side

    /// Signs in; the returned user carries a new token for this device.
    pub async fn sign_in(&self, login: &str, password: &str) -> Result<User, Error> {
        let request = self
            .request(Method::POST, "/api/v2/users/signin", None)
            .form(&[
                ("login", login),
                ("password", password),
                ("rememberMe", "true"),
            ]);
        wire::parse_user(&self.send(request).await?)
    }

    /// The account a token belongs to; [`Error::Unauthorized`] when the token
    /// is not (or no longer) valid.
    pub async fn user(&self, token: &str) -> Result<User, Error> {
        wire::parse_user(
            &self
                .send(self.request(Method::GET, "/api/v2/user", Some(token)))
                .await?,
        )
    }

    /// Approves the pin with this code for the token's account (what a
    /// person does at the link page).
    pub async fn link(&self, token: &str, code: &str) -> Result<(), Error> {
        let request = self
            .request(Method::PUT, "/api/v2/pins/link", Some(token))
            .form(&[("code", code)]);
        self.send(request).await.map(|_| ())
    }

    /// The account's devices (`/devices.xml`, which plex.tv serves as XML only).
    pub async fn devices(&self, token: &str) -> Result<Vec<Device>, Error> {
        wire::parse_devices(
            &self
                .send(self.request(Method::GET, "/devices.xml", Some(token)))
                .await?,
        )
    }

    /// Revokes one of the account's devices: its token stops working.
    pub async fn revoke(&self, token: &str, device_id: i64) -> Result<(), Error> {
        let path = format!("/devices/{device_id}.xml");
        self.send(self.request(Method::DELETE, &path, Some(token)))
            .await
            .map(|_| ())
    }

    /// Ends the token's session: it stops working.
    pub async fn sign_out(&self, token: &str) -> Result<(), Error> {
        self.send(self.request(Method::DELETE, "/api/v2/users/signout", Some(token)))
            .await
            .map(|_| ())
    }
}

/// A string field of a JSON answer.
fn json_field(body: &Body, name: &str) -> Result<String, Error> {
    serde_json::from_str::<serde_json::Value>(&body.text)
        .ok()
        .and_then(|v| v[name].as_str().map(str::to_owned))
        .ok_or_else(|| Error::Unexpected(format!("no {name} in the answer")))
}
