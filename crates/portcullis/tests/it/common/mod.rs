//! Shared helpers: a running server and a browser-like client.

#![allow(dead_code)]

use std::sync::Arc;

use portcullis::config::RawConfig;
use portcullis::store::Stores;
use portcullis::{ManualClock, Portcullis, Secrets};
use reqwest::header::HeaderMap;
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;

/// A server on 127.0.0.1:0 with a temporary SQLite database, a manual clock and the seed's
/// `test`/`test` user.
pub struct Server {
    pub url: String,
    pub clock: ManualClock,
    pub auth: Portcullis,
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(configure: impl FnOnce(&mut RawConfig)) -> Self {
        Self::build(configure, None).await
    }

    pub async fn with_store(configure: impl FnOnce(&mut RawConfig), store: Stores) -> Self {
        Self::build_full(configure, Some(store), None).await
    }

    /// A server using exactly these secrets (tests that sign their own tokens keep a copy).
    pub async fn with_secrets(configure: impl FnOnce(&mut RawConfig), secrets: Secrets) -> Self {
        Self::build_full(configure, None, Some(secrets)).await
    }

    /// A server on an existing store with these secrets (a restart, as far as clients see).
    pub async fn with_store_and_secrets(
        configure: impl FnOnce(&mut RawConfig),
        store: Stores,
        secrets: Secrets,
    ) -> Self {
        Self::build_full(configure, Some(store), Some(secrets)).await
    }

    async fn build(configure: impl FnOnce(&mut RawConfig), store: Option<Stores>) -> Self {
        Self::build_full(configure, store, None).await
    }

    async fn build_full(
        configure: impl FnOnce(&mut RawConfig),
        store: Option<Stores>,
        secrets: Option<Secrets>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut raw = RawConfig::default();
        raw.server.data_dir = dir.path().to_path_buf();
        // Small argon2 parameters keep tests fast; production refuses them without this flag.
        raw.password.memory_kib = 64;
        raw.password.iterations = 1;
        raw.password.danger_allow_weak_params = true;
        configure(&mut raw);
        let config = raw.validate().unwrap();
        let clock = ManualClock::starting_now();
        let mut builder = Portcullis::builder(config)
            .with_clock(Arc::new(clock.clone()))
            .with_secrets(secrets.unwrap_or_else(Secrets::ephemeral));
        if let Some(store) = store {
            builder = builder.with_stores(store);
        }
        let auth = builder.build().await.unwrap();
        // A server restarted on an existing store finds the user already there.
        match auth.accounts().create("test", &portcullis::password::Password::new("test"), None, Vec::new()).await {
            Ok(_) => {}
            Err(e) if e.kind() == portcullis::ErrorKind::Conflict => {}
            Err(e) => panic!("creating the test user: {e}"),
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = auth.router();
        let connections = auth.connections().clone();
        let task = tokio::spawn(async move {
            portcullis::http::serve_with(listener, router, connections, std::future::pending()).await.unwrap();
        });
        Self { url, clock, auth, dir, task }
    }

    /// A client with its own cookie jar, like one browser.
    pub fn browser(&self) -> Browser {
        Browser {
            http: Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            url: self.url.clone(),
            csrf: None,
        }
    }

    /// A client that keeps no cookies: every header is the test's.
    pub fn raw(&self) -> Browser {
        Browser {
            http: Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            url: self.url.clone(),
            csrf: None,
        }
    }

    pub fn advance_minutes(&self, minutes: i64) {
        self.clock.advance(time::Duration::minutes(minutes));
    }
}

pub struct Browser {
    pub http: Client,
    pub url: String,
    pub csrf: Option<String>,
}

impl Browser {
    pub fn at(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.at(path)).send().await.unwrap()
    }

    /// `GET /api/getcsrf`, keeping the token as the seed's frontends do.
    pub async fn fetch_csrf(&mut self) -> String {
        let res = self.get("/api/getcsrf").await;
        assert_eq!(res.status(), StatusCode::OK);
        let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
        self.csrf = Some(token.clone());
        token
    }

    /// A JSON POST carrying the kept CSRF token.
    pub async fn post(&self, path: &str, body: Value) -> Response {
        let mut req = self.http.post(self.at(path)).json(&body);
        if let Some(token) = &self.csrf {
            req = req.header("X-CSRFToken", token);
        }
        req.send().await.unwrap()
    }

    pub async fn post_with(&self, path: &str, body: Value, headers: HeaderMap) -> Response {
        let mut req = self.http.post(self.at(path)).json(&body).headers(headers);
        if let Some(token) = &self.csrf {
            req = req.header("X-CSRFToken", token);
        }
        req.send().await.unwrap()
    }

    /// Fetches a token and logs in; returns the login response.
    pub async fn login(&mut self, username: &str, password: &str) -> Response {
        if self.csrf.is_none() {
            self.fetch_csrf().await;
        }
        self.post("/api/login", serde_json::json!({ "username": username, "password": password })).await
    }

    pub async fn logged_in(&self) -> bool {
        let body = self.get("/api/getsession").await.text().await.unwrap();
        match body.as_str() {
            "{\"login\":true}\n" => true,
            "{\"login\":false}\n" => false,
            other => panic!("unexpected getsession body {other:?}"),
        }
    }
}

/// Every `Set-Cookie` of a response.
pub fn set_cookies(res: &Response) -> Vec<String> {
    res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// The value a response sets for cookie `name`.
pub fn cookie_value(res: &Response, name: &str) -> Option<String> {
    set_cookies(res).iter().find_map(|c| {
        let (k, rest) = c.split_once('=')?;
        (k == name).then(|| rest.split(';').next().unwrap_or("").to_owned())
    })
}

/// Asserts a problem+json answer and returns its body.
pub async fn problem(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status for {code}");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert_eq!(body["type"], format!("https://portcullis.dev/problems/{code}"));
    assert!(body["title"].is_string() && body["detail"].is_string(), "{body}");
    body
}

pub fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, v.parse().unwrap());
    }
    h
}

impl Browser {
    /// `POST /auth/login` (token mode: no CSRF token, only the origin check).
    pub async fn token_login_as(&self, username: &str, password: &str) -> Response {
        let body = serde_json::json!({ "username": username, "password": password });
        self.http.post(self.at("/auth/login")).json(&body).send().await.unwrap()
    }

    /// Logs in as test/test with whatever token is kept (or none).
    pub async fn login_raw(&self) -> Response {
        self.post("/api/login", serde_json::json!({ "username": "test", "password": "test" })).await
    }
}

impl Browser {
    /// A request of any method with an optional JSON body, carrying the kept CSRF token.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Response {
        let mut req = self.http.request(method, self.at(path));
        if let Some(body) = body {
            req = req.json(&body);
        }
        if let Some(token) = &self.csrf {
            req = req.header("X-CSRFToken", token);
        }
        req.send().await.unwrap()
    }

    /// A GET that must answer 200 with JSON; returns the body.
    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.json().await.unwrap()
    }
}

impl Server {
    /// Creates an account with these roles straight through the library (no policy).
    pub async fn add_user(&self, username: &str, password: &str, roles: &[&str]) -> portcullis::account::User {
        let roles = roles.iter().map(|r| (*r).to_owned()).collect();
        self.auth
            .accounts()
            .create(username, &portcullis::password::Password::new(password), None, roles)
            .await
            .unwrap()
    }

    /// A browser logged in with a session cookie, its CSRF token kept.
    pub async fn login_as(&self, username: &str, password: &str) -> Browser {
        let mut b = self.browser();
        let res = b.login(username, password).await;
        assert_eq!(res.status(), StatusCode::OK, "login as {username}");
        b
    }

    /// An access token from `POST /auth/login`, fetched by a client that keeps no cookies.
    pub async fn access_token(&self, username: &str, password: &str) -> String {
        let res = self.raw().token_login_as(username, password).await;
        assert_eq!(res.status(), StatusCode::OK, "token login as {username}");
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }
}
