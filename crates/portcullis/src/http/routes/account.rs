//! Account routes: registration, the current account, a JSON CSRF token.

use super::{json_value, rfc3339};
use crate::account::MAX_USERNAME_CHARS;
use crate::error::{Error, ErrorKind};
use crate::http::error::ApiError;
use crate::http::extract::{check_csrf, issue_csrf, Client, CurrentUser};
use crate::http::input::{RequestBody, Submitted, Text};
use crate::http::AppState;
use crate::password::Password;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(csrf)).routes(routes!(register)).routes(routes!(me))
}

/// A CSRF token for this browser.
#[derive(Serialize, ToSchema)]
struct CsrfToken {
    csrf_token: String,
}

/// A CSRF token for this browser, as JSON.
#[utoipa::path(get, path = "/api/csrf", tag = "account", operation_id = "csrf",
    responses((status = 200, body = CsrfToken)))]
async fn csrf(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (csrf_token, set_cookie) = issue_csrf(&state, &headers);
    let mut response = json_value(StatusCode::OK, &CsrfToken { csrf_token });
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// A new account.
#[derive(Debug, eserde::Deserialize, ToSchema)]
struct RegisterRequest {
    username: Text<{ MAX_USERNAME_CHARS }>,
    /// Checked against the password policy (`password.min_length`, `max_length`, not the name).
    password: Password,
    #[serde(default)]
    #[schema(required = true)]
    email: Option<Text<254>>,
    /// The CSRF token, when a form carries it rather than a header.
    #[serde(default)]
    #[allow(dead_code)] // Described here; `Submitted` reads it before the body is typed.
    csrf_token: Option<String>,
}

impl RequestBody for RegisterRequest {
    const FORM: bool = true;
}

/// The account made.
#[derive(Serialize, ToSchema)]
struct Registered {
    id: uuid::Uuid,
    username: String,
}

/// Registers an account (when `accounts.registration` is on). A taken name is a 409, and every
/// try costs the address a token of its rate limit.
#[utoipa::path(post, path = "/api/register", tag = "account", operation_id = "register",
    request_body(content((RegisterRequest = "application/json"), (RegisterRequest = "application/x-www-form-urlencoded"))),
    security(("csrf_header" = [])),
    responses((status = 201, body = Registered)))]
async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    submitted: Submitted<RegisterRequest>,
) -> Result<Response, ApiError> {
    check_csrf(&state, &headers, submitted.csrf_token.as_deref())?;
    if !state.config.registration {
        return Err(Error::new(ErrorKind::Forbidden, "registration is disabled on this server").into());
    }
    // A 409 tells whether a name is taken: the address pays for every try.
    state.auth.gate().charge_ip(&client).await?;
    let new = submitted.body?;
    let email = new.email.map(Text::into_inner);
    let user =
        state.auth.register(&new.username.0, &new.password, email, state.config.first_user_admin, &client).await?;
    Ok(json_value(StatusCode::CREATED, &Registered { id: user.id, username: user.username }))
}

/// The current account and session.
#[derive(Serialize, ToSchema)]
struct Me<'a> {
    id: uuid::Uuid,
    username: &'a str,
    email: Option<&'a str>,
    roles: &'a [String],
    permissions: &'a [String],
    mfa_enabled: bool,
    session: MeSession,
}

/// The session this request came with.
#[derive(Serialize, ToSchema)]
struct MeSession {
    id: uuid::Uuid,
    #[schema(examples("cookie", "token"))]
    kind: &'static str,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    last_seen_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    #[schema(format = DateTime)]
    fresh_until: String,
    remember: bool,
}

/// The current account, its roles and permissions, and this session's timeouts.
#[utoipa::path(get, path = "/api/me", tag = "account", operation_id = "me",
    security(("session_cookie" = []), ("bearer" = [])),
    responses((status = 200, body = Me)))]
async fn me(State(state): State<AppState>, CurrentUser(live): CurrentUser) -> Response {
    json_value(StatusCode::OK, &Me::of(&state, &live))
}

impl<'a> Me<'a> {
    fn of(state: &AppState, live: &'a crate::session::LiveSession) -> Self {
        let (user, record) = (live.user(), live.record());
        let expires_at = state.sessions.idle_deadline(live).min(record.expires_at);
        Me {
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
        }
    }
}
