//! The account's resources (its servers): `GET /api/v2/resources` (JSON
//! array, or `<resources>` in XML; ISO times) and v1 `GET /api/resources`
//! (always XML, `<MediaContainer><Device><Connection/>`; unix times). Field
//! sets after the `plex-api` crate's fixtures and python-plexapi's
//! `MyPlexResource` (reference §B.2).

use serde_json::json;

use crate::time_format::json_datetime;
use crate::xml::Element;
use crate::WireBody;

/// One way to reach a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceConnection {
    pub protocol: String,
    pub address: String,
    pub port: u16,
    pub uri: String,
    /// On a private network (RFC 1918, loopback, `.local`).
    pub local: bool,
}

impl ResourceConnection {
    /// Splits a published `http(s)://host[:port][/…]` URI.
    pub fn from_uri(uri: &str) -> Option<ResourceConnection> {
        let (protocol, rest) = uri.split_once("://")?;
        let authority = rest.split('/').next()?;
        let (address, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                match port.parse::<u16>() {
                    Ok(port) => (host, port),
                    Err(_) => (authority, default_port(protocol)),
                }
            }
            _ => (authority, default_port(protocol)),
        };
        let address = address.trim_start_matches('[').trim_end_matches(']');
        if address.is_empty() {
            return None;
        }
        Some(ResourceConnection {
            protocol: protocol.to_owned(),
            address: address.to_owned(),
            port,
            uri: uri.to_owned(),
            local: is_local(address),
        })
    }
}

fn default_port(protocol: &str) -> u16 {
    if protocol == "https" {
        443
    } else {
        80
    }
}

fn is_local(host: &str) -> bool {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        Ok(std::net::IpAddr::V6(v6)) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => host.ends_with(".local") || host == "localhost",
    }
}

/// One server of the account.
#[derive(Debug, Clone)]
pub struct ResourceBody {
    pub name: String,
    pub product: String,
    pub product_version: String,
    pub platform: String,
    pub platform_version: String,
    pub device: String,
    pub client_identifier: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub provides: String,
    /// A token for the server (its own, for the owner).
    pub access_token: String,
    pub connections: Vec<ResourceConnection>,
}

/// The list; `v1` picks the legacy document.
#[derive(Debug, Clone)]
pub struct Resources {
    pub resources: Vec<ResourceBody>,
    pub v1: bool,
}

impl WireBody for Resources {
    fn to_json(&self) -> String {
        let list: Vec<serde_json::Value> = self
            .resources
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "product": r.product,
                    "productVersion": r.product_version,
                    "platform": r.platform,
                    "platformVersion": r.platform_version,
                    "device": r.device,
                    "clientIdentifier": r.client_identifier,
                    "createdAt": json_datetime(r.created_at),
                    "lastSeenAt": json_datetime(r.last_seen_at),
                    "provides": r.provides,
                    "ownerId": null,
                    "sourceTitle": null,
                    "publicAddress": "",
                    "accessToken": r.access_token,
                    "owned": true,
                    "home": false,
                    "synced": false,
                    "relay": false,
                    "presence": true,
                    "httpsRequired": false,
                    "publicAddressMatches": true,
                    "dnsRebindingProtection": false,
                    "natLoopbackSupported": false,
                    "connections": r.connections.iter().map(|c| json!({
                        "protocol": c.protocol,
                        "address": c.address,
                        "port": c.port,
                        "uri": c.uri,
                        "local": c.local,
                        "relay": false,
                        "IPv6": c.address.contains(':'),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::Value::Array(list).to_string()
    }

    fn to_xml(&self) -> String {
        let connection = |c: &ResourceConnection, name: &'static str| {
            Element::new(name)
                .attr("protocol", &c.protocol)
                .attr("address", &c.address)
                .attr("port", c.port)
                .attr("uri", &c.uri)
                .bool_attr("local", c.local)
                .bool_attr("relay", false)
                .bool_attr("IPv6", c.address.contains(':'))
        };
        let resource = |r: &ResourceBody, name: &'static str| {
            let (created, seen) = if self.v1 {
                (r.created_at.to_string(), r.last_seen_at.to_string())
            } else {
                (json_datetime(r.created_at), json_datetime(r.last_seen_at))
            };
            Element::new(name)
                .attr("name", &r.name)
                .attr("product", &r.product)
                .attr("productVersion", &r.product_version)
                .attr("platform", &r.platform)
                .attr("platformVersion", &r.platform_version)
                .attr("device", &r.device)
                .attr("clientIdentifier", &r.client_identifier)
                .attr("createdAt", created)
                .attr("lastSeenAt", seen)
                .attr("provides", &r.provides)
                .attr("owned", "1")
                .attr("accessToken", &r.access_token)
                .attr("publicAddress", "")
                .bool_attr("httpsRequired", false)
                .bool_attr("synced", false)
                .bool_attr("relay", false)
                .bool_attr("presence", true)
        };
        let root = if self.v1 {
            Element::new("MediaContainer")
        } else {
            Element::new("resources")
        };
        root.attr("size", self.resources.len())
            .children(self.resources.iter().map(|r| {
                if self.v1 {
                    resource(r, "Device")
                        .children(r.connections.iter().map(|c| connection(c, "Connection")))
                } else {
                    resource(r, "resource").child(
                        Element::new("connections")
                            .children(r.connections.iter().map(|c| connection(c, "connection"))),
                    )
                }
            }))
            .to_document()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_read_from_their_uri() {
        let c = ResourceConnection::from_uri("http://192.168.1.10:32400").expect("uri");
        assert_eq!(
            (c.protocol.as_str(), c.address.as_str(), c.port, c.local),
            ("http", "192.168.1.10", 32400, true)
        );
        let c = ResourceConnection::from_uri("https://plex.example.org").expect("uri");
        assert_eq!((c.port, c.local), (443, false));
        let c = ResourceConnection::from_uri("http://[fd00::5]:32400/").expect("uri");
        assert_eq!(
            (c.address.as_str(), c.port, c.local),
            ("fd00::5", 32400, true)
        );
        assert!(ResourceConnection::from_uri("nonsense").is_none());
    }

    #[test]
    fn both_documents() {
        let list = Resources {
            resources: vec![ResourceBody {
                name: "Basement".into(),
                product: "Plex Media Server".into(),
                product_version: "1.40".into(),
                platform: "Linux".into(),
                platform_version: "6".into(),
                device: "PC".into(),
                client_identifier: "pms-1".into(),
                created_at: 1_700_000_000,
                last_seen_at: 1_700_000_100,
                provides: "server".into(),
                access_token: "t".into(),
                connections: vec![
                    ResourceConnection::from_uri("http://10.0.0.2:32400").expect("uri")
                ],
            }],
            v1: false,
        };
        let v: serde_json::Value = serde_json::from_str(&list.to_json()).expect("json");
        assert_eq!(v[0]["connections"][0]["port"], 32400);
        assert_eq!(v[0]["createdAt"], "2023-11-14T22:13:20Z");
        assert!(list.to_xml().contains("<connection protocol=\"http\""));
        let v1 = Resources { v1: true, ..list };
        let xml = v1.to_xml();
        assert!(xml.contains("<Device name=\"Basement\""), "{xml}");
        assert!(xml.contains("createdAt=\"1700000000\""), "{xml}");
        assert!(
            xml.contains("<Connection protocol=\"http\" address=\"10.0.0.2\""),
            "{xml}"
        );
    }
}
