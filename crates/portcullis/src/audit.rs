//! The audit log: security events written to the store (queryable by admins) and to `tracing`
//! (target `portcullis::audit`).
//!
//! Rows carry who, which session, where from and a small JSON `detail`; never a password, a
//! token, a hash or a session secret. Rows older than `accounts.audit_retention` are swept.

use std::sync::Arc;

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::SharedClock;
use crate::error::Result;
use crate::session::{ClientInfo, LiveSession};
use crate::store::AuditStore;

/// One audit-log row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Increasing id (assigned by the store; ignored on append).
    pub id: i64,
    /// When it happened.
    pub at: OffsetDateTime,
    /// Event name (`login_ok`, `login_failed`, ...).
    pub event: String,
    /// The account concerned, when known.
    pub user_id: Option<Uuid>,
    /// The username concerned (as typed, for failed logins of unknown names).
    pub username: Option<String>,
    /// Public id of the session concerned.
    pub session_id: Option<Uuid>,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Event-specific facts as a JSON object; never secrets.
    pub detail: Option<String>,
}

/// Filters for reading the audit log; results are newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Rows about this account id.
    pub user_id: Option<Uuid>,
    /// Rows about this username (ignoring case).
    pub username: Option<String>,
    /// Rows of this event.
    pub event: Option<String>,
    /// Rows at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Rows older than this id (paging).
    pub before_id: Option<i64>,
    /// At most this many rows.
    pub limit: u32,
}

/// Event names, stable for queries and alerting.
pub mod event {
    /// A password login succeeded (session cookie or token family).
    pub const LOGIN_OK: &str = "login_ok";
    /// A login was refused (unknown user, wrong password, disabled or locked account).
    pub const LOGIN_FAILED: &str = "login_failed";
    /// A user ended their own session.
    pub const LOGOUT: &str = "logout";
    /// A session was ended by its user (from the session list), an admin, or protection.
    pub const SESSION_REVOKED: &str = "session_revoked";
    /// A rotated refresh token was presented again; its family is revoked.
    pub const REFRESH_REUSED: &str = "refresh_reused";
    /// Repeated failures locked a client out of an account.
    pub const LOCKED: &str = "locked";
    /// An operator lifted an account's lockout.
    pub const UNLOCKED: &str = "unlocked";
    /// A request was refused by a rate limit.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// A password was changed (by its user or an operator).
    pub const PASSWORD_CHANGED: &str = "password_changed";
    /// A stored hash was upgraded to the current parameters at login.
    pub const PASSWORD_REHASHED: &str = "password_rehashed";
    /// Accounts were imported with their existing hashes (`portcullis user import`).
    pub const USERS_IMPORTED: &str = "users_imported";
    /// A user proved their password again; the session is fresh.
    pub const REAUTH: &str = "reauth";
    /// An account was registered or created by an admin.
    pub const USER_CREATED: &str = "user_created";
    /// An admin changed an account (email, disabled).
    pub const USER_UPDATED: &str = "user_updated";
    /// An admin deleted an account.
    pub const USER_DELETED: &str = "user_deleted";
    /// An account's roles, or a role's permissions, changed.
    pub const ROLE_CHANGED: &str = "role_changed";
    /// A remember-me cookie restored a session.
    pub const REMEMBER_RESTORED: &str = "remember_restored";
    /// A remember-me validator was replayed: the series was copied; all are revoked.
    pub const REMEMBER_REUSED: &str = "remember_reused";
    /// Session protection saw the session used from another client.
    pub const PROTECTION_MISMATCH: &str = "protection_mismatch";
}

/// Who an event is about.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    /// Account id, when known.
    pub user_id: Option<Uuid>,
    /// Username (as typed when the account is unknown).
    pub username: Option<&'a str>,
    /// Public session id.
    pub session_id: Option<Uuid>,
}

impl<'a> Subject<'a> {
    /// An account.
    pub fn user(id: Uuid, username: &'a str) -> Self {
        Self { user_id: Some(id), username: Some(username), session_id: None }
    }

    /// A live session and its account.
    pub fn session(live: &'a LiveSession) -> Self {
        let user = live.user();
        Self::user(user.id, &user.username).in_session(live.record().public_id)
    }

    /// The same subject, about one session.
    pub fn in_session(mut self, session_id: Uuid) -> Self {
        self.session_id = Some(session_id);
        self
    }
}

/// Writes and reads audit events.
#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn AuditStore>,
    clock: SharedClock,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Audit")
    }
}

impl Audit {
    /// An audit log over `store`.
    pub fn new(store: Arc<dyn AuditStore>, clock: SharedClock) -> Self {
        Self { store, clock }
    }

    /// Records `event`. A failed store write is logged, not returned: the action it describes
    /// has already happened, and refusing the response would not undo it.
    pub async fn record(&self, event: &str, subject: Subject<'_>, client: Option<&ClientInfo>, detail: Value) {
        let detail = if detail.is_null() { None } else { Some(detail.to_string()) };
        tracing::info!(
            target: "portcullis::audit",
            event,
            user_id = subject.user_id.map(tracing::field::display),
            // Security: a name with invisible characters is logged escaped, never as look-alike text.
            username = subject.username.map(crate::username::escaped).as_deref(),
            session = subject.session_id.map(tracing::field::display),
            ip = client.and_then(|c| c.ip.as_deref()),
            detail = detail.as_deref(),
        );
        let record = AuditRecord {
            id: 0,
            at: self.clock.now(),
            event: event.to_owned(),
            user_id: subject.user_id,
            username: subject.username.map(str::to_owned),
            session_id: subject.session_id,
            ip: client.and_then(|c| c.ip.clone()),
            user_agent: client.and_then(|c| c.user_agent.clone()),
            detail,
        };
        if let Err(e) = self.store.append_audit(&record).await {
            tracing::error!(target: "portcullis::audit", error = %e, event, "audit row not stored");
        }
    }

    /// Rows matching `query`, newest first.
    pub async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        Ok(self.store.query_audit(query).await?)
    }

    /// Deletes rows older than the retention.
    pub async fn sweep(&self, retention: std::time::Duration) -> Result<u64> {
        let before: OffsetDateTime = self.clock.now() - retention;
        Ok(self.store.delete_audit_before(before).await?)
    }
}
