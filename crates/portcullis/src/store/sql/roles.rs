//! Roles and their permissions.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::rows::{roles_from_rows, RoleRow};
use super::{commit, Dialect, Sql, SqlStore};
use crate::account::Role;
use crate::store::{to_unix, RoleStore, StoreResult};

const GRANT: &str = "INSERT INTO role_permissions (role, permission) VALUES ($1, $2) ON CONFLICT DO NOTHING";

#[async_trait]
impl<D: Dialect> RoleStore for SqlStore<D> {
    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        let rows: Vec<RoleRow> = Sql::<D>::new(
            "SELECT r.name, r.description, p.permission FROM roles r \
             LEFT JOIN role_permissions p ON p.role = r.name ORDER BY r.name, p.permission",
        )
        .fetch_all(&mut *self.conn().await?)
        .await?;
        Ok(roles_from_rows(rows))
    }

    async fn create_role(&self, role: &Role, now: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        Sql::<D>::new("INSERT INTO roles (name, description, created_at) VALUES ($1, $2, $3)")
            .bind(role.name.as_str())
            .bind(role.description.as_deref())
            .bind(to_unix(now))
            .execute(&mut *tx)
            .await?;
        for permission in &role.permissions {
            Sql::<D>::new(GRANT).bind(role.name.as_str()).bind(permission.as_str()).execute(&mut *tx).await?;
        }
        commit(tx).await
    }

    async fn set_role_permissions(&self, name: &str, permissions: &[String]) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        // A write to the role row first: concurrent replacements of one role take turns (a row
        // lock on Postgres, the single writer on SQLite) instead of interleaving into the union
        // of both lists.
        let found = Sql::<D>::new("UPDATE roles SET description = description WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if found == 0 {
            return Ok(false);
        }
        Sql::<D>::new("DELETE FROM role_permissions WHERE role = $1").bind(name).execute(&mut *tx).await?;
        for permission in permissions {
            Sql::<D>::new(GRANT).bind(name).bind(permission.as_str()).execute(&mut *tx).await?;
        }
        commit(tx).await?;
        Ok(true)
    }
}
