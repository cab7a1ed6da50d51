//! Remember-me series.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::remember_columns;
use super::{Dialect, Id, Sql, SqlStore};
use crate::session::remember::RememberRecord;
use crate::store::{to_unix, RememberStore, StoreResult};

#[async_trait]
impl<D: Dialect> RememberStore for SqlStore<D> {
    async fn insert_remember(&self, r: &RememberRecord) -> StoreResult<()> {
        Sql::<D>::new(concat!(
            "INSERT INTO remember_tokens (",
            remember_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(r.selector.as_str())
        .bind(Id(r.user_id))
        .bind(&r.validator_hash[..])
        .bind(r.previous_hash.as_ref().map(|h| &h[..]))
        .bind(r.rotated_at.map(to_unix))
        .bind(to_unix(r.created_at))
        .bind(to_unix(r.expires_at))
        .execute(&mut *self.conn().await?)
        .await
        .map(drop)
    }

    async fn remember_by_selector(&self, selector: &str) -> StoreResult<Option<RememberRecord>> {
        Sql::<D>::new(concat!("SELECT ", remember_columns!(), " FROM remember_tokens WHERE selector = $1"))
            .bind(selector)
            .fetch_optional(&mut *self.conn().await?)
            .await
    }

    async fn rotate_remember(
        &self,
        selector: &str,
        current: &[u8; 32],
        next: &[u8; 32],
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = Sql::<D>::new(
            "UPDATE remember_tokens SET previous_hash = validator_hash, validator_hash = $1, rotated_at = $2 \
             WHERE selector = $3 AND validator_hash = $4",
        )
        .bind(&next[..])
        .bind(to_unix(at))
        .bind(selector)
        .bind(&current[..])
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(done == 1)
    }

    async fn delete_remember(&self, selector: &str) -> StoreResult<bool> {
        let done = Sql::<D>::new("DELETE FROM remember_tokens WHERE selector = $1")
            .bind(selector)
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(done == 1)
    }

    async fn delete_user_remember(&self, user_id: Uuid, keep: Option<&str>) -> StoreResult<u64> {
        Sql::<D>::new("DELETE FROM remember_tokens WHERE user_id = $1 AND ($2 IS NULL OR selector <> $2)")
            .bind(Id(user_id))
            .bind(keep)
            .execute(&mut *self.conn().await?)
            .await
    }
}
