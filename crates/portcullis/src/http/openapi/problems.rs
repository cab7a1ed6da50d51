//! What each operation can fail with: one table of error kinds per operation, written into the
//! document as problem+json responses in the statuses [`status_of`] gives them, each listing
//! its `code` values. Every operation can also answer 503 `unavailable` (the request deadline,
//! a store or hash pool that cannot take more).

use std::collections::BTreeMap;

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

use crate::error::ErrorKind::{self, *};
use crate::http::error::status_of;

/// No session, or a bearer token that is not (or no longer) good.
const AUTH: &[ErrorKind] = &[Unauthenticated, TokenExpired, TokenInvalid, TokenRevoked];
/// Everything a request body can be refused for.
const BODY: &[ErrorKind] = &[MalformedRequest, UnsupportedMediaType, PayloadTooLarge, ValidationFailed];
/// A password check: limits and lockout.
const CHECKED: &[ErrorKind] = &[RateLimited, AccountLocked];
/// The admin guard: a session or token of a user with the `admin` role.
const ADMIN: &[ErrorKind] = &[Unauthenticated, TokenExpired, TokenInvalid, TokenRevoked, Forbidden];

/// One operation's failures.
struct Fails {
    op: &'static str,
    /// Answered as a seed-compatible route (a CSRF failure is a 400).
    seed: bool,
    kinds: &'static [&'static [ErrorKind]],
}

const fn api(op: &'static str, kinds: &'static [&'static [ErrorKind]]) -> Fails {
    Fails { op, seed: false, kinds }
}

const fn seed(op: &'static str, kinds: &'static [&'static [ErrorKind]]) -> Fails {
    Fails { op, seed: true, kinds }
}

const TABLE: &[Fails] = &[
    seed("ping", &[]),
    seed("getcsrf", &[]),
    seed("seed_login", &[&[CsrfFailed], BODY, CHECKED]),
    seed("getsession", &[]),
    seed("data", &[AUTH]),
    seed("seed_logout", &[&[CsrfFailed, Unauthenticated]]),
    api("seed_logout_get", &[&[CsrfFailed, Unauthenticated]]),
    api("csrf", &[]),
    api("register", &[&[CsrfFailed, Forbidden, RateLimited, Conflict], BODY]),
    api("me", &[AUTH]),
    api("reauth", &[AUTH, &[CsrfFailed, InvalidCredentials], BODY, CHECKED]),
    api("list_sessions", &[AUTH]),
    api("revoke_session", &[AUTH, &[CsrfFailed, NotFound]]),
    api("revoke_other_sessions", &[AUTH, &[CsrfFailed]]),
    api("change_password", &[AUTH, &[CsrfFailed, FreshLoginRequired, InvalidCredentials], BODY, CHECKED]),
    api("token_login", &[&[CsrfFailed, InvalidCredentials], BODY, CHECKED]),
    api("token_refresh", &[&[CsrfFailed, RateLimited, Unauthenticated, TokenInvalid, TokenRevoked, RefreshReused]]),
    api("token_logout", &[AUTH, &[CsrfFailed]]),
    api("verify", &[AUTH, &[MalformedRequest, Forbidden]]),
    api("jwks", &[]),
    api("admin_list_users", &[ADMIN, &[MalformedRequest, ValidationFailed]]),
    api("admin_get_user", &[ADMIN, &[NotFound]]),
    api("admin_create_user", &[ADMIN, &[CsrfFailed, Conflict], BODY]),
    // Conflict: an admin cannot demote, disable or delete themselves.
    api("admin_update_user", &[ADMIN, &[CsrfFailed, NotFound, Conflict], BODY]),
    api("admin_delete_user", &[ADMIN, &[CsrfFailed, NotFound, Conflict]]),
    api("admin_revoke_sessions", &[ADMIN, &[CsrfFailed, NotFound]]),
    api("admin_unlock", &[ADMIN, &[CsrfFailed, NotFound]]),
    api("admin_list_roles", &[ADMIN]),
    api("admin_create_role", &[ADMIN, &[CsrfFailed, Conflict], BODY]),
    api("admin_set_permissions", &[ADMIN, &[CsrfFailed, NotFound], BODY]),
    api("admin_audit", &[ADMIN, &[MalformedRequest, ValidationFailed]]),
    api("healthz", &[]),
    api("readyz", &[]),
    api("openapi", &[]),
    api("docs", &[]),
    api("docs_page", &[]),
    api("docs_file", &[&[NotFound]]),
];

/// The operation slots of a path item, by method.
fn slots(item: &mut PathItem) -> [(&'static str, &mut Option<Operation>); 8] {
    [
        ("GET", &mut item.get),
        ("POST", &mut item.post),
        ("PUT", &mut item.put),
        ("PATCH", &mut item.patch),
        ("DELETE", &mut item.delete),
        ("HEAD", &mut item.head),
        ("OPTIONS", &mut item.options),
        ("TRACE", &mut item.trace),
    ]
}

#[cfg(test)]
/// Every operation of the document with its methods: `(method, path, operation id)`.
pub(crate) fn operations(api: &OpenApi) -> Vec<(&'static str, String, Option<String>)> {
    let mut paths = api.paths.paths.clone();
    let mut all = Vec::new();
    for (path, item) in &mut paths {
        for (method, op) in slots(item) {
            if let Some(op) = op {
                all.push((method, path.clone(), op.operation_id.clone()));
            }
        }
    }
    all
}

#[cfg(test)]
/// Operation ids of the document without a row in the table, and rows naming no operation.
pub(crate) fn unmatched(api: &OpenApi) -> (Vec<String>, Vec<&'static str>) {
    let ids: Vec<String> = operations(api).into_iter().filter_map(|(_, _, id)| id).collect();
    let missing = ids.iter().filter(|id| !TABLE.iter().any(|f| f.op == id.as_str())).cloned().collect();
    let stale = TABLE.iter().map(|f| f.op).filter(|op| !ids.iter().any(|id| id == op)).collect();
    (missing, stale)
}

/// Adds each operation's problem responses.
pub(crate) fn add(api: &mut OpenApi) {
    for item in api.paths.paths.values_mut() {
        for op in slots(item).into_iter().filter_map(|(_, op)| op.as_mut()) {
            // OpenAPI requires a description of every response; a success without its own says
            // its status.
            for (status, response) in op.responses.responses.iter_mut() {
                if let RefOr::T(response) = response {
                    if response.description.is_empty() {
                        let reason = status.parse::<u16>().ok().and_then(|s| axum::http::StatusCode::from_u16(s).ok());
                        response.description = reason.and_then(|s| s.canonical_reason()).unwrap_or("Answer").to_owned();
                    }
                }
            }
            let Some(fails) = TABLE.iter().find(|f| op.operation_id.as_deref() == Some(f.op)) else { continue };
            let mut by_status: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
            for &kind in fails.kinds.iter().flat_map(|k| k.iter()).chain(&[Unavailable]) {
                let codes = by_status.entry(status_of(kind, fails.seed).as_u16()).or_default();
                if !codes.contains(&kind.code()) {
                    codes.push(kind.code());
                }
            }
            for (status, codes) in by_status {
                add_problem(op, status, &codes);
            }
        }
    }
}

fn add_problem(op: &mut Operation, status: u16, codes: &[&str]) {
    let listed = codes.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
    let code = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(codes.iter().copied()));
    let schema = AllOfBuilder::new()
        .item(Ref::from_schema_name("Problem"))
        .item(ObjectBuilder::new().property("code", code).required("code"))
        .build();
    let content = ContentBuilder::new().schema(Some(RefOr::T(Schema::AllOf(schema)))).build();
    let key = status.to_string();
    match op.responses.responses.get_mut(&key) {
        // A documented body at the same status (the seed login's `{"login": false}`): the
        // problem is the other content type it can take.
        Some(RefOr::T(response)) => {
            response.content.insert("application/problem+json".into(), RefOr::T(content));
            response.description = format!("{}; or a problem: {listed}", response.description);
        }
        _ => {
            let response = ResponseBuilder::new()
                .description(format!("A problem: {listed}"))
                .content("application/problem+json", content)
                .build();
            op.responses.responses.insert(key, RefOr::T(response));
        }
    }
}
