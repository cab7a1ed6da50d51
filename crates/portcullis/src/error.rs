//! The one public error type.
//!
//! Domain code returns [`Error`], whose [`ErrorKind`] carries a stable `code`. Only
//! `http::error` turns kinds into statuses and problem+json bodies.

use std::fmt;

/// What went wrong, as a stable, machine-readable kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No valid session or token.
    Unauthenticated,
    /// Wrong username or password.
    InvalidCredentials,
    /// The CSRF token or the origin check failed.
    CsrfFailed,
    /// Authenticated, but not allowed.
    Forbidden,
    /// The operation needs a recent login: reauthenticate (`POST /api/reauth`) first.
    FreshLoginRequired,
    /// Too many attempts from this address or for this account; wait `retry_after` seconds.
    RateLimited,
    /// The account is locked after repeated failures; wait `retry_after` seconds.
    AccountLocked,
    /// The access token has expired.
    TokenExpired,
    /// The token is malformed, forged, of the wrong type, or not yet valid.
    TokenInvalid,
    /// The token's session (refresh family) was revoked.
    TokenRevoked,
    /// A rotated refresh token was presented again: its whole family is now revoked.
    RefreshReused,
    /// A field was missing, mistyped or out of bounds.
    ValidationFailed,
    /// The body could not be parsed at all (not JSON, not UTF-8).
    MalformedRequest,
    /// The body's content type is not one the route accepts.
    UnsupportedMediaType,
    /// The resource already exists (e.g. a taken username).
    Conflict,
    /// No such resource.
    NotFound,
    /// The method is not allowed on this resource.
    MethodNotAllowed,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// A dependency is down or overloaded (the password pool is full, the store is unreachable).
    Unavailable,
    /// A bug or an unexpected failure; details go to the log only.
    Internal,
}

impl ErrorKind {
    /// The stable code tests and clients match on.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::InvalidCredentials => "invalid_credentials",
            ErrorKind::CsrfFailed => "csrf_failed",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::FreshLoginRequired => "fresh_login_required",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::AccountLocked => "account_locked",
            ErrorKind::TokenExpired => "token_expired",
            ErrorKind::TokenInvalid => "token_invalid",
            ErrorKind::TokenRevoked => "token_revoked",
            ErrorKind::RefreshReused => "refresh_reused",
            ErrorKind::ValidationFailed => "validation_failed",
            ErrorKind::MalformedRequest => "malformed_request",
            ErrorKind::UnsupportedMediaType => "unsupported_media_type",
            ErrorKind::Conflict => "conflict",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name as the client sent it.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The error every public function of this crate returns.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    detail: String,
    fields: Vec<FieldError>,
    retry_after: Option<u64>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// An error of `kind` with a human-readable `detail` safe to show to clients.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into(), fields: Vec::new(), retry_after: None, source: None }
    }

    /// A validation error listing every invalid field.
    pub fn validation(fields: Vec<FieldError>) -> Self {
        let mut err = Self::new(ErrorKind::ValidationFailed, "the request has invalid fields");
        err.fields = fields;
        err
    }

    /// An internal error; `source` reaches the log, never the client.
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let mut err = Self::new(ErrorKind::Internal, "internal error");
        err.source = Some(source.into());
        err
    }

    /// An outage of a dependency; `source` reaches the log, never the client.
    pub fn unavailable(detail: impl Into<String>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let mut err = Self::new(ErrorKind::Unavailable, detail);
        err.source = Some(source.into());
        err
    }

    /// A `rate_limited` or `account_locked` error: the client may retry after `secs` seconds.
    pub fn retry_after(kind: ErrorKind, detail: impl Into<String>, secs: u64) -> Self {
        let mut err = Self::new(kind, detail);
        err.retry_after = Some(secs.max(1));
        err
    }

    /// Seconds until a retry may succeed, for `rate_limited` and `account_locked`.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The client-safe description.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The invalid fields of a validation error.
    pub fn fields(&self) -> &[FieldError] {
        &self.fields
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.detail)?;
        if let Some(source) = &self.source {
            write!(f, " ({source})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(err: crate::store::StoreError) -> Self {
        match err {
            crate::store::StoreError::Conflict(what) => {
                Error::new(ErrorKind::Conflict, format!("{what} already exists"))
            }
            crate::store::StoreError::Unreachable(e) => Error::unavailable("the store is unreachable", e),
            crate::store::StoreError::Backend(e) => Error::internal(e),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
