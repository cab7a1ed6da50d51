//! Signals to running instances.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Dialect, Id, Sql, SqlStore};
use crate::signal::{SignalKind, SignalRecord};
use crate::store::{to_unix_ms, SignalStore, StoreResult};

#[async_trait]
impl<D: Dialect> SignalStore for SqlStore<D> {
    async fn send_signal(&self, kind: SignalKind, user_id: Option<Uuid>, at: OffsetDateTime) -> StoreResult<()> {
        Sql::<D>::new("INSERT INTO signals (kind, user_id, at_ms) VALUES ($1, $2, $3)")
            .bind(kind.as_str())
            .bind(user_id.map(Id))
            .bind(to_unix_ms(at))
            .execute(&mut *self.conn().await?)
            .await
            .map(drop)
    }

    async fn signals_after(&self, after: i64, limit: u32) -> StoreResult<Vec<SignalRecord>> {
        Sql::<D>::new("SELECT seq, kind, user_id, at_ms FROM signals WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.conn().await?)
            .await
    }

    async fn last_signal(&self) -> StoreResult<i64> {
        Sql::<D>::new("SELECT COALESCE(MAX(seq), 0) FROM signals").fetch_one(&mut *self.conn().await?).await
    }

    async fn delete_signals_before(&self, before: OffsetDateTime) -> StoreResult<u64> {
        Sql::<D>::new("DELETE FROM signals WHERE at_ms < $1")
            .bind(to_unix_ms(before))
            .execute(&mut *self.conn().await?)
            .await
    }
}
