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
