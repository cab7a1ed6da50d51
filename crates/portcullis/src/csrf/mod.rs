//! CSRF protection: tokens bound to the browser, and an origin / fetch-metadata check
//! ([`origin`]).
//!
//! A browser gets a random nonce in an HttpOnly cookie. A token is `r || HMAC(key, nonce || r)`
//! with a fresh random `r` each time it is issued, so every page load shows a different token
//! while all of them stay valid for that browser — before and after login, as the seed's
//! frontends expect. Tokens are compared in constant time (`Mac::verify_slice`).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

mod origin;

pub use origin::{provenance, refusal_detail, OriginPolicy, Provenance, PROXY_HEADERS};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
