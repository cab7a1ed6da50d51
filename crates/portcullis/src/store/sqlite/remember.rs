//! Remember-me series.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{classify, parse_uuid, SqliteStore};
use crate::store::{from_unix, to_unix, RememberRecord, RememberStore, StoreError, StoreResult};

fn hash32(bytes: Vec<u8>) -> StoreResult<[u8; 32]> {
    bytes.try_into().map_err(|_| StoreError::Backend("remember-me hash is not 32 bytes".into()))
}

impl TryFrom<SqliteRow> for RememberRecord {
    type Error = StoreError;

    fn try_from(row: SqliteRow) -> StoreResult<Self> {
        let previous: Option<Vec<u8>> = row.try_get("previous_hash").map_err(classify)?;
        let rotated: Option<i64> = row.try_get("rotated_at").map_err(classify)?;
        Ok(RememberRecord {
            selector: row.try_get("selector").map_err(classify)?,
            user_id: parse_uuid(row.try_get("user_id").map_err(classify)?)?,
            validator_hash: hash32(row.try_get("validator_hash").map_err(classify)?)?,
            previous_hash: previous.map(hash32).transpose()?,
            rotated_at: rotated.map(from_unix).transpose()?,
            created_at: from_unix(row.try_get("created_at").map_err(classify)?)?,
            expires_at: from_unix(row.try_get("expires_at").map_err(classify)?)?,
        })
    }
}

#[async_trait]
impl RememberStore for SqliteStore {
    async fn insert_remember(&self, r: &RememberRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO remember_tokens \
             (selector, user_id, validator_hash, previous_hash, rotated_at, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
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
        sqlx::query(
            "SELECT selector, user_id, validator_hash, previous_hash, rotated_at, created_at, expires_at \
             FROM remember_tokens WHERE selector = ?",
        )
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
