//! Reading plex.tv's answers, in JSON or XML, into the client's types.
//! Lenient on purpose: fields a real plex.tv may leave out or set to null do
//! not make an otherwise good answer unreadable.

use std::collections::HashMap;
use std::time::Duration;

use pinlink_proto::time_format::{parse_json_datetime, parse_xml_datetime};
use quick_xml::events::Event;
use serde::Deserialize;
use serde_json::Value;

use crate::error::Error;

/// A pin as the server last described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub id: u32,
    /// 4 characters to type at the link page, or 25 for the approval URL.
    pub code: String,
    pub product: String,
    pub client_identifier: String,
    /// The server's QR image URL for this code.
    pub qr: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Seconds left when the server answered.
    pub expires_in: i64,
    /// Set once the pin was approved.
    pub auth_token: Option<String>,
}

impl Pin {
    pub fn is_strong(&self) -> bool {
        self.code.len() > 4
    }
}

/// The signed-in account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub uuid: String,
    pub username: String,
    pub email: String,
    pub title: String,
    /// The token the answer was for (a new one after sign-in).
    pub auth_token: String,
}

/// One of the account's devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: i64,
    pub name: String,
    pub product: String,
    pub product_version: String,
    pub platform: String,
    pub platform_version: String,
    pub device: String,
    pub model: String,
    pub vendor: String,
    pub client_identifier: String,
    pub token: Option<String>,
    /// Unix seconds, when the server says.
    pub created_at: Option<i64>,
    pub last_seen_at: Option<i64>,
}

/// A response body and how it is encoded.
pub(crate) struct Body {
    pub text: String,
    pub json: bool,
}

fn missing(what: &str) -> Error {
    Error::Unexpected(format!("the answer has no usable {what}"))
}

/// The attributes of every element called `name`, in document order.
pub(crate) fn xml_elements(xml: &str, name: &str) -> Result<Vec<HashMap<String, String>>, Error> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut found = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) if e.name().as_ref() == name.as_bytes() => {
                let mut attrs = HashMap::new();
                for attr in e.attributes() {
                    let attr =
                        attr.map_err(|e| Error::Unexpected(format!("bad XML attribute: {e}")))?;
                    let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
                    let value = attr
                        .unescape_value()
                        .map_err(|e| Error::Unexpected(format!("bad XML attribute value: {e}")))?;
                    attrs.insert(key, value.into_owned());
                }
                found.push(attrs);
            }
            Ok(Event::Eof) => return Ok(found),
            Ok(_) => {}
            Err(e) => return Err(Error::Unexpected(format!("malformed XML: {e}"))),
        }
    }
}

fn first_element(xml: &str, name: &str) -> Result<HashMap<String, String>, Error> {
    xml_elements(xml, name)?
        .into_iter()
        .next()
        .ok_or_else(|| missing(name))
}

fn non_empty(s: Option<&String>) -> Option<String> {
    s.filter(|s| !s.is_empty()).cloned()
}

fn json_str(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn json_i64(v: &Value, key: &str) -> Option<i64> {
    match &v[key] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub(crate) fn parse_pin(body: &Body) -> Result<Pin, Error> {
    if body.json {
        let v: Value = serde_json::from_str(&body.text)
            .map_err(|e| Error::Unexpected(format!("bad JSON pin: {e}")))?;
        let id = json_i64(&v, "id")
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| missing("pin id"))?;
        let code = json_str(&v, "code");
        if code.is_empty() {
            return Err(missing("pin code"));
        }
        let created_at = v["createdAt"]
            .as_str()
            .and_then(parse_json_datetime)
            .unwrap_or_default();
        let expires_at = v["expiresAt"]
            .as_str()
            .and_then(parse_json_datetime)
            .ok_or_else(|| missing("expiresAt"))?;
        Ok(Pin {
            id,
            code,
            product: json_str(&v, "product"),
            client_identifier: json_str(&v, "clientIdentifier"),
            qr: json_str(&v, "qr"),
            created_at,
            expires_at,
            expires_in: json_i64(&v, "expiresIn").unwrap_or(expires_at - created_at),
            auth_token: v["authToken"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        })
    } else {
        let a = first_element(&body.text, "pin")?;
        let id = a
            .get("id")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| missing("pin id"))?;
        let code = non_empty(a.get("code")).ok_or_else(|| missing("pin code"))?;
        let created_at = a
            .get("createdAt")
            .and_then(|s| parse_xml_datetime(s))
            .unwrap_or_default();
        let expires_at = a
            .get("expiresAt")
            .and_then(|s| parse_xml_datetime(s))
            .ok_or_else(|| missing("expiresAt"))?;
        let get = |k: &str| a.get(k).cloned().unwrap_or_default();
        Ok(Pin {
            id,
            code,
            product: get("product"),
            client_identifier: get("clientIdentifier"),
            qr: get("qr"),
            created_at,
            expires_at,
            expires_in: a
                .get("expiresIn")
                .and_then(|s| s.parse().ok())
                .unwrap_or(expires_at - created_at),
            auth_token: non_empty(a.get("authToken")),
        })
    }
}

pub(crate) fn parse_user(body: &Body) -> Result<User, Error> {
    if body.json {
        let v: Value = serde_json::from_str(&body.text)
            .map_err(|e| Error::Unexpected(format!("bad JSON user: {e}")))?;
        // The legacy endpoint wraps the user: {"user": {…}}.
        let v = if v.get("user").is_some_and(Value::is_object) {
            v["user"].clone()
        } else {
            v
        };
        Ok(User {
            id: json_i64(&v, "id").ok_or_else(|| missing("user id"))?,
            uuid: json_str(&v, "uuid"),
            username: json_str(&v, "username"),
            email: json_str(&v, "email"),
            title: json_str(&v, "title"),
            auth_token: json_str(&v, "authToken"),
        })
    } else {
        let a = first_element(&body.text, "user")?;
        let get = |k: &str| a.get(k).cloned().unwrap_or_default();
        Ok(User {
            id: a
                .get("id")
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| missing("user id"))?,
            uuid: get("uuid"),
            username: get("username"),
            email: get("email"),
            title: get("title"),
            auth_token: get("authToken"),
        })
    }
}

/// `/devices.xml`: `<MediaContainer><Device …/>…`.
pub(crate) fn parse_devices(body: &Body) -> Result<Vec<Device>, Error> {
    let unix = |s: Option<&String>| s.and_then(|s| s.parse::<i64>().ok());
    xml_elements(&body.text, "Device")?
        .into_iter()
        .map(|a| {
            let get = |k: &str| a.get(k).cloned().unwrap_or_default();
            Ok(Device {
                id: a
                    .get("id")
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| missing("device id"))?,
                name: get("name"),
                product: get("product"),
                product_version: get("productVersion"),
                platform: get("platform"),
                platform_version: get("platformVersion"),
                device: get("device"),
                model: get("model"),
                vendor: get("vendor"),
                client_identifier: get("clientIdentifier"),
                token: non_empty(a.get("token")),
                created_at: unix(a.get("createdAt")),
                last_seen_at: unix(a.get("lastSeenAt")),
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct JsonErrors {
    errors: Vec<JsonError>,
}

#[derive(Deserialize)]
struct JsonError {
    code: Option<i64>,
    message: Option<String>,
}

/// The first `(code, message)` of an `errors[]` body in either format, or
/// the whole text when it is something else.
pub(crate) fn parse_error(body: &Body) -> (Option<i64>, String) {
    if body.json {
        if let Ok(parsed) = serde_json::from_str::<JsonErrors>(&body.text) {
            if let Some(e) = parsed.errors.into_iter().next() {
                return (e.code, e.message.unwrap_or_default());
            }
        }
    } else if let Ok(errors) = xml_elements(&body.text, "error") {
        if let Some(e) = errors.into_iter().next() {
            return (
                e.get("code").and_then(|c| c.parse().ok()),
                e.get("message").cloned().unwrap_or_default(),
            );
        }
    }
    let text: String = body.text.chars().take(200).collect();
    (None, text.trim().to_owned())
}

pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}
