//! Where the server may send requests that someone else chose the address
//! of: webhook receivers (a tenant's admin), the SMS provider, IMAP hosts.
//! Only public unicast addresses, unless the operator allows a network for
//! on-premises receivers (`[egress] allow`).
//!
//! An address is checked twice: when it is registered (the URL resolved,
//! every address public) and at every send, where the HTTP client resolves
//! through [`GuardedResolver`], which drops internal addresses, so a name
//! that resolved to a public address at registration and to `127.0.0.1`
//! later (DNS rebinding) reaches nothing. IP-literal hosts never reach a
//! resolver; [`EgressPolicy::check_literal`] covers them at send time.
//! Redirects are never followed and no proxy from the environment is used.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::config_error::ConfigError;

/// The `[egress]` configuration section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    /// Networks (`10.1.2.0/24`) or single addresses (`127.0.0.1`) the server
    /// may reach although they are internal: on-premises webhook receivers,
    /// an SMS gateway or a mail server on the local network. Empty: public
    /// addresses only.
    pub allow: Vec<String>,
}

impl EgressConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.policy().map(drop)
    }

    pub fn policy(&self) -> Result<EgressPolicy, ConfigError> {
        let allow = self
            .allow
            .iter()
            .map(|entry| parse_network(entry))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ConfigError::invalid(
                    "egress.allow",
                    "every entry must be an address or a network like 10.0.0.0/8",
                )
            })?;
        Ok(EgressPolicy { allow })
    }
}

fn parse_network(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .ok()
        .or_else(|| entry.parse::<IpAddr>().ok().map(IpNet::from))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error("must be an absolute http:// or https:// URL")]
    BadUrl,
    #[error("the host {0} could not be resolved")]
    Unresolved(String),
    /// The message names the address class, never a port or an answer.
    #[error("{0} is an internal address; only public addresses can be reached")]
    Internal(IpAddr),
}

/// The operator's allow-list plus the rule "public unicast only".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    allow: Vec<IpNet>,
}

impl EgressPolicy {
    /// A policy allowing exactly `networks` besides public addresses.
    pub fn allowing(networks: Vec<IpNet>) -> Self {
        Self { allow: networks }
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.allow.iter().any(|net| net.contains(&ip))
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), EgressError> {
        if self.permits(ip) {
            Ok(())
        } else {
            Err(EgressError::Internal(ip))
        }
    }

    /// At registration: the URL is http(s) and every address its host
    /// resolves to may be reached.
    pub async fn check_url(&self, url: &str) -> Result<(), EgressError> {
        let parsed = parse_url(url)?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        match parsed.host() {
            Some(url::Host::Domain(name)) => self.check_host(name, port).await,
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            None => Err(EgressError::BadUrl),
        }
    }

    /// A host name or address (an IMAP server): every address it resolves to
    /// may be reached. A name that does not resolve passes here; the
    /// resolver refuses it at send time if it then points inward.
    pub async fn check_host(&self, host: &str, port: u16) -> Result<(), EgressError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.check_ip(ip);
        }
        // A name that does not resolve now cannot be judged now; it is
        // judged by the resolver at every send, like every name.
        let Ok(addresses) = tokio::net::lookup_host((host, port)).await else {
            return Ok(());
        };
        let addresses: Vec<SocketAddr> = addresses.collect();
        addresses
            .iter()
            .try_for_each(|address| self.check_ip(address.ip()))
    }

    /// At send time, for hosts that are IP literals (a resolver never sees
    /// them): the scheme and the address. Names are checked by the client's
    /// resolver.
    pub fn check_literal(&self, url: &str) -> Result<(), EgressError> {
        match parse_url(url)?.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => Ok(()),
            None => Err(EgressError::BadUrl),
        }
    }

    /// An HTTP client that resolves through this policy, follows no
    /// redirect and uses no proxy.
    pub fn client(&self, timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: self.clone(),
            }))
            .build()
    }
}

/// WHATWG parsing, as reqwest does: `http://2130706433/` and
/// `http://0x7f.1/` are 127.0.0.1 here too.
fn parse_url(url: &str) -> Result<url::Url, EgressError> {
    let parsed = url::Url::parse(url).map_err(|_| EgressError::BadUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(EgressError::BadUrl);
    }
    Ok(parsed)
}

/// The policy's refusal behind a failed request, if that is why it failed.
pub fn refused_by_policy(error: &reqwest::Error) -> Option<EgressError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<EgressError>() {
            return Some(refused.clone());
        }
        source = current.source();
    }
    None
}

/// The system resolver, keeping only addresses the policy permits.
#[derive(Debug)]
pub struct GuardedResolver {
    policy: EgressPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let permitted: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| {
                    let ok = policy.permits(address.ip());
                    if !ok {
                        refused = Some(address.ip());
                    }
                    ok
                })
                .collect();
            if permitted.is_empty() {
                let error: Box<dyn std::error::Error + Send + Sync> = match refused {
                    Some(ip) => Box::new(EgressError::Internal(ip)),
                    None => Box::new(EgressError::Unresolved(host)),
                };
                return Err(error);
            }
            let addresses: reqwest::dns::Addrs = Box::new(permitted.into_iter());
            Ok(addresses)
        })
    }
}

/// Public unicast: not loopback, private, link-local, shared, reserved,
/// documentation, multicast, broadcast or unspecified — and for IPv6 the
/// same judged on an embedded IPv4 address (mapped, compatible, NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        || (first == 0x2001 && ip.segments()[1] == 0)
        || (first == 0x0100 && ip.segments()[1..4] == [0, 0, 0])
        || first == 0)
}

/// The IPv4 address an IPv6 address carries: `::ffff:a.b.c.d`,
/// `::a.b.c.d`, `64:ff9b::a.b.c.d` (NAT64) or `2002:aabb:ccdd::` (6to4).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !(s[6] == 0 && s[7] <= 1) {
        return Some(low(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(low(s[1], s[2]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "240.0.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip(internal)), "{internal} counted as public");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(public)), "{public} counted as internal");
        }
    }

    #[tokio::test]
    async fn urls_with_internal_hosts_are_refused_however_written() {
        let policy = EgressPolicy::default();
        for url in [
            "http://127.0.0.1:8080/x",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://017700000001/",
            "http://[::1]:9/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost:1/",
        ] {
            assert!(policy.check_url(url).await.is_err(), "{url} allowed");
            if !url.contains("localhost") {
                assert!(
                    policy.check_literal(url).is_err(),
                    "{url} allowed at send time"
                );
            }
        }
        assert_eq!(
            policy.check_url("ftp://example.com/").await,
            Err(EgressError::BadUrl)
        );
        let allowed = EgressPolicy::allowing(vec!["127.0.0.0/8".parse().expect("net")]);
        assert!(allowed.check_url("http://127.0.0.1:9/hook").await.is_ok());
        assert!(allowed.check_url("http://[::1]:9/").await.is_err());
    }

    #[test]
    fn the_allow_list_takes_addresses_and_networks() {
        let config = EgressConfig {
            allow: vec!["127.0.0.1".into(), "10.0.0.0/8".into(), "::1".into()],
        };
        let policy = config.policy().expect("valid");
        assert!(policy.permits(ip("127.0.0.1")));
        assert!(!policy.permits(ip("127.0.0.2")));
        assert!(policy.permits(ip("10.9.8.7")));
        assert!(policy.permits(ip("::1")));
        let bad = EgressConfig {
            allow: vec!["ten".into()],
        };
        assert!(bad.validate().is_err());
    }
}
