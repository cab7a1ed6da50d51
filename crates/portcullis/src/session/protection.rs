//! Session protection: a session remembers a fingerprint of the client that logged in (user
//! agent and the network prefix of its address). Seen from a different client:
//!
//! ```text
//!   protection = off     nothing happens
//!   protection = basic   the session stays but is no longer fresh (step-up needed again)
//!   protection = strong  the session ends (a copied cookie is useless elsewhere)
//! ```
//!
//! The fingerprint is a SHA-256 truncated to 128 bits and kept in hex; it is compared
//! on every request that carries a session cookie, without allocating.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::config::{Protection, SessionConfig};
use crate::session::ClientInfo;

/// Longest user-agent prefix that takes part (what [`ClientInfo`] keeps).
pub const UA_CHARS: usize = 256;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The user agent as kept: its first [`UA_CHARS`] characters.
pub fn ua_prefix(ua: &str) -> &str {
    match ua.char_indices().nth(UA_CHARS) {
        Some((cut, _)) => &ua[..cut],
        None => ua,
    }
}

fn masked(ip: IpAddr, config: &SessionConfig) -> [u8; 17] {
    let mut out = [0u8; 17];
    let (bytes, prefix): (&[u8], u8) = match ip {
        IpAddr::V4(v4) => (&v4.octets()[..], config.fingerprint_ipv4_prefix),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => return masked(IpAddr::V4(v4), config),
            None => (&v6.octets()[..], config.fingerprint_ipv6_prefix),
        },
    };
    out[0] = if bytes.len() == 4 { 4 } else { 6 };
    for (i, b) in bytes.iter().enumerate() {
        let keep = usize::from(prefix).saturating_sub(i * 8).min(8);
        let mask = if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
        out[i + 1] = b & mask;
    }
    out
}

fn digest(config: &SessionConfig, ua: Option<&str>, ip: Option<IpAddr>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"portcullis-fingerprint\0");
    h.update(ua.map(ua_prefix).unwrap_or("").as_bytes());
    h.update([0]);
    if let Some(ip) = ip {
        h.update(masked(ip, config));
    }
    let mut hex = [0u8; 32];
    for (i, b) in h.finalize().iter().take(16).enumerate() {
        hex[2 * i] = HEX[usize::from(b >> 4)];
        hex[2 * i + 1] = HEX[usize::from(b & 0xf)];
    }
    hex
}

/// The fingerprint kept with a new session, or `None` when protection is off.
pub fn fingerprint(config: &SessionConfig, client: &ClientInfo) -> Option<String> {
    if config.protection == Protection::Off {
        return None;
    }
    let ip = client.ip.as_deref().and_then(|ip| ip.parse().ok());
    let hex = digest(config, client.user_agent.as_deref(), ip);
    Some(hex.iter().map(|&b| char::from(b)).collect())
}

/// A digest of the client (user agent and address prefix), whatever the protection mode: what a
/// login challenge is bound to.
pub fn client_digest(config: &SessionConfig, client: &ClientInfo) -> [u8; 32] {
    let ip = client.ip.as_deref().and_then(|ip| ip.parse().ok());
    digest(config, client.user_agent.as_deref(), ip)
}

/// Whether a request from `ua` at `ip` matches the fingerprint `stored`. A session without one
/// (made while protection was off) always matches.
pub fn matches(config: &SessionConfig, stored: Option<&str>, ua: Option<&str>, ip: Option<IpAddr>) -> bool {
    match stored {
        None => true,
        Some(stored) => stored.as_bytes() == digest(config, ua, ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn config() -> SessionConfig {
        let mut c = Config::defaults().session;
        c.protection = Protection::Strong;
        c
    }

    fn client(ua: &str, ip: &str) -> ClientInfo {
        ClientInfo { ip: Some(ip.into()), user_agent: Some(ua.into()) }
    }

    #[test]
    fn same_client_matches_and_others_do_not() {
        let c = config();
        let fp = fingerprint(&c, &client("Firefox", "203.0.113.7")).expect("on");
        assert_eq!(fp.len(), 32);
        let m = |ua: &str, ip: &str| matches(&c, Some(&fp), Some(ua), ip.parse().ok());
        assert!(m("Firefox", "203.0.113.7"));
        assert!(m("Firefox", "203.0.113.200"), "same /24");
        assert!(!m("Firefox", "198.51.100.7"), "another network");
        assert!(!m("Chrome", "203.0.113.7"), "another browser");
        assert!(matches(&c, None, Some("x"), None), "sessions without a fingerprint match");
    }

    #[test]
    fn v6_prefix_and_mapped_v4() {
        let c = config();
        let fp = fingerprint(&c, &client("ua", "2001:db8:1:2::1")).expect("on");
        assert!(matches(&c, Some(&fp), Some("ua"), "2001:db8:1:ffff::9".parse().ok()), "same /48");
        assert!(!matches(&c, Some(&fp), Some("ua"), "2001:db9::1".parse().ok()));
        let fp4 = fingerprint(&c, &client("ua", "192.0.2.1")).expect("on");
        assert!(matches(&c, Some(&fp4), Some("ua"), "::ffff:192.0.2.9".parse().ok()));
    }

    #[test]
    fn off_keeps_no_fingerprint_and_prefix_zero_ignores_address() {
        let mut c = config();
        c.fingerprint_ipv4_prefix = 0;
        let fp = fingerprint(&c, &client("ua", "192.0.2.1")).expect("on");
        assert!(matches(&c, Some(&fp), Some("ua"), "10.0.0.1".parse().ok()));
        c.protection = Protection::Off;
        assert_eq!(fingerprint(&c, &client("ua", "192.0.2.1")), None);
    }

    #[test]
    fn long_user_agents_compare_by_their_kept_prefix() {
        let c = config();
        let long = "é".repeat(400);
        let fp = fingerprint(&c, &client(ua_prefix(&long), "192.0.2.1")).expect("on");
        assert!(matches(&c, Some(&fp), Some(&long), "192.0.2.1".parse().ok()));
    }
}
