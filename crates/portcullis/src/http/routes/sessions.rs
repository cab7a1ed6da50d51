//! Self-service routes of a logged-in user: step-up, their sessions, their password.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::{json_value, rfc3339};
use crate::account::User;
use crate::audit::{event, Subject};
use crate::error::{Error, ErrorKind};
use crate::http::body::Input;
use crate::http::error::ApiError;
use crate::http::extract::{Client, CurrentUser};
use crate::http::guard::Fresh;
use crate::http::{cookies, AppState};
use crate::login::{Attempt, Purpose};
use crate::password::Password;
use crate::session::LiveSession;
use crate::session::SessionKind;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/reauth", post(reauth))
        .route("/api/sessions", get(list))
        .route("/api/sessions/revoke-others", post(revoke_others))
        .route("/api/sessions/{id}", delete(revoke_one))
        .route("/api/password", post(change_password))
}

/// Proves the password again and returns the account, or 401 `invalid_credentials`.
async fn confirm(
    state: &AppState,
    live: &LiveSession,
    password: &Password,
    client: &crate::session::ClientInfo,
    purpose: Purpose,
) -> Result<User, ApiError> {
    // The session is the client here: only its own failures can lock it out of step-up.
    let attempt = Attempt::Confirm { purpose, session: &live.record().id_hash };
    let found = state.gate.check(&live.user().username, password, client, attempt).await?;
    match found {
        // The name may have been freed and taken again since login: the ids must agree.
        Some(admitted) if admitted.user.id == live.user().id => Ok(admitted.user),
        _ => Err(Error::new(ErrorKind::InvalidCredentials, "wrong password").into()),
    }
}

async fn reauth(
    State(state): State<AppState>,
    Client(client): Client,
    CurrentUser(live): CurrentUser,
    input: Result<Input, Error>,
) -> Result<Response, ApiError> {
    let input = input?;
    let mut fields = input.fields();
    let password = Password::new(fields.required("password", state.config.password.max_length));
    fields.finish()?;
    let user = confirm(&state, &live, &password, &client, Purpose::Reauth).await?;
    let gone = || ApiError::from(Error::new(ErrorKind::Unauthenticated, "this session has ended; log in again"));
    let response = match live.record().kind {
        SessionKind::Cookie => {
            // Session-fixation mitigation at a privilege change: the session gets a new id.
            let (secret, until) = state.sessions.reauth_cookie(&live).await?.ok_or_else(gone)?;
            let mut response = json_value(StatusCode::OK, &json!({ "fresh_until": rfc3339(until) }));
            response.headers_mut().append(header::SET_COOKIE, state.cookies.session(secret.encode()));
            response
        }
        SessionKind::Token => {
            let until = state.sessions.reauth_family(&live).await?.ok_or_else(gone)?;
            let (access, _) = state.tokens.issue_access(
                user.id,
                &user.roles,
                live.record().public_id,
                until.unix_timestamp(),
                None,
            )?;
            json_value(
                StatusCode::OK,
                &json!({
                    "fresh_until": rfc3339(until),
                    "access_token": access,
                    "token_type": "Bearer",
                    "expires_in": state.tokens.access_ttl_secs(),
                }),
            )
        }
    };
    state.audit.record(event::REAUTH, Subject::session(&live), Some(&client), serde_json::Value::Null).await;
    Ok(response)
}

#[derive(Serialize)]
struct SessionView<'a> {
    id: Uuid,
    kind: &'static str,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    remember: bool,
    current: bool,
}

async fn list(State(state): State<AppState>, CurrentUser(live): CurrentUser) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let records = state.sessions.list(live.user().id).await?;
    let views: Vec<_> = records
        .iter()
        .filter_map(|r| {
            let current = r.public_id == live.record().public_id;
            let last_seen = if current { live.last_seen_at() } else { r.last_seen_at };
            let idle_deadline = last_seen + state.sessions.idle_of_kind(r.kind);
            // Idle-expired sessions wait for the sweep in the store but are no longer live.
            (idle_deadline > now).then(|| SessionView {
                id: r.public_id,
                kind: r.kind.as_str(),
                created_at: rfc3339(r.created_at),
                last_seen_at: rfc3339(last_seen),
                expires_at: rfc3339(idle_deadline.min(r.expires_at)),
                ip: r.ip.as_deref(),
                user_agent: r.user_agent.as_deref(),
                remember: r.remember,
                current,
            })
        })
        .collect();
    Ok(json_value(StatusCode::OK, &json!({ "sessions": views })))
}

async fn revoke_one(
    State(state): State<AppState>,
    Client(client): Client,
    CurrentUser(live): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::from(Error::new(ErrorKind::NotFound, "no such session"));
    let id = Uuid::try_parse(&id).map_err(|_| not_found())?;
    // Only the caller's own sessions are found: another user's id is a 404, not a 403.
    let records = state.sessions.list(live.user().id).await?;
    let target = records.iter().find(|r| r.public_id == id).ok_or_else(not_found)?;
    state.sessions.revoke(&target.id_hash, "user_revoked").await?;
    let who = Subject { session_id: Some(id), ..Subject::session(&live) };
    state.audit.record(event::SESSION_REVOKED, who, Some(&client), json!({ "by": "user" })).await;
    let mut response = json_value(StatusCode::OK, &json!({ "revoked": 1 }));
    if id == live.record().public_id && target.kind == SessionKind::Cookie {
        response.headers_mut().append(header::SET_COOKIE, state.cookies.clear_session());
    }
    Ok(response)
}

async fn revoke_others(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    CurrentUser(live): CurrentUser,
) -> Result<Response, ApiError> {
    let user_id = live.user().id;
    let ended = state.sessions.revoke_user(user_id, Some(&live.record().id_hash), "user_revoked_others").await?;
    // A remember-me cookie elsewhere would bring one of them back: only this browser's stays.
    state.sessions.forget_remembered(user_id, cookies::read(&headers, state.cookies.remember_name())).await?;
    let detail = json!({ "by": "user", "others": ended });
    state.audit.record(event::SESSION_REVOKED, Subject::session(&live), Some(&client), detail).await;
    Ok(json_value(StatusCode::OK, &json!({ "revoked": ended })))
}

async fn change_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    Fresh(live): Fresh,
    input: Result<Input, Error>,
) -> Result<Response, ApiError> {
    let input = input?;
    let max = state.config.password.max_length;
    let mut fields = input.fields();
    let current = Password::new(fields.required("current_password", max));
    let new = Password::new(fields.required("new_password", max));
    fields.finish()?;
    let user = confirm(&state, &live, &current, &client, Purpose::PasswordChange).await?;
    state.accounts.change_password(&user, &new).await?;
    // Whoever else holds a session, a token family or a remember-me cookie loses it.
    let ended = state.sessions.revoke_user(user.id, Some(&live.record().id_hash), "password_changed").await?;
    state.sessions.forget_remembered(user.id, cookies::read(&headers, state.cookies.remember_name())).await?;
    let detail = json!({ "by": "user", "sessions_ended": ended });
    state.audit.record(event::PASSWORD_CHANGED, Subject::session(&live), Some(&client), detail).await;
    Ok(json_value(StatusCode::OK, &json!({ "password_changed": true, "revoked": ended })))
}
