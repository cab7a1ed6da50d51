//! The admin API under `/api/admin`: accounts, roles and the audit log, for the `admin` role.
//!
//! Every route sits behind [`guard::admin_only`]: 401 `unauthenticated` without a session or
//! token, 403 `forbidden` without the role, and the CSRF check for cookie sessions on unsafe
//! methods. The handlers adapt HTTP to [`crate::admin::Console`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{json_value, rfc3339};
use crate::account::MAX_USERNAME_CHARS;
use crate::account::{Role, User, UserPatch};
use crate::admin::{Actor, AuditParams, Console, NewAccount, UserListing, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};
use crate::audit::AuditRecord;
use crate::error::{Error, ErrorKind, FieldError};
use crate::http::error::ApiError;
use crate::http::extract::{Client, CurrentUser};
use crate::http::guard;
use crate::http::AppState;
use crate::password::Password;
use crate::session::{ClientInfo, LiveSession};

/// The admin routes, every one behind the `admin` role.
pub(crate) fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/admin/users", get(list_users).post(create_user))
        .route("/api/admin/users/{id}", get(get_user).patch(update_user).delete(delete_user))
        .route("/api/admin/users/{id}/revoke-sessions", post(revoke_sessions))
        .route("/api/admin/users/{id}/unlock", post(unlock))
        .route("/api/admin/roles", get(list_roles).post(create_role))
        .route("/api/admin/roles/{name}/permissions", put(set_permissions))
        .route("/api/admin/audit", get(audit))
        .route_layer(axum::middleware::from_fn_with_state(state, guard::admin_only))
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

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

fn params(query: Params) -> Result<HashMap<String, String>, ApiError> {
    match query {
        Ok(Query(map)) => Ok(map),
        Err(_) => Err(Error::new(ErrorKind::MalformedRequest, "the query string could not be read").into()),
    }
}

#[derive(Serialize)]
struct UserView<'a> {
    id: Uuid,
    username: Cow<'a, str>,
    email: Option<&'a str>,
    roles: &'a [String],
    permissions: &'a [String],
    disabled: bool,
    created_at: String,
    updated_at: String,
}

/// The account as admins see it; never the password hash.
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

async fn list_users(State(state): State<AppState>, query: Params) -> Result<Response, ApiError> {
    let q = params(query)?;
    let get = |k: &str| q.get(k).map(String::as_str);
    let listing = UserListing { search: get("search"), offset: get("offset"), limit: get("limit") };
    let listed = state.console().list_users(listing).await?;
    let users: Vec<_> = listed.page.users.iter().map(user_view).collect();
    let body = json!({ "users": users, "total": listed.page.total, "offset": listed.offset, "limit": listed.limit });
    Ok(json_value(StatusCode::OK, &body))
}

async fn get_user(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let user = state.console().user(user_id(&id)?).await?;
    Ok(json_value(StatusCode::OK, &user_view(&user)))
}

async fn create_user(call: Call, body: Body) -> Result<Response, ApiError> {
    let mut fields = body.fields();
    let username = fields.required("username", MAX_USERNAME_CHARS);
    let password = Password::new(fields.required("password", call.state.config.password.max_length));
    let email = fields.nullable("email", 254).flatten();
    let roles = fields.names("roles").unwrap_or_default();
    fields.finish()?;
    let new = NewAccount { username, password, email, roles };
    let user = call.console().create_user(call.actor(), new).await?;
    Ok(json_value(StatusCode::CREATED, &user_view(&user)))
}

async fn update_user(call: Call, Path(id): Path<String>, body: Body) -> Result<Response, ApiError> {
    let id = user_id(&id)?;
    let mut fields = body.fields();
    let patch = UserPatch {
        email: fields.nullable("email", 254),
        disabled: fields.bool("disabled"),
        roles: fields.names("roles"),
    };
    fields.finish()?;
    let user = call.console().update_user(call.actor(), id, patch).await?;
    Ok(json_value(StatusCode::OK, &user_view(&user)))
}

async fn delete_user(call: Call, Path(id): Path<String>) -> Result<Response, ApiError> {
    call.console().delete_user(call.actor(), user_id(&id)?).await?;
    Ok(json_value(StatusCode::OK, &json!({ "deleted": true })))
}

async fn revoke_sessions(call: Call, Path(id): Path<String>) -> Result<Response, ApiError> {
    let ended = call.console().revoke_sessions(call.actor(), user_id(&id)?).await?;
    Ok(json_value(StatusCode::OK, &json!({ "revoked": ended })))
}

async fn unlock(call: Call, Path(id): Path<String>) -> Result<Response, ApiError> {
    call.console().unlock(call.actor(), user_id(&id)?).await?;
    Ok(json_value(StatusCode::OK, &json!({ "unlocked": true })))
}

async fn list_roles(State(state): State<AppState>) -> Result<Response, ApiError> {
    let roles = state.console().roles().await?;
    let roles: Vec<_> = roles.iter().map(role_view).collect();
    Ok(json_value(StatusCode::OK, &json!({ "roles": roles })))
}

fn role_view(role: &Role) -> Value {
    json!({ "name": role.name, "description": role.description, "permissions": role.permissions })
}

async fn create_role(call: Call, body: Body) -> Result<Response, ApiError> {
    let mut fields = body.fields();
    let name = fields.required("name", MAX_NAME_CHARS);
    let description = fields.nullable("description", MAX_DESCRIPTION_CHARS).flatten();
    let permissions = fields.names("permissions").unwrap_or_default();
    fields.finish()?;
    let role = call.console().create_role(call.actor(), Role { name, description, permissions }).await?;
    Ok(json_value(StatusCode::CREATED, &role_view(&role)))
}

async fn set_permissions(call: Call, Path(name): Path<String>, body: Body) -> Result<Response, ApiError> {
    let mut fields = body.fields();
    let permissions = fields.names("permissions");
    if permissions.is_none() {
        fields.error("permissions", "is required");
    }
    fields.finish()?;
    let permissions = permissions.unwrap_or_default();
    let role = call.console().set_role_permissions(call.actor(), &name, permissions).await?;
    Ok(json_value(StatusCode::OK, &role_view(&role)))
}

#[derive(Serialize)]
struct EventView<'a> {
    id: i64,
    at: String,
    event: &'a str,
    user_id: Option<Uuid>,
    username: Option<Cow<'a, str>>,
    session_id: Option<Uuid>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
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

async fn audit(State(state): State<AppState>, query: Params) -> Result<Response, ApiError> {
    let q = params(query)?;
    let get = |k: &str| q.get(k).map(String::as_str);
    let filters = AuditParams {
        user: get("user"),
        event: get("event"),
        since: get("since"),
        before: get("before"),
        limit: get("limit"),
    };
    let records = state.console().audit(filters).await?;
    let events: Vec<_> = records.iter().map(event_view).collect();
    Ok(json_value(StatusCode::OK, &json!({ "events": events })))
}

/// A JSON object body; every way it can be wrong is a 4xx problem.
struct Body(Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<Value>::from_request(req, state).await {
            Ok(Json(Value::Object(map))) => Ok(Self(map)),
            Ok(Json(_)) => Err(Error::validation(vec![FieldError {
                field: "(body)".into(),
                message: "must be a JSON object".into(),
            }])
            .into()),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(Error::new(ErrorKind::UnsupportedMediaType, "send application/json").into())
            }
            Err(JsonRejection::BytesRejection(r)) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Error::new(ErrorKind::PayloadTooLarge, "the request body is larger than the server accepts").into())
            }
            Err(_) => Err(Error::new(ErrorKind::MalformedRequest, "the body is not valid JSON").into()),
        }
    }
}

impl Body {
    fn fields(&self) -> Fields<'_> {
        Fields { map: &self.0, errors: Vec::new() }
    }
}

/// Reads typed fields from a JSON object, collecting every error before answering 422.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields<'_> {
    fn required(&mut self, name: &str, max_chars: usize) -> String {
        match self.map.get(name) {
            None | Some(Value::Null) => self.error(name, "is required"),
            Some(value) => return self.string(name, value, max_chars).unwrap_or_default(),
        }
        String::new()
    }

    /// Absent: `None`; `null`: `Some(None)` (clear it); a string: `Some(Some(..))`.
    fn nullable(&mut self, name: &str, max_chars: usize) -> Option<Option<String>> {
        match self.map.get(name) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(value) => self.string(name, value, max_chars).map(Some),
        }
    }

    fn bool(&mut self, name: &str) -> Option<bool> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.error(name, "must be true or false");
                None
            }
        }
    }

    /// A list of role or permission names (their shape is the domain's to check).
    fn names(&mut self, name: &str) -> Option<Vec<String>> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) if items.len() <= 256 => {
                let names: Option<Vec<String>> = items.iter().map(|v| v.as_str().map(str::to_owned)).collect();
                if names.is_none() {
                    self.error(name, "must be a list of strings");
                }
                names
            }
            Some(Value::Array(_)) => {
                self.error(name, "must have at most 256 entries");
                None
            }
            Some(_) => {
                self.error(name, "must be a list of strings");
                None
            }
        }
    }

    fn string(&mut self, name: &str, value: &Value, max_chars: usize) -> Option<String> {
        match value {
            Value::String(s) if s.chars().count() > max_chars => {
                self.error(name, &format!("must be at most {max_chars} characters"));
                None
            }
            Value::String(s) => Some(s.clone()),
            _ => {
                self.error(name, "must be a string");
                None
            }
        }
    }

    fn error(&mut self, name: &str, message: &str) {
        self.errors.push(FieldError { field: name.into(), message: message.into() });
    }

    fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::validation(self.errors))
        }
    }
}
