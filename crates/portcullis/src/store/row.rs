//! Rows as the SQL backends read them, their conversion into store records, and the little logic
//! both SQL backends share around their queries (so the two cannot drift apart).
//!
//! Both SQL backends select ids as text and times as unix seconds, so one set of row types decodes
//! on SQLite and on Postgres (which casts its `uuid` columns with `::text` in the select list).

use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    from_unix, to_unix, AuditRecord, NewUser, RememberRecord, Role, SessionKind, SessionRecord, StoreError,
    StoreResult, User,
};

pub(crate) fn uuid(s: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(s).map_err(|e| StoreError::Backend(Box::new(e)))
}

fn hash32(bytes: Vec<u8>, what: &str) -> StoreResult<[u8; 32]> {
    bytes.try_into().map_err(|_| StoreError::Backend(format!("{what} is not 32 bytes").into()))
}

/// An account without its roles and permissions (those come from other tables).
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    username: String,
    email: Option<String>,
    password_hash: String,
    disabled: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> StoreResult<Self> {
        Ok(User {
            id: uuid(&row.id)?,
            username: row.username,
            email: row.email,
            password_hash: row.password_hash,
            disabled: row.disabled,
            roles: Vec::new(),
            permissions: Vec::new(),
            created_at: from_unix(row.created_at)?,
            updated_at: from_unix(row.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id_hash: Vec<u8>,
    public_id: String,
    user_id: String,
    kind: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    fresh_until: i64,
    remember: bool,
    ip: Option<String>,
    user_agent: Option<String>,
    revoked_at: Option<i64>,
    refresh_generation: i64,
    rotated_at: Option<i64>,
    fingerprint: Option<String>,
}

impl TryFrom<SessionRow> for SessionRecord {
    type Error = StoreError;

    fn try_from(row: SessionRow) -> StoreResult<Self> {
        Ok(SessionRecord {
            id_hash: hash32(row.id_hash, "session hash")?,
            public_id: uuid(&row.public_id)?,
            user_id: uuid(&row.user_id)?,
            kind: SessionKind::parse(&row.kind)
                .ok_or_else(|| StoreError::Backend(format!("unknown session kind {}", row.kind).into()))?,
            created_at: from_unix(row.created_at)?,
            last_seen_at: from_unix(row.last_seen_at)?,
            expires_at: from_unix(row.expires_at)?,
            fresh_until: from_unix(row.fresh_until)?,
            remember: row.remember,
            ip: row.ip,
            user_agent: row.user_agent,
            revoked_at: row.revoked_at.map(from_unix).transpose()?,
            refresh_generation: row.refresh_generation,
            rotated_at: row.rotated_at.map(from_unix).transpose()?,
            fingerprint: row.fingerprint,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RememberRow {
    selector: String,
    user_id: String,
    validator_hash: Vec<u8>,
    previous_hash: Option<Vec<u8>>,
    rotated_at: Option<i64>,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<RememberRow> for RememberRecord {
    type Error = StoreError;

    fn try_from(row: RememberRow) -> StoreResult<Self> {
        Ok(RememberRecord {
            selector: row.selector,
            user_id: uuid(&row.user_id)?,
            validator_hash: hash32(row.validator_hash, "remember-me hash")?,
            previous_hash: row.previous_hash.map(|h| hash32(h, "remember-me hash")).transpose()?,
            rotated_at: row.rotated_at.map(from_unix).transpose()?,
            created_at: from_unix(row.created_at)?,
            expires_at: from_unix(row.expires_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    at: i64,
    event: String,
    user_id: Option<String>,
    username: Option<String>,
    session_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Option<String>,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> StoreResult<Self> {
        Ok(AuditRecord {
            id: row.id,
            at: from_unix(row.at)?,
            event: row.event,
            user_id: row.user_id.as_deref().map(uuid).transpose()?,
            username: row.username,
            session_id: row.session_id.as_deref().map(uuid).transpose()?,
            ip: row.ip,
            user_agent: row.user_agent,
            detail: row.detail,
        })
    }
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
pub(crate) fn new_account(new: NewUser, now: OffsetDateTime) -> StoreResult<User> {
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
pub(crate) fn contains_pattern(search: Option<&str>) -> Option<String> {
    search.map(|s| {
        let escaped = s.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("%{escaped}%")
    })
}

/// Folds `(role, description, permission)` rows, ordered by role then permission, into roles.
pub(crate) fn roles_from_rows(rows: Vec<(String, Option<String>, Option<String>)>) -> Vec<Role> {
    let mut roles: Vec<Role> = Vec::new();
    for (name, description, permission) in rows {
        if roles.last().map(|r| r.name != name).unwrap_or(true) {
            roles.push(Role { name, description, permissions: Vec::new() });
        }
        if let (Some(role), Some(permission)) = (roles.last_mut(), permission) {
            role.permissions.push(permission);
        }
    }
    roles
}
