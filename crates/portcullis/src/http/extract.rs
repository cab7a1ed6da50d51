//! Extractors: the caller's session, client facts, and the CSRF check.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use super::error::ApiError;
use super::{cookies, AppState};

use crate::config::{Protection, TokenLocation};
use crate::csrf::{provenance, refusal_detail, Provenance};
use crate::error::{Error, ErrorKind};
use crate::session::protection;
use crate::session::{ClientInfo, LiveSession, SessionSecret};

/// The caller's live session, if any.
#[derive(Debug, Clone)]
pub struct MaybeSession(pub Option<Arc<LiveSession>>);

impl<S> FromRequestParts<S> for MaybeSession
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        Ok(Self(from_cookie(parts, &state).await?))
    }
}

/// The client's address: the peer, or what a trusted proxy says in `X-Forwarded-For`.
pub(crate) fn client_ip(parts: &Parts, state: &AppState) -> Option<IpAddr> {
    // X-Forwarded-For is believed only from a configured trusted proxy (spoofing defence).
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| {
        crate::limits::client_ip(addr.ip(), &parts.headers, &state.config.limits.trusted_proxies)
    })
}

fn user_agent(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok())
}

/// The live session of the session cookie, after session protection: under `strong` a session
/// used from another client ends; under `basic` it stops being fresh.
async fn from_cookie(parts: &Parts, state: &AppState) -> Result<Option<Arc<LiveSession>>, Error> {
    let Some(secret) = cookies::read(&parts.headers, state.cookies.session_name()).and_then(SessionSecret::parse)
    else {
        return Ok(None);
    };
    let Some(live) = state.sessions.validate(&secret.hash()).await? else {
        return Ok(None);
    };
    let config = state.sessions.config();
    if config.protection == Protection::Off
        || protection::matches(
            config,
            live.record().fingerprint.as_deref(),
            user_agent(&parts.headers),
            client_ip(parts, state),
        )
    {
        return Ok(Some(live));
    }
    let strong = config.protection == Protection::Strong;
    state.auth.protection_mismatch(live, strong, || client_info(parts, state)).await
}

/// The caller resolved earlier in this request (by a guard layer), so it is not resolved twice.
#[derive(Debug, Clone)]
pub(crate) struct Resolved(pub Arc<LiveSession>);

/// The caller: a session cookie first, else an access token from the route's locations. A
/// caller authenticated by the session cookie must pass the CSRF check on unsafe methods.
pub(crate) async fn resolve(parts: &Parts, state: &AppState) -> Result<Option<Arc<LiveSession>>, Error> {
    if let Some(Resolved(live)) = parts.extensions.get::<Resolved>() {
        return Ok(Some(Arc::clone(live)));
    }
    if let Some(live) = from_cookie(parts, state).await? {
        if !parts.method.is_safe() {
            // The browser attaches the cookie to any request, including forged ones.
            check_csrf(state, &parts.headers, None)?;
        }
        return Ok(Some(live));
    }
    from_token(parts, state).await
}

/// The caller's live session (cookie or access token); 401 without one.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Arc<LiveSession>);

impl<S> FromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        match resolve(parts, &state).await? {
            Some(live) => Ok(Self(live)),
            None => Err(Error::new(ErrorKind::Unauthenticated, "log in first").into()),
        }
    }
}

/// Where the request came from, kept with a new session.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl<S> FromRequestParts<S> for Client
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_info(parts, &AppState::from_ref(state))))
    }
}

/// Address and user agent of the request, as kept with sessions and audit rows.
pub(crate) fn client_info(parts: &Parts, state: &AppState) -> ClientInfo {
    ClientInfo {
        ip: client_ip(parts, state).map(|ip| ip.to_string()),
        user_agent: user_agent(&parts.headers).map(|ua| protection::ua_prefix(ua).to_owned()),
    }
}

/// The CSRF check for unsafe methods: origin first (refused even with a valid token), then the
/// token from `X-CSRFToken` / `X-CSRF-Token` or the `csrf_token` form field.
pub fn check_csrf(state: &AppState, headers: &HeaderMap, form_token: Option<&str>) -> Result<(), Error> {
    check_origin(state, headers)?;
    if !state.config.csrf.require_token {
        return Ok(());
    }
    let token =
        headers.get("x-csrftoken").or_else(|| headers.get("x-csrf-token")).and_then(|v| v.to_str().ok()).or(form_token);
    let nonce = cookies::read(headers, state.cookies.csrf_name());
    match (token, nonce) {
        (None, _) => Err(Error::new(ErrorKind::CsrfFailed, "the CSRF token is missing")),
        (Some(_), None) => Err(Error::new(ErrorKind::CsrfFailed, "the CSRF cookie is missing; fetch a token first")),
        (Some(token), Some(nonce)) if state.csrf.verify(nonce, token) => Ok(()),
        (Some(_), Some(_)) => Err(Error::new(ErrorKind::CsrfFailed, "the CSRF token is invalid")),
    }
}

/// A new CSRF token for this browser, and a `Set-Cookie` value when the browser had no nonce
/// yet and one had to be made.
pub fn issue_csrf(state: &AppState, headers: &HeaderMap) -> (String, Option<axum::http::HeaderValue>) {
    match cookies::read(headers, state.cookies.csrf_name()).filter(|n| crate::csrf::is_valid_nonce(n)) {
        Some(nonce) => (state.csrf.issue(nonce), None),
        None => {
            let nonce = crate::csrf::new_nonce();
            (state.csrf.issue(&nonce), Some(state.cookies.csrf_nonce(nonce)))
        }
    }
}

/// Per-route token locations, set by [`with_token_locations`](super::token_layer::with_token_locations); they
/// win over the configuration.
#[derive(Debug, Clone)]
pub struct RouteTokenLocations(pub Vec<TokenLocation>);

/// An access token found in a JSON body by the token middleware.
#[derive(Debug, Clone)]
pub(crate) struct JsonAccessToken(pub String);

/// The locations read for this request: a route override, else the configuration.
pub(crate) fn locations<'a>(parts: &'a Parts, state: &'a AppState) -> &'a [TokenLocation] {
    match parts.extensions.get::<RouteTokenLocations>() {
        Some(RouteTokenLocations(locs)) => locs,
        None => state.config.token.locations_for(parts.uri.path()),
    }
}

/// The first access token found in `locs`, in their order.
pub(crate) fn find_token<'a>(parts: &'a Parts, locs: &[TokenLocation]) -> Option<(&'a str, TokenLocation)> {
    locs.iter().find_map(|&loc| {
        let token = match loc {
            TokenLocation::Headers => parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .map(str::trim),
            TokenLocation::Cookies => cookies::read(&parts.headers, cookies::ACCESS_COOKIE),
            TokenLocation::QueryString => {
                parts.uri.query().and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("jwt=")))
            }
            TokenLocation::Json => parts.extensions.get::<JsonAccessToken>().map(|t| t.0.as_str()),
        };
        token.filter(|t| !t.is_empty()).map(|t| (t, loc))
    })
}

/// Double-submit CSRF for a credential carried in a cookie: the `X-CSRF-TOKEN` header must
/// equal the page-readable cookie and the value bound to the credential (constant time).
pub(crate) fn check_double_submit(headers: &HeaderMap, cookie: &str, expected: &str) -> Result<(), Error> {
    use subtle::ConstantTimeEq;
    let header = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    let cookie = cookies::read(headers, cookie);
    match (header, cookie) {
        (Some(h), Some(c))
            if bool::from(h.as_bytes().ct_eq(c.as_bytes())) && bool::from(h.as_bytes().ct_eq(expected.as_bytes())) =>
        {
            Ok(())
        }
        (None, _) => Err(Error::new(ErrorKind::CsrfFailed, "the X-CSRF-TOKEN header is missing")),
        _ => Err(Error::new(ErrorKind::CsrfFailed, "the X-CSRF-TOKEN header does not match")),
    }
}

/// Refuses requests a browser marks as cross-site from an origin not allowed.
pub(crate) fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), Error> {
    let policy = state.config.origin_policy();
    if provenance(headers, &policy) == Provenance::CrossSite {
        return Err(Error::new(ErrorKind::CsrfFailed, refusal_detail(headers, &policy)));
    }
    Ok(())
}

/// Resolves the caller from an access token, if the route's locations carry one.
/// `Ok(None)`: no token. Errors: a token that is invalid, expired or revoked, or a cookie
/// token on an unsafe method without its double-submit value.
pub(crate) async fn from_token(parts: &Parts, state: &AppState) -> Result<Option<Arc<LiveSession>>, Error> {
    let Some((token, location)) = find_token(parts, locations(parts, state)) else {
        return Ok(None);
    };
    let claims = state.tokens.verify_access(token)?;
    if location == TokenLocation::Cookies && !parts.method.is_safe() {
        check_origin(state, &parts.headers)?;
        let expected = claims.csrf.as_deref().unwrap_or("");
        if expected.is_empty() {
            return Err(Error::new(ErrorKind::CsrfFailed, "this token cannot be used from a cookie"));
        }
        check_double_submit(&parts.headers, cookies::CSRF_ACCESS_COOKIE, expected)?;
    }
    let bad = || Error::new(ErrorKind::TokenInvalid, "the token's subject or session is malformed");
    let sid = uuid::Uuid::try_parse(&claims.sid).map_err(|_| bad())?;
    let sub = uuid::Uuid::try_parse(&claims.sub).map_err(|_| bad())?;
    // Own routes check that the session is live: logout and revocation take effect at once.
    match state.sessions.validate(&crate::token::family_hash(sid)).await? {
        Some(live) if live.user().id == sub => Ok(Some(live)),
        _ => Err(Error::new(ErrorKind::TokenRevoked, "this session has ended; log in again")),
    }
}
