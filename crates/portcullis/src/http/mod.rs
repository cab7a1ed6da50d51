//! axum glue: the router, its middleware, extractors and route handlers.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use tower_http::cors::{AllowCredentials, AllowOrigin, CorsLayer};
use utoipa_axum::router::OpenApiRouter;

use crate::account::Accounts;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::csrf::CsrfKey;
use crate::session::SessionManager;
use crate::store::Stores;

pub mod cookies;
pub mod error;
pub mod extract;
pub mod guard;
pub mod input;
pub mod middleware;
pub mod openapi;
mod remember_layer;
mod routes;
mod serve;
pub mod spa;
pub mod token_layer;

/// Shared state of every handler.
#[derive(Clone, Debug)]
pub struct AppState(Arc<StateInner>);

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct StateInner {
    /// Validated configuration.
    pub config: Config,
    /// The backend.
    pub stores: Stores,
    /// Time source.
    pub clock: SharedClock,
    /// Sessions.
    pub sessions: SessionManager,
    /// Accounts.
    pub accounts: Accounts,
    /// CSRF key.
    pub csrf: CsrfKey,
    /// Cookie writer.
    pub cookies: cookies::CookieJar,
    /// The served SPA.
    pub spa: spa::Spa,
    /// Access tokens and refresh families.
    pub tokens: Arc<crate::token::TokenService>,
    /// The audit log.
    pub audit: crate::audit::Audit,
    /// Rate limits, lockout and audit around password checks.
    pub auth: crate::auth::Auth,
    /// The Redis shared with other instances, if configured.
    pub redis: Option<crate::cluster::Redis>,
    /// Connection caps and their counters.
    pub connections: crate::limits::ConnectionGate,
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: StateInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl StateInner {
    /// Administration over this instance's parts.
    pub fn console(&self) -> crate::admin::Console<'_> {
        crate::admin::Console::new(
            &self.stores,
            &self.accounts,
            &self.sessions,
            &self.audit,
            self.clock.as_ref(),
            self.auth.gate().limits(),
        )
    }
}

impl Deref for AppState {
    type Target = StateInner;
    fn deref(&self) -> &StateInner {
        &self.0
    }
}

/// The whole server: `/api`, ops routes and (with `with_spa`) the SPA on every other path,
/// with all middleware.
pub fn router(state: AppState, with_spa: bool) -> Router {
    let config = state.config.clone();
    let (mut app, _) = api().split_for_parts();
    let (admin, _) = admin_api().split_for_parts();
    app = app.merge(admin.route_layer(axum::middleware::from_fn_with_state(state.clone(), guard::admin_only)));
    if with_spa {
        app = app.fallback(spa::serve);
    }
    let edge_state = state.clone();
    let mut app = app.with_state(state).layer(DefaultBodyLimit::max(config.body_limit));
    if let Some(cors) = cors_layer(&config) {
        app = app.layer(cors);
    }
    app.layer(tower_http::catch_panic::CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn_with_state(edge_state, middleware::edge))
}

/// Every route but the admin API, with its description.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(routes::compat::routes())
        .merge(routes::account::routes())
        .merge(routes::sessions::routes())
        .merge(routes::token::routes())
        .merge(routes::ops::routes())
        .merge(openapi::routes())
}

/// The admin API, with its description; [`router`] puts it behind the `admin` role.
pub(crate) fn admin_api() -> OpenApiRouter<AppState> {
    routes::admin::routes()
}

fn cors_layer(config: &Config) -> Option<CorsLayer> {
    if config.allowed_origins.is_empty() {
        return None;
    }
    let origins = config.allowed_origins.iter().filter_map(|o| o.parse().ok()).collect::<Vec<HeaderValue>>();
    // `Access-Control-Allow-Credentials: true` goes only beside an allowed `Origin` (tower-http
    // sends it on every response when told `true`), so a response tells no one else, a refused
    // origin or a probe without `Origin`, that this server takes credentials cross-site.
    let credentialed = Arc::new(origins.clone());
    let allow_credentials = AllowCredentials::predicate(move |origin, _| credentialed.contains(origin));
    // Credentials are allowed, so origins are listed one by one: never `*`.
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(allow_credentials)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("x-csrftoken"),
                HeaderName::from_static("x-csrf-token"),
                HeaderName::from_static("x-requested-with"),
            ])
            .expose_headers([header::CONTENT_TYPE, HeaderName::from_static("x-csrftoken")])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

pub use serve::{serve, serve_with};
