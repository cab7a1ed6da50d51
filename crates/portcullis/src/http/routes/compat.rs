//! The seed-compatible routes: the same paths, statuses and bodies as the Flask + Flask-Login +
//! Flask-WTF SPA backend, so its frontends work unchanged. Bodies are byte-for-byte what Flask's
//! `jsonify` writes (compact JSON and a newline).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{json, json_value, write_established};
use crate::account::MAX_USERNAME_CHARS;
use crate::auth::{Carrier, Purpose};
use crate::error::Error;
use crate::http::error::ApiError;
use crate::http::extract::{check_csrf, issue_csrf, Client, CurrentUser, MaybeSession};
use crate::http::input::{Flag, RequestBody, Submitted, Text};
use crate::http::{cookies, AppState};
use crate::password::Password;
use crate::redirect::ReturnTo;
use crate::session::{ClientInfo, SessionSecret};

pub(crate) const PING: &[u8] = b"{\"ping\":\"pong!\"}\n";
pub(crate) const CSRF_SET: &[u8] = b"{\"detail\":\"CSRF cookie set\"}\n";
pub(crate) const LOGIN_TRUE: &[u8] = b"{\"login\":true}\n";
pub(crate) const LOGIN_FALSE: &[u8] = b"{\"login\":false}\n";
pub(crate) const LOGOUT_TRUE: &[u8] = b"{\"logout\":true}\n";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ping))
        .routes(routes!(getcsrf))
        .routes(routes!(login))
        .routes(routes!(getsession))
        .routes(routes!(data))
        .routes(routes!(logout_get, logout_post))
}

/// `{"ping": "pong!"}`.
#[derive(Serialize, ToSchema)]
struct Ping {
    ping: &'static str,
}

/// Always 200 `{"ping": "pong!"}`.
#[utoipa::path(get, path = "/api/ping", tag = "seed", operation_id = "ping",
    responses((status = 200, body = Ping, example = json!({"ping": "pong!"}))))]
async fn ping() -> Response {
    json(StatusCode::OK, PING)
}

/// `{"detail": "CSRF cookie set"}`.
#[derive(Serialize, ToSchema)]
struct CsrfSet {
    detail: &'static str,
}

/// A CSRF token for this browser, in the `X-CSRFToken` response header.
#[utoipa::path(get, path = "/api/getcsrf", tag = "seed", operation_id = "getcsrf",
    responses((status = 200, body = CsrfSet, headers(("X-CSRFToken" = String, description = "The CSRF token")))))]
async fn getcsrf(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (token, set_cookie) = issue_csrf(&state, &headers);
    let mut response = json(StatusCode::OK, CSRF_SET);
    // Tokens are base64url, always a valid header value.
    let token = HeaderValue::from_str(&token).unwrap_or(HeaderValue::from_static(""));
    response.headers_mut().insert("x-csrftoken", token);
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// A login with a password, for a cookie session.
#[derive(Debug, eserde::Deserialize, ToSchema)]
pub(crate) struct LoginRequest {
    username: Text<{ MAX_USERNAME_CHARS }>,
    password: Password,
    /// Keep the browser signed in across restarts (remember-me).
    #[serde(default)]
    remember: Flag,
    #[serde(default)]
    next: Option<ReturnTo>,
    /// The CSRF token, when a form carries it rather than a header.
    #[serde(default)]
    #[allow(dead_code)] // Described here; `Submitted` reads it before the body is typed.
    csrf_token: Option<String>,
}

impl RequestBody for LoginRequest {
    const FORM: bool = true;
}

/// `{"login": true}` or `{"login": false}`; `next` echoed when the login asked for it.
#[derive(Serialize, ToSchema)]
struct LoginResult {
    login: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// Logs in: a new session cookie (a new id at every login, so no fixation). A wrong username or
/// password, an unknown or a disabled account all answer the same 401 `{"login": false}`.
#[utoipa::path(post, path = "/api/login", tag = "seed", operation_id = "seed_login",
    request_body(content((LoginRequest = "application/json"), (LoginRequest = "application/x-www-form-urlencoded"))),
    security(("csrf_header" = [])),
    responses(
        (status = 200, body = LoginResult, example = json!({"login": true})),
        (status = 401, body = LoginResult, example = json!({"login": false})),
    ))]
async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    submitted: Submitted<LoginRequest>,
) -> Result<Response, ApiError> {
    // CSRF is judged before the body, as Flask-WTF does; the form field can carry the token.
    check_csrf(&state, &headers, submitted.csrf_token.as_deref()).map_err(ApiError::seed)?;
    let login = submitted.body?;
    let device = cookies::read(&headers, cookies::DEVICE_COOKIE);
    let found = state.auth.login(&login.username.0, &login.password, &client, Purpose::SessionLogin, device).await?;
    let Some(principal) = found else { return Ok(json(StatusCode::UNAUTHORIZED, LOGIN_FALSE)) };
    let established =
        state.auth.establish(principal, &client, cookie_carrier(&state, &headers, login.remember)).await?;
    // The seed's exact body, unless the client asked where to go next.
    let response = match login.next {
        None => json(StatusCode::OK, LOGIN_TRUE),
        Some(next) => json_value(StatusCode::OK, &LoginResult { login: true, next: Some(next.0) }),
    };
    Ok(write_established(&state, response, established))
}

/// A cookie session that replaces this browser's session and remember-me series, if any.
fn cookie_carrier<'h>(state: &AppState, headers: &'h HeaderMap, remember: Flag) -> Carrier<'h> {
    let replaces = cookies::read(headers, state.cookies.session_name());
    let old_series = cookies::read(headers, state.cookies.remember_name());
    Carrier::Cookie { remember: remember.0, replaces, old_series }
}

/// Whether this browser has a live session.
#[utoipa::path(get, path = "/api/getsession", tag = "seed", operation_id = "getsession",
    responses((status = 200, body = LoginResult, example = json!({"login": true}))))]
async fn getsession(MaybeSession(session): MaybeSession) -> Response {
    json(StatusCode::OK, if session.is_some() { LOGIN_TRUE } else { LOGIN_FALSE })
}

/// `{"username": ...}`.
#[derive(Serialize, ToSchema)]
struct Data<'a> {
    username: &'a str,
}

/// The logged-in user's name.
#[utoipa::path(get, path = "/api/data", tag = "seed", operation_id = "data",
    security(("session_cookie" = []), ("bearer" = [])),
    responses((status = 200, body = Data)))]
async fn data(CurrentUser(session): CurrentUser) -> Response {
    super::json_value(StatusCode::OK, &Data { username: &session.user().username })
}

/// `{"logout": true}`.
#[derive(Serialize, ToSchema)]
struct LogoutResult {
    logout: bool,
}

/// Logs out: the session ends server-side and its cookie is cleared.
#[utoipa::path(post, path = "/api/logout", tag = "seed", operation_id = "seed_logout",
    security(("session_cookie" = [], "csrf_header" = [])),
    responses((status = 200, body = LogoutResult, example = json!({"logout": true}))))]
async fn logout_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
) -> Result<Response, ApiError> {
    check_csrf(&state, &headers, None).map_err(ApiError::seed)?;
    logout(&state, &headers, &client).await
}

/// GET logout is kept for the seed's frontends, but only from this site: a cross-site page must
/// not be able to log a user out with an `<img src>`.
#[utoipa::path(get, path = "/api/logout", tag = "seed", operation_id = "seed_logout_get",
    security(("session_cookie" = [])),
    responses((status = 200, body = LogoutResult, example = json!({"logout": true}))))]
async fn logout_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
) -> Result<Response, ApiError> {
    use crate::csrf::{provenance, Provenance};
    match provenance(&headers, &state.config.origin_policy()) {
        Provenance::Trusted | Provenance::Unknown => logout(&state, &headers, &client).await,
        Provenance::CrossSite | Provenance::UserInitiated => {
            Err(Error::new(crate::error::ErrorKind::CsrfFailed, "logout by GET is accepted only from this site").into())
        }
    }
}

async fn logout(state: &AppState, headers: &HeaderMap, client: &ClientInfo) -> Result<Response, ApiError> {
    let unauthenticated = || ApiError::from(Error::new(crate::error::ErrorKind::Unauthenticated, "log in first"));
    let secret = cookies::read(headers, state.cookies.session_name())
        .and_then(SessionSecret::parse)
        .ok_or_else(unauthenticated)?;
    let series = cookies::read(headers, state.cookies.remember_name());
    if !state.auth.logout_cookie(&secret, series, client).await? {
        return Err(unauthenticated());
    }
    let mut response = json(StatusCode::OK, LOGOUT_TRUE);
    clear_cookies(state, &mut response, series.is_some());
    Ok(response)
}

/// The session cookie, the remember-me cookie when there was one, and (with
/// `csrf.rotate_on_logout`) a new CSRF nonce.
fn clear_cookies(state: &AppState, response: &mut Response, remembered: bool) {
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, state.cookies.clear_session());
    if remembered {
        h.append(header::SET_COOKIE, state.cookies.clear_remember());
    }
    if state.config.csrf.rotate_on_logout {
        h.append(header::SET_COOKIE, state.cookies.csrf_nonce(crate::csrf::new_nonce()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(value: &impl Serialize) -> Vec<u8> {
        let mut v = serde_json::to_vec(value).expect("serializes");
        v.push(b'\n');
        v
    }

    /// The documented types write the seed's exact bodies.
    #[test]
    fn the_seed_bodies_are_their_documented_types() {
        assert_eq!(bytes(&Ping { ping: "pong!" }), PING);
        assert_eq!(bytes(&CsrfSet { detail: "CSRF cookie set" }), CSRF_SET);
        assert_eq!(bytes(&LoginResult { login: true, next: None }), LOGIN_TRUE);
        assert_eq!(bytes(&LoginResult { login: false, next: None }), LOGIN_FALSE);
        assert_eq!(bytes(&LogoutResult { logout: true }), LOGOUT_TRUE);
    }
}
