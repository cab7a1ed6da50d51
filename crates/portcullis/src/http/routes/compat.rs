//! The seed-compatible routes: the same paths, statuses and bodies as the Flask + Flask-Login +
//! Flask-WTF SPA backend, so its frontends work unchanged. Bodies are byte-for-byte what Flask's
//! `jsonify` writes (compact JSON and a newline).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::json;
use crate::audit::{event, Subject};
use crate::error::Error;
use crate::http::body::Input;
use crate::http::error::ApiError;
use crate::http::extract::{check_csrf, issue_csrf, Client, CurrentUser, MaybeSession};
use crate::http::{cookies, AppState};
use crate::login::{Attempt, Purpose};
use crate::session::{ClientInfo, LoginMethod, SessionSecret};

pub(crate) const PING: &[u8] = b"{\"ping\":\"pong!\"}\n";
pub(crate) const CSRF_SET: &[u8] = b"{\"detail\":\"CSRF cookie set\"}\n";
pub(crate) const LOGIN_TRUE: &[u8] = b"{\"login\":true}\n";
pub(crate) const LOGIN_FALSE: &[u8] = b"{\"login\":false}\n";
pub(crate) const LOGOUT_TRUE: &[u8] = b"{\"logout\":true}\n";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/ping", get(ping))
        .route("/api/getcsrf", get(getcsrf))
        .route("/api/login", post(login))
        .route("/api/getsession", get(getsession))
        .route("/api/data", get(data))
        .route("/api/logout", get(logout_get).post(logout_post))
}

async fn ping() -> Response {
    json(StatusCode::OK, PING)
}

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

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    input: Result<Input, Error>,
) -> Result<Response, ApiError> {
    // CSRF is judged before the body, as Flask-WTF does; the form field can carry the token.
    let form_token = input.as_ref().ok().and_then(|i| i.get_str("csrf_token"));
    check_csrf(&state, &headers, form_token).map_err(ApiError::seed)?;
    let input = input?;
    let (username, password) = input.credentials(state.config.password.max_length)?;
    let mut fields = input.fields();
    let remember = fields.flag("remember");
    let next = fields.return_to();
    fields.finish()?;
    // Unknown user, wrong password and disabled account all land here, alike.
    let attempt =
        Attempt::Login { purpose: Purpose::SessionLogin, device: cookies::read(&headers, cookies::DEVICE_COOKIE) };
    let Some(admitted) = state.gate.check(&username, &password, &client, attempt).await? else {
        return Ok(json(StatusCode::UNAUTHORIZED, LOGIN_FALSE));
    };
    let user = admitted.user;
    // Session-fixation mitigation: any session this browser had ends, and a new id is issued.
    if let Some(old) = cookies::read(&headers, state.cookies.session_name()).and_then(SessionSecret::parse) {
        state.sessions.revoke(&old.hash(), "relogin").await?;
    }
    let (secret, live) = state.sessions.create(&user, client.clone(), LoginMethod::Password).await?;
    let subject = Subject::session(&live);
    let detail = serde_json::json!({ "method": "session", "remember": remember });
    state.audit.record(event::LOGIN_OK, subject, Some(&client), detail).await;
    // The seed's exact body, unless the client asked where to go next.
    let mut response = match next {
        None => json(StatusCode::OK, LOGIN_TRUE),
        Some(next) => super::json_value(StatusCode::OK, &serde_json::json!({ "login": true, "next": next })),
    };
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, state.cookies.session(secret.encode()));
    if let Some(device) = admitted.device {
        h.append(header::SET_COOKIE, state.cookies.device(device, state.gate.devices().ttl()));
    }
    // A series this browser had ends; a new one starts only when asked for.
    let old_series = cookies::read(&headers, state.cookies.remember_name());
    if let Some(old) = old_series {
        state.sessions.forget(old).await?;
    }
    if remember {
        let value = state.sessions.remember(user.id).await?;
        h.append(header::SET_COOKIE, state.cookies.remember(value, state.sessions.config().remember_for));
    } else if old_series.is_some() {
        h.append(header::SET_COOKIE, state.cookies.clear_remember());
    }
    Ok(response)
}

async fn getsession(MaybeSession(session): MaybeSession) -> Response {
    json(StatusCode::OK, if session.is_some() { LOGIN_TRUE } else { LOGIN_FALSE })
}

#[derive(serde::Serialize)]
struct Data<'a> {
    username: &'a str,
}

async fn data(CurrentUser(session): CurrentUser) -> Response {
    super::json_value(StatusCode::OK, &Data { username: &session.user().username })
}

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
    let hash = secret.hash();
    let Some(live) = state.sessions.validate(&hash).await? else {
        return Err(unauthenticated());
    };
    state.sessions.revoke(&hash, "logout").await?;
    let subject = Subject::session(&live);
    state.audit.record(event::LOGOUT, subject, Some(client), serde_json::Value::Null).await;
    let mut response = json(StatusCode::OK, LOGOUT_TRUE);
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, state.cookies.clear_session());
    // Logging out ends remember-me on this browser too.
    if let Some(remembered) = cookies::read(headers, state.cookies.remember_name()) {
        state.sessions.forget(remembered).await?;
        h.append(header::SET_COOKIE, state.cookies.clear_remember());
    }
    if state.config.csrf.rotate_on_logout {
        h.append(header::SET_COOKIE, state.cookies.csrf_nonce(crate::csrf::new_nonce()));
    }
    Ok(response)
}
