//! Session life: new id at login, server-side logout, idle and absolute expiry on a moved clock.

use portcullis::session::SessionSecret;
use serde_json::json;

use crate::common::{cookie_value, Server};

async fn replay(server: &Server, cookie: &str) -> bool {
    let res = server
        .raw()
        .http
        .get(format!("{}/api/getsession", server.url))
        .header("Cookie", format!("portcullis_session={cookie}"))
        .send()
        .await
        .unwrap();
    res.text().await.unwrap() == "{\"login\":true}\n"
}

#[tokio::test]
async fn every_login_issues_a_new_id_and_ends_the_old_one() {
    let server = Server::start().await;
    let mut b = server.browser();
    let first = cookie_value(&b.login("test", "test").await, "portcullis_session").unwrap();
    let second = cookie_value(&b.login("test", "test").await, "portcullis_session").unwrap();
    assert_ne!(first, second, "session-fixation mitigation");
    assert!(!replay(&server, &first).await, "the previous session ended at re-login");
    assert!(replay(&server, &second).await);
}

#[tokio::test]
async fn a_planted_session_id_is_never_adopted() {
    let server = Server::start().await;
    let planted = SessionSecret::generate().encode();
    let mut b = server.raw();
    let res = b.http.get(b.at("/api/getcsrf")).send().await.unwrap();
    let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    let nonce = cookie_value(&res, "portcullis_csrf").unwrap();
    b.csrf = Some(token.clone());
    let res = b
        .http
        .post(b.at("/api/login"))
        .header("X-CSRFToken", token)
        .header("Cookie", format!("portcullis_csrf={nonce}; portcullis_session={planted}"))
        .json(&json!({"username": "test", "password": "test"}))
        .send()
        .await
        .unwrap();
    let issued = cookie_value(&res, "portcullis_session").unwrap();
    assert_ne!(issued, planted);
    assert!(!replay(&server, &planted).await);
}

#[tokio::test]
async fn an_old_cookie_after_logout_is_unauthenticated() {
    let server = Server::start().await;
    let mut b = server.browser();
    let cookie = cookie_value(&b.login("test", "test").await, "portcullis_session").unwrap();
    assert!(replay(&server, &cookie).await);
    let res = b.post("/api/logout", json!({})).await;
    assert!(crate::common::set_cookies(&res)
        .iter()
        .any(|c| c.starts_with("portcullis_session=;") && c.contains("Max-Age=0")));
    assert!(!replay(&server, &cookie).await, "logout is server-side");
}

#[tokio::test]
async fn only_the_hash_of_the_id_is_stored() {
    let server = Server::start().await;
    let mut b = server.browser();
    let cookie = cookie_value(&b.login("test", "test").await, "portcullis_session").unwrap();
    let secret = SessionSecret::parse(&cookie).unwrap();
    let record = server.auth.stores().sessions.session_by_hash(&secret.hash()).await.unwrap().unwrap();
    assert_eq!(record.id_hash, secret.hash());
    // Neither the database nor its WAL holds the secret itself.
    for entry in std::fs::read_dir(server.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(cookie.len()).any(|w| w == cookie.as_bytes()));
    }
}

#[tokio::test]
async fn idle_sessions_expire() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.login("test", "test").await;
    server.advance_minutes(29);
    assert!(b.logged_in().await);
    server.advance_minutes(29);
    assert!(b.logged_in().await, "the read at 29 min extended the idle deadline");
    server.advance_minutes(31);
    assert!(!b.logged_in().await, "31 idle minutes end the session");
    assert_eq!(b.get("/api/data").await.status(), 401);
}

#[tokio::test]
async fn reads_extend_but_the_absolute_timeout_holds() {
    let server = Server::with(|c| c.session.absolute_timeout = "2h".into()).await;
    let mut b = server.browser();
    b.login("test", "test").await;
    for _ in 0..5 {
        server.advance_minutes(20);
        assert_eq!(b.get("/api/data").await.status(), 200);
    }
    server.advance_minutes(21);
    assert!(!b.logged_in().await, "121 minutes after login, however active");
}

#[tokio::test]
async fn last_seen_is_written_at_most_once_per_touch_interval() {
    let server = Server::start().await;
    let mut b = server.browser();
    let cookie = cookie_value(&b.login("test", "test").await, "portcullis_session").unwrap();
    let hash = SessionSecret::parse(&cookie).unwrap().hash();
    let stored = || async { server.auth.stores().sessions.session_by_hash(&hash).await.unwrap().unwrap().last_seen_at };
    let at_login = stored().await;
    server.clock.advance(time::Duration::seconds(30));
    assert!(b.logged_in().await);
    assert_eq!(stored().await, at_login, "no write inside the touch interval");
    server.clock.advance(time::Duration::seconds(31));
    assert!(b.logged_in().await);
    assert_eq!(stored().await, at_login + time::Duration::seconds(61), "written once the interval passed");
}

#[tokio::test]
async fn revoking_a_users_sessions_takes_effect_at_once() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.login("test", "test").await;
    let user = server.auth.stores().users.user_by_username("test").await.unwrap().unwrap();
    assert_eq!(server.auth.sessions().revoke_user(user.id, None, "admin").await.unwrap(), 1);
    assert!(!b.logged_in().await);
}
