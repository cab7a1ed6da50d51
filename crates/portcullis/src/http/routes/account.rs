//! Account routes: registration, the current account, a JSON CSRF token.

use super::{json_value, rfc3339};
use crate::account::MAX_USERNAME_CHARS;
use crate::error::{Error, ErrorKind};
use crate::http::body::Input;
use crate::http::error::ApiError;
use crate::http::extract::{check_csrf, issue_csrf, Client, CurrentUser};
use crate::http::AppState;
use crate::password::Password;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use serde_json::json;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/csrf", get(csrf)).route("/api/register", post(register)).route("/api/me", get(me))
}

async fn csrf(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (token, set_cookie) = issue_csrf(&state, &headers);
    let mut response = json_value(StatusCode::OK, &json!({ "csrf_token": token }));
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    input: Result<Input, Error>,
) -> Result<Response, ApiError> {
    let form_token = input.as_ref().ok().and_then(|i| i.get_str("csrf_token"));
    check_csrf(&state, &headers, form_token)?;
    if !state.config.registration {
        return Err(Error::new(ErrorKind::Forbidden, "registration is disabled on this server").into());
    }
    // A 409 tells whether a name is taken: the address pays for every try.
    state.auth.gate().charge_ip(&client).await?;
    let input = input?;
    let mut fields = input.fields();
    let username = fields.required("username", MAX_USERNAME_CHARS);
    let password = Password::new(fields.required("password", state.config.password.max_length));
    let email = fields.optional("email", 254);
    fields.finish()?;
    let user = state.auth.register(&username, &password, email, state.config.first_user_admin, &client).await?;
    Ok(json_value(StatusCode::CREATED, &json!({ "id": user.id, "username": user.username })))
}

#[derive(Serialize)]
struct Me<'a> {
    id: uuid::Uuid,
    username: &'a str,
    email: Option<&'a str>,
    roles: &'a [String],
    permissions: &'a [String],
    mfa_enabled: bool,
    session: MeSession,
}

#[derive(Serialize)]
struct MeSession {
    id: uuid::Uuid,
    kind: &'static str,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    fresh_until: String,
    remember: bool,
}

async fn me(State(state): State<AppState>, CurrentUser(live): CurrentUser) -> Response {
    let user = live.user();
    let record = live.record();
    let expires_at = state.sessions.idle_deadline(&live).min(record.expires_at);
    json_value(
        StatusCode::OK,
        &Me {
            id: user.id,
            username: &user.username,
            email: user.email.as_deref(),
            roles: &user.roles,
            permissions: &user.permissions,
            mfa_enabled: false,
            session: MeSession {
                id: record.public_id,
                kind: record.kind.as_str(),
                created_at: rfc3339(record.created_at),
                last_seen_at: rfc3339(live.last_seen_at()),
                expires_at: rfc3339(expires_at),
                fresh_until: rfc3339(live.fresh_until()),
                remember: record.remember,
            },
        },
    )
}
