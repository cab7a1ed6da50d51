//! Pending login challenges.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::rows::challenge_columns;
use super::{Dialect, Id, Sql, SqlStore};
use crate::auth::challenge::ChallengeRecord;
use crate::store::{to_unix, ChallengeStore, StoreResult};

#[async_trait]
impl<D: Dialect> ChallengeStore for SqlStore<D> {
    async fn insert_challenge(&self, c: &ChallengeRecord) -> StoreResult<()> {
        Sql::<D>::new(concat!(
            "INSERT INTO challenges (",
            challenge_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&c.id_hash[..])
        .bind(Id(c.user_id))
        .bind(c.purpose.as_str())
        .bind(&c.binding[..])
        .bind(c.state.as_deref())
        .bind(i64::from(c.attempts))
        .bind(to_unix(c.created_at))
        .bind(to_unix(c.expires_at))
        .execute(&mut *self.conn().await?)
        .await
        .map(drop)
    }

    async fn attempt_challenge(
        &self,
        id_hash: &[u8; 32],
        now: OffsetDateTime,
        max_attempts: u32,
    ) -> StoreResult<Option<ChallengeRecord>> {
        // One statement: concurrent attempts each take a number, none beyond the limit.
        Sql::<D>::new(concat!(
            "UPDATE challenges SET attempts = attempts + 1 WHERE id_hash = $1 AND expires_at > $2 AND attempts < $3 \
             RETURNING ",
            challenge_columns!()
        ))
        .bind(&id_hash[..])
        .bind(to_unix(now))
        .bind(i64::from(max_attempts))
        .fetch_optional(&mut *self.conn().await?)
        .await
    }

    async fn delete_challenge(&self, id_hash: &[u8; 32]) -> StoreResult<bool> {
        let done = Sql::<D>::new("DELETE FROM challenges WHERE id_hash = $1")
            .bind(&id_hash[..])
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(done == 1)
    }

    async fn delete_expired_challenges(&self, now: OffsetDateTime) -> StoreResult<u64> {
        Sql::<D>::new("DELETE FROM challenges WHERE expires_at <= $1")
            .bind(to_unix(now))
            .execute(&mut *self.conn().await?)
            .await
    }
}
