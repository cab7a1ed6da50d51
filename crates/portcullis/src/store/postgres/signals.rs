//! Signals to running instances.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{classify, PgStore};
use crate::store::{signal_from_row, to_unix_ms, SignalKind, SignalRecord, SignalStore, StoreResult};

#[async_trait]
impl SignalStore for PgStore {
    async fn send_signal(&self, kind: SignalKind, user_id: Option<Uuid>, at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("INSERT INTO signals (kind, user_id, at_ms) VALUES ($1, $2::uuid, $3)")
            .bind(kind.as_str())
            .bind(user_id.map(|id| id.to_string()))
            .bind(to_unix_ms(at))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn signals_after(&self, after: i64, limit: u32) -> StoreResult<Vec<SignalRecord>> {
        sqlx::query_as(
            "SELECT seq, kind, user_id::text AS user_id, at_ms FROM signals WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .into_iter()
        .map(signal_from_row)
        .collect()
    }

    async fn last_signal(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0)::bigint FROM signals")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)
    }

    async fn delete_signals_before(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM signals WHERE at_ms < $1")
            .bind(to_unix_ms(before))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }
}
