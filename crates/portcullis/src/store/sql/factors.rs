//! Second factors: TOTP seeds (sealed) and recovery codes (hashed).

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::totp_columns;
use super::{commit, Dialect, Id, Sql, SqlStore};
use crate::auth::totp::TotpRecord;
use crate::store::{to_unix, FactorStore, StoreResult};

#[async_trait]
impl<D: Dialect> FactorStore for SqlStore<D> {
    async fn totp(&self, user_id: Uuid) -> StoreResult<Option<TotpRecord>> {
        Sql::<D>::new(concat!("SELECT ", totp_columns!(), " FROM totp_factors WHERE user_id = $1"))
            .bind(Id(user_id))
            .fetch_optional(&mut *self.conn().await?)
            .await
    }

    async fn put_pending_totp(&self, user_id: Uuid, sealed: &[u8], now: OffsetDateTime) -> StoreResult<bool> {
        // A confirmed factor stays: the upsert's condition leaves it, and no row is affected.
        let done = Sql::<D>::new(concat!(
            "INSERT INTO totp_factors (",
            totp_columns!(),
            ") VALUES ($1, $2, $3, NULL, NULL) ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, \
             created_at = excluded.created_at, last_step = NULL WHERE totp_factors.confirmed_at IS NULL"
        ))
        .bind(Id(user_id))
        .bind(sealed)
        .bind(to_unix(now))
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(done == 1)
    }

    async fn accept_totp_step(
        &self,
        user_id: Uuid,
        step: i64,
        confirm_at: Option<OffsetDateTime>,
    ) -> StoreResult<bool> {
        // Compare and set in one statement: of two requests with the same code (on any
        // instances), one moves `last_step` and the other finds it moved.
        let done = match confirm_at {
            Some(at) => Sql::<D>::new(
                "UPDATE totp_factors SET last_step = $2, confirmed_at = $3 WHERE user_id = $1 \
                 AND confirmed_at IS NULL AND (last_step IS NULL OR last_step < $2)",
            )
            .bind(Id(user_id))
            .bind(step)
            .bind(to_unix(at)),
            None => Sql::<D>::new(
                "UPDATE totp_factors SET last_step = $2 WHERE user_id = $1 \
                 AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $2)",
            )
            .bind(Id(user_id))
            .bind(step),
        }
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(done == 1)
    }

    async fn delete_totp(&self, user_id: Uuid) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        Sql::<D>::new("DELETE FROM recovery_codes WHERE user_id = $1").bind(Id(user_id)).execute(&mut *tx).await?;
        let done =
            Sql::<D>::new("DELETE FROM totp_factors WHERE user_id = $1").bind(Id(user_id)).execute(&mut *tx).await?;
        commit(tx).await?;
        Ok(done == 1)
    }

    async fn replace_recovery_codes(&self, user_id: Uuid, hashes: &[[u8; 32]], now: OffsetDateTime) -> StoreResult<()> {
        // One transaction: the old set is void exactly when the new one exists.
        let mut tx = self.begin().await?;
        Sql::<D>::new("DELETE FROM recovery_codes WHERE user_id = $1").bind(Id(user_id)).execute(&mut *tx).await?;
        for hash in hashes {
            Sql::<D>::new(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at, used_at) VALUES ($1, $2, $3, NULL)",
            )
            .bind(Id(user_id))
            .bind(&hash[..])
            .bind(to_unix(now))
            .execute(&mut *tx)
            .await?;
        }
        commit(tx).await
    }

    async fn use_recovery_code(&self, user_id: Uuid, hash: &[u8; 32], now: OffsetDateTime) -> StoreResult<bool> {
        let done = Sql::<D>::new(
            "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(Id(user_id))
        .bind(&hash[..])
        .bind(to_unix(now))
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(done == 1)
    }

    async fn recovery_codes_left(&self, user_id: Uuid) -> StoreResult<u32> {
        let left: i64 = Sql::<D>::new("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(Id(user_id))
            .fetch_one(&mut *self.conn().await?)
            .await?;
        Ok(u32::try_from(left).unwrap_or(0))
    }
}
