//! Parsing of `host:port` addresses and the address policy (`allow` / `deny`).
//!
//! The policy is decided here, before any system call: `listen` and `connect` check the
//! address as written, and `connect` checks every resolved address again (so a name that
//! resolves to a denied network is refused, whatever the name).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The host part of an address an actor gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Host {
    /// An IP literal (`127.0.0.1`, `[::1]`).
    Ip(IpAddr),
    /// A DNS name, lower-cased, without a trailing dot.
    Name(String),
}

/// `host:port` as an actor wrote it, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPort {
    /// The host.
    pub host: Host,
    /// The port.
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port`, `[v6]:port` or `v4:port`. The error is the reason only.
    pub fn parse(text: &str) -> Result<HostPort, String> {
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(HostPort {
                host: Host::Ip(addr.ip()),
                port: addr.port(),
            });
        }
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| "expected host:port".to_owned())?;
        let port = parse_port(port)?;
        if host.starts_with('[') || host.contains(':') {
            return Err("IPv6 addresses must be written as [addr]:port".to_owned());
        }
        let name =
            normalize_dns_name(host).ok_or_else(|| format!("'{host}' is not a valid host name"))?;
        Ok(HostPort {
            host: Host::Name(name),
            port,
        })
    }

    /// The address when the host is an IP literal.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.host {
            Host::Ip(ip) => Some(SocketAddr::new(ip, self.port)),
            Host::Name(_) => None,
        }
    }

    /// The name used for TLS SNI and certificate checks: the host as written.
    pub fn server_name(&self) -> String {
        match &self.host {
            Host::Ip(ip) => ip.to_string(),
            Host::Name(n) => n.clone(),
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(ip) => write!(f, "{}", SocketAddr::new(*ip, self.port)),
            Host::Name(n) => write!(f, "{n}:{}", self.port),
        }
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{text}' is not a port number"));
    }
    text.parse::<u16>()
        .map_err(|_| format!("port {text} is out of range"))
}

/// Lower-cases a DNS name and checks its syntax (RFC 1123 labels; `_` allowed as in
/// service names). Returns `None` for anything else.
pub fn normalize_dns_name(text: &str) -> Option<String> {
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return None;
        }
    }
    // A name made only of digits and dots would be mistaken for an IPv4 address.
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

/// A server name for TLS: a DNS name or an IP address. `None` when it is neither.
pub fn valid_server_name(text: &str) -> Option<String> {
    if let Ok(ip) = text
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Some(ip.to_string());
    }
    normalize_dns_name(text)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Net {
        base: IpAddr,
        prefix: u8,
    },
    Name(String),
    /// `*.example.com`: any name strictly below `example.com`.
    Below(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortPattern {
    Any,
    Range(u16, u16),
}

/// One `allow` / `deny` entry: `host:port` where host is `*`, an IP, a CIDR network, a DNS
/// name or `*.domain`, and port is `*`, a number or `lo-hi`. IPv6 goes in brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPattern {
    host: HostPattern,
    port: PortPattern,
}

impl AddressPattern {
    /// Parses a pattern; the error says what is wrong.
    pub fn parse(text: &str) -> Result<AddressPattern, String> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("'{text}': expected host:port"))?;
        let port = match port {
            "*" => PortPattern::Any,
            p => match p.split_once('-') {
                Some((lo, hi)) => {
                    let (lo, hi) = (parse_port(lo)?, parse_port(hi)?);
                    if lo > hi {
                        return Err(format!("'{text}': port range {lo}-{hi} is empty"));
                    }
                    PortPattern::Range(lo, hi)
                }
                None => {
                    let n = parse_port(p)?;
                    PortPattern::Range(n, n)
                }
            },
        };
        let bare = match host.strip_prefix('[') {
            Some(rest) => rest
                .strip_suffix(']')
                .ok_or_else(|| format!("'{text}': unclosed '['"))?,
            None if host.contains(':') => {
                return Err(format!(
                    "'{text}': IPv6 patterns must be written as [addr]:port"
                ));
            }
            None => host,
        };
        let host = if bare == "*" {
            HostPattern::Any
        } else if let Some((base, prefix)) = bare.split_once('/') {
            let base: IpAddr = base
                .parse()
                .map_err(|_| format!("'{text}': '{base}' is not an IP address"))?;
            let max = if base.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = prefix
                .parse()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{text}': prefix must be 0..={max}"))?;
            HostPattern::Net { base, prefix }
        } else if let Ok(ip) = bare.parse::<IpAddr>() {
            let prefix = if ip.is_ipv4() { 32 } else { 128 };
            HostPattern::Net { base: ip, prefix }
        } else if let Some(domain) = bare.strip_prefix("*.") {
            let domain = normalize_dns_name(domain)
                .ok_or_else(|| format!("'{text}': '{domain}' is not a valid domain"))?;
            HostPattern::Below(domain)
        } else {
            let name = normalize_dns_name(bare)
                .ok_or_else(|| format!("'{text}': '{bare}' is not a valid host"))?;
            HostPattern::Name(name)
        };
        Ok(AddressPattern { host, port })
    }

    fn port_matches(&self, port: u16) -> bool {
        match self.port {
            PortPattern::Any => true,
            PortPattern::Range(lo, hi) => (lo..=hi).contains(&port),
        }
    }

    fn matches_ip(&self, addr: SocketAddr) -> bool {
        self.port_matches(addr.port())
            && match &self.host {
                HostPattern::Any => true,
                HostPattern::Net { base, prefix } => in_network(addr.ip(), *base, *prefix),
                HostPattern::Name(_) | HostPattern::Below(_) => false,
            }
    }

    fn matches_name(&self, name: &str, port: u16) -> bool {
        self.port_matches(port)
            && match &self.host {
                HostPattern::Any => true,
                HostPattern::Name(n) => n == name,
                HostPattern::Below(domain) => name
                    .strip_suffix(domain.as_str())
                    .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
                HostPattern::Net { .. } => false,
            }
    }
}

fn in_network(ip: IpAddr, base: IpAddr, prefix: u8) -> bool {
    // An IPv4-mapped IPv6 address is checked as the IPv4 address it carries.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match (ip, base) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The policy's word on a host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameVerdict {
    /// A `deny` entry names it.
    Denied,
    /// Allowed by name: its resolved addresses need only pass `deny`.
    Allowed,
    /// Not named by `allow`: every resolved address must be allowed on its own.
    CheckAddresses,
}

/// The `allow` / `deny` lists. Deny wins; no `allow` list allows everything not denied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allow: Option<Vec<AddressPattern>>,
    deny: Vec<AddressPattern>,
}

impl AddressPolicy {
    /// Builds a policy from parsed lists.
    pub fn new(allow: Option<Vec<AddressPattern>>, deny: Vec<AddressPattern>) -> Self {
        AddressPolicy { allow, deny }
    }

    /// What the policy says of a name, before it is resolved.
    pub fn check_name(&self, name: &str, port: u16) -> NameVerdict {
        if self.deny.iter().any(|p| p.matches_name(name, port)) {
            return NameVerdict::Denied;
        }
        match &self.allow {
            None => NameVerdict::Allowed,
            Some(allow) if allow.iter().any(|p| p.matches_name(name, port)) => NameVerdict::Allowed,
            Some(_) => NameVerdict::CheckAddresses,
        }
    }

    /// Whether a concrete address may be used. `name_allowed` is the result of
    /// `true` when the address came from resolving a name [`NameVerdict::Allowed`].
    pub fn allows_addr(&self, addr: SocketAddr, name_allowed: bool) -> bool {
        if self.deny.iter().any(|p| p.matches_ip(addr)) {
            return false;
        }
        name_allowed
            || match &self.allow {
                None => true,
                Some(allow) => allow.iter().any(|p| p.matches_ip(addr)),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: Option<&[&str]>, deny: &[&str]) -> AddressPolicy {
        let parse = |v: &[&str]| -> Vec<AddressPattern> {
            v.iter()
                .map(|p| match AddressPattern::parse(p) {
                    Ok(pattern) => pattern,
                    Err(e) => panic!("test pattern {p}: {e}"),
                })
                .collect()
        };
        AddressPolicy::new(allow.map(parse), parse(deny))
    }

    fn addr(s: &str) -> SocketAddr {
        match s.parse() {
            Ok(a) => a,
            Err(e) => panic!("test address {s}: {e}"),
        }
    }

    #[test]
    fn parses_names_v4_and_bracketed_v6() {
        assert_eq!(
            HostPort::parse("Example.COM:80"),
            Ok(HostPort {
                host: Host::Name("example.com".into()),
                port: 80
            })
        );
        assert_eq!(
            HostPort::parse("[::1]:8080").map(|h| h.to_string()),
            Ok("[::1]:8080".into())
        );
        assert_eq!(HostPort::parse("127.0.0.1:0").map(|h| h.port), Ok(0));
        for bad in [
            "",
            "host",
            "host:",
            "host:x",
            "host:70000",
            "::1:80",
            "a..b:1",
            "-a:1",
            "1.2.3:4",
        ] {
            assert!(HostPort::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn semantics_examples() {
        let p = policy(
            Some(&["127.0.0.1:*", "10.0.0.0/8:443", "*.example.com:25"]),
            &[],
        );
        assert!(p.allows_addr(addr("127.0.0.1:9"), false));
        assert!(p.allows_addr(addr("10.200.1.1:443"), false));
        assert!(!p.allows_addr(addr("10.200.1.1:80"), false));
        assert!(!p.allows_addr(addr("11.0.0.1:443"), false));
        assert_eq!(p.check_name("mail.example.com", 25), NameVerdict::Allowed);
        assert_eq!(p.check_name("example.com", 25), NameVerdict::CheckAddresses);
        assert_eq!(
            p.check_name("mail.example.com", 26),
            NameVerdict::CheckAddresses
        );
        assert_eq!(
            p.check_name("evilexample.com", 25),
            NameVerdict::CheckAddresses
        );
    }

    #[test]
    fn deny_wins_even_for_allowed_names() {
        let p = policy(
            Some(&["*.example.com:*"]),
            &["10.0.0.0/8:*", "[fd00::/8]:*", "bad.example.com:*"],
        );
        assert_eq!(p.check_name("bad.example.com", 1), NameVerdict::Denied);
        assert!(!p.allows_addr(addr("10.1.2.3:80"), true));
        assert!(!p.allows_addr(addr("[fd00::1]:80"), true));
        assert!(
            !p.allows_addr(addr("[::ffff:10.0.0.1]:80"), true),
            "v4-mapped v6 is checked as v4"
        );
        assert!(p.allows_addr(addr("93.184.216.34:80"), true));
    }

    #[test]
    fn no_allow_list_allows_everything_not_denied() {
        let p = policy(None, &["*:25"]);
        assert!(p.allows_addr(addr("1.2.3.4:80"), false));
        assert!(!p.allows_addr(addr("1.2.3.4:25"), false));
        assert_eq!(p.check_name("x.org", 25), NameVerdict::Denied);
        assert_eq!(p.check_name("x.org", 80), NameVerdict::Allowed);
    }

    #[test]
    fn bad_patterns_are_rejected_with_reasons() {
        for bad in [
            "*",
            "1.2.3.4",
            "1.2.3.4/33:*",
            "::1:*",
            "[::1:*",
            "host:1-0",
            "*.:*",
            "h:x",
        ] {
            assert!(AddressPattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
