//! The Postgres backend: the durable store shared by many instances (migrations applied at open).
//!
//! Queries mirror the SQLite backend one for one, so the two behave the same under the
//! conformance suite. Ids are `uuid` columns bound as text with a `::uuid` cast and read back
//! with `::text`; times are unix seconds in `bigint`, as on SQLite.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::row::{conflict_subject, contains_pattern, new_account, SessionRow, UserRow, LOOKALIKE};
use super::{
    to_unix, username_key, Health, NewUser, SessionRecord, SessionStore, StoreError, StoreResult, User, UserPage,
    UserPatch, UserStore,
};
use crate::store::usernames::RekeyRows as _;

mod audit;
mod remember;
mod roles;
mod signals;
#[doc(hidden)]
pub mod testing;
mod transfer;
mod usernames;

/// Postgres-backed store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…`) and migrates it;
    /// [`StoreError::Unreachable`] when the server does not answer within the acquire timeout.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url).map_err(backend)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options)
            .await
            .map_err(classify)?;
        // Concurrent opens are safe: sqlx holds an advisory lock while it migrates.
        sqlx::migrate!("migrations/postgres").run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => classify(e),
            other => backend(other),
        })?;
        let store = Self { pool };
        crate::store::usernames::rekey(&store).await?;
        Ok(store)
    }

    /// Closes every connection; later calls fail as unreachable.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn roles_of(&self, id: Uuid) -> StoreResult<Vec<String>> {
        sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1::uuid ORDER BY role")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(classify)
    }

    async fn permissions_of(&self, id: Uuid) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT DISTINCT p.permission FROM user_roles r JOIN role_permissions p ON p.role = r.role \
             WHERE r.user_id = $1::uuid ORDER BY p.permission",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(classify)
    }

    async fn complete(&self, row: UserRow) -> StoreResult<User> {
        let mut user = User::try_from(row)?;
        user.roles = self.roles_of(user.id).await?;
        user.permissions = self.permissions_of(user.id).await?;
        Ok(user)
    }

    /// Inserts an account with its roles, in one transaction.
    async fn insert_account(&self, user: &User) -> StoreResult<()> {
        match self.insert_account_once(user).await {
            // A name that is taken also has a taken skeleton; which index the database reports
            // first is its choice, so say "username" whenever the name itself is taken.
            Err(StoreError::Conflict(LOOKALIKE)) if self.key_holder(&username_key(&user.username)).await?.is_some() => {
                Err(StoreError::Conflict("username"))
            }
            done => done,
        }
    }

    async fn insert_account_once(&self, user: &User) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        sqlx::query(
            "INSERT INTO users (id, username, username_key, username_skeleton, email, password_hash, disabled, \
             created_at, updated_at) VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(user.id.to_string())
        .bind(&user.username)
        .bind(username_key(&user.username))
        // Security: unique, so no account can be registered that looks like an existing one.
        .bind(crate::username::skeleton(&user.username))
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(user.disabled)
        .bind(to_unix(user.created_at))
        .bind(to_unix(user.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        for role in &user.roles {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1::uuid, $2) ON CONFLICT DO NOTHING")
                .bind(user.id.to_string())
                .bind(role)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }

    async fn with_roles(&self, row: Option<UserRow>) -> StoreResult<Option<User>> {
        match row {
            Some(row) => Ok(Some(self.complete(row).await?)),
            None => Ok(None),
        }
    }

    async fn all_with_roles(&self, rows: Vec<UserRow>) -> StoreResult<Vec<User>> {
        let mut users = Vec::with_capacity(rows.len());
        for row in rows {
            users.push(self.complete(row).await?);
        }
        Ok(users)
    }
}

const USER_COLUMNS: &str = "id::text AS id, username, email, password_hash, disabled, created_at, updated_at";
/// Column names, for inserts.
const SESSION_COLUMNS: &str = "id_hash, public_id, user_id, kind, created_at, last_seen_at, expires_at, \
     fresh_until, remember, ip, user_agent, revoked_at, refresh_generation, rotated_at, fingerprint";
/// The same columns as a select list, ids as text.
const SESSION_SELECT: &str = "id_hash, public_id::text AS public_id, user_id::text AS user_id, kind, created_at, \
     last_seen_at, expires_at, fresh_until, remember, ip, user_agent, revoked_at, refresh_generation, rotated_at, \
     fingerprint";

pub(super) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Lost or refused connections are `Unreachable` (the caller may retry or answer 503); unique
/// violations are `Conflict`, named after the table (or the username).
pub(super) fn classify(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            StoreError::Unreachable(Box::new(e))
        }
        sqlx::Error::Database(db)
            if db.is_unique_violation() && db.constraint() == Some("users_username_skeleton_key") =>
        {
            StoreError::Conflict(LOOKALIKE)
        }
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(conflict_subject(
            db.table().unwrap_or_default(),
            db.constraint() == Some("users_username_key_key"),
        )),
        // Class 08: connection exception; 57P01–57P03: the server is shutting down or starting.
        sqlx::Error::Database(db)
            if db.code().is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")) =>
        {
            StoreError::Unreachable(Box::new(sqlx::Error::Database(db)))
        }
        other => backend(other),
    }
}

#[async_trait]
impl UserStore for PgStore {
    async fn create_user(&self, new: NewUser, now: OffsetDateTime) -> StoreResult<User> {
        let mut user = new_account(new, now)?;
        self.insert_account(&user).await?;
        user.permissions = self.permissions_of(user.id).await?;
        Ok(user)
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        let row = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1::uuid"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        self.with_roles(row).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        // The old key first: an account the re-keying left with it is found by its exact name.
        let [legacy, key] = crate::username::lookup_keys(username);
        let row = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username_key IN ($1, $2) \
             ORDER BY username_key = $1 DESC LIMIT 1"
        ))
        .bind(legacy)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        self.with_roles(row).await
    }

    async fn set_password_hash(&self, id: Uuid, hash: &str, now: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3::uuid")
            .bind(hash)
            .bind(to_unix(now))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY username_key"))
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        self.all_with_roles(rows).await
    }

    async fn search_users(&self, search: Option<&str>, offset: u64, limit: u32) -> StoreResult<UserPage> {
        let pattern = contains_pattern(search);
        let filter = "($1::text IS NULL OR username_key LIKE $1 ESCAPE '\\' OR lower(email) LIKE $1 ESCAPE '\\')";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM users WHERE {filter}"))
            .bind(&pattern)
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        let rows = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE {filter} ORDER BY username_key LIMIT $2 OFFSET $3"
        ))
        .bind(&pattern)
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        let users = self.all_with_roles(rows).await?;
        Ok(UserPage { users, total: u64::try_from(total).unwrap_or(0) })
    }

    async fn update_user(&self, id: Uuid, patch: &UserPatch, now: OffsetDateTime) -> StoreResult<Option<User>> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let done = sqlx::query(
            "UPDATE users SET updated_at = $1, email = CASE WHEN $2::boolean THEN $3::text ELSE email END, \
             disabled = COALESCE($4::boolean, disabled) WHERE id = $5::uuid",
        )
        .bind(to_unix(now))
        .bind(patch.email.is_some())
        .bind(patch.email.clone().flatten())
        .bind(patch.disabled)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        if let Some(roles) = &patch.roles {
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1::uuid")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            for role in roles {
                sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1::uuid, $2) ON CONFLICT DO NOTHING")
                    .bind(id.to_string())
                    .bind(role)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
            }
        }
        tx.commit().await.map_err(classify)?;
        self.user_by_id(id).await
    }

    async fn delete_user(&self, id: Uuid) -> StoreResult<bool> {
        // Sessions, roles and remember-me series go with the account (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM users WHERE id = $1::uuid")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl SessionStore for PgStore {
    async fn insert_session(&self, s: &SessionRecord) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) \
             VALUES ($1, $2::uuid, $3::uuid, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(&s.id_hash[..])
        .bind(s.public_id.to_string())
        .bind(s.user_id.to_string())
        .bind(s.kind.as_str())
        .bind(to_unix(s.created_at))
        .bind(to_unix(s.last_seen_at))
        .bind(to_unix(s.expires_at))
        .bind(to_unix(s.fresh_until))
        .bind(s.remember)
        .bind(&s.ip)
        .bind(&s.user_agent)
        .bind(s.revoked_at.map(to_unix))
        .bind(s.refresh_generation)
        .bind(s.rotated_at.map(to_unix))
        .bind(&s.fingerprint)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn session_by_hash(&self, id_hash: &[u8; 32]) -> StoreResult<Option<SessionRecord>> {
        sqlx::query_as::<_, SessionRow>(&format!("SELECT {SESSION_SELECT} FROM sessions WHERE id_hash = $1"))
            .bind(&id_hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(SessionRecord::try_from)
            .transpose()
    }

    async fn touch_session(&self, id_hash: &[u8; 32], last_seen_at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id_hash = $2")
            .bind(to_unix(last_seen_at))
            .bind(&id_hash[..])
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn revoke_session(&self, id_hash: &[u8; 32], at: OffsetDateTime, reason: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id_hash = $3 AND revoked_at IS NULL",
        )
        .bind(to_unix(at))
        .bind(reason)
        .bind(&id_hash[..])
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&[u8; 32]>,
        at: OffsetDateTime,
        reason: &str,
    ) -> StoreResult<Vec<[u8; 32]>> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE user_id = $3::uuid \
             AND revoked_at IS NULL AND ($4::bytea IS NULL OR id_hash <> $4) RETURNING id_hash",
        )
        .bind(to_unix(at))
        .bind(reason)
        .bind(user_id.to_string())
        .bind(keep.map(|k| &k[..]))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        Ok(rows.into_iter().filter_map(|h| h.try_into().ok()).collect())
    }

    async fn user_sessions(&self, user_id: Uuid, now: OffsetDateTime) -> StoreResult<Vec<SessionRecord>> {
        sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {SESSION_SELECT} FROM sessions WHERE user_id = $1::uuid AND revoked_at IS NULL \
             AND expires_at > $2 ORDER BY created_at, public_id"
        ))
        .bind(user_id.to_string())
        .bind(to_unix(now))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .into_iter()
        .map(SessionRecord::try_from)
        .collect()
    }

    async fn rekey_session(&self, old: &[u8; 32], new: &[u8; 32], fresh_until: OffsetDateTime) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE sessions SET id_hash = $1, fresh_until = $2 WHERE id_hash = $3 AND revoked_at IS NULL")
                .bind(&new[..])
                .bind(to_unix(fresh_until))
                .bind(&old[..])
                .execute(&self.pool)
                .await
                .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_fresh_until(&self, id_hash: &[u8; 32], fresh_until: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE sessions SET fresh_until = $1 WHERE id_hash = $2 AND revoked_at IS NULL")
            .bind(to_unix(fresh_until))
            .bind(&id_hash[..])
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn rotate_refresh(&self, id_hash: &[u8; 32], from: i64, at: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET refresh_generation = refresh_generation + 1, rotated_at = $1, \
             last_seen_at = GREATEST(last_seen_at, $1) \
             WHERE id_hash = $2 AND refresh_generation = $3 AND revoked_at IS NULL",
        )
        .bind(to_unix(at))
        .bind(&id_hash[..])
        .bind(from)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_expired(
        &self,
        now: OffsetDateTime,
        cookie_idle_before: OffsetDateTime,
        token_idle_before: OffsetDateTime,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM sessions WHERE expires_at <= $1 \
             OR (kind = 'cookie' AND last_seen_at < $2) OR (kind = 'token' AND last_seen_at < $3) \
             OR revoked_at < $4",
        )
        .bind(to_unix(now))
        .bind(to_unix(cookie_idle_before))
        .bind(to_unix(token_idle_before))
        .bind(to_unix(cookie_idle_before.min(token_idle_before)))
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected())
    }

    async fn delete_expired_remember(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM remember_tokens WHERE expires_at <= $1")
            .bind(to_unix(now))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl Health for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(classify)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::testing::TempDatabase;
    use super::*;

    #[tokio::test]
    async fn a_dead_server_is_unreachable_at_open() {
        let started = Instant::now();
        let opened = PgStore::open("postgres://postgres@127.0.0.1:1/postgres").await;
        assert!(matches!(opened, Err(StoreError::Unreachable(_))), "{opened:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "gives up after the acquire timeout");
    }

    #[tokio::test]
    async fn a_closed_pool_is_unreachable() {
        let db = TempDatabase::create().await.expect("temporary database");
        let store = PgStore::open(&db.url).await.expect("open");
        store.ping().await.expect("ping");
        store.close().await;
        assert!(matches!(store.ping().await, Err(StoreError::Unreachable(_))));
        assert!(matches!(store.user_by_id(Uuid::now_v7()).await, Err(StoreError::Unreachable(_))));
    }

    #[tokio::test]
    async fn reopening_keeps_data_and_both_schemes_open() {
        let db = TempDatabase::create().await.expect("temporary database");
        let first = crate::store::open(&db.url).await.expect("open");
        let new = NewUser { username: "kim".into(), email: None, password_hash: "h".into(), roles: vec![] };
        first.create_user(new, OffsetDateTime::UNIX_EPOCH).await.expect("create");
        let url = db.url.replacen("postgres://", "postgresql://", 1);
        let second = crate::store::open(&url).await.expect("open again: migrations already applied");
        assert!(second.user_by_username("KIM").await.expect("lookup").is_some());
    }
}
