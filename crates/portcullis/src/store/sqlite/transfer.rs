//! Whole-store reads and exact-copy writes for moving to another backend.

use async_trait::async_trait;

use super::remember::REMEMBER_COLUMNS;
use super::{classify, SqliteStore, SESSION_COLUMNS};
use crate::store::row::{RememberRow, SessionRow};
use crate::store::{AuditRecord, RememberRecord, SessionRecord, StoreResult, Transfer, User};

#[async_trait]
impl Transfer for SqliteStore {
    async fn all_sessions(&self) -> StoreResult<Vec<SessionRecord>> {
        sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions ORDER BY created_at, public_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .into_iter()
        .map(SessionRecord::try_from)
        .collect()
    }

    async fn all_remember(&self) -> StoreResult<Vec<RememberRecord>> {
        sqlx::query_as::<_, RememberRow>(&format!("SELECT {REMEMBER_COLUMNS} FROM remember_tokens ORDER BY selector"))
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
        self.insert_audit(Some(r.id), r).await
    }

    async fn audit_count(&self) -> StoreResult<u64> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log").fetch_one(&self.pool).await.map_err(classify)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
