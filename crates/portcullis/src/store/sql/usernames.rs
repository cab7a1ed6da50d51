//! The rows the username re-keying reads and writes (see `store::usernames`).

use async_trait::async_trait;
use uuid::Uuid;

use super::{col, Dialect, FromSqlRow, Id, Sql, SqlStore};
use crate::store::usernames::{RekeyRows, Unkeyed};
use crate::store::StoreResult;

impl FromSqlRow for Unkeyed {
    fn from_row<D: Dialect>(row: &D::Row) -> StoreResult<Self> {
        let id: Id = col::<D, _>(row, 0)?;
        Ok(Unkeyed { id: id.0, username: col::<D, _>(row, 1)?, key: col::<D, _>(row, 2)? })
    }
}

#[async_trait]
impl<D: Dialect> RekeyRows for SqlStore<D> {
    async fn unkeyed(&self) -> StoreResult<Vec<Unkeyed>> {
        Sql::<D>::new(
            "SELECT id, username, username_key FROM users WHERE username_skeleton IS NULL ORDER BY created_at, id",
        )
        .fetch_all(&mut *self.conn().await?)
        .await
    }

    async fn set_key(&self, id: Uuid, key: &str, skeleton: Option<&str>) -> StoreResult<()> {
        Sql::<D>::new("UPDATE users SET username_key = $1, username_skeleton = $2 WHERE id = $3")
            .bind(key)
            .bind(skeleton)
            .bind(Id(id))
            .execute(&mut *self.conn().await?)
            .await
            .map(drop)
    }

    async fn key_holder(&self, key: &str) -> StoreResult<Option<Uuid>> {
        self.holder("SELECT id FROM users WHERE username_key = $1", key).await
    }

    async fn skeleton_holder(&self, skeleton: &str) -> StoreResult<Option<Uuid>> {
        self.holder("SELECT id FROM users WHERE username_skeleton = $1", skeleton).await
    }

    #[cfg(test)]
    async fn insert_legacy(&self, id: Uuid, username: &str, key: &str, created_at: i64) -> StoreResult<()> {
        Sql::<D>::new(
            "INSERT INTO users (id, username, username_key, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(Id(id))
        .bind(username)
        .bind(key)
        .bind("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA")
        .bind(created_at)
        .execute(&mut *self.conn().await?)
        .await
        .map(drop)
    }
}

impl<D: Dialect> SqlStore<D> {
    /// The account `query` finds for `value`.
    async fn holder(&self, query: &'static str, value: &str) -> StoreResult<Option<Uuid>> {
        let id: Option<Id> = Sql::<D>::new(query).bind(value).fetch_optional(&mut *self.conn().await?).await?;
        Ok(id.map(|id| id.0))
    }
}
