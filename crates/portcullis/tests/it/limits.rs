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
    // The first login gives this browser a device token: from then on it is judged on its own.
    assert_eq!(attempt(&b, "test", "test").await.status(), StatusCode::OK);
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
    let detail: Value = serde_json::from_str(rows[0].detail.as_deref().unwrap()).unwrap();
    assert_eq!(detail["scope"], "device");
}

/// Lockout only, every client named by `X-Forwarded-For` from a trusted local proxy.
fn behind_proxy(c: &mut portcullis::RawConfig) {
    lockout(c);
    c.proxy.trusted = vec!["127.0.0.1/32".into()];
}

fn from(ip: &str) -> reqwest::header::HeaderMap {
    headers(&[("x-forwarded-for", ip)])
}

async fn attempt_from(b: &Browser, ip: &str, username: &str, password: &str) -> reqwest::Response {
    b.post_with("/api/login", json!({"username": username, "password": password}), from(ip)).await
}

const OWNER_IP: &str = "198.51.100.7";
const ATTACKER_IP: &str = "203.0.113.66";

/// The attacker fails six times in two blocks of three, eleven minutes apart: the ten-minute rule
/// trips, then the hour rule.
async fn hammer(server: &Server, attacker: &Browser, username: &str) {
    for block in [3, 3] {
        for _ in 0..block {
            let res = attempt_from(attacker, ATTACKER_IP, username, "guess").await;
            assert!(matches!(res.status().as_u16(), 401 | 423), "{}", res.status());
        }
        server.advance_minutes(11);
    }
    server.advance_minutes(-11);
    let retry = locked(attempt_from(attacker, ATTACKER_IP, username, "test").await).await;
    assert!(retry > 600, "the hour rule holds the attacker: {retry}");
}

#[tokio::test]
async fn an_attacker_at_one_address_cannot_lock_out_the_owner_elsewhere_or_behind_it() {
    let server = Server::with(behind_proxy).await;
    // The owner's usual browser logged in before, from the attacker's address (a shared NAT).
    let usual = ready(&server).await;
    assert_eq!(attempt_from(&usual, ATTACKER_IP, "test", "test").await.status(), StatusCode::OK);
    let session = usual.get("/api/getsession").await.text().await.unwrap();
    assert!(session.contains("true"));
    let attacker = ready(&server).await;
    hammer(&server, &attacker, "test").await;
    // A new browser elsewhere has no history: judged by its own address, which did nothing.
    let elsewhere = ready(&server).await;
    assert_eq!(attempt_from(&elsewhere, OWNER_IP, "test", "test").await.status(), StatusCode::OK);
    // The usual browser, behind the attacker's very address, is judged on its device token.
    assert_eq!(attempt_from(&usual, ATTACKER_IP, "test", "test").await.status(), StatusCode::OK);
    // Its live session proves the password again and changes it, from that address too.
    let reauth = usual.post_with("/api/reauth", json!({"password": "test"}), from(ATTACKER_IP)).await;
    assert_eq!(reauth.status(), StatusCode::OK);
    let change = json!({"current_password": "test", "new_password": "a much longer one"});
    let res = usual.post_with("/api/password", change, from(ATTACKER_IP)).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    // The attacker stays locked, with the new password as with the old.
    locked(attempt_from(&attacker, ATTACKER_IP, "test", "a much longer one").await).await;
    // An unknown name is locked for the attacker alike: nothing tells which names exist.
    hammer(&server, &attacker, "nobody-here").await;
}

#[tokio::test]
async fn a_session_is_locked_out_of_step_up_by_its_own_failures_only() {
    let server = Server::with(behind_proxy).await;
    let owner = ready(&server).await;
    assert_eq!(attempt_from(&owner, OWNER_IP, "test", "test").await.status(), StatusCode::OK);
    let thief = ready(&server).await;
    assert_eq!(attempt_from(&thief, OWNER_IP, "test", "test").await.status(), StatusCode::OK);
    for _ in 0..3 {
        let res = thief.post_with("/api/reauth", json!({"password": "guess"}), from(OWNER_IP)).await;
        problem(res, 401, "invalid_credentials").await;
    }
    locked(thief.post_with("/api/reauth", json!({"password": "test"}), from(OWNER_IP)).await).await;
    let res = owner.post_with("/api/reauth", json!({"password": "test"}), from(OWNER_IP)).await;
    assert_eq!(res.status(), StatusCode::OK, "another session of the same account and address");
    assert_eq!(attempt_from(&owner, OWNER_IP, "test", "test").await.status(), StatusCode::OK, "logins too");
}

#[tokio::test]
async fn the_account_bucket_cannot_keep_the_owner_out() {
    let server = Server::with(|c| {
        c.lockout.enabled = false;
        c.limits.per_user_burst = 2;
        c.limits.per_user_per_minute = 1;
        c.proxy.trusted = vec!["127.0.0.1/32".into()];
    })
    .await;
    let usual = ready(&server).await;
    assert_eq!(attempt_from(&usual, OWNER_IP, "test", "test").await.status(), StatusCode::OK);
    server.advance_minutes(5);
    // Attackers from many addresses empty the bucket that clients with no history share.
    for i in 0..10 {
        let bot = ready(&server).await;
        let res = attempt_from(&bot, &format!("203.0.113.{i}"), "test", "guess").await;
        assert!(matches!(res.status().as_u16(), 401 | 429));
    }
    let newcomer = ready(&server).await;
    problem(attempt_from(&newcomer, OWNER_IP, "test", "test").await, 429, "rate_limited").await;
    // The owner's browser with its device token is not charged by it.
    for _ in 0..3 {
        assert_eq!(attempt_from(&usual, "192.0.2.1", "test", "test").await.status(), StatusCode::OK);
    }
    // Token login reads the same device cookie.
    assert_eq!(usual.token_login_as("test", "test").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_admin_unlocks_an_account_for_every_client_and_it_is_audited() {
    let server = Server::with(behind_proxy).await;
    server.add_user("root", "root password", &["admin"]).await;
    let admin = server.login_as("root", "root password").await;
    let attacker = ready(&server).await;
    hammer(&server, &attacker, "test").await;
    let test = server.auth.stores().users.user_by_username("test").await.unwrap().unwrap();
    let res = admin.send(reqwest::Method::POST, &format!("/api/admin/users/{}/unlock", test.id), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(attempt_from(&attacker, ATTACKER_IP, "test", "test").await.status(), StatusCode::OK, "lifted");
    let rows = server.auth.audit().query(&crate::protection::audit_query("unlocked")).await.unwrap();
    assert_eq!(rows.len(), 1);
    let detail: Value = serde_json::from_str(rows[0].detail.as_deref().unwrap()).unwrap();
    assert_eq!((detail["by"].as_str(), rows[0].username.as_deref()), (Some("root"), Some("test")));
    // Unknown accounts are 404, and the route is an admin's only.
    let nobody = format!("/api/admin/users/{}/unlock", uuid::Uuid::now_v7());
    problem(admin.send(reqwest::Method::POST, &nobody, None).await, 404, "not_found").await;
    let user = server.login_as("test", "test").await;
    let res = user.send(reqwest::Method::POST, &format!("/api/admin/users/{}/unlock", test.id), None).await;
    problem(res, 403, "forbidden").await;
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
