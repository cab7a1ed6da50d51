//! Accounts, each read with its roles and permissions in one statement.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::{contains_pattern, new_account, user_joins, user_select, users_from_rows, UserRoleRow, LOOKALIKE};
use super::{commit, Dialect, Id, Sql, SqlStore};
use crate::account::{username_key, NewUser, User, UserPage, UserPatch};
use crate::store::usernames::RekeyRows as _;
use crate::store::{to_unix, StoreError, StoreResult, UserStore};

const INSERT_ROLE: &str = "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING";

impl<D: Dialect> SqlStore<D> {
    /// The accounts `sql` selects (with [`user_select!`] and [`user_joins!`]), in its order.
    async fn users_where<'q>(&self, sql: Sql<'q, D>) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRoleRow> = sql.fetch_all(&mut *self.conn().await?).await?;
        Ok(users_from_rows(rows))
    }

    /// Inserts an account with its roles, in one transaction.
    pub(super) async fn insert_account(&self, user: &User) -> StoreResult<()> {
        match self.insert_account_once(user).await {
            // A name that is taken also has a taken skeleton; which index the database reports
            // first is its choice, so say "username" whenever the name itself is taken.
            Err(StoreError::Conflict(LOOKALIKE)) if self.key_holder(&username_key(&user.username)).await?.is_some() => {
                Err(StoreError::Conflict("username"))
            }
            done => done,
        }
    }

    async fn insert_account_once(&self, user: &User) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        Sql::<D>::new(
            "INSERT INTO users (id, username, username_key, username_skeleton, email, password_hash, disabled, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(Id(user.id))
        .bind(user.username.as_str())
        .bind(username_key(&user.username))
        // Security: unique, so no account can be registered that looks like an existing one.
        .bind(crate::username::skeleton(&user.username))
        .bind(user.email.as_deref())
        .bind(user.password_hash.as_str())
        .bind(user.disabled)
        .bind(to_unix(user.created_at))
        .bind(to_unix(user.updated_at))
        .execute(&mut *tx)
        .await?;
        for role in &user.roles {
            Sql::<D>::new(INSERT_ROLE).bind(Id(user.id)).bind(role.as_str()).execute(&mut *tx).await?;
        }
        commit(tx).await
    }
}

#[async_trait]
impl<D: Dialect> UserStore for SqlStore<D> {
    async fn create_user(&self, new: NewUser, now: OffsetDateTime) -> StoreResult<User> {
        let user = new_account(new, now)?;
        self.insert_account(&user).await?;
        // Read back: the roles' permissions come from the database.
        self.user_by_id(user.id).await?.ok_or_else(|| StoreError::Backend("a new account vanished".into()))
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        let sql = concat!(user_select!(), " FROM users u ", user_joins!(), " WHERE u.id = $1");
        Ok(self.users_where(Sql::new(sql).bind(Id(id))).await?.pop())
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        // The old key first: an account the re-keying left with it is found by its exact name.
        let [legacy, key] = crate::username::lookup_keys(username);
        let sql = concat!(
            user_select!(),
            " FROM (SELECT * FROM users WHERE username_key IN ($1, $2) ORDER BY username_key = $1 DESC LIMIT 1) u ",
            user_joins!()
        );
        Ok(self.users_where(Sql::new(sql).bind(legacy).bind(key)).await?.pop())
    }

    async fn set_password_hash(&self, id: Uuid, hash: &str, now: OffsetDateTime) -> StoreResult<bool> {
        let done = Sql::<D>::new("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(to_unix(now))
            .bind(Id(id))
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(done == 1)
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let sql = concat!(user_select!(), " FROM users u ", user_joins!(), " ORDER BY u.username_key, r.role");
        self.users_where(Sql::new(sql)).await
    }

    async fn search_users(&self, search: Option<&str>, offset: u64, limit: u32) -> StoreResult<UserPage> {
        let pattern = contains_pattern(search);
        macro_rules! filter {
            () => {
                "WHERE $1 IS NULL OR username_key LIKE $1 ESCAPE '\\' OR lower(email) LIKE $1 ESCAPE '\\'"
            };
        }
        let total: i64 = Sql::<D>::new(concat!("SELECT COUNT(*) FROM users ", filter!()))
            .bind(pattern.as_deref())
            .fetch_one(&mut *self.conn().await?)
            .await?;
        let sql = concat!(
            user_select!(),
            " FROM (SELECT * FROM users ",
            filter!(),
            " ORDER BY username_key LIMIT $2 OFFSET $3) u ",
            user_joins!(),
            " ORDER BY u.username_key, r.role"
        );
        let page = Sql::new(sql)
            .bind(pattern.as_deref())
            .bind(i64::from(limit))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX));
        let users = self.users_where(page).await?;
        Ok(UserPage { users, total: u64::try_from(total).unwrap_or(0) })
    }

    async fn update_user(&self, id: Uuid, patch: &UserPatch, now: OffsetDateTime) -> StoreResult<Option<User>> {
        let mut tx = self.begin().await?;
        let done = Sql::<D>::new(
            "UPDATE users SET updated_at = $1, email = CASE WHEN $2 THEN $3 ELSE email END, \
             disabled = COALESCE($4, disabled) WHERE id = $5",
        )
        .bind(to_unix(now))
        .bind(patch.email.is_some())
        .bind(patch.email.clone().flatten())
        .bind(patch.disabled)
        .bind(Id(id))
        .execute(&mut *tx)
        .await?;
        if done == 0 {
            return Ok(None);
        }
        if let Some(roles) = &patch.roles {
            Sql::<D>::new("DELETE FROM user_roles WHERE user_id = $1").bind(Id(id)).execute(&mut *tx).await?;
            for role in roles {
                Sql::<D>::new(INSERT_ROLE).bind(Id(id)).bind(role.as_str()).execute(&mut *tx).await?;
            }
        }
        commit(tx).await?;
        self.user_by_id(id).await
    }

    async fn delete_user(&self, id: Uuid) -> StoreResult<bool> {
        // Sessions, roles and remember-me series go with the account (ON DELETE CASCADE).
        let done =
            Sql::<D>::new("DELETE FROM users WHERE id = $1").bind(Id(id)).execute(&mut *self.conn().await?).await?;
        Ok(done == 1)
    }
}
