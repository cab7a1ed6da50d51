//! The rows the username re-keying reads and writes (see `store::usernames`).

use async_trait::async_trait;
use uuid::Uuid;

use super::{classify, PgStore};
use crate::store::row::uuid;
use crate::store::usernames::{RekeyRows, Unkeyed};
use crate::store::StoreResult;

#[async_trait]
impl RekeyRows for PgStore {
    async fn unkeyed(&self) -> StoreResult<Vec<Unkeyed>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT id::text, username, username_key FROM users WHERE username_skeleton IS NULL ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.into_iter().map(|(id, username, key)| Ok(Unkeyed { id: uuid(&id)?, username, key })).collect()
    }

    async fn set_key(&self, id: Uuid, key: &str, skeleton: Option<&str>) -> StoreResult<()> {
        sqlx::query("UPDATE users SET username_key = $1, username_skeleton = $2 WHERE id = $3::uuid")
            .bind(key)
            .bind(skeleton)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn key_holder(&self, key: &str) -> StoreResult<Option<Uuid>> {
        holder(self, "SELECT id::text FROM users WHERE username_key = $1", key).await
    }

    async fn skeleton_holder(&self, skeleton: &str) -> StoreResult<Option<Uuid>> {
        holder(self, "SELECT id::text FROM users WHERE username_skeleton = $1", skeleton).await
    }

    #[cfg(test)]
    async fn insert_legacy(&self, id: Uuid, username: &str, key: &str, created_at: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (id, username, username_key, password_hash, created_at, updated_at) \
             VALUES ($1::uuid, $2, $3, $4, $5, $5)",
        )
        .bind(id.to_string())
        .bind(username)
        .bind(key)
        .bind("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA")
        .bind(created_at)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(())
    }
}

/// The account `query` finds for `value`.
async fn holder(store: &PgStore, query: &'static str, value: &str) -> StoreResult<Option<Uuid>> {
    let id: Option<String> =
        sqlx::query_scalar(query).bind(value).fetch_optional(&store.pool).await.map_err(classify)?;
    id.as_deref().map(uuid).transpose()
}
