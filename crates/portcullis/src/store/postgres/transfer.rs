//! Whole-store reads and exact-copy writes for moving to another backend.

use async_trait::async_trait;

use super::audit::{bind_audit, AUDIT_INSERT, AUDIT_VALUES};
use super::remember::REMEMBER_SELECT;
use super::{classify, PgStore, SESSION_SELECT};
use crate::store::row::{RememberRow, SessionRow};
use crate::store::{AuditRecord, RememberRecord, SessionRecord, StoreResult, Transfer, User};

#[async_trait]
impl Transfer for PgStore {
    async fn all_sessions(&self) -> StoreResult<Vec<SessionRecord>> {
        sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {SESSION_SELECT} FROM sessions ORDER BY created_at, public_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .into_iter()
        .map(SessionRecord::try_from)
        .collect()
    }

    async fn all_remember(&self) -> StoreResult<Vec<RememberRecord>> {
        sqlx::query_as::<_, RememberRow>(&format!("SELECT {REMEMBER_SELECT} FROM remember_tokens ORDER BY selector"))
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(RememberRecord::try_from)
            .collect()
    }

    async fn import_user(&self, user: &User) -> StoreResult<()> {
        self.insert_account(user).await
    }

    async fn import_audit(&self, r: &AuditRecord) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        bind_audit(sqlx::query(&format!("INSERT INTO audit_log ({AUDIT_INSERT}, id) VALUES ({AUDIT_VALUES}, $9)")), r)
            .bind(r.id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        // Move the identity past the copied id and never back, so later appends get larger ids
        // and no id is used twice (as with SQLite's AUTOINCREMENT).
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), GREATEST($1, \
             COALESCE(pg_sequence_last_value(pg_get_serial_sequence('audit_log', 'id')::regclass), 0)))",
        )
        .bind(r.id)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        tx.commit().await.map_err(classify)
    }

    async fn audit_count(&self) -> StoreResult<u64> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log").fetch_one(&self.pool).await.map_err(classify)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
