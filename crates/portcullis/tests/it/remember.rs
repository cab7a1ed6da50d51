//! Remember me: restore after the session cookie is gone, rotation, theft detection.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{cookie_value, problem, Server};
use crate::protection::audit_query;

const REMEMBER: &str = "portcullis_remember";
const SESSION: &str = "portcullis_session";

/// Logs in with remember-me on a cookie-less client (the test sends every cookie itself);
/// returns the client with its CSRF token, and the session and remember-me cookie values.
async fn remembered_login(server: &Server) -> (crate::common::Browser, String, String) {
    let mut b = server.raw();
    let res = b.get("/api/getcsrf").await;
    let nonce = cookie_value(&res, "portcullis_csrf").unwrap();
    b.csrf = Some(res.headers()["x-csrftoken"].to_str().unwrap().to_owned());
    let res = b
        .http
        .post(b.at("/api/login"))
        .header("cookie", format!("portcullis_csrf={nonce}"))
        .header("x-csrftoken", b.csrf.clone().unwrap())
        .json(&json!({"username": "test", "password": "test", "remember": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let remember = cookie_value(&res, REMEMBER).expect("a remember-me cookie");
    assert!(crate::common::set_cookies(&res).iter().any(|c| c.starts_with(REMEMBER) && c.contains("Max-Age=2592000")));
    b.csrf = Some(format!("{}|{nonce}", b.csrf.clone().unwrap()));
    (b, cookie_value(&res, SESSION).unwrap(), remember)
}

async fn me(b: &crate::common::Browser, cookie: &str) -> reqwest::Response {
    b.http.get(b.at("/api/me")).header("cookie", cookie).send().await.unwrap()
}

#[tokio::test]
async fn a_remember_cookie_restores_a_non_fresh_session_and_rotates() {
    let server = Server::start().await;
    let (b, session, remember) = remembered_login(&server).await;
    // The session idles out (30 min); the remember-me cookie (30 days) still holds.
    server.advance_minutes(31);
    problem(me(&b, &format!("{SESSION}={session}")).await, 401, "unauthenticated").await;
    let res = me(&b, &format!("{SESSION}={session}; {REMEMBER}={remember}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let new_session = cookie_value(&res, SESSION).expect("a new session cookie");
    let rotated = cookie_value(&res, REMEMBER).expect("a rotated remember-me cookie");
    assert_ne!(new_session, session);
    assert_ne!(rotated, remember);
    assert_eq!(rotated.split('.').next(), remember.split('.').next(), "same series");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["session"]["remember"], true);
    assert_eq!(body["session"]["fresh_until"], body["session"]["created_at"], "restored sessions are not fresh");
    // The new session works on its own.
    assert_eq!(me(&b, &format!("{SESSION}={new_session}")).await.status(), StatusCode::OK);
    let rows = server.auth.audit().query(&audit_query("remember_restored")).await.unwrap();
    assert_eq!(rows.len(), 1);
}

#[tokio::test]
async fn a_replayed_validator_is_theft_and_ends_everything() {
    let server = Server::start().await;
    let (b, _session, stolen) = remembered_login(&server).await;
    server.advance_minutes(31);
    // The thief uses the copied cookie first...
    let res = me(&b, &format!("{REMEMBER}={stolen}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let thief_session = cookie_value(&res, SESSION).unwrap();
    // ...within the grace a second tab with the same cookie still gets in (no false alarm)...
    assert_eq!(me(&b, &format!("{REMEMBER}={stolen}")).await.status(), StatusCode::OK);
    // ...but the victim's browser presenting the old validator later reveals the copy.
    server.advance_minutes(1);
    let res = me(&b, &format!("{REMEMBER}={stolen}")).await;
    let cleared = crate::common::set_cookies(&res);
    problem(res, 401, "unauthenticated").await;
    assert!(cleared.iter().any(|c| c.starts_with(&format!("{REMEMBER}=;")) && c.contains("Max-Age=0")));
    problem(me(&b, &format!("{SESSION}={thief_session}")).await, 401, "unauthenticated").await;
    let rows = server.auth.audit().query(&audit_query("remember_reused")).await.unwrap();
    assert_eq!(rows.len(), 1);
    let user = server.auth.stores().users.user_by_username("test").await.unwrap().unwrap();
    assert_eq!(rows[0].user_id, Some(user.id));
}

#[tokio::test]
async fn logout_ends_the_series_and_junk_is_cleared() {
    let server = Server::start().await;
    let (b, session, remember) = remembered_login(&server).await;
    let (token, nonce) = b.csrf.as_deref().unwrap().split_once('|').unwrap();
    let res = b
        .http
        .post(b.at("/api/logout"))
        .header("cookie", format!("{SESSION}={session}; {REMEMBER}={remember}; portcullis_csrf={nonce}"))
        .header("x-csrftoken", token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(crate::common::set_cookies(&res).iter().any(|c| c.starts_with(&format!("{REMEMBER}=;"))));
    server.advance_minutes(31);
    let res = me(&b, &format!("{REMEMBER}={remember}")).await;
    problem(res, 401, "unauthenticated").await;
    let res = me(&b, &format!("{REMEMBER}=junk")).await;
    assert!(crate::common::set_cookies(&res).iter().any(|c| c.starts_with(&format!("{REMEMBER}=;"))));
    problem(res, 401, "unauthenticated").await;
}

#[tokio::test]
async fn login_without_remember_sets_no_remember_cookie() {
    let server = Server::start().await;
    let mut b = server.browser();
    let res = b.login("test", "test").await;
    assert_eq!(cookie_value(&res, REMEMBER), None);
    let res = b.post("/api/login", json!({"username": "test", "password": "test", "remember": "maybe"})).await;
    let body = problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "remember");
}
