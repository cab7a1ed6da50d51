//! Registration and the current account.

use serde_json::{json, Value};

use crate::common::{problem, Server};

#[tokio::test]
async fn register_then_log_in() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    let res = b
        .post("/api/register", json!({"username": "Alice", "password": "correct horse", "email": "a@example.com"}))
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["username"], "Alice");
    assert_eq!(body["id"].as_str().unwrap().len(), 36);
    assert_eq!(b.login("alice", "correct horse").await.status(), 200);
    let me: Value = b.get("/api/me").await.json().await.unwrap();
    assert_eq!(me["id"], body["id"]);
    assert_eq!(me["username"], "Alice");
    assert_eq!(me["email"], "a@example.com");
    assert_eq!(me["roles"], json!([]));
    assert_eq!(me["permissions"], json!([]));
    assert_eq!(me["mfa_enabled"], false);
    for key in ["id", "created_at", "last_seen_at", "expires_at", "fresh_until"] {
        assert!(me["session"][key].is_string(), "session.{key} in {me}");
    }
    assert_eq!(me["session"]["remember"], false);
}

#[tokio::test]
async fn taken_usernames_conflict_ignoring_case() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    let res = b.post("/api/register", json!({"username": "TEST", "password": "another password"})).await;
    problem(res, 409, "conflict").await;
}

#[tokio::test]
async fn password_policy() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    for (username, password) in [("bob", "short"), ("bobbybobby", "BOBBYBOBBY"), ("bob", &"p".repeat(129))] {
        let body = problem(
            b.post("/api/register", json!({"username": username, "password": password})).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "password", "{body}");
    }
    let body = problem(
        b.post("/api/register", json!({"username": "bob", "password": "long enough", "email": "nope"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "email");
}

#[tokio::test]
async fn registration_can_be_disabled() {
    let server = Server::with(|c| c.accounts.registration = false).await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    problem(b.post("/api/register", json!({"username": "bob", "password": "long enough"})).await, 403, "forbidden")
        .await;
}

#[tokio::test]
async fn me_requires_a_session() {
    let server = Server::start().await;
    problem(server.browser().get("/api/me").await, 401, "unauthenticated").await;
}

/// Heavy argon2 parameters so a handful of logins saturate a one-thread pool.
fn heavy(c: &mut portcullis::RawConfig) {
    c.password.memory_kib = 19_456;
    c.password.iterations = 8;
    c.password.pool_size = 1;
    c.password.queue = 1;
    // The pool is what is measured here, not the login limits.
    c.limits.enabled = false;
    c.lockout.enabled = false;
}

#[tokio::test]
async fn a_full_hash_pool_answers_503_not_a_pile_up() {
    let server = Server::with(heavy).await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    let logins = (0..8).map(|_| b.post("/api/login", json!({"username": "test", "password": "wrong"})));
    let responses = futures_util::future::join_all(logins).await;
    let mut unavailable = 0;
    for res in responses {
        match res.status().as_u16() {
            401 => {}
            503 => {
                problem(res, 503, "unavailable").await;
                unavailable += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(unavailable >= 4, "one running and one queued at most; {unavailable} of 8 refused");
}

#[tokio::test]
async fn a_request_past_the_deadline_answers_503() {
    let server = Server::with(|c| {
        heavy(c);
        c.password.iterations = 40;
        c.server.request_timeout = "20ms".into();
    })
    .await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    let body =
        problem(b.post("/api/login", json!({"username": "test", "password": "test"})).await, 503, "unavailable").await;
    assert_eq!(body["detail"], "the request timed out");
}

#[tokio::test]
async fn with_first_user_admin_only_the_first_account_becomes_admin() {
    let server = Server::with(|c| c.accounts.first_user_admin = true).await;
    let store = &server.auth.stores().users;
    let seeded = store.user_by_username("test").await.unwrap().unwrap();
    assert!(store.delete_user(seeded.id).await.unwrap(), "start from an empty store");
    let mut b = server.browser();
    b.fetch_csrf().await;
    for name in ["first", "second"] {
        let res = b.post("/api/register", json!({"username": name, "password": "long enough pw"})).await;
        assert_eq!(res.status(), 201);
    }
    let roles = |name: &'static str| async move { store.user_by_username(name).await.unwrap().unwrap().roles };
    assert_eq!(roles("first").await, ["admin"]);
    assert!(roles("second").await.is_empty());
}
