//! Where a request comes from: the one place that decides.
//!
//! Directly connected clients are who their socket says. Behind a reverse
//! proxy every request comes from the proxy, so for peers in the trusted
//! proxies (`--trusted-proxy CIDR`) the client is read from the
//! `Forwarded` header (RFC 7239), or `X-Forwarded-For` when there is none:
//! the rightmost hop that is not itself a trusted proxy, since each proxy
//! appends the address it saw and only the hops our own proxies added can be
//! believed. From any other peer those headers are ignored: a client cannot
//! choose its own address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use pinlink_core::ClientAddress;

/// The networks whose `Forwarded`/`X-Forwarded-For` headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        TrustedProxies(networks.into())
    }

    /// Parses `CIDR` or a bare address (`10.0.0.1` is `10.0.0.1/32`).
    pub fn parse_network(text: &str) -> Result<IpNet, String> {
        let text = text.trim();
        text.parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| format!("{text:?} is not an address or CIDR network (e.g. 10.0.0.0/8)"))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ClientAddress::new(ip).ip();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, as [`module`](self) describes.
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddress {
        if !self.trusts(peer) {
            return ClientAddress::new(peer);
        }
        let hops = forwarded_hops(headers);
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

/// The hops a request passed, oldest first, from `Forwarded` (every
/// `for=` of every element of every such header) or else `X-Forwarded-For`.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|value| value.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| parse_node(value))
                })
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().ok().unwrap_or("?").split(','))
        .map(parse_node)
        .collect()
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

/// Middleware: puts the request's [`ClientAddress`] into its extensions,
/// where [`crate::request::PlexRequest`] and the pages read it.
pub async fn resolve(
    State(trusted): State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    let address = match request.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => trusted.client_address(peer.ip(), request.headers()),
        None => ClientAddress::UNKNOWN,
    };
    request.extensions_mut().insert(address);
    next.run(request).await
}

/// The address [`resolve`] found (unknown outside a served request).
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
        assert_eq!(
            trusted.client_address(ip("::1"), &forwarded).ip(),
            ip("2001:db8::7")
        );
        // Forwarded wins over X-Forwarded-For when both are there.
        let both = headers(&[
            ("forwarded", "for=198.51.100.1"),
            ("x-forwarded-for", "198.51.100.2"),
        ]);
        assert_eq!(
            trusted.client_address(ip("10.0.0.1"), &both).ip(),
            ip("198.51.100.1")
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
