//! The audit log.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{classify, SqliteStore};
use crate::store::row::AuditRow;
use crate::store::{to_unix, AuditQuery, AuditRecord, AuditStore, StoreResult};

pub(super) const AUDIT_COLUMNS: &str = "id, at, event, user_id, username, session_id, ip, user_agent, detail";

impl SqliteStore {
    /// Inserts a row under `id`, or under the next id when `None`. An explicit id also moves
    /// the AUTOINCREMENT sequence past it, so later appends get larger ids.
    pub(super) async fn insert_audit(&self, id: Option<i64>, r: &AuditRecord) -> StoreResult<()> {
        sqlx::query(&format!("INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"))
            .bind(id)
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
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, r: &AuditRecord) -> StoreResult<()> {
        self.insert_audit(None, r).await
    }

    async fn query_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        sqlx::query_as::<_, AuditRow>(&format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log \
             WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR username = ?2 COLLATE NOCASE) \
             AND (?3 IS NULL OR event = ?3) AND (?4 IS NULL OR at >= ?4) AND (?5 IS NULL OR id < ?5) \
             ORDER BY id DESC LIMIT ?6"
        ))
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
