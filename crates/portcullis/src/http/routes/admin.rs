//! The admin API under `/api/admin`: accounts, roles and the audit log, for the `admin` role.
//!
//! Every route sits behind [`guard::admin_only`] (applied in [`crate::http::router`]): 401
//! `unauthenticated` without a session or token, 403 `forbidden` without the role, and the CSRF
//! check for cookie sessions on unsafe methods. The handlers adapt HTTP to
//! [`crate::admin::Console`].
//!
//! [`guard::admin_only`]: crate::http::guard::admin_only

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{json_value, rfc3339};
use crate::account::MAX_USERNAME_CHARS;
use crate::account::{Role, User, UserPatch};
use crate::admin::{Actor, AuditParams, Console, NewAccount, UserListing, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};
use crate::audit::AuditRecord;
use crate::error::{Error, ErrorKind};
use crate::http::error::ApiError;
use crate::http::extract::{Client, CurrentUser};
use crate::http::input::{Body, Names, Nullable, Query, RequestBody, Text};
use crate::http::AppState;
use crate::password::Password;
use crate::session::{ClientInfo, LiveSession};

/// The admin routes; [`crate::http::router`] puts every one behind the `admin` role.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(revoke_sessions))
        .routes(routes!(unlock))
        .routes(routes!(list_roles, create_role))
        .routes(routes!(set_permissions))
        .routes(routes!(audit))
}

/// A changing admin request: the instance, the admin (already resolved by the guard) and where
/// they call from.
struct Call {
    state: AppState,
    admin: Arc<LiveSession>,
    client: ClientInfo,
}

impl FromRequestParts<AppState> for Call {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let CurrentUser(admin) = CurrentUser::from_request_parts(parts, state).await?;
        let client = match Client::from_request_parts(parts, state).await {
            Ok(Client(client)) => client,
            Err(never) => match never {},
        };
        Ok(Self { state: state.clone(), admin, client })
    }
}

impl Call {
    fn console(&self) -> Console<'_> {
        self.state.console()
    }

    fn actor(&self) -> Actor<'_> {
        Actor { id: self.admin.user().id, username: &self.admin.user().username, client: &self.client }
    }
}

/// A path id; anything but a UUID names no account.
fn user_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| Error::new(ErrorKind::NotFound, "no such user").into())
}

/// An account as admins see it; never the password hash.
#[derive(Serialize, ToSchema)]
struct UserView<'a> {
    id: Uuid,
    /// Invisible characters show as `\u{…}`.
    #[schema(value_type = String)]
    username: Cow<'a, str>,
    #[schema(required = true)]
    email: Option<&'a str>,
    roles: &'a [String],
    permissions: &'a [String],
    disabled: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

fn user_view(user: &User) -> UserView<'_> {
    UserView {
        id: user.id,
        // Security: an invisible character shows as `\u{…}`, so a look-alike cannot pass for
        // the real name in the console.
        username: crate::username::escaped(&user.username),
        email: user.email.as_deref(),
        roles: &user.roles,
        permissions: &user.permissions,
        disabled: user.disabled,
        created_at: rfc3339(user.created_at),
        updated_at: rfc3339(user.updated_at),
    }
}

/// A page of the account list.
#[derive(Debug, eserde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UserListQuery {
    /// A substring of the username or email.
    #[serde(default)]
    search: Option<String>,
    /// Accounts to skip (default 0).
    #[serde(default)]
    #[param(value_type = Option<u64>, minimum = 0)]
    offset: Option<String>,
    /// Page size (default 50).
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// A page of accounts, by username.
#[derive(Serialize, ToSchema)]
struct UserPage<'a> {
    users: Vec<UserView<'a>>,
    total: u64,
    offset: u64,
    limit: u32,
}

/// Lists accounts, by username.
#[utoipa::path(get, path = "/api/admin/users", tag = "admin", operation_id = "admin_list_users",
    params(UserListQuery),
    security(("session_cookie" = []), ("bearer" = [])),
    responses((status = 200, body = UserPage)))]
async fn list_users(State(state): State<AppState>, Query(q): Query<UserListQuery>) -> Result<Response, ApiError> {
    let listing = UserListing { search: q.search.as_deref(), offset: q.offset.as_deref(), limit: q.limit.as_deref() };
    let listed = state.console().list_users(listing).await?;
    let users = listed.page.users.iter().map(user_view).collect();
    let page = UserPage { users, total: listed.page.total, offset: listed.offset, limit: listed.limit };
    Ok(json_value(StatusCode::OK, &page))
}

/// One account.
#[utoipa::path(get, path = "/api/admin/users/{id}", tag = "admin", operation_id = "admin_get_user",
    params(("id" = String, Path, description = "The account's id")),
    security(("session_cookie" = []), ("bearer" = [])),
    responses((status = 200, body = UserView)))]
async fn get_user(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let user = state.console().user(user_id(&id)?).await?;
    Ok(json_value(StatusCode::OK, &user_view(&user)))
}

/// An account to create.
#[derive(Debug, eserde::Deserialize, ToSchema)]
struct NewUser {
    username: Text<{ MAX_USERNAME_CHARS }>,
    /// Checked against the password policy.
    password: Password,
    #[serde(default)]
    email: Option<Text<254>>,
    /// Roles to give; each must exist.
    #[serde(default)]
    roles: Option<Names>,
}

impl RequestBody for NewUser {}

/// Creates an account.
#[utoipa::path(post, path = "/api/admin/users", tag = "admin", operation_id = "admin_create_user",
    request_body = NewUser,
    security(("session_cookie" = [], "csrf_header" = []), ("bearer" = [])),
    responses((status = 201, body = UserView)))]
async fn create_user(call: Call, Body(new): Body<NewUser>) -> Result<Response, ApiError> {
    let roles = new.roles.map(|r| r.0).unwrap_or_default();
    let email = new.email.map(Text::into_inner);
    let new = NewAccount { username: new.username.0, password: new.password, email, roles };
    let user = call.console().create_user(call.actor(), new).await?;
    Ok(json_value(StatusCode::CREATED, &user_view(&user)))
}

/// Changes to an account; a field left out stays as it is.
#[derive(Debug, eserde::Deserialize, ToSchema)]
struct UserUpdate {
    /// `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 254)]
    email: Nullable<Text<254>>,
    /// A disabled account cannot log in, and its sessions end.
    #[serde(default)]
    disabled: Option<bool>,
    /// Replaces the roles; each must exist.
    #[serde(default)]
    roles: Option<Names>,
}

impl RequestBody for UserUpdate {}

/// Changes an account's email, roles or disabled flag.
#[utoipa::path(patch, path = "/api/admin/users/{id}", tag = "admin", operation_id = "admin_update_user",
    params(("id" = String, Path, description = "The account's id")),
    request_body = UserUpdate,
    security(("session_cookie" = [], "csrf_header" = []), ("bearer" = [])),
    responses((status = 200, body = UserView)))]
async fn update_user(call: Call, Path(id): Path<String>, Body(update): Body<UserUpdate>) -> Result<Response, ApiError> {
    let email = update.email.into_change().map(|e| e.map(Text::into_inner));
    let patch = UserPatch { email, disabled: update.disabled, roles: update.roles.map(|r| r.0) };
    let user = call.console().update_user(call.actor(), user_id(&id)?, patch).await?;
    Ok(json_value(StatusCode::OK, &user_view(&user)))
}

/// `{"deleted": true}`.
#[derive(Serialize, ToSchema)]
struct Deleted {
    deleted: bool,
}

/// Deletes an account and ends all its access.
#[utoipa::path(delete, path = "/api/admin/users/{id}", tag = "admin", operation_id = "admin_delete_user",
    params(("id" = String, Path, description = "The account's id")),
    security(("session_cookie" = [], "csrf_header" = []), ("bearer" = [])),
    responses((status = 200, body = Deleted)))]
async fn delete_user(call: Call, Path(id): Path<String>) -> Result<Response, ApiError> {
    call.console().delete_user(call.actor(), user_id(&id)?).await?;
    Ok(json_value(StatusCode::OK, &Deleted { deleted: true }))
}

/// How many sessions and token families ended.
#[derive(Serialize, ToSchema)]
struct Revoked {
    revoked: usize,
}

/// Ends every session, token family and remembered browser of an account.
#[utoipa::path(post, path = "/api/admin/users/{id}/revoke-sessions", tag = "admin", operation_id = "admin_revoke_sessions",
    params(("id" = String, Path, description = "The account's id")),
    security(("session_cookie" = [], "csrf_header" = []), ("bearer" = [])),
    responses((status = 200, body = Revoked)))]
async fn revoke_sessions(call: Call, Path(id): Path<String>) -> Result<Response, ApiError> {
    let revoked = call.console().revoke_sessions(call.actor(), user_id(&id)?).await?;
    Ok(json_value(StatusCode::OK, &Revoked { revoked }))
}

/// `{"unlocked": true}`.
#[derive(Serialize, ToSchema)]
struct Unlocked {
    unlocked: bool,
}

/// Lifts an account's lockout and clears its failure counts.
#[utoipa::path(post, path = "/api/admin/users/{id}/unlock", tag = "admin", operation_id = "admin_unlock",
    params(("id" = String, Path, description = "The account's id")),
    security(("session_cookie" = [], "csrf_header" = []), ("bearer" = [])),
    responses((status = 200, body = Unlocked)))]
async fn unlock(call: Call, Path(id): Path<String>) -> Result<Response, ApiError> {
    call.console().unlock(call.actor(), user_id(&id)?).await?;
    Ok(json_value(StatusCode::OK, &Unlocked { unlocked: true }))
}

/// A role and its permissions.
#[derive(Serialize, ToSchema)]
struct RoleView<'a> {
    name: &'a str,
    #[schema(required = true)]
    description: Option<&'a str>,
    permissions: &'a [String],
}

fn role_view(role: &Role) -> RoleView<'_> {
    RoleView { name: &role.name, description: role.description.as_deref(), permissions: &role.permissions }
}

/// Every role.
#[derive(Serialize, ToSchema)]
struct Roles<'a> {
    roles: Vec<RoleView<'a>>,
}

/// Lists the roles and their permissions.
#[utoipa::path(get, path = "/api/admin/roles", tag = "admin", operation_id = "admin_list_roles",
    security(("session_cookie" = []), ("bearer" = [])),
    responses((status = 200, body = Roles)))]
async fn list_roles(State(state): State<AppState>) -> Result<Response, ApiError> {
    let roles = state.console().roles().await?;
    Ok(json_value(StatusCode::OK, &Roles { roles: roles.iter().map(role_view).collect() }))
}

/// A role to create.
#[derive(Debug, eserde::Deserialize, ToSchema)]
struct NewRole {
    /// a-z, 0-9, `_`, `:`, `.` and `-`.
    name: Text<{ MAX_NAME_CHARS }>,
    #[serde(default)]
    description: Option<Text<{ MAX_DESCRIPTION_CHARS }>>,
    #[serde(default)]
    permissions: Option<Names>,
}

impl RequestBody for NewRole {}

/// Creates a role.
#[utoipa::path(post, path = "/api/admin/roles", tag = "admin", operation_id = "admin_create_role",
    request_body = NewRole,
    security(("session_cookie" = [], "csrf_header" = []), ("bearer" = [])),
    responses((status = 201, body = RoleView)))]
async fn create_role(call: Call, Body(new): Body<NewRole>) -> Result<Response, ApiError> {
    let permissions = new.permissions.map(|p| p.0).unwrap_or_default();
    let role = Role { name: new.name.0, description: new.description.map(Text::into_inner), permissions };
    let role = call.console().create_role(call.actor(), role).await?;
    Ok(json_value(StatusCode::CREATED, &role_view(&role)))
}

/// A role's whole new set of permissions.
#[derive(Debug, eserde::Deserialize, ToSchema)]
struct Permissions {
    permissions: Names,
}

impl RequestBody for Permissions {}

/// Replaces a role's permissions.
#[utoipa::path(put, path = "/api/admin/roles/{name}/permissions", tag = "admin", operation_id = "admin_set_permissions",
    params(("name" = String, Path, description = "The role's name")),
    request_body = Permissions,
    security(("session_cookie" = [], "csrf_header" = []), ("bearer" = [])),
    responses((status = 200, body = RoleView)))]
async fn set_permissions(
    call: Call,
    Path(name): Path<String>,
    Body(body): Body<Permissions>,
) -> Result<Response, ApiError> {
    let role = call.console().set_role_permissions(call.actor(), &name, body.permissions.0).await?;
    Ok(json_value(StatusCode::OK, &role_view(&role)))
}

/// One audit event.
#[derive(Serialize, ToSchema)]
struct EventView<'a> {
    id: i64,
    #[schema(format = DateTime)]
    at: String,
    #[schema(examples("login_ok"))]
    event: &'a str,
    #[schema(required = true)]
    user_id: Option<Uuid>,
    /// Invisible characters show as `\u{…}`.
    #[schema(value_type = Option<String>, required = true)]
    username: Option<Cow<'a, str>>,
    #[schema(required = true)]
    session_id: Option<Uuid>,
    #[schema(required = true)]
    ip: Option<&'a str>,
    #[schema(required = true)]
    user_agent: Option<&'a str>,
    /// The event's own fields.
    #[schema(value_type = Object)]
    detail: Value,
}

fn event_view(record: &AuditRecord) -> EventView<'_> {
    // Details are stored as JSON text; a row without one shows an empty object.
    let detail = match record.detail.as_deref() {
        Some(text) => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())),
        None => Value::Object(Map::new()),
    };
    EventView {
        id: record.id,
        at: rfc3339(record.at),
        event: &record.event,
        user_id: record.user_id,
        // Security: the log holds names as typed, refused ones too; invisible characters show
        // as `\u{…}`.
        username: record.username.as_deref().map(crate::username::escaped),
        session_id: record.session_id,
        ip: record.ip.as_deref(),
        user_agent: record.user_agent.as_deref(),
        detail,
    }
}

/// Audit filters; an empty value is no filter.
#[derive(Debug, eserde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditFilter {
    /// An account id or a username.
    #[serde(default)]
    user: Option<String>,
    /// An event name, such as `login_ok`.
    #[serde(default)]
    event: Option<String>,
    /// An RFC 3339 time or unix seconds: events at or after it.
    #[serde(default)]
    since: Option<String>,
    /// An event id: events older than it (the next page).
    #[serde(default)]
    #[param(value_type = Option<i64>, minimum = 1)]
    before: Option<String>,
    /// Page size (default 100).
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// Audit events, newest first.
#[derive(Serialize, ToSchema)]
struct Events<'a> {
    events: Vec<EventView<'a>>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/admin/audit", tag = "admin", operation_id = "admin_audit",
    params(AuditFilter),
    security(("session_cookie" = []), ("bearer" = [])),
    responses((status = 200, body = Events)))]
async fn audit(State(state): State<AppState>, Query(q): Query<AuditFilter>) -> Result<Response, ApiError> {
    let filters = AuditParams {
        user: q.user.as_deref(),
        event: q.event.as_deref(),
        since: q.since.as_deref(),
        before: q.before.as_deref(),
        limit: q.limit.as_deref(),
    };
    let records = state.console().audit(filters).await?;
    Ok(json_value(StatusCode::OK, &Events { events: records.iter().map(event_view).collect() }))
}
