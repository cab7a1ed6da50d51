//! Self-service routes of a logged-in user: step-up, their sessions, their password.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{json_value, rfc3339};
use crate::error::{Error, ErrorKind};
use crate::http::error::ApiError;
use crate::http::extract::{Client, CurrentUser};
use crate::http::guard::Fresh;
use crate::http::input::{Body, RequestBody};
use crate::http::{cookies, AppState};
use crate::password::Password;
use crate::session::{ListedSession, SessionKind};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reauth))
        .routes(routes!(list))
        .routes(routes!(revoke_others))
        .routes(routes!(revoke_one))
        .routes(routes!(change_password))
}

/// The password again, for a fresh login.
#[derive(Debug, eserde::Deserialize, ToSchema)]
struct ReauthRequest {
    password: Password,
}

impl RequestBody for ReauthRequest {
    const FORM: bool = true;
}

/// Fresh until when; a token family also gets a new access token that says so.
#[derive(Serialize, ToSchema)]
struct Reauthed {
    #[schema(format = DateTime)]
    fresh_until: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(examples("Bearer"))]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in: Option<u64>,
}

/// Step-up: makes the session fresh for `session.fresh_for` and rotates its id.
#[utoipa::path(post, path = "/api/reauth", tag = "sessions", operation_id = "reauth",
    request_body(content((ReauthRequest = "application/json"), (ReauthRequest = "application/x-www-form-urlencoded"))),
    security(("session_cookie" = [], "csrf_header" = []), ("bearer" = [])),
    responses((status = 200, body = Reauthed)))]
async fn reauth(
    State(state): State<AppState>,
    Client(client): Client,
    CurrentUser(live): CurrentUser,
    Body(body): Body<ReauthRequest>,
) -> Result<Response, ApiError> {
    let done = state.auth.reauth(&live, &body.password, &client).await?;
    let (access_token, expires_in) = done.access.map_or((None, None), |(token, secs)| (Some(token), Some(secs)));
    let token_type = access_token.as_ref().map(|_| "Bearer");
    let fresh_until = rfc3339(done.fresh_until);
    let mut response = json_value(StatusCode::OK, &Reauthed { fresh_until, access_token, token_type, expires_in });
    if let Some(secret) = done.secret {
        response.headers_mut().append(header::SET_COOKIE, state.cookies.session(secret.encode()));
    }
    Ok(response)
}

/// One of the user's live sessions (cookie sessions and token families alike).
#[derive(Serialize, ToSchema)]
struct SessionView<'a> {
    id: Uuid,
    #[schema(examples("cookie", "token"))]
    kind: &'static str,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    last_seen_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    #[schema(required = true)]
    ip: Option<&'a str>,
    #[schema(required = true)]
    user_agent: Option<&'a str>,
    remember: bool,
    current: bool,
}

/// The user's sessions.
#[derive(Serialize, ToSchema)]
struct Sessions<'a> {
    sessions: Vec<SessionView<'a>>,
}

/// How many sessions ended.
#[derive(Serialize, ToSchema)]
struct Revoked {
    revoked: usize,
}

/// The user's live sessions, this one marked `current`.
#[utoipa::path(get, path = "/api/sessions", tag = "sessions", operation_id = "list_sessions",
    security(("session_cookie" = []), ("bearer" = [])),
    responses((status = 200, body = Sessions)))]
async fn list(State(state): State<AppState>, CurrentUser(live): CurrentUser) -> Result<Response, ApiError> {
    let listed = state.sessions.list_live(&live).await?;
    Ok(json_value(StatusCode::OK, &Sessions { sessions: listed.iter().map(session_view).collect() }))
}

fn session_view(listed: &ListedSession) -> SessionView<'_> {
    let r = &listed.record;
    SessionView {
        id: r.public_id,
        kind: r.kind.as_str(),
        created_at: rfc3339(r.created_at),
        last_seen_at: rfc3339(listed.last_seen_at),
        expires_at: rfc3339(listed.expires_at),
        ip: r.ip.as_deref(),
        user_agent: r.user_agent.as_deref(),
        remember: r.remember,
        current: listed.current,
    }
}

/// Ends one of the user's own sessions (404 for anyone else's).
#[utoipa::path(delete, path = "/api/sessions/{id}", tag = "sessions", operation_id = "revoke_session",
    params(("id" = String, Path, description = "The session's id")),
    security(("session_cookie" = [], "csrf_header" = []), ("bearer" = [])),
    responses((status = 200, body = Revoked)))]
async fn revoke_one(
    State(state): State<AppState>,
    Client(client): Client,
    CurrentUser(live): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::from(Error::new(ErrorKind::NotFound, "no such session"));
    let id = Uuid::try_parse(&id).map_err(|_| not_found())?;
    let kind = state.auth.end_own_session(&live, id, &client).await?.ok_or_else(not_found)?;
    let mut response = json_value(StatusCode::OK, &Revoked { revoked: 1 });
    if id == live.record().public_id && kind == SessionKind::Cookie {
        response.headers_mut().append(header::SET_COOKIE, state.cookies.clear_session());
    }
    Ok(response)
}

/// Ends every other session of the user, and forgets every other remembered browser.
#[utoipa::path(post, path = "/api/sessions/revoke-others", tag = "sessions", operation_id = "revoke_other_sessions",
    security(("session_cookie" = [], "csrf_header" = []), ("bearer" = [])),
    responses((status = 200, body = Revoked)))]
async fn revoke_others(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    CurrentUser(live): CurrentUser,
) -> Result<Response, ApiError> {
    // A remember-me cookie elsewhere would bring one of them back: only this browser's stays.
    let series = cookies::read(&headers, state.cookies.remember_name());
    let ended = state.auth.end_other_sessions(&live, &client, series).await?;
    Ok(json_value(StatusCode::OK, &Revoked { revoked: ended.sessions }))
}

/// The current password and the new one.
#[derive(Debug, eserde::Deserialize, ToSchema)]
struct PasswordChange {
    current_password: Password,
    /// Checked against the password policy.
    new_password: Password,
}

impl RequestBody for PasswordChange {
    const FORM: bool = true;
}

/// The password changed, and how many other sessions ended.
#[derive(Serialize, ToSchema)]
struct PasswordChanged {
    password_changed: bool,
    revoked: usize,
}

/// Changes the password (fresh login required); every other session, token family and
/// remembered browser of the user ends.
#[utoipa::path(post, path = "/api/password", tag = "sessions", operation_id = "change_password",
    request_body(content((PasswordChange = "application/json"), (PasswordChange = "application/x-www-form-urlencoded"))),
    security(("session_cookie" = [], "csrf_header" = []), ("bearer" = [])),
    responses((status = 200, body = PasswordChanged)))]
async fn change_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    Fresh(live): Fresh,
    Body(body): Body<PasswordChange>,
) -> Result<Response, ApiError> {
    let series = cookies::read(&headers, state.cookies.remember_name());
    let ended = state.auth.change_password(&live, &body.current_password, &body.new_password, &client, series).await?;
    Ok(json_value(StatusCode::OK, &PasswordChanged { password_changed: true, revoked: ended.sessions }))
}
