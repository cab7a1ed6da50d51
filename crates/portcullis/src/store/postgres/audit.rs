//! The audit log.

use async_trait::async_trait;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::Postgres;
use time::OffsetDateTime;

use super::{classify, PgStore};
use crate::store::row::AuditRow;
use crate::store::{to_unix, AuditQuery, AuditRecord, AuditStore, StoreResult};

/// Every column but the id, for inserts; bound by [`bind_audit`] as `$1`–`$8`.
pub(super) const AUDIT_INSERT: &str = "at, event, user_id, username, session_id, ip, user_agent, detail";
pub(super) const AUDIT_VALUES: &str = "$1, $2, $3::uuid, $4, $5::uuid, $6, $7, $8";

pub(super) fn bind_audit<'q>(
    query: Query<'q, Postgres, PgArguments>,
    r: &'q AuditRecord,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(to_unix(r.at))
        .bind(&r.event)
        .bind(r.user_id.map(|u| u.to_string()))
        .bind(&r.username)
        .bind(r.session_id.map(|u| u.to_string()))
        .bind(&r.ip)
        .bind(&r.user_agent)
        .bind(&r.detail)
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, r: &AuditRecord) -> StoreResult<()> {
        bind_audit(sqlx::query(&format!("INSERT INTO audit_log ({AUDIT_INSERT}) VALUES ({AUDIT_VALUES})")), r)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn query_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        sqlx::query_as::<_, AuditRow>(
            "SELECT id, at, event, user_id::text AS user_id, username, session_id::text AS session_id, ip, \
             user_agent, detail FROM audit_log \
             WHERE ($1::uuid IS NULL OR user_id = $1::uuid) AND ($2::text IS NULL OR lower(username) = lower($2)) \
             AND ($3::text IS NULL OR event = $3) AND ($4::bigint IS NULL OR at >= $4) \
             AND ($5::bigint IS NULL OR id < $5) ORDER BY id DESC LIMIT $6",
        )
        .bind(q.user_id.map(|u| u.to_string()))
        .bind(&q.username)
        .bind(&q.event)
        .bind(q.since.map(to_unix))
        .bind(q.before_id)
        .bind(i64::from(q.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?
        .into_iter()
        .map(AuditRecord::try_from)
        .collect()
    }

    async fn delete_audit_before(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(to_unix(before))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }
}
