//! Signals: how a change made by another process (`portcullis user passwd` from a shell, an
//! unlock on another instance) reaches every running server within a second, with or without
//! Redis.
//!
//! ```text
//!   CLI / another instance                       every running server (polls once a second)
//!   ───────────────────────                      ─────────────────────────────────────────
//!   end sessions / change roles ─┐               signals_after(floor) ─► unseen rows:
//!   unlock an account ───────────┴─► signals ──►   changed(user)  drop the user's cached sessions
//!                                    (store)       changed(none)  drop every cached session
//!                                                  unlock(user)   lift the account's lockout
//! ```
//!
//! The change itself is already in the store when its signal is written: a signal only tells a
//! server to stop trusting what it cached. Signal numbers can become visible out of order
//! (Postgres hands out sequence numbers before commit), so each poll looks back
//! [`LOOKBACK`] numbers and skips those it has already applied. Applying twice is harmless.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::Invalidation;
use crate::limits::Limits;
use crate::session::SessionManager;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::{StoreResult, Stores};

/// What a signal asks every running instance to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// An account's sessions, roles or state changed: drop its cached sessions (every cached
    /// session when the signal names no account).
    Changed,
    /// An admin lifted an account's lockout.
    Unlock,
}

impl SignalKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Changed => "changed",
            SignalKind::Unlock => "unlock",
        }
    }

    /// The kind a stored name means; `None` for a name this version does not know.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "changed" => Some(SignalKind::Changed),
            "unlock" => Some(SignalKind::Unlock),
            _ => None,
        }
    }
}

/// A signal as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalRecord {
    /// Its number; higher numbers were sent later (mostly: see [`SignalStore::signals_after`]).
    pub seq: i64,
    /// What to do; `None` for a kind a newer version sent.
    pub kind: Option<SignalKind>,
    /// The account concerned, if one.
    pub user_id: Option<Uuid>,
    /// When it was sent, to the millisecond.
    pub at: OffsetDateTime,
}

/// Signal numbers each poll reads again below the highest one seen.
pub const LOOKBACK: i64 = 64;
/// Signals read at most per poll; more wait for the next one.
const BATCH: u32 = 1_000;
/// How long signals are kept: far beyond any poll interval.
pub const KEEP_FOR: Duration = Duration::from_secs(24 * 3600);

/// What a server does with the signals it hears.
#[derive(Clone, Debug)]
pub struct Watch {
    stores: Stores,
    sessions: SessionManager,
    limits: Arc<Limits>,
    floor: i64,
    seen: BTreeSet<i64>,
}

impl Watch {
    /// A watch that applies only signals sent from now on.
    pub async fn start(stores: Stores, sessions: SessionManager, limits: Arc<Limits>) -> StoreResult<Self> {
        let last = stores.signals.last_signal().await?;
        let floor = last.saturating_sub(LOOKBACK);
        // What was sent before this server started concerns nothing it has cached.
        let seen = stores.signals.signals_after(floor, BATCH).await?.into_iter().map(|s| s.seq).collect();
        Ok(Self { stores, sessions, limits, floor, seen })
    }

    /// Reads the signals not yet applied and applies them; returns how many.
    pub async fn poll(&mut self) -> StoreResult<usize> {
        let rows = self.stores.signals.signals_after(self.floor, BATCH).await?;
        let mut applied = 0;
        for signal in rows {
            if !self.seen.insert(signal.seq) {
                continue;
            }
            self.apply(&signal).await;
            applied += 1;
        }
        if let Some(&highest) = self.seen.last() {
            self.floor = self.floor.max(highest.saturating_sub(LOOKBACK));
            self.seen = self.seen.split_off(&self.floor);
        }
        Ok(applied)
    }

    async fn apply(&self, signal: &SignalRecord) {
        match (signal.kind, signal.user_id) {
            (Some(SignalKind::Changed), Some(user)) => self.sessions.forget_here(Some(Invalidation::User(user))),
            (Some(SignalKind::Changed), None) => self.sessions.forget_here(None),
            (Some(SignalKind::Unlock), Some(user)) => {
                let found = match self.stores.users.user_by_id(user).await {
                    Ok(found) => found,
                    Err(e) => {
                        tracing::warn!(error = %e, seq = signal.seq, "could not read the account of an unlock");
                        return;
                    }
                };
                let Some(account) = found else { return };
                if let Err(e) = self.limits.unlock(&account.username, signal.at).await {
                    tracing::warn!(error = %e, seq = signal.seq, "could not apply an unlock");
                }
            }
            (Some(SignalKind::Unlock), None) | (None, _) => {
                tracing::debug!(seq = signal.seq, "signal of no known kind ignored");
            }
        }
    }

    /// Polls every `every` until the task is dropped; store errors are logged and retried.
    pub fn spawn(mut self, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = self.poll().await {
                    tracing::warn!(error = %e, "reading signals failed");
                }
            }
        })
    }
}
