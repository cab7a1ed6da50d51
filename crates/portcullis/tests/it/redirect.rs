//! Return-to (`next`) targets: only paths on this site.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{problem, Server};

#[tokio::test]
async fn login_accepts_a_local_next_and_refuses_other_sites() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    let login = |next: &str| json!({"username": "test", "password": "test", "next": next});
    for evil in ["//evil.example", "https://evil.example", "/\\evil.example", "/%2F%2Fevil.example"] {
        let body = problem(b.post("/api/login", login(evil)).await, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "next", "{evil}");
        problem(b.token_login_as_with("test", "test", evil).await, 422, "validation_failed").await;
    }
    assert!(!b.logged_in().await, "a refused next logs nobody in");
    let res = b.post("/api/login", login("/app/settings?tab=2")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"login": true, "next": "/app/settings?tab=2"}));
    let res = b.token_login_as_with("test", "test", "/app").await;
    assert_eq!(res.json::<Value>().await.unwrap()["next"], "/app");
    // Without `next`, the seed's exact body.
    let res = b.post("/api/login", json!({"username": "test", "password": "test"})).await;
    assert_eq!(res.text().await.unwrap(), "{\"login\":true}\n");
}

#[tokio::test]
async fn login_refuses_next_encoded_twice_or_with_look_alike_slashes() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    let login = |next: &str| json!({"username": "test", "password": "test", "next": next});
    for evil in [
        "/%252F%252Fevil.example",
        "/%25252F%25252Fevil.example",
        "/%255Cevil.example",
        "/\u{FF0F}\u{FF0F}evil.example",
        "/%EF%BC%8F%EF%BC%8Fevil.example",
        "/\u{FF3C}evil.example",
        "/\u{2215}\u{2215}evil.example",
    ] {
        let body = problem(b.post("/api/login", login(evil)).await, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "next", "{evil}");
        problem(b.token_login_as_with("test", "test", evil).await, 422, "validation_failed").await;
    }
    assert!(!b.logged_in().await, "a refused next logs nobody in");
    let res = b.post("/api/login", login("/reports/100%25")).await;
    assert_eq!(res.json::<Value>().await.unwrap()["next"], "/reports/100%25", "a literal percent sign passes");
}

impl crate::common::Browser {
    async fn token_login_as_with(&self, username: &str, password: &str, next: &str) -> reqwest::Response {
        let body = json!({ "username": username, "password": password, "next": next });
        self.http.post(self.at("/auth/login")).json(&body).send().await.unwrap()
    }
}
