//! Copying everything from one store to another (`portcullis store migrate`), e.g. from the
//! embedded SQLite file to Postgres when one instance becomes several.
//!
//! The target must be empty (its migrations applied, nothing else): the copy never merges, so it
//! cannot overwrite or lose anything already there. Accounts keep their ids, so sessions,
//! remember-me series and audit rows still point at them; audit rows keep their ids too. After
//! the copy every kind of record is read back from both stores and compared, field by field.
//!
//! Stop the instances writing to the source first: a login made during the copy may be missed.

use std::fmt;

use crate::audit::{AuditQuery, AuditRecord};
use crate::store::{AuditStore, StoreError, StoreResult, Stores};

/// How many of each kind were copied (and found equal on both sides afterwards).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// Roles (with their permissions).
    pub roles: u64,
    /// Accounts (with their roles).
    pub users: u64,
    /// Sessions and refresh-token families, revoked ones included.
    pub sessions: u64,
    /// Remember-me series.
    pub remember: u64,
    /// Audit-log rows.
    pub audit: u64,
    /// TOTP factors (their seeds stay sealed: the target needs the same sealing keys).
    pub totp: u64,
    /// Recovery codes, used ones included.
    pub recovery_codes: u64,
}

impl fmt::Display for Copied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} roles, {} users, {} sessions, {} remember-me series, {} audit rows, {} TOTP factors, {} recovery codes",
            self.roles, self.users, self.sessions, self.remember, self.audit, self.totp, self.recovery_codes
        )
    }
}

/// Why a copy stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The target already holds data.
    #[error("the target store is not empty ({0}); migrate into a new database")]
    TargetNotEmpty(String),
    /// A store call failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Read back, the target differs from the source.
    #[error("verification failed: {0}")]
    Mismatch(String),
}

/// Audit rows read per page.
const PAGE: u32 = 1000;

/// Copies every record of `from` into the empty `to`, then verifies the copy.
pub async fn copy(from: &Stores, to: &Stores) -> Result<Copied, MigrateError> {
    ensure_empty(to).await?;
    let mut copied = Copied::default();

    // Roles first: accounts name them. The target's migrations seed built-in roles (`admin`),
    // which take the source's permissions.
    let existing: Vec<String> = to.roles.list_roles().await?.into_iter().map(|r| r.name).collect();
    let now = time::OffsetDateTime::now_utc();
    for role in from.roles.list_roles().await? {
        if existing.contains(&role.name) {
            to.roles.set_role_permissions(&role.name, &role.permissions).await?;
        } else {
            to.roles.create_role(&role, now).await?;
        }
        copied.roles += 1;
    }
    for user in from.users.list_users().await? {
        to.transfer()?.import_user(&user).await?;
        copied.users += 1;
    }
    for session in from.transfer()?.all_sessions().await? {
        to.sessions.insert_session(&session).await?;
        copied.sessions += 1;
    }
    for series in from.transfer()?.all_remember().await? {
        to.remember.insert_remember(&series).await?;
        copied.remember += 1;
    }
    for factor in from.transfer()?.all_totp().await? {
        to.transfer()?.import_totp(&factor).await?;
        copied.totp += 1;
    }
    for code in from.transfer()?.all_recovery_codes().await? {
        to.transfer()?.import_recovery_code(&code).await?;
        copied.recovery_codes += 1;
    }
    each_audit_page(from.audit.as_ref(), async |_, page| {
        for row in page {
            to.transfer()?.import_audit(row).await?;
        }
        copied.audit += page.len() as u64;
        Ok(())
    })
    .await?;

    verify(from, to).await?;
    Ok(copied)
}

async fn ensure_empty(to: &Stores) -> Result<(), MigrateError> {
    let users = to.users.list_users().await?.len();
    let sessions = to.transfer()?.all_sessions().await?.len();
    let audit = to.transfer()?.audit_count().await?;
    if users + sessions > 0 || audit > 0 {
        return Err(MigrateError::TargetNotEmpty(format!("{users} users, {sessions} sessions, {audit} audit rows")));
    }
    Ok(())
}

async fn audit_page(store: &dyn AuditStore, before_id: Option<i64>) -> StoreResult<Vec<AuditRecord>> {
    store.query_audit(&AuditQuery { before_id, limit: PAGE, ..AuditQuery::default() }).await
}

/// Hands every page of `store`'s audit log, newest first, to `each` with the cursor it was read
/// at.
async fn each_audit_page(
    store: &dyn AuditStore,
    mut each: impl AsyncFnMut(Option<i64>, &[AuditRecord]) -> Result<(), MigrateError>,
) -> Result<(), MigrateError> {
    let mut before_id = None;
    loop {
        let page = audit_page(store, before_id).await?;
        each(before_id, &page).await?;
        match page.last() {
            Some(oldest) if page.len() == PAGE as usize => before_id = Some(oldest.id),
            _ => return Ok(()),
        }
    }
}

/// Reads every kind of record back from both stores and compares them.
pub async fn verify(from: &Stores, to: &Stores) -> Result<(), MigrateError> {
    same("roles", from.roles.list_roles().await?, to.roles.list_roles().await?)?;
    same("users", from.users.list_users().await?, to.users.list_users().await?)?;
    same("sessions", from.transfer()?.all_sessions().await?, to.transfer()?.all_sessions().await?)?;
    same("remember-me series", from.transfer()?.all_remember().await?, to.transfer()?.all_remember().await?)?;
    same("TOTP factors", from.transfer()?.all_totp().await?, to.transfer()?.all_totp().await?)?;
    same("recovery codes", from.transfer()?.all_recovery_codes().await?, to.transfer()?.all_recovery_codes().await?)?;
    same("audit row count", from.transfer()?.audit_count().await?, to.transfer()?.audit_count().await?)?;
    each_audit_page(from.audit.as_ref(), async |before_id, page| {
        same("audit rows", page, &audit_page(to.audit.as_ref(), before_id).await?)
    })
    .await
}

fn same<T: PartialEq + fmt::Debug>(what: &str, source: T, target: T) -> Result<(), MigrateError> {
    if source == target {
        return Ok(());
    }
    // Name the first difference rather than dumping both sides.
    let source = format!("{source:#?}");
    let target = format!("{target:#?}");
    let line = source.lines().zip(target.lines()).position(|(a, b)| a != b).unwrap_or(0);
    let at = |text: &str| text.lines().nth(line).unwrap_or("").trim().to_owned();
    Err(MigrateError::Mismatch(format!("{what} differ: source has `{}`, target has `{}`", at(&source), at(&target))))
}

#[cfg(test)]
mod tests {
    use time::{Duration, OffsetDateTime};
    use uuid::Uuid;

    use super::*;
    use crate::account::{NewUser, Role};
    use crate::session::remember::RememberRecord;
    use crate::session::{SessionKind, SessionRecord};
    use crate::store::postgres::testing::TempDatabase;
    use crate::store::Stores;

    /// A SQLite store with some of everything: a custom role, two accounts, a live and a revoked
    /// session, a remember-me series and more audit rows than one page.
    async fn populated() -> (tempfile::TempDir, Stores) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::store::open(&format!("sqlite://{}", dir.path().join("s.db").display())).await.expect("open");
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
        let role =
            Role { name: "editor".into(), description: Some("edits".into()), permissions: vec!["posts:write".into()] };
        store.roles.create_role(&role, t0).await.expect("role");
        let mut users = Vec::new();
        for name in ["alice", "Bob"] {
            let new = NewUser {
                username: name.into(),
                email: Some(format!("{name}@example.com")),
                password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
                roles: vec!["editor".into(), "admin".into()],
            };
            users.push(store.users.create_user(new, t0).await.expect("user"));
        }
        for (seed, revoked) in [(1u8, None), (2, Some(t0 + Duration::minutes(5)))] {
            let session = SessionRecord {
                id_hash: [seed; 32],
                public_id: Uuid::now_v7(),
                user_id: users[0].id,
                kind: if seed == 1 { SessionKind::Cookie } else { SessionKind::Token },
                created_at: t0,
                last_seen_at: t0 + Duration::minutes(1),
                expires_at: t0 + Duration::hours(24),
                fresh_until: t0 + Duration::minutes(10),
                remember: seed == 1,
                ip: Some("192.0.2.1".into()),
                user_agent: Some("test".into()),
                revoked_at: revoked,
                refresh_generation: i64::from(seed),
                rotated_at: revoked,
                fingerprint: None,
            };
            store.sessions.insert_session(&session).await.expect("session");
        }
        let series = RememberRecord {
            selector: "sel".into(),
            user_id: users[1].id,
            validator_hash: [3; 32],
            previous_hash: Some([4; 32]),
            rotated_at: Some(t0),
            created_at: t0,
            expires_at: t0 + Duration::days(30),
        };
        store.remember.insert_remember(&series).await.expect("remember");
        // A confirmed TOTP factor with a used step, and two recovery codes, one of them used.
        store.factors.put_pending_totp(users[0].id, b"sealed seed", t0).await.expect("totp");
        assert!(store.factors.accept_totp_step(users[0].id, 60_000_000, Some(t0)).await.expect("confirm"));
        store.factors.replace_recovery_codes(users[0].id, &[[7; 32], [8; 32]], t0).await.expect("codes");
        assert!(store.factors.use_recovery_code(users[0].id, &[8; 32], t0).await.expect("use"));
        for i in 0..(PAGE as i64 + 5) {
            let row = AuditRecord {
                id: 0,
                at: t0 + Duration::seconds(i),
                event: "login_ok".into(),
                user_id: Some(users[usize::from(i % 2 == 0)].id),
                username: None,
                session_id: None,
                ip: Some("192.0.2.1".into()),
                user_agent: None,
                detail: Some(format!("{{\"n\":{i}}}")),
            };
            store.audit.append_audit(&row).await.expect("audit");
        }
        (dir, store)
    }

    #[tokio::test]
    async fn everything_is_copied_and_verified() {
        let (_dir, source) = populated().await;
        let db = TempDatabase::create().await.expect("database");
        let target = crate::store::open(&db.url).await.expect("open target");
        let copied = copy(&source, &target).await.expect("copied");
        // admin (seeded on both) and editor.
        let expected = Copied {
            roles: 2,
            users: 2,
            sessions: 2,
            remember: 1,
            audit: u64::from(PAGE) + 5,
            totp: 1,
            recovery_codes: 2,
        };
        assert_eq!(copied, expected);
        let codes = target.transfer().expect("transfer").all_recovery_codes().await.expect("codes");
        assert_eq!(codes.iter().filter(|c| c.used_at.is_some()).count(), 1, "a used code stays used");
        // New rows on the target carry on after the copied ones.
        let next = AuditRecord {
            id: 0,
            event: "after".into(),
            ..source.audit.query_audit(&AuditQuery { limit: 1, ..Default::default() }).await.expect("q")[0].clone()
        };
        target.audit.append_audit(&next).await.expect("append");
        let newest = target.audit.query_audit(&AuditQuery { limit: 1, ..Default::default() }).await.expect("q");
        assert_eq!((newest[0].event.as_str(), newest[0].id), ("after", i64::from(PAGE) + 6));
    }

    #[tokio::test]
    async fn a_target_with_data_is_refused_and_a_difference_is_named() {
        let (_dir, source) = populated().await;
        let db = TempDatabase::create().await.expect("database");
        let target = crate::store::open(&db.url).await.expect("open target");
        copy(&source, &target).await.expect("first copy");
        let again = copy(&source, &target).await.expect_err("not empty");
        assert!(matches!(again, MigrateError::TargetNotEmpty(_)), "{again}");
        // A change on one side only is caught by the verification.
        let alice = source.users.user_by_username("alice").await.expect("q").expect("alice");
        source.users.set_password_hash(alice.id, "changed", alice.updated_at).await.expect("set");
        let differs = verify(&source, &target).await.expect_err("differs");
        assert!(differs.to_string().contains("users differ") && differs.to_string().contains("changed"), "{differs}");
    }
}
