//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::json;
use crate::error::Error;
use crate::http::error::ApiError;
use crate::http::AppState;

/// The process is up.
pub async fn healthz() -> Response {
    json(StatusCode::OK, &b"{\"status\":\"ok\"}\n"[..])
}

/// The store answers; 503 `unavailable` otherwise.
pub async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    state.stores.health.ping().await.map_err(|e| Error::unavailable("the store is not reachable", e))?;
    if let Some(redis) = &state.redis {
        redis.ping().await?;
        // Reachable but not yet (or no longer) subscribed: revocations could be missed.
        redis.health().check()?;
    }
    Ok(json(StatusCode::OK, &b"{\"status\":\"ready\"}\n"[..]))
}
