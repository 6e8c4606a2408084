//! The pin object of `POST /api/v2/pins` and `GET /api/v2/pins/{id}`
//! (protocol reference §2). Every field is always present: the generated SDKs
//! validate the whole object and the `plex-api` crate deserialises it strictly.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::time_format::xml_datetime;
use crate::xml::Element;
use crate::WireBody;

/// plex.tv's geo-IP guess of where the requester is. pinlink does no geo-IP
/// lookup; the operator may configure fixed values, and by default every
/// string is empty and every flag false (clients only need the fields present).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Location {
    pub code: String,
    pub european_union_member: bool,
    pub continent_code: String,
    pub country: String,
    pub city: String,
    pub time_zone: String,
    pub postal_code: String,
    pub in_privacy_restricted_country: bool,
    pub in_privacy_restricted_region: bool,
    pub subdivisions: String,
    pub coordinates: String,
}

impl Location {
    fn to_element(&self) -> Element {
        Element::new("location")
            .attr("code", &self.code)
            .bool_attr("european_union_member", self.european_union_member)
            .attr("continent_code", &self.continent_code)
            .attr("country", &self.country)
            .attr("city", &self.city)
            .attr("time_zone", &self.time_zone)
            .attr("postal_code", &self.postal_code)
            .bool_attr(
                "in_privacy_restricted_country",
                self.in_privacy_restricted_country,
            )
            .bool_attr(
                "in_privacy_restricted_region",
                self.in_privacy_restricted_region,
            )
            .attr("subdivisions", &self.subdivisions)
            .attr("coordinates", &self.coordinates)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PinBody {
    pub id: u32,
    pub code: String,
    pub product: String,
    pub trusted: bool,
    pub qr: String,
    pub client_identifier: String,
    /// Shared: every pin of a server answers the same one.
    #[schema(value_type = Location)]
    pub location: Arc<Location>,
    pub expires_in: i64,
    /// ISO 8601, as plex.tv writes it.
    #[serde(with = "json_time")]
    #[schema(value_type = String)]
    pub created_at: i64,
    #[serde(with = "json_time")]
    #[schema(value_type = String)]
    pub expires_at: i64,
    pub auth_token: Option<String>,
    pub new_registration: Option<bool>,
}

impl WireBody for PinBody {
    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
    fn to_xml(&self) -> String {
        Element::new("pin")
            .attr("id", self.id)
            .attr("code", &self.code)
            .attr("product", &self.product)
            .bool_attr("trusted", self.trusted)
            .attr("qr", &self.qr)
            .attr("clientIdentifier", &self.client_identifier)
            .attr("expiresIn", self.expires_in)
            .attr("createdAt", xml_datetime(self.created_at))
            .attr("expiresAt", xml_datetime(self.expires_at))
            .opt_attr("authToken", self.auth_token.as_ref())
            .opt_attr(
                "newRegistration",
                self.new_registration.map(|b| if b { "1" } else { "0" }),
            )
            .child(self.location.to_element())
            .to_document()
    }
}

/// Unix seconds in memory, RFC 3339 with `Z` on the wire.
pub(crate) mod json_time {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(unix: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::time_format::json_datetime(*unix))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let s = String::deserialize(d)?;
        crate::time_format::parse_json_datetime(&s)
            .ok_or_else(|| D::Error::custom(format!("bad datetime {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PinBody {
        PinBody {
            id: 1234567890,
            code: "ABCD".into(),
            product: "Acme".into(),
            trusted: false,
            qr: "http://x/api/v2/pins/qr/ABCD".into(),
            client_identifier: "cid".into(),
            location: Arc::default(),
            expires_in: 900,
            created_at: 1_721_149_385,
            expires_at: 1_721_150_285,
            auth_token: None,
            new_registration: None,
        }
    }

    #[test]
    fn json_has_every_field_with_nulls() {
        let v: serde_json::Value = serde_json::from_str(&sample().to_json()).expect("json");
        for field in [
            "id",
            "code",
            "product",
            "trusted",
            "qr",
            "clientIdentifier",
            "location",
            "expiresIn",
            "createdAt",
            "expiresAt",
            "authToken",
            "newRegistration",
        ] {
            assert!(v.get(field).is_some(), "{field} missing");
        }
        assert!(v["authToken"].is_null() && v["newRegistration"].is_null());
        assert_eq!(v["createdAt"], "2024-07-16T17:03:05Z");
        assert_eq!(v["location"]["postal_code"], "");
        let back: PinBody = serde_json::from_value(v).expect("parses back");
        assert_eq!(back, sample());
    }

    #[test]
    fn xml_uses_attributes_and_empty_nulls() {
        let xml = sample().to_xml();
        assert!(xml.contains(r#"<pin id="1234567890" code="ABCD""#), "{xml}");
        assert!(xml.contains(r#"authToken="" newRegistration="""#), "{xml}");
        assert!(
            xml.contains(r#"createdAt="2024-07-16 17:03:05 UTC""#),
            "{xml}"
        );
        assert!(
            xml.contains("<location code=\"\" european_union_member=\"0\""),
            "{xml}"
        );
    }
}
