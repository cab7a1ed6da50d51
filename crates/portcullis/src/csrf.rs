//! CSRF protection: tokens bound to the browser, and an origin / fetch-metadata check.
//!
//! A browser gets a random nonce in an HttpOnly cookie. A token is `r || HMAC(key, nonce || r)`
//! with a fresh random `r` each time it is issued, so every page load shows a different token
//! while all of them stay valid for that browser — before and after login, as the seed's
//! frontends expect. Tokens are compared in constant time (`Mac::verify_slice`).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const SALT_LEN: usize = 16;
const MAC_LEN: usize = 32;
const TOKEN_LEN: usize = SALT_LEN + MAC_LEN;

/// The server's CSRF key; its `Debug` never shows it.
#[derive(Clone)]
pub struct CsrfKey(Vec<u8>);

impl fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfKey([redacted])")
    }
}

impl CsrfKey {
    /// A key from at least 32 bytes of secret material.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    fn mac(&self, nonce: &str, salt: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("hmac takes any key length"));
        mac.update(b"portcullis-csrf\0");
        mac.update(nonce.as_bytes());
        mac.update(salt);
        mac
    }

    /// A new token for the browser holding `nonce`.
    pub fn issue(&self, nonce: &str) -> String {
        let mut raw = [0u8; TOKEN_LEN];
        rand::rngs::OsRng.fill_bytes(&mut raw[..SALT_LEN]);
        let tag = self.mac(nonce, &raw[..SALT_LEN]).finalize().into_bytes();
        raw[SALT_LEN..].copy_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Whether `token` was issued for `nonce` by this key (constant-time).
    pub fn verify(&self, nonce: &str, token: &str) -> bool {
        let mut raw = [0u8; TOKEN_LEN + 3];
        match URL_SAFE_NO_PAD.decode_slice(token.trim(), &mut raw) {
            Ok(TOKEN_LEN) => self.mac(nonce, &raw[..SALT_LEN]).verify_slice(&raw[SALT_LEN..TOKEN_LEN]).is_ok(),
            _ => false,
        }
    }
}

/// A new random browser nonce, for the CSRF cookie.
pub fn new_nonce() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether a nonce read from a cookie has the shape this module issues.
pub fn is_valid_nonce(nonce: &str) -> bool {
    nonce.len() == 43 && nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What the request's `Origin` / `Sec-Fetch-Site` headers say about where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// Same origin, an allowed origin, or a same-site request.
    Trusted,
    /// No `Origin` and no `Sec-Fetch-Site`: not a browser's cross-site request.
    Unknown,
    /// `Sec-Fetch-Site: none`: the user typed the URL or followed a bookmark.
    UserInitiated,
    /// Cross-site and not in the allow-list.
    CrossSite,
}

/// Classifies a request by its `Origin` (against `Host` and `allowed`) and `Sec-Fetch-Site`.
pub fn provenance(headers: &HeaderMap, allowed: &[String]) -> Provenance {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    // Browsers set Sec-Fetch-Site themselves; pages cannot forge it.
    if fetch_site == Some("same-origin") {
        return Provenance::Trusted;
    }
    if let Some(origin) = headers.get(http::header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        return if origin_is_allowed(origin, headers, allowed) { Provenance::Trusted } else { Provenance::CrossSite };
    }
    match fetch_site {
        Some("same-site") => Provenance::Trusted,
        Some("none") => Provenance::UserInitiated,
        Some(_) => Provenance::CrossSite,
        None => Provenance::Unknown,
    }
}

/// `X-Forwarded-Proto`, which the router keeps only when a trusted proxy sent it.
pub const FORWARDED_PROTO: &str = "x-forwarded-proto";

/// The scheme the client used, as a trusted proxy says (`http` or `https`); the last value wins,
/// as the nearest proxy appended it.
fn forwarded_scheme(headers: &HeaderMap) -> Option<&'static str> {
    let value = headers.get_all(FORWARDED_PROTO).iter().next_back()?.to_str().ok()?;
    match value.rsplit(',').next()?.trim() {
        s if s.eq_ignore_ascii_case("https") => Some("https"),
        s if s.eq_ignore_ascii_case("http") => Some("http"),
        _ => None,
    }
}

fn origin_is_allowed(origin: &str, headers: &HeaderMap, allowed: &[String]) -> bool {
    if origin == "null" {
        return false;
    }
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let host = headers.get(http::header::HOST).and_then(|h| h.to_str().ok());
    // Behind a TLS proxy that says which scheme the client used, the origin must use it too;
    // without one the scheme is unknown here (the proxy's own hop is plain HTTP).
    let origin_host = match forwarded_scheme(headers) {
        Some(scheme) => origin.strip_prefix(scheme).and_then(|rest| rest.strip_prefix("://")),
        None => origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")),
    };
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn tokens_verify_for_their_nonce_only() {
        let key = CsrfKey::generate();
        let nonce = new_nonce();
        let t1 = key.issue(&nonce);
        let t2 = key.issue(&nonce);
        assert_ne!(t1, t2, "each issue is masked differently");
        assert!(key.verify(&nonce, &t1) && key.verify(&nonce, &t2));
        assert!(!key.verify(&new_nonce(), &t1), "another browser's token");
        assert!(!CsrfKey::generate().verify(&nonce, &t1), "another server's key");
        assert!(!key.verify(&nonce, ""));
        assert!(!key.verify(&nonce, &t1[..t1.len() - 2]));
        assert!(!key.verify(&nonce, &"A".repeat(10_000)));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_forwarded_scheme_must_match_the_origin() {
        let allowed: Vec<String> = Vec::new();
        let p = |pairs: &[(&'static str, &'static str)]| provenance(&headers(pairs), &allowed);
        let host = ("host", "app.example");
        assert_eq!(p(&[host, ("origin", "http://app.example")]), Provenance::Trusted, "scheme unknown");
        assert_eq!(p(&[host, ("origin", "https://app.example")]), Provenance::Trusted, "scheme unknown");
        let tls = ("x-forwarded-proto", "https");
        assert_eq!(p(&[host, tls, ("origin", "https://app.example")]), Provenance::Trusted);
        assert_eq!(p(&[host, tls, ("origin", "http://app.example")]), Provenance::CrossSite);
        let plain = ("x-forwarded-proto", "HTTP");
        assert_eq!(p(&[host, plain, ("origin", "https://app.example")]), Provenance::CrossSite);
        assert_eq!(
            p(&[host, ("x-forwarded-proto", "http, https"), ("origin", "https://app.example")]),
            Provenance::Trusted
        );
        assert_eq!(p(&[host, ("x-forwarded-proto", "gopher"), ("origin", "http://app.example")]), Provenance::Trusted);
    }

    #[test]
    fn provenance_rules() {
        let allowed = vec!["http://localhost:8080".to_string()];
        let p = |pairs: &[(&'static str, &'static str)]| provenance(&headers(pairs), &allowed);
        assert_eq!(p(&[]), Provenance::Unknown);
        assert_eq!(p(&[("origin", "http://localhost:8080")]), Provenance::Trusted);
        assert_eq!(p(&[("origin", "https://evil.example")]), Provenance::CrossSite);
        assert_eq!(p(&[("origin", "null")]), Provenance::CrossSite);
        assert_eq!(p(&[("origin", "http://api.local:8000"), ("host", "api.local:8000")]), Provenance::Trusted);
        assert_eq!(p(&[("sec-fetch-site", "cross-site")]), Provenance::CrossSite);
        assert_eq!(p(&[("sec-fetch-site", "same-site")]), Provenance::Trusted);
        assert_eq!(p(&[("sec-fetch-site", "none")]), Provenance::UserInitiated);
        assert_eq!(p(&[("sec-fetch-site", "same-origin"), ("origin", "http://proxied")]), Provenance::Trusted);
    }
}
