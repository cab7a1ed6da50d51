//! Route handlers: short adapters from HTTP to the domain. Each is registered with its
//! OpenAPI description (`#[utoipa::path]`), so the router and the document cannot drift.

pub mod account;
pub mod admin;
pub mod compat;
pub mod ops;
pub mod sessions;
pub mod token;

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};

use crate::auth::{Established, RememberCookie};
use crate::http::AppState;

/// A JSON response from prepared bytes.
pub(crate) fn json(status: StatusCode, body: impl Into<Body>) -> Response<Body> {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A JSON response from a serializable value, with the newline Flask's `jsonify` ends with.
pub(crate) fn json_value(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    bytes.push(b'\n');
    json(status, bytes)
}

/// An RFC 3339 timestamp for JSON bodies.
pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Writes out the cookies of an established login: the session, the device token, remember-me.
pub(crate) fn write_established(
    state: &AppState,
    mut response: Response<Body>,
    established: Established,
) -> Response<Body> {
    let h = response.headers_mut();
    if let Some(secret) = established.secret {
        h.append(header::SET_COOKIE, state.cookies.session(secret.encode()));
    }
    if let Some(device) = established.device {
        h.append(header::SET_COOKIE, state.cookies.device(device, state.auth.gate().devices().ttl()));
    }
    match established.remember {
        RememberCookie::Set(value) => {
            h.append(header::SET_COOKIE, state.cookies.remember(value, state.sessions.config().remember_for));
        }
        RememberCookie::Clear => {
            h.append(header::SET_COOKIE, state.cookies.clear_remember());
        }
        RememberCookie::Keep => {}
    }
    response
}
