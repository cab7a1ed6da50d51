//! Deploy mode C: the CORS allow-list with credentials.

use crate::common::Server;

const SPA: &str = "http://localhost:8080";

async fn cross_origin() -> Server {
    Server::with(|c| c.cors.allowed_origins = vec![SPA.into()]).await
}

#[tokio::test]
async fn an_allowed_origin_gets_credentials_and_the_token_header() {
    let server = cross_origin().await;
    let b = server.raw();
    let res = b.http.get(b.at("/api/getcsrf")).header("Origin", SPA).send().await.unwrap();
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], SPA);
    assert_eq!(h["access-control-allow-credentials"], "true");
    let exposed = h["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(exposed.contains("x-csrftoken"), "{exposed}");
}

#[tokio::test]
async fn a_refused_origin_gets_no_cors_headers() {
    let server = cross_origin().await;
    let b = server.raw();
    let res = b.http.get(b.at("/api/getcsrf")).header("Origin", "https://evil.example").send().await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn preflight() {
    let server = cross_origin().await;
    let b = server.raw();
    let preflight = |origin: &'static str| {
        b.http
            .request(reqwest::Method::OPTIONS, b.at("/api/login"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type,x-csrftoken")
            .send()
    };
    let ok = preflight(SPA).await.unwrap();
    assert!(ok.status().is_success());
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], SPA);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    let allowed = h["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed.contains("x-csrftoken") && allowed.contains("content-type"), "{allowed}");
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn the_allowed_origin_logs_in_cross_origin() {
    let server = cross_origin().await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    let origin = crate::common::headers(&[("Origin", SPA)]);
    let res = b.post_with("/api/login", serde_json::json!({"username": "test", "password": "test"}), origin).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], SPA);
}

#[tokio::test]
async fn without_an_allow_list_no_origin_is_allowed() {
    let server = Server::start().await;
    let b = server.raw();
    let res = b.http.get(b.at("/api/getcsrf")).header("Origin", SPA).send().await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn a_wildcard_with_credentials_is_refused_by_config() {
    let mut raw = portcullis::RawConfig::default();
    raw.cors.allowed_origins = vec!["*".into()];
    let err = raw.validate().unwrap_err().to_string();
    assert!(err.contains("cors.allowed_origins[0]"), "{err}");
}

#[tokio::test]
async fn credentials_are_allowed_only_beside_an_allowed_origin() {
    let server = cross_origin().await;
    let b = server.raw();
    let no_origin = b.http.get(b.at("/api/getcsrf")).send().await.unwrap();
    assert!(no_origin.headers().get("access-control-allow-credentials").is_none(), "without an Origin");
    for path in ["/api/getcsrf", "/api/nope", "/"] {
        let refused = b.http.get(b.at(path)).header("Origin", "https://evil.example").send().await.unwrap();
        assert!(refused.headers().get("access-control-allow-credentials").is_none(), "{path}, a refused Origin");
    }
    let preflight = b
        .http
        .request(reqwest::Method::OPTIONS, b.at("/api/login"))
        .header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(preflight.headers().get("access-control-allow-credentials").is_none(), "a refused preflight");
    let allowed = b.http.get(b.at("/api/nope")).header("Origin", SPA).send().await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-credentials"], "true");
}
