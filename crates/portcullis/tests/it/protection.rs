//! Session protection: a session cookie used from another client.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{problem, Server};

async fn login_with_ua(server: &Server, ua: &str) -> crate::common::Browser {
    let mut b = server.browser();
    b.fetch_csrf().await;
    let res = b
        .http
        .post(b.at("/api/login"))
        .header("user-agent", ua)
        .header("x-csrftoken", b.csrf.clone().unwrap())
        .json(&json!({"username": "test", "password": "test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    b
}

async fn me_with_ua(b: &crate::common::Browser, ua: &str) -> reqwest::Response {
    b.http.get(b.at("/api/me")).header("user-agent", ua).send().await.unwrap()
}

#[tokio::test]
async fn strong_protection_ends_a_session_seen_from_another_browser() {
    let server = Server::with(|c| c.session.protection = "strong".into()).await;
    let b = login_with_ua(&server, "Firefox/130").await;
    assert_eq!(me_with_ua(&b, "Firefox/130").await.status(), StatusCode::OK);
    problem(me_with_ua(&b, "curl/8").await, 401, "unauthenticated").await;
    // Ended for good: the right user agent does not bring it back.
    problem(me_with_ua(&b, "Firefox/130").await, 401, "unauthenticated").await;
    let rows = server.auth.audit().query(&audit_query("protection_mismatch")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].detail.as_deref(), Some(r#"{"ended":true}"#));
}

#[tokio::test]
async fn basic_protection_keeps_the_session_but_ends_its_freshness() {
    let server = Server::start().await;
    let b = login_with_ua(&server, "Firefox/130").await;
    let me: Value = me_with_ua(&b, "Firefox/130").await.json().await.unwrap();
    let fresh_until = me["session"]["fresh_until"].as_str().unwrap().to_owned();
    assert!(fresh_until.as_str() > me["session"]["created_at"].as_str().unwrap(), "fresh after login");
    let moved = me_with_ua(&b, "curl/8").await;
    assert_eq!(moved.status(), StatusCode::OK, "basic keeps the session");
    let me: Value = moved.json().await.unwrap();
    assert_eq!(me["session"]["fresh_until"], me["session"]["created_at"], "no longer fresh");
    // Seen once: more requests from the other client write nothing more.
    assert_eq!(me_with_ua(&b, "curl/8").await.status(), StatusCode::OK);
    assert_eq!(me_with_ua(&b, "Firefox/130").await.status(), StatusCode::OK);
    let rows = server.auth.audit().query(&audit_query("protection_mismatch")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].detail.as_deref(), Some(r#"{"ended":false}"#));
    // A password change now needs a step-up.
    let res = b
        .http
        .post(b.at("/api/password"))
        .header("user-agent", "curl/8")
        .header("x-csrftoken", b.csrf.clone().unwrap())
        .json(&json!({"current_password": "test", "new_password": "a much longer one"}))
        .send()
        .await
        .unwrap();
    problem(res, 401, "fresh_login_required").await;
}

#[tokio::test]
async fn off_ignores_the_client() {
    let server = Server::with(|c| c.session.protection = "off".into()).await;
    let b = login_with_ua(&server, "Firefox/130").await;
    let me: Value = me_with_ua(&b, "curl/8").await.json().await.unwrap();
    assert_ne!(me["session"]["fresh_until"], me["session"]["created_at"]);
}

pub fn audit_query(event: &str) -> portcullis::audit::AuditQuery {
    portcullis::audit::AuditQuery { event: Some(event.into()), limit: 100, ..Default::default() }
}
