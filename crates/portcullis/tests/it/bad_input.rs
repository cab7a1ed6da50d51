//! Bad input always gets a 4xx problem+json: never a 5xx, never a panic.

use serde_json::json;

use crate::common::{problem, Browser, Server};

async fn ready() -> (Server, Browser) {
    let server = Server::start().await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    (server, b)
}

async fn send(b: &Browser, content_type: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    b.http
        .post(b.at("/api/login"))
        .header("X-CSRFToken", b.csrf.clone().unwrap())
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn malformed_json() {
    let (_s, b) = ready().await;
    problem(send(&b, "application/json", "{\"username\": ").await, 400, "malformed_request").await;
    problem(send(&b, "application/json", "").await, 400, "malformed_request").await;
}

#[tokio::test]
async fn wrong_content_type() {
    let (_s, b) = ready().await;
    problem(send(&b, "text/plain", "username=test").await, 415, "unsupported_media_type").await;
    let res =
        b.http.post(b.at("/api/login")).header("X-CSRFToken", b.csrf.clone().unwrap()).body("{}").send().await.unwrap();
    problem(res, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn missing_and_mistyped_fields_are_all_listed() {
    let (_s, b) = ready().await;
    let body = problem(b.post("/api/login", json!({})).await, 422, "validation_failed").await;
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["username", "password"]);
    let body =
        problem(b.post("/api/login", json!({"username": 5, "password": ["x"]})).await, 422, "validation_failed").await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    problem(b.post("/api/login", json!(["test", "test"])).await, 422, "validation_failed").await;
}

#[tokio::test]
async fn a_one_mebibyte_body() {
    let (_s, b) = ready().await;
    let big = format!("{{\"username\":\"test\",\"password\":\"{}\"}}", "x".repeat(1024 * 1024));
    problem(send(&b, "application/json", big.clone()).await, 413, "payload_too_large").await;
    // Without a Content-Length the limit still holds while streaming.
    let stream = futures_stream(big.into_bytes());
    let res = b
        .http
        .post(b.at("/api/login"))
        .header("X-CSRFToken", b.csrf.clone().unwrap())
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    problem(res, 413, "payload_too_large").await;
}

fn futures_stream(bytes: Vec<u8>) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
    tokio_stream::iter(chunks)
}

#[tokio::test]
async fn non_utf8_bodies() {
    let (_s, b) = ready().await;
    let bad: Vec<u8> = b"{\"username\":\"te\xffst\",\"password\":\"test\"}".to_vec();
    problem(send(&b, "application/json", bad).await, 400, "malformed_request").await;
    let bad_form: Vec<u8> = b"username=te\xffst&password=test".to_vec();
    problem(send(&b, "application/x-www-form-urlencoded", bad_form).await, 400, "malformed_request").await;
}

#[tokio::test]
async fn a_very_long_username() {
    let (_s, b) = ready().await;
    let body = problem(
        b.post("/api/login", json!({"username": "u".repeat(100_000 / 2), "password": "test"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "username");
    let res = b.post("/api/register", json!({"username": "u".repeat(65), "password": "long enough"})).await;
    problem(res, 422, "validation_failed").await;
}

#[tokio::test]
async fn a_very_long_password_is_refused_before_hashing() {
    let (s, b) = ready().await;
    let before = s.auth.accounts().hasher().verifications();
    let res = b.post("/api/login", json!({"username": "test", "password": "p".repeat(10_000)})).await;
    problem(res, 422, "validation_failed").await;
    assert_eq!(s.auth.accounts().hasher().verifications(), before);
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let (_s, b) = ready().await;
    problem(b.get("/api/nope").await, 404, "not_found").await;
    let res = b.http.put(b.at("/api/ping")).send().await.unwrap();
    problem(res, 405, "method_not_allowed").await;
    let res = b.http.delete(b.at("/somewhere")).send().await.unwrap();
    problem(res, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn junk_cookies_are_just_unauthenticated() {
    let (s, _b) = ready().await;
    let raw = s.raw();
    for junk in ["", "x", "%%%", "\"quoted\"", &"A".repeat(4000), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="] {
        let res = raw
            .http
            .get(raw.at("/api/data"))
            .header("Cookie", format!("portcullis_session={junk}; portcullis_csrf={junk}"))
            .send()
            .await
            .unwrap();
        problem(res, 401, "unauthenticated").await;
    }
}
