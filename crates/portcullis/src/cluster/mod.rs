//! What several instances share through Redis, and how each instance tracks the health of the
//! services it depends on.
//!
//! * [`RedisLimits`]: rate-limit buckets and lockout logs kept in Redis, so guesses spread over
//!   instances count as one.
//! * [`Fanout`]: every revocation is published on a channel; each instance drops the session from
//!   its in-process cache when it hears it, so the hot path stays in memory and a revoked session
//!   is refused everywhere within the delivery delay of one message.
//! * [`Dependency`]: up or down, with the change logged once per outage. While Redis or the store
//!   is down, session checks answer 503 `unavailable` instead of trusting what may be stale.
//!
//! ```text
//!   instance A                     Redis                        instance B
//!   revoke(s) ─ store row ─┐
//!                          └─▶ PUBLISH prefix:revoke "s:<hash>" ──▶ cache.invalidate(s)
//!
//!   subscription lost ─▶ B marks Redis down (503) ─▶ reconnect with backoff ─▶ SUBSCRIBE,
//!   drop every cached session (messages may have been missed), mark Redis up
//! ```

mod fanout;
mod limits;
#[doc(hidden)]
pub mod testing;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use fanout::{Fanout, Invalidation, Sink};
pub use limits::RedisLimits;

use crate::error::Error;

/// How long one Redis command may take before the instance counts Redis as unreachable.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// A service this instance depends on: up, down, or not yet checked (which counts as down).
/// Changes are logged once each, so an outage makes two log lines, not one per request.
#[derive(Debug)]
pub struct Dependency {
    name: &'static str,
    state: AtomicU8,
}

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

impl Dependency {
    /// A dependency named `name` (for logs and errors), taken to be up.
    pub fn up(name: &'static str) -> Arc<Self> {
        Arc::new(Self { name, state: AtomicU8::new(UP) })
    }

    /// A dependency not checked yet: down until a first check succeeds.
    pub fn unchecked(name: &'static str) -> Arc<Self> {
        Arc::new(Self { name, state: AtomicU8::new(UNKNOWN) })
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the last check succeeded.
    pub fn is_up(&self) -> bool {
        self.state.load(Ordering::Acquire) == UP
    }

    /// Records a successful check.
    pub fn mark_up(&self) {
        match self.state.swap(UP, Ordering::AcqRel) {
            DOWN => tracing::warn!(dependency = self.name, "reachable again; serving"),
            UNKNOWN => tracing::info!(dependency = self.name, "connected"),
            _ => {}
        }
    }

    /// Records a failed check.
    pub fn mark_down(&self, error: &dyn std::fmt::Display) {
        if self.state.swap(DOWN, Ordering::AcqRel) != DOWN {
            tracing::error!(dependency = self.name, %error, "unreachable; answering 503 until it returns");
        }
    }

    /// `unavailable` unless up.
    pub fn check(&self) -> Result<(), Error> {
        if self.is_up() {
            Ok(())
        } else {
            Err(Error::new(crate::error::ErrorKind::Unavailable, format!("the {} is unreachable", self.name)))
        }
    }
}

/// A Redis server shared by several instances.
#[derive(Clone)]
pub struct Redis {
    client: ::redis::Client,
    connection: ConnectionManager,
    prefix: Arc<str>,
    health: Arc<Dependency>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("prefix", &self.prefix).field("up", &self.health.is_up()).finish()
    }
}

impl Redis {
    /// A handle on the Redis at `url`; connects lazily, so a Redis that is down at start-up
    /// makes this instance answer 503 until it comes up, rather than refuse to start.
    pub fn new(url: &str, prefix: &str) -> Result<Self, Error> {
        let client = ::redis::Client::open(url).map_err(|e| Error::internal(format!("store.redis_url: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| Error::internal(format!("store.redis_url: {e}")))?;
        Ok(Self { client, connection, prefix: prefix.into(), health: Dependency::unchecked("shared cache") })
    }

    /// `prefix` + `suffix`.
    pub fn key(&self, suffix: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + suffix.len());
        key.push_str(&self.prefix);
        key.push_str(suffix);
        key
    }

    /// A multiplexed connection (cheap to clone).
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    pub(crate) fn client(&self) -> &::redis::Client {
        &self.client
    }

    /// Up or down, as the subscription watcher last saw it.
    pub fn health(&self) -> &Arc<Dependency> {
        &self.health
    }

    /// One round trip; `unavailable` when Redis does not answer in time.
    pub async fn ping(&self) -> Result<(), Error> {
        let mut connection = self.connection();
        let reply: Result<String, _> = in_time(::redis::cmd("PING").query_async(&mut connection)).await;
        reply.map(drop).map_err(unreachable)
    }
}

/// `command`, failed as a timeout when Redis does not answer within [`REDIS_TIMEOUT`].
pub(crate) async fn in_time<T>(
    command: impl std::future::Future<Output = ::redis::RedisResult<T>>,
) -> ::redis::RedisResult<T> {
    tokio::time::timeout(REDIS_TIMEOUT, command).await.unwrap_or_else(|_| {
        Err(::redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "Redis did not answer in time",
        )))
    })
}

/// Lowercase hex, as Redis keys and messages carry hashes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// A Redis failure as the client sees it: 503 `unavailable`; the cause goes to the log.
pub(crate) fn unreachable(e: ::redis::RedisError) -> Error {
    Error::unavailable("the shared cache is unreachable", e)
}

/// How long a store ping may take before the store counts as down: generous, because under load
/// the ping waits for a pooled connection like every query (a refused connection fails at once).
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Watches the store: pings it every `every` and keeps `health` in step, until the store is
/// dropped.
pub fn spawn_store_watch(
    store: &Arc<dyn crate::store::Health>,
    health: Arc<Dependency>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    let store = Arc::downgrade(store);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(store) = store.upgrade() else { return };
            match tokio::time::timeout(STORE_PROBE_TIMEOUT, store.ping()).await {
                Ok(Ok(())) => health.mark_up(),
                Ok(Err(e)) => health.mark_down(&e),
                Err(_) => health.mark_down(&"no answer in time"),
            }
        }
    })
}
