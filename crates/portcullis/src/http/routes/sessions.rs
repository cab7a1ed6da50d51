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
use crate::error::{Error, ErrorKind};
use crate::http::body::Input;
use crate::http::error::ApiError;
use crate::http::extract::{Client, CurrentUser};
use crate::http::guard::Fresh;
use crate::http::{cookies, AppState};
use crate::password::Password;
use crate::session::SessionKind;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/reauth", post(reauth))
        .route("/api/sessions", get(list))
        .route("/api/sessions/revoke-others", post(revoke_others))
        .route("/api/sessions/{id}", delete(revoke_one))
        .route("/api/password", post(change_password))
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
    let done = state.auth.reauth(&live, &password, &client).await?;
    let mut body = json!({ "fresh_until": rfc3339(done.fresh_until) });
    if let Some((access, expires_in)) = done.access {
        body["access_token"] = json!(access);
        body["token_type"] = json!("Bearer");
        body["expires_in"] = json!(expires_in);
    }
    let mut response = json_value(StatusCode::OK, &body);
    if let Some(secret) = done.secret {
        response.headers_mut().append(header::SET_COOKIE, state.cookies.session(secret.encode()));
    }
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
    let kind = state.auth.end_own_session(&live, id, &client).await?.ok_or_else(not_found)?;
    let mut response = json_value(StatusCode::OK, &json!({ "revoked": 1 }));
    if id == live.record().public_id && kind == SessionKind::Cookie {
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
    // A remember-me cookie elsewhere would bring one of them back: only this browser's stays.
    let series = cookies::read(&headers, state.cookies.remember_name());
    let ended = state.auth.end_other_sessions(&live, &client, series).await?;
    Ok(json_value(StatusCode::OK, &json!({ "revoked": ended.sessions })))
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
    let series = cookies::read(&headers, state.cookies.remember_name());
    let ended = state.auth.change_password(&live, &current, &new, &client, series).await?;
    Ok(json_value(StatusCode::OK, &json!({ "password_changed": true, "revoked": ended.sessions })))
}
