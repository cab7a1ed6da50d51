//! The audit log.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use time::OffsetDateTime;

use super::{classify, parse_uuid, SqliteStore};
use crate::store::{from_unix, to_unix, AuditQuery, AuditRecord, AuditStore, StoreError, StoreResult};

impl TryFrom<SqliteRow> for AuditRecord {
    type Error = StoreError;

    fn try_from(row: SqliteRow) -> StoreResult<Self> {
        let user_id: Option<String> = row.try_get("user_id").map_err(classify)?;
        let session_id: Option<String> = row.try_get("session_id").map_err(classify)?;
        Ok(AuditRecord {
            id: row.try_get("id").map_err(classify)?,
            at: from_unix(row.try_get("at").map_err(classify)?)?,
            event: row.try_get("event").map_err(classify)?,
            user_id: user_id.as_deref().map(parse_uuid).transpose()?,
            username: row.try_get("username").map_err(classify)?,
            session_id: session_id.as_deref().map(parse_uuid).transpose()?,
            ip: row.try_get("ip").map_err(classify)?,
            user_agent: row.try_get("user_agent").map_err(classify)?,
            detail: row.try_get("detail").map_err(classify)?,
        })
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, r: &AuditRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, event, user_id, username, session_id, ip, user_agent, detail) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(to_unix(r.at))
        .bind(&r.event)
        .bind(r.user_id.map(|u| u.to_string()))
        .bind(&r.username)
        .bind(r.session_id.map(|u| u.to_string()))
        .bind(&r.ip)
        .bind(&r.user_agent)
        .bind(&r.detail)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn query_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        sqlx::query(
            "SELECT id, at, event, user_id, username, session_id, ip, user_agent, detail FROM audit_log \
             WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR username = ?2 COLLATE NOCASE) \
             AND (?3 IS NULL OR event = ?3) AND (?4 IS NULL OR at >= ?4) AND (?5 IS NULL OR id < ?5) \
             ORDER BY id DESC LIMIT ?6",
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
        let done = sqlx::query("DELETE FROM audit_log WHERE at < ?")
            .bind(to_unix(before))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }
}
