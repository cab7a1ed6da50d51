//! A user's own sessions: listing (cookie sessions and token families alike), revoking one or
//! all others, and a password change ending every other session.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{problem, Browser, Server};

/// Many logins of one user within a minute: the per-username limit is not what is tested here.
fn roomy(c: &mut portcullis::RawConfig) {
    c.limits.per_user_burst = 100;
}

async fn logged_in(server: &Server) -> Browser {
    let mut b = server.browser();
    assert_eq!(b.login("test", "test").await.status(), StatusCode::OK);
    b
}

async fn token(server: &Server) -> String {
    let res = server.raw().token_login_as("test", "test").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn sessions(b: &Browser) -> Vec<Value> {
    let res = b.get("/api/sessions").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["sessions"].as_array().unwrap().clone()
}

async fn bearer_me(server: &Server, token: &str) -> StatusCode {
    server.raw().http.get(format!("{}/api/me", server.url)).bearer_auth(token).send().await.unwrap().status()
}

async fn delete(b: &Browser, path: &str) -> reqwest::Response {
    b.http.delete(b.at(path)).header("x-csrftoken", b.csrf.clone().unwrap()).send().await.unwrap()
}

#[tokio::test]
async fn lists_cookie_sessions_and_token_families_with_the_current_one_marked() {
    let server = Server::with(roomy).await;
    let a = logged_in(&server).await;
    let _b = logged_in(&server).await;
    let _t = token(&server).await;
    let list = sessions(&a).await;
    assert_eq!(list.len(), 3);
    let kinds: Vec<_> = list.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["cookie", "cookie", "token"]);
    let current: Vec<_> = list.iter().map(|s| s["current"].as_bool().unwrap()).collect();
    assert_eq!(current, [true, false, false]);
    for s in &list {
        for key in ["id", "created_at", "last_seen_at", "expires_at", "ip"] {
            assert!(s[key].is_string(), "{key} in {s}");
        }
        assert_eq!(s["ip"], "127.0.0.1");
    }
    // Another user sees none of them.
    let other = server.auth.accounts();
    other.create("zoe", &portcullis::password::Password::new("zoe-password"), None, vec![]).await.unwrap();
    let mut z = server.browser();
    z.login("zoe", "zoe-password").await;
    assert_eq!(sessions(&z).await.len(), 1);
    // Nor can they end one: it is not found for them.
    let victim = list[1]["id"].as_str().unwrap();
    problem(delete(&z, &format!("/api/sessions/{victim}")).await, 404, "not_found").await;
    problem(delete(&z, "/api/sessions/not-a-uuid").await, 404, "not_found").await;
    assert_eq!(sessions(&a).await.len(), 3);
}

#[tokio::test]
async fn revoking_one_session_ends_it_at_once() {
    let server = Server::with(roomy).await;
    let a = logged_in(&server).await;
    let b = logged_in(&server).await;
    let t = token(&server).await;
    let list = sessions(&a).await;
    let res = delete(&a, &format!("/api/sessions/{}", list[1]["id"].as_str().unwrap())).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!b.logged_in().await);
    let res = delete(&a, &format!("/api/sessions/{}", list[2]["id"].as_str().unwrap())).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(bearer_me(&server, &t).await, StatusCode::UNAUTHORIZED, "the token family ended too");
    assert!(a.logged_in().await);
    // Without the CSRF header a cookie session cannot revoke anything.
    let res = a.http.delete(a.at(&format!("/api/sessions/{}", list[0]["id"].as_str().unwrap()))).send().await.unwrap();
    problem(res, 403, "csrf_failed").await;
    let rows = server.auth.audit().query(&crate::protection::audit_query("session_revoked")).await.unwrap();
    assert_eq!(rows.len(), 2);
}

#[tokio::test]
async fn revoke_others_keeps_only_the_caller() {
    let server = Server::with(roomy).await;
    let a = logged_in(&server).await;
    let b = logged_in(&server).await;
    let t = token(&server).await;
    let res = a.post("/api/sessions/revoke-others", json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["revoked"], 2);
    assert!(a.logged_in().await);
    assert!(!b.logged_in().await);
    assert_eq!(bearer_me(&server, &t).await, StatusCode::UNAUTHORIZED);
    assert_eq!(sessions(&a).await.len(), 1);
}

#[tokio::test]
async fn a_token_caller_lists_and_revokes_too() {
    let server = Server::with(roomy).await;
    let cookie = logged_in(&server).await;
    let t = token(&server).await;
    let http = reqwest::Client::new();
    let res = http.get(format!("{}/api/sessions", server.url)).bearer_auth(&t).send().await.unwrap();
    let list: Value = res.json().await.unwrap();
    let current: Vec<_> = list["sessions"].as_array().unwrap().iter().map(|s| s["current"] == true).collect();
    assert_eq!(current, [false, true]);
    // Bearer callers need no CSRF token.
    let res = http.post(format!("{}/api/sessions/revoke-others", server.url)).bearer_auth(&t).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!cookie.logged_in().await);
}

#[tokio::test]
async fn a_password_change_needs_freshness_and_ends_every_other_session() {
    let server = Server::with(roomy).await;
    let mut a = logged_in(&server).await;
    let b = logged_in(&server).await;
    let t = token(&server).await;
    let change = json!({"current_password": "test", "new_password": "correct horse battery"});
    // Fresh right after login...
    server.advance_minutes(11);
    // ...but not eleven minutes later.
    problem(a.post("/api/password", change.clone()).await, 401, "fresh_login_required").await;
    let res = a.post("/api/reauth", json!({"password": "wrong"})).await;
    problem(res, 401, "invalid_credentials").await;
    let res = a.post("/api/reauth", json!({"password": "test"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    problem(
        a.post("/api/password", json!({"current_password": "nope", "new_password": "correct horse battery"})).await,
        401,
        "invalid_credentials",
    )
    .await;
    let body = problem(
        a.post("/api/password", json!({"current_password": "test", "new_password": "short"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "new_password");
    let res = a.post("/api/password", change).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["revoked"], 2);
    assert!(a.logged_in().await, "the caller stays");
    assert!(!b.logged_in().await);
    assert_eq!(bearer_me(&server, &t).await, StatusCode::UNAUTHORIZED);
    let mut fresh = server.browser();
    assert_eq!(fresh.login("test", "test").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(fresh.login("test", "correct horse battery").await.status(), StatusCode::OK);
    let rows = server.auth.audit().query(&crate::protection::audit_query("password_changed")).await.unwrap();
    assert_eq!(rows.len(), 1);
    a.csrf = None;
}

#[tokio::test]
async fn a_password_change_ends_other_remember_me_series() {
    let server = Server::with(roomy).await;
    let mut other = server.browser();
    other.fetch_csrf().await;
    let res = other.post("/api/login", json!({"username": "test", "password": "test", "remember": true})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let a = logged_in(&server).await;
    let res =
        a.post("/api/password", json!({"current_password": "test", "new_password": "correct horse battery"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The other browser's session is gone and its remember-me cookie cannot bring it back.
    assert!(!other.logged_in().await);
    server.advance_minutes(31);
    assert!(!other.logged_in().await);
}
