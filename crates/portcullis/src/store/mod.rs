//! Storage traits and their backends.
//!
//! Callers see only these small, object-safe traits; the server picks a backend at run time from
//! `store.url`. Every backend must pass the same conformance suite (`store::conformance`).
//! Timestamps cross this boundary as [`OffsetDateTime`] and are kept as unix seconds.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

pub mod postgres;
mod row;
pub mod sqlite;
pub mod usernames;

#[cfg(test)]
mod conformance;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value (e.g. a username) is taken; names what.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The backend cannot be reached.
    #[error("store unreachable: {0}")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Any other backend failure.
    #[error("store error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// UUID v7.
    pub id: Uuid,
    /// As registered (case kept, width-mapped and NFC); unique ignoring case, width and
    /// look-alike letters (see [`crate::username`]).
    pub username: String,
    /// Optional contact address.
    pub email: Option<String>,
    /// Argon2id PHC string, or an imported legacy hash until the next login upgrades it.
    pub password_hash: String,
    /// A disabled user cannot log in.
    pub disabled: bool,
    /// Role names, sorted.
    pub roles: Vec<String>,
    /// Permissions granted by the roles, sorted and deduplicated.
    pub permissions: Vec<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// What it takes to create an account.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Username as typed.
    pub username: String,
    /// Optional email.
    pub email: Option<String>,
    /// Argon2id PHC string, or an imported legacy hash (see `password::recognised_hash`).
    pub password_hash: String,
    /// Initial roles.
    pub roles: Vec<String>,
}

/// The key under which usernames are unique: RFC 8265 UsernameCaseMapped (width-mapped, lower
/// case, NFC); see [`crate::username::key`].
pub fn username_key(username: &str) -> String {
    crate::username::key(username)
}

/// How a session was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A browser session cookie.
    Cookie,
    /// A refresh-token family.
    Token,
}

impl SessionKind {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Cookie => "cookie",
            SessionKind::Token => "token",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cookie" => Some(SessionKind::Cookie),
            "token" => Some(SessionKind::Token),
            _ => None,
        }
    }
}

/// A stored session. The client holds a 256-bit secret; only its SHA-256 (`id_hash`) is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the client's secret.
    pub id_hash: [u8; 32],
    /// Public identifier, safe to show and to use in URLs.
    pub public_id: Uuid,
    /// Owner.
    pub user_id: Uuid,
    /// Cookie or token family.
    pub kind: SessionKind,
    /// Login time.
    pub created_at: OffsetDateTime,
    /// Last persisted activity (written at most once per touch interval).
    pub last_seen_at: OffsetDateTime,
    /// Absolute deadline.
    pub expires_at: OffsetDateTime,
    /// Fresh (recently authenticated) until.
    pub fresh_until: OffsetDateTime,
    /// Created with remember-me.
    pub remember: bool,
    /// Client address at login.
    pub ip: Option<String>,
    /// User agent at login.
    pub user_agent: Option<String>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
    /// Refresh families: the generation whose token is current.
    pub refresh_generation: i64,
    /// Refresh families: when the current generation replaced the previous one.
    pub rotated_at: Option<OffsetDateTime>,
    /// Session protection: hash of the client's user agent and address prefix at login.
    pub fingerprint: Option<String>,
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New email (`Some(None)` clears it).
    pub email: Option<Option<String>>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// Replace the roles.
    pub roles: Option<Vec<String>>,
}

/// A page of accounts.
#[derive(Debug, Clone)]
pub struct UserPage {
    /// Accounts on this page, by username.
    pub users: Vec<User>,
    /// Accounts matching the search in all.
    pub total: u64,
}

/// A named role and the permissions it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Unique name.
    pub name: String,
    /// What the role is for.
    pub description: Option<String>,
    /// Permission names, sorted.
    pub permissions: Vec<String>,
}

/// A remember-me series. The cookie holds `selector:validator`; the selector stays for the
/// series' life, the validator changes on every use and only its SHA-256 is kept. A validator
/// that was already replaced means the cookie was copied: the series is stolen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RememberRecord {
    /// Public lookup key of the series.
    pub selector: String,
    /// Owner.
    pub user_id: Uuid,
    /// SHA-256 of the current validator.
    pub validator_hash: [u8; 32],
    /// SHA-256 of the validator it replaced, accepted for a short grace after rotation so two
    /// tabs restoring at once are not taken for theft.
    pub previous_hash: Option<[u8; 32]>,
    /// When the validator last changed.
    pub rotated_at: Option<OffsetDateTime>,
    /// Series start.
    pub created_at: OffsetDateTime,
    /// Series end.
    pub expires_at: OffsetDateTime,
}

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

/// Accounts.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates an account; [`StoreError::Conflict`] when the username is taken (ignoring case).
    async fn create_user(&self, new: NewUser, now: OffsetDateTime) -> StoreResult<User>;
    /// Looks an account up by id.
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>>;
    /// Looks an account up by username, ignoring case.
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    /// Replaces a password hash; `false` when there is no such user.
    async fn set_password_hash(&self, id: Uuid, hash: &str, now: OffsetDateTime) -> StoreResult<bool>;
    /// All accounts, by username.
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// A page of accounts whose username or email contains `search` (ignoring case), by username.
    async fn search_users(&self, search: Option<&str>, offset: u64, limit: u32) -> StoreResult<UserPage>;
    /// Applies `patch`; `None` when there is no such user.
    async fn update_user(&self, id: Uuid, patch: &UserPatch, now: OffsetDateTime) -> StoreResult<Option<User>>;
    /// Deletes an account with its sessions and remember-me series; `false` when absent.
    async fn delete_user(&self, id: Uuid) -> StoreResult<bool>;
}

/// Roles and their permissions.
#[async_trait]
pub trait RoleStore: Send + Sync {
    /// Every role, by name.
    async fn list_roles(&self) -> StoreResult<Vec<Role>>;
    /// Creates a role; [`StoreError::Conflict`] when the name is taken.
    async fn create_role(&self, role: &Role, now: OffsetDateTime) -> StoreResult<()>;
    /// Replaces a role's permissions; `false` when there is no such role.
    async fn set_role_permissions(&self, name: &str, permissions: &[String]) -> StoreResult<bool>;
}

/// Remember-me series.
#[async_trait]
pub trait RememberStore: Send + Sync {
    /// Stores a new series.
    async fn insert_remember(&self, record: &RememberRecord) -> StoreResult<()>;
    /// A series by its selector.
    async fn remember_by_selector(&self, selector: &str) -> StoreResult<Option<RememberRecord>>;
    /// Replaces the validator if it is still `current`; `false` when another request got there
    /// first.
    async fn rotate_remember(
        &self,
        selector: &str,
        current: &[u8; 32],
        next: &[u8; 32],
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Ends one series; `false` when absent.
    async fn delete_remember(&self, selector: &str) -> StoreResult<bool>;
    /// Ends every series of a user but `keep` (a selector); returns how many.
    async fn delete_user_remember(&self, user_id: Uuid, keep: Option<&str>) -> StoreResult<u64>;
}

/// The audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends a row.
    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<()>;
    /// Rows matching `query`, newest first.
    async fn query_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
    /// Deletes rows older than `before`; returns how many.
    async fn delete_audit_before(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// Sessions.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session.
    async fn insert_session(&self, session: &SessionRecord) -> StoreResult<()>;
    /// A session by the hash of its secret, revoked or not.
    async fn session_by_hash(&self, id_hash: &[u8; 32]) -> StoreResult<Option<SessionRecord>>;
    /// Records activity.
    async fn touch_session(&self, id_hash: &[u8; 32], last_seen_at: OffsetDateTime) -> StoreResult<()>;
    /// Revokes one session; `false` when it did not exist or was already revoked.
    async fn revoke_session(&self, id_hash: &[u8; 32], at: OffsetDateTime, reason: &str) -> StoreResult<bool>;
    /// Revokes every live session of a user but `keep`; returns the hashes revoked.
    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&[u8; 32]>,
        at: OffsetDateTime,
        reason: &str,
    ) -> StoreResult<Vec<[u8; 32]>>;
    /// A user's sessions that are neither revoked nor past their absolute deadline, oldest first.
    async fn user_sessions(&self, user_id: Uuid, now: OffsetDateTime) -> StoreResult<Vec<SessionRecord>>;
    /// Gives a live session a new secret (its hash `new`) and sets its freshness; `false` when
    /// it is gone or revoked.
    async fn rekey_session(&self, old: &[u8; 32], new: &[u8; 32], fresh_until: OffsetDateTime) -> StoreResult<bool>;
    /// Sets how long a live session counts as fresh; `false` when it is gone or revoked.
    async fn set_fresh_until(&self, id_hash: &[u8; 32], fresh_until: OffsetDateTime) -> StoreResult<bool>;
    /// Moves a refresh family from generation `from` to `from + 1`; `false` when it is no
    /// longer at `from` (another request rotated it first) or is revoked.
    async fn rotate_refresh(&self, id_hash: &[u8; 32], from: i64, at: OffsetDateTime) -> StoreResult<bool>;
    /// Deletes sessions past `expires_at`, cookie sessions idle since before `cookie_idle_before`,
    /// token families idle since before `token_idle_before`, and sessions revoked before the
    /// earlier of the two.
    async fn delete_expired(
        &self,
        now: OffsetDateTime,
        cookie_idle_before: OffsetDateTime,
        token_idle_before: OffsetDateTime,
    ) -> StoreResult<u64>;
    /// Deletes remember-me series past their end.
    async fn delete_expired_remember(&self, now: OffsetDateTime) -> StoreResult<u64>;
}

/// Whole-store reads and exact-copy writes, for moving every record from one backend to another.
///
/// Users and roles are read with [`UserStore::list_users`] and [`RoleStore::list_roles`], audit
/// rows with [`AuditStore::query_audit`]; sessions and remember-me series are written with
/// [`SessionStore::insert_session`] and [`RememberStore::insert_remember`], which already keep
/// every field. Not carried over: a role's creation time and a session's revocation reason (no
/// record type holds them, and nothing reads them back).
#[async_trait]
pub trait Transfer: Send + Sync {
    /// Every session, revoked or expired included, by creation time then public id.
    async fn all_sessions(&self) -> StoreResult<Vec<SessionRecord>>;
    /// Every remember-me series, by selector.
    async fn all_remember(&self) -> StoreResult<Vec<RememberRecord>>;
    /// Inserts an account exactly as given: id, timestamps, disabled flag and roles
    /// (`permissions` is ignored; roles grant them). [`StoreError::Conflict`] `"user"` when the id
    /// is taken, `"username"` when the name is (ignoring case).
    async fn import_user(&self, user: &User) -> StoreResult<()>;
    /// Inserts an audit row keeping its id; later appends get larger ids.
    /// [`StoreError::Conflict`] when the id is taken.
    async fn import_audit(&self, record: &AuditRecord) -> StoreResult<()>;
    /// How many audit rows there are.
    async fn audit_count(&self) -> StoreResult<u64>;
}

/// Health of the backend.
#[async_trait]
pub trait Health: Send + Sync {
    /// Succeeds when the backend answers.
    async fn ping(&self) -> StoreResult<()>;
}

/// Everything the server needs from one backend.
pub trait Store:
    UserStore + SessionStore + RoleStore + RememberStore + AuditStore + SignalStore + Health + Transfer
{
}

impl<T: UserStore + SessionStore + RoleStore + RememberStore + AuditStore + SignalStore + Health + Transfer> Store
    for T
{
}

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

/// Signals from one process to every running instance (see `crate::signal`).
#[async_trait]
pub trait SignalStore: Send + Sync {
    /// Appends a signal.
    async fn send_signal(&self, kind: SignalKind, user_id: Option<Uuid>, at: OffsetDateTime) -> StoreResult<()>;
    /// Signals numbered above `after`, lowest first, at most `limit`. A number may become
    /// visible after a higher one (concurrent writers), so readers look back a little.
    async fn signals_after(&self, after: i64, limit: u32) -> StoreResult<Vec<SignalRecord>>;
    /// The highest signal number, 0 when there is none.
    async fn last_signal(&self) -> StoreResult<i64>;
    /// Deletes signals sent before `before`; returns how many.
    async fn delete_signals_before(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// `t` in Unix milliseconds, rounded up (a signal never predates what caused it).
pub(crate) fn to_unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from((t.unix_timestamp_nanos() + 999_999).div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

pub(crate) fn from_unix_ms(ms: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// A stored signal row: (seq, kind, user id text, at_ms).
pub(crate) fn signal_from_row(
    (seq, kind, user_id, at_ms): (i64, String, Option<String>, i64),
) -> StoreResult<SignalRecord> {
    let user_id = user_id.map(|id| Uuid::parse_str(&id)).transpose().map_err(|e| StoreError::Backend(Box::new(e)))?;
    Ok(SignalRecord { seq, kind: SignalKind::parse(&kind), user_id, at: from_unix_ms(at_ms)? })
}

/// Opens the backend named by `url` (`sqlite:…`, `postgres://…` or `postgresql://…`) and applies
/// its migrations.
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(postgres::PgStore::open(url).await?))
    } else {
        Err(StoreError::Backend(format!("unsupported store URL scheme in `{url}`").into()))
    }
}

pub(crate) fn to_unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

pub(crate) fn from_unix(secs: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| StoreError::Backend(Box::new(e)))
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}
