//! Rate limits, account lockout and the client address behind trusted proxies.
//!
//! Login, register, reauth, MFA and refresh pass through [`Limits`]:
//!
//! * **Rate limits**: a token bucket per client address and one per account (GCRA: one
//!   timestamp per key). An IPv6 address counts as its /64, the block one subscriber holds. An
//!   empty bucket answers `rate_limited` with `retry_after`. The account's bucket is drawn on
//!   only by clients with no history for the account ([`Scope::charges_account`]).
//! * **Lockout**: failures are logged per account (ignoring case) *and* [`Scope`]: the client
//!   address, a device token of the account, or a logged-in session. `failures` of them within
//!   `within` lock that client out of that account for `within` after the failure that tripped
//!   the rule, answered with `account_locked` and `retry_after`. No client can lock out another
//!   (OWASP ASVS 5.0 6.3.1 and its note on malicious lockout), and an admin's unlock lifts every
//!   scope's lock at once. The check does not depend on the account existing, so a lock tells
//!   nothing about which usernames are real.
//!
//! ```text
//!                       account "admin"
//!   ┌───────────────────────┬─────────────────────┬────────────────────────┐
//!   │ Address(203.0.113.66) │ Device(id from an   │ Session(hash)          │  one failure log
//!   │ attacker: 20 failures │ earlier login)      │ reauth / password      │  (the rules below)
//!   │ → locked for a day    │ owner: 0 → open     │ change: own failures   │  per scope
//!   └───────────┬───────────┴─────────────────────┴────────────────────────┘
//!               └─ draws on the account bucket (5/min); Device and Session do not
//!   unlock(admin, t): failures and locks of every scope up to t are void
//! ```
//!
//! Each scope's log follows the same rules:
//!
//! ```text
//!                failure, no rule tripped            each rule: N failures in (now - W, now]
//!                 ┌──────────┐                       (defaults: 5 in 10m, 10 in 1h, 20 in 24h)
//!                 ▼          │
//!           ┌────────────┐───┘  N-th failure within W   ┌──────────────────────────┐
//!   ───────▶│  unlocked  │ ───────────────────────────▶ │ locked until failure + W │
//!           └────────────┘ ◀─────────────────────────── └──────────────────────────┘
//!                 ▲ │      now >= failure + W, or an unlock  (longest tripped rule wins;
//!                 │ │ success                               success does not unlock)
//!                 └─┘
//! ```
//!
//! A success resets the **shortest** window only: failures at or before it no longer count
//! toward the shortest rule, while the longer rules still count them: an owner who mistyped and
//! then got in starts the short window afresh, but guessing interleaved with the owner's own
//! logins still trips the longer rules.
//!
//! ```text
//!   time ──x──x──x──x─────✓─────x──x──x──x──────────▶
//!          └ 4 failures ┘       └ 4 failures ┘
//!   10m rule (5):  counts 4, the success forgot the first four  → open
//!   1h rule (10):  counts 8                                     → two more within the hour lock
//! ```
//!
//! Every decision takes `now`, so tests move a clock instead of sleeping. State lives behind
//! [`LimitBackend`]: [`MemoryBackend`] (this process, bounded maps whose idle keys vanish) by
//! default; a backend shared by several instances plugs in with [`Limits::with_backend`].
//!
//! [`client_ip`] finds the client's address: the peer itself, unless the peer is a trusted proxy
//! (`[proxy] trusted`), in which case `X-Forwarded-For` names it.
//!
//! [`ConnectionGate`] caps open connections, overall and per address (see [`connections`]).

mod config;
pub mod connections;
pub mod device;
pub(crate) mod lockout;
pub(crate) mod memory;
mod proxy;

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub use config::{LimitsConfig, RawLimits, RawLockout, RawLockoutWindow, RawProxy};
pub use connections::{ConnectionConfig, ConnectionGate, ConnectionPermit, ConnectionStats, Refusal};
pub use device::DeviceTokens;
pub use lockout::{Lock, LockoutPolicy, LockoutWindow};
pub use memory::{MemoryBackend, MAX_KEYS};
pub use proxy::{client_ip, Cidr};

use crate::error::{Error, ErrorKind};

/// A token bucket: `burst` attempts at once, refilled at `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Sustained attempts per minute.
    pub per_minute: u32,
    /// Attempts allowed at once from a full bucket.
    pub burst: u32,
}

impl Rate {
    /// Time for one attempt to come back.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(60) / self.per_minute.max(1)
    }

    /// Time for an empty bucket to fill up.
    pub fn refill_time(&self) -> Duration {
        self.interval().checked_mul(self.burst.max(1)).unwrap_or(Duration::MAX)
    }
}

/// A username's key: SHA-256 of its lowercased form. Fixed-size, so long names cannot grow the
/// maps past their key count, and a shared backend never stores a username.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserKey([u8; 32]);

impl UserKey {
    /// The key of `username`, ignoring case the way accounts do.
    pub fn new(username: &str) -> Self {
        Self(Sha256::digest(crate::account::username_key(username).as_bytes()).into())
    }

    /// The digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_digest(f, "UserKey", &self.0)
    }
}

/// `Name(0123456789ab…)`: enough of a digest to tell keys apart in a log, never all of it.
fn debug_digest(f: &mut fmt::Formatter<'_>, name: &str, digest: &[u8; 32]) -> fmt::Result {
    write!(f, "{name}(")?;
    for b in &digest[..6] {
        write!(f, "{b:02x}")?;
    }
    write!(f, "…)")
}

/// Which bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketKey {
    /// A client address, already grouped (see [`ip_key`]).
    Ip(IpAddr),
    /// A username.
    User(UserKey),
}

/// Who is making an attempt on an account: the hard lock counts each one's failures apart, so
/// no client can lock out another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A client with no proof of an earlier login to the account, judged by its address (an
    /// IPv6 /64 is one client; no address known: all such clients together).
    Address(Option<IpAddr>),
    /// A client holding a device token of the account (it logged in to it before).
    Device([u8; 16]),
    /// A logged-in session proving its password again (reauth, password change), by session id
    /// hash.
    Session([u8; 32]),
}

impl Scope {
    /// Whether attempts in this scope draw from the account's shared bucket. Only clients with
    /// no history for the account do: so an attacker emptying it cannot keep the owner out.
    pub fn charges_account(&self) -> bool {
        matches!(self, Scope::Address(_))
    }

    /// A short name for audit rows.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Address(_) => "address",
            Scope::Device(_) => "device",
            Scope::Session(_) => "session",
        }
    }
}

/// The key of one failure log: an account and a [`Scope`] together, hashed (fixed-size, and a
/// shared backend stores neither names nor addresses).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LockKey([u8; 32]);

impl LockKey {
    /// The log of `user`'s failures from `scope`.
    pub fn new(user: &UserKey, scope: &Scope) -> Self {
        let mut h = Sha256::new();
        h.update(b"portcullis-lock-v1\0");
        h.update(user.as_bytes());
        match scope {
            Scope::Address(None) => h.update([0u8]),
            Scope::Address(Some(ip)) => {
                h.update([1u8]);
                match ip_key(*ip) {
                    IpAddr::V4(v4) => h.update(v4.octets()),
                    IpAddr::V6(v6) => h.update(v6.octets()),
                }
            }
            Scope::Device(id) => {
                h.update([2u8]);
                h.update(id);
            }
            Scope::Session(hash) => {
                h.update([3u8]);
                h.update(hash);
            }
        }
        Self(h.finalize().into())
    }

    /// The digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for LockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_digest(f, "LockKey", &self.0)
    }
}

/// The address a per-address bucket is kept under: IPv4 as is (IPv4-mapped IPv6 as IPv4),
/// IPv6 as its /64.
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        // One subscriber is routed a whole /64 and can rotate through it freely.
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4,
    }
}

/// Where buckets, failure logs and unlock marks are kept. Each method is one atomic step on one
/// key, so instances sharing a backend cannot race past a limit. Rates and rules come with each
/// call: a backend stores state, [`Limits`] holds the configuration.
#[async_trait]
pub trait LimitBackend: Send + Sync + fmt::Debug {
    /// Takes one attempt from the bucket `key` at `now`: `None` when allowed, `Some(wait)` when
    /// the bucket is empty and an attempt comes back after `wait`.
    async fn take(&self, key: BucketKey, rate: Rate, now: OffsetDateTime) -> Result<Option<Duration>, Error>;

    /// Refills the bucket `key` (an admin unlocked the account).
    async fn reset(&self, key: BucketKey) -> Result<(), Error>;

    /// The lock in force on `key` at `now`, if any, ignoring what an unlock at `cleared` lifted.
    async fn lock(
        &self,
        key: &LockKey,
        cleared: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Option<Lock>, Error>;

    /// Logs a failed attempt on `key` (failures at or before `cleared` no longer count); `Some`
    /// when it locks (or extends the lock in force).
    async fn record_failure(
        &self,
        key: &LockKey,
        policy: &LockoutPolicy,
        cleared: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Option<Lock>, Error>;

    /// Logs a successful attempt: the shortest window forgets the failures before it.
    async fn record_success(&self, key: &LockKey, policy: &LockoutPolicy, now: OffsetDateTime) -> Result<(), Error>;

    /// When `user` was last unlocked by an admin, if within the longest window.
    async fn unlocked_at(&self, user: &UserKey) -> Result<Option<OffsetDateTime>, Error>;

    /// Marks `user` unlocked at `at`: every failure and lock of every scope up to then is void.
    async fn unlock(&self, user: &UserKey, at: OffsetDateTime) -> Result<(), Error>;
}

/// Rate limits and lockout, as configured, over a [`LimitBackend`].
#[derive(Debug, Clone)]
pub struct Limits {
    config: Arc<LimitsConfig>,
    backend: Arc<dyn LimitBackend>,
}

impl Limits {
    /// Limits kept in this process ([`MemoryBackend`]).
    pub fn new(config: LimitsConfig) -> Self {
        let backend = Arc::new(MemoryBackend::new(&config));
        Self::with_backend(config, backend)
    }

    /// Limits kept in `backend`, e.g. one shared by several instances.
    pub fn with_backend(config: LimitsConfig, backend: Arc<dyn LimitBackend>) -> Self {
        Self { config: Arc::new(config), backend }
    }

    /// The configuration.
    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    /// Takes one attempt from the bucket of `ip` (an IPv6 /64 shares one); `rate_limited` when
    /// it is empty. Without an address (a router served without `ConnectInfo`) only the
    /// per-username limit and lockout apply.
    pub async fn check_ip(&self, ip: Option<IpAddr>, now: OffsetDateTime) -> Result<(), Error> {
        let Some(ip) = ip.filter(|_| self.config.enabled) else {
            return Ok(());
        };
        self.take(BucketKey::Ip(ip_key(ip)), self.config.per_ip, now, "too many attempts from this address").await
    }

    /// Takes one attempt from the account's shared bucket of `username` (ignoring case), when
    /// `scope` draws from it (see [`Scope::charges_account`]); `rate_limited` when it is empty.
    pub async fn check_user(&self, username: &str, scope: &Scope, now: OffsetDateTime) -> Result<(), Error> {
        if !self.config.enabled || !scope.charges_account() {
            return Ok(());
        }
        let key = BucketKey::User(UserKey::new(username));
        self.take(key, self.config.per_user, now, "too many attempts for this account").await
    }

    /// `account_locked` while a lock is in force on `username` for `scope`. Check before
    /// verifying the password: a locked client must not confirm a guess.
    pub async fn check_locked(&self, username: &str, scope: &Scope, now: OffsetDateTime) -> Result<(), Error> {
        if !self.config.lockout.enabled() {
            return Ok(());
        }
        let user = UserKey::new(username);
        let cleared = self.backend.unlocked_at(&user).await?;
        match self.backend.lock(&LockKey::new(&user, scope), cleared, now).await? {
            Some(lock) => Err(Error::retry_after(
                ErrorKind::AccountLocked,
                "the account is locked after repeated failed attempts",
                lock.retry_after_secs(now),
            )),
            None => Ok(()),
        }
    }

    /// Logs a failed attempt on `username` from `scope`, whether or not the account exists;
    /// `Some` when this failure locks it for that scope (or extends the lock in force).
    pub async fn record_failure(
        &self,
        username: &str,
        scope: &Scope,
        now: OffsetDateTime,
    ) -> Result<Option<Lock>, Error> {
        if !self.config.lockout.enabled() {
            return Ok(None);
        }
        let user = UserKey::new(username);
        let cleared = self.backend.unlocked_at(&user).await?;
        self.backend.record_failure(&LockKey::new(&user, scope), &self.config.lockout, cleared, now).await
    }

    /// Logs a successful attempt on `username` from `scope`: failures before it stop counting
    /// toward the shortest window (only).
    pub async fn record_success(&self, username: &str, scope: &Scope, now: OffsetDateTime) -> Result<(), Error> {
        if !self.config.lockout.enabled() {
            return Ok(());
        }
        let key = LockKey::new(&UserKey::new(username), scope);
        self.backend.record_success(&key, &self.config.lockout, now).await
    }

    /// Lifts every lock on `username`, from every scope, as of `at`, and refills the account's
    /// shared bucket.
    pub async fn unlock(&self, username: &str, at: OffsetDateTime) -> Result<(), Error> {
        let user = UserKey::new(username);
        self.backend.unlock(&user, at).await?;
        self.backend.reset(BucketKey::User(user)).await
    }

    async fn take(&self, key: BucketKey, rate: Rate, now: OffsetDateTime, detail: &str) -> Result<(), Error> {
        match self.backend.take(key, rate, now).await? {
            None => Ok(()),
            Some(wait) => Err(Error::retry_after(ErrorKind::RateLimited, detail, ceil_secs(wait))),
        }
    }
}

/// Whole seconds, rounded up, at least 1.
fn ceil_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;
    const MIN: Duration = Duration::from_secs(60);
    /// The client of the single-client scenarios.
    const A: Scope = Scope::Address(Some(IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7))));
    /// An attacker elsewhere.
    const ATTACKER: Scope = Scope::Address(Some(IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 66))));

    /// Where a scenario keeps its state: this process, or a Redis of the test's own.
    enum Backend {
        Memory,
        Redis(crate::cluster::testing::TestRedis),
    }

    impl Backend {
        fn limits(&self, config: LimitsConfig) -> Limits {
            match self {
                Backend::Memory => Limits::new(config),
                Backend::Redis(server) => {
                    let redis = crate::cluster::Redis::new(&server.url(), "test:").expect("redis url");
                    let backend = Arc::new(crate::cluster::RedisLimits::new(redis, &config));
                    Limits::with_backend(config, backend)
                }
            }
        }
    }

    /// Every scenario runs on both backends, so they cannot drift apart.
    macro_rules! on_every_backend {
        ($($name:ident),* $(,)?) => {
            mod in_memory {
                $(#[tokio::test]
                async fn $name() {
                    super::$name(&super::Backend::Memory).await;
                })*
            }
            mod in_redis {
                $(#[tokio::test]
                async fn $name() {
                    super::$name(&super::Backend::Redis(crate::cluster::testing::TestRedis::start())).await;
                })*
            }
        };
    }

    on_every_backend!(
        the_ip_bucket_allows_its_burst_then_refills,
        an_ipv6_slash_64_is_one_client,
        the_user_bucket_ignores_case,
        disabled_limits_allow_everything,
        five_failures_in_ten_minutes_lock_for_ten_minutes,
        failures_outside_the_window_do_not_count,
        ten_failures_in_an_hour_lock_for_an_hour,
        twenty_failures_in_a_day_lock_for_a_day,
        success_resets_only_the_shortest_window,
        an_attacker_at_one_address_cannot_lock_out_the_owner_at_another,
        a_device_and_a_session_are_judged_on_their_own_failures,
        the_account_bucket_charges_only_clients_without_history,
        an_unlock_lifts_every_lock_of_the_account_and_refills_its_bucket,
        an_ipv6_attacker_rotating_within_its_slash_64_is_one_client
    );

    fn at(secs: u64) -> OffsetDateTime {
        T0 + Duration::from_secs(secs)
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("address"))
    }

    fn retry(r: Result<(), Error>) -> (ErrorKind, Option<u64>) {
        let e = r.expect_err("refused");
        (e.kind(), e.retry_after_secs())
    }

    /// `n` failures on `user`, one second apart from `from`; the last result.
    async fn fail(l: &Limits, user: &str, from: u64, n: u64) -> Option<Lock> {
        let mut last = None;
        for i in 0..n {
            last = l.record_failure(user, &A, at(from + i)).await.expect("recorded");
        }
        last
    }

    async fn the_ip_bucket_allows_its_burst_then_refills(b: &Backend) {
        let l = b.limits(LimitsConfig::default());
        for _ in 0..20 {
            l.check_ip(ip("203.0.113.5"), T0).await.expect("within the burst");
        }
        // 10 per minute: one attempt comes back every 6 seconds.
        assert_eq!(retry(l.check_ip(ip("203.0.113.5"), T0).await), (ErrorKind::RateLimited, Some(6)));
        assert_eq!(retry(l.check_ip(ip("203.0.113.5"), at(1)).await), (ErrorKind::RateLimited, Some(5)));
        let half = T0 + Duration::from_millis(5_500);
        assert_eq!(retry(l.check_ip(ip("203.0.113.5"), half).await).1, Some(1), "rounded up");
        l.check_ip(ip("203.0.113.5"), at(6)).await.expect("one back");
        assert!(l.check_ip(ip("203.0.113.5"), at(6)).await.is_err());
        // Another address has its own bucket.
        l.check_ip(ip("203.0.113.6"), T0).await.expect("other address");
        // Two idle minutes refill the whole burst.
        for _ in 0..20 {
            l.check_ip(ip("203.0.113.5"), at(6 + 120)).await.expect("refilled");
        }
        assert!(l.check_ip(ip("203.0.113.5"), at(6 + 120)).await.is_err());
        // No address known: not limited here.
        l.check_ip(None, T0).await.expect("no address");
    }

    async fn an_ipv6_slash_64_is_one_client(b: &Backend) {
        let l = b.limits(LimitsConfig::default());
        for i in 0..20 {
            l.check_ip(ip(&format!("2001:db8:1:2::{i:x}")), T0).await.expect("burst");
        }
        let same_64 = ip("2001:db8:1:2:ffff:ffff:ffff:ffff");
        assert_eq!(retry(l.check_ip(same_64, T0).await).0, ErrorKind::RateLimited);
        l.check_ip(ip("2001:db8:1:3::1"), T0).await.expect("another /64");
        assert_eq!(ip_key("::ffff:192.0.2.1".parse().expect("mapped")), "192.0.2.1".parse::<IpAddr>().expect("v4"));
    }

    async fn the_user_bucket_ignores_case(b: &Backend) {
        let l = b.limits(LimitsConfig::default());
        for name in ["alice", "Alice", "ALICE", "aLiCe", "alicE"] {
            l.check_user(name, &A, T0).await.expect("burst of 5");
        }
        // 5 per minute: one attempt every 12 seconds.
        assert_eq!(retry(l.check_user("alice", &A, T0).await), (ErrorKind::RateLimited, Some(12)));
        l.check_user("bob", &A, T0).await.expect("another user");
        l.check_user("alice", &A, at(12)).await.expect("refilled one");
    }

    async fn disabled_limits_allow_everything(b: &Backend) {
        let mut config = LimitsConfig::default();
        config.enabled = false;
        config.lockout = LockoutPolicy::new(false, config.lockout.windows().to_vec());
        let l = b.limits(config);
        for _ in 0..100 {
            l.check_ip(ip("203.0.113.5"), T0).await.expect("off");
            l.check_user("alice", &A, T0).await.expect("off");
        }
        assert_eq!(fail(&l, "alice", 0, 50).await, None);
        l.check_locked("alice", &A, at(60)).await.expect("never locked");
    }

    async fn five_failures_in_ten_minutes_lock_for_ten_minutes(b: &Backend) {
        let l = b.limits(LimitsConfig::default());
        assert_eq!(fail(&l, "alice", 0, 4).await, None);
        l.check_locked("alice", &A, at(3)).await.expect("4 failures");
        let lock = fail(&l, "Alice", 500, 1).await.expect("the 5th within 10m");
        assert_eq!(lock.window, LockoutWindow { failures: 5, within: 10 * MIN });
        assert_eq!(lock.until, at(500 + 600));
        assert_eq!(retry(l.check_locked("ALICE", &A, at(500)).await), (ErrorKind::AccountLocked, Some(600)));
        assert_eq!(retry(l.check_locked("alice", &A, at(1099)).await).1, Some(1));
        l.check_locked("alice", &A, at(1100)).await.expect("lifted after the window");
        l.check_locked("bob", &A, at(500)).await.expect("other accounts are not locked");
    }

    async fn failures_outside_the_window_do_not_count(b: &Backend) {
        let l = b.limits(LimitsConfig::default());
        fail(&l, "alice", 0, 4).await;
        // From 600s on, each new failure pushes an old one out of (now - 10m, now].
        assert_eq!(fail(&l, "alice", 600, 4).await, None);
        l.check_locked("alice", &A, at(603)).await.expect("never 5 within 10m");
        // Five within (4s, 604s]: 600..=604.
        assert!(fail(&l, "alice", 604, 1).await.is_some());
    }

    async fn ten_failures_in_an_hour_lock_for_an_hour(b: &Backend) {
        let l = b.limits(LimitsConfig::default());
        // Blocks of four, 11 minutes apart: the 10m rule never sees five.
        assert_eq!(fail(&l, "alice", 0, 4).await, None);
        assert_eq!(fail(&l, "alice", 660, 4).await, None);
        assert_eq!(fail(&l, "alice", 1320, 1).await, None);
        let lock = fail(&l, "alice", 1321, 1).await.expect("10 within 1h");
        assert_eq!(lock.window, LockoutWindow { failures: 10, within: 60 * MIN });
        assert_eq!(lock.until, at(1321 + 3600));
        assert_eq!(retry(l.check_locked("alice", &A, at(1321)).await), (ErrorKind::AccountLocked, Some(3600)));
        assert!(l.check_locked("alice", &A, at(1321 + 3599)).await.is_err());
        l.check_locked("alice", &A, at(1321 + 3600)).await.expect("lifted after an hour");
    }

    async fn twenty_failures_in_a_day_lock_for_a_day(b: &Backend) {
        let l = b.limits(LimitsConfig::default());
        // Blocks of four, 61 minutes apart: neither shorter rule sees enough.
        for block in 0..4 {
            assert_eq!(fail(&l, "alice", block * 3660, 4).await, None);
            l.check_locked("alice", &A, at(block * 3660 + 3)).await.expect("not yet");
        }
        assert_eq!(fail(&l, "alice", 4 * 3660, 3).await, None);
        let last = 4 * 3660 + 3;
        let lock = fail(&l, "alice", last, 1).await.expect("20 within 24h");
        assert_eq!(lock.window, LockoutWindow { failures: 20, within: 24 * 60 * MIN });
        assert_eq!(lock.until, at(last + 86_400));
        assert_eq!(retry(l.check_locked("alice", &A, at(last)).await), (ErrorKind::AccountLocked, Some(86_400)));
        l.check_locked("alice", &A, at(last + 86_400)).await.expect("lifted after a day");
    }

    async fn success_resets_only_the_shortest_window(b: &Backend) {
        let l = b.limits(LimitsConfig::default());
        fail(&l, "alice", 0, 4).await;
        l.record_success("alice", &A, at(10)).await.expect("success");
        // Four more: without the reset these would make 8 within 10m.
        assert_eq!(fail(&l, "alice", 20, 4).await, None);
        l.check_locked("alice", &A, at(30)).await.expect("not locked");
        // The 5th after the success trips the 10m rule.
        assert_eq!(fail(&l, "alice", 30, 1).await.expect("5 since success").window.within, 10 * MIN);
        // The 1h rule still counts all of them: after the 10m lock, one more makes 10 in 1h.
        assert_eq!(fail(&l, "alice", 30 + 600, 1).await.expect("10 in 1h").window.within, 60 * MIN);
        // A success for an account with no failures logged changes nothing.
        l.record_success("nobody", &A, at(0)).await.expect("no log");
    }

    async fn an_attacker_at_one_address_cannot_lock_out_the_owner_at_another(b: &Backend) {
        let l = b.limits(LimitsConfig::default());
        // Blocks of five, eleven minutes apart, for a day: every rule trips for the attacker.
        let mut t = 0;
        for _ in 0..5 {
            for _ in 0..5 {
                l.record_failure("admin", &ATTACKER, at(t)).await.expect("recorded");
                t += 1;
            }
            t += 660;
        }
        assert_eq!(retry(l.check_locked("admin", &ATTACKER, at(t)).await).0, ErrorKind::AccountLocked);
        let held = l.record_failure("admin", &ATTACKER, at(t)).await.expect("recorded");
        assert!(held.is_some_and(|lock| lock.window.within >= 60 * MIN), "the attacker's lock grows");
        // The owner, at another address, is not locked at any point of the clock.
        for later in [t, t + 600, t + 3600] {
            l.check_locked("admin", &A, at(later)).await.expect("the owner's address is its own client");
        }
        l.record_success("admin", &A, at(t + 1)).await.expect("owner logs in");
        assert!(l.check_locked("admin", &ATTACKER, at(t + 2)).await.is_err(), "the owner's success frees no one else");
    }

    async fn a_device_and_a_session_are_judged_on_their_own_failures(b: &Backend) {
        let l = b.limits(LimitsConfig::default());
        let device = Scope::Device([7; 16]);
        let session = Scope::Session([9; 32]);
        fail(&l, "alice", 0, 6).await.expect("the address is locked");
        l.check_locked("alice", &device, at(10)).await.expect("a device with history is not");
        l.check_locked("alice", &session, at(10)).await.expect("nor a logged-in session");
        for i in 0..5 {
            l.record_failure("alice", &device, at(20 + i)).await.expect("recorded");
        }
        assert_eq!(retry(l.check_locked("alice", &device, at(30)).await).0, ErrorKind::AccountLocked);
        l.check_locked("alice", &Scope::Device([8; 16]), at(30)).await.expect("another device is not");
        l.check_locked("alice", &session, at(30)).await.expect("the session is not");
    }

    async fn the_account_bucket_charges_only_clients_without_history(b: &Backend) {
        let l = b.limits(LimitsConfig::default());
        for _ in 0..5 {
            l.check_user("alice", &ATTACKER, T0).await.expect("burst of 5");
        }
        assert_eq!(retry(l.check_user("alice", &A, T0).await).0, ErrorKind::RateLimited, "shared by new clients");
        for _ in 0..50 {
            l.check_user("alice", &Scope::Device([7; 16]), T0).await.expect("a device with history");
            l.check_user("alice", &Scope::Session([9; 32]), T0).await.expect("a logged-in session");
        }
    }

    async fn an_unlock_lifts_every_lock_of_the_account_and_refills_its_bucket(b: &Backend) {
        let l = b.limits(LimitsConfig::default());
        let device = Scope::Device([7; 16]);
        fail(&l, "alice", 0, 25).await.expect("locked for a day");
        for i in 0..5 {
            l.record_failure("alice", &device, at(i)).await.expect("recorded");
        }
        for _ in 0..5 {
            l.check_user("alice", &A, at(30)).await.expect("burst");
        }
        fail(&l, "bob", 0, 5).await.expect("another account locked");
        l.unlock("ALICE", at(40)).await.expect("unlocked");
        for scope in [A, device] {
            l.check_locked("alice", &scope, at(41)).await.expect("lifted");
        }
        l.check_user("alice", &A, at(41)).await.expect("bucket refilled");
        assert!(l.check_locked("bob", &A, at(41)).await.is_err(), "only that account");
        // The cleared failures stay forgotten: four new ones do not lock, the fifth does.
        assert_eq!(fail(&l, "alice", 50, 4).await, None);
        assert!(fail(&l, "alice", 60, 1).await.is_some());
        // An older unlock applied late changes nothing.
        l.unlock("alice", at(10)).await.expect("unlocked");
        assert!(l.check_locked("alice", &A, at(61)).await.is_err());
    }

    async fn an_ipv6_attacker_rotating_within_its_slash_64_is_one_client(b: &Backend) {
        let l = b.limits(LimitsConfig::default());
        for i in 0..5u64 {
            let scope = Scope::Address(ip(&format!("2001:db8:1:2::{i:x}")));
            l.record_failure("alice", &scope, at(i)).await.expect("recorded");
        }
        let same_64 = Scope::Address(ip("2001:db8:1:2:ffff::1"));
        assert!(l.check_locked("alice", &same_64, at(6)).await.is_err());
        l.check_locked("alice", &Scope::Address(ip("2001:db8:1:3::1")), at(6)).await.expect("another /64");
    }
}
