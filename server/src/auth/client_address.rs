//! Who the client is: the peer address, or — only when the peer is a
//! configured proxy — the address the proxy says it forwarded for
//! (`Forwarded: for=…`, RFC 7239, or else `X-Forwarded-For`). Every rate
//! limit keyed by address uses this, so a client cannot pick its own key by
//! sending the header itself.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

/// The `[proxy]` configuration section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Addresses or CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`, `127.0.0.1`)
    /// of the reverse proxies in front of the server. Empty: forwarding
    /// headers are ignored and the peer address is the client.
    pub trusted: Vec<String>,
}

impl ProxyConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.networks().map(|_| ())
    }

    /// The trusted networks, parsed.
    pub fn networks(&self) -> Result<TrustedProxies, ConfigError> {
        self.trusted
            .iter()
            .map(|text| {
                Network::parse(text).ok_or_else(|| {
                    ConfigError::invalid(
                        "proxy.trusted",
                        "each entry must be an IP address or CIDR block (e.g. 10.0.0.0/8)",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }
}

/// One address block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
            None => (text.trim(), None),
        };
        let base: IpAddr = address.parse().ok()?;
        let bits = if base.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then_some(Self { base, prefix })
    }

    fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        match (self.base, address) {
            (IpAddr::V4(base), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(base) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(base) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4-mapped IPv6 address (a dual-stack listener's peer) as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

/// The configured proxies.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    pub fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(address))
    }

    /// The client's address: the peer unless it is a trusted proxy; then
    /// the hops it forwarded for, read from the nearest backwards, skipping
    /// trusted proxies, the first untrusted one — a client can prepend
    /// anything, but not what the proxies appended after it.
    pub fn client(
        &self,
        peer: IpAddr,
        forwarded: Option<&str>,
        x_forwarded_for: Option<&str>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = match (forwarded, x_forwarded_for) {
            (Some(forwarded), _) => forwarded_for(forwarded),
            (None, Some(list)) => list.split(',').filter_map(parse_hop).collect(),
            (None, None) => return peer,
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            client = canonical(hop);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// The `for=` addresses of a `Forwarded` header, in order.
fn forwarded_for(header: &str) -> Vec<IpAddr> {
    header
        .split(',')
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_hop(value))
                    .flatten()
            })
        })
        .collect()
}

/// One hop: `1.2.3.4`, `1.2.3.4:5678`, `"[2001:db8::1]:80"`, `2001:db8::1`.
fn parse_hop(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(address) = text.parse::<IpAddr>() {
        return Some(address);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    text.rsplit_once(':')?.0.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        ProxyConfig {
            trusted: list.iter().map(|s| (*s).to_owned()).collect(),
        }
        .networks()
        .expect("valid")
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn headers_count_only_from_trusted_peers() {
        let none = proxies(&[]);
        assert_eq!(
            none.client(ip("10.0.0.5"), None, Some("1.2.3.4")),
            ip("10.0.0.5")
        );
        let lan = proxies(&["10.0.0.0/8", "2001:db8::/32"]);
        assert_eq!(
            lan.client(ip("192.0.2.1"), None, Some("1.2.3.4")),
            ip("192.0.2.1")
        );
        assert_eq!(
            lan.client(ip("10.1.2.3"), None, Some("1.2.3.4")),
            ip("1.2.3.4")
        );
        // A client-supplied first entry is skipped: the proxy appended the real one.
        assert_eq!(
            lan.client(ip("10.1.2.3"), None, Some("6.6.6.6, 1.2.3.4, 10.9.9.9")),
            ip("1.2.3.4")
        );
        assert_eq!(
            lan.client(
                ip("::ffff:10.1.2.3"),
                Some("for=\"[2001:db8::7]:443\", for=198.51.100.9;proto=https"),
                None
            ),
            ip("198.51.100.9")
        );
        assert_eq!(
            lan.client(ip("10.1.2.3"), None, Some("garbage")),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn bad_entries_are_refused_by_key() {
        for bad in ["10.0.0.0/33", "example.com", "::1/129"] {
            let error = ProxyConfig {
                trusted: vec![bad.into()],
            }
            .validate()
            .expect_err("refused");
            assert!(error.to_string().contains("proxy.trusted"));
        }
    }
}
