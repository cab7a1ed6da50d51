//! Health, readiness and the headers every response carries.

use crate::common::{problem, Server};

#[tokio::test]
async fn health_and_readiness() {
    let server = Server::start().await;
    let b = server.browser();
    assert_eq!(b.get("/healthz").await.text().await.unwrap(), "{\"status\":\"ok\"}\n");
    assert_eq!(b.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn security_headers_and_request_ids() {
    let server = Server::start().await;
    let b = server.browser();
    for path in ["/api/ping", "/api/data", "/", "/api/nope"] {
        let res = b.get(path).await;
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-request-id"].len(), 36, "{path}");
    }
    assert_eq!(b.get("/api/data").await.headers()["cache-control"], "no-store");
    let html = b.get("/").await;
    let csp = html.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let echoed = b.http.get(b.at("/api/ping")).header("X-Request-Id", "abc-123").send().await.unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");
    let replaced = b.http.get(b.at("/api/ping")).header("X-Request-Id", "bad id\u{7f}").send().await;
    if let Ok(res) = replaced {
        assert_ne!(res.headers()["x-request-id"], "bad id");
    }
}

#[tokio::test]
async fn request_ids_are_random_not_counted() {
    let server = Server::start().await;
    let b = server.raw();
    let mut ids = Vec::new();
    for _ in 0..16 {
        let res = b.get("/api/ping").await;
        let id = uuid::Uuid::try_parse(res.headers()["x-request-id"].to_str().unwrap()).unwrap();
        assert_eq!(id.get_version_num(), 4, "{id}");
        ids.push(id.as_u128());
    }
    // A prefix and a counter change a few low bits from one request to the next and keep the
    // rest; random ids differ in about half of their 122 random bits.
    for pair in ids.windows(2) {
        let differing = (pair[0] ^ pair[1]).count_ones();
        assert!(differing >= 24, "consecutive ids {:032x} and {:032x} differ in {differing} bits", pair[0], pair[1]);
        assert_ne!(pair[0] >> 64, pair[1] >> 64, "consecutive ids share their first half");
    }
}

#[tokio::test]
async fn an_unreachable_store_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gone.db").display());
    let store = portcullis::store::sqlite::SqliteStore::open(&url).await.unwrap();
    let server = Server::with_store(|_| {}, portcullis::store::Stores::of(store.clone())).await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    store.close().await;
    problem(b.get("/readyz").await, 503, "unavailable").await;
    let res = b.post("/api/login", serde_json::json!({"username": "test", "password": "test"})).await;
    problem(res, 503, "unavailable").await;
}
