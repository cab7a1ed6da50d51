//! Sessions and refresh-token families.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::session_columns;
use super::{Dialect, Id, Sql, SqlStore};
use crate::session::SessionRecord;
use crate::store::{to_unix, SessionStore, StoreResult};

impl<'q, D: Dialect> Sql<'q, D> {
    /// Binds every field of `s` in [`session_columns!`] order, from the next `$n` on.
    pub(super) fn bind_session(self, s: &'q SessionRecord) -> Self {
        self.bind(&s.id_hash[..])
            .bind(Id(s.public_id))
            .bind(Id(s.user_id))
            .bind(s.kind.as_str())
            .bind(to_unix(s.created_at))
            .bind(to_unix(s.last_seen_at))
            .bind(to_unix(s.expires_at))
            .bind(to_unix(s.fresh_until))
            .bind(s.remember)
            .bind(s.ip.as_deref())
            .bind(s.user_agent.as_deref())
            .bind(s.revoked_at.map(to_unix))
            .bind(s.refresh_generation)
            .bind(s.rotated_at.map(to_unix))
            .bind(s.fingerprint.as_deref())
    }
}

#[async_trait]
impl<D: Dialect> SessionStore for SqlStore<D> {
    async fn insert_session(&self, s: &SessionRecord) -> StoreResult<()> {
        let sql = concat!(
            "INSERT INTO sessions (",
            session_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        );
        Sql::<D>::new(sql).bind_session(s).execute(&mut *self.conn().await?).await.map(drop)
    }

    async fn session_by_hash(&self, id_hash: &[u8; 32]) -> StoreResult<Option<SessionRecord>> {
        let sql = concat!("SELECT ", session_columns!(), " FROM sessions WHERE id_hash = $1");
        Sql::<D>::new(sql).bind(&id_hash[..]).fetch_optional(&mut *self.conn().await?).await
    }

    async fn touch_session(&self, id_hash: &[u8; 32], last_seen_at: OffsetDateTime) -> StoreResult<()> {
        Sql::<D>::new(
            "UPDATE sessions SET last_seen_at = CASE WHEN last_seen_at < $1 THEN $1 ELSE last_seen_at END \
             WHERE id_hash = $2",
        )
        .bind(to_unix(last_seen_at))
        .bind(&id_hash[..])
        .execute(&mut *self.conn().await?)
        .await
        .map(drop)
    }

    async fn revoke_session(&self, id_hash: &[u8; 32], at: OffsetDateTime, reason: &str) -> StoreResult<bool> {
        let done = Sql::<D>::new(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id_hash = $3 AND revoked_at IS NULL",
        )
        .bind(to_unix(at))
        .bind(reason)
        .bind(&id_hash[..])
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(done == 1)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&[u8; 32]>,
        at: OffsetDateTime,
        reason: &str,
    ) -> StoreResult<Vec<[u8; 32]>> {
        let rows: Vec<Vec<u8>> = Sql::<D>::new(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL \
             AND ($4 IS NULL OR id_hash <> $4) RETURNING id_hash",
        )
        .bind(to_unix(at))
        .bind(reason)
        .bind(Id(user_id))
        .bind(keep.map(|k| &k[..]))
        .fetch_all(&mut *self.conn().await?)
        .await?;
        Ok(rows.into_iter().filter_map(|h| h.try_into().ok()).collect())
    }

    async fn user_sessions(&self, user_id: Uuid, now: OffsetDateTime) -> StoreResult<Vec<SessionRecord>> {
        let sql = concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at, public_id"
        );
        Sql::<D>::new(sql).bind(Id(user_id)).bind(to_unix(now)).fetch_all(&mut *self.conn().await?).await
    }

    async fn rekey_session(&self, old: &[u8; 32], new: &[u8; 32], fresh_until: OffsetDateTime) -> StoreResult<bool> {
        let done = Sql::<D>::new(
            "UPDATE sessions SET id_hash = $1, fresh_until = $2 WHERE id_hash = $3 AND revoked_at IS NULL",
        )
        .bind(&new[..])
        .bind(to_unix(fresh_until))
        .bind(&old[..])
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(done == 1)
    }

    async fn set_fresh_until(&self, id_hash: &[u8; 32], fresh_until: OffsetDateTime) -> StoreResult<bool> {
        let done = Sql::<D>::new("UPDATE sessions SET fresh_until = $1 WHERE id_hash = $2 AND revoked_at IS NULL")
            .bind(to_unix(fresh_until))
            .bind(&id_hash[..])
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(done == 1)
    }

    async fn rotate_refresh(&self, id_hash: &[u8; 32], from: i64, at: OffsetDateTime) -> StoreResult<bool> {
        let done = Sql::<D>::new(
            "UPDATE sessions SET refresh_generation = refresh_generation + 1, rotated_at = $1, \
             last_seen_at = CASE WHEN last_seen_at < $1 THEN $1 ELSE last_seen_at END \
             WHERE id_hash = $2 AND refresh_generation = $3 AND revoked_at IS NULL",
        )
        .bind(to_unix(at))
        .bind(&id_hash[..])
        .bind(from)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(done == 1)
    }

    async fn delete_expired(
        &self,
        now: OffsetDateTime,
        cookie_idle_before: OffsetDateTime,
        token_idle_before: OffsetDateTime,
    ) -> StoreResult<u64> {
        Sql::<D>::new(
            "DELETE FROM sessions WHERE expires_at <= $1 \
             OR (kind = 'cookie' AND last_seen_at < $2) OR (kind = 'token' AND last_seen_at < $3) \
             OR revoked_at < $4",
        )
        .bind(to_unix(now))
        .bind(to_unix(cookie_idle_before))
        .bind(to_unix(token_idle_before))
        .bind(to_unix(cookie_idle_before.min(token_idle_before)))
        .execute(&mut *self.conn().await?)
        .await
    }

    async fn delete_expired_remember(&self, now: OffsetDateTime) -> StoreResult<u64> {
        Sql::<D>::new("DELETE FROM remember_tokens WHERE expires_at <= $1")
            .bind(to_unix(now))
            .execute(&mut *self.conn().await?)
            .await
    }
}
