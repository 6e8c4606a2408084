//! Where a request comes from: the one place that decides.
//!
//! Directly connected clients are who their socket says. Behind a reverse
//! proxy every request comes from the proxy, so for peers in the trusted
//! proxies (`--trusted-proxy CIDR`) the client is read from the one header
//! the operator says the proxy writes (`X-Forwarded-For` by default, or
//! RFC 7239's `Forwarded`): the rightmost hop that is not itself a trusted
//! proxy, since each proxy appends the address it saw and only the hops our
//! own proxies added can be believed. The other header is never read: most
//! proxies write one and pass the client's copy of the other through
//! untouched, so "whichever is present" would let a client name its own
//! address. From peers that are not trusted proxies both are ignored.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::http::HeaderMap;
use ipnet::IpNet;
use pinlink_core::ClientAddress;

/// The networks whose forwarding header is believed, and which header.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Arc<[IpNet]>,
    header: ForwardedHeader,
}

/// The header a trusted proxy writes the client's address into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, Caddy, HAProxy, Traefik).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl ForwardedHeader {
    pub fn parse(text: &str) -> Result<ForwardedHeader, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ForwardedHeader::XForwardedFor),
            "forwarded" => Ok(ForwardedHeader::Forwarded),
            other => Err(format!(
                "{other:?} is not a forwarding header: use x-forwarded-for or forwarded"
            )),
        }
    }
}

impl TrustedProxies {
    /// Proxies that write `X-Forwarded-For`.
    pub fn new(networks: Vec<IpNet>) -> Self {
        TrustedProxies {
            networks: networks.into(),
            header: ForwardedHeader::XForwardedFor,
        }
    }

    /// The same header, other proxies.
    pub fn with_networks(mut self, networks: Vec<IpNet>) -> Self {
        self.networks = networks.into();
        self
    }

    /// Read `header` instead.
    pub fn reading(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    /// Parses `CIDR` or a bare address (`10.0.0.1` is `10.0.0.1/32`).
    pub fn parse_network(text: &str) -> Result<IpNet, String> {
        let text = text.trim();
        text.parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| format!("{text:?} is not an address or CIDR network (e.g. 10.0.0.0/8)"))
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ClientAddress::new(ip).ip();
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, as [`module`](self) describes.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddress {
        if !self.trusts(peer) {
            return ClientAddress::new(peer);
        }
        let hops = forwarded_hops(headers, self.header);
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.trusts(*ip) => client = *ip,
                Some(ip) => return ClientAddress::new(*ip),
                // An unreadable hop (`unknown`, an obfuscated name, garbage):
                // nothing left of it can be believed; the last trusted hop is
                // the best we know.
                None => break,
            }
        }
        ClientAddress::new(client)
    }
}

/// The hops a request passed, oldest first, as `header` lists them (every
/// header of that name, every element, in order). Values are split on `,`
/// as bytes, so a client's junk in its own hop cannot make the hops our
/// proxies appended unreadable.
fn forwarded_hops(headers: &HeaderMap, header: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let name = match header {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let elements = headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .map(|element| std::str::from_utf8(element).ok());
    match header {
        ForwardedHeader::XForwardedFor => elements.map(|e| e.and_then(parse_node)).collect(),
        ForwardedHeader::Forwarded => elements
            .map(|element| {
                element?.split(';').find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| parse_node(value))
                })?
            })
            .collect(),
    }
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`,
/// `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let node = raw.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    let bracketed = node.strip_prefix('[')?;
    bracketed.split(']').next()?.parse().ok()
}

/// The client's address, as the connection found it (unknown outside a
/// served request).
pub fn of(extensions: &axum::http::Extensions) -> ClientAddress {
    extensions
        .get::<ClientAddress>()
        .copied()
        .unwrap_or(ClientAddress::UNKNOWN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            list.iter()
                .map(|n| TrustedProxies::parse_network(n).expect("network"))
                .collect(),
        )
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn untrusted_peers_cannot_choose_their_address() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let spoof = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=1.2.3.4")]);
        assert_eq!(
            trusted.client_address(ip("192.0.2.7"), &spoof).ip(),
            ip("192.0.2.7")
        );
        assert_eq!(
            TrustedProxies::default()
                .client_address(ip("10.0.0.1"), &spoof)
                .ip(),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "::1"]);
        // The client forged a first hop; our proxies appended the real one.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.0.0.2")]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &chain).ip(),
            ip("203.0.113.9")
        );
        let forwarded = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.2",
        )]);
        let rfc7239 = trusted.clone().reading(ForwardedHeader::Forwarded);
        assert_eq!(
            rfc7239.client_address(ip("::1"), &forwarded).ip(),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn only_the_header_the_proxy_writes_is_read() {
        // An nginx-style proxy writes X-Forwarded-For and passes the
        // client's own Forwarded header through: it must not count.
        let trusted = proxies(&["10.0.0.0/8"]);
        let both = headers(&[
            ("forwarded", "for=198.51.100.1"),
            ("x-forwarded-for", "198.51.100.2"),
        ]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &both).ip(),
            ip("198.51.100.2")
        );
        let rfc7239 = trusted.reading(ForwardedHeader::Forwarded);
        assert_eq!(
            rfc7239.client_address(ip("10.0.0.1"), &both).ip(),
            ip("198.51.100.1")
        );
        assert!(ForwardedHeader::parse("X-Forwarded-For").is_ok());
        assert!(ForwardedHeader::parse("x-real-ip").is_err());
    }

    #[test]
    fn junk_in_the_clients_hop_leaves_the_proxies_hops_readable() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let mut map = HeaderMap::new();
        map.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff\xfe junk, 203.0.113.9").expect("opaque bytes"),
        );
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &map).ip(),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn unreadable_or_missing_hops_leave_the_last_trusted_one() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let garbage = headers(&[("x-forwarded-for", "1.2.3.4, unknown, 10.0.0.3")]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &garbage).ip(),
            ip("10.0.0.3")
        );
        assert_eq!(
            trusted
                .client_address(ip("10.0.0.1"), &HeaderMap::new())
                .ip(),
            ip("10.0.0.1")
        );
        assert_eq!(parse_node("192.0.2.1:80"), Some(ip("192.0.2.1")));
        assert_eq!(parse_node("_hidden"), None);
        assert!(TrustedProxies::parse_network("10.0.0.1").is_ok());
        assert!(TrustedProxies::parse_network("nonsense/8").is_err());
    }
}
