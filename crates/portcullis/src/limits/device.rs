//! Device tokens: a signed note, kept by a client that logged in to an account, that lets the
//! lockout judge that client on its own failures (OWASP's "device cookies").
//!
//! A token is `base64url(id ‖ expires ‖ HMAC-SHA256(key, account ‖ id ‖ expires))`: 16 random
//! bytes that name the device, the expiry in Unix seconds (8 bytes, big-endian) and the MAC over
//! both and the account's [`UserKey`]. It is only ever issued after a successful login, so
//! holding one tells an attacker nothing they did not know. One cookie holds the tokens of the
//! last [`MAX_TOKENS`] accounts used on the device, joined by `.`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

use super::UserKey;

/// Accounts one device cookie remembers.
pub const MAX_TOKENS: usize = 3;

const ID_LEN: usize = 16;
const EXP_LEN: usize = 8;
const MAC_LEN: usize = 32;
const TOKEN_LEN: usize = ID_LEN + EXP_LEN + MAC_LEN;
/// The longest cookie value accepted: longer ones are not parsed at all.
const MAX_COOKIE_LEN: usize = MAX_TOKENS * 80;
/// Separates this key's use from every other use of the secret it is derived from.
const KEY_INFO: &[u8] = b"portcullis device token key v1";

/// Issues and checks device tokens.
#[derive(Clone)]
pub struct DeviceTokens {
    key: [u8; 32],
    ttl: std::time::Duration,
}

impl std::fmt::Debug for DeviceTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceTokens").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl DeviceTokens {
    /// Tokens keyed by a key derived (HKDF-SHA256) from `secret`, valid for `ttl`.
    pub fn new(secret: &[u8], ttl: std::time::Duration) -> Self {
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's output limit: expand cannot fail.
        let _ = hkdf::Hkdf::<Sha256>::new(None, secret).expand(KEY_INFO, &mut key);
        Self { key, ttl }
    }

    /// How long a token stays valid.
    pub fn ttl(&self) -> std::time::Duration {
        self.ttl
    }

    fn mac(&self, user: &UserKey, id: &[u8], expires: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(user.as_bytes());
        mac.update(id);
        mac.update(expires);
        mac
    }

    /// The device id in `cookie` that holds a valid token of `user` at `now`, if any.
    pub fn find(&self, cookie: Option<&str>, user: &UserKey, now: OffsetDateTime) -> Option<[u8; ID_LEN]> {
        let cookie = cookie.filter(|c| c.len() <= MAX_COOKIE_LEN)?;
        cookie.split('.').take(MAX_TOKENS).find_map(|token| {
            let raw = B64.decode(token).ok().filter(|r| r.len() == TOKEN_LEN)?;
            let (id, rest) = raw.split_at(ID_LEN);
            let (expires, tag) = rest.split_at(EXP_LEN);
            let expires_at = i64::from_be_bytes(expires.try_into().ok()?);
            // Constant-time comparison of the MAC.
            self.mac(user, id, expires).verify_slice(tag).ok()?;
            (now.unix_timestamp() < expires_at).then(|| id.try_into().ok()).flatten()
        })
    }

    /// A cookie value with a new token of `user` first, keeping up to [`MAX_TOKENS`] - 1 tokens of
    /// other accounts from `previous` (an old token of `user` is replaced). The device keeps its
    /// id when `previous` held a valid token of `user`, so its failure history carries on.
    pub fn issue(&self, previous: Option<&str>, user: &UserKey, now: OffsetDateTime) -> String {
        let id = self.find(previous, user, now).unwrap_or_else(|| {
            let mut id = [0u8; ID_LEN];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
            id
        });
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let expires = now.unix_timestamp().saturating_add(ttl).to_be_bytes();
        let tag = self.mac(user, &id, &expires).finalize().into_bytes();
        let mut raw = Vec::with_capacity(TOKEN_LEN);
        raw.extend_from_slice(&id);
        raw.extend_from_slice(&expires);
        raw.extend_from_slice(&tag);
        let mut tokens = vec![B64.encode(raw)];
        let others = previous.filter(|c| c.len() <= MAX_COOKIE_LEN).into_iter().flat_map(|c| c.split('.'));
        for token in others {
            if tokens.len() == MAX_TOKENS {
                break;
            }
            // Only well-formed tokens of other accounts are carried over; they cannot be
            // checked here without their account, and are checked when used.
            let other_account = self.find(Some(token), user, now).is_none();
            let well_formed = B64.decode(token).is_ok_and(|r| r.len() == TOKEN_LEN);
            if well_formed && other_account {
                tokens.push(token.to_owned());
            }
        }
        tokens.join(".")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const T0: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;
    const DAY: Duration = Duration::from_secs(86_400);

    fn tokens() -> DeviceTokens {
        DeviceTokens::new(b"a secret of the server", 30 * DAY)
    }

    #[test]
    fn a_token_proves_its_account_until_it_expires() {
        let t = tokens();
        let (alice, bob) = (UserKey::new("alice"), UserKey::new("bob"));
        let cookie = t.issue(None, &alice, T0);
        let id = t.find(Some(&cookie), &alice, T0 + DAY).expect("valid for alice");
        assert_eq!(t.find(Some(&cookie), &UserKey::new("ALICE"), T0), Some(id), "case is ignored like accounts");
        assert_eq!(t.find(Some(&cookie), &bob, T0), None, "not for another account");
        assert_eq!(t.find(Some(&cookie), &alice, T0 + 30 * DAY), None, "expired");
        let other_key = DeviceTokens::new(b"another server", 30 * DAY);
        assert_eq!(other_key.find(Some(&cookie), &alice, T0), None, "signed by this server only");
    }

    #[test]
    fn a_changed_byte_is_refused() {
        let t = tokens();
        let alice = UserKey::new("alice");
        let cookie = t.issue(None, &alice, T0);
        let mut raw = B64.decode(&cookie).expect("base64");
        for i in [0, ID_LEN, TOKEN_LEN - 1] {
            raw[i] ^= 1;
            assert_eq!(t.find(Some(&B64.encode(&raw)), &alice, T0), None, "byte {i}");
            raw[i] ^= 1;
        }
        for junk in ["", ".", "x", "é", &"A".repeat(MAX_COOKIE_LEN + 1)] {
            assert_eq!(t.find(Some(junk), &alice, T0), None);
        }
    }

    #[test]
    fn one_cookie_remembers_the_last_accounts() {
        let t = tokens();
        let names = ["alice", "bob", "carol", "dave"];
        let mut cookie: Option<String> = None;
        for name in names {
            cookie = Some(t.issue(cookie.as_deref(), &UserKey::new(name), T0));
        }
        let cookie = cookie.expect("issued");
        assert_eq!(cookie.split('.').count(), MAX_TOKENS);
        assert!(t.find(Some(&cookie), &UserKey::new("alice"), T0).is_none(), "the oldest is dropped");
        for name in &names[1..] {
            assert!(t.find(Some(&cookie), &UserKey::new(name), T0).is_some(), "{name}");
        }
        // Logging in again replaces the account's token instead of adding one, and keeps the
        // device's id with a later expiry.
        let dave = UserKey::new("dave");
        let again = t.issue(Some(&cookie), &dave, T0 + DAY);
        assert_eq!(again.split('.').count(), MAX_TOKENS);
        assert!(t.find(Some(&again), &UserKey::new("bob"), T0).is_some());
        assert_eq!(t.find(Some(&again), &dave, T0), t.find(Some(&cookie), &dave, T0), "same device");
        assert!(t.find(Some(&again), &dave, T0 + 30 * DAY).is_some(), "renewed");
        assert_ne!(t.find(Some(&t.issue(None, &dave, T0)), &dave, T0), t.find(Some(&again), &dave, T0));
    }
}
