//! Rate-limit buckets and lockout logs in Redis, shared by every instance.
//!
//! Each key holds one value: a bucket's theoretical arrival time, or an account's failure log in
//! its text form. A change is computed here, with the same code as the in-process backend, and
//! written with a compare-and-set script: when another instance changed the value in between, the
//! script answers with the new value and the step is computed again. So the algorithms exist
//! once, and instances racing on one key cannot both pass a limit.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use ::redis::Script;
use async_trait::async_trait;
use time::OffsetDateTime;

use super::{hex, in_time, unreachable, Redis};
use crate::error::Error;
use crate::limits::lockout::{FailureLog, Lock, LockoutPolicy};
use crate::limits::{memory::gcra, memory::unix_nanos, BucketKey, LimitBackend, LimitsConfig, LockKey, Rate, UserKey};

/// `KEYS[1]`: the key; `ARGV[1]`: the value expected (`""` for none); `ARGV[2]`: the new value;
/// `ARGV[3]`: its lifetime in milliseconds. Returns `{1, ""}` when written, `{0, current}` when the
/// value was not the one expected.
const COMPARE_AND_SET: &str = r"
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then
  return {0, current}
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return {1, ''}
";

/// Attempts before a step that keeps losing races gives up (503): far beyond any real contention.
const MAX_ROUNDS: usize = 32;

/// [`LimitBackend`] on Redis.
#[derive(Clone)]
pub struct RedisLimits {
    redis: Redis,
    script: Script,
    /// Lifetime of a failure log: the longest lockout window (then it holds nothing in force).
    log_ttl: Duration,
}

impl fmt::Debug for RedisLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLimits").field("redis", &self.redis).finish()
    }
}

impl RedisLimits {
    /// Buckets and logs in `redis`, expiring as `config` allows.
    pub fn new(redis: Redis, config: &LimitsConfig) -> Self {
        let log_ttl = config.lockout.longest().unwrap_or(Duration::ZERO).max(Duration::from_secs(1));
        Self { redis, script: Script::new(COMPARE_AND_SET), log_ttl }
    }

    async fn get(&self, key: &str) -> Result<String, Error> {
        let mut connection = self.redis.connection();
        let value: Option<String> =
            in_time(::redis::cmd("GET").arg(key).query_async(&mut connection)).await.map_err(unreachable)?;
        Ok(value.unwrap_or_default())
    }

    /// Writes `new` if the key still holds `expected`; `Err(current)` otherwise.
    async fn compare_and_set(
        &self,
        key: &str,
        expected: &str,
        new: &str,
        ttl: Duration,
    ) -> Result<Result<(), String>, Error> {
        let mut connection = self.redis.connection();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut invocation = self.script.key(key);
        invocation.arg(expected).arg(new).arg(ttl_ms);
        let reply: (i64, Option<String>) =
            in_time(invocation.invoke_async(&mut connection)).await.map_err(unreachable)?;
        match reply {
            (1, _) => Ok(Ok(())),
            (_, current) => Ok(Err(current.unwrap_or_default())),
        }
    }

    /// Applies `step` to the value of `key` atomically across instances. `step` gets the current
    /// value (`""` when none) and returns the value to write (or `None` to leave it) and a result.
    async fn update<T>(
        &self,
        key: &str,
        ttl: Duration,
        mut step: impl FnMut(&str) -> (Option<String>, T),
    ) -> Result<T, Error> {
        let mut current = self.get(key).await?;
        for _ in 0..MAX_ROUNDS {
            let (new, result) = step(&current);
            let Some(new) = new else { return Ok(result) };
            match self.compare_and_set(key, &current, &new, ttl).await? {
                Ok(()) => return Ok(result),
                Err(changed) => current = changed,
            }
        }
        Err(Error::new(crate::error::ErrorKind::Unavailable, "too much contention on a rate limit; try again"))
    }

    fn bucket_key(&self, key: BucketKey) -> String {
        match key {
            BucketKey::Ip(IpAddr::V4(ip)) => self.redis.key(&format!("rl:ip:{ip}")),
            BucketKey::Ip(IpAddr::V6(ip)) => self.redis.key(&format!("rl:ip:{ip}")),
            BucketKey::User(user) => self.redis.key(&format!("rl:user:{}", hex(user.as_bytes()))),
        }
    }

    fn log_key(&self, key: &LockKey) -> String {
        self.redis.key(&format!("lockout:{}", hex(key.as_bytes())))
    }

    fn unlock_key(&self, user: &UserKey) -> String {
        self.redis.key(&format!("unlock:{}", hex(user.as_bytes())))
    }
}

#[async_trait]
impl LimitBackend for RedisLimits {
    async fn take(&self, key: BucketKey, rate: Rate, now: OffsetDateTime) -> Result<Option<Duration>, Error> {
        let key = self.bucket_key(key);
        let now = unix_nanos(now);
        // Idle for a full refill, the bucket is full again: the same as absent.
        let ttl = rate.refill_time().max(Duration::from_secs(1));
        self.update(&key, ttl, |current| {
            let tat = current.parse().unwrap_or(i64::MIN);
            match gcra(tat, now, rate) {
                Ok(next) => (Some(next.to_string()), None),
                Err(wait) => (None, Some(Duration::from_nanos(wait))),
            }
        })
        .await
    }

    async fn reset(&self, key: BucketKey) -> Result<(), Error> {
        let mut connection = self.redis.connection();
        let key = self.bucket_key(key);
        in_time(::redis::cmd("DEL").arg(key).query_async::<()>(&mut connection)).await.map_err(unreachable)
    }

    async fn lock(
        &self,
        key: &LockKey,
        cleared: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Option<Lock>, Error> {
        let value = self.get(&self.log_key(key)).await?;
        Ok(FailureLog::decode(&value).and_then(|mut log| log.in_force(cleared, now)))
    }

    async fn record_failure(
        &self,
        key: &LockKey,
        policy: &LockoutPolicy,
        cleared: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<Option<Lock>, Error> {
        self.update(&self.log_key(key), self.log_ttl, |current| {
            let mut log = FailureLog::decode(current).unwrap_or_default();
            let lock = log.record_failure(policy, cleared, now);
            (Some(log.encode()), lock)
        })
        .await
    }

    async fn record_success(&self, key: &LockKey, _: &LockoutPolicy, now: OffsetDateTime) -> Result<(), Error> {
        self.update(&self.log_key(key), self.log_ttl, |current| {
            // No failures logged: nothing to forgive, and nothing is written for the name.
            let Some(mut log) = FailureLog::decode(current) else { return (None, ()) };
            log.record_success(now);
            (Some(log.encode()), ())
        })
        .await
    }

    async fn unlocked_at(&self, user: &UserKey) -> Result<Option<OffsetDateTime>, Error> {
        let value = self.get(&self.unlock_key(user)).await?;
        Ok(value.parse::<i128>().ok().and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(n).ok()))
    }

    async fn unlock(&self, user: &UserKey, at: OffsetDateTime) -> Result<(), Error> {
        let at = unix_nanos(at);
        self.update(&self.unlock_key(user), self.log_ttl, |current| {
            // Instances apply one unlock each, possibly out of order: the latest wins.
            match current.parse::<i64>() {
                Ok(held) if held >= at => (None, ()),
                _ => (Some(at.to_string()), ()),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cluster::testing::TestRedis;
    use crate::limits::Limits;

    /// One client address for every attempt.
    fn anywhere() -> crate::limits::Scope {
        crate::limits::Scope::Address(Some(IpAddr::from([192, 0, 2, 9])))
    }

    fn instance(server: &TestRedis, config: &LimitsConfig) -> Limits {
        let redis = Redis::new(&server.url(), "shared:").expect("url");
        Limits::with_backend(config.clone(), Arc::new(RedisLimits::new(redis, config)))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn instances_racing_on_one_bucket_never_pass_its_burst() {
        let server = TestRedis::start();
        let config = LimitsConfig::default();
        let now = OffsetDateTime::UNIX_EPOCH;
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let limits = instance(&server, &config);
                tokio::spawn(async move {
                    let mut allowed = 0;
                    for _ in 0..15 {
                        if limits.check_ip(Some(IpAddr::from([192, 0, 2, 1])), now).await.is_ok() {
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

    #[tokio::test]
    async fn failures_on_different_instances_lock_one_account() {
        let server = TestRedis::start();
        let config = LimitsConfig::default();
        let (a, b, c) = (instance(&server, &config), instance(&server, &config), instance(&server, &config));
        let now = OffsetDateTime::UNIX_EPOCH;
        for (i, limits) in [&a, &b, &c, &a].into_iter().enumerate() {
            assert_eq!(
                limits.record_failure("alice", &anywhere(), now + Duration::from_secs(i as u64)).await.expect("logged"),
                None
            );
        }
        assert!(b.record_failure("ALICE", &anywhere(), now + Duration::from_secs(5)).await.expect("logged").is_some());
        for limits in [&a, &b, &c] {
            let refused =
                limits.check_locked("alice", &anywhere(), now + Duration::from_secs(6)).await.expect_err("locked");
            assert_eq!(refused.kind(), crate::error::ErrorKind::AccountLocked);
        }
    }

    #[tokio::test]
    async fn an_unreachable_redis_refuses_rather_than_allows() {
        let mut server = TestRedis::start();
        let limits = instance(&server, &LimitsConfig::default());
        let now = OffsetDateTime::UNIX_EPOCH;
        limits.check_user("alice", &anywhere(), now).await.expect("up");
        server.stop();
        for refused in [
            limits.check_user("alice", &anywhere(), now).await,
            limits.check_ip(Some(IpAddr::from([192, 0, 2, 1])), now).await,
            limits.check_locked("alice", &anywhere(), now).await,
            limits.record_failure("alice", &anywhere(), now).await.map(drop),
            limits.unlock("alice", now).await,
        ] {
            assert_eq!(refused.expect_err("fails closed").kind(), crate::error::ErrorKind::Unavailable);
        }
        server.restart();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while limits.check_user("bob", &anywhere(), now).await.is_err() {
            assert!(std::time::Instant::now() < deadline, "recovers by itself");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
