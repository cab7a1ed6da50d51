//! The embedded SQLite backend (WAL, migrations applied at open).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
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
mod transfer;
mod usernames;

/// SQLite-backed store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `url` and migrates it.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a committed login or revocation survives a crash of this process;
            // FULL would also cover power loss at half the write rate (docs/configuration.md).
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // An in-memory database exists per connection, so it gets exactly one.
        let max = if url.contains(":memory:") { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(classify)?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await.map_err(|e| StoreError::Backend(Box::new(e)))?;
        let store = Self { pool };
        crate::store::usernames::rekey(&store).await?;
        Ok(store)
    }

    /// Closes every connection; later calls fail as unreachable.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn roles_of(&self, id: Uuid) -> StoreResult<Vec<String>> {
        sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = ? ORDER BY role")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(classify)
    }

    async fn permissions_of(&self, id: Uuid) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT DISTINCT p.permission FROM user_roles r JOIN role_permissions p ON p.role = r.role \
             WHERE r.user_id = ? ORDER BY p.permission",
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
             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            sqlx::query("INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?, ?)")
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

const USER_COLUMNS: &str = "id, username, email, password_hash, disabled, created_at, updated_at";
pub(super) const SESSION_COLUMNS: &str = "id_hash, public_id, user_id, kind, created_at, last_seen_at, expires_at, \
     fresh_until, remember, ip, user_agent, revoked_at, refresh_generation, rotated_at, fingerprint";

pub(super) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

pub(super) fn classify(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            StoreError::Unreachable(Box::new(e))
        }
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            // SQLite names the columns only in the message: "UNIQUE constraint failed: users.id".
            let columns = db.message().rsplit(": ").next().unwrap_or_default();
            let table = columns.split('.').next().unwrap_or_default();
            if columns.starts_with("users.username_skeleton") {
                return StoreError::Conflict(LOOKALIKE);
            }
            StoreError::Conflict(conflict_subject(table, columns.starts_with("users.username_key")))
        }
        other => backend(other),
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, new: NewUser, now: OffsetDateTime) -> StoreResult<User> {
        let mut user = new_account(new, now)?;
        self.insert_account(&user).await?;
        user.permissions = self.permissions_of(user.id).await?;
        Ok(user)
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        let row = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
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
            "SELECT {USER_COLUMNS} FROM users WHERE username_key IN (?1, ?2) \
             ORDER BY username_key = ?1 DESC LIMIT 1"
        ))
        .bind(legacy)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        self.with_roles(row).await
    }

    async fn set_password_hash(&self, id: Uuid, hash: &str, now: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?")
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
        let filter = "(?1 IS NULL OR username_key LIKE ?1 ESCAPE '\\' OR lower(email) LIKE ?1 ESCAPE '\\')";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM users WHERE {filter}"))
            .bind(&pattern)
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        let rows = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE {filter} ORDER BY username_key LIMIT ?2 OFFSET ?3"
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
            "UPDATE users SET updated_at = ?, \
             email = CASE WHEN ? THEN ? ELSE email END, disabled = COALESCE(?, disabled) WHERE id = ?",
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
            sqlx::query("DELETE FROM user_roles WHERE user_id = ?")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            for role in roles {
                sqlx::query("INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?, ?)")
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
        let done = sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, s: &SessionRecord) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
        sqlx::query_as::<_, SessionRow>(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = ?"))
            .bind(&id_hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(SessionRecord::try_from)
            .transpose()
    }

    async fn touch_session(&self, id_hash: &[u8; 32], last_seen_at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id_hash = ?")
            .bind(to_unix(last_seen_at))
            .bind(&id_hash[..])
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn revoke_session(&self, id_hash: &[u8; 32], at: OffsetDateTime, reason: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id_hash = ? AND revoked_at IS NULL",
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
            "UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at IS NULL \
             AND (? IS NULL OR id_hash <> ?) RETURNING id_hash",
        )
        .bind(to_unix(at))
        .bind(reason)
        .bind(user_id.to_string())
        .bind(keep.map(|k| &k[..]))
        .bind(keep.map(|k| &k[..]))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        Ok(rows.into_iter().filter_map(|h| h.try_into().ok()).collect())
    }

    async fn user_sessions(&self, user_id: Uuid, now: OffsetDateTime) -> StoreResult<Vec<SessionRecord>> {
        sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? \
             ORDER BY created_at, public_id"
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
            sqlx::query("UPDATE sessions SET id_hash = ?, fresh_until = ? WHERE id_hash = ? AND revoked_at IS NULL")
                .bind(&new[..])
                .bind(to_unix(fresh_until))
                .bind(&old[..])
                .execute(&self.pool)
                .await
                .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_fresh_until(&self, id_hash: &[u8; 32], fresh_until: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE sessions SET fresh_until = ? WHERE id_hash = ? AND revoked_at IS NULL")
            .bind(to_unix(fresh_until))
            .bind(&id_hash[..])
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn rotate_refresh(&self, id_hash: &[u8; 32], from: i64, at: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET refresh_generation = refresh_generation + 1, rotated_at = ?, \
             last_seen_at = MAX(last_seen_at, ?) WHERE id_hash = ? AND refresh_generation = ? AND revoked_at IS NULL",
        )
        .bind(to_unix(at))
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
            "DELETE FROM sessions WHERE expires_at <= ? \
             OR (kind = 'cookie' AND last_seen_at < ?) OR (kind = 'token' AND last_seen_at < ?) \
             OR revoked_at < ?",
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
        let done = sqlx::query("DELETE FROM remember_tokens WHERE expires_at <= ?")
            .bind(to_unix(now))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl Health for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(classify)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings docs/configuration.md states, read back from a live connection.
    #[tokio::test]
    async fn every_connection_has_the_stated_settings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&format!("sqlite://{}", dir.path().join("s.db").display())).await.expect("open");
        let mut conn = store.pool.acquire().await.expect("connection");
        let text = |q| sqlx::query_scalar::<_, String>(q);
        let number = |q| sqlx::query_scalar::<_, i64>(q);
        assert_eq!(text("PRAGMA journal_mode").fetch_one(&mut *conn).await.expect("read"), "wal");
        // 1 = NORMAL: in WAL mode a commit survives a crash of the server process (tested with
        // kill -9 in the CLI tests); see docs/configuration.md for power loss and FULL.
        assert_eq!(number("PRAGMA synchronous").fetch_one(&mut *conn).await.expect("read"), 1);
        assert_eq!(number("PRAGMA foreign_keys").fetch_one(&mut *conn).await.expect("read"), 1);
        assert_eq!(number("PRAGMA busy_timeout").fetch_one(&mut *conn).await.expect("read"), 5_000);
    }
}
