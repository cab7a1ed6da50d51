//! The only place that maps domain errors to HTTP statuses and RFC 9457 problem+json bodies.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{Error, ErrorKind, FieldError};

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    error: Error,
    /// Seed-compatible routes answer CSRF failures with 400, as Flask-WTF does.
    seed: bool,
}

impl ApiError {
    /// The error as answered by a seed-compatible route.
    pub fn seed(error: Error) -> Self {
        Self { error, seed: true }
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self { error, seed: false }
    }
}

/// The status for an error kind.
pub fn status_of(kind: ErrorKind, seed: bool) -> StatusCode {
    match kind {
        ErrorKind::Unauthenticated
        | ErrorKind::InvalidCredentials
        | ErrorKind::TokenExpired
        | ErrorKind::TokenInvalid
        | ErrorKind::TokenRevoked
        | ErrorKind::RefreshReused
        | ErrorKind::FreshLoginRequired => StatusCode::UNAUTHORIZED,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::AccountLocked => StatusCode::LOCKED,
        ErrorKind::CsrfFailed if seed => StatusCode::BAD_REQUEST,
        ErrorKind::CsrfFailed | ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::MalformedRequest => StatusCode::BAD_REQUEST,
        ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An RFC 9457 problem: every error this API answers.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem<'a> {
    /// `https://portcullis.dev/problems/<code>`.
    #[serde(rename = "type")]
    type_: String,
    /// The status's reason phrase.
    title: &'a str,
    /// The HTTP status.
    status: u16,
    /// What went wrong, for a person.
    detail: &'a str,
    /// What went wrong, stable, for a program to match on.
    code: &'a str,
    /// Every invalid field (422 only).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
    /// Seconds to wait (429 and 423).
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

/// Renders a problem+json response.
pub fn problem(status: StatusCode, code: &str, detail: &str, errors: &[FieldError]) -> Response {
    problem_with(status, code, detail, errors, None)
}

/// Renders a problem+json response; with `retry_after`, also the `Retry-After` header.
pub fn problem_with(
    status: StatusCode,
    code: &str,
    detail: &str,
    errors: &[FieldError],
    retry_after: Option<u64>,
) -> Response {
    let body = Problem {
        type_: format!("https://portcullis.dev/problems/{code}"),
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
        code,
        errors,
        retry_after,
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    if let Some(secs) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The real cause of a 5xx, kept for the request log and never sent.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.error.kind();
        let status = status_of(kind, self.seed);
        if status.is_server_error() {
            let detail = if kind == ErrorKind::Unavailable {
                self.error.detail()
            } else {
                "the server failed to answer this request"
            };
            let mut response = problem(status, kind.code(), detail, &[]);
            response.extensions_mut().insert(InternalCause(self.error.to_string()));
            return response;
        }
        problem_with(status, kind.code(), self.error.detail(), self.error.fields(), self.error.retry_after_secs())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
