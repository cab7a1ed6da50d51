//! Authorization extractors in a host app: `RequireRole`, `RequirePermission` and `Fresh`.

use axum::routing::{get, post};
use portcullis::account::Role;
use portcullis::http::guard::{Fresh, PermissionName, RequirePermission, RequireRole, RoleName};
use portcullis::Clock;
use reqwest::Method;
use serde_json::json;

use crate::common::{cookie_value, problem, Browser, Server};

struct Editor;

impl RoleName for Editor {
    const NAME: &'static str = "editor";
}

struct PublishPerm;

impl PermissionName for PublishPerm {
    const NAME: &'static str = "posts:publish";
}

async fn edit(RequireRole(me, ..): RequireRole<Editor>) -> String {
    format!("edited by {}", me.user().username)
}

async fn publish(RequirePermission(me, ..): RequirePermission<PublishPerm>) -> String {
    format!("published by {}", me.user().username)
}

async fn danger(Fresh(me): Fresh) -> String {
    format!("confirmed by {}", me.user().username)
}

/// The host app on its own port with Portcullis merged in; returns its URL.
async fn host(server: &Server) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let app = axum::Router::new()
        .route("/host/edit", get(edit))
        .route("/host/publish", post(publish))
        .route("/host/danger", post(danger))
        .with_state(server.auth.state())
        .merge(server.auth.api_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (url, tokio::spawn(portcullis::http::serve(listener, app, std::future::pending())))
}

async fn login_at(server: &Server, url: &str, username: &str, password: &str) -> Browser {
    let mut b = server.browser();
    b.url = url.to_owned();
    assert_eq!(b.login(username, password).await.status(), 200, "login as {username}");
    b
}

#[tokio::test]
async fn roles_and_permissions_tell_anonymous_from_forbidden() {
    let server = Server::start().await;
    let (url, task) = host(&server).await;
    let mut anonymous = server.browser();
    anonymous.url = url.clone();
    anonymous.fetch_csrf().await;
    problem(anonymous.get("/host/edit").await, 401, "unauthenticated").await;
    problem(anonymous.send(Method::POST, "/host/publish", None).await, 401, "unauthenticated").await;

    let plain = login_at(&server, &url, "test", "test").await;
    problem(plain.get("/host/edit").await, 403, "forbidden").await;
    let res = problem(plain.send(Method::POST, "/host/publish", None).await, 403, "forbidden").await;
    assert!(res["detail"].as_str().unwrap().contains("posts:publish"), "{res}");

    // A role created through the store grants the permission; the role name alone passes
    // RequireRole even without permissions.
    let role = Role { name: "editor".into(), description: None, permissions: vec!["posts:publish".into()] };
    server.auth.stores().roles.create_role(&role, server.clock.now()).await.unwrap();
    server.add_user("ed", "ed-password", &["editor"]).await;
    let ed = login_at(&server, &url, "ed", "ed-password").await;
    assert_eq!(ed.get("/host/edit").await.text().await.unwrap(), "edited by ed");
    let res = ed.send(Method::POST, "/host/publish", None).await;
    assert_eq!(res.text().await.unwrap(), "published by ed");

    // The extractors on unsafe methods keep the CSRF check of cookie sessions.
    let mut no_csrf = ed;
    no_csrf.csrf = None;
    problem(no_csrf.send(Method::POST, "/host/publish", None).await, 403, "csrf_failed").await;
    task.abort();
}

#[tokio::test]
async fn a_permission_granted_through_the_admin_api_applies_to_a_live_session() {
    let server = Server::start().await;
    let (url, task) = host(&server).await;
    server.add_user("root", "root-password", &["admin"]).await;
    let admin = login_at(&server, &url, "root", "root-password").await;
    let writer = server.add_user("wanda", "wanda-password", &[]).await;
    let wanda = login_at(&server, &url, "wanda", "wanda-password").await;
    problem(wanda.send(Method::POST, "/host/publish", None).await, 403, "forbidden").await;

    let role = json!({ "name": "publisher", "permissions": [] });
    assert_eq!(admin.send(Method::POST, "/api/admin/roles", Some(role)).await.status(), 201);
    let roles = json!({ "roles": ["publisher"] });
    let res = admin.send(Method::PATCH, &format!("/api/admin/users/{}", writer.id), Some(roles)).await;
    assert_eq!(res.status(), 200);
    problem(wanda.send(Method::POST, "/host/publish", None).await, 403, "forbidden").await;

    let perms = json!({ "permissions": ["posts:publish"] });
    assert_eq!(admin.send(Method::PUT, "/api/admin/roles/publisher/permissions", Some(perms)).await.status(), 200);
    let res = wanda.send(Method::POST, "/host/publish", None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "published by wanda");
    problem(wanda.get("/host/edit").await, 403, "forbidden").await;
    task.abort();
}

#[tokio::test]
async fn fresh_requires_a_recent_password_and_reauth_restores_it() {
    let server = Server::start().await;
    let (url, task) = host(&server).await;
    let mut b = server.browser();
    b.url = url.clone();
    b.fetch_csrf().await;
    problem(b.send(Method::POST, "/host/danger", None).await, 401, "unauthenticated").await;
    assert_eq!(b.login("test", "test").await.status(), 200);
    assert_eq!(b.send(Method::POST, "/host/danger", None).await.text().await.unwrap(), "confirmed by test");

    // Past `session.fresh_for` (10 min) but within the idle timeout (30 min): logged in, not fresh.
    server.clock.advance(time::Duration::minutes(11));
    assert_eq!(b.get_json("/api/data").await["username"], "test");
    let res = problem(b.send(Method::POST, "/host/danger", None).await, 401, "fresh_login_required").await;
    assert!(res["detail"].as_str().unwrap().contains("/api/reauth"), "{res}");

    problem(
        b.send(Method::POST, "/api/reauth", Some(json!({ "password": "wrong" }))).await,
        401,
        "invalid_credentials",
    )
    .await;
    problem(b.send(Method::POST, "/host/danger", None).await, 401, "fresh_login_required").await;
    let res = b.send(Method::POST, "/api/reauth", Some(json!({ "password": "test" }))).await;
    assert_eq!(res.status(), 200);
    assert!(cookie_value(&res, "portcullis_session").is_some_and(|v| !v.is_empty()), "a new session id");
    assert!(res.json::<serde_json::Value>().await.unwrap()["fresh_until"].is_string());
    assert_eq!(b.send(Method::POST, "/host/danger", None).await.text().await.unwrap(), "confirmed by test");

    // Freshness ends again with time.
    server.clock.advance(time::Duration::minutes(11));
    problem(b.send(Method::POST, "/host/danger", None).await, 401, "fresh_login_required").await;
    task.abort();
}
