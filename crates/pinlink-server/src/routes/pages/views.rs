//! The pages' templates (in `templates/`, compiled in by askama) and the
//! plain values they show. Everything printed is escaped by askama.

use askama::Template;
use pinlink_core::{Device, Pin, UnixTime};
use time::macros::format_description;
use time::OffsetDateTime;

/// What the header shows: who is signed in, and the token for its sign-out
/// form.
pub struct Nav {
    pub username: Option<String>,
    pub csrf: String,
    /// The server runs in test mode (every page says so).
    pub test_mode: bool,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub nav: Nav,
    pub heading: &'a str,
    pub text: String,
    /// `ok` (green), `bad` (warning) or empty.
    pub tone: &'a str,
    pub link: Option<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "setup.html")]
pub struct SetupPage {
    pub nav: Nav,
    pub error: Option<String>,
    pub token: String,
    pub username: String,
    pub email: String,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub nav: Nav,
    pub error: Option<String>,
    pub login: String,
    pub next: String,
    pub open_signup: bool,
    /// Offer signing in with a passkey.
    pub passkeys: bool,
}

#[derive(Template)]
#[template(path = "login_code.html")]
pub struct LoginCodePage {
    pub nav: Nav,
    pub error: Option<String>,
    /// The first step's proof that the password was right.
    pub ticket: String,
    pub next: String,
}

#[derive(Template)]
#[template(path = "reset.html")]
pub struct ResetPage {
    pub nav: Nav,
    pub error: Option<String>,
    pub token: String,
    pub username: String,
    pub drops_two_step: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub nav: Nav,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub username: String,
    pub email: String,
    pub created: String,
    pub two_step: bool,
    pub recovery_codes_left: u32,
    /// The key being enrolled, in groups of four.
    pub enrolling: Option<String>,
    /// New recovery codes, shown this once.
    pub recovery_codes: Option<Vec<String>>,
    pub passkeys_available: bool,
    pub passkeys: Vec<PasskeyRow>,
    pub log: Vec<LogRow>,
    /// The id to page on from, when there are older entries.
    pub older: Option<i64>,
    /// This is not the first page.
    pub newer: bool,
}

pub struct PasskeyRow {
    pub id: i64,
    pub name: String,
    pub created: String,
    pub last_used: String,
}

pub struct LogRow {
    pub when: String,
    pub what: &'static str,
    pub warning: bool,
    pub address: String,
    pub client: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignupPage {
    pub nav: Nav,
    pub error: Option<String>,
    pub username: String,
    pub email: String,
    pub next: String,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub nav: Nav,
    pub username: String,
}

#[derive(Template)]
#[template(path = "link.html")]
pub struct LinkPage {
    pub nav: Nav,
    pub error: Option<String>,
    pub code: String,
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub nav: Nav,
    pub username: String,
    pub pin: PinFacts,
    /// `/link` or `/auth`: where Approve and Deny post to.
    pub action: &'static str,
    pub code: String,
    pub client_id: Option<String>,
    pub forward_url: Option<String>,
}

#[derive(Template)]
#[template(path = "devices.html")]
pub struct DevicesPage {
    pub nav: Nav,
    pub notice: Option<String>,
    pub devices: Vec<DeviceRow>,
}

#[derive(Template)]
#[template(path = "auth_fragment.html")]
pub struct AuthFragmentPage {
    pub nav: Nav,
}

/// What the confirmation screen tells about the pin's device.
pub struct PinFacts {
    /// The registered application of an RFC 8628 device grant.
    pub application: Option<String>,
    pub product: String,
    /// Whether the product is worth a line of its own (a device grant's
    /// product is its application's name unless the device said otherwise).
    pub show_product: bool,
    pub device_name: String,
    pub platform: String,
    pub version: String,
    pub ip: String,
    pub created: String,
}

impl PinFacts {
    pub fn of(pin: &Pin, now: UnixTime) -> PinFacts {
        let device = &pin.device;
        let application = pin.grant.as_ref().map(|g| g.application.name.to_string());
        PinFacts {
            show_product: application.as_deref() != Some(device.product.as_str()),
            application,
            product: device.product.as_str().to_owned(),
            device_name: first_non_empty(&[&device.device_name, &device.device, &device.model]),
            platform: join_non_empty(&device.platform, &device.platform_version),
            version: device.version.to_string(),
            ip: pin.requester_ip.to_string(),
            created: when(pin.created_at, now),
        }
    }
}

pub struct DeviceRow {
    pub id: i64,
    pub product: String,
    pub device_name: String,
    pub platform: String,
    pub version: String,
    pub created: String,
    pub last_seen: String,
    pub this_browser: bool,
}

impl DeviceRow {
    pub fn of(device: &Device, now: UnixTime, this_browser: bool) -> DeviceRow {
        let info = &device.info;
        DeviceRow {
            id: device.id.0,
            product: info.product.as_str().to_owned(),
            device_name: first_non_empty(&[&info.device_name, &info.device, &info.model]),
            platform: join_non_empty(&info.platform, &info.platform_version),
            version: info.version.to_string(),
            created: when(device.created_at, now),
            last_seen: when(device.last_seen_at, now),
            this_browser,
        }
    }
}

fn first_non_empty(candidates: &[&str]) -> String {
    candidates
        .iter()
        .find(|s| !s.is_empty())
        .map(|s| (*s).to_owned())
        .unwrap_or_default()
}

fn join_non_empty(a: &str, b: &str) -> String {
    [a, b]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// "2027-01-15 08:00 UTC (3 minutes ago)".
pub fn when(at: UnixTime, now: UnixTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    let absolute = OffsetDateTime::from_unix_timestamp(at.0)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| at.0.to_string());
    format!("{absolute} ({})", ago(at.secs_until(now)))
}

fn ago(secs: i64) -> String {
    match secs {
        s if s < 60 => "just now".to_owned(),
        s if s < 3600 => plural(s / 60, "minute") + " ago",
        s if s < 86_400 => plural(s / 3600, "hour") + " ago",
        s => plural(s / 86_400, "day") + " ago",
    }
}

/// "in 14 minutes", for a page that says when to try again.
pub fn wait_text(secs: i64) -> String {
    let secs = secs.max(1);
    if secs < 60 {
        format!("in {}", plural(secs, "second"))
    } else {
        format!("in {}", plural((secs + 59) / 60, "minute"))
    }
}

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_naturally() {
        let start = UnixTime(1_800_000_000);
        assert_eq!(
            when(start, start.plus_secs(150)),
            "2027-01-15 08:00 UTC (2 minutes ago)"
        );
        assert_eq!(ago(5), "just now");
        assert_eq!(ago(3600), "1 hour ago");
        assert_eq!(wait_text(30), "in 30 seconds");
        assert_eq!(wait_text(61), "in 2 minutes");
    }
}
