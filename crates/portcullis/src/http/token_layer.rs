//! Token plumbing around the handlers: access tokens carried in JSON bodies, implicit refresh of
//! access cookies near expiry, and the per-route location override of the library API.

use axum::body::Body;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderMap, Response, StatusCode};
use axum::middleware::Next;
use axum::Router;

use super::cookies::{self, TokenCookie};
use super::error::problem;
use super::extract::{locations, JsonAccessToken, RouteTokenLocations};
use super::AppState;
use crate::config::TokenLocation;
use crate::token::AccessClaims;

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")))
}

/// Reads an `access_token` field out of a JSON body, keeping the body for the handler.
async fn lift_json_token(req: Request, limit: usize) -> Result<Request, Response<Body>> {
    if req.method().is_safe() || !is_json(req.headers()) {
        return Ok(req);
    }
    let (mut parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return Err(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than the server accepts",
            &[],
        ));
    };
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        if let Some(token) = map.get("access_token").and_then(|v| v.as_str()) {
            parts.extensions.insert(JsonAccessToken(token.to_owned()));
        }
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Token work before the handler: lifts a JSON-body token where the path's locations include
/// `json`, and notes an access cookie that may need an implicit refresh afterwards.
pub(crate) async fn before(
    state: &AppState,
    req: Request,
) -> Result<(Request, Option<Arc<AccessClaims>>), Response<Body>> {
    let (parts, body) = req.into_parts();
    let locs = locations(&parts, state);
    let wants_json = locs.contains(&TokenLocation::Json);
    let renew = if locs.contains(&TokenLocation::Cookies) {
        cookies::read(&parts.headers, cookies::ACCESS_COOKIE).and_then(|t| state.tokens.verify_access(t).ok())
    } else {
        None
    };
    let mut req = Request::from_parts(parts, body);
    if wants_json {
        req = lift_json_token(req, state.config.body_limit).await?;
    }
    Ok((req, renew))
}

/// Implicit refresh after the handler: a fresh access cookie when the one sent expires soon.
pub(crate) async fn after(state: &AppState, claims: Arc<AccessClaims>, mut response: Response<Body>) -> Response<Body> {
    let now = state.clock.now().unix_timestamp();
    let within = i64::try_from(state.config.token.implicit_refresh_within.as_secs()).unwrap_or(0);
    // A handler that set the access cookie itself (login, refresh, logout) has the last word:
    // renewing the old one here would undo a logout or a login as someone else.
    let handler_set_it = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(cookies::ACCESS_COOKIE.as_bytes()));
    if handler_set_it || !response.status().is_success() || claims.exp - now > within {
        return response;
    }
    // Implicit refresh: only for a family that is still live.
    let Ok(sid) = uuid::Uuid::try_parse(&claims.sid) else { return response };
    let Ok(Some(live)) = state.sessions.validate(&crate::token::family_hash(sid)).await else { return response };
    let user = live.user();
    if let Ok((token, _)) = state.tokens.issue_access(user.id, &user.roles, sid, claims.fresh, claims.csrf.clone()) {
        let ttl = state.config.token.access_ttl;
        response
            .headers_mut()
            .append(header::SET_COOKIE, state.cookies.token_cookie(TokenCookie::Access, Some((token, ttl))));
    }
    response
}

/// Reads access tokens only from `locations` (in that order) on every route of `router`,
/// whatever the configuration says. The library's per-route override.
pub fn with_token_locations<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    locations: Vec<TokenLocation>,
) -> Router<S> {
    router.layer(axum::middleware::from_fn(move |mut req: Request, next: Next| {
        let locations = locations.clone();
        async move {
            let wants_json = locations.contains(&TokenLocation::Json);
            req.extensions_mut().insert(RouteTokenLocations(locations));
            if wants_json {
                // The server's body limit is not known here; JSON bodies with tokens are small.
                req = match lift_json_token(req, 64 * 1024).await {
                    Ok(req) => req,
                    Err(response) => return response,
                };
            }
            next.run(req).await
        }
    }))
}
