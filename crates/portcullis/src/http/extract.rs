//! Extractors: the caller's session, client facts, and the CSRF check.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use super::error::ApiError;
use super::{cookies, AppState};
use crate::csrf::{provenance, Provenance};
use crate::error::{Error, ErrorKind};
use crate::session::{ClientInfo, LiveSession, SessionSecret};

/// The caller's live session, if any.
#[derive(Debug, Clone)]
pub struct MaybeSession(pub Option<Arc<LiveSession>>);

impl<S> FromRequestParts<S> for MaybeSession
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        let Some(secret) = cookies::read(&parts.headers, state.cookies.session_name()).and_then(SessionSecret::parse)
        else {
            return Ok(Self(None));
        };
        Ok(Self(state.sessions.validate(&secret.hash()).await?))
    }
}

/// The caller's live session; 401 `unauthenticated` without one.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Arc<LiveSession>);

impl<S> FromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match MaybeSession::from_request_parts(parts, state).await?.0 {
            Some(live) => Ok(Self(live)),
            None => Err(Error::new(ErrorKind::Unauthenticated, "log in first").into()),
        }
    }
}

/// Where the request came from, kept with a new session.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect());
        Ok(Self(ClientInfo { ip, user_agent }))
    }
}

/// The CSRF check for unsafe methods: origin first (refused even with a valid token), then the
/// token from `X-CSRFToken` / `X-CSRF-Token` or the `csrf_token` form field.
pub fn check_csrf(state: &AppState, headers: &HeaderMap, form_token: Option<&str>) -> Result<(), Error> {
    if provenance(headers, &state.config.allowed_origins) == Provenance::CrossSite {
        return Err(Error::new(ErrorKind::CsrfFailed, "cross-site request refused"));
    }
    if !state.config.csrf.require_token {
        return Ok(());
    }
    let token =
        headers.get("x-csrftoken").or_else(|| headers.get("x-csrf-token")).and_then(|v| v.to_str().ok()).or(form_token);
    let nonce = cookies::read(headers, state.cookies.csrf_name());
    match (token, nonce) {
        (None, _) => Err(Error::new(ErrorKind::CsrfFailed, "the CSRF token is missing")),
        (Some(_), None) => Err(Error::new(ErrorKind::CsrfFailed, "the CSRF cookie is missing; fetch a token first")),
        (Some(token), Some(nonce)) if state.csrf.verify(nonce, token) => Ok(()),
        (Some(_), Some(_)) => Err(Error::new(ErrorKind::CsrfFailed, "the CSRF token is invalid")),
    }
}

/// A new CSRF token for this browser, and a `Set-Cookie` value when the browser had no nonce
/// yet and one had to be made.
pub fn issue_csrf(state: &AppState, headers: &HeaderMap) -> (String, Option<axum::http::HeaderValue>) {
    match cookies::read(headers, state.cookies.csrf_name()).filter(|n| crate::csrf::is_valid_nonce(n)) {
        Some(nonce) => (state.csrf.issue(nonce), None),
        None => {
            let nonce = crate::csrf::new_nonce();
            (state.csrf.issue(&nonce), Some(state.cookies.csrf_nonce(nonce)))
        }
    }
}
