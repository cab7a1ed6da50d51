//! One behaviour suite every backend must pass, so backends cannot drift apart.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{NewUser, SessionKind, SessionRecord, Store, StoreError};

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
    }
}

async fn users(store: &dyn Store) {
    let alice = store.create_user(new_user("Alice"), at(0)).await.expect("create");
    assert_eq!(alice.roles, ["a", "b"], "roles sorted and deduplicated");
    let again = store.create_user(new_user("alice"), at(1)).await;
    assert!(matches!(again, Err(StoreError::Conflict("username"))), "usernames are unique ignoring case");
    let found = store.user_by_username("ALICE").await.expect("lookup").expect("found");
    assert_eq!(found, alice);
    assert_eq!(store.user_by_id(alice.id).await.expect("by id"), Some(alice.clone()));
    assert_eq!(store.user_by_username("bob").await.expect("lookup"), None);
    assert!(store.set_password_hash(alice.id, "new-hash", at(5)).await.expect("set"));
    assert!(!store.set_password_hash(Uuid::now_v7(), "x", at(5)).await.expect("set"));
    let found = store.user_by_id(alice.id).await.expect("by id").expect("found");
    assert_eq!((found.password_hash.as_str(), found.updated_at), ("new-hash", at(5)));
    store.create_user(new_user("bob"), at(2)).await.expect("create");
    let names: Vec<_> = store.list_users().await.expect("list").into_iter().map(|u| u.username).collect();
    assert_eq!(names, ["Alice", "bob"]);
}

async fn sessions(store: &dyn Store) {
    let user = store.create_user(new_user("carol"), at(0)).await.expect("create");
    let s1 = session(user.id, 1, at(0));
    let s2 = session(user.id, 2, at(0));
    store.insert_session(&s1).await.expect("insert");
    store.insert_session(&s2).await.expect("insert");
    assert_eq!(store.session_by_hash(&[1; 32]).await.expect("get"), Some(s1.clone()));
    assert_eq!(store.session_by_hash(&[9; 32]).await.expect("get"), None);

    store.touch_session(&[1; 32], at(100)).await.expect("touch");
    store.touch_session(&[1; 32], at(50)).await.expect("touch never moves back");
    let got = store.session_by_hash(&[1; 32]).await.expect("get").expect("found");
    assert_eq!(got.last_seen_at, at(100));

    assert!(store.revoke_session(&[1; 32], at(200), "logout").await.expect("revoke"));
    assert!(!store.revoke_session(&[1; 32], at(201), "logout").await.expect("second revoke is a no-op"));
    let got = store.session_by_hash(&[1; 32]).await.expect("get").expect("kept");
    assert_eq!(got.revoked_at, Some(at(200)));

    let s3 = session(user.id, 3, at(0));
    store.insert_session(&s3).await.expect("insert");
    let mut revoked = store.revoke_user_sessions(user.id, at(300), "admin").await.expect("revoke all");
    revoked.sort();
    assert_eq!(revoked, vec![[2; 32], [3; 32]], "only the live ones");

    let fresh = session(user.id, 4, at(10_000));
    store.insert_session(&fresh).await.expect("insert");
    let deleted = store.delete_expired(at(10_000), at(9_000), at(9_000)).await.expect("sweep");
    assert_eq!(deleted, 3, "idle and revoked sessions go; the fresh one stays");
    assert!(store.session_by_hash(&[4; 32]).await.expect("get").is_some());
    store.ping().await.expect("ping");
}

async fn refresh_families(store: &dyn Store) {
    let user = store.create_user(new_user("dave"), at(0)).await.expect("create");
    let mut family = session(user.id, 7, at(0));
    family.kind = SessionKind::Token;
    store.insert_session(&family).await.expect("insert");
    assert!(store.rotate_refresh(&[7; 32], 0, at(10)).await.expect("rotate"));
    assert!(!store.rotate_refresh(&[7; 32], 0, at(11)).await.expect("stale rotation loses"));
    let got = store.session_by_hash(&[7; 32]).await.expect("get").expect("found");
    assert_eq!(
        (got.kind, got.refresh_generation, got.rotated_at, got.last_seen_at),
        (SessionKind::Token, 1, Some(at(10)), at(10))
    );
    store.revoke_session(&[7; 32], at(20), "logout").await.expect("revoke");
    assert!(!store.rotate_refresh(&[7; 32], 1, at(21)).await.expect("revoked families do not rotate"));

    let mut idle_family = session(user.id, 8, at(0));
    idle_family.kind = SessionKind::Token;
    store.insert_session(&idle_family).await.expect("insert");
    let cookie = session(user.id, 9, at(0));
    store.insert_session(&cookie).await.expect("insert");
    // Token families idle longer than cookie sessions before they are swept.
    store.delete_expired(at(100), at(50), at(-50)).await.expect("sweep");
    assert!(store.session_by_hash(&[8; 32]).await.expect("get").is_some());
    assert!(store.session_by_hash(&[9; 32]).await.expect("get").is_none());
}

/// Runs the whole suite against `store` (which must be empty).
pub(crate) async fn run(store: Arc<dyn Store>) {
    users(store.as_ref()).await;
    sessions(store.as_ref()).await;
    refresh_families(store.as_ref()).await;
}

#[tokio::test]
async fn sqlite_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let store = super::open(&url).await.expect("open");
    run(store).await;
}

#[tokio::test]
async fn sqlite_in_memory_conforms() {
    run(super::open("sqlite::memory:").await.expect("open")).await;
}
