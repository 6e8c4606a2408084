//! The domain's nouns, as types that can only hold valid values ("parse,
//! don't validate"): adapters turn raw request strings into these once, at the
//! edge, and everything behind them can rely on the invariants.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rand::Rng;

use crate::clock::UnixTime;
use crate::error::CoreError;
use crate::secrets::AuthToken;

/// Longest value we keep for any free-text `X-Plex-*` field, in bytes (UTF-8):
/// plex.tv publishes no limit; 255 bytes is generous for a product or device
/// name and keeps a hostile client from parking megabytes in the device list.
/// Bytes, not characters: 255 emoji are 1020 bytes, and everything that
/// carries the text on (a QR code, a database row, a header) is sized in
/// bytes.
pub const MAX_FIELD_LEN: usize = 255;

/// Characters no device metadata may hold, beyond control characters:
/// - Unicode non-characters (U+FDD0..U+FDEF and the last two code points of
///   every plane, U+FFFE and U+FFFF among them): U+FFFF is not allowed in
///   XML 1.0, so it would make the XML answer malformed;
/// - bidirectional controls (U+061C, U+200E, U+200F, U+202A..U+202E,
///   U+2066..U+2069): they can make a product name on the confirmation
///   screen read as something else ("Evil App\u{202E}VT moorgniviL").
pub fn is_forbidden_char(c: char) -> bool {
    let n = u32::from(c);
    c.is_control()
        || (0xFDD0..=0xFDEF).contains(&n)
        || (n & 0xFFFE) == 0xFFFE
        || matches!(n, 0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069)
}

fn check_field(name: &str, value: &str) -> Result<(), CoreError> {
    if value.len() > MAX_FIELD_LEN {
        return Err(CoreError::InvalidInput(format!(
            "{name} is longer than {MAX_FIELD_LEN} bytes"
        )));
    }
    if value.chars().any(is_forbidden_char) {
        return Err(CoreError::InvalidInput(format!(
            "{name} contains control, bidirectional or non-characters"
        )));
    }
    Ok(())
}

/// Where a request came from: the peer's address, or behind a trusted
/// reverse proxy the address the proxy reports. Shown on the confirmation
/// screen and used to budget what one place on the network may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddress(IpAddr);

impl ClientAddress {
    /// An IPv4 address written as IPv6 (`::ffff:192.0.2.1`) is the IPv4
    /// address: dual-stack listeners report IPv4 clients that way.
    pub fn new(ip: IpAddr) -> ClientAddress {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientAddress(IpAddr::V4(v4)),
                None => ClientAddress(ip),
            },
            v4 => ClientAddress(v4),
        }
    }

    /// For callers with no socket (in-process tests): `0.0.0.0`.
    pub const UNKNOWN: ClientAddress = ClientAddress(IpAddr::V4(Ipv4Addr::UNSPECIFIED));

    pub fn ip(&self) -> IpAddr {
        self.0
    }

    /// The network a budget is counted for: the address itself for IPv4,
    /// its /64 for IPv6 (one household or server gets a whole /64, so
    /// counting single IPv6 addresses would let one attacker count as
    /// billions).
    pub fn network(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        }
    }
}

impl fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A pin's public number. plex.tv's are large, non-sequential integers and
/// the `plex-api` crate stores them as `u32`, so ours are random `u32`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PinId(pub u32);

impl PinId {
    /// Smallest id we hand out: keeps ids the same length as plex.tv's.
    const MIN: u32 = 100_000_000;

    pub fn random() -> PinId {
        PinId(rand::thread_rng().gen_range(Self::MIN..=u32::MAX))
    }

    /// Parses the `{id}` of `/api/v2/pins/{id}`. Not a number is a client
    /// error (400); a number too large to be one of ours is simply not found.
    pub fn parse(raw: &str) -> Result<PinId, CoreError> {
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CoreError::InvalidInput(format!(
                "pin id {raw:?} is not a number"
            )));
        }
        raw.parse::<u32>()
            .map(PinId)
            .map_err(|_| CoreError::PinNotFound)
    }
}

impl fmt::Display for PinId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `X-Plex-Client-Identifier`: opaque and stable per installation. plex.tv
/// sets no format, so anything non-empty and printable is accepted.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClientIdentifier(Box<str>);

impl ClientIdentifier {
    /// A client identifier as a client sent it. The device grant's own
    /// namespace (`pl-…/…`, [`ClientIdentifier::of_grant`]) is refused: a
    /// plex.tv pin or sign-in under it would take over a grant's device.
    pub fn parse(raw: Option<&str>) -> Result<ClientIdentifier, CoreError> {
        let value = Self::parse_any(raw)?;
        if is_grant_namespace(value.as_str()) {
            return Err(CoreError::InvalidInput(
                "X-Plex-Client-Identifier may not start with \"pl-\" and hold a \"/\": \
                 that is the device grant's namespace"
                    .into(),
            ));
        }
        Ok(value)
    }

    fn parse_any(raw: Option<&str>) -> Result<ClientIdentifier, CoreError> {
        let value = raw.map(str::trim).unwrap_or_default();
        if value.is_empty() {
            return Err(CoreError::ClientIdentifierMissing);
        }
        check_field("X-Plex-Client-Identifier", value)?;
        Ok(ClientIdentifier(value.into()))
    }

    /// A device grant's device: `{client_id}/{what the device sent}`, in the
    /// application's own namespace, apart from plex.tv devices and from
    /// other applications' devices of the same account.
    pub fn of_grant(application: &ApplicationId, own: &str) -> Result<ClientIdentifier, CoreError> {
        Self::parse_any(Some(&format!("{application}/{own}")))
    }
    /// For values read back from storage, which were parsed on the way in.
    pub fn from_stored(value: String) -> Self {
        ClientIdentifier(value.into_boxed_str())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientIdentifier({:?})", self.0)
    }
}

/// Whether a client identifier is in the device grant's namespace.
fn is_grant_namespace(value: &str) -> bool {
    value
        .get(..APPLICATION_ID_PREFIX.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(APPLICATION_ID_PREFIX))
        && value.contains('/')
}

/// `X-Plex-Product`: the name the account owner sees in the device list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product(Box<str>);

impl Product {
    pub fn parse(raw: Option<&str>) -> Result<Product, CoreError> {
        let value = raw.map(str::trim).unwrap_or_default();
        if value.is_empty() {
            return Err(CoreError::ProductMissing);
        }
        check_field("X-Plex-Product", value)?;
        Ok(Product(value.into()))
    }
    pub fn from_stored(value: String) -> Self {
        Product(value.into_boxed_str())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a device says about itself through its `X-Plex-*` parameters; kept so
/// the account owner can recognise it in the device list. Text is held as
/// `Box<str>` (16 bytes, not `String`'s 24): every live pin carries one of
/// these in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub product: Product,
    /// `X-Plex-Version`
    pub version: Box<str>,
    pub platform: Box<str>,
    pub platform_version: Box<str>,
    /// `X-Plex-Device`, e.g. "iPhone" or "Linux"
    pub device: Box<str>,
    /// `X-Plex-Device-Name`, e.g. "Living room TV"
    pub device_name: Box<str>,
    pub model: Box<str>,
    /// `X-Plex-Device-Vendor`
    pub vendor: Box<str>,
    /// `X-Plex-Provides`: what the device offers, comma-separated
    /// (`server`, `player`, `controller`, …).
    pub provides: Box<str>,
}

/// The raw optional `X-Plex-*` metadata fields, as an adapter found them.
#[derive(Debug, Default, Clone, Copy)]
pub struct RawDeviceInfo<'a> {
    pub product: Option<&'a str>,
    pub version: Option<&'a str>,
    pub platform: Option<&'a str>,
    pub platform_version: Option<&'a str>,
    pub device: Option<&'a str>,
    pub device_name: Option<&'a str>,
    pub model: Option<&'a str>,
    pub vendor: Option<&'a str>,
    pub provides: Option<&'a str>,
}

impl DeviceInfo {
    pub fn parse(raw: RawDeviceInfo<'_>) -> Result<DeviceInfo, CoreError> {
        fn field(name: &str, v: Option<&str>) -> Result<Box<str>, CoreError> {
            let v = v.map(str::trim).unwrap_or_default();
            check_field(name, v)?;
            Ok(v.into())
        }
        Ok(DeviceInfo {
            product: Product::parse(raw.product)?,
            version: field("X-Plex-Version", raw.version)?,
            platform: field("X-Plex-Platform", raw.platform)?,
            platform_version: field("X-Plex-Platform-Version", raw.platform_version)?,
            device: field("X-Plex-Device", raw.device)?,
            device_name: field("X-Plex-Device-Name", raw.device_name)?,
            model: field("X-Plex-Model", raw.model)?,
            vendor: field("X-Plex-Device-Vendor", raw.vendor)?,
            provides: field("X-Plex-Provides", raw.provides)?,
        })
    }
}

/// The 4-character code a person types at `/link`.
///
/// The alphabet leaves out I, O, 0 and 1, which people confuse when reading
/// a code off a TV; 32 symbols give 2^20 codes. plex.tv's exact alphabet is
/// not public (protocol reference §2.1), and no client depends on it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LinkCode(Box<str>);

pub const LINK_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
pub const LINK_CODE_LEN: usize = 4;

/// The 25-character code of a "strong" pin, used in approval URLs and QR
/// codes rather than typed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StrongCode(Box<str>);

pub const STRONG_CODE_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
pub const STRONG_CODE_LEN: usize = 25;

/// The 8-character `user_code` of an RFC 8628 device grant, typed at
/// `/link` like a short code and shown as `XXXX-XXXX`. The alphabet is the
/// RFC's §6.1 suggestion: 20 consonants, so no word can form and nothing
/// looks alike; 20^8 is about 2^34.6 codes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserCode(Box<str>);

pub const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
pub const USER_CODE_LEN: usize = 8;

/// Any kind of pin code.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum PinCode {
    Link(LinkCode),
    Strong(StrongCode),
    User(UserCode),
}

fn random_string(alphabet: &[u8], len: usize) -> Box<str> {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect::<String>()
        .into_boxed_str()
}

impl PinCode {
    pub fn generate(strong: bool) -> PinCode {
        if strong {
            PinCode::Strong(StrongCode(random_string(
                STRONG_CODE_ALPHABET,
                STRONG_CODE_LEN,
            )))
        } else {
            PinCode::Link(LinkCode(random_string(LINK_CODE_ALPHABET, LINK_CODE_LEN)))
        }
    }

    /// A device grant's `user_code`.
    pub fn generate_user_code() -> PinCode {
        PinCode::User(UserCode(random_string(USER_CODE_ALPHABET, USER_CODE_LEN)))
    }

    /// Reads a code as a person or client typed it: any case, with spaces
    /// and dashes ignored. Returns `None` for anything that cannot be a code
    /// of either kind (the caller answers "not found", never "malformed", so
    /// that guessing learns nothing).
    pub fn parse_user_input(raw: &str) -> Option<PinCode> {
        let cleaned: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        match cleaned.len() {
            LINK_CODE_LEN => {
                let upper = cleaned.to_ascii_uppercase();
                upper
                    .bytes()
                    .all(|b| LINK_CODE_ALPHABET.contains(&b))
                    .then_some(PinCode::Link(LinkCode(upper.into_boxed_str())))
            }
            USER_CODE_LEN => {
                let upper = cleaned.to_ascii_uppercase();
                upper
                    .bytes()
                    .all(|b| USER_CODE_ALPHABET.contains(&b))
                    .then_some(PinCode::User(UserCode(upper.into_boxed_str())))
            }
            STRONG_CODE_LEN => {
                let lower = cleaned.to_ascii_lowercase();
                lower
                    .bytes()
                    .all(|b| STRONG_CODE_ALPHABET.contains(&b))
                    .then_some(PinCode::Strong(StrongCode(lower.into_boxed_str())))
            }
            _ => None,
        }
    }

    /// For values decrypted from storage.
    pub fn from_stored(value: String) -> Option<PinCode> {
        PinCode::parse_user_input(&value)
    }

    pub fn as_str(&self) -> &str {
        match self {
            PinCode::Link(c) => &c.0,
            PinCode::Strong(c) => &c.0,
            PinCode::User(c) => &c.0,
        }
    }

    /// As shown to a person: a `user_code` with a dash in the middle
    /// (`WDJB-MJHT`, RFC 8628 §6.1), any other code as it is.
    pub fn display(&self) -> String {
        match self {
            PinCode::User(c) => format!("{}-{}", &c.0[..4], &c.0[4..]),
            other => other.as_str().to_owned(),
        }
    }

    pub fn is_strong(&self) -> bool {
        matches!(self, PinCode::Strong(_))
    }

    /// Whether this is a 4-character code, of the small code space that
    /// [`crate::PinCaps::link_codes`] guards.
    pub fn is_short(&self) -> bool {
        matches!(self, PinCode::Link(_))
    }
}

impl fmt::Debug for PinCode {
    // A live code is a credential-in-waiting: keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinCode::Link(_) => f.write_str("PinCode::Link(<redacted>)"),
            PinCode::Strong(_) => f.write_str("PinCode::Strong(<redacted>)"),
            PinCode::User(_) => f.write_str("PinCode::User(<redacted>)"),
        }
    }
}

/// A device's request to be linked to an account, and its outcome.
#[derive(Debug, Clone)]
pub struct Pin {
    pub id: PinId,
    pub code: PinCode,
    pub client_identifier: ClientIdentifier,
    pub device: DeviceInfo,
    /// The address the pin was requested from, shown on the confirmation
    /// page so a person can spot a request that is not from their device.
    pub requester_ip: Box<str>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// Set once an account approved the pin; handed out on every poll until
    /// the pin expires (what plex.tv does, protocol reference §3).
    pub auth_token: Option<AuthToken>,
    /// A JWT pin's device key (plex.tv's JWT login): once linked, a poll
    /// with a device JWT signed by it gets a Plex JWT instead of the token.
    pub jwk: Option<Box<crate::plex_jwt::Jwk>>,
    /// An RFC 8628 device grant's own state; `None` for plex.tv pins.
    pub grant: Option<Box<DeviceGrant>>,
}

/// What a pin started through RFC 8628 (`POST /oauth/device_authorization`)
/// carries beyond a plex.tv pin. Its device redeems the token once, with
/// the device code, at `POST /oauth/token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGrant {
    pub application: ApplicationRef,
    /// The keyed hash of the device code's secret part.
    pub device_code_hash: crate::secrets::LookupHash,
    /// The scope the device asked for, as sent (space-separated).
    pub scope: Box<str>,
    /// The person chose Deny: the device is told `access_denied`.
    pub denied: bool,
}

/// A registered application's `client_id` (RFC 6749 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApplicationId(Box<str>);

/// Prefix of every `client_id`, so one is recognised in a config file.
const APPLICATION_ID_PREFIX: &str = "pl-";
const APPLICATION_ID_LEN: usize = 20;

impl ApplicationId {
    pub fn generate() -> ApplicationId {
        let tail = random_string(b"abcdefghijklmnopqrstuvwxyz0123456789", APPLICATION_ID_LEN);
        ApplicationId(format!("{APPLICATION_ID_PREFIX}{tail}").into_boxed_str())
    }
    /// A `client_id` as a client sent it: anything that cannot be one of
    /// ours is `None` (the caller answers `invalid_client`).
    pub fn parse(raw: &str) -> Option<ApplicationId> {
        let tail = raw.strip_prefix(APPLICATION_ID_PREFIX)?;
        (tail.len() == APPLICATION_ID_LEN
            && tail
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        .then(|| ApplicationId(raw.into()))
    }
    pub fn from_stored(value: String) -> Self {
        ApplicationId(value.into_boxed_str())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApplicationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An application and the name people see for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRef {
    pub id: ApplicationId,
    pub name: Box<str>,
}

/// An application registered with `pinlink client add`: an OAuth client
/// that starts device grants (RFC 8628).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub id: ApplicationId,
    pub name: String,
    /// Confidential clients authenticate with a secret (kept only as a
    /// keyed hash); public ones only name their `client_id`.
    pub confidential: bool,
    pub created_at: UnixTime,
    /// How long its access tokens work, in seconds; 0: until revoked (and
    /// no refresh tokens).
    pub access_token_lifetime_secs: i64,
    /// How its ID tokens are signed.
    pub id_token_alg: IdTokenAlg,
}

/// How an application's OpenID Connect ID tokens are signed: RS256,
/// OpenID Connect's mandatory algorithm that every client library accepts,
/// or EdDSA (Ed25519) where an application asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdTokenAlg {
    #[default]
    Rs256,
    EdDsa,
}

impl IdTokenAlg {
    /// Its JOSE name (`alg`).
    pub fn as_str(self) -> &'static str {
        match self {
            IdTokenAlg::Rs256 => "RS256",
            IdTokenAlg::EdDsa => "EdDSA",
        }
    }

    pub fn parse(name: &str) -> Option<IdTokenAlg> {
        match name {
            "RS256" => Some(IdTokenAlg::Rs256),
            "EdDSA" => Some(IdTokenAlg::EdDsa),
            _ => None,
        }
    }
}

impl Application {
    pub fn as_ref(&self) -> ApplicationRef {
        ApplicationRef {
            id: self.id.clone(),
            name: self.name.as_str().into(),
        }
    }
}

/// An application's name: what the confirmation screen and the device list
/// show. Checked like device metadata.
pub fn parse_application_name(raw: &str) -> Result<String, CoreError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(CoreError::InvalidInput(
            "an application needs a name".into(),
        ));
    }
    check_field("the application's name", name)?;
    Ok(name.to_owned())
}

impl Pin {
    pub fn is_live(&self, now: UnixTime) -> bool {
        now < self.expires_at
    }
    /// Seconds left, never negative.
    pub fn expires_in(&self, now: UnixTime) -> i64 {
        now.secs_until(self.expires_at).max(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceId(pub i64);

/// An account name: 1–64 of `[A-Za-z0-9._-]`, unique without regard to case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Username, CoreError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if ok {
            Ok(Username(raw.to_owned()))
        } else {
            Err(CoreError::InvalidInput(
                "a username is 1 to 64 letters, digits, dots, dashes or underscores".into(),
            ))
        }
    }
    pub fn from_stored(value: String) -> Self {
        Username(value)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address, checked only for shape: one `@` with text either side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, CoreError> {
        let raw = raw.trim();
        let ok = raw.len() <= 254
            && !raw
                .chars()
                .any(|c| c.is_whitespace() || is_forbidden_char(c))
            && matches!(raw.split_once('@'), Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
        if ok {
            Ok(Email(raw.to_owned()))
        } else {
            Err(CoreError::InvalidInput(format!(
                "{raw:?} is not an e-mail address"
            )))
        }
    }
    pub fn from_stored(value: String) -> Self {
        Email(value)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    /// 16 hex characters, as plex.tv's `uuid` field.
    pub uuid: String,
    pub username: Username,
    pub email: Email,
    pub created_at: UnixTime,
}

/// A device that holds a token for an account.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: DeviceId,
    pub client_identifier: ClientIdentifier,
    pub info: DeviceInfo,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    /// The device's newest token (plex.tv lists one per device).
    pub token: Option<AuthToken>,
    /// The connection URIs it published, if it is a server.
    pub connections: Vec<String>,
}

impl Device {
    /// Whether it provides `server` (it is one of the account's resources).
    pub fn is_server(&self) -> bool {
        self.info
            .provides
            .split(',')
            .any(|p| p.trim().eq_ignore_ascii_case("server"))
    }
}

/// Who is calling, established from an `X-Plex-Token`.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: Account,
    pub device_id: DeviceId,
    /// The client identifier of the device holding the token.
    pub client_identifier: ClientIdentifier,
    pub token: AuthToken,
    /// The application whose device grant linked the device, if one did.
    pub application: Option<ApplicationId>,
}

impl Session {
    /// A token that may manage the account: approve codes, register device
    /// keys, remove devices, publish connections. A device grant's token may
    /// not — it is for the application's service and expires, and none of
    /// these may leave behind a credential that outlives it.
    pub fn may_manage_account(&self) -> Result<(), CoreError> {
        match self.application {
            None => Ok(()),
            Some(_) => Err(CoreError::NotForGrantTokens),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grant_namespace_is_not_a_clients_to_take() {
        let app = ApplicationId::generate();
        let own = ClientIdentifier::of_grant(&app, "tv-1").expect("grant");
        assert!(ClientIdentifier::parse(Some(own.as_str())).is_err());
        assert!(ClientIdentifier::parse(Some("PL-ABC/x")).is_err());
        assert!(ClientIdentifier::parse(Some("pl-without-slash")).is_ok());
        assert!(
            ClientIdentifier::parse(Some("éé/x")).is_ok(),
            "no panic on multibyte"
        );
        assert!(ClientIdentifier::parse(Some("plex/abc")).is_ok());
    }

    #[test]
    fn link_codes_are_read_in_any_case_with_spaces_and_dashes() {
        let code = PinCode::parse_user_input(" ab-c d").map(|c| c.as_str().to_owned());
        assert_eq!(code.as_deref(), Some("ABCD"));
        assert!(
            PinCode::parse_user_input("AB0D").is_none(),
            "0 is not in the alphabet"
        );
        assert!(PinCode::parse_user_input("ABC").is_none());
    }

    #[test]
    fn user_codes_are_read_in_any_case_and_shown_with_a_dash() {
        let code = PinCode::parse_user_input("wdjb mjht").expect("8 consonants");
        assert_eq!(code.as_str(), "WDJBMJHT");
        assert_eq!(code.display(), "WDJB-MJHT");
        assert_eq!(PinCode::parse_user_input("WDJB-MJHT"), Some(code));
        assert!(
            PinCode::parse_user_input("WDJB-MJHA").is_none(),
            "vowels are not in the alphabet"
        );
        assert!(!PinCode::generate_user_code().is_short());
    }

    #[test]
    fn application_ids_round_trip_and_nothing_else_parses() {
        let id = ApplicationId::generate();
        assert_eq!(ApplicationId::parse(id.as_str()), Some(id));
        assert!(ApplicationId::parse("pl-short").is_none());
        assert!(ApplicationId::parse("1406020730").is_none());
    }

    #[test]
    fn strong_codes_are_lower_case() {
        let raw = "K2M9X0ABCDEFGHIJKLMNOPQRS";
        let code = PinCode::parse_user_input(raw).expect("25 alphanumerics is a strong code");
        assert!(code.is_strong());
        assert_eq!(code.as_str(), raw.to_ascii_lowercase());
    }

    #[test]
    fn generated_codes_parse_back() {
        for strong in [false, true] {
            let code = PinCode::generate(strong);
            assert_eq!(PinCode::parse_user_input(code.as_str()), Some(code.clone()));
            assert_eq!(code.is_strong(), strong);
        }
        let code = PinCode::generate_user_code();
        assert_eq!(PinCode::parse_user_input(&code.display()), Some(code));
    }

    #[test]
    fn pin_ids() {
        assert!(matches!(
            PinId::parse("undefined"),
            Err(CoreError::InvalidInput(_))
        ));
        assert!(matches!(PinId::parse(""), Err(CoreError::InvalidInput(_))));
        assert!(matches!(
            PinId::parse("-5"),
            Err(CoreError::InvalidInput(_))
        ));
        assert!(matches!(
            PinId::parse("987654321987"),
            Err(CoreError::PinNotFound)
        ));
        assert_eq!(PinId::parse("123").ok(), Some(PinId(123)));
        assert!(PinId::random().0 >= PinId::MIN);
    }

    #[test]
    fn client_identifier_must_not_be_empty() {
        assert!(matches!(
            ClientIdentifier::parse(Some("  ")),
            Err(CoreError::ClientIdentifierMissing)
        ));
        assert!(matches!(
            ClientIdentifier::parse(None),
            Err(CoreError::ClientIdentifierMissing)
        ));
        assert!(ClientIdentifier::parse(Some(&"x".repeat(300))).is_err());
        // The limit is in bytes: 64 emoji are 256 bytes.
        assert!(ClientIdentifier::parse(Some(&"\u{1F600}".repeat(63))).is_ok());
        assert!(ClientIdentifier::parse(Some(&"\u{1F600}".repeat(64))).is_err());
    }

    #[test]
    fn metadata_refuses_non_characters_and_bidi_controls() {
        for bad in [
            "a\u{FFFF}",
            "a\u{FFFE}",
            "\u{FDD0}",
            "\u{10FFFF}",
            "Evil\u{202E}VT",
            "x\u{2066}y",
            "\u{200F}",
            "a\u{7}b",
        ] {
            assert!(Product::parse(Some(bad)).is_err(), "{bad:?}");
            assert!(
                Email::parse(&format!("{bad}@example.org")).is_err(),
                "{bad:?}"
            );
        }
        for good in [
            "Kitchen Radio",
            "Café ☕",
            "\u{1F600} TV",
            "日本語",
            "a\u{200D}b",
        ] {
            assert!(Product::parse(Some(good)).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn addresses_are_budgeted_per_ipv4_address_and_ipv6_slash_64() {
        let v4 = ClientAddress::new("192.0.2.7".parse().expect("ip"));
        assert_eq!(v4.network(), "192.0.2.7");
        let mapped = ClientAddress::new("::ffff:192.0.2.7".parse().expect("ip"));
        assert_eq!(mapped, v4);
        let a = ClientAddress::new("2001:db8:1:2:aaaa::1".parse().expect("ip"));
        let b = ClientAddress::new("2001:db8:1:2:bbbb::9".parse().expect("ip"));
        let c = ClientAddress::new("2001:db8:1:3::1".parse().expect("ip"));
        assert_eq!(a.network(), "2001:db8:1:2::/64");
        assert_eq!(a.network(), b.network());
        assert_ne!(a.network(), c.network());
        assert_eq!(a.to_string(), "2001:db8:1:2:aaaa::1");
    }

    #[test]
    fn usernames_and_emails() {
        assert!(Username::parse("alice.b-c_1").is_ok());
        assert!(Username::parse("al ice").is_err());
        assert!(Username::parse("").is_err());
        assert!(Email::parse("a@example.org").is_ok());
        assert!(Email::parse("a@@b").is_err());
        assert!(Email::parse("nobody").is_err());
    }
}

/// Every parser of client input, fed anything: it never panics, and what it
/// accepts holds its invariants.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Any text, weighted towards the characters that cause trouble.
    fn hostile_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ -~]{0,40}",
            "[\\u{0}-\\u{1f}\\u{7f}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069}\\u{fdd0}\\u{fffe}\\u{ffff}a-zA-Z0-9 -]{0,40}",
            "\\PC{0,300}",
        ]
    }

    proptest! {
        #[test]
        fn codes_parse_to_well_formed_codes_or_nothing(raw in hostile_text()) {
            if let Some(code) = PinCode::parse_user_input(&raw) {
                let text = code.as_str();
                let (len, alphabet) = match &code {
                    PinCode::Strong(_) => (STRONG_CODE_LEN, STRONG_CODE_ALPHABET),
                    PinCode::Link(_) => (LINK_CODE_LEN, LINK_CODE_ALPHABET),
                    PinCode::User(_) => (USER_CODE_LEN, USER_CODE_ALPHABET),
                };
                prop_assert_eq!(text.len(), len);
                prop_assert!(text.bytes().all(|b| alphabet.contains(&b)));
                prop_assert_eq!(PinCode::parse_user_input(text), Some(code.clone()));
            }
        }

        #[test]
        fn pin_ids_are_numbers_or_a_clear_refusal(raw in hostile_text()) {
            match PinId::parse(&raw) {
                Ok(id) => prop_assert_eq!(raw.parse::<u32>().ok(), Some(id.0)),
                Err(CoreError::InvalidInput(_) | CoreError::PinNotFound) => {}
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }

        #[test]
        fn accepted_metadata_is_short_and_free_of_forbidden_characters(
            product in hostile_text(),
            name in hostile_text(),
            client in hostile_text(),
        ) {
            let raw = RawDeviceInfo {
                product: Some(&product),
                device_name: Some(&name),
                ..RawDeviceInfo::default()
            };
            if let Ok(info) = DeviceInfo::parse(raw) {
                for field in [info.product.as_str(), &info.device_name] {
                    prop_assert!(field.len() <= MAX_FIELD_LEN);
                    prop_assert!(!field.chars().any(is_forbidden_char));
                }
            }
            if let Ok(id) = ClientIdentifier::parse(Some(&client)) {
                prop_assert!(!id.as_str().is_empty() && id.as_str().len() <= MAX_FIELD_LEN);
                prop_assert!(!id.as_str().chars().any(is_forbidden_char));
            }
            let _ = Username::parse(&name);
            if let Ok(email) = Email::parse(&client) {
                prop_assert!(!email.as_str().chars().any(is_forbidden_char));
            }
        }
    }
}
