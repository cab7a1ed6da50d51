//! Token routes (`/auth`): login, refresh, logout, forward-auth, and the JWKS.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{json_value, write_established};
use crate::account::MAX_USERNAME_CHARS;
use crate::auth::{Carrier, Purpose, TokenGrant};
use crate::config::TokenLocation;
use crate::error::{Error, ErrorKind};
use crate::http::cookies::{self, TokenCookie};
use crate::http::error::ApiError;
use crate::http::extract::{check_double_submit, check_origin, locations, resolve, Client};
use crate::http::input::{Body, RequestBody, Text};
use crate::http::AppState;
use crate::password::Password;
use crate::redirect::ReturnTo;
use crate::session::LiveSession;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(verify))
        .routes(routes!(jwks))
}

/// An access token, and where a login asked to go next.
#[derive(Serialize, ToSchema)]
struct Tokens {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(examples("logged in"))]
    msg: Option<&'static str>,
    access_token: String,
    #[schema(examples("Bearer"))]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// Writes out a family's tokens: the access token in the body (and, with the cookies location,
/// in a cookie), the refresh token in its `/auth`-only cookie, double-submit values beside them.
fn issue(state: &AppState, grant: TokenGrant, msg: Option<&'static str>, next: Option<String>) -> Response {
    let config = state.tokens.config();
    let body =
        Tokens { msg, access_token: grant.access.clone(), token_type: "Bearer", expires_in: grant.expires_in, next };
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

/// A login with a password, for a token family.
#[derive(Debug, eserde::Deserialize, ToSchema)]
struct TokenLogin {
    username: Text<{ MAX_USERNAME_CHARS }>,
    password: Password,
    #[serde(default)]
    next: Option<ReturnTo>,
}

impl RequestBody for TokenLogin {
    const FORM: bool = true;
}

/// Logs in for a token family: an access token in the body, the refresh token in its
/// `/auth`-only cookie (and, with the `cookies` location, the access token in a cookie too).
#[utoipa::path(post, path = "/auth/login", tag = "token", operation_id = "token_login",
    request_body(content((TokenLogin = "application/json"), (TokenLogin = "application/x-www-form-urlencoded"))),
    responses((status = 200, body = Tokens)))]
async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    Body(login): Body<TokenLogin>,
) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    let device = cookies::read(&headers, cookies::DEVICE_COOKIE);
    let found = state.auth.login(&login.username.0, &login.password, &client, Purpose::TokenLogin, device).await?;
    let principal = found.ok_or_else(|| Error::new(ErrorKind::InvalidCredentials, "wrong username or password"))?;
    let mut established = state.auth.establish(principal, &client, Carrier::TokenFamily).await?;
    let grant = established.tokens.take().ok_or_else(|| Error::internal("a token family without tokens"))?;
    let response = issue(&state, grant, Some("logged in"), login.next.map(|n| n.0));
    Ok(write_established(&state, response, established))
}

/// The refresh token in the body, read only when `token.refresh_in_body` is on and no refresh
/// cookie came.
#[derive(Deserialize, ToSchema)]
struct RefreshBody {
    refresh_token: Option<String>,
}

/// Rotates the refresh token: a new access token and refresh token; the old refresh token is
/// dead, and presenting it again after the grace window revokes the whole family.
#[utoipa::path(post, path = "/auth/refresh", tag = "token", operation_id = "token_refresh",
    request_body(content = Option<RefreshBody>, content_type = "application/json"),
    security(("refresh_cookie" = [], "jwt_csrf_header" = []), ()),
    responses((status = 200, body = Tokens)))]
async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    state.auth.gate().charge_ip(&client).await?;
    let token = refresh_token(&state, &headers, &body)?;
    Ok(issue(&state, state.auth.refresh(&token, &client).await?, None, None))
}

/// The refresh token: from its cookie (double-submit checked), else from the body where
/// `token.refresh_in_body` allows it.
fn refresh_token(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<String, Error> {
    let no_token = || Error::new(ErrorKind::Unauthenticated, "no refresh token");
    match cookies::read(headers, cookies::REFRESH_COOKIE) {
        Some(token) => {
            // The refresh cookie is a credential the browser sends by itself: double submit.
            let (pid, _) = state
                .tokens
                .parse_refresh(token)
                .ok_or_else(|| Error::new(ErrorKind::TokenInvalid, "the refresh token is not valid"))?;
            check_double_submit(headers, cookies::CSRF_REFRESH_COOKIE, &state.tokens.family_csrf(pid))?;
            Ok(token.to_owned())
        }
        None if state.tokens.config().refresh_in_body => {
            serde_json::from_slice::<RefreshBody>(body).ok().and_then(|b| b.refresh_token).ok_or_else(no_token)
        }
        None => Err(no_token()),
    }
}

/// `{"msg": "logged out"}`.
#[derive(Serialize, ToSchema)]
struct LoggedOut {
    msg: &'static str,
}

/// Logs out: the family (the session) is revoked and the token cookies are cleared.
#[utoipa::path(post, path = "/auth/logout", tag = "token", operation_id = "token_logout",
    security(("bearer" = []), ("refresh_cookie" = [], "jwt_csrf_header" = [])),
    responses((status = 200, body = LoggedOut)))]
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
) -> Result<Response, ApiError> {
    check_origin(&state, &headers)?;
    state.auth.logout_family(family_of(&state, &headers)?, &client).await?;
    let mut response = json_value(StatusCode::OK, &LoggedOut { msg: "logged out" });
    let h = response.headers_mut();
    for cookie in [TokenCookie::Access, TokenCookie::Refresh, TokenCookie::CsrfAccess, TokenCookie::CsrfRefresh] {
        h.append(header::SET_COOKIE, state.cookies.token_cookie(cookie, None));
    }
    Ok(response)
}

/// The family a logout ends: the refresh cookie's (double-submit checked), else the bearer
/// access token's.
fn family_of(state: &AppState, headers: &HeaderMap) -> Result<uuid::Uuid, Error> {
    if let Some((pid, _)) = cookies::read(headers, cookies::REFRESH_COOKIE).and_then(|t| state.tokens.parse_refresh(t))
    {
        check_double_submit(headers, cookies::CSRF_REFRESH_COOKIE, &state.tokens.family_csrf(pid))?;
        return Ok(pid);
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| Error::new(ErrorKind::Unauthenticated, "log in first"))?;
    let claims = state.tokens.verify_access(bearer.trim())?;
    uuid::Uuid::try_parse(&claims.sid).map_err(|_| Error::new(ErrorKind::TokenInvalid, "bad sid"))
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

/// What `/auth/verify` reads from its query string.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Describes the query for the document; `verify_role` reads it.
struct VerifyQuery {
    /// A role the user must have (403 without it).
    role: Option<String>,
    /// The access token itself, only where `query_string` is one of the route's token locations.
    jwt: Option<String>,
}

/// Forward auth (nginx `auth_request`, Traefik): 200 with identity headers, or 401/403 as
/// JSON, never a redirect; 400 for a query it does not understand.
#[utoipa::path(get, path = "/auth/verify", tag = "token", operation_id = "verify",
    params(VerifyQuery),
    security(("bearer" = []), ("session_cookie" = [])),
    responses((status = 200, description = "A live session or a valid access token", headers(
        ("X-Auth-User" = String, description = "The username, percent-encoded"),
        ("X-Auth-User-Id" = String, description = "The account id"),
        ("X-Auth-Roles" = String, description = "The roles, comma-separated"),
    ))))]
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
    Ok(identity(user))
}

/// An empty 200 with the identity headers a proxy passes on.
fn identity(user: &crate::session::SessionUser) -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    let h = response.headers_mut();
    let value = |s: &str| HeaderValue::from_bytes(s.as_bytes()).unwrap_or(HeaderValue::from_static(""));
    // Security: raw UTF-8 in a header is read as Latin-1 by many proxies and apps, so `Zoë`
    // would arrive as `ZoÃ«`; the name is sent percent-encoded, ASCII only (docs/usernames.md).
    h.insert("x-auth-user", value(&crate::username::header_value(&user.username)));
    h.insert("x-auth-user-id", value(&user.id.to_string()));
    h.insert("x-auth-roles", value(&user.roles.join(",")));
    response
}

/// The public keys access tokens are signed with, by `kid`; old keys stay until their tokens
/// expire.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "token", operation_id = "jwks",
    responses((status = 200, description = "A JWK set (RFC 7517)", body = Object)))]
async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = json_value(StatusCode::OK, &state.tokens.jwks());
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}
