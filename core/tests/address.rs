//! The address policy pinned: every rule of `core/src/address.rs` has a test that fails when
//! the rule changes (CIDR masks at the prefix lengths where shifts go wrong, DNS name limits,
//! each label check, pattern and wildcard boundaries), and a property compares CIDR matching
//! with a bit-by-bit formulation of its own.

use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use theater_tcp_core::{AddressPattern, AddressPolicy, Host, HostPort, NameVerdict};

/// The host name as `HostPort::parse` normalizes it (`normalize_dns_name`), or `None`.
fn normalize_dns_name(name: &str) -> Option<String> {
    match HostPort::parse(&format!("{name}:1")) {
        Ok(HostPort {
            host: Host::Name(n),
            ..
        }) => Some(n),
        _ => None,
    }
}

#[track_caller]
fn pattern(text: &str) -> AddressPattern {
    match AddressPattern::parse(text) {
        Ok(p) => p,
        Err(e) => panic!("pattern {text:?} does not parse: {e}"),
    }
}

/// A policy that allows exactly `allow`.
#[track_caller]
fn only(allow: &str) -> AddressPolicy {
    AddressPolicy::new(Some(vec![pattern(allow)]), Vec::new())
}

#[track_caller]
fn addr(text: &str) -> SocketAddr {
    match text.parse() {
        Ok(a) => a,
        Err(e) => panic!("address {text:?}: {e}"),
    }
}

/// Which of `addresses` the one-pattern policy `allow` lets through.
#[track_caller]
fn allowed<'a>(allow: &str, addresses: &[&'a str]) -> Vec<&'a str> {
    let policy = only(allow);
    addresses
        .iter()
        .copied()
        .filter(|a| policy.allows_addr(addr(a), false))
        .collect()
}

// ------------------------------------------------------------------------ IPv4 networks

#[test]
fn ipv4_slash_0_is_every_ipv4_address_and_no_ipv6_one() {
    assert_eq!(
        allowed(
            "0.0.0.0/0:*",
            &["0.0.0.0:1", "255.255.255.255:1", "[::1]:1", "[::]:1"]
        ),
        ["0.0.0.0:1", "255.255.255.255:1"]
    );
}

#[test]
fn ipv4_slash_1_splits_at_the_top_bit() {
    assert_eq!(
        allowed(
            "128.0.0.0/1:*",
            &[
                "127.255.255.255:1",
                "128.0.0.0:1",
                "255.255.255.255:1",
                "0.0.0.0:1"
            ]
        ),
        ["128.0.0.0:1", "255.255.255.255:1"]
    );
}

#[test]
fn ipv4_slash_8_and_a_base_with_host_bits() {
    let near = [
        "9.255.255.255:1",
        "10.0.0.0:1",
        "10.255.255.255:1",
        "11.0.0.0:1",
    ];
    assert_eq!(
        allowed("10.0.0.0/8:*", &near),
        ["10.0.0.0:1", "10.255.255.255:1"]
    );
    assert_eq!(
        allowed("10.1.2.3/8:*", &near),
        ["10.0.0.0:1", "10.255.255.255:1"],
        "the base's host bits do not matter"
    );
}

#[test]
fn ipv4_slash_31_is_two_addresses() {
    assert_eq!(
        allowed(
            "192.168.1.2/31:*",
            &[
                "192.168.1.1:1",
                "192.168.1.2:1",
                "192.168.1.3:1",
                "192.168.1.4:1"
            ]
        ),
        ["192.168.1.2:1", "192.168.1.3:1"]
    );
}

#[test]
fn ipv4_slash_32_and_a_plain_address_are_one_address() {
    let near = ["192.168.1.1:1", "192.168.1.2:1", "192.168.1.3:1"];
    assert_eq!(allowed("192.168.1.2/32:*", &near), ["192.168.1.2:1"]);
    assert_eq!(allowed("192.168.1.2:*", &near), ["192.168.1.2:1"]);
}

#[test]
fn a_v4_mapped_v6_address_is_checked_as_its_v4_address() {
    assert_eq!(
        allowed(
            "10.0.0.0/8:*",
            &["[::ffff:10.0.0.1]:1", "[::ffff:11.0.0.1]:1"]
        ),
        ["[::ffff:10.0.0.1]:1"]
    );
    assert_eq!(
        allowed("[::/0]:*", &["[::ffff:10.0.0.1]:1", "[::1]:1"]),
        ["[::1]:1"],
        "a mapped address is IPv4, outside every IPv6 network"
    );
}

// ------------------------------------------------------------------------ IPv6 networks

#[test]
fn ipv6_slash_0_is_every_ipv6_address_and_no_ipv4_one() {
    assert_eq!(
        allowed(
            "[::/0]:*",
            &[
                "[::]:1",
                "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1",
                "1.2.3.4:1"
            ]
        ),
        ["[::]:1", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1"]
    );
}

#[test]
fn ipv6_slash_1_splits_at_the_top_bit() {
    assert_eq!(
        allowed(
            "[8000::/1]:*",
            &[
                "[7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1",
                "[8000::]:1",
                "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1",
                "[::]:1"
            ]
        ),
        ["[8000::]:1", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1"]
    );
}

#[test]
fn ipv6_slash_64() {
    assert_eq!(
        allowed(
            "[2001:db8::/64]:*",
            &[
                "[2001:db7:ffff:ffff:ffff:ffff:ffff:ffff]:1",
                "[2001:db8::]:1",
                "[2001:db8::ffff:ffff:ffff:ffff]:1",
                "[2001:db8:0:1::]:1"
            ]
        ),
        ["[2001:db8::]:1", "[2001:db8::ffff:ffff:ffff:ffff]:1"]
    );
}

#[test]
fn ipv6_slash_127_is_two_addresses() {
    assert_eq!(
        allowed(
            "[2001:db8::2/127]:*",
            &[
                "[2001:db8::1]:1",
                "[2001:db8::2]:1",
                "[2001:db8::3]:1",
                "[2001:db8::4]:1"
            ]
        ),
        ["[2001:db8::2]:1", "[2001:db8::3]:1"]
    );
}

#[test]
fn ipv6_slash_128_and_a_plain_address_are_one_address() {
    let near = ["[2001:db8::]:1", "[2001:db8::1]:1", "[2001:db8::2]:1"];
    assert_eq!(allowed("[2001:db8::1/128]:*", &near), ["[2001:db8::1]:1"]);
    assert_eq!(allowed("[2001:db8::1]:*", &near), ["[2001:db8::1]:1"]);
}

// ------------------------------------------------------------------------ patterns

#[test]
fn prefix_lengths_are_bounded_by_the_address_family() {
    for good in [
        "1.2.3.4/0:*",
        "1.2.3.4/32:*",
        "[::/0]:*",
        "[::1/128]:*",
        "[::/33]:*",
    ] {
        assert!(AddressPattern::parse(good).is_ok(), "{good:?} should parse");
    }
    for (bad, reason) in [
        ("1.2.3.4/33:*", "'1.2.3.4/33:*': prefix must be 0..=32"),
        ("1.2.3.4/128:*", "'1.2.3.4/128:*': prefix must be 0..=32"),
        ("[::/129]:*", "'[::/129]:*': prefix must be 0..=128"),
        ("1.2.3.4/-1:*", "'1.2.3.4/-1:*': prefix must be 0..=32"),
        ("1.2.3.4/:*", "'1.2.3.4/:*': prefix must be 0..=32"),
        ("1.2.3/8:*", "'1.2.3/8:*': '1.2.3' is not an IP address"),
    ] {
        assert_eq!(
            AddressPattern::parse(bad),
            Err(reason.to_owned()),
            "{bad:?}"
        );
    }
}

#[test]
fn port_patterns_and_their_boundaries() {
    let policy = only("*:10-20");
    let ports: Vec<u16> = [9, 10, 20, 21]
        .into_iter()
        .filter(|p| policy.allows_addr(SocketAddr::from(([1, 2, 3, 4], *p)), false))
        .collect();
    assert_eq!(ports, [10, 20]);
    assert!(AddressPattern::parse("*:7-7").is_ok(), "a one-port range");
    assert_eq!(
        AddressPattern::parse("*:8-7"),
        Err("'*:8-7': port range 8-7 is empty".to_owned())
    );
    assert!(AddressPattern::parse("*:0").is_ok());
    assert!(AddressPattern::parse("*:65535").is_ok());
    assert_eq!(
        AddressPattern::parse("*:65536"),
        Err("port 65536 is out of range".to_owned())
    );
    assert_eq!(
        AddressPattern::parse("*:+1"),
        Err("'+1' is not a port number".to_owned())
    );
    let one = only("*:25");
    assert!(one.allows_addr(addr("1.2.3.4:25"), false));
    assert!(!one.allows_addr(addr("1.2.3.4:24"), false));
    assert!(!one.allows_addr(addr("1.2.3.4:26"), false));
}

#[test]
fn ipv6_patterns_need_brackets_and_brackets_must_close() {
    assert_eq!(
        AddressPattern::parse("::1:*"),
        Err("'::1:*': IPv6 patterns must be written as [addr]:port".to_owned())
    );
    assert_eq!(
        AddressPattern::parse("[::1:*"),
        Err("'[::1:*': unclosed '['".to_owned())
    );
}

#[test]
fn the_any_host_wildcard_matches_addresses_and_names() {
    let any = only("*:*");
    assert!(any.allows_addr(addr("1.2.3.4:1"), false));
    assert!(any.allows_addr(addr("[::1]:65535"), false));
    assert_eq!(any.check_name("example.org", 1), NameVerdict::Allowed);
}

#[test]
fn a_name_pattern_matches_that_name_only_never_an_address() {
    let p = only("Mail.Example.COM.:25");
    assert_eq!(p.check_name("mail.example.com", 25), NameVerdict::Allowed);
    assert_eq!(
        p.check_name("smtp.mail.example.com", 25),
        NameVerdict::CheckAddresses
    );
    assert_eq!(p.check_name("example.com", 25), NameVerdict::CheckAddresses);
    assert!(!p.allows_addr(addr("1.2.3.4:25"), false));
}

#[test]
fn a_domain_wildcard_matches_names_strictly_below_it() {
    let p = only("*.example.com:*");
    let verdict = |name: &str| p.check_name(name, 1);
    assert_eq!(verdict("a.example.com"), NameVerdict::Allowed);
    assert_eq!(verdict("a.b.example.com"), NameVerdict::Allowed);
    assert_eq!(
        verdict("example.com"),
        NameVerdict::CheckAddresses,
        "not itself"
    );
    assert_eq!(
        verdict("badexample.com"),
        NameVerdict::CheckAddresses,
        "a label boundary, not a suffix"
    );
    assert_eq!(
        verdict(".example.com"),
        NameVerdict::CheckAddresses,
        "an empty label below is no name"
    );
    assert_eq!(verdict("example.org"), NameVerdict::CheckAddresses);
    assert!(!p.allows_addr(addr("1.2.3.4:1"), false), "never an address");
    assert!(AddressPattern::parse("*.:*").is_err());
    assert!(AddressPattern::parse("*.-bad:*").is_err());
}

#[test]
fn deny_wins_over_allow_for_names_and_addresses() {
    let p = AddressPolicy::new(
        Some(vec![pattern("*:*")]),
        vec![pattern("*.internal:*"), pattern("[fc00::/7]:*")],
    );
    assert_eq!(p.check_name("db.internal", 5432), NameVerdict::Denied);
    assert!(!p.allows_addr(addr("[fd12::1]:1"), true));
    assert!(p.allows_addr(addr("[fe00::1]:1"), false));
}

// ------------------------------------------------------------------------ DNS names

/// A name of `len` characters made of 63-character labels (the last one shorter).
fn name_of(len: usize) -> String {
    let mut name = String::new();
    while name.len() < len {
        if !name.is_empty() {
            name.push('.');
        }
        let room = (len - name.len()).min(63);
        name.push_str(&"a".repeat(room));
    }
    name
}

#[test]
fn names_are_at_most_253_characters() {
    let longest = name_of(253);
    assert_eq!(longest.len(), 253);
    assert_eq!(normalize_dns_name(&longest), Some(longest.clone()));
    assert_eq!(
        normalize_dns_name(&format!("{longest}.")),
        Some(longest.clone()),
        "a trailing dot is not counted"
    );
    let too_long = name_of(254);
    assert_eq!(too_long.len(), 254);
    assert_eq!(normalize_dns_name(&too_long), None);
    assert!(HostPort::parse(&format!("{longest}:1")).is_ok());
    assert!(HostPort::parse(&format!("{too_long}:1")).is_err());
}

#[test]
fn labels_are_at_most_63_characters() {
    let label63 = "b".repeat(63);
    let label64 = "b".repeat(64);
    assert_eq!(
        normalize_dns_name(&format!("{label63}.com")),
        Some(format!("{label63}.com"))
    );
    assert_eq!(normalize_dns_name(&format!("{label64}.com")), None);
    assert_eq!(normalize_dns_name(&label64), None);
}

#[test]
fn each_label_rule_refuses_on_its_own() {
    // Each name breaks exactly one rule.
    for (bad, rule) in [
        ("", "empty name"),
        (".", "empty name after the trailing dot"),
        ("a..b", "empty label"),
        (".a", "empty first label"),
        ("-a.com", "leading hyphen"),
        ("a-.com", "trailing hyphen"),
        ("a.-b", "leading hyphen, last label"),
        ("a.b-", "trailing hyphen, last label"),
        ("a b.com", "space"),
        ("a*b.com", "star"),
        ("a/b.com", "slash"),
        ("é.com", "non-ASCII"),
        ("1.2.3", "digits and dots only"),
        ("123", "digits only"),
    ] {
        assert_eq!(normalize_dns_name(bad), None, "{bad:?}: {rule}");
    }
    for (good, normal) in [
        ("a", "a"),
        ("A-B.Example.COM", "a-b.example.com"),
        ("_sip._tcp.example.com", "_sip._tcp.example.com"),
        ("a-b", "a-b"),
        ("123.com", "123.com"),
        ("1a.2", "1a.2"),
        ("x.", "x"),
    ] {
        assert_eq!(
            normalize_dns_name(good),
            Some(normal.to_owned()),
            "{good:?}"
        );
    }
}

// ------------------------------------------------------------------------ property

/// Bit `i` (0 = most significant) of a `width`-bit number.
fn bit(x: u128, width: u32, i: u32) -> bool {
    (x >> (width - 1 - i)) & 1 == 1
}

/// The first `prefix` bits of `a` and `b` agree, compared one by one.
fn same_prefix(a: u128, b: u128, width: u32, prefix: u32) -> bool {
    (0..prefix).all(|i| bit(a, width, i) == bit(b, width, i))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// `ip` shares a random number of leading bits with `base`, so every prefix length is
    /// reached on both sides of the boundary.
    #[test]
    fn ipv4_networks_agree_with_a_bit_by_bit_comparison(
        base in any::<u32>(),
        noise in any::<u32>(),
        shared in 0u32..=32,
        prefix in 0u32..=32,
    ) {
        let ip = base ^ noise.checked_shr(shared).unwrap_or(0);
        let policy = only(&format!("{}/{prefix}:*", Ipv4Addr::from(base)));
        let got = policy.allows_addr(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), 1), false);
        prop_assert_eq!(got, same_prefix(u128::from(ip), u128::from(base), 32, prefix));
    }

    #[test]
    fn ipv6_networks_agree_with_a_bit_by_bit_comparison(
        base in any::<u128>(),
        noise in any::<u128>(),
        shared in 0u32..=128,
        prefix in 0u32..=128,
    ) {
        let ip = base ^ noise.checked_shr(shared).unwrap_or(0);
        let (ip6, base6) = (Ipv6Addr::from(ip), Ipv6Addr::from(base));
        // A v4-mapped address is IPv4 by the policy's rule; the property is about IPv6.
        prop_assume!(ip6.to_ipv4_mapped().is_none());
        let policy = only(&format!("[{base6}/{prefix}]:*"));
        let got = policy.allows_addr(SocketAddr::new(IpAddr::V6(ip6), 1), false);
        prop_assert_eq!(got, same_prefix(ip, base, 128, prefix));
    }
}

#[test]
fn only_an_ip_literal_is_a_socket_address() {
    let ip = HostPort::parse("192.0.2.7:8080").expect("parses");
    assert_eq!(
        ip.socket_addr(),
        Some("192.0.2.7:8080".parse().expect("an address"))
    );
    let v6 = HostPort::parse("[2001:db8::1]:443").expect("parses");
    assert_eq!(
        v6.socket_addr(),
        Some(SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            443
        ))
    );
    let name = HostPort::parse("example.com:80").expect("parses");
    assert_eq!(name.socket_addr(), None, "a name must be resolved first");
}
