//! A host app merging `api_router()` and guarding its own route with `CurrentUser`.

use axum::routing::get;
use portcullis::http::extract::CurrentUser;
use serde_json::json;

use crate::common::{problem, Server};

async fn hello(CurrentUser(session): CurrentUser) -> String {
    format!("hello, {}", session.user().username)
}

#[tokio::test]
async fn host_routes_use_the_session() {
    let server = Server::start().await;
    let app = axum::Router::new()
        .route("/api/hello", get(hello))
        .route("/", get(|| async { "host page" }))
        .with_state(server.auth.state())
        .merge(server.auth.api_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(portcullis::http::serve(listener, app, std::future::pending()));

    let mut b = server.browser();
    b.url = url;
    problem(b.get("/api/hello").await, 401, "unauthenticated").await;
    assert_eq!(b.get("/").await.text().await.unwrap(), "host page");
    assert_eq!(b.get("/elsewhere").await.status(), 404, "no SPA fallback in the API router");
    b.fetch_csrf().await;
    assert_eq!(b.post("/api/login", json!({"username": "test", "password": "test"})).await.status(), 200);
    assert_eq!(b.get("/api/hello").await.text().await.unwrap(), "hello, test");
    task.abort();
}
