//! Remember me at the edge: a request whose session cookie is missing or dead but which carries
//! a remember-me cookie gets a new (not fresh) session before any handler runs. The handlers see
//! the new session cookie in the request; the browser gets it, and the rotated remember-me
//! cookie, on the response.

use axum::extract::Request;
use axum::http::{header, HeaderValue, Response};

use super::cookies;
use super::extract::client_info;
use super::AppState;
use crate::session::remember::Restore;
use crate::session::SessionSecret;

/// Cookies to set on the response after a restore.
#[derive(Debug, Default)]
pub(crate) struct Restored(Vec<(String, HeaderValue)>);

/// Restores a session from the remember-me cookie when there is no live session.
pub(crate) async fn before(state: &AppState, req: Request) -> (Request, Restored) {
    let Some(cookie) = cookies::read(req.headers(), state.cookies.remember_name()) else {
        return (req, Restored::default());
    };
    let session_name = state.cookies.session_name();
    if let Some(secret) = cookies::read(req.headers(), session_name).and_then(SessionSecret::parse) {
        if matches!(state.sessions.validate(&secret.hash()).await, Ok(Some(_))) {
            return (req, Restored::default());
        }
    }
    let cookie = cookie.to_owned();
    let (mut parts, body) = req.into_parts();
    let client = client_info(&parts, state);
    let remember_name = state.cookies.remember_name().to_owned();
    let mut out = Vec::new();
    match state.auth.restore(&cookie, &client).await {
        Ok(Restore::Restored { secret, next_cookie, .. }) => {
            let value = secret.encode();
            cookies::replace(&mut parts.headers, session_name, &value);
            out.push((session_name.to_owned(), state.cookies.session(value)));
            if let Some(next) = next_cookie {
                out.push((remember_name, state.cookies.remember(next, state.sessions.config().remember_for)));
            }
        }
        Ok(Restore::Invalid) => out.push((remember_name, state.cookies.clear_remember())),
        Ok(Restore::Stolen { .. }) => {
            out.push((remember_name, state.cookies.clear_remember()));
        }
        // The store is down: carry on without a session (fail closed); the handler decides.
        Err(e) => tracing::warn!(error = %e, "remember-me restore failed"),
    }
    (Request::from_parts(parts, body), Restored(out))
}

/// Adds the restore's cookies, unless the handler set the same cookie itself (login, logout).
pub(crate) fn after<B>(restored: Restored, mut response: Response<B>) -> Response<B> {
    for (name, value) in restored.0 {
        if !cookies::sets(response.headers(), &name) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}
