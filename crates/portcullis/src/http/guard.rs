//! Authorization guards: extractors that admit a caller only with a role, a permission, or a
//! fresh login, and the middleware that guards a whole router (`/api/admin`).
//!
//! Without a session or token the answer is 401 `unauthenticated`; logged in without the role
//! or permission it is 403 `forbidden`; logged in but not recently enough it is 401
//! `fresh_login_required` (the client calls `POST /api/reauth` and retries).
//!
//! ```
//! use portcullis::http::guard::{RequireRole, RoleName};
//!
//! struct Editor;
//! impl RoleName for Editor {
//!     const NAME: &'static str = "editor";
//! }
//!
//! async fn publish(RequireRole(me, ..): RequireRole<Editor>) -> String {
//!     format!("published by {}", me.user().username)
//! }
//! # let _ = publish;
//! ```

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::extract::{resolve, Resolved};
use super::AppState;
use crate::error::{Error, ErrorKind};
use crate::session::LiveSession;

/// A role checked at compile time by name.
pub trait RoleName {
    /// The role's name.
    const NAME: &'static str;
}

/// A permission checked at compile time by name.
pub trait PermissionName {
    /// The permission's name.
    const NAME: &'static str;
}

/// The built-in `admin` role.
#[derive(Debug)]
pub struct Admin;

impl RoleName for Admin {
    const NAME: &'static str = crate::account::ADMIN_ROLE;
}

async fn caller(parts: &Parts, state: &AppState) -> Result<Arc<LiveSession>, Error> {
    resolve(parts, state).await?.ok_or_else(|| Error::new(ErrorKind::Unauthenticated, "log in first"))
}

/// The caller, who holds role `R`.
#[derive(Debug)]
pub struct RequireRole<R>(pub Arc<LiveSession>, pub PhantomData<R>);

impl<S, R> FromRequestParts<S> for RequireRole<R>
where
    AppState: FromRef<S>,
    S: Send + Sync,
    R: RoleName,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let live = caller(parts, &AppState::from_ref(state)).await?;
        if !live.user().has_role(R::NAME) {
            return Err(Error::new(ErrorKind::Forbidden, format!("the `{}` role is required", R::NAME)).into());
        }
        Ok(Self(live, PhantomData))
    }
}

/// The caller, who holds permission `P` through a role.
#[derive(Debug)]
pub struct RequirePermission<P>(pub Arc<LiveSession>, pub PhantomData<P>);

impl<S, P> FromRequestParts<S> for RequirePermission<P>
where
    AppState: FromRef<S>,
    S: Send + Sync,
    P: PermissionName,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let live = caller(parts, &AppState::from_ref(state)).await?;
        if !live.user().has_permission(P::NAME) {
            return Err(Error::new(ErrorKind::Forbidden, format!("the `{}` permission is required", P::NAME)).into());
        }
        Ok(Self(live, PhantomData))
    }
}

/// The caller, whose login (or step-up) is recent: within `session.fresh_for`.
#[derive(Debug)]
pub struct Fresh(pub Arc<LiveSession>);

impl<S> FromRequestParts<S> for Fresh
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        let live = caller(parts, &state).await?;
        if !live.is_fresh(state.clock.now()) {
            return Err(
                Error::new(ErrorKind::FreshLoginRequired, "confirm your password first (POST /api/reauth)").into()
            );
        }
        Ok(Self(live))
    }
}

/// Middleware admitting only callers with the `admin` role; the caller it resolved is handed to
/// the handler's extractors, so it is not resolved twice.
pub async fn admin_only(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let live = match caller(&parts, &state).await {
        Ok(live) => live,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if !live.user().has_role(Admin::NAME) {
        return ApiError::from(Error::new(ErrorKind::Forbidden, "the `admin` role is required")).into_response();
    }
    parts.extensions.insert(Resolved(live));
    next.run(Request::from_parts(parts, body)).await
}
