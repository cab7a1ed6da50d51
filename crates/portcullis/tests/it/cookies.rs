//! Cookie attributes per SameSite mode.

use crate::common::{set_cookies, Server};

async fn session_cookie(server: &Server, name: &str) -> String {
    let mut b = server.browser();
    let res = b.login("test", "test").await;
    assert_eq!(res.status(), 200);
    set_cookies(&res).into_iter().find(|c| c.starts_with(&format!("{name}="))).expect("session cookie")
}

#[tokio::test]
async fn default_is_strict_httponly_not_secure() {
    let c = session_cookie(&Server::start().await, "portcullis_session").await;
    assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/"), "{c}");
    assert!(!c.contains("Secure") && !c.contains("Max-Age"), "{c}");
}

#[tokio::test]
async fn lax_for_same_site_deployments() {
    let c = session_cookie(&Server::with(|c| c.cookie.same_site = "lax".into()).await, "portcullis_session").await;
    assert!(c.contains("SameSite=Lax") && c.contains("HttpOnly"), "{c}");
}

#[tokio::test]
async fn none_forces_secure_and_the_host_prefix() {
    let server = Server::with(|c| c.cookie.same_site = "none".into()).await;
    // Secure cookies are not sent back over plain http, so read the header directly.
    let b = server.raw();
    let res = b.get("/api/getcsrf").await;
    let csrf = set_cookies(&res).into_iter().next().unwrap();
    assert!(csrf.starts_with("__Host-portcullis_csrf=") && csrf.contains("SameSite=None") && csrf.contains("Secure"));
    let nonce = csrf.split(';').next().unwrap().to_owned();
    let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    let res = b
        .http
        .post(b.at("/api/login"))
        .header("X-CSRFToken", token)
        .header("Cookie", nonce)
        .json(&serde_json::json!({"username": "test", "password": "test"}))
        .send()
        .await
        .unwrap();
    let c = set_cookies(&res).into_iter().next().unwrap();
    assert!(c.starts_with("__Host-portcullis_session=") && c.contains("SameSite=None") && c.contains("Secure"), "{c}");
    assert!(c.contains("HttpOnly") && c.contains("Path=/") && !c.contains("Domain"), "{c}");
}

#[tokio::test]
async fn secure_flag_on_request() {
    let server = Server::with(|c| c.cookie.secure = true).await;
    let res = server.raw().get("/api/getcsrf").await;
    let csrf = set_cookies(&res).into_iter().next().unwrap();
    assert!(csrf.starts_with("__Host-portcullis_csrf=") && csrf.contains("Secure") && csrf.contains("SameSite=Strict"));
}
