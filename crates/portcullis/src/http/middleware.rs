//! Cross-cutting middleware: request ids and the request log, security headers, problem+json
//! for bare error statuses, the request deadline, and panics turned into generic 500s.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Response, StatusCode};
use axum::middleware::Next;
use axum::response::IntoResponse;

use super::error::{problem, InternalCause};

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request id chosen for (or echoed to) the client.
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

fn acceptable_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= 64 && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Assigns the request id and writes one log line per request. Only the method, the path
/// (never the query string), the status and the timing are logged: no cookie, token or body.
pub async fn observe(mut req: Request, next: Next) -> Response<Body> {
    let started = Instant::now();
    let id = match req.headers().get(&REQUEST_ID) {
        Some(v) if acceptable_id(v) => v.clone(),
        _ => HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).unwrap_or(HeaderValue::from_static("-")),
    };
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut response = next.run(req).await;
    let status = response.status().as_u16();
    let micros = started.elapsed().as_micros();
    let rid = id.to_str().unwrap_or("-");
    match response.extensions().get::<InternalCause>() {
        Some(cause) => {
            tracing::error!(target: "portcullis::http", %method, path, status, micros, request_id = rid, cause = %cause.0, "request")
        }
        None => tracing::info!(target: "portcullis::http", %method, path, status, micros, request_id = rid, "request"),
    }
    response.headers_mut().insert(REQUEST_ID.clone(), id);
    response
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Security headers on every response, `no-store` unless a handler chose a cache policy, and
/// problem+json for error statuses that left the router without a body (404, 405, ...).
pub async fn harden(req: Request, next: Next) -> Response<Body> {
    let response = next.run(req).await;
    let mut response = if response.status().as_u16() >= 400 && !response.headers().contains_key(header::CONTENT_TYPE) {
        let status = response.status();
        let (code, detail) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such resource"),
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this method is not allowed here"),
            StatusCode::PAYLOAD_TOO_LARGE => {
                ("payload_too_large", "the request body is larger than the server accepts")
            }
            s if s.is_server_error() => ("internal", "the server failed to answer this request"),
            _ => ("bad_request", "the request could not be handled"),
        };
        let (mut parts, _) = response.into_parts();
        let rendered = problem(status, code, detail, &[]);
        let (rparts, body) = rendered.into_parts();
        parts.headers.extend(rparts.headers);
        Response::from_parts(parts, body)
    } else {
        response
    };
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let is_html = h.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_html {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Answers 503 when a request runs past the configured deadline.
pub async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response<Body> {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the request timed out", &[]),
    }
}

/// A panic becomes a generic 500; the message goes to the log only.
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let message = err
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| err.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into());
    let mut response =
        problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server failed to answer this request", &[]);
    response.extensions_mut().insert(InternalCause(message));
    response.into_response()
}
