//! Token mode flows: the four locations, rotation, reuse detection, logout, keys, forward auth.

use axum::routing::post;
use portcullis::config::TokenLocation;
use portcullis::http::extract::CurrentUser;
use portcullis::Secrets;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{cookie_value, problem, Browser, Server};

/// What a token login hands the client.
struct Login {
    access: String,
    refresh: String,
    csrf: String,
}

async fn token_login(b: &Browser) -> Login {
    let res = b.token_login_as("test", "test").await;
    assert_eq!(res.status(), 200);
    let refresh = cookie_value(&res, "refresh_token_cookie").unwrap();
    let csrf = cookie_value(&res, "csrf_refresh_token").unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["msg"], "logged in");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    Login { access: body["access_token"].as_str().unwrap().to_owned(), refresh, csrf }
}

async fn refresh_with(b: &Browser, refresh: &str, csrf: &str) -> reqwest::Response {
    b.http
        .post(b.at("/auth/refresh"))
        .header("Cookie", format!("refresh_token_cookie={refresh}; csrf_refresh_token={csrf}"))
        .header("X-CSRF-TOKEN", csrf)
        .send()
        .await
        .unwrap()
}

async fn me_with_bearer(b: &Browser, access: &str) -> reqwest::Response {
    b.http.get(b.at("/api/me")).bearer_auth(access).send().await.unwrap()
}

#[tokio::test]
async fn login_sets_the_cookies_with_their_flags() {
    let server = Server::start().await;
    let b = server.raw();
    let res = b.token_login_as("test", "test").await;
    let cookies = crate::common::set_cookies(&res);
    let find = |name: &str| cookies.iter().find(|c| c.starts_with(&format!("{name}="))).unwrap().clone();
    let refresh = find("refresh_token_cookie");
    assert!(
        refresh.contains("HttpOnly") && refresh.contains("Path=/auth") && refresh.contains("Max-Age=604800"),
        "{refresh}"
    );
    let access = find("access_token_cookie");
    assert!(access.contains("HttpOnly") && access.contains("Max-Age=900"), "{access}");
    for name in ["csrf_access_token", "csrf_refresh_token"] {
        assert!(!find(name).contains("HttpOnly"), "the page must read {name}");
        // Implicitly refreshed access cookies keep using it: it lives as long as the family.
        assert!(find(name).contains("Max-Age=604800"), "{}", find(name));
    }
    let res = b.token_login_as("test", "nope").await;
    problem(res, 401, "invalid_credentials").await;
}

#[tokio::test]
async fn access_works_from_headers_and_cookies_by_default() {
    let server = Server::start().await;
    let b = server.raw();
    let login = token_login(&b).await;
    let me: Value = me_with_bearer(&b, &login.access).await.json().await.unwrap();
    assert_eq!(me["username"], "test");
    assert_eq!(me["session"]["kind"], "token");
    let res = b
        .http
        .get(b.at("/api/data"))
        .header("Cookie", format!("access_token_cookie={}", login.access))
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "{\"username\":\"test\"}\n");
    // The query string is off unless configured.
    problem(b.get(&format!("/api/me?jwt={}", login.access)).await, 401, "unauthenticated").await;
}

#[tokio::test]
async fn query_string_when_enabled_and_per_prefix_routes() {
    let server = Server::with(|c| {
        c.token.locations = vec!["headers".into(), "query_string".into()];
        c.token.routes.insert("/api/data".into(), vec!["query_string".into()]);
    })
    .await;
    let b = server.raw();
    let login = token_login(&b).await;
    assert_eq!(b.get(&format!("/api/me?jwt={}", login.access)).await.status(), 200);
    assert_eq!(b.get(&format!("/api/data?x=1&jwt={}", login.access)).await.status(), 200);
    let res = b.http.get(b.at("/api/data")).bearer_auth(&login.access).send().await.unwrap();
    problem(res, 401, "unauthenticated").await;
}

async fn echo(CurrentUser(me): CurrentUser) -> String {
    me.user().username.clone()
}

#[tokio::test]
async fn json_body_location_and_the_library_override() {
    let server = Server::start().await;
    let routes = axum::Router::new().route("/api/echo", post(echo)).with_state(server.auth.state());
    let app = portcullis::http::token_layer::with_token_locations(routes, vec![TokenLocation::Json])
        .merge(server.auth.api_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(portcullis::http::serve(listener, app, std::future::pending()));
    let mut b = server.raw();
    b.url = url;
    let login = token_login(&b).await;
    let res =
        b.http.post(b.at("/api/echo")).json(&json!({"access_token": login.access, "other": 1})).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "test");
    let res = b.http.post(b.at("/api/echo")).bearer_auth(&login.access).json(&json!({})).send().await.unwrap();
    problem(res, 401, "unauthenticated").await;
    task.abort();
}

#[tokio::test]
async fn refresh_rotates_and_replay_after_grace_revokes_the_family() {
    let server = Server::start().await;
    let b = server.raw();
    let login = token_login(&b).await;
    let res = refresh_with(&b, &login.refresh, &login.csrf).await;
    assert_eq!(res.status(), 200);
    let second = cookie_value(&res, "refresh_token_cookie").unwrap();
    assert_ne!(second, login.refresh);
    let body: Value = res.json().await.unwrap();
    let new_access = body["access_token"].as_str().unwrap().to_owned();
    assert!(body.get("msg").is_none());
    assert_eq!(me_with_bearer(&b, &new_access).await.status(), 200);

    let third = cookie_value(&refresh_with(&b, &second, &login.csrf).await, "refresh_token_cookie").unwrap();
    server.clock.advance(time::Duration::seconds(11));
    // A stolen, already-rotated token comes back after the grace window.
    problem(refresh_with(&b, &login.refresh, &login.csrf).await, 401, "refresh_reused").await;
    problem(refresh_with(&b, &third, &login.csrf).await, 401, "token_revoked").await;
    problem(me_with_bearer(&b, &new_access).await, 401, "token_revoked").await;
}

#[tokio::test]
async fn concurrent_refreshes_inside_the_grace_window_both_succeed() {
    let server = Server::start().await;
    let b = server.raw();
    let login = token_login(&b).await;
    let (one, two) =
        tokio::join!(refresh_with(&b, &login.refresh, &login.csrf), refresh_with(&b, &login.refresh, &login.csrf));
    assert_eq!((one.status(), two.status()), (StatusCode::OK, StatusCode::OK));
    let (a, c) =
        (cookie_value(&one, "refresh_token_cookie").unwrap(), cookie_value(&two, "refresh_token_cookie").unwrap());
    assert_eq!(a, c, "both tabs end up with the same new refresh token");
    server.clock.advance(time::Duration::seconds(5));
    let late = refresh_with(&b, &login.refresh, &login.csrf).await;
    assert_eq!(cookie_value(&late, "refresh_token_cookie").unwrap(), a, "still inside the 10 s grace");
    assert_eq!(refresh_with(&b, &a, &login.csrf).await.status(), 200, "the family lives on");
}

#[tokio::test]
async fn the_grace_window_is_whole_even_late_in_a_second() {
    let server = Server::start().await;
    let b = server.raw();
    let login = token_login(&b).await;
    // Rotate 0.9 s into a second: the store keeps the rotation time in whole seconds.
    let into_second = i64::from(portcullis::Clock::now(&server.clock).nanosecond());
    server.clock.advance(time::Duration::nanoseconds((900_000_000 - into_second).rem_euclid(1_000_000_000)));
    let rotated = refresh_with(&b, &login.refresh, &login.csrf).await;
    let next = cookie_value(&rotated, "refresh_token_cookie").unwrap();
    // 9.3 s later is inside the 10 s grace, although past the stored (truncated) time + 9 s.
    server.clock.advance(time::Duration::milliseconds(9_300));
    let twin = refresh_with(&b, &login.refresh, &login.csrf).await;
    assert_eq!(twin.status(), 200, "inside the grace window");
    assert_eq!(cookie_value(&twin, "refresh_token_cookie").unwrap(), next);
    server.clock.advance(time::Duration::seconds(2));
    problem(refresh_with(&b, &login.refresh, &login.csrf).await, 401, "refresh_reused").await;
}

#[tokio::test]
async fn logout_revokes_the_family() {
    let server = Server::start().await;
    let b = server.raw();
    let login = token_login(&b).await;
    let res = b
        .http
        .post(b.at("/auth/logout"))
        .header("Cookie", format!("refresh_token_cookie={}; csrf_refresh_token={}", login.refresh, login.csrf))
        .header("X-CSRF-TOKEN", &login.csrf)
        .send()
        .await
        .unwrap();
    let cleared = crate::common::set_cookies(&res);
    assert_eq!(cleared.iter().filter(|c| c.contains("Max-Age=0")).count(), 4, "{cleared:?}");
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"msg": "logged out"}));
    problem(me_with_bearer(&b, &login.access).await, 401, "token_revoked").await;
    problem(refresh_with(&b, &login.refresh, &login.csrf).await, 401, "token_revoked").await;
}

#[tokio::test]
async fn logout_with_only_a_bearer_token() {
    let server = Server::start().await;
    let b = server.raw();
    let login = token_login(&b).await;
    let res = b.http.post(b.at("/auth/logout")).bearer_auth(&login.access).send().await.unwrap();
    assert_eq!(res.status(), 200);
    problem(me_with_bearer(&b, &login.access).await, 401, "token_revoked").await;
    problem(b.http.post(b.at("/auth/logout")).send().await.unwrap(), 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_revoked_session_is_refused_at_once() {
    let server = Server::start().await;
    let b = server.raw();
    let login = token_login(&b).await;
    let user = server.auth.stores().users.user_by_username("test").await.unwrap().unwrap();
    server.auth.sessions().revoke_user(user.id, None, "admin").await.unwrap();
    problem(me_with_bearer(&b, &login.access).await, 401, "token_revoked").await;
}

#[tokio::test]
async fn families_obey_their_timeouts() {
    let server = Server::with(|c| c.token.idle_timeout = "1d".into()).await;
    let b = server.raw();
    let login = token_login(&b).await;
    server.clock.advance(time::Duration::hours(25));
    problem(refresh_with(&b, &login.refresh, &login.csrf).await, 401, "token_expired").await;
    let login = token_login(&b).await;
    let mut refresh = login.refresh;
    // Seven refreshes 23 h apart: 161 h, inside the 7-day absolute limit.
    for _ in 0..7 {
        server.clock.advance(time::Duration::hours(23));
        let res = refresh_with(&b, &refresh, &login.csrf).await;
        assert_eq!(res.status(), 200, "activity keeps the family alive: {:?}", res.text().await);
        refresh = cookie_value(&res, "refresh_token_cookie").unwrap();
    }
    server.clock.advance(time::Duration::hours(23));
    problem(refresh_with(&b, &refresh, &login.csrf).await, 401, "token_expired").await;
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key() {
    let secrets = Secrets::ephemeral();
    let mut keys = secrets.jwt_keys.clone();
    let first = Server::with_secrets(|_| {}, secrets.clone()).await;
    let b = first.raw();
    let old = token_login(&b).await;
    let old_kid = keys.keys[0].kid.clone();

    keys.rotate(
        portcullis::config::SigningAlg::EdDSA,
        time::OffsetDateTime::now_utc().unix_timestamp(),
        std::time::Duration::from_secs(930),
    );
    let mut rotated = secrets;
    rotated.jwt_keys = keys.clone();
    let second = Server::with_store_and_secrets(|_| {}, first.auth.stores().clone(), rotated).await;
    let b2 = second.raw();
    assert_eq!(me_with_bearer(&b2, &old.access).await.status(), 200, "tokens of the retired key still verify");
    let new = token_login(&b2).await;
    let header = jsonwebtoken::decode_header(&new.access).unwrap();
    assert_eq!(header.kid.as_deref(), Some(keys.keys[1].kid.as_str()));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    let jwks: Value = b2.get("/.well-known/jwks.json").await.json().await.unwrap();
    let kids: Vec<_> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kids, [old_kid, keys.keys[1].kid.clone()]);
    // Once the retired key's tokens have all expired it is no longer published or accepted.
    second.clock.advance(time::Duration::minutes(16));
    let jwks: Value = b2.get("/.well-known/jwks.json").await.json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn implicit_refresh_of_an_expiring_access_cookie() {
    let server = Server::start().await;
    let b = server.raw();
    let login = token_login(&b).await;
    let cookie = format!("access_token_cookie={}", login.access);
    let res = b.http.get(b.at("/api/me")).header("Cookie", &cookie).send().await.unwrap();
    assert!(cookie_value(&res, "access_token_cookie").is_none(), "not near expiry yet");
    server.clock.advance(time::Duration::minutes(11));
    let res = b.http.get(b.at("/api/me")).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let fresh = cookie_value(&res, "access_token_cookie").expect("a new access cookie");
    assert_ne!(fresh, login.access);
    server.clock.advance(time::Duration::minutes(10));
    let res =
        b.http.get(b.at("/api/me")).header("Cookie", format!("access_token_cookie={fresh}")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the renewed cookie outlives the first token");
}

#[tokio::test]
async fn forward_auth() {
    let server = Server::start().await;
    let b = server.raw();
    let login = token_login(&b).await;
    let res = b.http.get(b.at("/auth/verify")).bearer_auth(&login.access).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-auth-user"], "test");
    assert_eq!(res.headers()["x-auth-user-id"].len(), 36);
    assert_eq!(res.headers()["x-auth-roles"], "");
    problem(b.get("/auth/verify").await, 401, "unauthenticated").await;
    let res = b.http.get(b.at("/auth/verify?role=admin")).bearer_auth(&login.access).send().await.unwrap();
    problem(res, 403, "forbidden").await;
    let res = b.http.get(b.at("/auth/verify")).bearer_auth("not.a.token").send().await.unwrap();
    assert!(res.headers().get("location").is_none());
    problem(res, 401, "token_invalid").await;

    server
        .auth
        .accounts()
        .create("root", &portcullis::password::Password::new("root password"), None, vec!["admin".into()])
        .await
        .unwrap();
    let mut browser = server.browser();
    browser.login("root", "root password").await;
    let res = browser.get("/auth/verify?role=admin").await;
    assert_eq!(res.status(), 200, "a session cookie works too");
    assert_eq!(res.headers()["x-auth-roles"], "admin");
}

#[tokio::test]
async fn forward_auth_refuses_a_query_it_does_not_understand() {
    let server = Server::start().await;
    let b = server.raw();
    let login = token_login(&b).await;
    let verify = |query: &str| b.http.get(b.at(&format!("/auth/verify?{query}"))).bearer_auth(&login.access).send();
    // Each of these once answered 200 for a user without the role: the check fell away.
    for (query, name) in
        [("ROLE=admin", "ROLE"), ("role[]=admin", "role[]"), ("role%5B%5D=admin", "role[]"), ("roles=admin", "roles")]
    {
        let body = problem(verify(query).await.unwrap(), 400, "malformed_request").await;
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("`{name}`")), "{query}: {detail}");
    }
    let body = problem(verify("role=test&role=admin").await.unwrap(), 400, "malformed_request").await;
    assert!(body["detail"].as_str().unwrap().contains("`role`"), "{body}");
    problem(verify("jwt=x").await.unwrap(), 400, "malformed_request").await;
    // Unauthenticated, a typo is still reported as one.
    problem(b.get("/auth/verify?ROLE=admin").await, 400, "malformed_request").await;
    // The documented parameter still works.
    problem(verify("role=admin").await.unwrap(), 403, "forbidden").await;
    assert_eq!(verify("").await.unwrap().status(), 200);

    // Where the token may travel in the query string, `jwt` is that token.
    let server = Server::with(|c| c.token.locations = vec!["query_string".into()]).await;
    let b = server.raw();
    let access = token_login(&b).await.access;
    assert_eq!(b.get(&format!("/auth/verify?jwt={access}")).await.status(), 200);
    problem(b.get(&format!("/auth/verify?jwt={access}&Role=admin")).await, 400, "malformed_request").await;
}

#[tokio::test]
async fn refresh_in_body_when_enabled() {
    let server = Server::with(|c| c.token.refresh_in_body = true).await;
    let b = server.raw();
    let login = token_login(&b).await;
    let res = b.http.post(b.at("/auth/refresh")).json(&json!({"refresh_token": login.refresh})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let plain = Server::start().await;
    let b = plain.raw();
    let login = token_login(&b).await;
    let res = b.http.post(b.at("/auth/refresh")).json(&json!({"refresh_token": login.refresh})).send().await.unwrap();
    problem(res, 401, "unauthenticated").await;
}
