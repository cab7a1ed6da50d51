//! API.md's CSRF section: token and origin checks, and the life of a token.

use serde_json::json;

use crate::common::{headers, problem, Server};

#[tokio::test]
async fn login_without_a_token_is_refused() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    b.csrf = None;
    problem(b.login_raw().await, 400, "csrf_failed").await;
}

#[tokio::test]
async fn login_with_a_wrong_token_is_refused() {
    let server = Server::start().await;
    let mut b = server.browser();
    let token = b.fetch_csrf().await;
    // Same length and alphabet, one character changed.
    let mut forged: Vec<char> = token.chars().collect();
    forged[20] = if forged[20] == 'A' { 'B' } else { 'A' };
    b.csrf = Some(forged.into_iter().collect());
    problem(b.login_raw().await, 400, "csrf_failed").await;
    b.csrf = Some("not-a-token".into());
    problem(b.login_raw().await, 400, "csrf_failed").await;
    assert!(!b.logged_in().await);
}

#[tokio::test]
async fn another_browsers_token_is_refused() {
    let server = Server::start().await;
    let mut attacker = server.browser();
    let foreign = attacker.fetch_csrf().await;
    let mut victim = server.browser();
    victim.fetch_csrf().await;
    victim.csrf = Some(foreign);
    problem(victim.login_raw().await, 400, "csrf_failed").await;
}

#[tokio::test]
async fn a_token_without_its_cookie_is_refused() {
    let server = Server::start().await;
    let mut b = server.browser();
    let token = b.fetch_csrf().await;
    let mut bare = server.raw();
    bare.csrf = Some(token);
    problem(bare.login_raw().await, 400, "csrf_failed").await;
}

#[tokio::test]
async fn cross_site_origin_is_refused_even_with_a_valid_token() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    let evil = headers(&[("Origin", "https://evil.example")]);
    let res = b.post_with("/api/login", json!({"username": "test", "password": "test"}), evil.clone()).await;
    problem(res, 400, "csrf_failed").await;
    let res = b.post_with("/api/register", json!({"username": "eve", "password": "longenough1"}), evil).await;
    problem(res, 403, "csrf_failed").await;
    let cross = headers(&[("Sec-Fetch-Site", "cross-site")]);
    let res = b.post_with("/api/login", json!({"username": "test", "password": "test"}), cross).await;
    problem(res, 400, "csrf_failed").await;
    let null = headers(&[("Origin", "null")]);
    let res = b.post_with("/api/login", json!({"username": "test", "password": "test"}), null).await;
    problem(res, 400, "csrf_failed").await;
    assert!(!b.logged_in().await);
}

#[tokio::test]
async fn same_origin_requests_pass() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    let own = server.url.clone();
    let res =
        b.post_with("/api/login", json!({"username": "test", "password": "test"}), headers(&[("Origin", &own)])).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_trusted_proxys_scheme_must_match_the_origin() {
    let login = json!({"username": "test", "password": "test"});
    let host = |server: &Server| server.url.trim_start_matches("http://").to_owned();
    // From a trusted proxy that terminated TLS, an http:// page of the same host is another origin.
    let behind = Server::with(|raw| raw.proxy.trusted = vec!["127.0.0.1/32".into()]).await;
    let mut b = behind.browser();
    b.fetch_csrf().await;
    let plain = format!("http://{}", host(&behind));
    let refused =
        b.post_with("/api/login", login.clone(), headers(&[("Origin", &plain), ("X-Forwarded-Proto", "https")])).await;
    problem(refused, 400, "csrf_failed").await;
    let tls = format!("https://{}", host(&behind));
    let res =
        b.post_with("/api/login", login.clone(), headers(&[("Origin", &tls), ("X-Forwarded-Proto", "https")])).await;
    assert_eq!(res.status(), 200);

    // From anyone else the header is not believed (it is dropped), so it cannot refuse anything.
    let direct = Server::start().await;
    let mut b = direct.browser();
    b.fetch_csrf().await;
    let own = format!("http://{}", host(&direct));
    let res = b.post_with("/api/login", login, headers(&[("Origin", &own), ("X-Forwarded-Proto", "https")])).await;
    assert_eq!(res.status(), 200);
}

/// A trusted proxy that drops the port (nginx `proxy_set_header Host $host`) in front of a page
/// at `http://app.test:81`: the port it dropped must come back from somewhere before the login
/// passes, and nothing but a trusted proxy may say where.
#[tokio::test]
async fn behind_a_proxy_that_drops_the_port_the_port_must_be_forwarded() {
    let login = json!({"username": "test", "password": "test"});
    let page = ("Origin", "http://app.test:81");
    let behind = Server::with(|raw| raw.proxy.trusted = vec!["127.0.0.1/32".into()]).await;
    let mut b = behind.browser();
    b.fetch_csrf().await;
    let dropped = ("Host", "app.test");
    let body =
        problem(b.post_with("/api/login", login.clone(), headers(&[dropped, page])).await, 400, "csrf_failed").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("Host header names no port, which means port 80"), "{detail}");
    assert!(detail.contains("server.public_origin"), "{detail}");

    for forwarded in [
        headers(&[dropped, page, ("X-Forwarded-Port", "81")]),
        headers(&[dropped, page, ("X-Forwarded-Host", "app.test:81")]),
        headers(&[page, ("Forwarded", "for=203.0.113.9;host=\"app.test:81\";proto=http")]),
    ] {
        let res = b.post_with("/api/login", login.clone(), forwarded.clone()).await;
        assert_eq!(res.status(), 200, "{forwarded:?}");
    }

    // From a peer that is not a trusted proxy the same headers are dropped, so they cannot make
    // another origin pass as this site.
    let direct = Server::start().await;
    let mut b = direct.browser();
    b.fetch_csrf().await;
    for forged in [
        headers(&[dropped, page, ("X-Forwarded-Port", "81")]),
        headers(&[page, ("X-Forwarded-Host", "app.test:81")]),
        headers(&[page, ("Forwarded", "host=\"app.test:81\"")]),
    ] {
        problem(b.post_with("/api/login", login.clone(), forged).await, 400, "csrf_failed").await;
    }
    assert!(!b.logged_in().await);
}

/// `server.public_origin` is what `Origin` is compared with, whatever the proxy sends as `Host`.
#[tokio::test]
async fn a_public_origin_is_the_origin_the_check_expects() {
    let login = json!({"username": "test", "password": "test"});
    let server = Server::with(|raw| raw.server.public_origin = Some("http://App.Test:81".into())).await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    let res = b
        .post_with("/api/login", login.clone(), headers(&[("Host", "app.test"), ("Origin", "http://app.test:81")]))
        .await;
    assert_eq!(res.status(), 200);
    // The address the server happens to be reached at is not that origin, nor is another port.
    for other in [server.url.as_str(), "http://app.test", "https://app.test:81"] {
        let res = b.post_with("/api/logout", json!({}), headers(&[("Origin", other)])).await;
        let body = problem(res, 400, "csrf_failed").await;
        assert!(body["detail"].as_str().unwrap().contains("server.public_origin"), "{other}: {body}");
    }
    assert!(b.logged_in().await);
    // Without an Origin the token check alone decides, as before.
    assert_eq!(b.post("/api/logout", json!({})).await.status(), 200);
}

#[tokio::test]
async fn get_logout_is_refused_cross_site() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.login("test", "test").await;
    for (name, value) in
        [("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Site", "none"), ("Origin", "https://evil.example")]
    {
        let res = b.http.get(b.at("/api/logout")).header(name, value).send().await.unwrap();
        problem(res, 403, "csrf_failed").await;
        assert!(b.logged_in().await, "a refused logout leaves the session alone ({name}: {value})");
    }
    let res = b.http.get(b.at("/api/logout")).header("Sec-Fetch-Site", "same-site").send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn post_logout_needs_the_token() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.login("test", "test").await;
    let token = b.csrf.take();
    problem(b.post("/api/logout", json!({})).await, 400, "csrf_failed").await;
    assert!(b.logged_in().await);
    b.csrf = token;
    assert_eq!(b.post("/api/logout", json!({})).await.status(), 200);
}

#[tokio::test]
async fn a_token_survives_login_and_logout() {
    let server = Server::start().await;
    let mut b = server.browser();
    b.login("test", "test").await;
    assert_eq!(b.post("/api/logout", json!({})).await.status(), 200);
    // The seed's frontends log in again with the token fetched at page load.
    assert_eq!(b.login("test", "test").await.status(), 200);
    assert!(b.logged_in().await);
}

#[tokio::test]
async fn rotate_on_logout_ends_old_tokens() {
    let server = Server::with(|c| c.csrf.rotate_on_logout = true).await;
    let mut b = server.browser();
    b.login("test", "test").await;
    assert_eq!(b.post("/api/logout", json!({})).await.status(), 200);
    problem(b.login("test", "test").await, 400, "csrf_failed").await;
    b.fetch_csrf().await;
    assert_eq!(b.login("test", "test").await.status(), 200);
}

#[tokio::test]
async fn json_csrf_route_issues_usable_tokens() {
    let server = Server::start().await;
    let mut b = server.browser();
    let body: serde_json::Value = b.get("/api/csrf").await.json().await.unwrap();
    b.csrf = Some(body["csrf_token"].as_str().unwrap().to_owned());
    assert_eq!(b.login("test", "test").await.status(), 200);
}

#[tokio::test]
async fn token_check_can_be_turned_off_but_not_the_origin_check() {
    let server = Server::with(|c| c.csrf.require_token = false).await;
    let b = server.browser();
    let res = b.post("/api/login", json!({"username": "test", "password": "test"})).await;
    assert_eq!(res.status(), 200);
    let evil = headers(&[("Origin", "https://evil.example")]);
    let res = b.post_with("/api/login", json!({"username": "test", "password": "test"}), evil).await;
    problem(res, 400, "csrf_failed").await;
}
