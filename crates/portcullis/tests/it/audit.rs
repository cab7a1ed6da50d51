//! The audit log: one row per security event, in the store, without secrets.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{cookie_value, Server};

#[tokio::test]
async fn each_event_leaves_a_row_and_no_secret() {
    let server = Server::with(|c| {
        c.limits.per_user_burst = 100;
        let w = portcullis::limits::RawLockoutWindow { failures: 2, within: "10m".into() };
        c.lockout.windows = vec![w];
    })
    .await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    let res = b.post("/api/register", json!({"username": "maria", "password": "secret-pass-1"})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = b.post("/api/login", json!({"username": "maria", "password": "secret-pass-1"})).await;
    let session = cookie_value(&res, "portcullis_session").unwrap();
    assert_eq!(b.post("/api/reauth", json!({"password": "secret-pass-1"})).await.status(), StatusCode::OK);
    let res =
        b.post("/api/password", json!({"current_password": "secret-pass-1", "new_password": "secret-pass-2"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(b.post("/api/logout", json!({})).await.status(), StatusCode::OK);
    b.post("/api/login", json!({"username": "maria", "password": "bad-guess-1"})).await;
    b.post("/api/login", json!({"username": "maria", "password": "bad-guess-2"})).await;
    server.advance_minutes(11);

    // Token mode: a replayed refresh token.
    let t = server.raw().token_login_as("maria", "secret-pass-2").await;
    let refresh = cookie_value(&t, "refresh_token_cookie").unwrap();
    let csrf = cookie_value(&t, "csrf_refresh_token").unwrap();
    let again = |token: String| {
        let http = reqwest::Client::new();
        let url = format!("{}/auth/refresh", server.url);
        let cookie = format!("refresh_token_cookie={token}; csrf_refresh_token={csrf}");
        let csrf = csrf.clone();
        async move { http.post(url).header("cookie", cookie).header("x-csrf-token", csrf).send().await.unwrap() }
    };
    assert_eq!(again(refresh.clone()).await.status(), StatusCode::OK);
    server.clock.advance(time::Duration::seconds(30));
    assert_eq!(again(refresh).await.status(), StatusCode::UNAUTHORIZED);
    // A password typed into the username field must not land in the log.
    b.post("/api/login", json!({"username": "oops-hunter2", "password": "x"})).await;

    let rows = server.auth.audit().query(&portcullis::audit::AuditQuery { limit: 1000, ..Default::default() }).await;
    let rows = rows.unwrap();
    let events: Vec<&str> = rows.iter().rev().map(|r| r.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "user_created",
            "login_ok",
            "reauth",
            "password_changed",
            "logout",
            "login_failed",
            "login_failed",
            "locked",
            "login_ok",
            "refresh_reused",
            "login_failed"
        ]
    );
    let user = server.auth.stores().users.user_by_username("maria").await.unwrap().unwrap();
    assert_eq!((rows[0].user_id, rows[0].username.as_deref()), (None, None), "an unknown name is not kept");
    for row in &rows[1..] {
        assert_eq!(row.user_id, Some(user.id), "{row:?}");
    }
    for row in &rows {
        assert_eq!(row.ip.as_deref(), Some("127.0.0.1"), "{row:?}");
        let text = format!("{row:?}");
        for secret in ["secret-pass", "bad-guess", &session, "$argon2", "hunter2"] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
        if let Some(detail) = &row.detail {
            assert!(serde_json::from_str::<Value>(detail).unwrap().is_object());
        }
    }
}

#[tokio::test]
async fn old_rows_are_swept_after_the_retention() {
    let server = Server::with(|c| c.accounts.audit_retention = "1d".into()).await;
    let mut b = server.browser();
    b.login("test", "wrong").await;
    server.advance_minutes(25 * 60);
    b.login("test", "test").await;
    assert_eq!(server.auth.audit().sweep(server.auth.config().audit_retention).await.unwrap(), 1);
    let rows = server.auth.audit().query(&portcullis::audit::AuditQuery { limit: 10, ..Default::default() }).await;
    assert_eq!(rows.unwrap().iter().map(|r| r.event.as_str()).collect::<Vec<_>>(), ["login_ok"]);
}
