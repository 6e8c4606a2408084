//! The parts of the OpenAPI 3.1 document that no handler carries: the
//! document's head ([`ApiDoc`]), the security schemes, the `X-Plex-*`
//! headers, and the schemas of bodies written by hand for plex.tv's shapes.
//! The operations come from the handlers' own `#[utoipa::path]`s, gathered
//! where the routes are registered (`routes/documented.rs`).
//!
//! What the wire types cannot say about themselves is here: the schemas of
//! bodies written by hand for plex.tv's shapes, the `X-Plex-*` headers, and
//! the security schemes. plex.tv's endpoints also answer XML (without
//! `Accept: application/json`) and read their parameters from headers, the
//! query string or the body alike; the document describes the JSON answers
//! and the headers, and says so.

use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "pinlink",
        description = "A self-hostable device-linking server, wire-compatible with plex.tv's PIN API, with the OAuth 2.0 Device Authorization Grant (RFC 8628). plex.tv's endpoints answer JSON when asked (`Accept: application/json` or a `.json` suffix) and XML otherwise; `X-Plex-*` parameters may come as headers, in the query string or in a form or JSON body.",
        license(name = "see the repository")
    ),
    modifiers(&Security),
    components(schemas(pinlink_proto::ErrorBody, OAuthErrorBody))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "plex_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Plex-Token",
                "A device's or account's token (also accepted as the X-Plex-Token query parameter)",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

// ------------------------------------------------------------ parameters
//
// The `X-Plex-*` fields are printable text (no control characters), and a
// required one needs a character that is not a space. utoipa takes only
// string literals for patterns, so the two are written out where used.

/// The client identifier every pin request carries.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct ClientHeader {
    /// The installation's unique id (UUID, serial number): a pin is polled
    /// with the identifier that created it.
    #[param(
        rename = "X-Plex-Client-Identifier",
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
    )]
    pub client_identifier: String,
}

/// What a device says about itself (kept for the device list), beside its
/// [`ClientHeader`].
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct DeviceHeaders {
    /// The product name shown in the account's device list.
    #[param(
        rename = "X-Plex-Product",
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
    )]
    pub product: String,
    #[param(
        rename = "X-Plex-Version",
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f]*$"
    )]
    pub version: Option<String>,
    #[param(
        rename = "X-Plex-Platform",
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f]*$"
    )]
    pub platform: Option<String>,
    #[param(
        rename = "X-Plex-Device-Name",
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f]*$"
    )]
    pub device_name: Option<String>,
}

// --------------------------------------------------------------- schemas

/// RFC 6749 §5.2's error (the OAuth endpoints).
#[derive(Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type`,
    /// `authorization_pending`, `slow_down`, `access_denied`,
    /// `expired_token`, `invalid_grant`, `temporarily_unavailable`, …
    pub error: String,
    pub error_description: String,
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    /// `ok`, `ready`, or why not.
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct PongBody {
    pub pong: bool,
}

#[derive(Serialize, ToSchema)]
pub struct NonceBody {
    /// A UUID, valid five minutes.
    pub nonce: String,
}

#[derive(Serialize, ToSchema)]
pub struct PlexJwtBody {
    pub auth_token: String,
    #[serde(rename = "authToken")]
    pub auth_token_again: String,
}

#[derive(Serialize, ToSchema)]
pub struct PublicJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

#[derive(Serialize, ToSchema)]
pub struct JwtKeysBody {
    pub keys: Vec<PublicJwk>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HomeBody {
    pub id: i64,
    pub name: String,
    #[serde(rename = "guestUserID")]
    pub guest_user_id: Option<i64>,
    #[serde(rename = "guestUserUUID")]
    pub guest_user_uuid: String,
    pub guest_enabled: bool,
    pub subscription: bool,
    pub users: Vec<pinlink_proto::HomeUser>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionBody {
    pub protocol: String,
    pub address: String,
    pub port: i64,
    pub uri: String,
    pub local: bool,
    pub relay: bool,
    #[serde(rename = "IPv6")]
    pub ipv6: bool,
}

/// A server of the account (`/api/v2/resources`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceJson {
    pub name: String,
    pub product: String,
    pub product_version: String,
    pub platform: String,
    pub platform_version: String,
    pub device: String,
    pub client_identifier: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub provides: String,
    pub access_token: String,
    pub owned: bool,
    pub connections: Vec<ConnectionBody>,
}

#[derive(Serialize, ToSchema)]
pub struct UserEnvelopeBody {
    pub user: pinlink_proto::UserBody,
}

/// RFC 8628 §3.2.
#[derive(Serialize, ToSchema)]
pub struct DeviceAuthorizationBody {
    pub device_code: String,
    /// 8 letters, `XXXX-XXXX`.
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// RFC 6749 §5.1.
#[derive(Serialize, ToSchema)]
pub struct TokenBody {
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// As asked for; absent when none was.
    #[schema(nullable = false)]
    pub scope: Option<String>,
    /// Seconds the access token works (the application's lifetime); absent
    /// when it works until revoked.
    #[schema(nullable = false)]
    pub expires_in: Option<i64>,
    /// For `grant_type=refresh_token`, once: each use gives a new one.
    /// Absent when access tokens do not expire.
    #[schema(nullable = false)]
    pub refresh_token: Option<String>,
    /// OpenID Connect's ID token (RS256, or EdDSA if the application is set
    /// so), when `openid` was granted.
    #[schema(nullable = false)]
    pub id_token: Option<String>,
}

/// RFC 7662 §2.2: `active` alone when the token is not a live access token.
#[derive(Serialize, ToSchema)]
pub struct IntrospectionBody {
    pub active: bool,
    /// The account's stable id (never its name).
    #[schema(nullable = false)]
    pub sub: Option<String>,
    #[schema(nullable = false)]
    pub client_id: Option<String>,
    #[schema(nullable = false)]
    pub username: Option<String>,
    #[schema(nullable = false)]
    pub scope: Option<String>,
    /// Absent for a token that works until revoked.
    #[schema(nullable = false)]
    pub exp: Option<i64>,
    #[schema(nullable = false)]
    pub iat: Option<i64>,
    /// `Bearer`.
    #[schema(nullable = false)]
    pub token_type: Option<String>,
    #[schema(nullable = false)]
    pub iss: Option<String>,
}

/// RFC 8414.
#[derive(Serialize, ToSchema)]
pub struct MetadataBody {
    pub issuer: String,
    pub device_authorization_endpoint: String,
    pub token_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub jwks_uri: String,
    pub userinfo_endpoint: String,
    pub grant_types_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub service_documentation: String,
}

// ---------------------------------------------------------- request bodies

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CodeForm {
    /// A pin's code as shown: 4 characters, a 25-character strong code or
    /// an 8-letter device-grant code (any case, dashes and spaces ignored).
    pub code: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SignInForm {
    /// Username or e-mail.
    pub login: String,
    pub password: String,
    /// The two-step verification code (or a recovery code), when the
    /// account has two-step verification on; without it such an account's
    /// sign-in answers 401 with error 1029.
    #[schema(rename = "verificationCode")]
    pub verification_code: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct JwtForm {
    /// A device JWT signed by the device's registered key.
    pub jwt: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct JwkForm {
    pub jwk: DeviceJwk,
}

/// A device's Ed25519 public key (RFC 8037). Beyond this shape, `x` must be
/// a point of the curve, which a schema cannot say.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DeviceJwk {
    #[schema(pattern = "^OKP$")]
    pub kty: String,
    #[schema(pattern = "^Ed25519$")]
    pub crv: String,
    /// 32 bytes, base64url without padding.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$")]
    pub x: String,
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9_-]+$")]
    pub kid: String,
}

/// Any JSON object.
#[derive(ToSchema)]
#[schema(value_type = Object)]
#[allow(dead_code)]
pub struct Object(serde_json::Value);

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ConnectionsForm {
    /// A connection URI (repeat the field for several).
    #[schema(
        rename = "Connection[][uri]",
        pattern = "^https?://[!-~]{1,480}$",
        nullable = false
    )]
    pub uri: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DeviceAuthorizationForm {
    /// Or HTTP Basic credentials instead of `client_id` and
    /// `client_secret`.
    pub client_id: String,
    #[schema(nullable = false)]
    pub client_secret: Option<String>,
    #[schema(nullable = false)]
    pub scope: Option<String>,
    #[schema(nullable = false)]
    pub device_name: Option<String>,
    #[schema(nullable = false)]
    pub platform: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    /// `urn:ietf:params:oauth:grant-type:device_code` (Google's
    /// `http://oauth.net/grant_type/device/1.0` is read too) or
    /// `refresh_token`.
    #[schema(
        pattern = "^(urn:ietf:params:oauth:grant-type:device_code|http://oauth\\.net/grant_type/device/1\\.0|refresh_token)$"
    )]
    pub grant_type: String,
    /// With the device code grant.
    #[schema(nullable = false)]
    pub device_code: Option<String>,
    /// With `grant_type=refresh_token`.
    #[schema(nullable = false)]
    pub refresh_token: Option<String>,
    /// Or HTTP Basic credentials instead of `client_id` and
    /// `client_secret`.
    pub client_id: String,
    #[schema(nullable = false)]
    pub client_secret: Option<String>,
    /// pinlink's long poll: hold a pending answer up to this many seconds
    /// until the code is approved (at most 25 are held).
    #[schema(minimum = 0, maximum = 4294967295_u64, nullable = false)]
    pub wait: Option<i64>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RevokeForm {
    pub token: String,
    /// Or HTTP Basic credentials.
    pub client_id: String,
    #[schema(nullable = false)]
    pub client_secret: Option<String>,
}
