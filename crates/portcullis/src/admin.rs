//! Administration: accounts, roles and the audit log as an admin manages them.
//!
//! Every change is audited about the account it concerns, with the acting admin named as `"by"`
//! in the detail, and takes effect at once for logged-in users: a changed account's cached
//! sessions are dropped, so its next request re-reads roles, permissions and the disabled flag.
//!
//! An admin cannot remove their own `admin` role, disable or delete their own account: whoever
//! acts stays an admin, so a mistake can always be undone and the last admin cannot lock
//! everyone out.
//!
//! ```text
//!  locked out (any client) ──POST unlock──▶ every lock of the account lifted, on every server
//!  enabled ──PATCH disabled=true──▶ disabled: sessions and remember-me series revoked, login refused
//!     ▲                                │
//!     └──────PATCH disabled=false──────┘
//! ```

use time::OffsetDateTime;
use uuid::Uuid;

use crate::account::{email_problem, Accounts, MAX_USERNAME_CHARS};
use crate::account::{Role, User, UserPage, UserPatch};
use crate::audit::{Audit, AuditQuery, AuditRecord, Event, Revocation, Subject};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, FieldError, Result};
use crate::limits::Limits;
use crate::password::Password;
use crate::session::{ClientInfo, SessionManager};
use crate::signal::SignalKind;
use crate::store::Stores;

pub use crate::account::{name_problem, ADMIN_ROLE, MAX_NAME_CHARS};

/// Longest role description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 256;

/// Largest page of the account list.
pub const MAX_USER_PAGE: u32 = 200;

/// Page size of the account list when none is asked for.
pub const DEFAULT_USER_PAGE: u32 = 50;

/// Largest page of the audit log.
pub const MAX_AUDIT_PAGE: u32 = 1000;

/// Page size of the audit log when none is asked for.
pub const DEFAULT_AUDIT_PAGE: u32 = 100;

/// Accounts walked per store call when looking for the holders of a role.
const HOLDER_SCAN_PAGE: u32 = 200;

/// The admin performing an operation, and where from.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// The admin's account id.
    pub id: Uuid,
    /// The admin's username, recorded as `"by"` in audit details.
    pub username: &'a str,
    /// The admin's client, recorded with audit rows.
    pub client: &'a ClientInfo,
}

/// An account to create.
#[derive(Debug)]
pub struct NewAccount {
    /// Username as typed.
    pub username: String,
    /// Initial password; the password policy applies.
    pub password: Password,
    /// Optional email.
    pub email: Option<String>,
    /// Initial roles; each must exist.
    pub roles: Vec<String>,
}

/// A page request of the account list, as raw query values.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserListing<'a> {
    /// Substring of the username or email.
    pub search: Option<&'a str>,
    /// Accounts to skip (default 0).
    pub offset: Option<&'a str>,
    /// Page size (default 50, at most 200).
    pub limit: Option<&'a str>,
}

/// Audit log filters, as raw query values.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditParams<'a> {
    /// An account id (UUID) or a username.
    pub user: Option<&'a str>,
    /// An event name.
    pub event: Option<&'a str>,
    /// RFC 3339 time or unix seconds: rows at or after it.
    pub since: Option<&'a str>,
    /// A row id: rows older than it (paging).
    pub before: Option<&'a str>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<&'a str>,
}

/// A page of the account list with the bounds it was read with.
#[derive(Debug, Clone)]
pub struct ListedUsers {
    /// The page.
    pub page: UserPage,
    /// Accounts skipped.
    pub offset: u64,
    /// Page size.
    pub limit: u32,
}

/// Administration over one instance's store, accounts, sessions and audit log.
#[derive(Clone, Copy)]
pub struct Console<'a> {
    stores: &'a Stores,
    accounts: &'a Accounts,
    sessions: &'a SessionManager,
    audit: &'a Audit,
    clock: &'a dyn Clock,
    limits: &'a Limits,
}

impl std::fmt::Debug for Console<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Console")
    }
}

impl<'a> Console<'a> {
    /// Administration over these parts of an instance.
    pub fn new(
        stores: &'a Stores,
        accounts: &'a Accounts,
        sessions: &'a SessionManager,
        audit: &'a Audit,
        clock: &'a dyn Clock,
        limits: &'a Limits,
    ) -> Self {
        Self { stores, accounts, sessions, audit, clock, limits }
    }

    /// A page of accounts, by username; 422 for a bad offset or limit.
    pub async fn list_users(&self, listing: UserListing<'_>) -> Result<ListedUsers> {
        let mut errors = Vec::new();
        let search = present(listing.search);
        if search.is_some_and(|s| s.chars().count() > 254) {
            errors.push(field("search", "must be at most 254 characters"));
        }
        let offset = number(&mut errors, "offset", listing.offset, 0, u64::MAX, 0);
        let limit = number(&mut errors, "limit", listing.limit, 1, MAX_USER_PAGE.into(), DEFAULT_USER_PAGE.into());
        fail_on(errors)?;
        let limit = u32::try_from(limit).unwrap_or(MAX_USER_PAGE);
        let page = self.stores.users.search_users(search, offset, limit).await?;
        Ok(ListedUsers { page, offset, limit })
    }

    /// An account; 404 when there is none.
    pub async fn user(&self, id: Uuid) -> Result<User> {
        self.accounts.get(id).await?.ok_or_else(no_such_user)
    }

    /// Creates an account (password policy applies; roles must exist); 409 when the name is
    /// taken.
    pub async fn create_user(&self, actor: Actor<'_>, new: NewAccount) -> Result<User> {
        let mut errors = Vec::new();
        if let Err(problem) = self.accounts.username_rules().check(&new.username) {
            errors.push(field("username", problem));
        }
        if let Some(problem) = self.accounts.password_problem(&new.username, &new.password) {
            errors.push(field("password", &problem));
        }
        if let Some(problem) = new.email.as_deref().and_then(email_problem) {
            errors.push(field("email", problem));
        }
        let roles = normalized(new.roles);
        errors.extend(self.role_errors(&roles).await?);
        fail_on(errors)?;
        let user = self.accounts.create(&new.username, &new.password, new.email, roles).await?;
        let what = Event::UserCreated { by: actor.username, roles: &user.roles };
        self.audit.record(what, Subject::user(user.id, &user.username), Some(actor.client)).await;
        Ok(user)
    }

    /// Changes an account's roles, disabled flag or email.
    ///
    /// Disabling ends every session and remember-me series of the account. A role change is
    /// audited as `role_changed` with the old and new roles, the rest as `user_updated`. 409 when
    /// an admin would remove their own `admin` role or disable themselves.
    pub async fn update_user(&self, actor: Actor<'_>, id: Uuid, patch: UserPatch) -> Result<User> {
        let before = self.user(id).await?;
        let mut patch = patch;
        let mut errors = Vec::new();
        if let Some(problem) = patch.email.as_ref().and_then(|e| e.as_deref()).and_then(email_problem) {
            errors.push(field("email", problem));
        }
        if let Some(roles) = patch.roles.take() {
            let roles = normalized(roles);
            errors.extend(self.role_errors(&roles).await?);
            patch.roles = Some(roles);
        }
        fail_on(errors)?;
        if id == actor.id {
            if patch.roles.as_ref().is_some_and(|roles| !roles.iter().any(|r| r == ADMIN_ROLE)) {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    "you cannot remove your own admin role; another admin must do it",
                ));
            }
            if patch.disabled == Some(true) {
                return Err(Error::new(ErrorKind::Conflict, "you cannot disable your own account"));
            }
        }
        let after = self.stores.users.update_user(id, &patch, self.clock.now()).await?.ok_or_else(no_such_user)?;
        let mut sessions_ended = 0;
        if after.disabled {
            // A disabled account loses every way back in at once: sessions, token families and
            // remember-me series.
            sessions_ended = self.sessions.end_all_access(id, None, None, "user_disabled").await?.sessions;
        }
        // Cached sessions carry the old roles and flag: drop them so they take effect now.
        self.sessions.refresh_user(id).await;

        let subject = Subject::user(after.id, &after.username);
        if before.roles != after.roles {
            let what = Event::UserRolesChanged { by: actor.username, old: &before.roles, new: &after.roles };
            self.audit.record(what, subject, Some(actor.client)).await;
        }
        let disabled_changed = before.disabled != after.disabled;
        let email_changed = before.email != after.email;
        if disabled_changed || email_changed {
            let what = Event::UserUpdated {
                by: actor.username,
                disabled: after.disabled,
                email_changed,
                sessions_ended: after.disabled.then_some(sessions_ended),
            };
            self.audit.record(what, subject, Some(actor.client)).await;
        }
        Ok(after)
    }

    /// Deletes an account with its sessions; 409 for the admin's own account.
    pub async fn delete_user(&self, actor: Actor<'_>, id: Uuid) -> Result<()> {
        if id == actor.id {
            return Err(Error::new(ErrorKind::Conflict, "you cannot delete your own account"));
        }
        let user = self.user(id).await?;
        // Revoked first so the cached sessions die with the rows the store cascades away.
        let sessions_ended = self.sessions.end_all_access(id, None, None, "user_deleted").await?.sessions;
        if !self.stores.users.delete_user(id).await? {
            return Err(no_such_user());
        }
        self.sessions.refresh_user(id).await;
        let what = Event::UserDeleted { by: actor.username, sessions_ended };
        self.audit.record(what, Subject::user(user.id, &user.username), Some(actor.client)).await;
        Ok(())
    }

    /// Ends every session, token family and remember-me series of an account; returns how many
    /// sessions ended.
    pub async fn revoke_sessions(&self, actor: Actor<'_>, id: Uuid) -> Result<usize> {
        let user = self.user(id).await?;
        // Remember-me series too: a cookie would otherwise open a new session on the next visit.
        let ended = self.sessions.end_all_access(id, None, None, "admin_revoked").await?;
        let what = Event::SessionRevoked(Revocation::ByAdmin {
            by: actor.username,
            sessions_ended: ended.sessions,
            remembered_ended: ended.series,
        });
        self.audit.record(what, Subject::user(user.id, &user.username), Some(actor.client)).await;
        Ok(ended.sessions)
    }

    /// Lifts every lockout on an account, from every client, and refills its shared bucket:
    /// here at once, and on every other server within a second (a signal through the store).
    pub async fn unlock(&self, actor: Actor<'_>, id: Uuid) -> Result<()> {
        let user = self.user(id).await?;
        let now = self.clock.now();
        self.stores.signals.send_signal(SignalKind::Unlock, Some(id), now).await?;
        self.limits.unlock(&user.username, now).await?;
        let what = Event::Unlocked { by: actor.username };
        self.audit.record(what, Subject::user(user.id, &user.username), Some(actor.client)).await;
        Ok(())
    }

    /// Every role, by name.
    pub async fn roles(&self) -> Result<Vec<Role>> {
        Ok(self.stores.roles.list_roles().await?)
    }

    /// Creates a role; 422 for a bad name or permission, 409 when the name is taken.
    pub async fn create_role(&self, actor: Actor<'_>, role: Role) -> Result<Role> {
        let mut errors = Vec::new();
        if let Some(problem) = name_problem(&role.name) {
            errors.push(field("name", problem));
        }
        if role.description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
            errors.push(field("description", "must be at most 256 characters"));
        }
        let permissions = normalized(role.permissions);
        errors.extend(permission_errors(&permissions));
        fail_on(errors)?;
        let role = Role { permissions, ..role };
        self.stores.roles.create_role(&role, self.clock.now()).await?;
        let what = Event::RoleCreated { by: actor.username, role: &role.name, permissions: &role.permissions };
        self.audit.record(what, Subject::default(), Some(actor.client)).await;
        Ok(role)
    }

    /// Replaces a role's permissions; 404 for an unknown role. Logged-in holders of the role
    /// see the change on their next request.
    pub async fn set_role_permissions(&self, actor: Actor<'_>, name: &str, permissions: Vec<String>) -> Result<Role> {
        let permissions = normalized(permissions);
        fail_on(permission_errors(&permissions))?;
        let no_such_role = || Error::new(ErrorKind::NotFound, "no such role");
        let before = self.roles().await?.into_iter().find(|r| r.name == name).ok_or_else(no_such_role)?;
        if !self.stores.roles.set_role_permissions(name, &permissions).await? {
            return Err(no_such_role());
        }
        self.refresh_holders(name).await?;
        let what = Event::RolePermissionsChanged {
            by: actor.username,
            role: name,
            old: &before.permissions,
            new: &permissions,
        };
        self.audit.record(what, Subject::default(), Some(actor.client)).await;
        Ok(Role { permissions, ..before })
    }

    /// Drops the cached sessions of every holder of `role`, so new permissions apply at once.
    async fn refresh_holders(&self, role: &str) -> Result<()> {
        let mut offset = 0u64;
        let mut holders = Vec::new();
        loop {
            let page = self.stores.users.search_users(None, offset, HOLDER_SCAN_PAGE).await?;
            holders.extend(page.users.iter().filter(|u| u.roles.iter().any(|r| r == role)).map(|u| u.id));
            let seen = u64::try_from(page.users.len()).unwrap_or(u64::MAX);
            offset = offset.saturating_add(seen);
            if seen < u64::from(HOLDER_SCAN_PAGE) || offset >= page.total {
                self.sessions.refresh_users(&holders).await;
                return Ok(());
            }
        }
    }

    /// Audit rows matching `params`, newest first; 422 naming each bad value.
    pub async fn audit(&self, params: AuditParams<'_>) -> Result<Vec<AuditRecord>> {
        let query = audit_query(params)?;
        self.audit.query(&query).await
    }

    async fn role_errors(&self, roles: &[String]) -> Result<Vec<FieldError>> {
        if roles.is_empty() {
            return Ok(Vec::new());
        }
        let known = self.stores.roles.list_roles().await?;
        Ok(roles
            .iter()
            .filter_map(|role| match name_problem(role) {
                Some(problem) => Some(field("roles", &format!("role names {problem}"))),
                None if !known.iter().any(|k| &k.name == role) => {
                    Some(field("roles", &format!("no role named `{role}`; create it first")))
                }
                None => None,
            })
            .collect())
    }
}

/// The problem with `name` as an audit-log filter: too long or holding control characters.
fn audit_name_problem(name: &str) -> Option<&'static str> {
    if name.chars().count() > MAX_USERNAME_CHARS {
        Some("must be at most 64 characters")
    } else if name.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else {
        None
    }
}

/// Parses audit filters into a store query; 422 naming each bad value.
pub fn audit_query(params: AuditParams<'_>) -> Result<AuditQuery> {
    let mut errors = Vec::new();
    let mut query = AuditQuery::default();
    if let Some(user) = present(params.user) {
        match Uuid::try_parse(user) {
            Ok(id) => query.user_id = Some(id),
            // Not the registration rules: the log also holds names that were refused or that
            // predate them, and an admin must be able to look those up.
            Err(_) => match audit_name_problem(user) {
                Some(problem) => {
                    errors.push(field("user", &format!("must be an account id or a username that {problem}")))
                }
                None => query.username = Some(user.to_owned()),
            },
        }
    }
    if let Some(name) = present(params.event) {
        if name.is_empty() || name.len() > MAX_NAME_CHARS || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            errors.push(field("event", "must be an event name such as `login_ok`"));
        } else {
            query.event = Some(name.to_owned());
        }
    }
    if let Some(since) = present(params.since) {
        match parse_time(since) {
            Some(t) => query.since = Some(t),
            None => errors.push(field("since", "must be an RFC 3339 time or unix seconds")),
        }
    }
    let before = number(&mut errors, "before", params.before, 1, i64::MAX.unsigned_abs(), 0);
    query.before_id = i64::try_from(before).ok().filter(|&id| id > 0);
    let limit = number(&mut errors, "limit", params.limit, 1, MAX_AUDIT_PAGE.into(), DEFAULT_AUDIT_PAGE.into());
    query.limit = u32::try_from(limit).unwrap_or(MAX_AUDIT_PAGE);
    fail_on(errors)?;
    Ok(query)
}

fn permission_errors(permissions: &[String]) -> Vec<FieldError> {
    permissions
        .iter()
        .filter_map(|p| name_problem(p).map(|problem| field("permissions", &format!("permission names {problem}"))))
        .collect()
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    match s.parse::<i64>() {
        Ok(secs) => OffsetDateTime::from_unix_timestamp(secs).ok(),
        Err(_) => OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok(),
    }
}

/// A whole number within `min..=max` (`default` when absent or empty), or a field error.
fn number(errors: &mut Vec<FieldError>, name: &str, raw: Option<&str>, min: u64, max: u64, default: u64) -> u64 {
    let Some(raw) = present(raw) else {
        return default;
    };
    match raw.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => n,
        _ if max == u64::MAX => {
            errors.push(field(name, &format!("must be a whole number of at least {min}")));
            default
        }
        _ => {
            errors.push(field(name, &format!("must be a whole number from {min} to {max}")));
            default
        }
    }
}

/// An empty query value counts as absent (`?user=&event=login_ok`).
fn present(raw: Option<&str>) -> Option<&str> {
    raw.filter(|s| !s.is_empty())
}

fn normalized(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}

fn no_such_user() -> Error {
    Error::new(ErrorKind::NotFound, "no such user")
}

fn field(name: &str, message: &str) -> FieldError {
    FieldError { field: name.into(), message: message.into() }
}

fn fail_on(errors: Vec<FieldError>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::guard::{Admin, RoleName};

    #[test]
    fn admin_role_is_the_one_the_guard_checks() {
        assert_eq!(ADMIN_ROLE, Admin::NAME);
    }

    #[test]
    fn names() {
        assert_eq!(name_problem("posts:publish"), None);
        assert_eq!(name_problem("a.b-c_9"), None);
        assert!(name_problem("").is_some());
        assert!(name_problem("Editor").is_some());
        assert!(name_problem("a b").is_some());
        assert!(name_problem(&"a".repeat(65)).is_some());
    }

    #[test]
    fn audit_filters() {
        let id = Uuid::now_v7().to_string();
        let q = audit_query(AuditParams { user: Some(&id), since: Some("0"), limit: Some("5"), ..Default::default() })
            .expect("valid");
        assert_eq!(q.user_id.map(|u| u.to_string()), Some(id));
        assert_eq!(q.since, Some(OffsetDateTime::UNIX_EPOCH));
        assert_eq!(q.limit, 5);
        let q = audit_query(AuditParams {
            user: Some("alice"),
            event: Some(""),
            since: Some("2024-01-02T03:04:05Z"),
            before: Some("7"),
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(q.username.as_deref(), Some("alice"));
        assert_eq!((q.event, q.before_id, q.limit), (None, Some(7), DEFAULT_AUDIT_PAGE));
        let err = audit_query(AuditParams {
            event: Some("Login"),
            since: Some("yesterday"),
            before: Some("0"),
            limit: Some("1001"),
            ..Default::default()
        })
        .expect_err("invalid");
        let fields: Vec<_> = err.fields().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["event", "since", "before", "limit"]);
    }
}
