//! Token routes (`/auth`): login, refresh, logout, forward-auth, and the JWKS.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use super::compat::{write_established, CarrierKind, LoginForm};
use super::json_value;
use crate::auth::{Carrier, Purpose, TokenGrant};
use crate::config::TokenLocation;
use crate::error::{Error, ErrorKind};
use crate::http::body::Input;
use crate::http::cookies::{self, TokenCookie};
use crate::http::error::ApiError;
use crate::http::extract::{check_double_submit, check_origin, locations, resolve, Client};
use crate::http::AppState;
use crate::session::LiveSession;
use crate::token::family;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/auth/verify", get(verify))
        .route("/.well-known/jwks.json", get(jwks))
}

/// Writes out a family's tokens: the access token in the body (and, with the cookies location,
/// in a cookie), the refresh token in its `/auth`-only cookie, double-submit values beside them.
fn issue(state: &AppState, grant: TokenGrant, msg: Option<&str>, next: Option<String>) -> Response {
    let config = state.tokens.config();
    let mut body = json!({ "access_token": grant.access, "token_type": "Bearer", "expires_in": grant.expires_in });
    if let Some(msg) = msg {
        body["msg"] = json!(msg);
    }
    if let Some(next) = next {
        body["next"] = json!(next);
    }
    let mut response = json_value(StatusCode::OK, &body);
    let h = response.headers_mut();
    let refresh_ttl = config.refresh_ttl;
    let jar = &state.cookies;
    h.append(header::SET_COOKIE, jar.token_cookie(TokenCookie::Refresh, Some((grant.refresh, refresh_ttl))));
    h.append(header::SET_COOKIE, jar.token_cookie(TokenCookie::CsrfRefresh, Some((grant.csrf.clone(), refresh_ttl))));
    if config.locations.contains(&TokenLocation::Cookies) {
        h.append(header::SET_COOKIE, jar.token_cookie(TokenCookie::Access, Some((grant.access, config.access_ttl))));
        // The double-submit value is fixed for the family's life; access cookies renewed by
        // implicit refresh keep matching it.
        h.append(header::SET_COOKIE, jar.token_cookie(TokenCookie::CsrfAccess, Some((grant.csrf, refresh_ttl))));
    }
    response
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    input: Result<Input, Error>,
) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    let login = LoginForm::read(&state, input?, CarrierKind::TokenFamily)?;
    let device = cookies::read(&headers, cookies::DEVICE_COOKIE);
    let found = state.auth.login(&login.username, &login.password, &client, Purpose::TokenLogin, device).await?;
    let principal = found.ok_or_else(|| Error::new(ErrorKind::InvalidCredentials, "wrong username or password"))?;
    let mut established = state.auth.establish(principal, &client, Carrier::TokenFamily).await?;
    let grant = established.tokens.take().ok_or_else(|| Error::internal("a token family without tokens"))?;
    let response = issue(&state, grant, Some("logged in"), login.next);
    Ok(write_established(&state, response, established))
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: Option<String>,
}

async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    state.auth.gate().charge_ip(&client).await?;
    let token = match cookies::read(&headers, cookies::REFRESH_COOKIE) {
        Some(token) => {
            // The refresh cookie is a credential the browser sends by itself: double submit.
            let (pid, _) = state
                .tokens
                .parse_refresh(token)
                .ok_or_else(|| Error::new(ErrorKind::TokenInvalid, "the refresh token is not valid"))?;
            check_double_submit(&headers, cookies::CSRF_REFRESH_COOKIE, &state.tokens.family_csrf(pid))?;
            token.to_owned()
        }
        None if state.tokens.config().refresh_in_body => serde_json::from_slice::<RefreshBody>(&body)
            .ok()
            .and_then(|b| b.refresh_token)
            .ok_or_else(|| Error::new(ErrorKind::Unauthenticated, "no refresh token"))?,
        None => return Err(Error::new(ErrorKind::Unauthenticated, "no refresh token").into()),
    };
    let refreshed = family::refresh(&state.tokens, &state.sessions, &state.audit, &client, &token).await?;
    Ok(issue(&state, state.auth.grant(&refreshed.session, refreshed.generation)?, None, None))
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    let pid = match cookies::read(&headers, cookies::REFRESH_COOKIE).and_then(|t| state.tokens.parse_refresh(t)) {
        Some((pid, _)) => {
            check_double_submit(&headers, cookies::CSRF_REFRESH_COOKIE, &state.tokens.family_csrf(pid))?;
            pid
        }
        None => {
            let bearer = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| Error::new(ErrorKind::Unauthenticated, "log in first"))?;
            let claims = state.tokens.verify_access(bearer.trim())?;
            uuid::Uuid::try_parse(&claims.sid).map_err(|_| Error::new(ErrorKind::TokenInvalid, "bad sid"))?
        }
    };
    state.auth.logout_family(pid, &client).await?;
    let mut response = json_value(StatusCode::OK, &json!({ "msg": "logged out" }));
    let h = response.headers_mut();
    for cookie in [TokenCookie::Access, TokenCookie::Refresh, TokenCookie::CsrfAccess, TokenCookie::CsrfRefresh] {
        h.append(header::SET_COOKIE, state.cookies.token_cookie(cookie, None));
    }
    Ok(response)
}

/// Longest parameter name quoted back in an error.
const MAX_QUOTED_PARAM: usize = 64;

/// The `role` asked of `/auth/verify`. Any other parameter is refused rather than ignored: a
/// typo in a proxy's configuration (`?ROLE=admin`, `?role[]=admin`) would otherwise drop the
/// role check and let every signed-in user through (fail open). So is a second `role`, which
/// two readers could take differently. `jwt` is the token itself where `query_string` is one
/// of the route's token locations.
fn verify_role(parts: &Parts, state: &AppState) -> Result<Option<String>, Error> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map_err(|_| Error::new(ErrorKind::MalformedRequest, "the query string could not be read"))?;
    let jwt_allowed = locations(parts, state).contains(&TokenLocation::QueryString);
    let mut role = None;
    for (name, value) in pairs {
        match name.as_str() {
            "role" if role.is_none() => role = Some(value),
            "role" => return Err(Error::new(ErrorKind::MalformedRequest, "the `role` parameter is given twice")),
            "jwt" if jwt_allowed => {}
            _ => {
                let quoted: String = name.chars().take(MAX_QUOTED_PARAM).collect();
                let detail = format!("unknown query parameter `{quoted}`: only `role` is accepted");
                return Err(Error::new(ErrorKind::MalformedRequest, detail));
            }
        }
    }
    Ok(role)
}

/// Forward auth (nginx `auth_request`, Traefik): 200 with identity headers, or 401/403 as
/// JSON, never a redirect; 400 for a query it does not understand.
async fn verify(State(state): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    let role = verify_role(&parts, &state)?;
    let live: Arc<LiveSession> =
        resolve(&parts, &state).await?.ok_or_else(|| Error::new(ErrorKind::Unauthenticated, "log in first"))?;
    let user = live.user();
    if let Some(role) = &role {
        if !user.roles.iter().any(|r| r == role) {
            return Err(Error::new(ErrorKind::Forbidden, format!("the `{role}` role is required")).into());
        }
    }
    let mut response = Response::new(axum::body::Body::empty());
    let h = response.headers_mut();
    let value = |s: &str| HeaderValue::from_bytes(s.as_bytes()).unwrap_or(HeaderValue::from_static(""));
    // Security: raw UTF-8 in a header is read as Latin-1 by many proxies and apps, so `Zoë`
    // would arrive as `ZoÃ«`; the name is sent percent-encoded, ASCII only (docs/usernames.md).
    h.insert("x-auth-user", value(&crate::username::header_value(&user.username)));
    h.insert("x-auth-user-id", value(&user.id.to_string()));
    h.insert("x-auth-roles", value(&user.roles.join(",")));
    Ok(response)
}

async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = json_value(StatusCode::OK, &state.tokens.jwks());
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}
