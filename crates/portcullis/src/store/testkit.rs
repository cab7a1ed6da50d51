//! The conformance kit: one behaviour suite every store backend must pass, so that backends
//! cannot drift apart. Behind the `testkit` feature, so that a crate writing its own backend can
//! run it:
//!
//! ```no_run
//! # async fn check(stores: portcullis::store::Stores) {
//! // `stores` over a new, empty database of the backend under test.
//! portcullis::store::testkit::run(&stores).await;
//! # }
//! ```
//!
//! Every case panics, naming what differs, when the backend does not behave as the traits say.
//! The cases share one store and pick names of their own, so they run in one database. The
//! `transfer` case runs only when [`Stores::transfer`] is set.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{StoreError, Stores};
use crate::account::{NewUser, Role, User, UserPatch};
use crate::audit::{AuditQuery, AuditRecord};
use crate::auth::challenge::ChallengeRecord;
use crate::auth::totp::TotpRecord;
use crate::session::remember::RememberRecord;
use crate::session::{SessionKind, SessionRecord};
use crate::signal::SignalKind;

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).expect("valid time")
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        email: None,
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        roles: vec!["b".into(), "a".into(), "a".into()],
    }
}

fn session(user_id: Uuid, seed: u8, created: OffsetDateTime) -> SessionRecord {
    SessionRecord {
        id_hash: [seed; 32],
        public_id: Uuid::now_v7(),
        user_id,
        kind: SessionKind::Cookie,
        created_at: created,
        last_seen_at: created,
        expires_at: created + Duration::hours(24),
        fresh_until: created,
        remember: false,
        ip: Some("127.0.0.1".into()),
        user_agent: Some("test".into()),
        revoked_at: None,
        refresh_generation: 0,
        rotated_at: None,
        fingerprint: Some("0123456789abcdef0123456789abcdef".into()),
    }
}

/// Names are unique under their PRECIS key and their UTS #39 skeleton.
async fn look_alikes(store: &Stores) {
    let mallory = store.users.create_user(new_user("mallory"), at(0)).await.expect("create");
    for same in ["ｍａｌｌｏｒｙ", "MALLORY"] {
        let again = store.users.create_user(new_user(same), at(1)).await;
        assert!(matches!(again, Err(StoreError::Conflict("username"))), "{same}: {again:?}");
        assert_eq!(store.users.user_by_username(same).await.expect("lookup").map(|u| u.id), Some(mallory.id));
    }
    let look_alike = store.users.create_user(new_user("rnallory"), at(1)).await;
    assert!(matches!(look_alike, Err(StoreError::Conflict(super::sql::LOOKALIKE))), "{look_alike:?}");
}

async fn users(store: &Stores) {
    let alice = store.users.create_user(new_user("Alice"), at(0)).await.expect("create");
    assert_eq!(alice.roles, ["a", "b"], "roles sorted and deduplicated");
    let again = store.users.create_user(new_user("alice"), at(1)).await;
    assert!(matches!(again, Err(StoreError::Conflict("username"))), "usernames are unique ignoring case");
    let found = store.users.user_by_username("ALICE").await.expect("lookup").expect("found");
    assert_eq!(found, alice);
    assert_eq!(store.users.user_by_id(alice.id).await.expect("by id"), Some(alice.clone()));
    assert_eq!(store.users.user_by_username("bob").await.expect("lookup"), None);
    assert!(store.users.set_password_hash(alice.id, "new-hash", at(5)).await.expect("set"));
    assert!(!store.users.set_password_hash(Uuid::now_v7(), "x", at(5)).await.expect("set"));
    let found = store.users.user_by_id(alice.id).await.expect("by id").expect("found");
    assert_eq!((found.password_hash.as_str(), found.updated_at), ("new-hash", at(5)));
    store.users.create_user(new_user("bob"), at(2)).await.expect("create");
    let names: Vec<_> = store.users.list_users().await.expect("list").into_iter().map(|u| u.username).collect();
    assert_eq!(names, ["Alice", "bob"]);
}

async fn sessions(store: &Stores) {
    let user = store.users.create_user(new_user("carol"), at(0)).await.expect("create");
    let s1 = session(user.id, 1, at(0));
    let s2 = session(user.id, 2, at(0));
    store.sessions.insert_session(&s1).await.expect("insert");
    store.sessions.insert_session(&s2).await.expect("insert");
    assert_eq!(store.sessions.session_by_hash(&[1; 32]).await.expect("get"), Some(s1.clone()));
    assert_eq!(store.sessions.session_by_hash(&[9; 32]).await.expect("get"), None);

    store.sessions.touch_session(&[1; 32], at(100)).await.expect("touch");
    store.sessions.touch_session(&[1; 32], at(50)).await.expect("touch never moves back");
    let got = store.sessions.session_by_hash(&[1; 32]).await.expect("get").expect("found");
    assert_eq!(got.last_seen_at, at(100));

    assert!(store.sessions.revoke_session(&[1; 32], at(200), "logout").await.expect("revoke"));
    assert!(!store.sessions.revoke_session(&[1; 32], at(201), "logout").await.expect("second revoke is a no-op"));
    let got = store.sessions.session_by_hash(&[1; 32]).await.expect("get").expect("kept");
    assert_eq!(got.revoked_at, Some(at(200)));

    let s3 = session(user.id, 3, at(0));
    store.sessions.insert_session(&s3).await.expect("insert");
    let listed: Vec<_> =
        store.sessions.user_sessions(user.id, at(300)).await.expect("list").iter().map(|s| s.id_hash).collect();
    assert_eq!(listed, vec![[2; 32], [3; 32]], "live sessions only, oldest first");
    assert!(
        store.sessions.user_sessions(user.id, at(100_000)).await.expect("list").is_empty(),
        "past the absolute end"
    );
    let kept =
        store.sessions.revoke_user_sessions(user.id, Some(&[3; 32]), at(300), "others").await.expect("revoke others");
    assert_eq!(kept, vec![[2; 32]], "all but the kept one");
    let mut revoked = store.sessions.revoke_user_sessions(user.id, None, at(300), "admin").await.expect("revoke all");
    revoked.sort();
    assert_eq!(revoked, vec![[3; 32]], "only the live ones");

    let fresh = session(user.id, 4, at(10_000));
    store.sessions.insert_session(&fresh).await.expect("insert");
    assert!(store.sessions.set_fresh_until(&[4; 32], at(10_600)).await.expect("fresh"));
    assert!(store.sessions.rekey_session(&[4; 32], &[5; 32], at(10_700)).await.expect("rekey"));
    assert!(store.sessions.session_by_hash(&[4; 32]).await.expect("get").is_none(), "the old id is gone");
    let rekeyed = store.sessions.session_by_hash(&[5; 32]).await.expect("get").expect("found under the new id");
    assert_eq!((rekeyed.public_id, rekeyed.fresh_until), (fresh.public_id, at(10_700)));
    assert!(!store.sessions.rekey_session(&[4; 32], &[6; 32], at(10_700)).await.expect("rekey"), "unknown id");
    assert!(store.sessions.rekey_session(&[5; 32], &[4; 32], at(10_700)).await.expect("rekey back"));
    let deleted = store.sessions.delete_expired(at(10_000), at(9_000), at(9_000)).await.expect("sweep");
    assert_eq!(deleted, 3, "idle and revoked sessions go; the fresh one stays");
    assert!(store.sessions.session_by_hash(&[4; 32]).await.expect("get").is_some());
    store.health.ping().await.expect("ping");
}

async fn refresh_families(store: &Stores) {
    let user = store.users.create_user(new_user("dave"), at(0)).await.expect("create");
    let mut family = session(user.id, 7, at(0));
    family.kind = SessionKind::Token;
    store.sessions.insert_session(&family).await.expect("insert");
    assert!(store.sessions.rotate_refresh(&[7; 32], 0, at(10)).await.expect("rotate"));
    assert!(!store.sessions.rotate_refresh(&[7; 32], 0, at(11)).await.expect("stale rotation loses"));
    let got = store.sessions.session_by_hash(&[7; 32]).await.expect("get").expect("found");
    assert_eq!(
        (got.kind, got.refresh_generation, got.rotated_at, got.last_seen_at),
        (SessionKind::Token, 1, Some(at(10)), at(10))
    );
    store.sessions.revoke_session(&[7; 32], at(20), "logout").await.expect("revoke");
    assert!(!store.sessions.rotate_refresh(&[7; 32], 1, at(21)).await.expect("revoked families do not rotate"));

    let mut idle_family = session(user.id, 8, at(0));
    idle_family.kind = SessionKind::Token;
    store.sessions.insert_session(&idle_family).await.expect("insert");
    let cookie = session(user.id, 9, at(0));
    store.sessions.insert_session(&cookie).await.expect("insert");
    // Token families idle longer than cookie sessions before they are swept.
    store.sessions.delete_expired(at(100), at(50), at(-50)).await.expect("sweep");
    assert!(store.sessions.session_by_hash(&[8; 32]).await.expect("get").is_some());
    assert!(store.sessions.session_by_hash(&[9; 32]).await.expect("get").is_none());
}

async fn accounts_admin(store: &Stores) {
    let erin = store.users.create_user(new_user("erin"), at(0)).await.expect("create");
    store.users.create_user(new_user("Frank_1"), at(0)).await.expect("create");
    store.users.create_user(new_user("frankie"), at(0)).await.expect("create");
    let page = store.users.search_users(Some("FRANK"), 0, 1).await.expect("search");
    assert_eq!((page.total, page.users.len(), page.users[0].username.as_str()), (2, 1, "Frank_1"));
    let page = store.users.search_users(Some("frank"), 1, 10).await.expect("page 2");
    assert_eq!(page.users.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["frankie"]);
    assert_eq!(store.users.search_users(Some("k_"), 0, 10).await.expect("search").total, 1, "_ is literal");
    assert_eq!(store.users.search_users(Some("%"), 0, 10).await.expect("search").total, 0, "% is literal");
    assert!(store.users.search_users(None, 0, 100).await.expect("all").total >= 3);

    store
        .roles
        .create_role(&Role { name: "editor".into(), description: None, permissions: vec!["post:write".into()] }, at(0))
        .await
        .expect("role");
    let taken =
        store.roles.create_role(&Role { name: "editor".into(), description: None, permissions: vec![] }, at(0)).await;
    assert!(matches!(taken, Err(StoreError::Conflict("role"))));
    let patch = UserPatch { roles: Some(vec!["editor".into()]), disabled: Some(true), email: Some(Some("e@x".into())) };
    let updated = store.users.update_user(erin.id, &patch, at(9)).await.expect("update").expect("found");
    assert_eq!(
        (updated.roles.clone(), updated.permissions.clone(), updated.disabled, updated.email.as_deref()),
        (vec!["editor".to_string()], vec!["post:write".to_string()], true, Some("e@x"))
    );
    assert!(store.roles.set_role_permissions("editor", &["post:read".into(), "post:write".into()]).await.expect("set"));
    assert!(!store.roles.set_role_permissions("nobody", &[]).await.expect("unknown role"));
    let reread = store.users.user_by_id(erin.id).await.expect("get").expect("found");
    assert_eq!(reread.permissions, ["post:read", "post:write"]);
    let roles = store.roles.list_roles().await.expect("roles");
    let names: Vec<_> = roles.iter().map(|r| r.name.as_str()).collect();
    assert!(names.contains(&"admin") && names.contains(&"editor"));
    let untouched =
        store.users.update_user(erin.id, &UserPatch::default(), at(10)).await.expect("noop").expect("found");
    assert_eq!((untouched.email.as_deref(), untouched.disabled), (Some("e@x"), true));
    assert!(store.users.update_user(Uuid::now_v7(), &patch, at(9)).await.expect("update").is_none());

    store.sessions.insert_session(&session(erin.id, 40, at(0))).await.expect("session");
    assert!(store.users.delete_user(erin.id).await.expect("delete"));
    assert!(!store.users.delete_user(erin.id).await.expect("delete twice"));
    assert!(store.sessions.session_by_hash(&[40; 32]).await.expect("get").is_none(), "sessions go with the account");
}

async fn remember(store: &Stores) {
    let gina = store.users.create_user(new_user("gina"), at(0)).await.expect("create");
    let series = |sel: &str| RememberRecord {
        selector: sel.into(),
        user_id: gina.id,
        validator_hash: [1; 32],
        previous_hash: None,
        rotated_at: None,
        created_at: at(0),
        expires_at: at(1000),
    };
    store.remember.insert_remember(&series("s1")).await.expect("insert");
    store.remember.insert_remember(&series("s2")).await.expect("insert");
    store.remember.insert_remember(&series("s3")).await.expect("insert");
    assert_eq!(store.remember.remember_by_selector("s1").await.expect("get"), Some(series("s1")));
    assert!(store.remember.rotate_remember("s1", &[1; 32], &[2; 32], at(5)).await.expect("rotate"));
    assert!(!store.remember.rotate_remember("s1", &[1; 32], &[3; 32], at(6)).await.expect("stale rotation loses"));
    let got = store.remember.remember_by_selector("s1").await.expect("get").expect("found");
    assert_eq!((got.validator_hash, got.previous_hash, got.rotated_at), ([2; 32], Some([1; 32]), Some(at(5))));
    assert!(store.remember.delete_remember("s2").await.expect("delete"));
    assert!(!store.remember.delete_remember("s2").await.expect("delete twice"));
    assert_eq!(store.remember.delete_user_remember(gina.id, Some("s3")).await.expect("all but s3"), 1);
    assert!(store.remember.remember_by_selector("s3").await.expect("get").is_some());
    assert_eq!(store.sessions.delete_expired_remember(at(999)).await.expect("sweep"), 0);
    assert_eq!(store.sessions.delete_expired_remember(at(1000)).await.expect("sweep"), 1);
}

async fn audit(store: &Stores) {
    let uid = Uuid::now_v7();
    let row = |secs: i64, event: &str, user: Option<Uuid>, name: &str| AuditRecord {
        id: 0,
        at: at(secs),
        event: event.into(),
        user_id: user,
        username: Some(name.into()),
        session_id: None,
        ip: Some("192.0.2.1".into()),
        user_agent: None,
        detail: Some(r#"{"k":1}"#.into()),
    };
    store.audit.append_audit(&row(1, "login_failed", None, "Hank")).await.expect("append");
    store.audit.append_audit(&row(2, "login_ok", Some(uid), "hank")).await.expect("append");
    store.audit.append_audit(&row(3, "logout", Some(uid), "hank")).await.expect("append");
    store.audit.append_audit(&row(4, "login_ok", None, "ivy")).await.expect("append");
    let q = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery { limit: 100, ..AuditQuery::default() };
        f(&mut q);
        q
    };
    let events = |rows: Vec<AuditRecord>| rows.into_iter().map(|r| r.event).collect::<Vec<_>>();
    let all = store.audit.query_audit(&q(&|_| {})).await.expect("all");
    assert_eq!(events(all.clone()), ["login_ok", "logout", "login_ok", "login_failed"], "newest first");
    assert_eq!(all[3].detail.as_deref(), Some(r#"{"k":1}"#));
    let by_id = store.audit.query_audit(&q(&|q| q.user_id = Some(uid))).await.expect("by id");
    assert_eq!(events(by_id), ["logout", "login_ok"]);
    let by_name = store.audit.query_audit(&q(&|q| q.username = Some("HANK".into()))).await.expect("by name");
    assert_eq!(by_name.len(), 3, "names match ignoring case");
    let ok = store.audit.query_audit(&q(&|q| q.event = Some("login_ok".into()))).await.expect("by event");
    assert_eq!(ok.len(), 2);
    let since = store.audit.query_audit(&q(&|q| q.since = Some(at(3)))).await.expect("since");
    assert_eq!(since.len(), 2);
    let first = store.audit.query_audit(&q(&|q| q.limit = 2)).await.expect("page 1");
    let before = first[1].id;
    let second = store.audit.query_audit(&q(&|q| q.before_id = Some(before))).await.expect("page 2");
    assert_eq!(events(second), ["login_ok", "login_failed"]);
    assert_eq!(store.audit.delete_audit_before(at(3)).await.expect("retention"), 2);
    assert_eq!(store.audit.query_audit(&q(&|_| {})).await.expect("rest").len(), 2);
}

async fn transfer(store: &Stores) {
    // Optional: a backend that cannot copy itself skips this case.
    let Some(copy) = store.transfer.as_deref() else { return };
    let viewer =
        Role { name: "viewer".into(), description: Some("reads".into()), permissions: vec!["post:read".into()] };
    store.roles.create_role(&viewer, at(0)).await.expect("role");
    let copied = User {
        id: Uuid::now_v7(),
        username: "Jules".into(),
        email: Some("j@x".into()),
        password_hash: "pbkdf2:sha256:600000$salt$hash".into(),
        disabled: true,
        roles: vec!["viewer".into()],
        permissions: vec!["post:read".into()],
        created_at: at(-1000),
        updated_at: at(-500),
    };
    copy.import_user(&copied).await.expect("import");
    assert_eq!(store.users.user_by_id(copied.id).await.expect("get"), Some(copied.clone()), "an exact copy");
    let same_id = copy.import_user(&User { username: "other".into(), ..copied.clone() }).await;
    assert!(matches!(same_id, Err(StoreError::Conflict("user"))), "{same_id:?}");
    let same_name = copy.import_user(&User { id: Uuid::now_v7(), username: "JULES".into(), ..copied.clone() }).await;
    assert!(matches!(same_name, Err(StoreError::Conflict("username"))), "{same_name:?}");
    assert!(store.users.user_by_username("other").await.expect("lookup").is_none(), "a refused import leaves nothing");

    let mut revoked = session(copied.id, 50, at(5));
    (revoked.kind, revoked.remember, revoked.refresh_generation) = (SessionKind::Token, true, 3);
    (revoked.revoked_at, revoked.rotated_at, revoked.fingerprint) = (Some(at(6)), Some(at(6)), None);
    let mut same_time = session(copied.id, 51, at(5));
    same_time.public_id = Uuid::from_u128(1);
    let later = session(copied.id, 52, at(7));
    for s in [&later, &revoked, &same_time] {
        store.sessions.insert_session(s).await.expect("insert keeps every field");
    }
    let mut all = copy.all_sessions().await.expect("all sessions");
    all.retain(|s| s.user_id == copied.id);
    assert_eq!(all, [same_time, revoked.clone(), later.clone()], "revoked too, by creation time then public id");
    let twice = store.sessions.insert_session(&later).await;
    assert!(matches!(twice, Err(StoreError::Conflict("session"))), "{twice:?}");

    let series = |sel: &str| RememberRecord {
        selector: sel.into(),
        user_id: copied.id,
        validator_hash: [3; 32],
        previous_hash: Some([4; 32]),
        rotated_at: Some(at(8)),
        created_at: at(1),
        expires_at: at(9),
    };
    store.remember.insert_remember(&series("t2")).await.expect("insert");
    store.remember.insert_remember(&series("t1")).await.expect("insert");
    let mut all = copy.all_remember().await.expect("all remember");
    all.retain(|r| r.user_id == copied.id);
    assert_eq!(all, [series("t1"), series("t2")], "by selector");

    let count = copy.audit_count().await.expect("count");
    let row = |id: i64, event: &str| AuditRecord {
        id,
        at: at(50),
        event: event.into(),
        user_id: Some(copied.id),
        username: Some("Jules".into()),
        session_id: Some(revoked.public_id),
        ip: None,
        user_agent: Some("ua".into()),
        detail: None,
    };
    copy.import_audit(&row(1000, "late")).await.expect("import");
    copy.import_audit(&row(500, "early")).await.expect("import");
    let taken = copy.import_audit(&row(1000, "again")).await;
    assert!(matches!(taken, Err(StoreError::Conflict("audit row"))), "{taken:?}");
    store.audit.append_audit(&row(0, "appended")).await.expect("append");
    let rows = store
        .audit
        .query_audit(&AuditQuery { user_id: Some(copied.id), limit: 10, ..AuditQuery::default() })
        .await
        .expect("query");
    assert_eq!(rows.len(), 3);
    assert!(rows[0].id > 1000 && rows[0].event == "appended", "appends come after copied ids: {}", rows[0].id);
    assert_eq!(rows[1..], [row(1000, "late"), row(500, "early")], "exact copies, ids kept");
    assert_eq!(copy.audit_count().await.expect("count"), count + 3);
}

async fn signals(store: &Stores) {
    assert_eq!(store.signals.last_signal().await.expect("last"), 0, "none yet");
    let alice = Uuid::now_v7();
    let t = at(1_000) + std::time::Duration::from_micros(1_500);
    store.signals.send_signal(SignalKind::Changed, Some(alice), t).await.expect("sent");
    store.signals.send_signal(SignalKind::Unlock, Some(alice), at(1_001)).await.expect("sent");
    store.signals.send_signal(SignalKind::Changed, None, at(1_002)).await.expect("sent");
    let all = store.signals.signals_after(0, 10).await.expect("read");
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "lowest first");
    assert_eq!((all[0].kind, all[0].user_id), (Some(SignalKind::Changed), Some(alice)));
    assert_eq!(all[0].at, at(1_000) + std::time::Duration::from_millis(2), "to the millisecond, rounded up");
    assert_eq!((all[1].kind, all[2].user_id), (Some(SignalKind::Unlock), None));
    assert_eq!(store.signals.last_signal().await.expect("last"), all[2].seq);
    assert_eq!(store.signals.signals_after(all[0].seq, 1).await.expect("read"), all[1..2]);
    assert_eq!(store.signals.delete_signals_before(at(1_002)).await.expect("swept"), 2);
    assert_eq!(store.signals.signals_after(0, 10).await.expect("read"), all[2..]);
}

/// Several tasks rotate one refresh family from the same generation at once: exactly one wins,
/// and the family moves on by one generation.
async fn concurrent_rotation(store: &Stores) {
    let user = store.users.create_user(new_user("kate"), at(0)).await.expect("create");
    let mut family = session(user.id, 60, at(0));
    family.kind = SessionKind::Token;
    store.sessions.insert_session(&family).await.expect("insert");
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let sessions = store.sessions.clone();
            tokio::spawn(async move { sessions.rotate_refresh(&[60; 32], 0, at(10 + i)).await })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.expect("task").expect("rotate"));
    }
    assert_eq!(winners, 1, "one rotation from generation 0 wins");
    let got = store.sessions.session_by_hash(&[60; 32]).await.expect("get").expect("found");
    assert_eq!(got.refresh_generation, 1);
}

/// Several tasks register one name at once: exactly one account is made, the others get
/// `Conflict("username")`.
async fn concurrent_registration(store: &Stores) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let users = store.users.clone();
            let name = if i % 2 == 0 { "Lena" } else { "lena" };
            tokio::spawn(async move { users.create_user(new_user(name), at(0)).await })
        })
        .collect();
    let (mut made, mut refused) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => made += 1,
            Err(StoreError::Conflict("username")) => refused += 1,
            Err(e) => panic!("a concurrent registration failed otherwise: {e:?}"),
        }
    }
    assert_eq!((made, refused), (1, 7), "one account, seven conflicts");
    let all = store.users.list_users().await.expect("list");
    assert_eq!(all.iter().filter(|u| u.username.eq_ignore_ascii_case("lena")).count(), 1);
}

/// Challenges: attempts are counted in the store, concurrent ones too, never beyond the limit;
/// expired ones are refused and swept; deleting one succeeds once.
async fn challenges(store: &Stores) {
    let user = store.users.create_user(new_user("nora"), at(0)).await.expect("create");
    let record = ChallengeRecord {
        id_hash: [70; 32],
        user_id: user.id,
        purpose: "session".into(),
        binding: [71; 32],
        state: Some(r#"{"remember":true}"#.into()),
        attempts: 0,
        created_at: at(0),
        expires_at: at(300),
    };
    store.challenges.insert_challenge(&record).await.expect("insert");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let challenges = store.challenges.clone();
            tokio::spawn(async move { challenges.attempt_challenge(&[70; 32], at(10), 5).await })
        })
        .collect();
    let mut counted = Vec::new();
    for task in tasks {
        if let Some(seen) = task.await.expect("task").expect("attempt") {
            counted.push(seen.attempts);
        }
    }
    counted.sort();
    assert_eq!(counted, [1, 2, 3, 4, 5], "each attempt takes its own number, none past the limit");
    let fresh = ChallengeRecord { id_hash: [72; 32], ..record.clone() };
    store.challenges.insert_challenge(&fresh).await.expect("insert");
    let seen = store.challenges.attempt_challenge(&[72; 32], at(10), 5).await.expect("attempt").expect("open");
    assert_eq!(seen, ChallengeRecord { attempts: 1, ..fresh }, "every field kept");
    assert!(store.challenges.attempt_challenge(&[72; 32], at(300), 5).await.expect("attempt").is_none(), "expired");
    assert!(store.challenges.attempt_challenge(&[73; 32], at(10), 5).await.expect("attempt").is_none(), "unknown");
    assert!(store.challenges.delete_challenge(&[72; 32]).await.expect("delete"));
    assert!(!store.challenges.delete_challenge(&[72; 32]).await.expect("delete twice"));
    assert_eq!(store.challenges.delete_expired_challenges(at(300)).await.expect("sweep"), 1);
}

/// TOTP factors: pending until confirmed, a step taken once, on any number of instances;
/// recovery codes replaced as a set and each used once.
async fn factors(store: &Stores) {
    let f = &store.factors;
    let user = store.users.create_user(new_user("otto"), at(0)).await.expect("create");
    assert_eq!(f.totp(user.id).await.expect("read"), None);
    assert!(!f.accept_totp_step(user.id, 10, None).await.expect("no factor"), "no factor, no step");
    assert!(f.put_pending_totp(user.id, b"first", at(0)).await.expect("pending"));
    assert!(f.put_pending_totp(user.id, b"second", at(1)).await.expect("replaced"), "a pending seed is replaced");
    assert!(!f.accept_totp_step(user.id, 10, None).await.expect("pending"), "a pending factor logs no one in");
    assert!(f.accept_totp_step(user.id, 10, Some(at(2))).await.expect("confirm"));
    let confirmed = TotpRecord {
        user_id: user.id,
        sealed: b"second".to_vec(),
        created_at: at(1),
        confirmed_at: Some(at(2)),
        last_step: Some(10),
    };
    assert_eq!(f.totp(user.id).await.expect("read"), Some(confirmed.clone()), "every field kept");
    assert!(!f.put_pending_totp(user.id, b"third", at(3)).await.expect("kept"), "a confirmed seed stays");
    assert!(!f.accept_totp_step(user.id, 11, Some(at(3))).await.expect("confirmed"), "confirmed only once");
    assert!(!f.accept_totp_step(user.id, 10, None).await.expect("same step"), "the confirming code logs no one in");
    assert!(!f.accept_totp_step(user.id, 9, None).await.expect("older"), "an older step after a newer one");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let factors = store.factors.clone();
            tokio::spawn(async move { factors.accept_totp_step(user.id, 11, None).await })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        accepted += usize::from(task.await.expect("task").expect("accept"));
    }
    assert_eq!(accepted, 1, "one code, many requests at once: accepted once");
    assert_eq!(f.totp(user.id).await.expect("read").and_then(|t| t.last_step), Some(11));

    f.replace_recovery_codes(user.id, &[[1; 32], [2; 32], [3; 32]], at(4)).await.expect("codes");
    assert_eq!(f.recovery_codes_left(user.id).await.expect("left"), 3);
    assert!(f.use_recovery_code(user.id, &[2; 32], at(5)).await.expect("use"));
    assert!(!f.use_recovery_code(user.id, &[2; 32], at(6)).await.expect("twice"), "each code once");
    assert!(!f.use_recovery_code(user.id, &[9; 32], at(6)).await.expect("wrong"), "an unknown code");
    let other = store.users.create_user(new_user("olga"), at(0)).await.expect("create");
    assert!(!f.use_recovery_code(other.id, &[1; 32], at(6)).await.expect("other"), "another account's code");
    assert_eq!(f.recovery_codes_left(user.id).await.expect("left"), 2);
    f.replace_recovery_codes(user.id, &[[4; 32]], at(7)).await.expect("new set");
    assert!(!f.use_recovery_code(user.id, &[1; 32], at(8)).await.expect("old set"), "a new set voids the old");
    assert_eq!(f.recovery_codes_left(user.id).await.expect("left"), 1);
    assert!(f.delete_totp(user.id).await.expect("delete"));
    assert!(!f.delete_totp(user.id).await.expect("delete twice"));
    assert_eq!(f.recovery_codes_left(user.id).await.expect("left"), 0, "the codes go with the factor");
    assert_eq!(f.totp(user.id).await.expect("read"), None);
}

/// Runs every case against `stores`, which must start empty (a new database with its
/// migrations applied). Panics at the first behaviour that differs from the traits' contract.
pub async fn run(stores: &Stores) {
    users(stores).await;
    sessions(stores).await;
    refresh_families(stores).await;
    accounts_admin(stores).await;
    remember(stores).await;
    audit(stores).await;
    transfer(stores).await;
    signals(stores).await;
    look_alikes(stores).await;
    concurrent_rotation(stores).await;
    concurrent_registration(stores).await;
    challenges(stores).await;
    factors(stores).await;
}
