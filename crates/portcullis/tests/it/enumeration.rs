//! Login refusals look the same whether or not the username exists.

use portcullis::account::UserPatch;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::Server;

async fn setup() -> Server {
    let server = Server::with(|c| c.limits.per_user_burst = 100).await;
    let accounts = server.auth.accounts();
    let pw = portcullis::password::Password::new("right password");
    accounts.create("alice", &pw, None, vec![]).await.unwrap();
    let dis = accounts.create("dis", &pw, None, vec![]).await.unwrap();
    let patch = UserPatch { disabled: Some(true), ..UserPatch::default() };
    server.auth.stores().users.update_user(dis.id, &patch, portcullis::Clock::now(&server.clock)).await.unwrap();
    server
}

/// Status, body bytes, and how many hash verifications the attempt cost.
async fn seed_attempt(server: &Server, username: &str, password: &str) -> (StatusCode, Vec<u8>, usize) {
    let mut b = server.browser();
    b.fetch_csrf().await;
    let before = server.auth.accounts().hasher().verifications();
    let res = b.post("/api/login", json!({"username": username, "password": password})).await;
    let status = res.status();
    let body = res.bytes().await.unwrap().to_vec();
    (status, body, server.auth.accounts().hasher().verifications() - before)
}

async fn token_attempt(server: &Server, username: &str, password: &str) -> (StatusCode, Value, usize) {
    let before = server.auth.accounts().hasher().verifications();
    let res = server.raw().token_login_as(username, password).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    (status, body, server.auth.accounts().hasher().verifications() - before)
}

#[tokio::test]
async fn unknown_user_wrong_password_and_disabled_account_answer_alike() {
    let server = setup().await;
    let unknown = seed_attempt(&server, "nobody", "right password").await;
    let wrong = seed_attempt(&server, "alice", "wrong password").await;
    let disabled = seed_attempt(&server, "dis", "right password").await;
    assert_eq!(unknown, (StatusCode::UNAUTHORIZED, b"{\"login\":false}\n".to_vec(), 1), "one hash checked");
    assert_eq!(wrong, unknown);
    assert_eq!(disabled, unknown);

    let unknown = token_attempt(&server, "nobody", "right password").await;
    assert_eq!((unknown.0, unknown.2), (StatusCode::UNAUTHORIZED, 1));
    assert_eq!(unknown.1["code"], "invalid_credentials");
    assert_eq!(token_attempt(&server, "alice", "wrong password").await, unknown);
    assert_eq!(token_attempt(&server, "dis", "right password").await, unknown);
    // The right password still works for the enabled account.
    assert_eq!(seed_attempt(&server, "alice", "right password").await.0, StatusCode::OK);
}

#[tokio::test]
async fn unknown_names_lock_like_real_ones() {
    let server = setup().await;
    for name in ["alice", "nobody"] {
        for _ in 0..5 {
            assert_eq!(seed_attempt(&server, name, "guess").await.0, StatusCode::UNAUTHORIZED);
        }
    }
    let (s1, b1, v1) = seed_attempt(&server, "alice", "right password").await;
    let (s2, b2, v2) = seed_attempt(&server, "nobody", "right password").await;
    assert_eq!((s1, v1), (StatusCode::LOCKED, 0), "a locked account confirms no guess");
    assert_eq!((s2, v2), (StatusCode::LOCKED, 0));
    let strip = |b: Vec<u8>| {
        let mut v: Value = serde_json::from_slice(&b).unwrap();
        v.as_object_mut().unwrap().remove("retry_after");
        v
    };
    assert_eq!(strip(b1), strip(b2));
}
