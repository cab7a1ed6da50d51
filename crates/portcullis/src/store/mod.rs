//! Storage: one trait per capability, the [`Stores`] value that holds them, and the backends.
//!
//! Callers see only small, object-safe traits ([`UserStore`], [`SessionStore`], ...), each held
//! as its own `Arc<dyn ...>` in [`Stores`]; the records they read and write belong to the domain
//! modules ([`crate::account`], [`crate::session`], [`crate::audit`], [`crate::signal`]). The
//! server picks a backend at run time from `store.url`, in one place ([`Backend`]). Both SQL
//! backends share one implementation (`store::sql`) and differ only in a small dialect; every
//! backend must pass the conformance kit ([`testkit`], behind the `testkit` feature). Timestamps
//! cross this boundary as [`OffsetDateTime`] and are kept as unix seconds.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::account::{NewUser, Role, User, UserPage, UserPatch};
use crate::audit::{AuditQuery, AuditRecord};
use crate::auth::challenge::ChallengeRecord;
use crate::auth::totp::{RecoveryCodeRecord, TotpRecord};
use crate::session::remember::RememberRecord;
use crate::session::SessionRecord;
use crate::signal::{SignalKind, SignalRecord};

pub mod postgres;
pub mod sql;
pub mod sqlite;
pub mod usernames;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

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
    /// Every TOTP factor, by account id.
    async fn all_totp(&self) -> StoreResult<Vec<TotpRecord>>;
    /// Every recovery code, by account id then hash.
    async fn all_recovery_codes(&self) -> StoreResult<Vec<RecoveryCodeRecord>>;
    /// Inserts a TOTP factor exactly as given.
    async fn import_totp(&self, record: &TotpRecord) -> StoreResult<()>;
    /// Inserts a recovery code exactly as given.
    async fn import_recovery_code(&self, record: &RecoveryCodeRecord) -> StoreResult<()>;
}

/// Pending login challenges (see `crate::auth::challenge`).
#[async_trait]
pub trait ChallengeStore: Send + Sync {
    /// Stores a new challenge.
    async fn insert_challenge(&self, challenge: &ChallengeRecord) -> StoreResult<()>;
    /// Counts one attempt on the challenge and returns it as it now is; `None` when there is no
    /// such challenge, it has expired at `now`, or it already had `max_attempts`.
    async fn attempt_challenge(
        &self,
        id_hash: &[u8; 32],
        now: OffsetDateTime,
        max_attempts: u32,
    ) -> StoreResult<Option<ChallengeRecord>>;
    /// Ends a challenge; `false` when it was already gone (another request used it first).
    async fn delete_challenge(&self, id_hash: &[u8; 32]) -> StoreResult<bool>;
    /// Deletes challenges past their end; returns how many.
    async fn delete_expired_challenges(&self, now: OffsetDateTime) -> StoreResult<u64>;
}

/// Second factors: TOTP seeds and recovery codes (see `crate::auth::totp`).
#[async_trait]
pub trait FactorStore: Send + Sync {
    /// The account's TOTP factor, confirmed or pending.
    async fn totp(&self, user_id: Uuid) -> StoreResult<Option<TotpRecord>>;
    /// Stores a pending seed, replacing a pending one; `false` (nothing changed) when the
    /// account has a confirmed one.
    async fn put_pending_totp(&self, user_id: Uuid, sealed: &[u8], now: OffsetDateTime) -> StoreResult<bool>;
    /// Takes `step` as the account's last accepted step if it is later than the stored one, in
    /// one statement, so that of two instances given the same code only one accepts it. With
    /// `confirm_at` the factor must be pending and becomes confirmed; without, it must be
    /// confirmed. `false` when refused.
    async fn accept_totp_step(&self, user_id: Uuid, step: i64, confirm_at: Option<OffsetDateTime>)
        -> StoreResult<bool>;
    /// Removes the account's TOTP factor and its recovery codes; `false` when it had none.
    async fn delete_totp(&self, user_id: Uuid) -> StoreResult<bool>;
    /// Replaces the account's recovery codes with these hashes, at once.
    async fn replace_recovery_codes(&self, user_id: Uuid, hashes: &[[u8; 32]], now: OffsetDateTime) -> StoreResult<()>;
    /// Uses the account's unused code with this hash; `false` when there is none (a wrong code,
    /// or one used already, by this request's twin too).
    async fn use_recovery_code(&self, user_id: Uuid, hash: &[u8; 32], now: OffsetDateTime) -> StoreResult<bool>;
    /// How many unused recovery codes the account has.
    async fn recovery_codes_left(&self, user_id: Uuid) -> StoreResult<u32>;
}

/// Health of the backend.
#[async_trait]
pub trait Health: Send + Sync {
    /// Succeeds when the backend answers.
    async fn ping(&self) -> StoreResult<()>;
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

pub(crate) fn to_unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

pub(crate) fn from_unix(secs: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// Every capability of one deployment's storage, each its own trait object.
///
/// A backend implements the traits it can; [`Stores::of`] takes one that implements them all.
/// [`Transfer`] (copying a whole store to another backend) is optional.
#[derive(Clone)]
pub struct Stores {
    /// Accounts.
    pub users: Arc<dyn UserStore>,
    /// Roles and their permissions.
    pub roles: Arc<dyn RoleStore>,
    /// Sessions and refresh-token families.
    pub sessions: Arc<dyn SessionStore>,
    /// Remember-me series.
    pub remember: Arc<dyn RememberStore>,
    /// The audit log.
    pub audit: Arc<dyn AuditStore>,
    /// Signals to every running instance.
    pub signals: Arc<dyn SignalStore>,
    /// Pending login challenges.
    pub challenges: Arc<dyn ChallengeStore>,
    /// Second factors.
    pub factors: Arc<dyn FactorStore>,
    /// Whether the backend answers.
    pub health: Arc<dyn Health>,
    /// Whole-store copies (`portcullis store migrate`); `None` when the backend cannot.
    pub transfer: Option<Arc<dyn Transfer>>,
}

impl Stores {
    /// Every capability from one backend value, `transfer` included.
    pub fn of<B>(backend: B) -> Self
    where
        B: UserStore + RoleStore + SessionStore + RememberStore + AuditStore + SignalStore + ChallengeStore,
        B: FactorStore,
        B: Health + Transfer,
        B: 'static,
    {
        let b = Arc::new(backend);
        Stores {
            users: b.clone(),
            roles: b.clone(),
            sessions: b.clone(),
            remember: b.clone(),
            audit: b.clone(),
            signals: b.clone(),
            challenges: b.clone(),
            factors: b.clone(),
            health: b.clone(),
            transfer: Some(b),
        }
    }

    /// Whole-store copies, or an error saying the backend cannot make them.
    pub fn transfer(&self) -> StoreResult<&dyn Transfer> {
        self.transfer
            .as_deref()
            .ok_or_else(|| StoreError::Backend("this store cannot copy its records to another backend".into()))
    }
}

/// Each capability shows as its name (what is behind it is the backend's business).
macro_rules! debug_as_name {
    ($($capability:ident),*) => {$(
        impl std::fmt::Debug for dyn $capability {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($capability))
            }
        }
    )*};
}
debug_as_name!(
    FactorStore,
    UserStore,
    RoleStore,
    SessionStore,
    RememberStore,
    AuditStore,
    SignalStore,
    ChallengeStore,
    Health,
    Transfer
);

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").field("transfer", &self.transfer.is_some()).finish_non_exhaustive()
    }
}

/// The backend a `store.url` names: the one place a URL is mapped to a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:` URLs; `file` is the database file, `None` for an in-memory database.
    Sqlite {
        /// The database file.
        file: Option<PathBuf>,
    },
    /// `postgres://` or `postgresql://` URLs.
    Postgres,
}

impl Backend {
    /// The backend `url` names; `None` for a scheme no backend reads.
    pub fn of(url: &str) -> Option<Backend> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split('?').next().unwrap_or(path);
            let memory = path.is_empty() || path == ":memory:" || url.contains("mode=memory");
            Some(Backend::Sqlite { file: (!memory).then(|| Path::new(path).to_path_buf()) })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    /// The backend `url` names, or an error naming the URL.
    pub fn named(url: &str) -> StoreResult<Backend> {
        Backend::of(url).ok_or_else(|| StoreError::Backend(format!("unsupported store URL scheme in `{url}`").into()))
    }

    /// Opens the backend at `url` and applies its migrations.
    pub async fn open(&self, url: &str) -> StoreResult<Stores> {
        Ok(match self {
            Backend::Sqlite { .. } => Stores::of(sqlite::SqliteStore::open(url).await?),
            Backend::Postgres => Stores::of(postgres::PgStore::open(url).await?),
        })
    }

    /// Opens the backend at `url` (which re-keys usernames, as every open does) and re-keys
    /// again to report the accounts left unfinished.
    async fn rekey(&self, url: &str) -> StoreResult<usernames::RekeyReport> {
        match self {
            Backend::Sqlite { .. } => usernames::rekey(&sqlite::SqliteStore::open(url).await?).await,
            Backend::Postgres => usernames::rekey(&postgres::PgStore::open(url).await?).await,
        }
    }
}

/// Opens the backend named by `url` (`sqlite:…`, `postgres://…` or `postgresql://…`) and applies
/// its migrations.
pub async fn open(url: &str) -> StoreResult<Stores> {
    Backend::named(url)?.open(url).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        let file = |p: &str| Some(Backend::Sqlite { file: Some(PathBuf::from(p)) });
        assert_eq!(Backend::of("sqlite:///var/lib/p.db"), file("/var/lib/p.db"));
        assert_eq!(Backend::of("sqlite://data/p.db?mode=rwc"), file("data/p.db"));
        assert_eq!(Backend::of("sqlite:p.db"), file("p.db"));
        for memory in ["sqlite::memory:", "sqlite://:memory:", "sqlite:", "sqlite://x.db?mode=memory"] {
            assert_eq!(Backend::of(memory), Some(Backend::Sqlite { file: None }), "{memory}");
        }
        assert_eq!(Backend::of("postgres://u@h/db"), Some(Backend::Postgres));
        assert_eq!(Backend::of("postgresql://u@h/db"), Some(Backend::Postgres));
        for unknown in ["mysql://h/db", "SQLITE:x", "postgres:/h", ""] {
            assert_eq!(Backend::of(unknown), None, "{unknown}");
        }
        assert!(matches!(Backend::named("redis://h"), Err(StoreError::Backend(_))));
    }
}
