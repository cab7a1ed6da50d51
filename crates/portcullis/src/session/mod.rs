//! Sessions: the one unit of "being logged in".
//!
//! ```text
//!   login ──► live ──(request: last_seen = now; persisted at most once per touch_interval)──► live
//!              │
//!              ├─ now ≥ last_seen + idle_timeout ─────► expired (unauthenticated)
//!              ├─ now ≥ created + absolute_timeout ───► expired (unauthenticated)
//!              └─ logout / revocation ────────────────► revoked (store row marked, cache entry dropped)
//! ```
//!
//! The client holds a 256-bit random secret ([`SessionSecret`]); the store keeps only its SHA-256,
//! so a leaked database does not hand out live sessions. Validation is answered from an
//! in-process cache keyed by that hash; revocation drops the entry at once, and with a shared
//! Redis ([`crate::cluster::Fanout`]) on every other instance too.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use moka::sync::Cache;
use rand::RngCore;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::account::User;
use crate::clock::SharedClock;
use crate::cluster::{Dependency, Fanout, Invalidation};
use crate::config::SessionConfig;
use crate::error::Result;
use crate::signal::SignalKind;
use crate::store::Stores;

pub mod protection;
pub mod remember;

/// How a session was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A browser session cookie.
    Cookie,
    /// A refresh-token family.
    Token,
}

impl SessionKind {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Cookie => "cookie",
            SessionKind::Token => "token",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cookie" => Some(SessionKind::Cookie),
            "token" => Some(SessionKind::Token),
            _ => None,
        }
    }
}

/// A stored session. The client holds a 256-bit secret; only its SHA-256 (`id_hash`) is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the client's secret.
    pub id_hash: [u8; 32],
    /// Public identifier, safe to show and to use in URLs.
    pub public_id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Cookie or token family.
    pub kind: SessionKind,
    /// Login time.
    pub created_at: OffsetDateTime,
    /// Last persisted activity (written at most once per touch interval).
    pub last_seen_at: OffsetDateTime,
    /// Absolute deadline.
    pub expires_at: OffsetDateTime,
    /// Fresh (recently authenticated) until.
    pub fresh_until: OffsetDateTime,
    /// Created with remember-me.
    pub remember: bool,
    /// Client address at login.
    pub ip: Option<String>,
    /// User agent at login.
    pub user_agent: Option<String>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
    /// Refresh families: the generation whose token is current.
    pub refresh_generation: i64,
    /// Refresh families: when the current generation replaced the previous one.
    pub rotated_at: Option<OffsetDateTime>,
    /// Session protection: hash of the client's user agent and address prefix at login.
    pub fingerprint: Option<String>,
}

/// Length of an encoded secret: 32 bytes in unpadded base64url.
const ENCODED_LEN: usize = 43;

/// The secret a client holds for its session; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionSecret([u8; 32]);

impl SessionSecret {
    /// A fresh secret from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Parses the cookie form; `None` for anything that is not exactly 32 base64url bytes.
    pub fn parse(encoded: &str) -> Option<Self> {
        if encoded.len() != ENCODED_LEN {
            return None;
        }
        let mut bytes = [0u8; 33];
        match URL_SAFE_NO_PAD.decode_slice(encoded, &mut bytes) {
            Ok(32) => {
                let mut out = [0u8; 32];
                out.copy_from_slice(&bytes[..32]);
                Some(Self(out))
            }
            _ => None,
        }
    }

    /// The cookie form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The SHA-256 under which the store keeps this session.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.0).into()
    }
}

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret([redacted])")
    }
}

/// The account a session belongs to, as cached with it.
#[derive(Debug, Clone)]
pub struct SessionUser {
    /// Account id.
    pub id: Uuid,
    /// Username.
    pub username: String,
    /// Email.
    pub email: Option<String>,
    /// Roles.
    pub roles: Vec<String>,
    /// Permissions granted by the roles.
    pub permissions: Vec<String>,
}

impl SessionUser {
    /// Holds role `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Holds permission `permission` through one of its roles.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }
}

impl From<&User> for SessionUser {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            roles: u.roles.clone(),
            permissions: u.permissions.clone(),
        }
    }
}

/// One of a user's live sessions, as [`SessionManager::list_live`] finds it.
#[derive(Debug, Clone)]
pub struct ListedSession {
    /// The stored session.
    pub record: SessionRecord,
    /// Its latest activity.
    pub last_seen_at: OffsetDateTime,
    /// When it ends unless used again (the idle deadline, or the absolute one if sooner).
    pub expires_at: OffsetDateTime,
    /// Whether it is the session asking.
    pub current: bool,
}

/// A validated, live session with its user.
#[derive(Debug)]
pub struct LiveSession {
    record: SessionRecord,
    user: SessionUser,
    /// Most recent activity seen by this process (unix seconds).
    last_seen: AtomicI64,
    /// Most recent activity written to the store (unix seconds).
    persisted: AtomicI64,
    /// Fresh until (unix seconds); lowered in place when protection sees another client.
    fresh_until: AtomicI64,
}

impl LiveSession {
    fn new(record: SessionRecord, user: SessionUser) -> Self {
        let seen = record.last_seen_at.unix_timestamp();
        let fresh = record.fresh_until.unix_timestamp();
        Self {
            record,
            user,
            last_seen: AtomicI64::new(seen),
            persisted: AtomicI64::new(seen),
            fresh_until: AtomicI64::new(fresh),
        }
    }

    /// Until when the login counts as fresh.
    pub fn fresh_until(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.fresh_until.load(Ordering::Relaxed)).unwrap_or(self.record.created_at)
    }

    /// Whether the login is fresh at `now`.
    pub fn is_fresh(&self, now: OffsetDateTime) -> bool {
        now.unix_timestamp() < self.fresh_until.load(Ordering::Relaxed)
    }

    /// The stored record (its `last_seen_at` may lag; see [`LiveSession::last_seen_at`]).
    pub fn record(&self) -> &SessionRecord {
        &self.record
    }

    /// The account.
    pub fn user(&self) -> &SessionUser {
        &self.user
    }

    /// Last activity seen.
    pub fn last_seen_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.last_seen.load(Ordering::Relaxed)).unwrap_or(self.record.last_seen_at)
    }
}

/// How a session starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMethod {
    /// The user just proved their password: the session is fresh.
    Password,
    /// A remember-me cookie restored it: not fresh.
    Remembered,
}

/// Where and how a login happened, kept with the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// Client address.
    pub ip: Option<String>,
    /// User agent, truncated.
    pub user_agent: Option<String>,
}

/// Creates, validates and revokes sessions.
#[derive(Clone)]
pub struct SessionManager {
    stores: Stores,
    clock: SharedClock,
    config: SessionConfig,
    idle_secs: i64,
    token_idle: StdDuration,
    token_ttl: StdDuration,
    touch_secs: i64,
    cache: Cache<[u8; 32], Arc<LiveSession>>,
    /// Revocations shared with other instances.
    fanout: Option<Fanout>,
    /// Services whose outage makes session checks answer 503 rather than trust stale state.
    dependencies: Arc<[Arc<Dependency>]>,
}

impl fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager").field("config", &self.config).finish()
    }
}

fn secs(d: StdDuration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl SessionManager {
    /// A manager over `stores`, reading time from `clock`. Token families idle out after
    /// `token_idle` and end `token_ttl` after login.
    pub fn new(
        stores: Stores,
        clock: SharedClock,
        config: SessionConfig,
        token_idle: StdDuration,
        token_ttl: StdDuration,
    ) -> Self {
        // Entries are re-read from the store at least once per touch interval, which bounds how
        // long a revocation made by another process (the admin CLI) can go unseen here.
        let cache = Cache::builder().max_capacity(config.cache_capacity).time_to_live(config.touch_interval).build();
        Self {
            stores,
            clock,
            idle_secs: secs(config.idle_timeout),
            token_idle,
            token_ttl,
            touch_secs: secs(config.touch_interval),
            config,
            cache,
            fanout: None,
            dependencies: Arc::from([]),
        }
    }

    /// Session checks answer 503 `unavailable` while any of `dependencies` is down.
    pub fn with_dependencies(mut self, dependencies: Vec<Arc<Dependency>>) -> Self {
        self.dependencies = dependencies.into();
        self
    }

    /// Shares revocations with other instances through `fanout`.
    pub fn with_fanout(mut self, fanout: Fanout) -> Self {
        self.fanout = Some(fanout);
        self
    }

    /// What a [`Fanout`] calls with every revocation heard: drops it from this cache.
    pub fn fanout_sink(&self) -> crate::cluster::Sink {
        let cache = self.cache.clone();
        Arc::new(move |what| forget(&cache, what))
    }

    /// Drops `what` from this instance's cache only (`None`: every cached session): a change
    /// another process made and signalled.
    pub fn forget_here(&self, what: Option<Invalidation>) {
        forget(&self.cache, what);
    }

    /// Drops `what` here and on every other instance.
    async fn drop_everywhere(&self, what: Invalidation) {
        forget(&self.cache, Some(what));
        self.publish(what).await;
    }

    /// Starts a new cookie session for `user`. Always a new random id: session-fixation
    /// mitigation.
    pub async fn create(
        &self,
        user: &User,
        client: ClientInfo,
        method: LoginMethod,
    ) -> Result<(SessionSecret, Arc<LiveSession>)> {
        let secret = SessionSecret::generate();
        let live = self.insert(user, secret.hash(), Uuid::now_v7(), SessionKind::Cookie, client, method).await?;
        Ok((secret, live))
    }

    /// Starts a new refresh-token family for `user` after a password login; its key is derived
    /// from its public id.
    pub async fn create_family(&self, user: &User, client: ClientInfo) -> Result<Arc<LiveSession>> {
        let public_id = Uuid::now_v7();
        let hash = crate::token::family_hash(public_id);
        self.insert(user, hash, public_id, SessionKind::Token, client, LoginMethod::Password).await
    }

    async fn insert(
        &self,
        user: &User,
        id_hash: [u8; 32],
        public_id: Uuid,
        kind: SessionKind,
        client: ClientInfo,
        method: LoginMethod,
    ) -> Result<Arc<LiveSession>> {
        let now = self.clock.now();
        let now = OffsetDateTime::from_unix_timestamp(now.unix_timestamp()).unwrap_or(now);
        let lifetime = match kind {
            SessionKind::Cookie => self.config.absolute_timeout,
            SessionKind::Token => self.token_ttl,
        };
        let record = SessionRecord {
            id_hash,
            public_id,
            user_id: user.id,
            kind,
            created_at: now,
            last_seen_at: now,
            expires_at: now + lifetime,
            fresh_until: match method {
                LoginMethod::Password => now + self.config.fresh_for,
                LoginMethod::Remembered => now,
            },
            remember: method == LoginMethod::Remembered,
            fingerprint: protection::fingerprint(&self.config, &client),
            ip: client.ip,
            user_agent: client.user_agent,
            revoked_at: None,
            refresh_generation: 0,
            rotated_at: None,
        };
        self.stores.sessions.insert_session(&record).await?;
        let live = Arc::new(LiveSession::new(record, SessionUser::from(user)));
        self.cache.insert(live.record.id_hash, Arc::clone(&live));
        Ok(live)
    }

    fn idle_of(&self, kind: SessionKind) -> i64 {
        match kind {
            SessionKind::Cookie => self.idle_secs,
            SessionKind::Token => secs(self.token_idle),
        }
    }

    /// Validates a session by the hash of its secret. `Ok(None)` means unauthenticated.
    ///
    /// This is the hot path: one cache lookup, a few atomics, and a store write at most once
    /// per touch interval.
    pub async fn validate(&self, id_hash: &[u8; 32]) -> Result<Option<Arc<LiveSession>>> {
        for dependency in self.dependencies.iter() {
            dependency.check()?;
        }
        let live = match self.cache.get(id_hash) {
            Some(live) => live,
            None => match self.load(id_hash).await? {
                Some(live) => live,
                None => return Ok(None),
            },
        };
        let now = self.clock.now().unix_timestamp();
        let last_seen = live.last_seen.load(Ordering::Relaxed);
        let idle = self.idle_of(live.record.kind);
        if now >= live.record.expires_at.unix_timestamp() || now >= last_seen.saturating_add(idle) {
            self.cache.invalidate(id_hash);
            return Ok(None);
        }
        // Reads extend the idle deadline; the store learns of it at most once per interval.
        live.last_seen.fetch_max(now, Ordering::Relaxed);
        let persisted = live.persisted.load(Ordering::Relaxed);
        if now >= persisted.saturating_add(self.touch_secs)
            && live.persisted.compare_exchange(persisted, now, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        {
            let at = OffsetDateTime::from_unix_timestamp(now).unwrap_or(live.record.last_seen_at);
            self.stores.sessions.touch_session(id_hash, at).await?;
        }
        Ok(Some(live))
    }

    async fn load(&self, id_hash: &[u8; 32]) -> Result<Option<Arc<LiveSession>>> {
        let Some(record) = self.stores.sessions.session_by_hash(id_hash).await? else {
            return Ok(None);
        };
        if record.revoked_at.is_some() {
            return Ok(None);
        }
        let Some(user) = self.stores.users.user_by_id(record.user_id).await? else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        let live = Arc::new(LiveSession::new(record, SessionUser::from(&user)));
        self.cache.insert(*id_hash, Arc::clone(&live));
        Ok(Some(live))
    }

    /// Ends a session everywhere at once: marks the row revoked and drops the cached entry.
    pub async fn revoke(&self, id_hash: &[u8; 32], reason: &str) -> Result<bool> {
        // Store first, cache after: a request racing the revocation cannot reload a live copy.
        let done = self.stores.sessions.revoke_session(id_hash, self.clock.now(), reason).await?;
        self.drop_everywhere(Invalidation::Session(*id_hash)).await;
        Ok(done)
    }

    /// Ends every session of a user but `keep` (the caller's own, for "log out my other
    /// devices"); returns how many ended.
    pub async fn revoke_user(&self, user_id: Uuid, keep: Option<&[u8; 32]>, reason: &str) -> Result<usize> {
        let hashes = self.stores.sessions.revoke_user_sessions(user_id, keep, self.clock.now(), reason).await?;
        for hash in &hashes {
            self.drop_everywhere(Invalidation::Session(*hash)).await;
        }
        // Servers that did not do this themselves (the CLI ended them) hear it within a second.
        if !hashes.is_empty() {
            self.stores.signals.send_signal(SignalKind::Changed, Some(user_id), self.clock.now()).await?;
        }
        Ok(hashes.len())
    }

    /// The user's live sessions (cookie sessions and token families), oldest first.
    pub async fn list(&self, user_id: Uuid) -> Result<Vec<SessionRecord>> {
        Ok(self.stores.sessions.user_sessions(user_id, self.clock.now()).await?)
    }

    /// The live sessions of `current`'s user, as they stand now: the current one with its
    /// latest activity, idle-expired ones (still in the store until the sweep) left out.
    pub async fn list_live(&self, current: &LiveSession) -> Result<Vec<ListedSession>> {
        let now = self.clock.now();
        let records = self.list(current.user().id).await?;
        Ok(records
            .into_iter()
            .filter_map(|record| {
                let is_current = record.public_id == current.record().public_id;
                let last_seen_at = if is_current { current.last_seen_at() } else { record.last_seen_at };
                let idle_deadline = last_seen_at + self.idle_of_kind(record.kind);
                let expires_at = idle_deadline.min(record.expires_at);
                (idle_deadline > now).then_some(ListedSession { record, last_seen_at, expires_at, current: is_current })
            })
            .collect())
    }

    /// Drops a user's cached sessions so the next request re-reads the account (new roles, a
    /// disabled flag), here and on every other instance. Admin operations only: it walks the
    /// cache.
    pub async fn refresh_user(&self, user_id: Uuid) {
        self.drop_everywhere(Invalidation::User(user_id)).await;
        self.signal(Some(user_id)).await;
    }

    /// [`SessionManager::refresh_user`] for many accounts (a role's holders), with one signal
    /// for every other server rather than one per account.
    pub async fn refresh_users(&self, user_ids: &[Uuid]) {
        for id in user_ids {
            self.drop_everywhere(Invalidation::User(*id)).await;
        }
        match user_ids {
            [] => {}
            [one] => self.signal(Some(*one)).await,
            _ => self.signal(None).await,
        }
    }

    /// Tells every server through the store that `user_id`'s (or, with `None`, every) cached
    /// session must be re-read. The change itself is already stored: when this fails, servers
    /// re-read within `session.touch_interval` anyway, so it is logged, not returned.
    async fn signal(&self, user_id: Option<Uuid>) {
        if let Err(e) = self.stores.signals.send_signal(SignalKind::Changed, user_id, self.clock.now()).await {
            tracing::warn!(error = %e, "could not signal a session change to other servers");
        }
    }

    /// Step-up for a cookie session: a new secret (session-fixation mitigation at a privilege
    /// change) and a fresh login until `now + fresh_for`. `None` when the session has ended.
    pub async fn reauth_cookie(&self, live: &LiveSession) -> Result<Option<(SessionSecret, OffsetDateTime)>> {
        let secret = SessionSecret::generate();
        let until = self.clock.now() + self.config.fresh_for;
        let old = live.record.id_hash;
        if !self.stores.sessions.rekey_session(&old, &secret.hash(), until).await? {
            return Ok(None);
        }
        self.drop_everywhere(Invalidation::Session(old)).await;
        Ok(Some((secret, until)))
    }

    /// Step-up for a token family: fresh until `now + fresh_for` (its id cannot change; the
    /// refresh token already rotates).
    pub async fn reauth_family(&self, live: &LiveSession) -> Result<Option<OffsetDateTime>> {
        let until = self.clock.now() + self.config.fresh_for;
        if !self.stores.sessions.set_fresh_until(&live.record.id_hash, until).await? {
            return Ok(None);
        }
        live.fresh_until.store(until.unix_timestamp(), Ordering::Relaxed);
        self.publish(Invalidation::Session(live.record.id_hash)).await;
        Ok(Some(until))
    }

    /// Ends freshness at once (session protection "basic" saw another client); `true` when the
    /// session was fresh until now.
    pub async fn make_stale(&self, live: &LiveSession) -> Result<bool> {
        let now = self.clock.now().unix_timestamp();
        // Cheap check first: a session already stale is left alone (no write per request).
        if live.fresh_until.load(Ordering::Relaxed) <= now || live.fresh_until.swap(now, Ordering::Relaxed) <= now {
            return Ok(false);
        }
        let at = OffsetDateTime::from_unix_timestamp(now).unwrap_or(live.record.created_at);
        self.stores.sessions.set_fresh_until(&live.record.id_hash, at).await?;
        self.publish(Invalidation::Session(live.record.id_hash)).await;
        Ok(true)
    }

    /// Tells other instances only (this one's cached copy is already up to date).
    async fn publish(&self, what: Invalidation) {
        if let Some(fanout) = &self.fanout {
            fanout.publish(what).await;
        }
    }

    /// The session configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Deletes expired and long-revoked sessions and expired remember-me series from the store.
    pub async fn sweep(&self) -> Result<u64> {
        let now = self.clock.now();
        let sessions =
            self.stores.sessions.delete_expired(now, now - self.config.idle_timeout, now - self.token_idle).await?;
        Ok(sessions + self.stores.sessions.delete_expired_remember(now).await?)
    }

    /// How long a session of `kind` may sit idle.
    pub fn idle_of_kind(&self, kind: SessionKind) -> time::Duration {
        time::Duration::seconds(self.idle_of(kind))
    }

    /// The idle deadline of a live session.
    pub fn idle_deadline(&self, live: &LiveSession) -> OffsetDateTime {
        live.last_seen_at() + time::Duration::seconds(self.idle_of(live.record.kind))
    }

    /// The store (refresh rotation reads and writes it directly).
    pub(crate) fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The clock.
    pub(crate) fn clock(&self) -> &SharedClock {
        &self.clock
    }
}

/// Drops `what` from `cache`: one session, every session of one account, or (`None`) all.
fn forget(cache: &Cache<[u8; 32], Arc<LiveSession>>, what: Option<Invalidation>) {
    match what {
        Some(Invalidation::Session(hash)) => cache.invalidate(&hash),
        Some(Invalidation::User(user_id)) => {
            let stale: Vec<_> = cache.iter().filter(|(_, live)| live.user.id == user_id).map(|(k, _)| *k).collect();
            for key in stale {
                cache.invalidate(&key);
            }
        }
        None => cache.invalidate_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_reject_junk() {
        let s = SessionSecret::generate();
        let encoded = s.encode();
        assert_eq!(encoded.len(), ENCODED_LEN);
        assert_eq!(SessionSecret::parse(&encoded), Some(s.clone()));
        assert_ne!(SessionSecret::generate(), s);
        assert!(SessionSecret::parse("").is_none());
        assert!(SessionSecret::parse(&"!".repeat(43)).is_none());
        assert!(SessionSecret::parse(&format!("{encoded}A")).is_none());
        assert_eq!(format!("{s:?}"), "SessionSecret([redacted])");
    }
}
