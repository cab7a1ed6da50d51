//! The audit log.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::rows::audit_columns;
use super::{Dialect, Id, Sql, SqlStore};
use crate::audit::{AuditQuery, AuditRecord};
use crate::store::{to_unix, AuditStore, StoreResult};

impl<'q, D: Dialect> Sql<'q, D> {
    /// Binds every field of `r` but the id in [`audit_columns!`] order, from the next `$n` on.
    pub(super) fn bind_audit(self, r: &'q AuditRecord) -> Self {
        self.bind(to_unix(r.at))
            .bind(r.event.as_str())
            .bind(r.user_id.map(Id))
            .bind(r.username.as_deref())
            .bind(r.session_id.map(Id))
            .bind(r.ip.as_deref())
            .bind(r.user_agent.as_deref())
            .bind(r.detail.as_deref())
    }
}

#[async_trait]
impl<D: Dialect> AuditStore for SqlStore<D> {
    async fn append_audit(&self, r: &AuditRecord) -> StoreResult<()> {
        Sql::<D>::new(concat!("INSERT INTO audit_log (", audit_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
            .bind_audit(r)
            .execute(&mut *self.conn().await?)
            .await
            .map(drop)
    }

    async fn query_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        Sql::<D>::new(concat!(
            "SELECT id, ",
            audit_columns!(),
            " FROM audit_log WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR lower(username) = lower($2)) \
             AND ($3 IS NULL OR event = $3) AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR id < $5) \
             ORDER BY id DESC LIMIT $6"
        ))
        .bind(q.user_id.map(Id))
        .bind(q.username.as_deref())
        .bind(q.event.as_deref())
        .bind(q.since.map(to_unix))
        .bind(q.before_id)
        .bind(i64::from(q.limit))
        .fetch_all(&mut *self.conn().await?)
        .await
    }

    async fn delete_audit_before(&self, before: OffsetDateTime) -> StoreResult<u64> {
        Sql::<D>::new("DELETE FROM audit_log WHERE at < $1")
            .bind(to_unix(before))
            .execute(&mut *self.conn().await?)
            .await
    }
}
