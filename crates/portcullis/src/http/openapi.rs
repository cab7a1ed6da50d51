//! The OpenAPI 3.1 document, derived from the route handlers and their request and response
//! types, and the API reference page that shows it.
//!
//! Every route is registered through one [`OpenApiRouter`], so the router and the document are
//! made from the same list: a route cannot be served without being described. What an
//! operation can fail with is added here from one table ([`problems`]), in the statuses
//! [`super::error::status_of`] gives each error kind, so the document cannot promise a status
//! the server does not answer.
//!
//! `GET /docs` is Swagger UI, its files embedded in the binary (from the `utoipa-swagger-ui`
//! crate's vendored copy): it works offline and passes the server's own CSP (no inline script,
//! no request to any other origin).

use std::sync::{Arc, LazyLock};

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa::{Modify, OpenApi as _};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::routes::json;
use super::AppState;

pub mod problems;

/// The document's fixed parts: what the API is, its tags and its security schemes.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Portcullis",
        description = "Session, CSRF and token authentication for single-page apps. \
                       Errors are RFC 9457 problem+json with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "seed", description = "The Flask tutorial's routes, with its exact bodies"),
        (name = "account", description = "Registration, the current account, CSRF tokens"),
        (name = "sessions", description = "Step-up, the user's own sessions, password change"),
        (name = "token", description = "JWT access tokens, rotating refresh tokens, forward auth, JWKS"),
        (name = "admin", description = "Accounts, roles and the audit log, for the `admin` role"),
        (name = "ops", description = "Health, readiness, this document and its reference page"),
    ),
    components(schemas(super::error::Problem, crate::error::FieldError)),
    modifiers(&SecuritySchemes),
)]
struct Document;

/// The session cookie, the CSRF header and bearer tokens.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let cookie = ApiKeyValue::with_description(
            "portcullis_session",
            "The session cookie (`__Host-portcullis_session` when `cookie.secure`)",
        );
        components.add_security_scheme(SESSION, SecurityScheme::ApiKey(ApiKey::Cookie(cookie)));
        let csrf = ApiKeyValue::with_description(
            "X-CSRFToken",
            "The CSRF token (also `X-CSRF-Token`, or the `csrf_token` form field) of cookie-authenticated \
             unsafe requests, from `GET /api/csrf`",
        );
        components.add_security_scheme(CSRF, SecurityScheme::ApiKey(ApiKey::Header(csrf)));
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some("An access token from `POST /auth/login`"))
            .build();
        components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
        let access = ApiKeyValue::with_description(
            "access_token_cookie",
            "The access token in a cookie (the `cookies` token location); unsafe requests also send `X-CSRF-TOKEN`",
        );
        components.add_security_scheme(ACCESS_COOKIE, SecurityScheme::ApiKey(ApiKey::Cookie(access)));
        let refresh =
            ApiKeyValue::with_description("refresh_token_cookie", "The refresh token, in its `/auth`-only cookie");
        components.add_security_scheme(REFRESH_COOKIE, SecurityScheme::ApiKey(ApiKey::Cookie(refresh)));
        let double_submit = ApiKeyValue::with_description(
            "X-CSRF-TOKEN",
            "The double-submit value of the token cookies: the `csrf_refresh_token` (or `csrf_access_token`) cookie's",
        );
        components.add_security_scheme(JWT_CSRF, SecurityScheme::ApiKey(ApiKey::Header(double_submit)));
    }
}

/// Security scheme names.
pub(crate) const SESSION: &str = "session_cookie";
pub(crate) const CSRF: &str = "csrf_header";
pub(crate) const BEARER: &str = "bearer";
pub(crate) const ACCESS_COOKIE: &str = "access_cookie";
pub(crate) const REFRESH_COOKIE: &str = "refresh_cookie";
pub(crate) const JWT_CSRF: &str = "jwt_csrf_header";

/// Ops routes: this document and its reference page.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(openapi_json))
        .routes(routes!(docs))
        .routes(routes!(docs_page))
        .routes(routes!(docs_file))
}

/// The document of every route [`super::router`] serves.
pub fn document() -> OpenApi {
    let mut api = super::api().merge(super::admin_api()).into_openapi();
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    problems::add(&mut api);
    api
}

static DOCUMENT: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut bytes = serde_json::to_vec(&document()).unwrap_or_else(|_| b"{}".to_vec());
    bytes.push(b'\n');
    bytes
});

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json() -> Response {
    json(StatusCode::OK, DOCUMENT.as_slice())
}

/// The page's own paths are relative (`./swagger-ui.css`): it lives under `/docs/`.
#[utoipa::path(get, path = "/docs", tag = "ops", operation_id = "docs",
    responses((status = 308, description = "To the API reference page, `/docs/`")))]
async fn docs() -> Redirect {
    Redirect::permanent("/docs/")
}

static SWAGGER: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> = LazyLock::new(|| {
    // No validator badge: it would ask validator.swagger.io about the document.
    Arc::new(utoipa_swagger_ui::Config::new(["/openapi.json"]).validator_url("none").try_it_out_enabled(false))
});

/// The API reference page (Swagger UI).
#[utoipa::path(get, path = "/docs/", tag = "ops", operation_id = "docs_page",
    responses((status = 200, description = "The page", content_type = "text/html")))]
async fn docs_page() -> Response {
    swagger_file("index.html")
}

/// A script, style or image of the API reference page.
#[utoipa::path(get, path = "/docs/{file}", tag = "ops", operation_id = "docs_file",
    params(("file" = String, Path, description = "A file of the page")),
    responses((status = 200, description = "The file")))]
async fn docs_file(Path(file): Path<String>) -> Response {
    swagger_file(&file)
}

fn swagger_file(file: &str) -> Response {
    match utoipa_swagger_ui::serve(file, SWAGGER.clone()) {
        Ok(Some(found)) => {
            let mut response = found.bytes.into_owned().into_response();
            let h = response.headers_mut();
            if let Ok(content_type) = HeaderValue::from_str(&found.content_type) {
                h.insert(header::CONTENT_TYPE, content_type);
            }
            if found.gzpipped {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
            response
        }
        Ok(None) => {
            crate::error::Error::new(crate::error::ErrorKind::NotFound, "no such file of the API reference page")
                .into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The document's fixed parts, to which the routes add their paths.
pub(crate) fn base() -> OpenApi {
    Document::openapi()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_an_id_and_a_row_of_failures() {
        let api = document();
        let ops = problems::operations(&api);
        assert!(ops.len() > 30, "{ops:?}");
        let unnamed: Vec<_> = ops.iter().filter(|(_, _, id)| id.is_none()).collect();
        assert!(unnamed.is_empty(), "operations without an id: {unnamed:?}");
        let (missing, stale) = problems::unmatched(&api);
        assert!(missing.is_empty(), "operations missing from the failure table: {missing:?}");
        assert!(stale.is_empty(), "failure table rows naming no operation: {stale:?}");
    }

    #[test]
    fn problems_list_their_codes_in_the_status_the_server_answers() {
        let api = serde_json::to_value(document()).expect("serializes");
        let login = &api["paths"]["/api/login"]["post"]["responses"];
        // The seed route answers a CSRF failure with 400, as Flask-WTF does; elsewhere it is a 403.
        let codes = |r: &serde_json::Value| r["content"]["application/problem+json"]["schema"]["allOf"][1].clone();
        assert!(codes(&login["400"]).to_string().contains("csrf_failed"), "{login}");
        assert!(codes(&login["423"]).to_string().contains("account_locked"), "{login}");
        assert_eq!(login["401"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/LoginResult");
        let register = &api["paths"]["/api/register"]["post"]["responses"];
        assert!(codes(&register["403"]).to_string().contains("csrf_failed"), "{register}");
        assert!(codes(&register["503"]).to_string().contains("unavailable"), "{register}");
    }

    #[test]
    fn the_security_schemes_are_the_cookie_the_csrf_header_and_bearer_tokens() {
        let api = serde_json::to_value(document()).expect("serializes");
        let schemes = &api["components"]["securitySchemes"];
        assert_eq!(schemes[SESSION]["in"], "cookie");
        assert_eq!(schemes[SESSION]["name"], "portcullis_session");
        assert_eq!(schemes[CSRF]["in"], "header");
        assert_eq!(schemes[BEARER]["scheme"], "bearer");
        assert_eq!(api["openapi"], "3.1.0");
    }
}
