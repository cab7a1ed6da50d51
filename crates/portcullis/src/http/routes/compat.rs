//! The seed-compatible routes: the same paths, statuses and bodies as the Flask + Flask-Login +
//! Flask-WTF SPA backend, so its frontends work unchanged. Bodies are byte-for-byte what Flask's
//! `jsonify` writes (compact JSON and a newline).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::json;
use crate::auth::{Carrier, Established, Purpose, RememberCookie};
use crate::error::Error;
use crate::http::body::Input;
use crate::http::error::ApiError;
use crate::http::extract::{check_csrf, issue_csrf, Client, CurrentUser, MaybeSession};
use crate::http::{cookies, AppState};
use crate::session::{ClientInfo, SessionSecret};

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
    let login = LoginForm::read(&state, input?, CarrierKind::Cookie)?;
    let device = cookies::read(&headers, cookies::DEVICE_COOKIE);
    // Unknown user, wrong password and disabled account all land here, alike.
    let found = state.auth.login(&login.username, &login.password, &client, Purpose::SessionLogin, device).await?;
    let Some(principal) = found else { return Ok(json(StatusCode::UNAUTHORIZED, LOGIN_FALSE)) };
    let replaces = cookies::read(&headers, state.cookies.session_name());
    let old_series = cookies::read(&headers, state.cookies.remember_name());
    let carrier = Carrier::Cookie { remember: login.remember, replaces, old_series };
    let established = state.auth.establish(principal, &client, carrier).await?;
    // The seed's exact body, unless the client asked where to go next.
    let response = match login.next {
        None => json(StatusCode::OK, LOGIN_TRUE),
        Some(next) => super::json_value(StatusCode::OK, &serde_json::json!({ "login": true, "next": next })),
    };
    Ok(write_established(&state, response, established))
}

/// Which carrier a login body is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CarrierKind {
    Cookie,
    TokenFamily,
}

/// The fields of a login body.
pub(crate) struct LoginForm {
    pub username: String,
    pub password: crate::password::Password,
    pub remember: bool,
    pub next: Option<String>,
}

impl LoginForm {
    /// Reads the credentials, `next`, and (for a cookie session) `remember`.
    pub(crate) fn read(state: &AppState, input: Input, carrier: CarrierKind) -> Result<Self, Error> {
        let (username, password) = input.credentials(state.config.password.max_length)?;
        let mut fields = input.fields();
        let remember = carrier == CarrierKind::Cookie && fields.flag("remember");
        let next = fields.return_to();
        fields.finish()?;
        Ok(Self { username, password, remember, next })
    }
}

/// Writes out the cookies of an established login.
pub(crate) fn write_established(state: &AppState, mut response: Response, established: Established) -> Response {
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
    let series = cookies::read(headers, state.cookies.remember_name());
    if !state.auth.logout_cookie(&secret, series, client).await? {
        return Err(unauthenticated());
    }
    let mut response = json(StatusCode::OK, LOGOUT_TRUE);
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, state.cookies.clear_session());
    if series.is_some() {
        h.append(header::SET_COOKIE, state.cookies.clear_remember());
    }
    if state.config.csrf.rotate_on_logout {
        h.append(header::SET_COOKIE, state.cookies.csrf_nonce(crate::csrf::new_nonce()));
    }
    Ok(response)
}
