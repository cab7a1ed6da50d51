//! The audit log: security events written to the store (queryable by admins) and to `tracing`
//! (target `portcullis::audit`).
//!
//! Rows carry who, which session, where from and a small JSON `detail`; never a password, a
//! token, a hash or a session secret. Rows older than `accounts.audit_retention` are swept.

use std::sync::Arc;

use serde_json::{json, Value};
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

/// How a session ended by its user or an admin.
#[derive(Debug, Clone, Copy)]
pub enum Revocation<'a> {
    /// The user ended one of their sessions from the session list.
    OneByUser,
    /// The user ended all their other sessions.
    OthersByUser {
        /// How many ended.
        others: usize,
    },
    /// An admin ended every session of the account.
    ByAdmin {
        /// The admin.
        by: &'a str,
        /// Sessions and token families ended.
        sessions_ended: usize,
        /// Remember-me series ended.
        remembered_ended: u64,
    },
}

/// What happened, with its facts. Each is stored under its [`event`] name (stable: rows are
/// queried by it) with its facts as the row's JSON `detail`.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A login succeeded; `remember` for a cookie session, `None` for a token family.
    LoginOk {
        /// Whether remember-me was asked (cookie sessions); `None` for a token family.
        remember: Option<bool>,
    },
    /// A password check was refused.
    LoginFailed {
        /// What it was for (`session`, `token`, `reauth`, `password_change`).
        purpose: &'static str,
    },
    /// Failures locked one client out of an account.
    Locked {
        /// Seconds until the lock ends.
        retry_after: u64,
        /// Which client (`address`, `device`, `session`).
        scope: &'static str,
    },
    /// A user ended their own session (`token`: a token family).
    Logout {
        /// A token family rather than a cookie session.
        token: bool,
    },
    /// Sessions were ended by their user or an admin.
    SessionRevoked(Revocation<'a>),
    /// A rotated refresh token was presented again.
    RefreshReused {
        /// The generation presented.
        presented: i64,
        /// The family's current generation.
        current: i64,
    },
    /// An operator lifted an account's lockout.
    Unlocked {
        /// The operator.
        by: &'a str,
    },
    /// A password was changed (`by`: `user`, `cli`, or an admin).
    PasswordChanged {
        /// Who changed it.
        by: &'a str,
        /// Other sessions ended.
        sessions_ended: usize,
    },
    /// A stored hash was upgraded at a successful check.
    PasswordRehashed {
        /// What the check was for.
        purpose: &'static str,
    },
    /// Accounts were imported with their hashes.
    UsersImported {
        /// Who imported them.
        by: &'a str,
        /// The input format, as read.
        format: Option<&'a str>,
        /// Accounts created.
        imported: usize,
        /// Lines skipped.
        skipped: usize,
    },
    /// A session proved its password again.
    Reauth,
    /// An account was created (`by`: `registration`, `cli`, or an admin).
    UserCreated {
        /// Who created it.
        by: &'a str,
        /// Its roles.
        roles: &'a [String],
    },
    /// An admin changed an account's flag or email.
    UserUpdated {
        /// The admin.
        by: &'a str,
        /// The account's disabled flag now.
        disabled: bool,
        /// Whether the email changed.
        email_changed: bool,
        /// Sessions ended because the account was disabled.
        sessions_ended: Option<usize>,
    },
    /// An admin deleted an account.
    UserDeleted {
        /// The admin.
        by: &'a str,
        /// Sessions ended with it.
        sessions_ended: usize,
    },
    /// An admin changed an account's roles.
    UserRolesChanged {
        /// The admin.
        by: &'a str,
        /// Roles before.
        old: &'a [String],
        /// Roles after.
        new: &'a [String],
    },
    /// An admin created a role.
    RoleCreated {
        /// The admin.
        by: &'a str,
        /// The role.
        role: &'a str,
        /// Its permissions.
        permissions: &'a [String],
    },
    /// An admin replaced a role's permissions.
    RolePermissionsChanged {
        /// The admin.
        by: &'a str,
        /// The role.
        role: &'a str,
        /// Permissions before.
        old: &'a [String],
        /// Permissions after.
        new: &'a [String],
    },
    /// A remember-me cookie restored a session.
    RememberRestored,
    /// A replaced remember-me validator was presented: every session and series of the user ended.
    RememberReused,
    /// Session protection saw the session used from another client (`ended`: strong mode).
    ProtectionMismatch {
        /// Whether the session was ended.
        ended: bool,
    },
}

impl Event<'_> {
    /// The stored name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::LoginOk { .. } => event::LOGIN_OK,
            Event::LoginFailed { .. } => event::LOGIN_FAILED,
            Event::Locked { .. } => event::LOCKED,
            Event::Logout { .. } => event::LOGOUT,
            Event::SessionRevoked(_) => event::SESSION_REVOKED,
            Event::RefreshReused { .. } => event::REFRESH_REUSED,
            Event::Unlocked { .. } => event::UNLOCKED,
            Event::PasswordChanged { .. } => event::PASSWORD_CHANGED,
            Event::PasswordRehashed { .. } => event::PASSWORD_REHASHED,
            Event::UsersImported { .. } => event::USERS_IMPORTED,
            Event::Reauth => event::REAUTH,
            Event::UserCreated { .. } => event::USER_CREATED,
            Event::UserUpdated { .. } => event::USER_UPDATED,
            Event::UserDeleted { .. } => event::USER_DELETED,
            Event::UserRolesChanged { .. } | Event::RoleCreated { .. } | Event::RolePermissionsChanged { .. } => {
                event::ROLE_CHANGED
            }
            Event::RememberRestored => event::REMEMBER_RESTORED,
            Event::RememberReused => event::REMEMBER_REUSED,
            Event::ProtectionMismatch { .. } => event::PROTECTION_MISMATCH,
        }
    }

    /// The stored detail: a JSON object of the facts, or nothing.
    pub fn detail(&self) -> Value {
        match *self {
            Event::LoginOk { remember: Some(remember) } => json!({ "method": "session", "remember": remember }),
            Event::LoginOk { remember: None } | Event::Logout { token: true } => json!({ "method": "token" }),
            Event::LoginFailed { purpose } | Event::PasswordRehashed { purpose } => json!({ "purpose": purpose }),
            Event::Locked { retry_after, scope } => json!({ "retry_after": retry_after, "scope": scope }),
            Event::SessionRevoked(Revocation::OneByUser) => json!({ "by": "user" }),
            Event::SessionRevoked(Revocation::OthersByUser { others }) => json!({ "by": "user", "others": others }),
            Event::SessionRevoked(Revocation::ByAdmin { by, sessions_ended, remembered_ended }) => {
                json!({ "by": by, "sessions_ended": sessions_ended, "remembered_ended": remembered_ended })
            }
            Event::RefreshReused { presented, current } => json!({ "presented": presented, "current": current }),
            Event::Unlocked { by } => json!({ "by": by }),
            Event::PasswordChanged { by, sessions_ended } | Event::UserDeleted { by, sessions_ended } => {
                json!({ "by": by, "sessions_ended": sessions_ended })
            }
            Event::UsersImported { by, format, imported, skipped } => {
                json!({ "by": by, "format": format, "imported": imported, "skipped": skipped })
            }
            Event::UserCreated { by, roles } => json!({ "by": by, "roles": roles }),
            Event::UserUpdated { by, disabled, email_changed, sessions_ended } => {
                let mut detail = json!({ "by": by, "disabled": disabled });
                if email_changed {
                    detail["email_changed"] = true.into();
                }
                if let Some(ended) = sessions_ended {
                    detail["sessions_ended"] = ended.into();
                }
                detail
            }
            Event::UserRolesChanged { by, old, new } => json!({ "by": by, "old": old, "new": new }),
            Event::RoleCreated { by, role, permissions } => {
                json!({ "by": by, "role": role, "created": true, "permissions": permissions })
            }
            Event::RolePermissionsChanged { by, role, old, new } => {
                json!({ "by": by, "role": role, "old_permissions": old, "new_permissions": new })
            }
            Event::RememberReused => json!({ "action": "all sessions and remember-me series of the user ended" }),
            Event::ProtectionMismatch { ended } => json!({ "ended": ended }),
            Event::Logout { token: false } | Event::Reauth | Event::RememberRestored => Value::Null,
        }
    }
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
    pub async fn record(&self, what: Event<'_>, subject: Subject<'_>, client: Option<&ClientInfo>) {
        let event = what.name();
        let detail = what.detail();
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
