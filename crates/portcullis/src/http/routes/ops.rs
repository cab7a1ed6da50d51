//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::json;
use crate::error::Error;
use crate::http::error::ApiError;
use crate::http::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz))
}

/// `{"status": "ok"}` or `{"status": "ready"}`.
#[derive(Serialize, ToSchema)]
struct Status {
    #[schema(examples("ok", "ready"))]
    status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", operation_id = "healthz",
    responses((status = 200, body = Status, example = json!({"status": "ok"}))))]
pub async fn healthz() -> Response {
    json(StatusCode::OK, &b"{\"status\":\"ok\"}\n"[..])
}

/// The store answers (and Redis, when configured, answers and is subscribed); 503 `unavailable`
/// otherwise.
#[utoipa::path(get, path = "/readyz", tag = "ops", operation_id = "readyz",
    responses((status = 200, body = Status, example = json!({"status": "ready"}))))]
pub async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    state.stores.health.ping().await.map_err(|e| Error::unavailable("the store is not reachable", e))?;
    if let Some(redis) = &state.redis {
        redis.ping().await?;
        // Reachable but not yet (or no longer) subscribed: revocations could be missed.
        redis.health().check()?;
    }
    Ok(json(StatusCode::OK, &b"{\"status\":\"ready\"}\n"[..]))
}
