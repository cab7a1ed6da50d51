//! Caps on open connections: overall and per client address, so slow or idle clients cannot use
//! up the process's file descriptors.
//!
//! Every accepted connection asks [`ConnectionGate::admit`] for a [`ConnectionPermit`] and holds it
//! until the connection closes. Past either cap the new connection is closed at once, before a
//! byte of it is read: refusing costs one `accept` and one `close`.
//!
//! ```text
//!   accept ──admit(peer)──▶ permit ──▶ served until closed ──▶ permit dropped (counts go down)
//!                 │
//!                 └── open ≥ max_connections, or open from peer's address ≥ per-address cap
//!                     ──▶ closed at once, counted, logged at most once per LOG_INTERVAL
//! ```
//!
//! An address is grouped as [`ip_key`] does for rate limits (an IPv6 /64 is one client). A
//! trusted proxy (`proxy.trusted`) carries many clients on its connections, so it is held to the
//! overall cap only; the slow-client defence for those clients is the proxy's own.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::ip_key;
use super::proxy::Cidr;

/// How often, at most, refusals are logged; the counters count every one.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Validated connection timeouts and caps (`[server]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// Time a client has to send a complete request head, from the moment the connection is
    /// accepted or, on a kept-alive connection, from the first byte of the next request.
    pub header_read_timeout: Duration,
    /// Time a kept-alive connection may sit idle between requests before it is closed.
    pub keep_alive_timeout: Duration,
    /// Most connections open at once, from everyone.
    pub max_connections: usize,
    /// Most connections open at once from one address (an IPv6 /64); trusted proxies excepted.
    pub max_connections_per_address: usize,
}

impl Default for ConnectionConfig {
    /// 10 s for a request head, 60 s idle, 10,000 connections, 256 per address.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_connections_per_address: 256,
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `server.max_connections` connections were already open.
    Overall,
    /// `server.max_connections_per_address` connections were already open from the address.
    PerAddress,
}

/// Refusals counted since start, for a metrics endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectionStats {
    /// Connections open now.
    pub open: u64,
    /// Connections refused because the overall cap was reached.
    pub refused_overall: u64,
    /// Connections refused because their address's cap was reached.
    pub refused_per_address: u64,
}

/// Admits connections under the caps; cheap to clone (one shared state).
#[derive(Debug, Clone)]
pub struct ConnectionGate {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ConnectionConfig,
    exempt: Vec<Cidr>,
    open: Mutex<Open>,
    refused_overall: AtomicU64,
    refused_per_address: AtomicU64,
    log: Mutex<LogThrottle>,
}

/// Open connections: the total and, per address key, a count (keys at zero are removed, so the
/// map never holds more than `max_connections` entries).
#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// A connection's place under the caps, given back on drop.
#[derive(Debug)]
pub struct ConnectionPermit {
    inner: Arc<Inner>,
    key: Option<IpAddr>,
}

impl ConnectionGate {
    /// A gate with these caps; connections from `trusted_proxies` count toward the overall cap
    /// only.
    pub fn new(config: ConnectionConfig, trusted_proxies: Vec<Cidr>) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                exempt: trusted_proxies,
                open: Mutex::new(Open::default()),
                refused_overall: AtomicU64::new(0),
                refused_per_address: AtomicU64::new(0),
                log: Mutex::new(LogThrottle::default()),
            }),
        }
    }

    /// The timeouts and caps.
    pub fn config(&self) -> &ConnectionConfig {
        &self.inner.config
    }

    /// A permit for a connection from `peer`, or the cap it would break. A refusal is counted
    /// and, at most once per [`LOG_INTERVAL`] (measured on `now`), logged with the number of
    /// refusals since the last line: a flood of refused connections must not become a flood of
    /// log lines.
    pub fn admit(&self, peer: IpAddr, now: Instant) -> Result<ConnectionPermit, Refusal> {
        let key = (!self.inner.exempt.iter().any(|c| c.contains(peer))).then(|| ip_key(peer));
        let refusal = {
            let mut open = self.inner.lock_open();
            let from_peer = key.and_then(|k| open.per_address.get(&k).copied()).unwrap_or(0);
            if open.total >= self.inner.config.max_connections {
                Some(Refusal::Overall)
            } else if key.is_some() && from_peer >= self.inner.config.max_connections_per_address {
                Some(Refusal::PerAddress)
            } else {
                open.total += 1;
                if let Some(k) = key {
                    *open.per_address.entry(k).or_insert(0) += 1;
                }
                None
            }
        };
        let Some(refusal) = refusal else {
            return Ok(ConnectionPermit { inner: Arc::clone(&self.inner), key });
        };
        let (counter, cap, limit) = match refusal {
            Refusal::Overall => {
                (&self.inner.refused_overall, "server.max_connections", self.inner.config.max_connections)
            }
            Refusal::PerAddress => (
                &self.inner.refused_per_address,
                "server.max_connections_per_address",
                self.inner.config.max_connections_per_address,
            ),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let due = self.inner.log.lock().unwrap_or_else(PoisonError::into_inner).note(now);
        if let Some(refused) = due {
            tracing::warn!(
                %peer,
                cap,
                limit,
                refused,
                "connection cap reached: new connections are closed at once (count since the last such line)"
            );
        }
        Err(refusal)
    }

    /// Open connections and refusals so far.
    pub fn stats(&self) -> ConnectionStats {
        let open = self.inner.lock_open().total;
        ConnectionStats {
            open: u64::try_from(open).unwrap_or(u64::MAX),
            refused_overall: self.inner.refused_overall.load(Ordering::Relaxed),
            refused_per_address: self.inner.refused_per_address.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    fn lock_open(&self) -> MutexGuard<'_, Open> {
        // The counts stay consistent under a panic elsewhere (each update is one statement).
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self.inner.lock_open();
        open.total = open.total.saturating_sub(1);
        if let Some(key) = self.key {
            if let Some(n) = open.per_address.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.per_address.remove(&key);
                }
            }
        }
    }
}

/// One log line per interval: the first refusal logs, later ones within the interval are only
/// counted and reported with the next line.
#[derive(Debug, Default)]
struct LogThrottle {
    last: Option<Instant>,
    pending: u64,
}

impl LogThrottle {
    /// Counts one refusal at `now`; `Some(refusals since the last line)` when a line is due.
    fn note(&mut self, now: Instant) -> Option<u64> {
        self.pending += 1;
        if self.last.is_some_and(|last| now.saturating_duration_since(last) < LOG_INTERVAL) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(total: usize, per_address: usize, trusted: &[&str]) -> ConnectionGate {
        let config = ConnectionConfig {
            max_connections: total,
            max_connections_per_address: per_address,
            ..ConnectionConfig::default()
        };
        ConnectionGate::new(config, trusted.iter().map(|c| c.parse().expect("cidr")).collect())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn per_address_cap_groups_ipv6_by_64_and_permits_are_given_back() {
        let gate = gate(10, 2, &[]);
        let now = Instant::now();
        let a = gate.admit(ip("2001:db8::1"), now).expect("first");
        let _b = gate.admit(ip("2001:db8::ffff:2"), now).expect("second, same /64");
        assert_eq!(gate.admit(ip("2001:db8::3"), now).unwrap_err(), Refusal::PerAddress);
        let _c = gate.admit(ip("2001:db8:0:1::1"), now).expect("another /64");
        drop(a);
        let _d = gate.admit(ip("2001:db8::3"), now).expect("a slot was given back");
        let stats = gate.stats();
        assert_eq!((stats.open, stats.refused_per_address, stats.refused_overall), (3, 1, 0));
    }

    #[test]
    fn overall_cap_applies_to_everyone_trusted_proxies_included() {
        let gate = gate(3, 1, &["10.0.0.0/8"]);
        let now = Instant::now();
        let _proxy: Vec<_> = (0..2).map(|_| gate.admit(ip("10.0.0.5"), now).expect("proxy")).collect();
        let _client = gate.admit(ip("192.0.2.1"), now).expect("client");
        assert_eq!(gate.admit(ip("192.0.2.2"), now).unwrap_err(), Refusal::Overall);
        assert_eq!(gate.admit(ip("10.0.0.5"), now).unwrap_err(), Refusal::Overall);
        assert_eq!(gate.stats().refused_overall, 2);
    }

    #[test]
    fn an_ipv4_mapped_address_is_its_ipv4_client() {
        let gate = gate(10, 1, &[]);
        let now = Instant::now();
        let _v4 = gate.admit(ip("192.0.2.1"), now).expect("first");
        assert_eq!(gate.admit(ip("::ffff:192.0.2.1"), now).unwrap_err(), Refusal::PerAddress);
    }

    #[test]
    fn refusals_are_logged_once_per_interval_with_the_count() {
        let mut log = LogThrottle::default();
        let start = Instant::now();
        assert_eq!(log.note(start), Some(1), "the first refusal is logged");
        for _ in 0..99 {
            assert_eq!(log.note(start + Duration::from_secs(1)), None);
        }
        assert_eq!(log.note(start + LOG_INTERVAL), Some(100), "the next line reports every refusal");
        assert_eq!(log.note(start + LOG_INTERVAL), None);
    }
}
