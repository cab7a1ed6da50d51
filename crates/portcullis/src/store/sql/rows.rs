//! Reading result rows into records. Each select list is defined here, next to the reader that
//! depends on its column order.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{col, Dialect, FromSqlRow, Id};
use crate::account::{NewUser, Role, User};
use crate::audit::AuditRecord;
use crate::auth::challenge::ChallengeRecord;
use crate::auth::totp::{RecoveryCodeRecord, TotpRecord};
use crate::session::remember::RememberRecord;
use crate::session::{SessionKind, SessionRecord};
use crate::signal::{SignalKind, SignalRecord};
use crate::store::{from_unix, from_unix_ms, to_unix, StoreError, StoreResult};

fn hash32(bytes: Vec<u8>, what: &str) -> StoreResult<[u8; 32]> {
    bytes.try_into().map_err(|_| StoreError::Backend(format!("{what} is not 32 bytes").into()))
}

/// Selects an account (`u`) with one row per role and permission: read with [`users_from_rows`].
macro_rules! user_select {
    () => {
        "SELECT u.id, u.username, u.email, u.password_hash, u.disabled, u.created_at, u.updated_at, r.role, \
         p.permission"
    };
}
/// Joins an account's roles and their permissions to `u`; no role gives one row of NULLs.
macro_rules! user_joins {
    () => {
        "LEFT JOIN user_roles r ON r.user_id = u.id LEFT JOIN role_permissions p ON p.role = r.role"
    };
}

/// One row of [`user_select!`]: an account, one of its roles and one permission of that role.
pub(super) struct UserRoleRow {
    user: User,
    role: Option<String>,
    permission: Option<String>,
}

impl FromSqlRow for UserRoleRow {
    fn from_row<D: Dialect>(row: &D::Row) -> StoreResult<Self> {
        let id: Id = col::<D, _>(row, 0)?;
        Ok(UserRoleRow {
            user: User {
                id: id.0,
                username: col::<D, _>(row, 1)?,
                email: col::<D, _>(row, 2)?,
                password_hash: col::<D, _>(row, 3)?,
                disabled: col::<D, _>(row, 4)?,
                roles: Vec::new(),
                permissions: Vec::new(),
                created_at: from_unix(col::<D, _>(row, 5)?)?,
                updated_at: from_unix(col::<D, _>(row, 6)?)?,
            },
            role: col::<D, _>(row, 7)?,
            permission: col::<D, _>(row, 8)?,
        })
    }
}

/// Folds rows of [`user_select!`], each account's rows next to each other, into accounts with
/// their roles (sorted) and permissions (sorted, without repeats), in the order of the rows.
pub(super) fn users_from_rows(rows: Vec<UserRoleRow>) -> Vec<User> {
    let mut users: Vec<User> = Vec::new();
    for UserRoleRow { user, role, permission } in rows {
        if users.last().map(|last| last.id) != Some(user.id) {
            users.push(user);
        }
        let Some(current) = users.last_mut() else { continue };
        if let Some(role) = role {
            if !current.roles.contains(&role) {
                current.roles.push(role);
            }
        }
        current.permissions.extend(permission);
    }
    for user in &mut users {
        user.roles.sort();
        user.permissions.sort();
        user.permissions.dedup();
    }
    users
}

/// Session columns, in the order [`SessionRecord`]'s reader expects and inserts bind them.
macro_rules! session_columns {
    () => {
        "id_hash, public_id, user_id, kind, created_at, last_seen_at, expires_at, fresh_until, remember, ip, \
         user_agent, revoked_at, refresh_generation, rotated_at, fingerprint"
    };
}

impl FromSqlRow for SessionRecord {
    fn from_row<D: Dialect>(row: &D::Row) -> StoreResult<Self> {
        let kind: String = col::<D, _>(row, 3)?;
        let public_id: Id = col::<D, _>(row, 1)?;
        let user_id: Id = col::<D, _>(row, 2)?;
        Ok(SessionRecord {
            id_hash: hash32(col::<D, _>(row, 0)?, "session hash")?,
            public_id: public_id.0,
            user_id: user_id.0,
            kind: SessionKind::parse(&kind)
                .ok_or_else(|| StoreError::Backend(format!("unknown session kind {kind}").into()))?,
            created_at: from_unix(col::<D, _>(row, 4)?)?,
            last_seen_at: from_unix(col::<D, _>(row, 5)?)?,
            expires_at: from_unix(col::<D, _>(row, 6)?)?,
            fresh_until: from_unix(col::<D, _>(row, 7)?)?,
            remember: col::<D, _>(row, 8)?,
            ip: col::<D, _>(row, 9)?,
            user_agent: col::<D, _>(row, 10)?,
            revoked_at: col::<D, Option<i64>>(row, 11)?.map(from_unix).transpose()?,
            refresh_generation: col::<D, _>(row, 12)?,
            rotated_at: col::<D, Option<i64>>(row, 13)?.map(from_unix).transpose()?,
            fingerprint: col::<D, _>(row, 14)?,
        })
    }
}

/// Remember-me columns, in the order [`RememberRecord`]'s reader expects and inserts bind them.
macro_rules! remember_columns {
    () => {
        "selector, user_id, validator_hash, previous_hash, rotated_at, created_at, expires_at"
    };
}

impl FromSqlRow for RememberRecord {
    fn from_row<D: Dialect>(row: &D::Row) -> StoreResult<Self> {
        let user_id: Id = col::<D, _>(row, 1)?;
        Ok(RememberRecord {
            selector: col::<D, _>(row, 0)?,
            user_id: user_id.0,
            validator_hash: hash32(col::<D, _>(row, 2)?, "remember-me hash")?,
            previous_hash: col::<D, Option<Vec<u8>>>(row, 3)?.map(|h| hash32(h, "remember-me hash")).transpose()?,
            rotated_at: col::<D, Option<i64>>(row, 4)?.map(from_unix).transpose()?,
            created_at: from_unix(col::<D, _>(row, 5)?)?,
            expires_at: from_unix(col::<D, _>(row, 6)?)?,
        })
    }
}

/// Audit columns but the id, in the order inserts bind them; selects put `id` first.
macro_rules! audit_columns {
    () => {
        "at, event, user_id, username, session_id, ip, user_agent, detail"
    };
}

impl FromSqlRow for AuditRecord {
    fn from_row<D: Dialect>(row: &D::Row) -> StoreResult<Self> {
        Ok(AuditRecord {
            id: col::<D, _>(row, 0)?,
            at: from_unix(col::<D, _>(row, 1)?)?,
            event: col::<D, _>(row, 2)?,
            user_id: col::<D, Option<Id>>(row, 3)?.map(|id| id.0),
            username: col::<D, _>(row, 4)?,
            session_id: col::<D, Option<Id>>(row, 5)?.map(|id| id.0),
            ip: col::<D, _>(row, 6)?,
            user_agent: col::<D, _>(row, 7)?,
            detail: col::<D, _>(row, 8)?,
        })
    }
}

impl FromSqlRow for SignalRecord {
    fn from_row<D: Dialect>(row: &D::Row) -> StoreResult<Self> {
        let kind: String = col::<D, _>(row, 1)?;
        Ok(SignalRecord {
            seq: col::<D, _>(row, 0)?,
            kind: SignalKind::parse(&kind),
            user_id: col::<D, Option<Id>>(row, 2)?.map(|id| id.0),
            at: from_unix_ms(col::<D, _>(row, 3)?)?,
        })
    }
}

/// Challenge columns, in the order [`ChallengeRecord`]'s reader expects and inserts bind them.
macro_rules! challenge_columns {
    () => {
        "id_hash, user_id, purpose, binding, state, attempts, created_at, expires_at"
    };
}

impl FromSqlRow for ChallengeRecord {
    fn from_row<D: Dialect>(row: &D::Row) -> StoreResult<Self> {
        let user_id: Id = col::<D, _>(row, 1)?;
        let attempts: i64 = col::<D, _>(row, 5)?;
        Ok(ChallengeRecord {
            id_hash: hash32(col::<D, _>(row, 0)?, "challenge hash")?,
            user_id: user_id.0,
            purpose: col::<D, _>(row, 2)?,
            binding: hash32(col::<D, _>(row, 3)?, "challenge binding")?,
            state: col::<D, _>(row, 4)?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            created_at: from_unix(col::<D, _>(row, 6)?)?,
            expires_at: from_unix(col::<D, _>(row, 7)?)?,
        })
    }
}

macro_rules! totp_columns {
    () => {
        "user_id, sealed, created_at, confirmed_at, last_step"
    };
}

impl FromSqlRow for TotpRecord {
    fn from_row<D: Dialect>(row: &D::Row) -> StoreResult<Self> {
        let user_id: Id = col::<D, _>(row, 0)?;
        let confirmed_at: Option<i64> = col::<D, _>(row, 3)?;
        Ok(TotpRecord {
            user_id: user_id.0,
            sealed: col::<D, _>(row, 1)?,
            created_at: from_unix(col::<D, _>(row, 2)?)?,
            confirmed_at: confirmed_at.map(from_unix).transpose()?,
            last_step: col::<D, _>(row, 4)?,
        })
    }
}

macro_rules! recovery_columns {
    () => {
        "user_id, code_hash, created_at, used_at"
    };
}

impl FromSqlRow for RecoveryCodeRecord {
    fn from_row<D: Dialect>(row: &D::Row) -> StoreResult<Self> {
        let user_id: Id = col::<D, _>(row, 0)?;
        let used_at: Option<i64> = col::<D, _>(row, 3)?;
        Ok(RecoveryCodeRecord {
            user_id: user_id.0,
            code_hash: hash32(col::<D, _>(row, 1)?, "recovery code hash")?,
            created_at: from_unix(col::<D, _>(row, 2)?)?,
            used_at: used_at.map(from_unix).transpose()?,
        })
    }
}

/// One row of a role listing: the role, its description, one of its permissions.
pub(super) struct RoleRow(String, Option<String>, Option<String>);

impl FromSqlRow for RoleRow {
    fn from_row<D: Dialect>(row: &D::Row) -> StoreResult<Self> {
        Ok(RoleRow(col::<D, _>(row, 0)?, col::<D, _>(row, 1)?, col::<D, _>(row, 2)?))
    }
}

/// Folds role rows, ordered by role then permission, into roles.
pub(super) fn roles_from_rows(rows: Vec<RoleRow>) -> Vec<Role> {
    let mut roles: Vec<Role> = Vec::new();
    for RoleRow(name, description, permission) in rows {
        if roles.last().map(|r| r.name != name).unwrap_or(true) {
            roles.push(Role { name, description, permissions: Vec::new() });
        }
        if let (Some(role), Some(permission)) = (roles.last_mut(), permission) {
            role.permissions.push(permission);
        }
    }
    roles
}

/// What a unique violation on `users.username_skeleton` is about: the name looks like another.
pub(crate) const LOOKALIKE: &str = "a look-alike of this username";

/// Names what a unique violation on `table` (and, for `users`, `username`) was about.
pub(crate) fn conflict_subject(table: &str, username: bool) -> &'static str {
    match table {
        "users" if username => "username",
        "users" => "user",
        "roles" => "role",
        "sessions" => "session",
        "remember_tokens" => "remember-me series",
        "audit_log" => "audit row",
        _ => "record",
    }
}

/// The account `create_user` inserts: a new id, roles sorted and deduplicated, times as stored
/// (whole seconds). Permissions are left for the store to read back.
pub(super) fn new_account(new: NewUser, now: OffsetDateTime) -> StoreResult<User> {
    let mut roles = new.roles;
    roles.sort();
    roles.dedup();
    let now = from_unix(to_unix(now))?;
    Ok(User {
        id: Uuid::now_v7(),
        username: new.username,
        email: new.email,
        password_hash: new.password_hash,
        disabled: false,
        roles,
        permissions: Vec::new(),
        created_at: now,
        updated_at: now,
    })
}

/// A `LIKE … ESCAPE '\'` pattern matching text that contains `search` lowercased; its wildcards
/// are matched literally.
pub(super) fn contains_pattern(search: Option<&str>) -> Option<String> {
    search.map(|s| {
        let escaped = s.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("%{escaped}%")
    })
}

pub(super) use {
    audit_columns, challenge_columns, recovery_columns, remember_columns, session_columns, totp_columns, user_joins,
    user_select,
};
