//! Remember me: a long-lived cookie that restores a (not fresh) session after the session
//! cookie has expired.
//!
//! ```text
//!   login {remember: true} ─► series S, validator v0   cookie "S.v0"
//!   session expired, "S.v0" ─► new session, v0 → v1     cookie "S.v1"
//!   "S.v0" again within the grace (a second tab) ─► new session, cookie unchanged
//!   "S.v0" again later, or any other validator ──► stolen: every series and session of the
//!                                                   user ends (remember_reused)
//! ```
//!
//! The selector (series id) is public; the validator is 256 random bits of which only the
//! SHA-256 is stored and which is compared in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{ClientInfo, LiveSession, LoginMethod, SessionManager, SessionSecret};
use crate::error::Result;

/// What [`SessionManager::end_all_access`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Sessions and token families.
    pub sessions: usize,
    /// Remember-me series.
    pub series: u64,
}

/// A remember-me series. The cookie holds `selector:validator`; the selector stays for the
/// series' life, the validator changes on every use and only its SHA-256 is kept. A validator
/// that was already replaced means the cookie was copied: the series is stolen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RememberRecord {
    /// Public lookup key of the series.
    pub selector: String,
    /// Owner.
    pub user_id: Uuid,
    /// SHA-256 of the current validator.
    pub validator_hash: [u8; 32],
    /// SHA-256 of the validator it replaced, accepted for a short grace after rotation so two
    /// tabs restoring at once are not taken for theft.
    pub previous_hash: Option<[u8; 32]>,
    /// When the validator last changed.
    pub rotated_at: Option<OffsetDateTime>,
    /// Series start.
    pub created_at: OffsetDateTime,
    /// Series end.
    pub expires_at: OffsetDateTime,
}
use time::OffsetDateTime;

/// How long a replaced validator still restores (two tabs waking at once).
const GRACE_SECS: i64 = 10;

/// What a remember-me cookie led to.
#[derive(Debug)]
pub enum Restore {
    /// A new session; `next_cookie` is the rotated cookie value to send (none within the grace).
    Restored {
        /// The new session's secret.
        secret: SessionSecret,
        /// The new session.
        live: std::sync::Arc<LiveSession>,
        /// The next remember-me cookie value.
        next_cookie: Option<String>,
    },
    /// Unknown, expired or malformed: clear the cookie.
    Invalid,
    /// A replaced validator was replayed: every series and session of this user was ended.
    Stolen {
        /// The victim.
        user_id: Uuid,
    },
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

fn cookie_value(selector: &str, validator: &[u8; 32]) -> String {
    format!("{selector}.{}", URL_SAFE_NO_PAD.encode(validator))
}

/// Splits a cookie into selector and validator; `None` for anything malformed.
fn parse(cookie: &str) -> Option<(&str, [u8; 32])> {
    let (selector, validator) = cookie.split_once('.')?;
    if selector.len() != 22 || validator.len() != 43 {
        return None;
    }
    let mut out = [0u8; 33];
    match URL_SAFE_NO_PAD.decode_slice(validator, &mut out) {
        Ok(32) => Some((selector, out[..32].try_into().ok()?)),
        _ => None,
    }
}

/// The selector of a cookie value, if well formed.
pub fn selector_of(cookie: &str) -> Option<&str> {
    parse(cookie).map(|(selector, _)| selector)
}

impl SessionManager {
    /// Starts a remember-me series for `user_id`; returns the cookie value.
    pub async fn remember(&self, user_id: Uuid) -> Result<String> {
        let selector = URL_SAFE_NO_PAD.encode(random::<16>());
        let validator = random::<32>();
        let now = self.clock.now();
        let record = RememberRecord {
            selector: selector.clone(),
            user_id,
            validator_hash: Sha256::digest(validator).into(),
            previous_hash: None,
            rotated_at: None,
            created_at: now,
            expires_at: now + self.config.remember_for,
        };
        self.stores.remember.insert_remember(&record).await?;
        Ok(cookie_value(&selector, &validator))
    }

    /// Restores a session from a remember-me cookie.
    pub async fn restore(&self, cookie: &str, client: ClientInfo) -> Result<Restore> {
        let Some((selector, validator)) = parse(cookie) else {
            return Ok(Restore::Invalid);
        };
        let Some(record) = self.stores.remember.remember_by_selector(selector).await? else {
            return Ok(Restore::Invalid);
        };
        let now = self.clock.now();
        if now >= record.expires_at {
            self.stores.remember.delete_remember(selector).await?;
            return Ok(Restore::Invalid);
        }
        let presented: [u8; 32] = Sha256::digest(validator).into();
        let current = bool::from(presented.ct_eq(&record.validator_hash));
        let in_grace = record.previous_hash.is_some_and(|prev| bool::from(presented.ct_eq(&prev)))
            && record.rotated_at.is_some_and(|at| (now - at).whole_seconds() <= GRACE_SECS);
        if !current && !in_grace {
            // A validator that is neither current nor just replaced: the cookie was copied and
            // one copy already used. End everything the series could have opened.
            self.stores.remember.delete_user_remember(record.user_id, None).await?;
            self.revoke_user(record.user_id, None, "remember_reused").await?;
            return Ok(Restore::Stolen { user_id: record.user_id });
        }
        let Some(user) = self.stores.users.user_by_id(record.user_id).await?.filter(|u| !u.disabled) else {
            self.stores.remember.delete_remember(selector).await?;
            return Ok(Restore::Invalid);
        };
        let next_cookie = if current {
            let next = random::<32>();
            let next_hash: [u8; 32] = Sha256::digest(next).into();
            if self.stores.remember.rotate_remember(selector, &presented, &next_hash, now).await? {
                Some(cookie_value(selector, &next))
            } else {
                // Another request rotated it a moment ago; that one's cookie wins.
                None
            }
        } else {
            None
        };
        let (secret, live) = self.create(&user, client, LoginMethod::Remembered).await?;
        Ok(Restore::Restored { secret, live, next_cookie })
    }

    /// Ends the series of a cookie (logout).
    pub async fn forget(&self, cookie: &str) -> Result<()> {
        if let Some(selector) = selector_of(cookie) {
            self.stores.remember.delete_remember(selector).await?;
        }
        Ok(())
    }

    /// Ends every series of a user but the one whose cookie is `keep`.
    pub async fn forget_remembered(&self, user_id: Uuid, keep: Option<&str>) -> Result<u64> {
        let keep = keep.and_then(selector_of);
        Ok(self.stores.remember.delete_user_remember(user_id, keep).await?)
    }

    /// Ends all of a user's access but `keep` (a session's id hash) and `keep_series` (a
    /// remember-me cookie): every session and token family, here and on every instance, and every
    /// remember-me series. The one operation behind a password change, ending one's other
    /// sessions, and an admin's revoke, disable and delete; the caller writes the audit row that
    /// says why.
    pub async fn end_all_access(
        &self,
        user_id: Uuid,
        keep: Option<&[u8; 32]>,
        keep_series: Option<&str>,
        reason: &str,
    ) -> Result<Ended> {
        let sessions = self.revoke_user(user_id, keep, reason).await?;
        let series = self.forget_remembered(user_id, keep_series).await?;
        Ok(Ended { sessions, series })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_round_trip_and_junk() {
        let v = random::<32>();
        let c = cookie_value("AAAAAAAAAAAAAAAAAAAAAA", &v);
        assert_eq!(parse(&c), Some(("AAAAAAAAAAAAAAAAAAAAAA", v)));
        assert_eq!(parse("nodot"), None);
        assert_eq!(parse("short.x"), None);
        assert_eq!(parse(&format!("AAAAAAAAAAAAAAAAAAAAAA.{}", "!".repeat(43))), None);
    }
}
