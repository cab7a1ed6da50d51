//! Every row of API.md's seed-compatible table, bodies byte for byte.

use serde_json::json;

use crate::common::{cookie_value, problem, Server};

async fn body(res: reqwest::Response, status: u16) -> String {
    assert_eq!(res.status().as_u16(), status);
    assert_eq!(res.headers()["content-type"], "application/json");
    res.text().await.unwrap()
}

#[tokio::test]
async fn ping() {
    let server = Server::start().await;
    assert_eq!(body(server.browser().get("/api/ping").await, 200).await, "{\"ping\":\"pong!\"}\n");
}

#[tokio::test]
async fn getcsrf_sets_header_and_cookie() {
    let server = Server::start().await;
    let res = server.browser().get("/api/getcsrf").await;
    let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    assert!(cookie_value(&res, "portcullis_csrf").is_some());
    assert_eq!(body(res, 200).await, "{\"detail\":\"CSRF cookie set\"}\n");
}

#[tokio::test]
async fn the_seed_flow() {
    let server = Server::start().await;
    let mut b = server.browser();
    assert_eq!(body(b.get("/api/getsession").await, 200).await, "{\"login\":false}\n");
    let res = b.login("test", "test").await;
    assert!(cookie_value(&res, "portcullis_session").is_some_and(|v| v.len() == 43));
    assert_eq!(body(res, 200).await, "{\"login\":true}\n");
    assert_eq!(body(b.get("/api/getsession").await, 200).await, "{\"login\":true}\n");
    assert_eq!(body(b.get("/api/data").await, 200).await, "{\"username\":\"test\"}\n");
    assert_eq!(body(b.post("/api/logout", json!({})).await, 200).await, "{\"logout\":true}\n");
    assert_eq!(body(b.get("/api/getsession").await, 200).await, "{\"login\":false}\n");
    problem(b.get("/api/data").await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn get_logout_from_the_same_site() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.login("test", "test").await;
    let res = b.http.get(b.at("/api/logout")).header("Sec-Fetch-Site", "same-origin").send().await.unwrap();
    assert_eq!(body(res, 200).await, "{\"logout\":true}\n");
    assert!(!b.logged_in().await);
}

#[tokio::test]
async fn failed_logins_answer_401_login_false() {
    let server = Server::start().await;
    let mut b = server.browser();
    assert_eq!(body(b.login("test", "wrong").await, 401).await, "{\"login\":false}\n");
    assert_eq!(body(b.login("nobody", "test").await, 401).await, "{\"login\":false}\n");
    assert!(!b.logged_in().await);
}

#[tokio::test]
async fn usernames_match_ignoring_case() {
    let server = Server::start().await;
    let mut b = server.browser();
    assert_eq!(body(b.login("TEST", "test").await, 200).await, "{\"login\":true}\n");
    assert_eq!(body(b.get("/api/data").await, 200).await, "{\"username\":\"test\"}\n");
}

#[tokio::test]
async fn unknown_user_and_wrong_password_both_verify_a_hash() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    let hasher = server.auth.accounts().hasher();

    let before = hasher.verifications();
    let wrong = b.login("test", "wrong").await;
    assert_eq!(hasher.verifications(), before + 1, "wrong password verifies the user's hash");
    let (wrong_status, wrong_body) = (wrong.status(), wrong.text().await.unwrap());

    let before = hasher.verifications();
    let unknown = b.login("no-such-user", "wrong").await;
    assert_eq!(hasher.verifications(), before + 1, "unknown user verifies the dummy hash");
    assert_eq!((unknown.status(), unknown.text().await.unwrap()), (wrong_status, wrong_body));
}

#[tokio::test]
async fn logout_needs_a_session() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    problem(b.post("/api/logout", json!({})).await, 401, "unauthenticated").await;
    problem(b.get("/api/logout").await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn login_accepts_a_form_body() {
    let server = Server::start().await;
    let mut b = server.browser();
    let token = b.fetch_csrf().await;
    let res = b
        .http
        .post(b.at("/api/login"))
        .form(&[("username", "test"), ("password", "test"), ("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(body(res, 200).await, "{\"login\":true}\n");
}
