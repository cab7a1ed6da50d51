//! Login challenges: a first step proven, a further factor still to come.
//!
//! A challenge is what a client holds between the steps of a login: an opaque 256-bit token
//! (only its SHA-256 is stored, so any instance can complete it), valid for a few minutes, for
//! a few attempts, once, and only from the client that began it (its user agent and address
//! prefix; see [`crate::session::protection::client_digest`]).
//!
//! ```text
//!  first step ok ─► issue ─► token to the client
//!  next step ─► attempt(token) ─┬─ unknown, expired, used up, other client ─► refused
//!                               └─ Pending (one attempt counted) ─► factor ok ─► finish (single use)
//!                                                                 └─ factor wrong ─► refused
//! ```

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use uuid::Uuid;

use super::gate::Purpose;
use crate::clock::SharedClock;
use crate::config::SessionConfig;
use crate::error::Result;
use crate::session::protection::client_digest;
use crate::session::ClientInfo;
use crate::store::ChallengeStore;

/// How long a challenge stays open.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(5 * 60);
/// Attempts at the next step before a challenge is used up.
pub const MAX_ATTEMPTS: u32 = 5;

/// A challenge as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRecord {
    /// SHA-256 of the client's token.
    pub id_hash: [u8; 32],
    /// The account whose first step was proven.
    pub user_id: Uuid,
    /// What the login is for ([`Purpose`]'s stored name).
    pub purpose: String,
    /// Digest of the client that began it.
    pub binding: [u8; 32],
    /// What the first step asked for (a JSON object: remember-me, where to go next), if anything.
    pub state: Option<String>,
    /// Attempts made at the next step.
    pub attempts: u32,
    /// When it was issued.
    pub created_at: OffsetDateTime,
    /// When it stops being accepted.
    pub expires_at: OffsetDateTime,
}

/// A challenge the client presented, with one attempt counted: prove the factor, then
/// [`Challenges::finish`] it.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The record, as it is after this attempt.
    pub record: ChallengeRecord,
}

/// Issues and checks challenges.
#[derive(Clone)]
pub struct Challenges {
    store: Arc<dyn ChallengeStore>,
    clock: SharedClock,
    binding: SessionConfig,
}

impl std::fmt::Debug for Challenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Challenges")
    }
}

fn token_hash(token: &str) -> Option<[u8; 32]> {
    // Tokens are 32 bytes, base64url: anything else is refused before the store is asked.
    let bytes = URL_SAFE_NO_PAD.decode(token).ok().filter(|b| b.len() == 32)?;
    Some(Sha256::digest(&bytes).into())
}

impl Challenges {
    /// Challenges kept in `store`; clients are told apart as session protection does
    /// (`config`'s address prefixes).
    pub fn new(store: Arc<dyn ChallengeStore>, clock: SharedClock, config: SessionConfig) -> Self {
        Self { store, clock, binding: config }
    }

    /// Opens a challenge for `user_id`, bound to `client`; returns the token to give it.
    pub async fn issue(
        &self,
        user_id: Uuid,
        purpose: Purpose,
        client: &ClientInfo,
        state: Option<serde_json::Value>,
    ) -> Result<String> {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let token = URL_SAFE_NO_PAD.encode(secret);
        let now = crate::store::from_unix(self.clock.now().unix_timestamp())?;
        let record = ChallengeRecord {
            id_hash: Sha256::digest(secret).into(),
            user_id,
            purpose: purpose.as_str().to_owned(),
            binding: client_digest(&self.binding, client),
            state: state.map(|s| s.to_string()),
            attempts: 0,
            created_at: now,
            expires_at: now + CHALLENGE_TTL,
        };
        self.store.insert_challenge(&record).await?;
        Ok(token)
    }

    /// Counts an attempt on the challenge `token` names for `purpose`; `None` when it is
    /// unknown, expired, used up, for another purpose, or presented by another client.
    pub async fn attempt(&self, token: &str, purpose: Purpose, client: &ClientInfo) -> Result<Option<Pending>> {
        let Some(hash) = token_hash(token) else { return Ok(None) };
        let Some(record) = self.store.attempt_challenge(&hash, self.clock.now(), MAX_ATTEMPTS).await? else {
            return Ok(None);
        };
        let same_client: bool = record.binding.ct_eq(&client_digest(&self.binding, client)).into();
        if !same_client || record.purpose != purpose.as_str() {
            return Ok(None);
        }
        Ok(Some(Pending { record }))
    }

    /// Ends a challenge whose next step was proven; `false` when another request finished it
    /// first (the caller must then refuse: a challenge is used once).
    pub async fn finish(&self, pending: Pending) -> Result<bool> {
        Ok(self.store.delete_challenge(&pending.record.id_hash).await?)
    }

    /// Deletes challenges past their end.
    pub async fn sweep(&self) -> Result<u64> {
        Ok(self.store.delete_expired_challenges(self.clock.now()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::NewUser;
    use crate::clock::{Clock as _, ManualClock};

    async fn setup() -> (Challenges, Arc<ManualClock>, Uuid, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let stores =
            crate::store::open(&format!("sqlite://{}", dir.path().join("c.db").display())).await.expect("open");
        let clock = Arc::new(ManualClock::new(OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time")));
        let new = NewUser { username: "mia".into(), email: None, password_hash: "h".into(), roles: vec![] };
        let user = stores.users.create_user(new, clock.now()).await.expect("user");
        let config = crate::Config::defaults().session;
        let challenges = Challenges::new(stores.challenges.clone(), clock.clone(), config);
        (challenges, clock, user.id, dir)
    }

    fn client(ip: &str, ua: &str) -> ClientInfo {
        ClientInfo { ip: Some(ip.into()), user_agent: Some(ua.into()) }
    }

    #[tokio::test]
    async fn a_challenge_is_single_use_and_keeps_what_the_first_step_asked() {
        let (challenges, _, user, _dir) = setup().await;
        let me = client("192.0.2.7", "browser");
        let state = serde_json::json!({ "remember": true });
        let token = challenges.issue(user, Purpose::SessionLogin, &me, Some(state.clone())).await.expect("issue");
        let pending = challenges.attempt(&token, Purpose::SessionLogin, &me).await.expect("attempt").expect("open");
        assert_eq!((pending.record.user_id, pending.record.attempts), (user, 1));
        assert_eq!(pending.record.state.as_deref(), Some(state.to_string().as_str()));
        let again = challenges.attempt(&token, Purpose::SessionLogin, &me).await.expect("attempt").expect("open");
        assert!(challenges.finish(pending).await.expect("finish"));
        assert!(!challenges.finish(again).await.expect("finish"), "a second finish loses");
        assert!(challenges.attempt(&token, Purpose::SessionLogin, &me).await.expect("attempt").is_none(), "used");
    }

    #[tokio::test]
    async fn only_the_client_that_began_it_within_its_time_and_attempts() {
        let (challenges, clock, user, _dir) = setup().await;
        let me = client("192.0.2.7", "browser");
        let token = challenges.issue(user, Purpose::TokenLogin, &me, None).await.expect("issue");
        let other = client("203.0.113.9", "browser");
        assert!(challenges.attempt(&token, Purpose::TokenLogin, &other).await.expect("attempt").is_none());
        let other_ua = client("192.0.2.7", "curl");
        assert!(challenges.attempt(&token, Purpose::TokenLogin, &other_ua).await.expect("attempt").is_none());
        assert!(challenges.attempt(&token, Purpose::SessionLogin, &me).await.expect("attempt").is_none(), "purpose");
        // Each refusal above counted an attempt: two are left.
        assert!(challenges.attempt(&token, Purpose::TokenLogin, &me).await.expect("attempt").is_some());
        assert!(challenges.attempt(&token, Purpose::TokenLogin, &me).await.expect("attempt").is_some());
        assert!(challenges.attempt(&token, Purpose::TokenLogin, &me).await.expect("attempt").is_none(), "used up");

        let late = challenges.issue(user, Purpose::TokenLogin, &me, None).await.expect("issue");
        clock.advance(time::Duration::try_from(CHALLENGE_TTL).expect("fits"));
        assert!(challenges.attempt(&late, Purpose::TokenLogin, &me).await.expect("attempt").is_none(), "expired");
        assert_eq!(challenges.sweep().await.expect("sweep"), 2);
        for junk in ["", "not base64!", "c2hvcnQ", &"A".repeat(4096)] {
            assert!(challenges.attempt(junk, Purpose::TokenLogin, &me).await.expect("attempt").is_none());
        }
    }
}
