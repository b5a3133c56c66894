//! Egress security (SSRF): which URLs an endpoint may have, and which
//! addresses a delivery may dial. Pure: resolution is done by the caller
//! (`resolver`), which checks every address it returns here, at connect time.
//!
//! By default only `https` URLs whose host is a public address are admitted:
//! loopback, private, link-local (the cloud metadata address 169.254.169.254
//! among them), shared (CGNAT), unique-local, multicast, reserved and
//! IPv4-mapped or -translated IPv6 addresses are refused. `WEBHOOKS_ALLOWED_HOSTS`
//! names host names and CIDR ranges that are admitted anyway, plain `http`
//! included: for tests and local development.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use reqwest::Url;

/// Why a URL or an address is refused. `code` is the stable problem code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not an absolute http(s) URL with a host: {0}")]
    Invalid(String),
    #[error("only https URLs are admitted (plain http only for hosts in WEBHOOKS_ALLOWED_HOSTS)")]
    Scheme,
    #[error("{ip} is a {class} address: webhooks are only sent to public addresses")]
    Address { ip: IpAddr, class: &'static str },
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Invalid(_) => "url_invalid",
            Refusal::Scheme => "url_scheme_refused",
            Refusal::Address { .. } => "url_address_refused",
        }
    }
}

/// The egress policy: the default rules and what `WEBHOOKS_ALLOWED_HOSTS` admits.
#[derive(Clone, Debug, Default)]
pub struct Egress {
    hosts: Vec<String>,
    nets: Vec<IpNet>,
}

/// Longest URL an endpoint may have.
pub const MAX_URL_LEN: usize = 2048;

impl Egress {
    /// From a comma-separated list of host names and CIDR ranges (or single addresses).
    pub fn parse(allowed: &str) -> Result<Egress, String> {
        let mut egress = Egress::default();
        for item in allowed.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Ok(net) = item.parse::<IpNet>() {
                egress.nets.push(net);
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                egress.nets.push(IpNet::from(ip));
            } else if item.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
                egress.hosts.push(item.to_ascii_lowercase());
            } else {
                return Err(format!("WEBHOOKS_ALLOWED_HOSTS: {item:?} is neither a host name nor a CIDR range"));
            }
        }
        Ok(egress)
    }

    fn named(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// The URL, if an endpoint may have it. A host given as an address is
    /// checked here; a host name is checked at connect time, on every address
    /// it resolves to then (see [`Egress::check_addr`]).
    pub fn check_url(&self, raw: &str) -> Result<Url, Refusal> {
        if raw.chars().count() > MAX_URL_LEN {
            return Err(Refusal::Invalid(format!("longer than {MAX_URL_LEN} characters")));
        }
        let url = Url::parse(raw).map_err(|e| Refusal::Invalid(e.to_string()))?;
        let host = match url.host() {
            Some(host) if matches!(url.scheme(), "http" | "https") => host,
            _ => return Err(Refusal::Invalid(raw.chars().take(100).collect())),
        };
        let literal = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        };
        let host_text = url.host_str().unwrap_or_default().to_owned();
        let admitted = self.named(&host_text) || literal.is_some_and(|ip| self.nets.iter().any(|n| n.contains(&ip)));
        if url.scheme() != "https" && !admitted {
            return Err(Refusal::Scheme);
        }
        if let Some(ip) = literal {
            self.check_addr(&host_text, ip)?;
        }
        Ok(url)
    }

    /// May a delivery to `host` dial `ip`? Asked for every address a host name
    /// resolves to, at connect time, so a name that rebinds to a private
    /// address is refused however it resolved when the URL was saved.
    pub fn check_addr(&self, host: &str, ip: IpAddr) -> Result<(), Refusal> {
        if self.named(host) || self.nets.iter().any(|n| n.contains(&ip)) {
            return Ok(());
        }
        match class(ip) {
            Some(class) => Err(Refusal::Address { ip, class }),
            None => Ok(()),
        }
    }
}

/// The kind of a non-public address; `None` for a public one.
pub fn class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => class_v4(v4),
        IpAddr::V6(v6) => class_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn class_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let table: [([u8; 4], u8, &'static str); 14] = [
        ([0, 0, 0, 0], 8, "unspecified"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([10, 0, 0, 0], 8, "private"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 168, 0, 0], 16, "private"),
        ([169, 254, 0, 0], 16, "link-local"),
        ([100, 64, 0, 0], 10, "shared (CGNAT)"),
        ([192, 0, 0, 0], 24, "reserved"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([198, 18, 0, 0], 15, "reserved"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([240, 0, 0, 0], 4, "reserved"),
    ];
    table.iter().find(|(net, len, _)| in_v4(ip, *net, *len)).map(|(_, _, class)| *class)
}

fn class_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.to_ipv4_mapped().is_some() {
        Some("IPv4-mapped")
    } else if s[..6] == [0; 6] {
        Some("IPv4-compatible")
    } else if s[0] == 0x64 && s[1] == 0xff9b {
        Some("IPv4-translated (NAT64)")
    } else if s[0] == 0x2002 {
        Some("6to4 (IPv4-embedding)")
    } else if s[0] & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if s[0] & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if s[0] & 0xffc0 == 0xfec0 {
        Some("site-local")
    } else if s[0] & 0xff00 == 0xff00 {
        Some("multicast")
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        Some("documentation")
    } else {
        None
    }
}

#[cfg(test)]
#[path = "egress_tests.rs"]
mod tests;
