//! Roles and their permissions.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{classify, PgStore};
use crate::store::row::roles_from_rows;
use crate::store::{to_unix, Role, RoleStore, StoreResult};

#[async_trait]
impl RoleStore for PgStore {
    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT r.name, r.description, p.permission FROM roles r \
             LEFT JOIN role_permissions p ON p.role = r.name ORDER BY r.name, p.permission",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        Ok(roles_from_rows(rows))
    }

    async fn create_role(&self, role: &Role, now: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        sqlx::query("INSERT INTO roles (name, description, created_at) VALUES ($1, $2, $3)")
            .bind(&role.name)
            .bind(&role.description)
            .bind(to_unix(now))
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        for permission in &role.permissions {
            sqlx::query("INSERT INTO role_permissions (role, permission) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&role.name)
                .bind(permission)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }

    async fn set_role_permissions(&self, name: &str, permissions: &[String]) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        // FOR UPDATE makes concurrent replacements of one role take turns, as SQLite's single writer
        // does; without it two could interleave and leave the union of both lists.
        let exists: Option<String> = sqlx::query_scalar("SELECT name FROM roles WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
        if exists.is_none() {
            return Ok(false);
        }
        sqlx::query("DELETE FROM role_permissions WHERE role = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        for permission in permissions {
            sqlx::query("INSERT INTO role_permissions (role, permission) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(name)
                .bind(permission)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)?;
        Ok(true)
    }
}
