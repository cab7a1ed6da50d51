//! The OpenAPI document and the router cannot drift: every documented operation is served,
//! every method the router serves on a documented path is documented, and every route of the
//! HTTP contract (API.md) is documented or listed here as not built yet.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::Value;

use crate::common::Server;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Routes API.md promises for features that are not built yet; each leaves this list when its
/// feature lands.
const NOT_YET: &[(&str, &str)] = &[
    ("POST", "/api/mfa/totp/setup"),
    ("POST", "/api/mfa/totp/confirm"),
    ("DELETE", "/api/mfa/totp"),
    ("POST", "/api/login/mfa"),
    ("GET", "/api/mfa"),
    ("POST", "/api/mfa/recovery-codes"),
    ("POST", "/api/password/forgot"),
    ("POST", "/api/password/reset"),
    ("POST", "/api/email"),
    ("GET", "/metrics"),
];

/// Routes of the contract that are pages, not API operations: the SPA on every other path.
const PAGES: &[(&str, &str)] = &[("GET", "/")];

/// `(method, path)` of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut all = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method.to_ascii_lowercase()).is_some() {
                all.insert((method.to_owned(), path.clone()));
            }
        }
    }
    all
}

/// A served path for a templated one: ids are fresh UUIDs, names and files a plain word.
fn concrete(path: &str) -> String {
    path.replace("{id}", "0191e1a0-0000-7000-8000-000000000000")
        .replace("{name}", "nobody")
        .replace("{file}", "none.txt")
}

/// Whether the router itself answered "no such route" (not a handler's own 404).
async fn unrouted(res: reqwest::Response) -> bool {
    let status = res.status().as_u16();
    if status == 405 {
        return true;
    }
    let body: Value = res.json().await.unwrap_or(Value::Null);
    status == 404 && body["detail"] == "no such resource"
}

async fn api_server() -> (Server, String) {
    let server = Server::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (router, connections) = (server.auth.api_router(), server.auth.connections().clone());
    tokio::spawn(async move {
        portcullis::http::serve_with(listener, router, connections, std::future::pending()).await.unwrap();
    });
    (server, url)
}

#[tokio::test]
async fn every_documented_operation_is_served_and_every_served_method_documented() {
    let (server, url) = api_server().await;
    // The admin API as an admin, so its guard lets the router answer for itself.
    let password = portcullis::password::Password::new("root password");
    server.auth.accounts().create("root", &password, None, vec!["admin".into()]).await.unwrap();
    let login = server.raw().token_login_as("root", "root password").await;
    let token: Value = login.json().await.unwrap();
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let doc: Value = http.get(format!("{url}/openapi.json")).send().await.unwrap().json().await.unwrap();
    let ops = documented(&doc);
    let mut by_path: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (method, path) in &ops {
        by_path.entry(path).or_default().insert(method);
    }
    let mut wrong = Vec::new();
    for (path, methods) in &by_path {
        for method in METHODS {
            let res = http.request(Method::from_bytes(method.as_bytes()).unwrap(), format!("{url}{}", concrete(path)));
            // Only the admin API gets the token: `POST /auth/logout` would end it.
            let res = if path.starts_with("/api/admin/") { res.header("authorization", &bearer) } else { res };
            let res = res.header("content-type", "application/json").body("{}").send().await.unwrap();
            let served = !unrouted(res).await;
            if served != methods.contains(method) {
                wrong.push(format!("{method} {path}: served {served}, documented {}", methods.contains(method)));
            }
        }
    }
    assert!(wrong.is_empty(), "router and document disagree:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn every_route_of_the_contract_is_documented() {
    let contract = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/API.md"))
        .expect("the HTTP contract, ../shared/API.md beside the project");
    let server = Server::start().await;
    let doc: Value = server.raw().get("/openapi.json").await.json().await.unwrap();
    let ops = documented(&doc);
    let promised = contract_routes(&contract);
    assert!(promised.len() > 20, "the contract's routes were not found: {promised:?}");
    let missing: Vec<_> = promised
        .iter()
        .filter(|r| !ops.contains(*r))
        .filter(|(m, p)| !NOT_YET.contains(&(m.as_str(), p.as_str())) && !PAGES.contains(&(m.as_str(), p.as_str())))
        .collect();
    assert!(missing.is_empty(), "API.md routes missing from the document: {missing:?}");
    let built: Vec<_> = NOT_YET.iter().filter(|(m, p)| ops.contains(&((*m).to_owned(), (*p).to_owned()))).collect();
    assert!(built.is_empty(), "built now, so no longer `NOT_YET`: {built:?}");
    for admin in ["/api/admin/users", "/api/admin/users/{id}", "/api/admin/roles", "/api/admin/audit"] {
        assert!(ops.iter().any(|(_, p)| p == admin), "the admin API's {admin}");
    }
}

/// Every `` `METHOD /path` `` (and `` `GET` or `POST /path` ``) in the contract.
fn contract_routes(contract: &str) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for chunk in contract.split('`').skip(1).step_by(2) {
        let mut words = chunk.split_whitespace();
        let (Some(method), Some(path)) = (words.next(), words.next()) else { continue };
        if METHODS.contains(&method) && path.starts_with('/') && !path.contains('*') {
            routes.insert((method.to_owned(), path.trim_end_matches(['?', ',']).to_owned()));
        }
    }
    // "`GET` or `POST /api/logout`"
    for (i, _) in contract.match_indices("` or `") {
        let before = contract[..i].rsplit('`').next().unwrap_or_default();
        let after = contract[i + 6..].split('`').next().unwrap_or_default();
        if let (true, Some(path)) = (METHODS.contains(&before), after.split_whitespace().nth(1)) {
            routes.insert((before.to_owned(), path.to_owned()));
        }
    }
    routes.retain(|(_, path)| !path.contains('?'));
    routes.into_iter().map(|(m, p)| (m, p.split('?').next().unwrap_or_default().to_owned())).collect()
}

#[tokio::test]
async fn the_document_is_json_and_the_docs_page_is_served_from_the_binary() {
    let server = Server::start().await;
    let b = server.raw();
    let res = b.get("/openapi.json").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let res = b.get("/docs").await;
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "/docs/");
    let res = b.get("/docs/").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(res.headers().contains_key("content-security-policy"), "the page gets the server's CSP");
    let page = res.text().await.unwrap();
    assert!(page.contains("swagger-ui-bundle.js"), "{page}");
    let init = b.get("/docs/swagger-initializer.js").await.text().await.unwrap();
    assert!(init.contains("/openapi.json"), "the page reads this server's document: {init}");
    assert!(!init.contains("validator.swagger.io"), "no request to another site: {init}");
    let res = b.get("/docs/nothing-here.js").await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}
