//! Cross-cutting middleware, in one layer so the hot path pays for one boxed future: request ids
//! and the request log, the request deadline, security headers, and problem+json for error
//! statuses that left the router without a body. Panics become generic 500s.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Response, StatusCode};
use axum::middleware::Next;

use super::error::{problem, InternalCause};
use super::AppState;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request id chosen for (or echoed to) the client.
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

fn acceptable_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= 64 && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A new request id shaped like a UUID (version 4): 122 random bits, so ids neither repeat nor
/// reveal how many requests came before (a counter would tell anyone watching the volume).
/// `thread_rng` is a CSPRNG (ChaCha12) per thread, seeded and periodically reseeded from the OS:
/// no system call per request, and seeing some ids does not predict the next ones.
fn new_request_id() -> HeaderValue {
    let bytes: [u8; 16] = rand::Rng::gen(&mut rand::thread_rng());
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut text = uuid::Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut text)).unwrap_or(HeaderValue::from_static("-"))
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// A proxy's description of the request (`Forwarded`, `X-Forwarded-Proto`, `-Host`, `-Port`) is
/// believed only from a trusted proxy (`proxy.trusted`): from anyone else it is dropped here, so
/// later checks (the CSRF origin check) can take what is left as the proxy's word.
fn distrust_forwarded(state: &AppState, req: &mut Request) {
    if !crate::csrf::PROXY_HEADERS.iter().any(|name| req.headers().contains_key(*name)) {
        return;
    }
    let trusted = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().is_some_and(|peer| {
        let ip = peer.0.ip().to_canonical();
        state.config.limits.trusted_proxies.iter().any(|range| range.contains(ip))
    });
    if !trusted {
        for name in crate::csrf::PROXY_HEADERS {
            req.headers_mut().remove(name);
        }
    }
}

/// The edge of every request. Only the method, the path (never the query string), the status
/// and the timing are logged: no cookie, token or body ever reaches the log.
pub async fn edge(State(state): State<AppState>, mut req: Request, next: Next) -> Response<Body> {
    let started = Instant::now();
    let id = match req.headers().get(&REQUEST_ID) {
        Some(v) if acceptable_id(v) => v.clone(),
        _ => new_request_id(),
    };
    req.extensions_mut().insert(RequestId(id.clone()));
    distrust_forwarded(&state, &mut req);
    let logged = tracing::enabled!(target: "portcullis::http", tracing::Level::INFO)
        .then(|| (req.method().clone(), req.uri().path().to_owned()));
    let (req, restored) = super::remember_layer::before(&state, req).await;
    let mut response = match super::token_layer::before(&state, req).await {
        Ok((req, renew)) => match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
            Ok(response) => match renew {
                Some(claims) => super::token_layer::after(&state, claims, response).await,
                None => response,
            },
            Err(_) => problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the request timed out", &[]),
        },
        Err(refused) => refused,
    };
    response = super::remember_layer::after(restored, response);
    response = harden(response);
    let cause = response.extensions().get::<InternalCause>();
    if logged.is_some() || cause.is_some() {
        let status = response.status().as_u16();
        let micros = started.elapsed().as_micros();
        let rid = id.to_str().unwrap_or("-");
        let (method, path) = logged.unwrap_or_default();
        match cause {
            Some(c) => {
                tracing::error!(target: "portcullis::http", %method, path, status, micros, request_id = rid, cause = %c.0, "request")
            }
            None => {
                tracing::info!(target: "portcullis::http", %method, path, status, micros, request_id = rid, "request")
            }
        }
    }
    response.headers_mut().insert(REQUEST_ID.clone(), id);
    response
}

/// Security headers, `no-store` unless a handler chose a cache policy, and problem+json for
/// bare error statuses (404, 405, ... from the router itself).
fn harden(response: Response<Body>) -> Response<Body> {
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
        let (rendered, body) = problem(status, code, detail, &[]).into_parts();
        parts.headers.extend(rendered.headers);
        Response::from_parts(parts, body)
    } else {
        response
    };
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if h.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html")) {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
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
    response
}
