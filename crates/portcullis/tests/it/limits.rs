//! Rate limits and lockout over HTTP, with a moved clock.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{headers, problem, Browser, Server};

async fn attempt(b: &Browser, username: &str, password: &str) -> reqwest::Response {
    b.post("/api/login", json!({"username": username, "password": password})).await
}

async fn ready(server: &Server) -> Browser {
    let mut b = server.browser();
    b.fetch_csrf().await;
    b
}

fn lockout(c: &mut portcullis::RawConfig) {
    c.limits.enabled = false;
    let window = |failures, within: &str| portcullis::limits::RawLockoutWindow { failures, within: within.into() };
    c.lockout.windows = vec![window(3, "10m"), window(5, "1h"), window(7, "24h")];
}

async fn locked(res: reqwest::Response) -> u64 {
    let retry_header: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    let body = problem(res, 423, "account_locked").await;
    assert_eq!(body["retry_after"], retry_header);
    retry_header
}

#[tokio::test]
async fn the_per_ip_bucket_refuses_past_its_burst_and_refills() {
    let server = Server::with(|c| {
        c.limits.per_ip_burst = 3;
        c.limits.per_ip_per_minute = 1;
        c.lockout.enabled = false;
    })
    .await;
    let b = ready(&server).await;
    for name in ["a", "b", "c"] {
        assert_eq!(attempt(&b, name, "x").await.status(), StatusCode::UNAUTHORIZED);
    }
    let res = attempt(&b, "d", "x").await;
    assert_eq!(res.headers()["retry-after"], "60");
    let body = problem(res, 429, "rate_limited").await;
    assert_eq!(body["retry_after"], 60);
    // Registration and token refresh draw on the same bucket.
    problem(b.post("/api/register", json!({"username": "new", "password": "long enough"})).await, 429, "rate_limited")
        .await;
    server.advance_minutes(1);
    assert_eq!(attempt(&b, "test", "test").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_per_username_bucket_counts_one_name_from_anywhere() {
    let server = Server::with(|c| {
        c.limits.per_user_burst = 2;
        c.lockout.enabled = false;
    })
    .await;
    let b = ready(&server).await;
    assert_eq!(attempt(&b, "test", "x").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(attempt(&b, "TEST", "x").await.status(), StatusCode::UNAUTHORIZED);
    problem(attempt(&b, "Test", "test").await, 429, "rate_limited").await;
    // Another name is not held back.
    assert_eq!(attempt(&b, "other", "x").await.status(), StatusCode::UNAUTHORIZED);
    // Nor does it depend on the route: the token login is limited alike.
    problem(b.token_login_as("test", "test").await, 429, "rate_limited").await;
}

#[tokio::test]
async fn the_shortest_window_locks_even_the_right_password_then_lifts() {
    let server = Server::with(lockout).await;
    let b = ready(&server).await;
    for _ in 0..3 {
        assert_eq!(attempt(&b, "test", "wrong").await.status(), StatusCode::UNAUTHORIZED);
    }
    let retry = locked(attempt(&b, "test", "test").await).await;
    assert!((590..=600).contains(&retry), "{retry}");
    locked(b.token_login_as("test", "test").await).await;
    server.advance_minutes(9);
    locked(attempt(&b, "test", "test").await).await;
    server.advance_minutes(2);
    assert_eq!(attempt(&b, "test", "test").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_hour_window_trips_on_failures_spread_past_the_shortest() {
    let server = Server::with(lockout).await;
    let b = ready(&server).await;
    for (pause, failures) in [(0, 2), (11, 2), (11, 1)] {
        server.advance_minutes(pause);
        for _ in 0..failures {
            assert_eq!(attempt(&b, "test", "wrong").await.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let retry = locked(attempt(&b, "test", "test").await).await;
    assert!((3590..=3600).contains(&retry), "{retry}");
    server.advance_minutes(30);
    locked(attempt(&b, "test", "test").await).await;
    server.advance_minutes(31);
    assert_eq!(attempt(&b, "test", "test").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_day_window_trips_on_failures_spread_over_hours() {
    let server = Server::with(lockout).await;
    let b = ready(&server).await;
    for (pause, failures) in [(0, 2), (120, 2), (120, 2), (120, 1)] {
        server.advance_minutes(pause);
        for _ in 0..failures {
            assert_eq!(attempt(&b, "test", "wrong").await.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let retry = locked(attempt(&b, "test", "test").await).await;
    assert!((86_390..=86_400).contains(&retry), "{retry}");
    server.advance_minutes(23 * 60);
    locked(attempt(&b, "test", "test").await).await;
    server.advance_minutes(61);
    assert_eq!(attempt(&b, "test", "test").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_success_resets_the_shortest_window_only() {
    let server = Server::with(lockout).await;
    let b = ready(&server).await;
    for _ in 0..2 {
        attempt(&b, "test", "wrong").await;
    }
    assert_eq!(attempt(&b, "test", "test").await.status(), StatusCode::OK);
    for _ in 0..2 {
        assert_eq!(attempt(&b, "test", "wrong").await.status(), StatusCode::UNAUTHORIZED);
    }
    // Two since the success: the ten-minute rule is not met; four in the hour: nor that one.
    assert_eq!(attempt(&b, "test", "test").await.status(), StatusCode::OK);
    // The hour still counts all of them: one more failure makes five.
    attempt(&b, "test", "wrong").await;
    let retry = locked(attempt(&b, "test", "test").await).await;
    assert!(retry > 600, "the hour rule tripped, not the ten-minute one: {retry}");
    let rows = server.auth.audit().query(&crate::protection::audit_query("locked")).await.unwrap();
    assert_eq!(rows.len(), 1);
}

#[tokio::test]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    let limited = |trusted: bool| {
        move |c: &mut portcullis::RawConfig| {
            c.limits.per_ip_burst = 2;
            c.limits.per_ip_per_minute = 1;
            c.lockout.enabled = false;
            if trusted {
                c.proxy.trusted = vec!["127.0.0.1/32".into()];
            }
        }
    };
    let xff = |ip: &str| headers(&[("x-forwarded-for", ip)]);
    let login = json!({"username": "nobody", "password": "x"});

    let server = Server::with(limited(false)).await;
    let b = ready(&server).await;
    b.post_with("/api/login", login.clone(), xff("198.51.100.1")).await;
    b.post_with("/api/login", login.clone(), xff("198.51.100.2")).await;
    // A client cannot escape its bucket by naming another address.
    problem(b.post_with("/api/login", login.clone(), xff("198.51.100.3")).await, 429, "rate_limited").await;

    let server = Server::with(limited(true)).await;
    let b = ready(&server).await;
    b.post_with("/api/login", login.clone(), xff("198.51.100.1")).await;
    b.post_with("/api/login", login.clone(), xff("198.51.100.1")).await;
    problem(b.post_with("/api/login", login.clone(), xff("198.51.100.1")).await, 429, "rate_limited").await;
    let res = b.post_with("/api/login", login.clone(), xff("198.51.100.2")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "another client behind the same proxy");
    // The address kept with a session is the client's, not the proxy's.
    let res =
        b.post_with("/api/login", json!({"username": "test", "password": "test"}), xff("203.0.113.9, 127.0.0.1")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let list: Value = b.get("/api/sessions").await.json().await.unwrap();
    assert_eq!(list["sessions"][0]["ip"], "203.0.113.9");
}
