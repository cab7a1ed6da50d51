//! Remember-me series.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{classify, SqliteStore};
use crate::store::row::RememberRow;
use crate::store::{to_unix, RememberRecord, RememberStore, StoreResult};

pub(super) const REMEMBER_COLUMNS: &str =
    "selector, user_id, validator_hash, previous_hash, rotated_at, created_at, expires_at";

#[async_trait]
impl RememberStore for SqliteStore {
    async fn insert_remember(&self, r: &RememberRecord) -> StoreResult<()> {
        sqlx::query(&format!("INSERT INTO remember_tokens ({REMEMBER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"))
            .bind(&r.selector)
            .bind(r.user_id.to_string())
            .bind(&r.validator_hash[..])
            .bind(r.previous_hash.as_ref().map(|h| &h[..]))
            .bind(r.rotated_at.map(to_unix))
            .bind(to_unix(r.created_at))
            .bind(to_unix(r.expires_at))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn remember_by_selector(&self, selector: &str) -> StoreResult<Option<RememberRecord>> {
        sqlx::query_as::<_, RememberRow>(&format!("SELECT {REMEMBER_COLUMNS} FROM remember_tokens WHERE selector = ?"))
            .bind(selector)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(RememberRecord::try_from)
            .transpose()
    }

    async fn rotate_remember(
        &self,
        selector: &str,
        current: &[u8; 32],
        next: &[u8; 32],
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE remember_tokens SET previous_hash = validator_hash, validator_hash = ?, rotated_at = ? \
             WHERE selector = ? AND validator_hash = ?",
        )
        .bind(&next[..])
        .bind(to_unix(at))
        .bind(selector)
        .bind(&current[..])
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_remember(&self, selector: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM remember_tokens WHERE selector = ?")
            .bind(selector)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_user_remember(&self, user_id: Uuid, keep: Option<&str>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM remember_tokens WHERE user_id = ? AND (? IS NULL OR selector <> ?)")
            .bind(user_id.to_string())
            .bind(keep)
            .bind(keep)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }
}
