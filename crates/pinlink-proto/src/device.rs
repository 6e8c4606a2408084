//! The account's device list: `GET /devices.xml` (python-plexapi's
//! `MyPlexDevice`, always XML) and `GET /api/v2/devices` (JSON or XML).
//! Dates are unix seconds in both (protocol reference §8).

use serde::{Deserialize, Serialize};

use crate::xml::Element;
use crate::WireBody;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceBody {
    pub id: i64,
    /// `X-Plex-Device-Name`
    pub name: String,
    pub product: String,
    /// `X-Plex-Version`
    pub product_version: String,
    pub platform: String,
    pub platform_version: String,
    pub device: String,
    pub model: String,
    pub vendor: String,
    pub provides: String,
    pub client_identifier: String,
    pub version: String,
    pub token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub screen_resolution: String,
    pub screen_density: String,
    pub public_address: String,
    /// The connection URIs a server published (`<Connection uri=…/>`
    /// children in XML).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<String>,
}

impl DeviceBody {
    fn to_element(&self, name: &'static str) -> Element {
        Element::new(name)
            .attr("name", &self.name)
            .attr("publicAddress", &self.public_address)
            .attr("product", &self.product)
            .attr("productVersion", &self.product_version)
            .attr("platform", &self.platform)
            .attr("platformVersion", &self.platform_version)
            .attr("device", &self.device)
            .attr("model", &self.model)
            .attr("vendor", &self.vendor)
            .attr("provides", &self.provides)
            .attr("clientIdentifier", &self.client_identifier)
            .attr("version", &self.version)
            .attr("id", self.id)
            .attr("token", &self.token)
            .attr("createdAt", self.created_at)
            .attr("lastSeenAt", self.last_seen_at)
            .attr("screenResolution", &self.screen_resolution)
            .attr("screenDensity", &self.screen_density)
            .children(
                self.connections
                    .iter()
                    .map(|uri| Element::new("Connection").attr("uri", uri)),
            )
    }
}

/// A list of devices. `legacy` picks the `/devices.xml` document
/// (`<MediaContainer><Device/>…`); otherwise v2's `<devices><device/>…`.
#[derive(Debug, Clone)]
pub struct DeviceList {
    pub devices: Vec<DeviceBody>,
    pub legacy: bool,
}

impl WireBody for DeviceList {
    fn to_json(&self) -> String {
        serde_json::to_string(&self.devices).unwrap_or_default()
    }
    fn to_xml(&self) -> String {
        let (root, item) = if self.legacy {
            ("MediaContainer", "Device")
        } else {
            ("devices", "device")
        };
        Element::new(root)
            .attr("publicAddress", "")
            .attr("size", self.devices.len())
            .children(self.devices.iter().map(|d| d.to_element(item)))
            .to_document()
    }
}
