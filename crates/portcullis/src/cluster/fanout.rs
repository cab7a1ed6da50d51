//! Revocation fan-out over Redis pub/sub.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use uuid::Uuid;

use super::{in_time, unreachable, Redis};

/// What another instance must drop from its session cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// One session, by the hash of its secret.
    Session([u8; 32]),
    /// Every session of one account (its roles or status changed).
    User(Uuid),
}

impl Invalidation {
    /// Wire form: `s:<64 hex>` or `u:<uuid>`.
    pub fn encode(&self) -> String {
        match self {
            Invalidation::Session(hash) => format!("s:{}", super::hex(hash)),
            Invalidation::User(id) => format!("u:{id}"),
        }
    }

    /// Parses the wire form; `None` for anything else.
    pub fn decode(s: &str) -> Option<Self> {
        if let Some(hex) = s.strip_prefix("s:") {
            if hex.len() != 64 || !hex.is_ascii() {
                return None;
            }
            let mut hash = [0u8; 32];
            for (i, byte) in hash.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
            }
            return Some(Invalidation::Session(hash));
        }
        s.strip_prefix("u:").and_then(|id| Uuid::parse_str(id).ok()).map(Invalidation::User)
    }
}

/// Receives what to drop: `Some(one)`, or `None` for everything (after a gap in the
/// subscription, when messages may have been missed).
pub type Sink = Arc<dyn Fn(Option<Invalidation>) + Send + Sync>;

/// Publishes this instance's revocations and applies every instance's.
#[derive(Clone)]
pub struct Fanout {
    redis: Redis,
    channel: Arc<str>,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout").field("channel", &self.channel).finish()
    }
}

/// How often the subscription is pinged: a connection that died quietly is noticed within
/// this plus [`super::REDIS_TIMEOUT`].
const PING_EVERY: Duration = Duration::from_millis(500);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

impl Fanout {
    /// Subscribes (in a background task that reconnects by itself) and hands every message to
    /// `sink`. Waits up to `wait` for the first subscription, so an instance that starts next to
    /// a healthy Redis serves from its first request.
    pub async fn start(redis: Redis, sink: Sink, wait: Duration) -> Self {
        let channel: Arc<str> = redis.key("revoke").into();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(watch(redis.clone(), Arc::clone(&channel), sink, ready_tx));
        let _ = tokio::time::timeout(wait, ready_rx).await;
        Self { redis, channel }
    }

    /// Tells every instance (this one too) to drop `what`. A failure is logged, not returned: the
    /// change is already in the store, and an instance that cannot hear Redis marks it down and
    /// drops its whole cache when it reconnects.
    pub async fn publish(&self, what: Invalidation) {
        let message = what.encode();
        let mut last_error = None;
        // A connection Redis dropped (a restart) is re-made on the next command: retry briefly.
        for pause in [Duration::ZERO, Duration::from_millis(50), Duration::from_millis(250)] {
            tokio::time::sleep(pause).await;
            let mut connection = self.redis.connection();
            let sent: Result<i64, _> =
                in_time(::redis::cmd("PUBLISH").arg(&*self.channel).arg(&message).query_async(&mut connection)).await;
            match sent {
                Ok(_) => return,
                Err(e) => last_error = Some(e),
            }
        }
        if let Some(e) = last_error {
            tracing::error!(error = %e, "revocation not published; other instances see it when their cache entry expires");
        }
    }

    /// The Redis it runs on.
    pub fn redis(&self) -> &Redis {
        &self.redis
    }
}

async fn watch(redis: Redis, channel: Arc<str>, sink: Sink, ready: tokio::sync::oneshot::Sender<()>) {
    let mut ready = Some(ready);
    let mut backoff = BACKOFF_MIN;
    loop {
        let lost = subscribe(&redis, &channel, &sink, &mut ready, &mut backoff).await;
        redis.health().mark_down(&lost);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One subscription, from connecting until it is lost; returns why it ended.
async fn subscribe(
    redis: &Redis,
    channel: &str,
    sink: &Sink,
    ready: &mut Option<tokio::sync::oneshot::Sender<()>>,
    backoff: &mut Duration,
) -> crate::error::Error {
    let connect = async {
        let mut pubsub = redis.client().get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok::<_, ::redis::RedisError>(pubsub)
    };
    let pubsub = match in_time(connect).await {
        Ok(pubsub) => pubsub,
        Err(e) => return unreachable(e),
    };
    let (mut control, mut messages) = pubsub.split();
    // Whatever was published while this instance was not listening is unknown: start afresh.
    sink(None);
    redis.health().mark_up();
    *backoff = BACKOFF_MIN;
    if let Some(ready) = ready.take() {
        let _ = ready.send(());
    }
    let mut tick = tokio::time::interval(PING_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else {
                    return unreachable(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "subscription closed").into());
                };
                match message.get_payload::<String>().ok().as_deref().and_then(Invalidation::decode) {
                    Some(what) => sink(Some(what)),
                    None => tracing::warn!(channel, "ignored a malformed revocation message"),
                }
            }
            _ = tick.tick() => {
                // Subscribed, Redis answers PING with an array, not "PONG": any answer will do.
                if let Err(e) = in_time(control.ping::<::redis::Value>()).await {
                    return unreachable(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidations_round_trip_and_junk_is_refused() {
        let session = Invalidation::Session([0xab; 32]);
        assert_eq!(Invalidation::decode(&session.encode()), Some(session));
        let user = Invalidation::User(Uuid::now_v7());
        assert_eq!(Invalidation::decode(&user.encode()), Some(user));
        for junk in ["", "s:", "s:zz", &format!("s:{}", "é".repeat(32)), "u:not-a-uuid", "x:1"] {
            assert_eq!(Invalidation::decode(junk), None, "{junk}");
        }
    }
}

#[cfg(test)]
mod live_tests {
    use std::sync::Mutex;

    use super::*;
    use crate::cluster::testing::TestRedis;

    type Heard = Arc<Mutex<Vec<Option<Invalidation>>>>;

    async fn listener(server: &TestRedis) -> (Fanout, Heard) {
        let heard: Heard = Arc::default();
        let log = Arc::clone(&heard);
        let redis = Redis::new(&server.url(), "fan:").expect("url");
        let fanout =
            Fanout::start(redis, Arc::new(move |what| log.lock().expect("log").push(what)), Duration::from_secs(5))
                .await;
        (fanout, heard)
    }

    async fn wait_for(what: impl Fn() -> bool, why: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !what() {
            assert!(std::time::Instant::now() < deadline, "{why}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn every_instance_hears_a_revocation_and_an_outage_flushes_everything() {
        let mut server = TestRedis::start();
        let (a, heard_a) = listener(&server).await;
        let (b, heard_b) = listener(&server).await;
        assert!(a.redis().health().is_up() && b.redis().health().is_up());
        // Each starts by dropping everything it may have cached before subscribing.
        assert_eq!(*heard_b.lock().expect("log"), [None]);
        let revoked = Invalidation::Session([7; 32]);
        a.publish(revoked).await;
        wait_for(|| heard_b.lock().expect("log").contains(&Some(revoked)), "b hears a's revocation").await;
        wait_for(|| heard_a.lock().expect("log").contains(&Some(revoked)), "a hears its own").await;

        server.stop();
        wait_for(|| !b.redis().health().is_up(), "b notices the outage").await;
        heard_b.lock().expect("log").clear();
        server.restart();
        wait_for(|| b.redis().health().is_up(), "b reconnects by itself").await;
        assert_eq!(heard_b.lock().expect("log").first(), Some(&None), "a reconnect drops the whole cache");
        let user = Invalidation::User(Uuid::now_v7());
        a.publish(user).await;
        wait_for(|| heard_b.lock().expect("log").contains(&Some(user)), "messages flow again").await;
    }
}
