//! Storage traits and their backends.
//!
//! Callers see only these small, object-safe traits; the server picks a backend at run time from
//! `store.url`. Every backend must pass the same conformance suite (`store::conformance`).
//! Timestamps cross this boundary as [`OffsetDateTime`] and are kept as unix seconds.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

pub mod sqlite;

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
    /// As registered (case kept); unique ignoring case.
    pub username: String,
    /// Optional contact address.
    pub email: Option<String>,
    /// PHC string.
    pub password_hash: String,
    /// A disabled user cannot log in.
    pub disabled: bool,
    /// Role names, sorted.
    pub roles: Vec<String>,
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
    /// PHC string.
    pub password_hash: String,
    /// Initial roles.
    pub roles: Vec<String>,
}

/// The key under which usernames are unique: case-insensitive.
pub fn username_key(username: &str) -> String {
    username.to_lowercase()
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
    /// Revokes every live session of a user; returns the hashes revoked.
    async fn revoke_user_sessions(&self, user_id: Uuid, at: OffsetDateTime, reason: &str)
        -> StoreResult<Vec<[u8; 32]>>;
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
}

/// Health of the backend.
#[async_trait]
pub trait Health: Send + Sync {
    /// Succeeds when the backend answers.
    async fn ping(&self) -> StoreResult<()>;
}

/// Everything the server needs from one backend.
pub trait Store: UserStore + SessionStore + Health {}

impl<T: UserStore + SessionStore + Health> Store for T {}

/// Opens the backend named by `url` and applies its migrations.
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(sqlite::SqliteStore::open(url).await?))
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
