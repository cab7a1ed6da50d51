//! The client's address behind reverse proxies: address ranges ([`Cidr`]) and [`client_ip`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;

/// An address range: an address and a prefix length, e.g. `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The range of `prefix` leading bits of `addr`; refused when the prefix is longer than the
    /// address or bits after it are set (`10.1.2.3/8` is a typo for either `10.0.0.0/8` or a host).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, String> {
        let (addr, prefix) = match addr {
            // An IPv4-mapped range is kept as IPv4: addresses are compared in canonical form.
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (addr, prefix),
            },
            _ => (addr, prefix),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!("a prefix of /{prefix} is longer than the address ({max} bits)"));
        }
        let cidr = Self { addr, prefix };
        if cidr.network() != addr {
            return Err(format!("`{addr}/{prefix}` has bits set after the prefix; the range is {}", cidr.masked()));
        }
        Ok(cidr)
    }

    /// The first address of the range.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` lies in the range (an IPv4-mapped IPv6 address counts as its IPv4 form).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(ip) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(
                u32::from(a) & u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0),
            )),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(
                u128::from(a) & u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0),
            )),
        }
    }

    fn masked(&self) -> Self {
        Self { addr: self.network(), prefix: self.prefix }
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// `ADDR/PREFIX`, or a bare address for that one host.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr =
            addr.parse().map_err(|_| format!("`{s}` is not an address range like 10.0.0.0/8 or fd00::/8"))?;
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| format!("`{s}`: the prefix /{p} is too long"))?
            }
            Some(p) => return Err(format!("`{s}`: the prefix /{p} is not a number of bits")),
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Self::new(addr, prefix)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The client's address. When the connecting `peer` is a trusted proxy, `X-Forwarded-For` is read
/// from the right: each trusted proxy appends the address it received from, so the first entry
/// not in a `trusted` range is the client. A malformed entry stops the walk at the last good hop.
/// Any other peer is the client itself, whatever the header says.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|range| range.contains(ip));
    let mut hop = peer.to_canonical();
    // Spoofing defence: the header is client-writable, so only a trusted peer may speak for the
    // client, and only the entries trusted proxies appended (the right end) are believed.
    if !is_trusted(hop) {
        return hop;
    }
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(value) = value.to_str() else {
            return hop;
        };
        for entry in value.rsplit(',') {
            let Some(ip) = parse_hop(entry.trim()) else {
                return hop;
            };
            hop = ip;
            if !is_trusted(hop) {
                return hop;
            }
        }
    }
    hop
}

/// One `X-Forwarded-For` entry: an address, optionally bracketed or with a port.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse::<Ipv6Addr>().ok().map(IpAddr::V6))?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().expect("cidr")).collect()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).expect("header value"));
        }
        headers
    }

    #[test]
    fn cidr_parses_and_matches() {
        let v4: Cidr = "10.0.0.0/8".parse().expect("v4");
        assert!(v4.contains(ip("10.255.1.2")) && !v4.contains(ip("11.0.0.1")));
        assert!(v4.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped peers match their IPv4 range");
        let v6: Cidr = "2001:db8::/32".parse().expect("v6");
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let host: Cidr = "127.0.0.1".parse().expect("host");
        assert_eq!(host.to_string(), "127.0.0.1/32");
        assert!(host.contains(ip("127.0.0.1")) && !host.contains(ip("127.0.0.2")));
        let all: Cidr = "0.0.0.0/0".parse().expect("everything");
        assert!(all.contains(ip("203.0.113.9")));
        let mapped: Cidr = "::ffff:192.168.0.0/112".parse().expect("mapped");
        assert_eq!(mapped.to_string(), "192.168.0.0/16");
        assert!("::/0".parse::<Cidr>().expect("all v6").contains(ip("::1")));
        assert!("fe80::1/128".parse::<Cidr>().is_ok());
    }

    #[test]
    fn cidr_refuses_nonsense() {
        for bad in ["", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0/8", "host/8"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad} accepted");
        }
        let err = "10.1.2.3/8".parse::<Cidr>().expect_err("host bits");
        assert!(err.contains("10.0.0.0/8"), "{err}");
        assert!("10.0.0.0/256".parse::<Cidr>().is_err());
    }

    #[test]
    fn untrusted_peer_ignores_the_header() {
        let trusted = cidrs(&["127.0.0.1/32"]);
        let headers = xff(&["198.51.100.7"]);
        assert_eq!(client_ip(ip("203.0.113.5"), &headers, &trusted), ip("203.0.113.5"));
        assert_eq!(client_ip(ip("203.0.113.5"), &headers, &[]), ip("203.0.113.5"));
    }

    #[test]
    fn trusted_peer_names_the_client() {
        let trusted = cidrs(&["127.0.0.1/32"]);
        // The client forged an entry; the proxy appended the real address after it.
        let headers = xff(&["1.1.1.1, 198.51.100.7"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &headers, &trusted), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("::ffff:127.0.0.1"), &headers, &trusted), ip("198.51.100.7"));
        // No header: the proxy itself.
        assert_eq!(client_ip(ip("127.0.0.1"), &HeaderMap::new(), &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn chains_of_trusted_proxies_are_skipped() {
        let trusted = cidrs(&["10.0.0.0/8", "fd00::/8"]);
        let headers = xff(&["9.9.9.9, 2001:db8::5", "10.0.0.3,fd00::2"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &headers, &trusted), ip("2001:db8::5"));
        // Everything trusted: the leftmost hop.
        let headers = xff(&["10.1.1.1, 10.2.2.2"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &headers, &trusted), ip("10.1.1.1"));
    }

    #[test]
    fn garbage_stops_at_the_last_good_hop() {
        let trusted = cidrs(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        for (value, want) in [
            ("unknown", "10.0.0.1"),
            ("", "10.0.0.1"),
            ("1.2.3.4, not-an-ip, 10.0.0.2", "10.0.0.2"),
            ("1.2.3.4,,10.0.0.2", "10.0.0.2"),
            ("300.1.1.1", "10.0.0.1"),
            ("198.51.100.7:4711", "198.51.100.7"),
            ("[2001:db8::9]:443", "2001:db8::9"),
            ("[2001:db8::9]", "2001:db8::9"),
            ("::ffff:198.51.100.7", "198.51.100.7"),
        ] {
            assert_eq!(client_ip(peer, &xff(&[value]), &trusted), ip(want), "{value:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_bytes(b"\xff1.2.3.4").expect("opaque value"));
        assert_eq!(client_ip(peer, &headers, &trusted), peer);
    }
}
