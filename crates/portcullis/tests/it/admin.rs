//! The admin API: the guard, every route, the refusals that keep an admin in charge, changes
//! that take effect at once for logged-in users, and the audit log they leave.

use portcullis::Clock;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{problem, Browser, Server};

const ADMIN_PASSWORD: &str = "root-password";

/// A server with an admin `root` and a logged-in browser for it.
async fn with_admin() -> (Server, Browser) {
    let server = Server::start().await;
    server.add_user("root", ADMIN_PASSWORD, &["admin"]).await;
    let admin = server.login_as("root", ADMIN_PASSWORD).await;
    (server, admin)
}

async fn bearer(server: &Server, method: Method, path: &str, token: &str, body: Option<Value>) -> reqwest::Response {
    let mut req = server.raw().http.request(method, format!("{}{path}", server.url)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

/// Asserts a 200/201 JSON answer that shows no password hash, and returns its body.
async fn ok(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status, "{}", res.url());
    let text = res.text().await.unwrap();
    assert!(!text.contains("password_hash") && !text.contains("$argon2"), "a hash leaked: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn create_user(admin: &Browser, username: &str, roles: &[&str]) -> Value {
    let body = json!({ "username": username, "password": "long enough password", "roles": roles });
    ok(admin.send(Method::POST, "/api/admin/users", Some(body)).await, 201).await
}

async fn create_role(admin: &Browser, name: &str, permissions: &[&str]) -> Value {
    let body = json!({ "name": name, "description": "test role", "permissions": permissions });
    ok(admin.send(Method::POST, "/api/admin/roles", Some(body)).await, 201).await
}

fn field_names(body: &Value) -> Vec<&str> {
    body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn guard_tells_anonymous_from_forbidden_with_cookies_and_tokens() {
    let (server, admin) = with_admin().await;
    problem(server.browser().get("/api/admin/users").await, 401, "unauthenticated").await;
    let user = server.login_as("test", "test").await;
    problem(user.get("/api/admin/users").await, 403, "forbidden").await;
    problem(user.send(Method::POST, "/api/admin/roles", Some(json!({"name": "x"}))).await, 403, "forbidden").await;
    assert_eq!(admin.get("/api/admin/users").await.status(), 200);

    let user_token = server.access_token("test", "test").await;
    let admin_token = server.access_token("root", ADMIN_PASSWORD).await;
    problem(bearer(&server, Method::GET, "/api/admin/users", &user_token, None).await, 403, "forbidden").await;
    problem(bearer(&server, Method::GET, "/api/admin/users", "not-a-token", None).await, 401, "token_invalid").await;
    let list = ok(bearer(&server, Method::GET, "/api/admin/users", &admin_token, None).await, 200).await;
    assert_eq!(list["total"], 2);
    // A bearer token is no ambient credential: no CSRF token is needed.
    let body = json!({ "username": "by-token", "password": "long enough password" });
    ok(bearer(&server, Method::POST, "/api/admin/users", &admin_token, Some(body)).await, 201).await;
}

#[tokio::test]
async fn a_cookie_session_needs_the_csrf_token() {
    let (server, mut admin) = with_admin().await;
    admin.csrf = None;
    let body = json!({ "username": "mallory", "password": "long enough password" });
    problem(admin.send(Method::POST, "/api/admin/users", Some(body)).await, 403, "csrf_failed").await;
    problem(admin.send(Method::DELETE, "/api/admin/users/whatever", None).await, 403, "csrf_failed").await;
    assert!(server.auth.stores().users.user_by_username("mallory").await.unwrap().is_none());
}

#[tokio::test]
async fn users_can_be_listed_created_read_updated_and_deleted() {
    let (server, admin) = with_admin().await;
    let alice = create_user(&admin, "alice", &[]).await;
    assert_eq!(alice["username"], "alice");
    let mut keys: Vec<_> = alice.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["created_at", "disabled", "email", "id", "permissions", "roles", "updated_at", "username"]);
    assert_eq!((&alice["roles"], &alice["disabled"]), (&json!([]), &json!(false)));
    let id = alice["id"].as_str().unwrap();
    for name in ["bob", "carol", "dave"] {
        create_user(&admin, name, &[]).await;
    }

    let list = ok(admin.get("/api/admin/users").await, 200).await;
    assert_eq!((&list["total"], &list["offset"], &list["limit"]), (&json!(6), &json!(0), &json!(50)));
    let names: Vec<_> = list["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob", "carol", "dave", "root", "test"]);
    let page = ok(admin.get("/api/admin/users?offset=2&limit=2").await, 200).await;
    let names: Vec<_> = page["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!((names, &page["total"]), (vec!["carol", "dave"], &json!(6)));
    let found = ok(admin.get("/api/admin/users?search=AR").await, 200).await;
    assert_eq!((&found["total"], &found["users"][0]["username"]), (&json!(1), &json!("carol")));

    let got = ok(admin.get(&format!("/api/admin/users/{id}")).await, 200).await;
    assert_eq!(got, alice);
    let patched = admin
        .send(Method::PATCH, &format!("/api/admin/users/{id}"), Some(json!({ "email": "alice@example.org" })))
        .await;
    let patched = ok(patched, 200).await;
    assert_eq!((&patched["email"], &patched["username"]), (&json!("alice@example.org"), &json!("alice")));
    let cleared =
        ok(admin.send(Method::PATCH, &format!("/api/admin/users/{id}"), Some(json!({ "email": null }))).await, 200)
            .await;
    assert_eq!(cleared["email"], Value::Null);

    let deleted = ok(admin.send(Method::DELETE, &format!("/api/admin/users/{id}"), None).await, 200).await;
    assert_eq!(deleted, json!({ "deleted": true }));
    problem(admin.get(&format!("/api/admin/users/{id}")).await, 404, "not_found").await;
    problem(admin.send(Method::DELETE, &format!("/api/admin/users/{id}"), None).await, 404, "not_found").await;
    problem(admin.get("/api/admin/users/not-a-uuid").await, 404, "not_found").await;
    problem(admin.send(Method::PATCH, "/api/admin/users/123", Some(json!({}))).await, 404, "not_found").await;
    assert!(server.auth.stores().users.user_by_username("alice").await.unwrap().is_none());

    let taken = json!({ "username": "BOB", "password": "long enough password" });
    problem(admin.send(Method::POST, "/api/admin/users", Some(taken)).await, 409, "conflict").await;
}

#[tokio::test]
async fn bad_input_is_a_422_naming_every_field() {
    let (_server, admin) = with_admin().await;
    let body = json!({ "password": "short", "email": "nope", "roles": ["ghost", "Bad Name"] });
    let res = problem(admin.send(Method::POST, "/api/admin/users", Some(body)).await, 422, "validation_failed").await;
    assert_eq!(field_names(&res), ["username"], "shape errors come first: {res}");
    let body = json!({ "username": "erin", "password": "short", "email": "nope", "roles": ["ghost", "Bad Name"] });
    let res = problem(admin.send(Method::POST, "/api/admin/users", Some(body)).await, 422, "validation_failed").await;
    assert_eq!(field_names(&res), ["password", "email", "roles", "roles"], "{res}");
    let body = json!({ "username": "erin", "password": "erin-password", "roles": "admin", "email": 5 });
    let res = problem(admin.send(Method::POST, "/api/admin/users", Some(body)).await, 422, "validation_failed").await;
    assert_eq!(field_names(&res), ["email", "roles"]);
    let res =
        problem(admin.send(Method::POST, "/api/admin/users", Some(json!([1]))).await, 422, "validation_failed").await;
    assert_eq!(field_names(&res), ["(body)"]);
    let res = admin.http.post(admin.at("/api/admin/users")).header("X-CSRFToken", admin.csrf.clone().unwrap());
    let res = res.header("content-type", "application/json").body("{").send().await.unwrap();
    problem(res, 400, "malformed_request").await;

    let test = admin.get_json("/api/admin/users?search=test").await;
    let test_id = test["users"][0]["id"].as_str().unwrap().to_owned();
    let body = json!({ "disabled": "yes", "roles": [1] });
    let res = admin.send(Method::PATCH, &format!("/api/admin/users/{test_id}"), Some(body)).await;
    assert_eq!(field_names(&problem(res, 422, "validation_failed").await), ["disabled", "roles"]);

    for (query, field) in [("limit=0", "limit"), ("limit=201", "limit"), ("offset=-1", "offset"), ("limit=x", "limit")]
    {
        let res = problem(admin.get(&format!("/api/admin/users?{query}")).await, 422, "validation_failed").await;
        assert_eq!(field_names(&res), [field], "{query}");
    }
    let max = admin.get_json("/api/admin/users?limit=200").await;
    assert_eq!(max["limit"], 200);

    let role = json!({ "name": "Editor!", "permissions": ["ok", "not ok"] });
    let res = problem(admin.send(Method::POST, "/api/admin/roles", Some(role)).await, 422, "validation_failed").await;
    assert_eq!(field_names(&res), ["name", "permissions"]);
    let res = admin.send(Method::PUT, "/api/admin/roles/admin/permissions", Some(json!({}))).await;
    assert_eq!(field_names(&problem(res, 422, "validation_failed").await), ["permissions"]);
}

#[tokio::test]
async fn an_admin_cannot_demote_disable_or_delete_themselves() {
    let (server, admin) = with_admin().await;
    let root = server.auth.stores().users.user_by_username("root").await.unwrap().unwrap();
    let path = format!("/api/admin/users/{}", root.id);
    for change in [json!({ "roles": [] }), json!({ "roles": ["admin", "admin"], "disabled": true })] {
        let res = problem(admin.send(Method::PATCH, &path, Some(change)).await, 409, "conflict").await;
        assert!(res["detail"].as_str().unwrap().contains("your own"), "{res}");
    }
    let res = problem(admin.send(Method::DELETE, &path, None).await, 409, "conflict").await;
    assert!(res["detail"].as_str().unwrap().contains("your own account"), "{res}");
    // Keeping the admin role while changing the rest is fine.
    create_role(&admin, "editor", &[]).await;
    let kept = ok(admin.send(Method::PATCH, &path, Some(json!({ "roles": ["editor", "admin"] }))).await, 200).await;
    assert_eq!(kept["roles"], json!(["admin", "editor"]));

    // Another admin may demote this one; the one acting is still an admin afterwards.
    server.add_user("second", "second-password", &["admin"]).await;
    let second = server.login_as("second", "second-password").await;
    let demoted = ok(second.send(Method::PATCH, &path, Some(json!({ "roles": [] }))).await, 200).await;
    assert_eq!(demoted["roles"], json!([]));
    problem(admin.get("/api/admin/users").await, 403, "forbidden").await;
}

#[tokio::test]
async fn changes_reach_logged_in_users_at_once() {
    let (server, admin) = with_admin().await;
    let alice = create_user(&admin, "alice", &[]).await;
    let path = format!("/api/admin/users/{}", alice["id"].as_str().unwrap());
    let mut browser = server.login_as("alice", "long enough password").await;
    let token = server.access_token("alice", "long enough password").await;
    assert_eq!(browser.get_json("/api/me").await["roles"], json!([]));

    create_role(&admin, "editor", &["posts:publish"]).await;
    ok(admin.send(Method::PATCH, &path, Some(json!({ "roles": ["editor"] }))).await, 200).await;
    let me = browser.get_json("/api/me").await;
    assert_eq!((&me["roles"], &me["permissions"]), (&json!(["editor"]), &json!(["posts:publish"])));

    let role = json!({ "permissions": ["posts:publish", "posts:delete"] });
    let updated = ok(admin.send(Method::PUT, "/api/admin/roles/editor/permissions", Some(role)).await, 200).await;
    assert_eq!(
        updated,
        json!({ "name": "editor", "description": "test role", "permissions": ["posts:delete", "posts:publish"] })
    );
    assert_eq!(browser.get_json("/api/me").await["permissions"], json!(["posts:delete", "posts:publish"]));
    let me = ok(bearer(&server, Method::GET, "/api/me", &token, None).await, 200).await;
    assert_eq!(me["permissions"], json!(["posts:delete", "posts:publish"]));

    let disabled = ok(admin.send(Method::PATCH, &path, Some(json!({ "disabled": true }))).await, 200).await;
    assert_eq!(disabled["disabled"], true);
    problem(browser.get("/api/data").await, 401, "unauthenticated").await;
    problem(bearer(&server, Method::GET, "/api/data", &token, None).await, 401, "token_revoked").await;
    browser.csrf = None;
    assert_eq!(browser.login("alice", "long enough password").await.status(), 401);

    ok(admin.send(Method::PATCH, &path, Some(json!({ "disabled": false }))).await, 200).await;
    assert_eq!(browser.login("alice", "long enough password").await.status(), 200);
    assert_eq!(browser.get_json("/api/data").await["username"], "alice");
}

#[tokio::test]
async fn revoking_a_users_sessions_ends_them_all() {
    let (server, admin) = with_admin().await;
    let alice = create_user(&admin, "alice", &[]).await;
    let id = alice["id"].as_str().unwrap();
    let browser = server.login_as("alice", "long enough password").await;
    let token = server.access_token("alice", "long enough password").await;
    let res = ok(admin.send(Method::POST, &format!("/api/admin/users/{id}/revoke-sessions"), None).await, 200).await;
    assert_eq!(res, json!({ "revoked": 2 }));
    problem(browser.get("/api/data").await, 401, "unauthenticated").await;
    problem(bearer(&server, Method::GET, "/api/me", &token, None).await, 401, "token_revoked").await;
    let again = admin.send(Method::POST, &format!("/api/admin/users/{id}/revoke-sessions"), None).await;
    assert_eq!(ok(again, 200).await, json!({ "revoked": 0 }));
    let nobody = format!("/api/admin/users/{}/revoke-sessions", uuid::Uuid::nil());
    problem(admin.send(Method::POST, &nobody, None).await, 404, "not_found").await;
    assert_eq!(admin.get("/api/admin/users").await.status(), 200, "the admin's own session is untouched");
}

#[tokio::test]
async fn roles_can_be_listed_created_and_given_permissions() {
    let (_server, admin) = with_admin().await;
    let roles = ok(admin.get("/api/admin/roles").await, 200).await;
    let names: Vec<_> = roles["roles"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin"]);

    let created = create_role(&admin, "editor", &["posts:publish", "posts:edit", "posts:edit"]).await;
    assert_eq!(
        created,
        json!({ "name": "editor", "description": "test role", "permissions": ["posts:edit", "posts:publish"] })
    );
    let minimal = ok(admin.send(Method::POST, "/api/admin/roles", Some(json!({ "name": "viewer" }))).await, 201).await;
    assert_eq!(minimal, json!({ "name": "viewer", "description": null, "permissions": [] }));
    let taken = json!({ "name": "editor" });
    problem(admin.send(Method::POST, "/api/admin/roles", Some(taken)).await, 409, "conflict").await;

    let set = json!({ "permissions": ["reports.read"] });
    let viewer = ok(admin.send(Method::PUT, "/api/admin/roles/viewer/permissions", Some(set.clone())).await, 200).await;
    assert_eq!(viewer["permissions"], json!(["reports.read"]));
    problem(admin.send(Method::PUT, "/api/admin/roles/ghost/permissions", Some(set)).await, 404, "not_found").await;

    let roles = ok(admin.get("/api/admin/roles").await, 200).await;
    assert_eq!(roles["roles"][2], json!({ "name": "viewer", "description": null, "permissions": ["reports.read"] }));
    assert_eq!(roles["roles"][1]["permissions"], json!(["posts:edit", "posts:publish"]));
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

async fn events(admin: &Browser, query: &[(&str, &str)]) -> Vec<Value> {
    let res = admin.http.get(admin.at("/api/admin/audit")).query(query).send().await.unwrap();
    let body = ok(res, 200).await;
    body["events"].as_array().unwrap().clone()
}

fn names_of(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["event"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn every_change_is_audited_and_the_log_can_be_filtered() {
    let (server, admin) = with_admin().await;
    let alice = create_user(&admin, "alice", &[]).await;
    let id = alice["id"].as_str().unwrap().to_owned();
    let path = format!("/api/admin/users/{id}");
    create_role(&admin, "editor", &["posts:publish"]).await;
    ok(admin.send(Method::PATCH, &path, Some(json!({ "roles": ["editor"] }))).await, 200).await;
    ok(admin.send(Method::PATCH, &path, Some(json!({ "disabled": true, "email": "a@example.org" }))).await, 200).await;
    ok(admin.send(Method::POST, &format!("{path}/revoke-sessions"), None).await, 200).await;
    let set = json!({ "permissions": [] });
    ok(admin.send(Method::PUT, "/api/admin/roles/editor/permissions", Some(set)).await, 200).await;
    server.clock.advance(time::Duration::minutes(20));
    let later = server.clock.now();
    ok(admin.send(Method::DELETE, &path, None).await, 200).await;

    let about_alice = events(&admin, &[("user", "alice")]).await;
    assert_eq!(
        names_of(&about_alice),
        ["user_deleted", "session_revoked", "user_updated", "role_changed", "user_created"],
        "newest first"
    );
    for e in &about_alice {
        assert_eq!((&e["detail"]["by"], &e["user_id"], &e["username"]), (&json!("root"), &json!(id), &json!("alice")));
        assert!(e["at"].is_string() && e["id"].is_i64() && e["ip"].is_string(), "{e}");
        assert!(e.get("session_id").is_some() && e.get("user_agent").is_some(), "{e}");
    }
    assert_eq!(about_alice[3]["detail"], json!({ "by": "root", "old": [], "new": ["editor"] }));
    let updated = &about_alice[2]["detail"];
    assert_eq!((&updated["disabled"], &updated["email_changed"]), (&json!(true), &json!(true)));
    assert_eq!(about_alice[4]["detail"]["roles"], json!([]));
    assert_eq!(events(&admin, &[("user", &id)]).await, about_alice, "by id as by name");
    assert_eq!(events(&admin, &[("user", "ALICE")]).await.len(), 5, "names ignore case");

    let role_events = events(&admin, &[("event", "role_changed")]).await;
    assert_eq!(role_events.len(), 3, "{role_events:?}");
    assert_eq!(
        role_events[0]["detail"],
        json!({ "by": "root", "role": "editor", "old_permissions": ["posts:publish"], "new_permissions": [] })
    );
    assert_eq!(role_events[2]["detail"]["created"], true);

    let recent = events(&admin, &[("since", &rfc3339(later - time::Duration::minutes(1)))]).await;
    assert_eq!(names_of(&recent), ["user_deleted"]);
    let unix = (later - time::Duration::minutes(1)).unix_timestamp().to_string();
    assert_eq!(events(&admin, &[("since", &unix)]).await, recent);
    assert!(events(&admin, &[("since", &rfc3339(later + time::Duration::minutes(1)))]).await.is_empty());

    let all = events(&admin, &[]).await;
    assert!(all.len() > 6 && names_of(&all).contains(&"login_ok"), "{all:?}");
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let first = events(&admin, &[("limit", "2")]).await;
    assert_eq!(first, all[..2]);
    let before = first[1]["id"].to_string();
    let second = events(&admin, &[("limit", "2"), ("before", &before)]).await;
    assert_eq!(second, all[2..4]);
    let rest = events(&admin, &[("before", &before), ("event", "user_created"), ("user", "alice")]).await;
    assert_eq!(names_of(&rest), ["user_created"]);

    let res = admin
        .http
        .get(admin.at("/api/admin/audit"))
        .query(&[("user", "\n"), ("event", "Login OK"), ("since", "yesterday"), ("before", "x"), ("limit", "1001")])
        .send()
        .await
        .unwrap();
    let res = problem(res, 422, "validation_failed").await;
    assert_eq!(field_names(&res), ["user", "event", "since", "before", "limit"]);
    problem(admin.get("/api/admin/audit?limit=0").await, 422, "validation_failed").await;
    assert_eq!(events(&admin, &[("user", ""), ("event", ""), ("limit", "1000")]).await, all, "empty values are absent");
}
