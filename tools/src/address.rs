//! Which IP addresses `http_fetch` may connect to: the SSRF guard.
//!
//! An agent's model chooses the URLs it fetches, so a URL — or a DNS name that resolves, or is
//! later re-pointed, to an internal address — must not let it reach the host's own services, the
//! private network behind it or a cloud metadata endpoint (`169.254.169.254`). The strict policy
//! therefore refuses every address in a special-purpose block of the IANA registries (RFC 6890 and
//! its updates), not only the obvious private ones:
//!
//! | IPv4 block          | what                                   | source     |
//! |---------------------|----------------------------------------|------------|
//! | `0.0.0.0/8`         | "this network", incl. unspecified      | RFC 791, RFC 1122 |
//! | `10.0.0.0/8`        | private                                | RFC 1918   |
//! | `100.64.0.0/10`     | carrier-grade NAT shared space         | RFC 6598   |
//! | `127.0.0.0/8`       | loopback                               | RFC 1122   |
//! | `169.254.0.0/16`    | link-local, incl. cloud metadata `169.254.169.254` | RFC 3927 |
//! | `172.16.0.0/12`     | private                                | RFC 1918   |
//! | `192.0.0.0/24`      | IETF protocol assignments              | RFC 6890   |
//! | `192.0.2.0/24`      | documentation (TEST-NET-1)             | RFC 5737   |
//! | `192.88.99.0/24`    | 6to4 relay anycast (deprecated)        | RFC 7526   |
//! | `192.168.0.0/16`    | private                                | RFC 1918   |
//! | `198.18.0.0/15`     | benchmarking                           | RFC 2544   |
//! | `198.51.100.0/24`   | documentation (TEST-NET-2)             | RFC 5737   |
//! | `203.0.113.0/24`    | documentation (TEST-NET-3)             | RFC 5737   |
//! | `224.0.0.0/4`       | multicast                              | RFC 5771   |
//! | `240.0.0.0/4`       | reserved, incl. broadcast `255.255.255.255` | RFC 1112, RFC 919 |
//!
//! | IPv6 block          | what                                   | source     |
//! |---------------------|----------------------------------------|------------|
//! | `::/128`, `::1/128` | unspecified, loopback                  | RFC 4291   |
//! | `::ffff:0:0/96`     | IPv4-mapped: judged by the embedded IPv4 address | RFC 4291 |
//! | `::/96`             | IPv4-compatible (deprecated)           | RFC 4291   |
//! | `64:ff9b::/96`      | NAT64 well-known prefix: judged by the embedded IPv4 address | RFC 6052 |
//! | `64:ff9b:1::/48`    | NAT64 local use                        | RFC 8215   |
//! | `100::/64`          | discard-only                           | RFC 6666   |
//! | `2001::/23`         | IETF protocol assignments, incl. Teredo `2001::/32` | RFC 2928, RFC 4380 |
//! | `2001:db8::/32`     | documentation                          | RFC 3849   |
//! | `2002::/16`         | 6to4 (tunnels to an embedded IPv4 address) | RFC 3056 |
//! | `3fff::/20`         | documentation                          | RFC 9637   |
//! | `5f00::/16`         | SRv6 segment identifiers               | RFC 9602   |
//! | `fc00::/7`          | unique local                           | RFC 4193   |
//! | `fe80::/10`         | link-local                             | RFC 4291   |
//! | `fec0::/10`         | site-local (deprecated)                | RFC 3879   |
//! | `ff00::/8`          | multicast                              | RFC 4291   |

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Which addresses `http_fetch` may connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressPolicy {
    /// Only globally routable unicast addresses: everything listed in the [module docs](self) is
    /// refused. This is the policy of [`HttpFetch::new`](crate::HttpFetch::new) and of
    /// [`builtin_registry`](crate::builtin_registry).
    #[default]
    Strict,
    /// Like [`Strict`](Self::Strict) but also allows loopback (`127.0.0.0/8` and `::1`), so a
    /// development setup or a test suite can fetch from a server bound to `127.0.0.1:0`.
    /// `autonoma serve` uses it only with `AUTONOMA_HTTP_FETCH_ALLOW_LOOPBACK=true`; never in
    /// production, where loopback is the host's own services.
    AllowLoopback,
}

impl AddressPolicy {
    /// `Ok(())` when `ip` may be contacted under this policy, otherwise why not.
    pub fn check(self, ip: IpAddr) -> Result<(), Refusal> {
        if self == AddressPolicy::AllowLoopback && ip.is_loopback() {
            return Ok(());
        }
        match classify(ip) {
            Some(refusal) => Err(refusal),
            None => Ok(()),
        }
    }
}

/// A special-purpose address block that the strict policy refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialRange {
    /// The block, e.g. `10.0.0.0/8`.
    pub network: IpNet,
    /// What it is, e.g. `"private network"`.
    pub name: &'static str,
    /// Where it is defined, e.g. `"RFC 1918"`.
    pub reference: &'static str,
}

impl fmt::Display for SpecialRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.network, self.name, self.reference)
    }
}

/// Why an address was refused: the block it falls in and, for IPv6 forms that carry an IPv4
/// address (IPv4-mapped, NAT64), the embedded address that was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The address as resolved or written in the URL.
    pub address: IpAddr,
    /// The IPv6 form and the IPv4 address it embeds, when the refusal is about the latter.
    pub embedded: Option<(&'static SpecialRange, Ipv4Addr)>,
    /// The special-purpose block that caused the refusal.
    pub range: &'static SpecialRange,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.embedded {
            Some((form, v4)) => write!(
                f,
                "{} is {} {}, which is in {}",
                self.address, form.name, v4, self.range
            ),
            None => write!(f, "{} is in {}", self.address, self.range),
        }
    }
}

/// The special-purpose block `ip` falls in, if any (the strict policy's verdict).
///
/// IPv4-mapped (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::a.b.c.d`) addresses are judged by the IPv4
/// address they carry, so `::ffff:127.0.0.1` is refused as loopback while `64:ff9b::8.8.8.8` is
/// allowed.
pub fn classify(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4).map(|range| Refusal {
            address: ip,
            embedded: None,
            range,
        }),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static SpecialRange> {
    V4_RANGES
        .iter()
        .find(|range| range.network.contains(&IpAddr::V4(ip)))
}

fn classify_v6(ip: Ipv6Addr) -> Option<Refusal> {
    let address = IpAddr::V6(ip);
    for (form, embedded) in [
        (&IPV4_MAPPED, ip.to_ipv4_mapped()),
        (&NAT64, nat64_embedded(ip)),
    ] {
        if let Some(v4) = embedded {
            return classify_v4(v4).map(|range| Refusal {
                address,
                embedded: Some((form, v4)),
                range,
            });
        }
    }
    V6_RANGES
        .iter()
        .find(|range| range.network.contains(&address))
        .map(|range| Refusal {
            address,
            embedded: None,
            range,
        })
}

fn nat64_embedded(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if NAT64.network.contains(&IpAddr::V6(ip)) {
        let o = ip.octets();
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else {
        None
    }
}

const fn v4(
    a: u8,
    b: u8,
    c: u8,
    d: u8,
    prefix: u8,
    name: &'static str,
    reference: &'static str,
) -> SpecialRange {
    SpecialRange {
        network: IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)),
        name,
        reference,
    }
}

const fn v6(
    segments: [u16; 8],
    prefix: u8,
    name: &'static str,
    reference: &'static str,
) -> SpecialRange {
    let [a, b, c, d, e, f, g, h] = segments;
    SpecialRange {
        network: IpNet::V6(Ipv6Net::new_assert(
            Ipv6Addr::new(a, b, c, d, e, f, g, h),
            prefix,
        )),
        name,
        reference,
    }
}

static V4_RANGES: [SpecialRange; 16] = [
    v4(
        0,
        0,
        0,
        0,
        8,
        "\"this network\" (includes the unspecified address)",
        "RFC 791, RFC 1122",
    ),
    v4(10, 0, 0, 0, 8, "private network", "RFC 1918"),
    v4(
        100,
        64,
        0,
        0,
        10,
        "carrier-grade NAT shared address space",
        "RFC 6598",
    ),
    v4(127, 0, 0, 0, 8, "loopback", "RFC 1122"),
    v4(
        169,
        254,
        0,
        0,
        16,
        "link-local (includes the cloud metadata service 169.254.169.254)",
        "RFC 3927",
    ),
    v4(172, 16, 0, 0, 12, "private network", "RFC 1918"),
    v4(192, 0, 0, 0, 24, "IETF protocol assignments", "RFC 6890"),
    v4(192, 0, 2, 0, 24, "documentation (TEST-NET-1)", "RFC 5737"),
    v4(
        192,
        88,
        99,
        0,
        24,
        "6to4 relay anycast (deprecated)",
        "RFC 7526",
    ),
    v4(192, 168, 0, 0, 16, "private network", "RFC 1918"),
    v4(198, 18, 0, 0, 15, "benchmarking", "RFC 2544"),
    v4(
        198,
        51,
        100,
        0,
        24,
        "documentation (TEST-NET-2)",
        "RFC 5737",
    ),
    v4(203, 0, 113, 0, 24, "documentation (TEST-NET-3)", "RFC 5737"),
    v4(224, 0, 0, 0, 4, "multicast", "RFC 5771"),
    v4(255, 255, 255, 255, 32, "limited broadcast", "RFC 919"),
    v4(240, 0, 0, 0, 4, "reserved", "RFC 1112"),
];

static IPV4_MAPPED: SpecialRange = v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96, "IPv4-mapped", "RFC 4291");
static NAT64: SpecialRange = v6(
    [0x64, 0xff9b, 0, 0, 0, 0, 0, 0],
    96,
    "NAT64-translated",
    "RFC 6052",
);

static V6_RANGES: [SpecialRange; 15] = [
    v6([0; 8], 128, "unspecified address", "RFC 4291"),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback", "RFC 4291"),
    v6([0; 8], 96, "IPv4-compatible (deprecated)", "RFC 4291"),
    v6(
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "NAT64 local use",
        "RFC 8215",
    ),
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only", "RFC 6666"),
    v6(
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "documentation",
        "RFC 3849",
    ),
    v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        32,
        "Teredo tunnelling",
        "RFC 4380",
    ),
    v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignments",
        "RFC 2928",
    ),
    v6(
        [0x2002, 0, 0, 0, 0, 0, 0, 0],
        16,
        "6to4 (tunnels to an embedded IPv4 address)",
        "RFC 3056",
    ),
    v6(
        [0x3fff, 0, 0, 0, 0, 0, 0, 0],
        20,
        "documentation",
        "RFC 9637",
    ),
    v6(
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        "SRv6 segment identifiers",
        "RFC 9602",
    ),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local", "RFC 4193"),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local", "RFC 4291"),
    v6(
        [0xfec0, 0, 0, 0, 0, 0, 0, 0],
        10,
        "site-local (deprecated)",
        "RFC 3879",
    ),
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast", "RFC 4291"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> String {
        let ip: IpAddr = ip.parse().unwrap();
        match AddressPolicy::Strict.check(ip) {
            Err(refusal) => refusal.to_string(),
            Ok(()) => panic!("{ip} was allowed"),
        }
    }

    fn allowed(ip: &str) {
        let ip: IpAddr = ip.parse().unwrap();
        if let Err(refusal) = AddressPolicy::Strict.check(ip) {
            panic!("{ip} was refused: {refusal}");
        }
    }

    #[test]
    fn refuses_special_purpose_ipv4() {
        for (ip, what) in [
            ("0.0.0.0", "this network"),
            ("0.1.2.3", "this network"),
            ("10.0.0.1", "private network, RFC 1918"),
            ("10.255.255.255", "RFC 1918"),
            ("100.64.0.1", "RFC 6598"),
            ("100.127.255.255", "RFC 6598"),
            ("127.0.0.1", "loopback"),
            ("127.255.0.1", "loopback"),
            ("169.254.169.254", "metadata"),
            ("172.16.0.1", "RFC 1918"),
            ("172.31.255.255", "RFC 1918"),
            ("192.0.0.8", "RFC 6890"),
            ("192.0.2.10", "RFC 5737"),
            ("192.88.99.1", "RFC 7526"),
            ("192.168.1.1", "RFC 1918"),
            ("198.18.0.1", "RFC 2544"),
            ("198.19.255.255", "RFC 2544"),
            ("198.51.100.7", "RFC 5737"),
            ("203.0.113.9", "RFC 5737"),
            ("224.0.0.251", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
        ] {
            let message = refused(ip);
            assert!(message.contains(what), "{ip}: {message}");
        }
    }

    #[test]
    fn allows_public_ipv4_next_to_special_blocks() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            allowed(ip);
        }
    }

    #[test]
    fn refuses_special_purpose_ipv6() {
        for (ip, what) in [
            ("::", "unspecified"),
            ("::1", "loopback, RFC 4291"),
            (
                "::ffff:127.0.0.1",
                "IPv4-mapped 127.0.0.1, which is in 127.0.0.0/8 (loopback",
            ),
            ("::ffff:169.254.169.254", "metadata"),
            ("::ffff:10.1.2.3", "RFC 1918"),
            ("::ffff:0.0.0.0", "this network"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::127.0.0.1", "NAT64-translated 127.0.0.1"),
            ("64:ff9b:1::1", "RFC 8215"),
            ("100::1", "RFC 6666"),
            ("2001::1", "Teredo"),
            ("2001:2::1", "RFC 2928"),
            ("2001:db8::1", "RFC 3849"),
            ("2002:7f00:1::", "6to4"),
            ("3fff::1", "RFC 9637"),
            ("fc00::1", "unique local, RFC 4193"),
            ("fd12:3456::1", "RFC 4193"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
        ] {
            let message = refused(ip);
            assert!(message.contains(what), "{ip}: {message}");
        }
    }

    #[test]
    fn allows_public_ipv6() {
        for ip in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450::1",
            "64:ff9b::808:808",
            "::ffff:8.8.8.8",
        ] {
            allowed(ip);
        }
    }

    #[test]
    fn loopback_test_policy_only_adds_loopback() {
        let policy = AddressPolicy::AllowLoopback;
        for ip in ["127.0.0.1", "127.1.2.3", "::1"] {
            assert!(policy.check(ip.parse().unwrap()).is_ok(), "{ip}");
        }
        for ip in [
            "10.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "::",
            "fe80::1",
            "192.168.0.1",
        ] {
            assert!(policy.check(ip.parse().unwrap()).is_err(), "{ip}");
        }
    }
}
