//! The in-process [`LimitBackend`]: buckets and failure logs in bounded concurrent maps.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use moka::sync::Cache;
use time::OffsetDateTime;

use super::lockout::{FailureLog, Lock, LockoutPolicy};
use super::{BucketKey, LimitBackend, LimitsConfig, LockKey, Rate, UserKey};
use crate::error::Error;

/// Keys each map holds at most; beyond it the least useful are evicted (a spray of addresses or
/// usernames costs memory up to this bound, no further).
pub const MAX_KEYS: u64 = 100_000;

/// Buckets and failure logs of this process only; instances behind a load balancer each count
/// on their own.
pub struct MemoryBackend {
    /// Theoretical arrival time per address, in Unix nanoseconds.
    ips: Cache<IpAddr, Arc<AtomicI64>>,
    /// The same per username key.
    users: Cache<UserKey, Arc<AtomicI64>>,
    /// One failure log per account and client scope.
    failures: Cache<LockKey, Arc<Mutex<FailureLog>>>,
    /// The last admin unlock per account; older than the longest window it clears nothing.
    unlocks: Cache<UserKey, OffsetDateTime>,
}

impl MemoryBackend {
    /// Maps sized for `config`: a key idle long enough to be back at its initial state is dropped.
    pub fn new(config: &LimitsConfig) -> Self {
        let ips = Cache::builder().max_capacity(MAX_KEYS).time_to_idle(idle_full(config.per_ip)).build();
        let users = Cache::builder().max_capacity(MAX_KEYS).time_to_idle(idle_full(config.per_user)).build();
        // A lock ends at most the longest window after its last failure, and the last access
        // is no earlier than that failure: an entry idle that long holds nothing in force.
        let longest = config.lockout.longest().unwrap_or(Duration::ZERO).max(Duration::from_secs(1));
        Self {
            ips,
            users,
            failures: Cache::builder().max_capacity(MAX_KEYS).time_to_idle(longest).build(),
            unlocks: Cache::builder().max_capacity(MAX_KEYS).time_to_live(longest).build(),
        }
    }
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("ips", &self.ips.entry_count())
            .field("users", &self.users.entry_count())
            .field("failures", &self.failures.entry_count())
            .field("unlocks", &self.unlocks.entry_count())
            .finish()
    }
}

#[async_trait]
impl LimitBackend for MemoryBackend {
    async fn take(&self, key: BucketKey, rate: Rate, now: OffsetDateTime) -> Result<Option<Duration>, Error> {
        let cell = match key {
            BucketKey::Ip(ip) => self.ips.get_with(ip, || Arc::new(AtomicI64::new(i64::MIN))),
            BucketKey::User(user) => self.users.get_with(user, || Arc::new(AtomicI64::new(i64::MIN))),
        };
        let now = unix_nanos(now);
        let mut tat = cell.load(Ordering::Acquire);
        loop {
            match gcra(tat, now, rate) {
                Err(wait) => return Ok(Some(Duration::from_nanos(wait))),
                Ok(next) => match cell.compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return Ok(None),
                    Err(current) => tat = current,
                },
            }
        }
    }

    async fn reset(&self, key: BucketKey) -> Result<(), Error> {
        match key {
            BucketKey::Ip(ip) => self.ips.invalidate(&ip),
            BucketKey::User(user) => self.users.invalidate(&user),
        }
        Ok(())
    }

    async fn lock(
        &self,
        key: &LockKey,
        cleared: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Option<Lock>, Error> {
        // A read never creates an entry: unknown names cost no memory here.
        let Some(log) = self.failures.get(key) else { return Ok(None) };
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(log.in_force(cleared, now))
    }

    async fn record_failure(
        &self,
        key: &LockKey,
        policy: &LockoutPolicy,
        cleared: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Option<Lock>, Error> {
        let log = self.failures.get_with(*key, Arc::default);
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(log.record_failure(policy, cleared, now))
    }

    async fn record_success(&self, key: &LockKey, _: &LockoutPolicy, now: OffsetDateTime) -> Result<(), Error> {
        if let Some(log) = self.failures.get(key) {
            log.lock().unwrap_or_else(PoisonError::into_inner).record_success(now);
        }
        Ok(())
    }

    async fn unlocked_at(&self, user: &UserKey) -> Result<Option<OffsetDateTime>, Error> {
        Ok(self.unlocks.get(user))
    }

    async fn unlock(&self, user: &UserKey, at: OffsetDateTime) -> Result<(), Error> {
        // Unlocks may be applied out of order (several instances, a replayed signal): keep the latest.
        self.unlocks.entry(*user).and_upsert_with(|held| held.map_or(at, |e| e.into_value().max(at)));
        Ok(())
    }
}

/// Idle for one full refill, a bucket is full again: the same as absent.
fn idle_full(rate: Rate) -> Duration {
    rate.refill_time().max(Duration::from_secs(1))
}

/// The generic cell rate algorithm on a theoretical arrival time `tat` (Unix nanoseconds): a
/// request at `now` is allowed when `tat - burst tolerance <= now`, and moves `tat` one interval
/// on (`Ok(new tat)`); otherwise `Err(nanoseconds until it would be allowed)`.
pub(crate) fn gcra(tat: i64, now: i64, rate: Rate) -> Result<i64, u64> {
    let interval = i64::try_from(rate.interval().as_nanos()).unwrap_or(i64::MAX);
    let tolerance = interval.saturating_mul(i64::from(rate.burst.max(1)) - 1);
    let base = tat.max(now);
    let allowed_at = base.saturating_sub(tolerance);
    if now < allowed_at {
        return Err(u64::try_from(allowed_at.saturating_sub(now)).unwrap_or(u64::MAX));
    }
    Ok(base.saturating_add(interval))
}

/// `t` in Unix nanoseconds, clamped to `i64`.
pub(crate) fn unix_nanos(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(if t < OffsetDateTime::UNIX_EPOCH { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;

    #[test]
    fn gcra_allows_the_burst_then_one_per_interval() {
        let rate = Rate { per_minute: 10, burst: 3 };
        let mut tat = i64::MIN;
        for _ in 0..3 {
            tat = gcra(tat, 0, rate).expect("within the burst");
        }
        assert_eq!(gcra(tat, 0, rate), Err(6 * SEC as u64));
        assert_eq!(gcra(tat, 6 * SEC - 1, rate), Err(1));
        tat = gcra(tat, 6 * SEC, rate).expect("one cell back");
        assert!(gcra(tat, 6 * SEC, rate).is_err());
        // After a full refill the whole burst is back, and no more.
        let later = 6 * SEC + 18 * SEC;
        for _ in 0..3 {
            tat = gcra(tat, later, rate).expect("refilled");
        }
        assert!(gcra(tat, later, rate).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_takes_never_exceed_the_burst() {
        let config = LimitsConfig::default();
        let backend = Arc::new(MemoryBackend::new(&config));
        let now = OffsetDateTime::UNIX_EPOCH;
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let backend = Arc::clone(&backend);
                tokio::spawn(async move {
                    let mut allowed = 0;
                    for _ in 0..25 {
                        let key = BucketKey::Ip(IpAddr::from([192, 0, 2, 1]));
                        if backend.take(key, config.per_ip, now).await.expect("memory").is_none() {
                            allowed += 1;
                        }
                    }
                    allowed
                })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            allowed += task.await.expect("task");
        }
        assert_eq!(allowed, config.per_ip.burst);
    }

    #[test]
    fn gcra_burst_of_one_is_a_plain_interval() {
        let rate = Rate { per_minute: 60, burst: 1 };
        let tat = gcra(i64::MIN, 0, rate).expect("first");
        assert_eq!(gcra(tat, 0, rate), Err(SEC as u64));
        assert!(gcra(tat, SEC, rate).is_ok());
    }
}
