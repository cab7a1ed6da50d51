//! Several instances on one Postgres and one Redis (each test owns both): revocations reach
//! every instance's cache, and an outage of either answers 503 and heals by itself.

use std::time::{Duration, Instant};

use portcullis::cluster::testing::TestRedis;
use portcullis::store::postgres::testing::TempDatabase;
use portcullis::Secrets;
use serde_json::{json, Value};

use crate::common::{problem, Browser, Server};

/// A throw-away TCP forwarder that can be cut and restored, to play a network outage.
struct Cuttable {
    port: u16,
    target: std::net::SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Cuttable {
    async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut this = Self { port, target, task: None };
        this.serve(listener);
        this
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let target = self.target;
        self.task = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// Closes the port and every connection through it (the JoinSet aborts them).
    fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    async fn restore(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => return self.serve(listener),
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("rebinding port {}: {e}", self.port),
            }
        }
    }
}

impl Drop for Cuttable {
    fn drop(&mut self) {
        self.cut();
    }
}

async fn instance(store_url: &str, redis_url: Option<&str>, secrets: &Secrets) -> Server {
    let (store_url, redis_url) = (store_url.to_owned(), redis_url.map(str::to_owned));
    Server::with_secrets(
        move |raw| {
            raw.store.url = Some(store_url);
            raw.store.redis_url = redis_url;
            raw.store.redis_prefix = "it:".into();
        },
        secrets.clone(),
    )
    .await
}

/// The same browser (cookie jar and CSRF token) talking to `server`.
fn on(browser: &Browser, server: &Server) -> Browser {
    Browser { http: browser.http.clone(), url: server.url.clone(), csrf: browser.csrf.clone() }
}

/// Polls `check` until it holds; fails after `within`.
async fn within(limit: Duration, why: &str, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{why}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn status(browser: &Browser, path: &str) -> u16 {
    browser.get(path).await.status().as_u16()
}

#[tokio::test]
async fn a_logout_on_one_instance_is_refused_by_the_others_at_once() {
    let db = TempDatabase::create().await.unwrap();
    let redis = TestRedis::start();
    let secrets = Secrets::ephemeral();
    let a = instance(&db.url, Some(&redis.url()), &secrets).await;
    let b = instance(&db.url, Some(&redis.url()), &secrets).await;
    let c = instance(&db.url, Some(&redis.url()), &secrets).await;

    let mut on_a = a.browser();
    assert_eq!(on_a.login("test", "test").await.status(), 200);
    let (on_b, on_c) = (on(&on_a, &b), on(&on_a, &c));
    // Made on one, valid on all; B and C now hold the session in their caches.
    assert!(on_b.logged_in().await && on_c.logged_in().await, "a session made on A works on B and C");

    assert_eq!(status(&on_a, "/api/logout").await, 200);
    for (name, browser) in [("B", &on_b), ("C", &on_c)] {
        let took = within(Duration::from_secs(1), name, async || !browser.logged_in().await).await;
        eprintln!("logout on A refused on {name} after {took:?}");
    }
}

#[tokio::test]
async fn an_admin_change_on_one_instance_applies_on_the_others() {
    let db = TempDatabase::create().await.unwrap();
    let redis = TestRedis::start();
    let secrets = Secrets::ephemeral();
    let a = instance(&db.url, Some(&redis.url()), &secrets).await;
    let b = instance(&db.url, Some(&redis.url()), &secrets).await;
    a.add_user("root", "root-password", &["admin"]).await;
    let bob = a.add_user("bob", "bob-password", &[]).await;
    let admin = a.login_as("root", "root-password").await;
    let mut bob_on_a = a.browser();
    assert_eq!(bob_on_a.login("bob", "bob-password").await.status(), 200);
    let bob_on_b = on(&bob_on_a, &b);
    assert_eq!(bob_on_b.get_json("/api/me").await["roles"], json!([]));

    let patched = admin
        .send(reqwest::Method::PATCH, &format!("/api/admin/users/{}", bob.id), Some(json!({"roles": ["admin"]})))
        .await;
    assert_eq!(patched.status(), 200);
    within(Duration::from_secs(1), "new roles seen on B", async || {
        bob_on_b.get_json("/api/me").await["roles"] == json!(["admin"])
    })
    .await;

    let revoked =
        admin.send(reqwest::Method::POST, &format!("/api/admin/users/{}/revoke-sessions", bob.id), None).await;
    assert_eq!(revoked.status(), 200);
    within(Duration::from_secs(1), "admin revocation seen on B", async || !bob_on_b.logged_in().await).await;
}

#[tokio::test]
async fn without_redis_session_checks_and_logins_answer_503_then_recover() {
    let db = TempDatabase::create().await.unwrap();
    let mut redis = TestRedis::start();
    let secrets = Secrets::ephemeral();
    let a = instance(&db.url, Some(&redis.url()), &secrets).await;
    let mut browser = a.browser();
    assert_eq!(browser.login("test", "test").await.status(), 200);
    assert_eq!(status(&browser, "/readyz").await, 200);

    redis.stop();
    within(Duration::from_secs(3), "session checks fail closed", async || {
        status(&browser, "/api/getsession").await == 503
    })
    .await;
    problem(browser.get("/api/data").await, 503, "unavailable").await;
    problem(browser.get("/readyz").await, 503, "unavailable").await;
    let mut other = a.browser();
    other.fetch_csrf().await;
    let login = other.post("/api/login", json!({"username": "test", "password": "test"})).await;
    problem(login, 503, "unavailable").await;

    redis.restart();
    within(Duration::from_secs(5), "the session works again", async || {
        status(&browser, "/api/getsession").await == 200 && browser.logged_in().await
    })
    .await;
    assert_eq!(status(&browser, "/readyz").await, 200);
    let login = other.post("/api/login", json!({"username": "test", "password": "test"})).await;
    assert_eq!(login.status(), 200, "logins work again");
}

#[tokio::test]
async fn without_postgres_session_checks_answer_503_then_recover() {
    let db = TempDatabase::create().await.unwrap();
    let mut link = Cuttable::start("127.0.0.1:5432".parse().unwrap()).await;
    // The same database, reached through the cuttable link.
    let through = db.url.replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", link.port), 1);
    assert_ne!(through, db.url, "the test database is on 127.0.0.1:5432");
    let a = instance(&through, None, &Secrets::ephemeral()).await;
    let mut browser = a.browser();
    assert_eq!(browser.login("test", "test").await.status(), 200);

    link.cut();
    within(Duration::from_secs(5), "session checks fail closed", async || {
        status(&browser, "/api/getsession").await == 503
    })
    .await;
    let body: Value = problem(browser.get("/readyz").await, 503, "unavailable").await;
    assert!(body["detail"].as_str().unwrap().contains("store"), "{body}");

    link.restore().await;
    within(Duration::from_secs(10), "the session works again", async || {
        status(&browser, "/api/getsession").await == 200 && browser.logged_in().await
    })
    .await;
    assert_eq!(status(&browser, "/readyz").await, 200);
}
